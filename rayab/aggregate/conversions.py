"""Conversion and retention counts: the per-unit first-occurrence state, and the hourly counts derived from it.

The metrics are defined in :mod:`rayab.model.conversion_metric`. Whether a unit converted by hour ``h`` depends on
every hour before ``h``, so unlike a sum it cannot be computed from one hour's events. The design:

1. **Hits, a function of one hour.** Each hour's job writes, per (experiment, conversion metric, unit) with a
   qualifying event in the hour, the first and last qualifying event time of that hour (:func:`event_hits`, merged
   over the hour's splits by :func:`merge_hits`) into ``cvh_<type>``, partitioned by experiment and hour and
   replaced with the hour like ``agg_<type>``. Re-running an hour rewrites its hits from its events alone, so a
   late event, a backfill or a re-run changes exactly that hour's hits.
2. **Counts, a function of all hits.** After the hour's commit, the job recomputes the counts of every experiment
   of the hour from all its hits and its first assignments (:func:`conversion_rows`) and replaces that
   experiment's whole ``cnv_<type>`` in one commit. The first-occurrence index is the ``min`` over hours of the
   qualifying hours, so a late event in an earlier hour moves the unit's count there and takes it out of the later
   hour in the same commit; nothing depends on the order hours were run in, and running any hour again repairs
   an interrupted refresh.

The rules, for a unit first assigned at ``a`` (its earliest ``assigned_at``; it is counted in that assignment's
cell, as ``units`` is) and an hour whose qualifying events span ``[first, last]``, with a span ``[L, R)`` of at
least one hour (``[a, a + within)``, ``[a, inf)`` without ``within``, ``[a + N * 24h, a + (N + 1) * 24h)`` for
day-N retention): the hour holds a qualifying event in the span exactly when ``last >= L`` and ``first < R`` (an
hour can straddle at most one end of a span of an hour or more). Then:

- conversion: counted once, in the earliest hour holding a qualifying event in its span;
- retention: ``<name>_eligible`` counts every assigned unit and ``<name>`` the units with a qualifying event in
  day N, both in the hour holding the last instant of day N (``R - 1us``), the hour it becomes known.

Counts are written only for hours up to the latest hour committed for the analysis type (a retention count whose
day ends later is written once that hour has run). Each count carries B replicate sums under the unit's
Poisson weights (the keys of :mod:`rayab.stats.unit_hash` under the experiment's bootstrap salt, the weights of
``units``), so shares such as ``purchased / units`` get their interval from the one bootstrap.

Cost: the refresh reads the experiment's hits, one row per (unit, hour with a qualifying event, metric), and its
assignments; it is linear in them and runs once per hour and experiment.

>>> from datetime import datetime, timezone
>>> from rayab.model import AnalysisType, ConversionMetric, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=2, conversion_metrics=(ConversionMetric("clicked",
...                   metric="clicks"),))
>>> t = lambda h, m: datetime(2026, 1, 1, h, m, tzinfo=timezone.utc)
>>> events = pa.table({"exp_id": ["e"] * 3, "variant_id": ["a"] * 3, "unit_id": ["u1", "u1", "u2"],
...                    "clicks": [1, 1, 0], "event_time": [t(1, 5), t(1, 40), t(1, 9)]})
>>> hits = merge_hits([event_hits(events, at)], "2026-01-01T01")
>>> hits.column("unit_id").to_pylist(), [x.minute for x in hits.column("first_at").to_pylist()]
(['u1'], [5])
>>> firsts = pa.table({"unit_id": ["u1", "u2"], "variant_id": ["a", "a"], "assigned_at": [t(0, 30), t(0, 45)]})
>>> rows = conversion_rows(hits, firsts, at, "e", "salt", "2026-01-01T01")
>>> rows.column("hour").to_pylist(), rows.column("clicked").to_pylist()
(['2026-01-01T01'], [1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.model import AnalysisType, ConversionMetric
from rayab.model.hours import format_hour, parse_hour
from rayab.storage.schemas import (
    ASSIGNMENT_TABLE,
    HITS,
    MANIFEST_TABLE,
    NULL_DIMENSION,
    REPS_TYPE,
    conversion_schema,
    conversion_table,
    hits_table,
    reps_column,
)
from rayab.storage.sources import event_times
from rayab.storage.warehouse import Warehouse

__all__ = ["conversion_rows", "counted_hours", "event_hits", "merge_hits", "refresh_conversions"]

I64 = npt.NDArray[np.int64]
_US_PER_HOUR = 3_600_000_000
_NEVER = np.iinfo(np.int64).max
_TIME = pa.timestamp("us", tz="UTC")
TIME_COLUMN = "event_time"


def _qualifying(valid: pa.Table, cm: ConversionMetric) -> npt.NDArray[np.bool_]:
    keep = np.ones(valid.num_rows, bool)
    for column, values in cm.where:
        text = pc.cast(valid.column(column), pa.string(), safe=False)
        keep &= np.asarray(pc.fill_null(pc.is_in(text, pa.array(list(values), pa.string())), False), bool)
    if cm.metric:
        keep &= np.asarray(valid.column(cm.metric), np.int64) > 0
    return keep


def event_hits(valid: pa.Table, analysis_type: AnalysisType) -> pa.Table:
    """Per (exp_id, conversion metric, unit) with a qualifying event among the validated events of a split, its
    first and last qualifying event time (columns of :data:`~rayab.storage.schemas.HITS` less ``hour``)."""
    fields = [f for f in HITS if f.name != "hour"]
    parts = []
    if valid.num_rows:
        times = event_times(valid.column(TIME_COLUMN))[0]
        base = pa.table({"exp_id": pc.cast(valid.column("exp_id"), pa.string()),
                         "unit_id": pc.cast(valid.column("unit_id"), pa.string()), "t": times})
        for cm in analysis_type.conversion_metrics:
            rows = base.filter(pa.array(_qualifying(valid, cm)))
            if rows.num_rows:
                grouped = rows.group_by(["exp_id", "unit_id"]).aggregate([("t", "min"), ("t", "max")])
                parts.append(pa.table({"exp_id": grouped.column("exp_id"), "metric": [cm.name] * grouped.num_rows,
                                       "unit_id": grouped.column("unit_id"), "first_at": grouped.column("t_min"),
                                       "last_at": grouped.column("t_max")}, schema=pa.schema(fields)))
    return pa.concat_tables(parts) if parts else pa.schema(fields).empty_table()


def merge_hits(pieces: Sequence[pa.Table], hour: str) -> pa.Table:
    """The hour's hits from every split's :func:`event_hits`: first and last times merged per (exp_id, metric,
    unit), sorted, as rows of :data:`~rayab.storage.schemas.HITS` (the same rows however the hour was split)."""
    non_empty = [p for p in pieces if p.num_rows]
    if not non_empty:
        return HITS.empty_table()
    rows = pa.concat_tables(non_empty).group_by(["exp_id", "metric", "unit_id"]).aggregate(
        [("first_at", "min"), ("last_at", "max")])
    rows = rows.sort_by([("exp_id", "ascending"), ("metric", "ascending"), ("unit_id", "ascending")])
    return pa.table({"exp_id": rows.column("exp_id"), "hour": [hour] * rows.num_rows,
                     "metric": rows.column("metric"), "unit_id": rows.column("unit_id"),
                     "first_at": rows.column("first_at_min"), "last_at": rows.column("last_at_max")}, schema=HITS)


def _micros(column: pa.ChunkedArray | pa.Array) -> I64:
    return np.asarray(pc.cast(pc.cast(column, _TIME), pa.int64()), np.int64)


def _hour_micros(hours: pa.ChunkedArray | pa.Array) -> I64:
    text = hours.combine_chunks() if isinstance(hours, pa.ChunkedArray) else hours
    codes = pc.dictionary_encode(pc.cast(text, pa.string()))
    starts = np.array([int(parse_hour(h).timestamp()) * 1_000_000 for h in codes.dictionary.to_pylist()], np.int64)
    return starts[np.asarray(codes.indices, np.int64)] if len(starts) else np.zeros(0, np.int64)


def _span(cm: ConversionMetric) -> tuple[int, int | None]:
    """``[L, R)`` of the qualifying span as offsets after the first assignment (microseconds; R None: no end)."""
    if cm.kind == "retention":
        day = int(cm.day or 0)
        return day * 24 * _US_PER_HOUR, (day + 1) * 24 * _US_PER_HOUR
    return 0, None if cm.within_hours is None else cm.within_hours * _US_PER_HOUR


def counted_hours(cm: ConversionMetric, assigned_at: I64, hit_unit: I64, hit_hour: I64, hit_first: I64,
                  hit_last: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Per unit (``assigned_at[u]``, microseconds): the start of the hour it is counted in (``_NEVER``: not
    counted) and whether it counts as converted or retained. Hits are rows ``(unit index, hour start, first and
    last qualifying time)``. For retention every unit is counted (as eligible) in the hour its day N ends.

    >>> from rayab.model import ConversionMetric
    >>> h = 3_600_000_000
    >>> hour, hit = counted_hours(ConversionMetric("c"), np.array([10, 10 * h]), np.array([0, 0, 1]),
    ...                           np.array([2 * h, 0, 9 * h]), np.array([2 * h + 5, 20, 9 * h]),
    ...                           np.array([2 * h + 9, 30, 9 * h + 7]))
    >>> [int(x) // h if x != _NEVER else None for x in hour], hit.tolist()
    ([0, None], [True, False])
    """
    low, high = _span(cm)
    a = assigned_at[hit_unit]
    ok = hit_last >= a + low
    if high is not None:
        ok &= hit_first < a + high
    n = len(assigned_at)
    if cm.kind == "conversion":
        first = np.full(n, _NEVER, np.int64)
        np.minimum.at(first, hit_unit[ok], hit_hour[ok])
        return first, first != _NEVER
    retained = np.zeros(n, bool)
    retained[hit_unit[ok]] = True
    assert high is not None
    last_instant = assigned_at + high - 1
    return last_instant - last_instant % _US_PER_HOUR, retained


