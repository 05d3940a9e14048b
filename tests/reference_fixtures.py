"""Fixtures of the published reference vectors in ``tests/reference``, shared by every test folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def load_reference(name: str) -> dict[str, Any]:
    """One reference JSON file of ``tests/reference`` by file name."""
    with (REFERENCE_DIR / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@pytest.fixture(scope="session")
def gbstats() -> dict[str, Any]:
    return load_reference("gbstats_reference_vectors.json")


@pytest.fixture(scope="session")
def r_values() -> dict[str, Any]:
    return load_reference("r_reference_values.json")


@pytest.fixture(scope="session")
def spotify() -> dict[str, Any]:
    return load_reference("spotify_confidence_vectors.json")


@pytest.fixture(scope="session")
def gbstats_bayesian() -> dict[str, Any]:
    return load_reference("gbstats_bayesian_vectors.json")
