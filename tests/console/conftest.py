"""A small demo-like warehouse for the console's tests: the demo's two experiments aggregated by the real hourly job.

``ranker_v2``'s treatment has a planted +30% CTR lift (large, so that 6,000 units over 4 hours show it as
significant); ``aa_check`` is an A/A test. The world is built once per session and copied for tests that write.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rayab.model import Config
from rayab.simulate import UnitPopulation, demo_config, hour_offsets, simulate_days
from rayab.storage.logs import write_log_file
from rayab.storage.specs import save_config
from rayab.storage.tables import replace_partitions
from rayab.storage.warehouse import Warehouse

START, END = "2026-11-23T00", "2026-11-23T04"
PLANTED = {"ranker_v2": {"treatment": 0.30}}


def build_world(root: Path, n_units: int = 6000, n_hours: int = 4, n_replicates: int = 64) -> Path:
    """Simulate, save the config and run every hour on the session's Ray; returns the warehouse folder."""
    from rayab.hourly.job import run_hour

    config = demo_config(f"{START}:00:00Z")
    at = {**config.analysis_types[0].to_dict(), "n_replicates": n_replicates}
    config = Config.from_dict({**config.to_dict(), "analysis_types": [at]})
    logs, wh = root / "logs", root / "wh"
    warehouse = Warehouse.from_url(str(wh))
    save_config(warehouse, config)
    hours = hour_offsets(START, n_hours)

    def write(hour: str, events: object) -> None:
        write_log_file(str(logs), hour, "part-0.parquet", events)

    assignments = simulate_days(UnitPopulation.generate(n_units, seed=11), config, PLANTED, hours, write, 11)
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    for hour in hours:
        run_hour(config, hour, str(logs), warehouse, n_shards=2)
    return wh


@pytest.fixture(scope="session")
def console_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The shared warehouse folder (read-only for tests: ``writable_world`` gives a copy to change).

    ``RAYAB_CONSOLE_WORLD=<folder>`` reuses a world built before (its ``wh``), to iterate on the console quickly.
    """
    reuse = os.environ.get("RAYAB_CONSOLE_WORLD")
    if reuse:
        return Path(reuse)
    request.getfixturevalue("ray_local")
    return build_world(tmp_path_factory.mktemp("console_world"))


@pytest.fixture
def writable_world(console_world: Path, tmp_path: Path) -> Path:
    """A private copy of the world's warehouse, for tests that change the config."""
    target = tmp_path / "wh"
    shutil.copytree(console_world, target)
    return target
