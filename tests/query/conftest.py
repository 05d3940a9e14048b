"""Fixtures of the query tests: one small world aggregated by the real pipeline, shared by the session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.model import AnalysisType
from rayab.storage.schemas import agg_schema, reps_column
from rayab.storage.tables import replace_partitions
from rayab.storage.warehouse import Warehouse
from tests.worlds import World, make_world


@pytest.fixture(scope="session")
def agg_world(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> World:
    """3,000 units over 3 hours, B = 64, every hour aggregated by ``run_hour`` on the session's Ray."""
    from rayab.hourly.job import run_hour

    world = make_world(tmp_path_factory.mktemp("agg_world"), n_units=3000, n_hours=3, n_replicates=64)
    for hour in world.hours:
        run_hour(world.config, hour, world.logs, world.warehouse, n_shards=2)
    return world


def synthetic_rows(analysis_type: AnalysisType, exp_id: str, hours: Sequence[str], keys: Sequence[tuple[str, ...]],
                   seed: int = 0) -> pa.Table:
    """Random agg rows (the storage schema) for every hour and key ``(variant_id, *dimensions)``."""
    rng = np.random.default_rng(seed)
    b, n = analysis_type.n_replicates, len(keys) * len(hours)
    schema = agg_schema(analysis_type)
    columns: dict[str, pa.Array] = {
        "exp_id": pa.array([exp_id] * n), "hour": pa.array([h for h in hours for _ in keys]),
        "n_events": pa.array(rng.integers(0, 50, n)),
    }
    for j, name in enumerate(("variant_id", *analysis_type.dimensions)):
        columns[name] = pa.array([k[j] for _ in hours for k in keys])
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * b)
    for metric in ("units", *analysis_type.metric_names):
        raw = rng.integers(0, 400, n)
        reps = rng.poisson(np.maximum(raw, 0)[:, None].astype(float), (n, b)).astype(np.int64)
        columns[metric] = pa.array(raw)
        columns[reps_column(metric)] = pa.ListArray.from_arrays(offsets, pa.array(reps.reshape(-1)))
    return pa.table([columns[f.name] for f in schema], schema=schema)


def write_synthetic(root: Path | Warehouse, analysis_type: AnalysisType, exp_id: str, hours: Sequence[str],
                    keys: Sequence[tuple[str, ...]], seed: int = 0) -> Warehouse:
    """A warehouse (a local folder unless given) holding :func:`synthetic_rows` as the Delta table ``agg_<type>``."""
    warehouse = root if isinstance(root, Warehouse) else Warehouse.from_url(root)
    rows = synthetic_rows(analysis_type, exp_id, hours, keys, seed)
    replace_partitions(warehouse, analysis_type.table, rows, ["exp_id", "hour"], {"exp_id": exp_id})
    return warehouse
