"""Pipeline fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline.worlds import World, make_world


@pytest.fixture()
def world(workdir: Path) -> World:
    """A small simulated world: 1,500 units, 2 hours of logs, assignments in a local warehouse."""
    return make_world(workdir)