def _first_assignments(assignments: pa.Table, analysis_type: AnalysisType) -> pa.Table:
    """One row per unit: its earliest assignment (unit_id, variant_id, dimensions as ``units`` has them,
    assigned_at as microseconds), sorted by unit id."""
    n = assignments.num_rows
    columns = {"unit_id": pc.cast(assignments.column("unit_id"), pa.string()),
               "variant_id": pc.cast(assignments.column("variant_id"), pa.string()),
               "a": pa.array(_micros(assignments.column("assigned_at")) if n else np.zeros(0, np.int64))}
    for dim in analysis_type.dimensions:
        columns[dim] = (pc.fill_null(pc.cast(assignments.column(dim), pa.string()), NULL_DIMENSION)
                        if dim in assignments.column_names else pa.array([NULL_DIMENSION] * n, pa.string()))
    table = pa.table(columns).sort_by([("unit_id", "ascending"), ("a", "ascending"), ("variant_id", "ascending")])
    ids = table.column("unit_id")
    if not table.num_rows:
        return table
    codes = np.asarray(pc.dictionary_encode(ids).combine_chunks().indices, np.int64)
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return table.take(pa.array(first))


def conversion_rows(hits: pa.Table, assignments: pa.Table, analysis_type: AnalysisType, exp_id: str, salt: str,
                    through_hour: str) -> pa.Table:
    """The ``cnv_<type>`` rows of one experiment for every hour up to ``through_hour``: per (hour, cell), each
    conversion count and its B replicate sums, from all its ``hits`` (rows of :data:`HITS`) and its assignments
    (``unit_id``, ``variant_id``, ``assigned_at``; the earliest per unit counts). Hits of units never assigned are
    not counted (they are not in ``units`` either)."""
    schema = conversion_schema(analysis_type)
    firsts = _first_assignments(assignments, analysis_type)
    if firsts.num_rows == 0:
        return schema.empty_table()
    unit_ids = firsts.column("unit_id")
    assigned_at = np.asarray(firsts.column("a"), np.int64)
    through = int(parse_hour(through_hour).timestamp()) * 1_000_000
    if hits.num_rows:
        hit_unit = np.asarray(pc.index_in(pc.cast(hits.column("unit_id"), pa.string()), value_set=unit_ids)
                              .fill_null(-1), np.int64)
        known = hit_unit >= 0
        hit_metric = np.asarray(pc.cast(hits.column("metric"), pa.string()).to_numpy(zero_copy_only=False))[known]
        hit_unit, hit_hour = hit_unit[known], _hour_micros(hits.column("hour"))[known]
        hit_first, hit_last = _micros(hits.column("first_at"))[known], _micros(hits.column("last_at"))[known]
    else:
        hit_metric = np.zeros(0, object)
        hit_unit = hit_hour = hit_first = hit_last = np.zeros(0, np.int64)
    counted: list[tuple[str, I64, I64]] = []  # (column, unit indices, hour starts) of every count
    for cm in analysis_type.conversion_metrics:
        mine = hit_metric == cm.name
        hour, hit = counted_hours(cm, assigned_at, hit_unit[mine], hit_hour[mine], hit_first[mine], hit_last[mine])
        within = hour <= through
        counted.append((cm.name, np.flatnonzero(within & hit), hour[within & hit]))
        if cm.kind == "retention":
            counted.append((cm.output_names[1], np.flatnonzero(within), hour[within]))
    return _count_rows(counted, firsts, analysis_type, exp_id, salt, schema)


