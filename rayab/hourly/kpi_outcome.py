"""The ``kpi_outcome`` table: per unit, per day and per experiment the unit is in, each additive KPI's total.

Rows are (metric_date, exp_id, unit_id, kpi_name, kpi_value) as in the data model, partitioned by
``metric_date``/``exp_id``. A day is built by :func:`build_kpi_outcome` from the day's 24 hours of logs with the
pipeline's own read and validate stage (one Ray task per file: read, validate, collapse to (exp_id, unit_id)
totals), and the day's partitions are replaced in one Delta commit, so a re-run is idempotent.

Two input modes, as in the hourly job:

- ``log``: events carry exp_id and variant_id;
- ``assignment``: events carry only the unit; each event counts in every experiment its unit is assigned to in the
  ``assignment`` table, if the event is at or after the assignment **or before the experiment's start**: pre-period
  days (before the start, nobody is assigned yet) give the per-unit pre-period totals CUPED uses as covariates.

Totals are summed as exact integers at the metric's scale; ``kpi_value`` is that integer divided by the scale.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"), Metric("revenue", decimals=2)))
>>> valid = pa.table({"exp_id": ["e", "e", "e"], "unit_id": ["u1", "u1", "u2"], "clicks": [1, 2, 0],
...                   "revenue": [150, 5, 99]})
>>> rows = kpi_rows(unit_totals(valid, at), at, "2026-11-23")
>>> [(r["unit_id"], r["kpi_name"], r["kpi_value"]) for r in rows.to_pylist()]
[('u1', 'clicks', 3.0), ('u1', 'revenue', 1.55), ('u2', 'clicks', 0.0), ('u2', 'revenue', 0.99)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from rayab.aggregate.validate import TIME_COLUMN, Population, required_columns, validate_events
from rayab.errors import ValidationError
from rayab.model import AnalysisType, Config, Experiment, ExperimentStatus
from rayab.model.hours import format_hour
from rayab.storage.logs import LogFile, list_log_files, read_log_file
from rayab.storage.schemas import ASSIGNMENT_TABLE, KPI_OUTCOME, PARTITIONS
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["KPI_TABLE", "KpiDaySummary", "build_kpi_outcome", "day_hours", "join_for_day", "kpi_rows",
           "unit_totals"]

KPI_TABLE = "kpi_outcome"


def day_hours(date: str) -> list[str]:
    """The 24 hours of a ``YYYY-MM-DD`` day."""
    try:
        start = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ValidationError("date", date, "must be a day YYYY-MM-DD") from None
    return [format_hour(start + timedelta(hours=h)) for h in range(24)]


def unit_totals(valid: pa.Table, analysis_type: AnalysisType) -> pa.Table:
    """(exp_id, unit_id) and each metric's int64 total, sorted by exp_id then unit_id."""
    keys = pa.table({"exp_id": _plain(valid.column("exp_id")), "unit_id": _plain(valid.column("unit_id")),
                     **{m: valid.column(m) for m in analysis_type.metric_names}})
    grouped = keys.group_by(["exp_id", "unit_id"], use_threads=False).aggregate(
        [(m, "sum") for m in analysis_type.metric_names])
    grouped = grouped.rename_columns([c.removesuffix("_sum") for c in grouped.column_names])
    return grouped.sort_by([("exp_id", "ascending"), ("unit_id", "ascending")])


def kpi_rows(totals: pa.Table, analysis_type: AnalysisType, date: str) -> pa.Table:
    """Per-unit totals in the long form of ``kpi_outcome`` (one row per unit and KPI)."""
    n = totals.num_rows
    parts = []
    for metric in analysis_type.metrics:
        values = np.asarray(totals.column(metric.name), np.int64) / metric.scale
        parts.append(pa.table({"metric_date": pa.array([date] * n, pa.string()), "exp_id": totals.column("exp_id"),
                               "unit_id": totals.column("unit_id"),
                               "kpi_name": pa.array([metric.name] * n, pa.string()),
                               "kpi_value": pa.array(values, pa.float64())}, schema=KPI_OUTCOME))
    rows = pa.concat_tables(parts) if parts else KPI_OUTCOME.empty_table()
    return rows.sort_by([("exp_id", "ascending"), ("unit_id", "ascending"), ("kpi_name", "ascending")])


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array.cast(pa.string())


