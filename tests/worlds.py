"""Small simulated worlds for pipeline tests, and an independent reference aggregation over raw events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from rayab.model import AnalysisType, Config
from rayab.simulate import DEMO_REL_DIFFS, UnitPopulation, demo_config, hour_offsets, simulate_days
from rayab.stats.poisson_weights import weights_for
from rayab.storage.logs import write_log_file
from rayab.storage.tables import replace_partitions
from rayab.storage.warehouse import Warehouse


@dataclass
class World:
    config: Config
    logs: str
    warehouse: Warehouse
    hours: list[str]
    events: dict[str, pa.Table]
    assignments: pa.Table

    @property
    def analysis_type(self) -> AnalysisType:
        return self.config.analysis_types[0]


def make_world(root: Path | str, n_units: int = 1500, n_hours: int = 2, files_per_hour: int = 1,
               seed: int = 3, n_replicates: int = 32, storage_options: dict[str, str] | None = None) -> World:
    config = demo_config("2026-11-23T00:00:00Z")
    at = config.analysis_types[0].to_dict()
    at["n_replicates"] = n_replicates
    config = Config.from_dict({**config.to_dict(), "analysis_types": [at]})
    logs, wh_url = f"{root}/logs", f"{root}/wh"
    warehouse = Warehouse.from_url(wh_url, storage_options)
    hours = hour_offsets("2026-11-23T00", n_hours)
    events: dict[str, pa.Table] = {}

    def write(hour: str, table: pa.Table) -> None:
        events[hour] = table
        step = -(-table.num_rows // files_per_hour)
        for i in range(files_per_hour):
            write_log_file(logs, hour, f"part-{i}.parquet", table.slice(i * step, step), storage_options)

    assignments = simulate_days(UnitPopulation.generate(n_units, seed=seed), config, DEMO_REL_DIFFS, hours, write, seed)
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    return World(config, logs, warehouse, hours, events, assignments)


def reference_cells(world: World, events: pa.Table, assignments: pa.Table) -> dict[tuple[str, ...], dict[str, object]]:
    """Expected agg rows per (exp_id, variant_id, country, platform), by plain Python over the raw rows."""
    at = world.analysis_type
    salts = {e.exp_id: e.bootstrap_salt for e in world.config.experiments}
    per_unit: dict[tuple[tuple[str, ...], str], np.ndarray] = defaultdict(lambda: np.zeros(4, np.int64))
    for row in events.to_pylist():
        cell = (row["exp_id"], row["variant_id"], row["country"], row["platform"])
        per_unit[(cell, row["unit_id"])] += [1, row["impressions"], row["clicks"], round(row["revenue"] * 100)]
    for row in assignments.to_pylist():
        cell = (row["exp_id"], row["variant_id"], row["country"], row["platform"])
        per_unit.setdefault((cell, row["unit_id"]), np.zeros(4, np.int64))
    units_in_hour = {((r["exp_id"], r["variant_id"], r["country"], r["platform"]), r["unit_id"])
                     for r in assignments.to_pylist()}
    b = at.n_replicates
    out: dict[tuple[str, ...], dict[str, object]] = {}
    for (cell, unit), sums in per_unit.items():  # type: ignore[assignment]
        w = weights_for(salts[cell[0]], [unit], b)[0].astype(np.int64)
        entry = out.setdefault(cell, {"n_events": 0, **{m: 0 for m in ("units", "impressions", "clicks", "revenue")},
                                      **{f"{m}_reps": np.zeros(b, np.int64)
                                         for m in ("units", "impressions", "clicks", "revenue")}})
        is_new = int((cell, unit) in units_in_hour)
        for name, value in zip(("n_events", "impressions", "clicks", "revenue"), sums, strict=True):
            entry[name] += int(value)  # type: ignore[operator]
            if name != "n_events":
                entry[f"{name}_reps"] = entry[f"{name}_reps"] + w * int(value)
        entry["units"] += is_new  # type: ignore[operator]
        entry["units_reps"] = entry["units_reps"] + w * is_new
    return out


def assignments_in_hour(world: World, hour: str) -> pa.Table:
    import pyarrow.compute as pc

    from rayab.model.hours import format_hour

    hours = pc.strftime(world.assignments.column("assigned_at"), format="%Y-%m-%dT%H")
    keep = pc.equal(hours, hour)
    assert format_hour  # type: ignore[truthy-function]  # the same hour format as the pipeline
    return world.assignments.filter(keep)

