"""Sample-ratio mismatch on the ``assignment`` table: overall, per slice and hour by hour.

Units are counted once, at their first assignment, per variant; the design weights are the variants'
``traffic_pct``. Per-slice tests (e.g. per country) are corrected for multiplicity (Holm by default). The timeline
gives, for every hour, the cumulative chi-square p-value (valid for one look only) next to the anytime-valid
sequential p-value, which may be checked every hour without inflating false alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import ValidationError
from rayab.model import Experiment
from rayab.model.hours import hours_between, parse_hour
from rayab.stats.multiplicity import PvalueAdjustment, adjust_pvalues
from rayab.stats.srm import DEFAULT_SRM_THRESHOLD, sequential_srm_test, srm_test
from rayab.storage.schemas import ASSIGNMENT_TABLE
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["SrmCheck", "SrmLook", "experiment_assignments", "srm_check", "srm_timeline"]


class SrmCheck(NamedTuple):
    """The SRM test of one slice (``()`` for the whole experiment)."""

    exp_id: str
    slice: tuple[tuple[str, str], ...]
    variant_ids: tuple[str, ...]
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    pvalue: float
    adjusted_pvalue: float
    max_relative_deviation: float
    mismatch: bool
    n_units: int
    error: str


class SrmLook(NamedTuple):
    """Cumulative counts up to the end of ``hour`` and both p-values at that look."""

    hour: str
    counts: tuple[int, ...]
    pvalue: float
    sequential_pvalue: float
    mismatch: bool


def experiment_assignments(warehouse: Warehouse, experiment: Experiment, columns: Sequence[str] = (),
                    until: datetime | None = None) -> pa.Table:
    """First assignments of the experiment (``variant_id``, ``assigned_at`` and ``columns``), before ``until``."""
    rows = read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": experiment.exp_id})
    if rows.num_rows == 0:
        return pa.table({"variant_id": pa.array([], pa.string()),
                         "assigned_at": pa.array([], pa.timestamp("us", tz="UTC"))})
    for i, column in enumerate(columns):
        if column not in rows.column_names:
            raise ValidationError(f"by[{i}]", column, f"must be an assignment-time dimension: "
                                  f"{sorted(set(rows.column_names) - {'exp_id', 'date', 'unit_id'})}")
    rows = rows.select(["variant_id", "assigned_at", *columns])
    if until is not None:
        at = rows.column("assigned_at")
        rows = rows.filter(pc.less(at, pa.scalar(until, at.type)))
    return rows


def _counts(rows: pa.Table, variant_ids: Sequence[str]) -> list[int]:
    counted = pc.value_counts(rows.column("variant_id")).to_pylist()
    by_id = {c["values"]: c["counts"] for c in counted}
    return [int(by_id.get(v, 0)) for v in variant_ids]


def _check(experiment: Experiment, rows: pa.Table, slice_key: tuple[tuple[str, str], ...], threshold: float,
           min_relative_deviation: float) -> SrmCheck:
    ids = tuple(v.variant_id for v in experiment.variants)
    weights = [v.traffic_pct for v in experiment.variants]
    counts = _counts(rows, ids)
    result = srm_test(counts, weights, threshold=threshold, min_relative_deviation=min_relative_deviation)
    total = sum(counts)
    expected = tuple(total * w / sum(weights) for w in weights)
    return SrmCheck(experiment.exp_id, slice_key, ids, tuple(counts), expected, result.pvalue, result.pvalue,
                    result.max_relative_deviation, result.mismatch, result.n_units, result.error or "")


def srm_check(warehouse: Warehouse, experiment: Experiment, *, by: Sequence[str] = (), until_hour: str | None = None,
              threshold: float = DEFAULT_SRM_THRESHOLD, min_relative_deviation: float = 0.0,
              correction: PvalueAdjustment = "holm") -> list[SrmCheck]:
    """The overall test, then one per value of each ``by`` dimension (adjusted together with ``correction``)."""
    until = parse_hour(until_hour, "until_hour") if until_hour else None
    rows = experiment_assignments(warehouse, experiment, by, until)
    overall = _check(experiment, rows, (), threshold, min_relative_deviation)
    slices: list[SrmCheck] = []
    for dim in by:
        column = pc.fill_null(pc.cast(rows.column(dim), pa.string()), "(none)")
        for value in sorted(set(column.to_pylist())):
            part = rows.filter(pc.equal(column, value))
            slices.append(_check(experiment, part, ((dim, value),), threshold, min_relative_deviation))
    if slices:
        adjusted = adjust_pvalues([s.pvalue for s in slices], correction).pvalues
        slices = [s._replace(adjusted_pvalue=float(p),
                             mismatch=bool(p < threshold and s.max_relative_deviation >= min_relative_deviation))
                  for s, p in zip(slices, adjusted, strict=True)]
    return [overall, *slices]


def srm_timeline(warehouse: Warehouse, experiment: Experiment, start_hour: str, end_hour: str, *,
                 threshold: float = DEFAULT_SRM_THRESHOLD) -> list[SrmLook]:
    """Both SRM p-values at the end of every hour of ``[start_hour, end_hour)``, on cumulative counts."""
    hours = hours_between(start_hour, end_hour)
    rows = experiment_assignments(warehouse, experiment, until=parse_hour(end_hour, "end_hour"))
    ids = [v.variant_id for v in experiment.variants]
    weights = [v.traffic_pct for v in experiment.variants]
    stamp = pc.strftime(rows.column("assigned_at"), format="%Y-%m-%dT%H")
    hour_of = np.asarray(stamp.to_pylist() if rows.num_rows else [], dtype=object)
    variant_of = np.asarray(rows.column("variant_id").to_pylist(), dtype=object)
    looks, previous = [], 1.0
    for hour in hours:
        upto = hour_of <= hour
        counts = [int(np.count_nonzero(upto & (variant_of == v))) for v in ids]
        one_look = srm_test(counts, weights, threshold=threshold)
        sequential = sequential_srm_test(counts, weights, alpha=threshold, previous_pvalue=previous)
        previous = sequential.pvalue
        looks.append(SrmLook(hour, tuple(counts), one_look.pvalue, sequential.pvalue, sequential.mismatch))
    return looks