def join_for_day(events: pa.Table, assignments: pa.Table, starts: Mapping[str, datetime]) -> pa.Table:
    """Unit-only events joined with their units' assignments: a row per (event, experiment) when the event is at
    or after the assignment, or before the experiment's start (a pre-period event)."""
    if events.num_rows == 0 or assignments.num_rows == 0:
        return events.slice(0, 0).append_column("exp_id", pa.array([], pa.string()))
    right = pa.table({"unit_id": _plain(assignments.column("unit_id")), "exp_id": _plain(assignments.column("exp_id")),
                      "assigned_at": assignments.column("assigned_at")})
    right = right.append_column("exp_start", pa.array([starts[e] for e in right.column("exp_id").to_pylist()],
                                                      right.schema.field("assigned_at").type))
    left = events.set_column(events.schema.get_field_index("unit_id"), "unit_id", _plain(events.column("unit_id")))
    left = left.set_column(left.schema.get_field_index(TIME_COLUMN), TIME_COLUMN,
                           left.column(TIME_COLUMN).cast(right.schema.field("assigned_at").type))
    joined = left.join(right, keys="unit_id", join_type="inner", use_threads=False)
    at = joined.column(TIME_COLUMN)
    keep = pc.or_(pc.greater_equal(at, joined.column("assigned_at")), pc.less(at, joined.column("exp_start")))
    return joined.filter(keep).drop_columns(["assigned_at", "exp_start"])


@ray.remote(max_retries=3)
def _file_totals(file: LogFile, hour: str, analysis_type: AnalysisType, variants: dict[str, list[str]],
                 population: Population, assignments: pa.Table | None, starts: dict[str, datetime],
                 storage_options: Mapping[str, str] | None) -> tuple[pa.Table, int]:
    """One log file: read, validate, (join), collapse to per-unit totals; returns (totals, quarantined rows)."""
    table = read_log_file(file.path, required_columns(analysis_type, population), storage_options)
    valid, quarantined = validate_events(table, analysis_type, variants, file.path, hour, population)
    if population == "assignment":
        valid = join_for_day(valid, assignments if assignments is not None else pa.table({}), starts)
    else:
        valid = valid.filter(pc.is_in(_plain(valid.column("exp_id")), pa.array(list(variants), pa.string()))) \
            if valid.num_rows else valid
    if valid.num_rows == 0:
        empty = {"exp_id": pa.array([], pa.string()), "unit_id": pa.array([], pa.string()),
                 **{m: pa.array([], pa.int64()) for m in analysis_type.metric_names}}
        return pa.table(empty), quarantined.num_rows
    return unit_totals(valid, analysis_type), quarantined.num_rows


@dataclass(frozen=True)
class KpiDaySummary:
    """What a day's build read and wrote."""

    date: str
    analysis_type: str
    files: int
    rows: int
    units: int
    rows_quarantined: int


def _experiments(config: Config, analysis_type: AnalysisType, exp_ids: Sequence[str] | None) -> list[Experiment]:
    exps = [e for e in config.experiments if e.status != ExperimentStatus.DRAFT
            and analysis_type.name in {a.name for a in config.analysis_types_of(e.exp_id)}]
    if exp_ids is not None:
        known = {e.exp_id for e in exps}
        for i, exp_id in enumerate(exp_ids):
            if exp_id not in known:
                raise ValidationError(f"exp_ids[{i}]", exp_id, f"must be a non-draft experiment measured with "
                                      f"{analysis_type.name}: {sorted(known)}")
        exps = [e for e in exps if e.exp_id in set(exp_ids)]
    return exps


def build_kpi_outcome(config: Config, date: str, logs_root: str, warehouse: Warehouse, *,
                      analysis_type: str | None = None, population: Population = "log",
                      exp_ids: Sequence[str] | None = None,
                      logs_storage_options: Mapping[str, str] | None = None) -> KpiDaySummary:
    """Build the ``kpi_outcome`` rows of one day (Ray must be initialised) and replace that day's partitions."""
    hours = day_hours(date)
    at = config.analysis_type(analysis_type) if analysis_type else config.analysis_types[0]
    exps = _experiments(config, at, exp_ids)
    variants = {e.exp_id: [v.variant_id for v in e.variants] for e in exps}
    starts = {e.exp_id: e.start_time for e in exps}
    assignments = None
    if population == "assignment":
        assignments = read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": list(variants)},
                                columns=["exp_id", "unit_id", "assigned_at"]) if variants else pa.table({})
    shared = ray.put(assignments)
    refs: list[Any] = []
    files = 0
    for hour in hours:
        for file in list_log_files(logs_root, hour, logs_storage_options):
            files += 1
            refs.append(_file_totals.remote(file, hour, at, variants, population, shared, starts,
                                            logs_storage_options))
    parts = ray.get(refs)
    tables = [t for t, _ in parts if t.num_rows]
    totals = unit_totals(pa.concat_tables(tables), at) if tables else None
    rows = kpi_rows(totals, at, date) if totals is not None else KPI_OUTCOME.empty_table()
    # only the day's partitions of the experiments built here: other experiments' rows of the day stay
    replace_partitions(warehouse, KPI_TABLE, rows, PARTITIONS[KPI_TABLE],
                       {"metric_date": date, "exp_id": sorted(variants) or [""]})
    return KpiDaySummary(date, at.name, files, rows.num_rows, totals.num_rows if totals is not None else 0,
                         int(sum(q for _, q in parts)))