def _count_rows(counted: list[tuple[str, I64, I64]], firsts: pa.Table, analysis_type: AnalysisType, exp_id: str,
                salt: str, schema: pa.Schema) -> pa.Table:
    """Per (hour, cell) the raw count and B replicate sums of every counted column (compiled weights kernel)."""
    from rayab.stats.kernels import replicate_sums_fused
    from rayab.stats.unit_hash import unit_keys_arrow

    dims = ("variant_id", *analysis_type.dimensions)
    cell_of_unit = [firsts.column(d).to_pylist() for d in dims]
    units = np.concatenate([u for _, u, _ in counted]) if counted else np.zeros(0, np.int64)
    if not len(units):
        return schema.empty_table()
    hours = np.concatenate([h for _, _, h in counted])
    column = np.concatenate([np.full(len(u), j, np.int64) for j, (_, u, _) in enumerate(counted)])
    keys = sorted({(int(h), *(c[int(u)] for c in cell_of_unit)) for h, u in zip(hours, units, strict=True)})
    index = {k: i for i, k in enumerate(keys)}
    cell = np.fromiter((index[(int(h), *(c[int(u)] for c in cell_of_unit))] for h, u in zip(hours, units,
                                                                                            strict=True)),
                       np.int64, len(units))
    values = np.zeros((len(units), len(counted)), np.int64)
    values[np.arange(len(units)), column] = 1
    k1, k2 = unit_keys_arrow(salt, firsts.column("unit_id").take(pa.array(units)))
    raw, reps = replicate_sums_fused(k1, k2, cell, values, len(keys), analysis_type.n_replicates)
    out: dict[str, pa.Array] = {
        "exp_id": pa.array([exp_id] * len(keys), pa.string()),
        "hour": pa.array([format_hour(_epoch(k[0])) for k in keys], pa.string()),
    }
    for d, name in enumerate(dims, start=1):
        out[name] = pa.array([k[d] for k in keys], pa.string())
    out["n_events"] = pa.array(np.zeros(len(keys), np.int64))
    by_name = {name: j for j, (name, _, _) in enumerate(counted)}
    b = analysis_type.n_replicates
    for name in analysis_type.conversion_columns:
        j = by_name[name]
        out[name] = pa.array(raw[:, j])
        offsets = pa.array(np.arange(len(keys) + 1, dtype=np.int64) * b, pa.int32())
        out[reps_column(name)] = pa.ListArray.from_arrays(offsets, pa.array(reps[:, j, :].reshape(-1)), type=REPS_TYPE)
    return pa.table(out, schema=schema)


