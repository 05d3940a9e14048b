"""Shared builders of the assignment tests: experiments from a few keyword arguments, reference cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rayab.model.experiment import Experiment

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def make_experiment(exp_id: str, weights: tuple[float, ...] = (50, 50), **fields: Any) -> Experiment:
    """A valid experiment with variants ``v0, v1, ...`` of the given traffic percentages; ``fields`` override."""
    variants = [{"variant_id": f"v{i}", "traffic_pct": w, "parameters": {"arm": i}} for i, w in enumerate(weights)]
    data: dict[str, Any] = {"exp_id": exp_id, "name": exp_id, "primary_kpi": "ctr",
                            "start_time": "2026-11-24T00:00:00Z", "variants": variants, **fields}
    return Experiment.from_dict(data)


ExperimentFactory = Callable[..., Experiment]


@pytest.fixture(scope="session")
def experiment() -> ExperimentFactory:
    """:func:`make_experiment`, for tests to build experiments from keyword arguments."""
    return make_experiment


@pytest.fixture(scope="session")
def growthbook_cases() -> dict[str, Any]:
    with (REFERENCE_DIR / "growthbook_sdk_cases_subset.json").open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data