def _epoch(micros: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)


def _latest_hour(*columns: pa.ChunkedArray | pa.Array | None) -> str:
    hours = [str(h) for c in columns if c is not None and len(c) for h in [pc.max(c).as_py()] if h]
    return max(hours)


def refresh_conversions(warehouse: Warehouse, analysis_type: AnalysisType, salts: Mapping[str, str],
                        hour: str) -> int:
    """Recompute the ``cnv_<type>`` rows of every experiment in ``salts`` (exp_id -> bootstrap salt) from all its
    hits and assignments, replacing each experiment's rows in one commit, after ``hour`` was committed. Counts are
    written up to the latest hour committed for the analysis type. Returns the rows written."""
    from rayab.storage.tables import read_rows, replace_partitions

    manifest = read_rows(warehouse, MANIFEST_TABLE, columns=["analysis_type", "hour"])
    done = (manifest.filter(pc.equal(manifest.column("analysis_type"), analysis_type.name)).column("hour")
            if manifest.num_rows else None)
    written = 0
    for exp_id, salt in salts.items():
        hits = read_rows(warehouse, hits_table(analysis_type), where={"exp_id": exp_id})
        assignments = read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": exp_id})
        through = _latest_hour(pa.array([hour]), hits.column("hour") if hits.num_rows else None, done)
        rows = (conversion_rows(hits, assignments, analysis_type, exp_id, salt, through) if assignments.num_rows
                else conversion_schema(analysis_type).empty_table())
        replace_partitions(warehouse, conversion_table(analysis_type), rows, ["exp_id", "hour"], {"exp_id": exp_id})
        written += rows.num_rows
    return written
