"""Sum the hourly aggregate partitions of a window into per-cell arrays.

Only the partitions needed are read (``exp_id`` and ``hour`` partition pruning, see
:mod:`rayab.storage.partitions`) and only the needed columns. Because the stored sums are exact integers, the sum over
a window equals, bit for bit, what one run over the whole window would have produced.

Summing is streamed: each file's rows are filtered, their cells looked up, and their replicate arrays (a list column
read as one flat int64 buffer, reshaped to ``rows x B`` without a copy) added into the running per-cell arrays. Rows
of one file usually hit distinct cells, which is a single fancy-indexed add; otherwise the rows are first reduced
per cell with a sort and ``np.add.reduceat``.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), dimensions=("country",), n_replicates=2)
>>> rows = pa.table({"hour": ["h0", "h0", "h1"], "variant_id": ["a", "a", "a"], "country": ["US", "DE", "US"],
...                  "n_events": [3, 1, 2], "units": [1, 1, 1], "units_reps": [[1, 0], [2, 1], [0, 1]],
...                  "clicks": [5, 1, 2], "clicks_reps": [[4, 0], [2, 1], [0, 3]]})
>>> sums = sum_window(rows, at, ["clicks"])
>>> sums.keys, sums.raw["clicks"].tolist(), sums.reps["clicks"].tolist()
((('a',),), [8], [[6, 4]])
>>> sum_window(rows, at, ["clicks"], ["country"]).reps["clicks"].tolist()
[[2, 1], [4, 3]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import NotFoundError, StorageError, ValidationError
from rayab.model import UNITS_METRIC, AnalysisType
from rayab.model.hours import hours_between
from rayab.query.filters import Filter, check_filter, filter_dimensions, filter_mask
from rayab.storage.commits import check_readable
from rayab.storage.partitions import list_partition_files, read_partition_files
from rayab.storage.schemas import reps_column
from rayab.storage.warehouse import Warehouse

__all__ = ["WindowSums", "check_projection", "metric_scale", "read_window", "regroup", "sum_partitions",
           "sum_window", "window_columns"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WindowSums:
    """Per cell: event counts, raw sums and replicate sums of each additive metric.

    A cell is ``(variant_id, *projection)``, or ``(hour, variant_id, *projection)`` when summed by hour.
    ``hours`` lists the hours that had data.
    """

    key_names: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    n_events: I64
    raw: dict[str, I64]
    reps: dict[str, I64]
    hours: tuple[str, ...]

    @property
    def n_replicates(self) -> int:
        """B (0 when no metric was summed)."""
        return int(next(iter(self.reps.values())).shape[1]) if self.reps else 0

    def cell(self, key: tuple[str, ...]) -> int:
        """Row number of a cell."""
        try:
            return self.keys.index(key)
        except ValueError:
            raise NotFoundError(f"no data for cell {dict(zip(self.key_names, key, strict=True))}") from None


def check_projection(analysis_type: AnalysisType, projection: Sequence[str]) -> None:
    """Every projected name must be a dimension of the analysis type, each at most once."""
    for i, dim in enumerate(projection):
        if dim not in analysis_type.dimensions:
            raise ValidationError(f"projection[{i}]", dim, f"must be a dimension of {analysis_type.name}: "
                                  f"{list(analysis_type.dimensions)}")
        if dim in projection[:i]:
            raise ValidationError(f"projection[{i}]", dim, "is listed twice")


def metric_scale(analysis_type: AnalysisType, metric: str) -> int:
    """The integer scale of an additive metric (``units`` counts have scale 1)."""
    return 1 if metric == UNITS_METRIC else analysis_type.metric(metric).scale


def window_columns(metrics: Sequence[str], projection: Sequence[str], filter_: Filter | None = None) -> list[str]:
    """The columns a window query reads: keys, the filter's dimensions, ``n_events``, each metric and its reps."""
    columns = ["variant_id", *projection, *sorted(filter_dimensions(filter_)), "n_events"]
    for metric in metrics:
        columns += [metric, reps_column(metric)]
    return list(dict.fromkeys(columns))


def _single(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _replicate_block(column: pa.ChunkedArray | pa.Array, n_replicates: int, name: str) -> I64:
    """A list<int64> column of fixed length B as a ``(rows, B)`` int64 view of its values (no copy)."""
    array = _single(column)
    offsets = np.asarray(array.offsets, dtype=np.int64)  # respects a sliced array's offset
    lengths = np.diff(offsets)
    if array.null_count or not (lengths == n_replicates).all():
        bad = sorted(set(lengths.tolist()) - {n_replicates})
        raise StorageError(f"{name} has replicate arrays of length {bad or ['null']}, expected B={n_replicates}: "
                           "hours aggregated with different B cannot be summed")
    values = np.asarray(array.values, dtype=np.int64)[offsets[0]:offsets[-1]]
    return values.reshape(len(array), n_replicates)


_INT64_MAX = 2**63 - 1


def _abs_bound(block: I64) -> int:
    """The largest sum of ``|values|`` over the rows of ``block`` in any one column: no sum of any of its rows,
    into any cell, can exceed it. Exact, because a committed partition's sums are proven to fit int64
    (:mod:`rayab.aggregate.sum_bounds`)."""
    if block.size == 0:
        return 0
    return int(np.abs(block).sum(axis=0, dtype=np.int64).max())


class _Accumulator:
    """Per-cell running sums that grow as new cells appear (capacity doubles, so growth is amortised).

    Each metric's sums are checked against int64: the bounds of every block added (:func:`_abs_bound`) are summed
    exactly in Python integers, and a window whose bound passes ``2**63 - 1`` is refused rather than wrapped.
    """

    def __init__(self, metrics: Sequence[str], n_replicates: int) -> None:
        self.bounds: dict[tuple[str, str], int] = {(m, kind): 0 for m in metrics for kind in ("raw", "reps")}
        self.metrics = tuple(metrics)
        self.b = n_replicates
        self._last: tuple[tuple[str, ...], tuple[pa.ChunkedArray, ...], I64] | None = None
        self.index: dict[tuple[str, ...], int] = {}
        self.n_events = np.zeros(0, np.int64)
        self.raw = {m: np.zeros(0, np.int64) for m in self.metrics}
        self.reps = {m: np.zeros((0, n_replicates), np.int64) for m in self.metrics}
        self.hours: set[str] = set()

    def _rows_of(self, keys: Sequence[tuple[str, ...]]) -> I64:
        index = self.index
        for key in keys:
            if key not in index:
                index[key] = len(index)
        if len(index) > len(self.n_events):
            capacity = max(16, 2 * len(index))
            grow = capacity - len(self.n_events)
            self.n_events = np.concatenate([self.n_events, np.zeros(grow, np.int64)])
            for m in self.metrics:
                self.raw[m] = np.concatenate([self.raw[m], np.zeros(grow, np.int64)])
                self.reps[m] = np.concatenate([self.reps[m], np.zeros((grow, self.b), np.int64)])
        return np.fromiter((index[k] for k in keys), np.int64, len(keys))

    def add(self, rows: pa.Table, key_names: Sequence[str], prefix: tuple[str, ...] = ()) -> None:
        """Add ``rows`` (already filtered) to the cells ``prefix + (values of key_names)``."""
        n = rows.num_rows
        if n == 0:
            return
        targets = self._targets(rows, key_names, prefix)
        fold = _folder(targets)
        fold(self.n_events, np.asarray(rows.column("n_events"), np.int64))
        for m in self.metrics:
            raw, reps = np.asarray(rows.column(m), np.int64), _replicate_block(rows.column(reps_column(m)), self.b, m)
            self.check(m, _abs_bound(raw), _abs_bound(reps))
            fold(self.raw[m], raw)
            fold(self.reps[m], reps)

    def _targets(self, rows: pa.Table, key_names: Sequence[str], prefix: tuple[str, ...]) -> I64:
        """The accumulator rows of ``rows``' cells; the hours of a window usually list the same cells in the same
        order, so when the key columns equal the previous block's its rows are reused without building keys."""
        columns = tuple(rows.column(k) for k in key_names)
        last = self._last
        if last is not None and last[0] == prefix and len(last[2]) == rows.num_rows and all(
                a.equals(b) for a, b in zip(columns, last[1], strict=True)):
            return last[2]
        keys = [prefix + k for k in zip(*(c.to_pylist() for c in columns), strict=True)]
        targets = self._rows_of(keys)
        self._last = (prefix, columns, targets)
        return targets

    def check(self, metric: str, raw_bound: int, reps_bound: int) -> None:
        """Add the bounds of a block to ``metric``'s running bounds; refuse the window before a sum could wrap."""
        self.bounds[metric, "raw"] += raw_bound
        self.bounds[metric, "reps"] += reps_bound
        if max(self.bounds[metric, "raw"], self.bounds[metric, "reps"]) > _INT64_MAX:
            raise StorageError(f"the window's sums of {metric} could exceed int64 ({_INT64_MAX}), so they would not "
                               "be exact: query a shorter window or store the metric with fewer decimals")

    def result(self, key_names: tuple[str, ...]) -> WindowSums:
        """The sums, cells sorted by key."""
        keys = sorted(self.index)
        rows = np.fromiter((self.index[k] for k in keys), np.int64, len(keys))
        return WindowSums(key_names, tuple(keys), self.n_events[rows], {m: self.raw[m][rows] for m in self.metrics},
                          {m: self.reps[m][rows] for m in self.metrics}, tuple(sorted(self.hours)))


def _folder(targets: I64) -> Callable[[I64, I64], None]:
    """How to add a block of rows into the accumulator rows ``targets`` (one target per row)."""
    first = int(targets[0])
    if np.array_equal(targets, np.arange(first, first + len(targets))):
        # the usual case: a partition lists its cells in the order they were first seen, so one slice
        def add_slice(acc: I64, block: I64) -> None:
            acc[first:first + len(targets)] += block
        return add_slice
    order = np.argsort(targets, kind="stable")
    ordered = targets[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    if len(starts) == len(targets):  # distinct cells in another order
        def add_rows(acc: I64, block: I64) -> None:
            acc[targets] += block
        return add_rows

    def add_reduced(acc: I64, block: I64) -> None:  # several rows per cell: reduce them per cell first
        acc[ordered[starts]] += np.add.reduceat(block[order], starts, axis=0)
    return add_reduced


def _filtered(rows: pa.Table, filter_: Filter | None) -> pa.Table:
    return rows if filter_ is None or rows.num_rows == 0 else rows.filter(filter_mask(filter_, rows))


def sum_window(table: pa.Table, analysis_type: AnalysisType, metrics: Sequence[str],
               projection: Sequence[str] = (), filter_: Filter | None = None, by_hour: bool = False) -> WindowSums:
    """Sum the rows of ``table`` per (variant_id, *projection), keeping the rows that pass ``filter_``.

    With ``by_hour`` the cells are ``(hour, variant_id, *projection)``.
    """
    check_projection(analysis_type, projection)
    if filter_ is not None:
        check_filter(filter_, analysis_type)
    acc = _Accumulator(metrics, analysis_type.n_replicates)
    key_names = ("variant_id", *projection)
    kept = _filtered(table, filter_)
    if kept.num_rows:
        hours = kept.column("hour")
        acc.hours.update(pc.unique(hours).to_pylist())
        if by_hour:
            for hour in sorted(acc.hours):
                acc.add(kept.filter(pc.equal(hours, hour)), key_names, (hour,))
        else:
            acc.add(kept, key_names)
    return acc.result((("hour",) if by_hour else ()) + key_names)


def _check_window(start_hour: str, end_hour: str) -> tuple[str, ...]:
    hours = hours_between(start_hour, end_hour)
    if not hours:
        raise ValidationError("end_hour", end_hour, f"must be after start_hour {start_hour}")
    return hours


def sum_partitions(warehouse: Warehouse, analysis_type: AnalysisType, exp_id: str, start_hour: str,
                   end_hour: str, metrics: Sequence[str], projection: Sequence[str] = (),
                   filter_: Filter | None = None, by_hour: bool = False) -> WindowSums:
    """Read and sum the window ``[start_hour, end_hour)`` of one experiment, streaming file by file."""
    check_projection(analysis_type, projection)
    if filter_ is not None:
        check_filter(filter_, analysis_type)
    hours = _check_window(start_hour, end_hour)
    files = list_partition_files(warehouse, analysis_type.table, exp_id, hours)
    check_readable(warehouse, analysis_type.name, analysis_type.table, exp_id, sorted({f.hour for f in files}))
    acc = _Accumulator(metrics, analysis_type.n_replicates)
    # Sum per full cell (every dimension), then group once: a partition holds one row per full cell, so each
    # file is one contiguous add, whatever the projection; the dimension columns cost little to read.
    fine = ("variant_id", *analysis_type.dimensions)
    for file, rows in read_partition_files(warehouse, analysis_type.table, files,
                                           window_columns(metrics, fine, filter_)):
        kept = _filtered(rows, filter_)
        if kept.num_rows:
            acc.hours.add(file.hour)
            acc.add(kept, fine, (file.hour,) if by_hour else ())
    prefix = ("hour",) if by_hour else ()
    return regroup(acc.result(prefix + fine), (*prefix, "variant_id", *projection))


def regroup(sums: WindowSums, key_names: Sequence[str]) -> WindowSums:
    """``sums`` summed again per ``key_names`` (a subset of its key names), cells sorted by key."""
    key_names = tuple(key_names)
    if key_names == sums.key_names:
        return sums
    at = [sums.key_names.index(k) for k in key_names]
    acc = _Accumulator(list(sums.raw), sums.n_replicates)
    acc.hours.update(sums.hours)
    if sums.keys:
        fold = _folder(acc._rows_of([tuple(key[i] for i in at) for key in sums.keys]))
        fold(acc.n_events, sums.n_events)
        for m in acc.metrics:
            acc.check(m, _abs_bound(sums.raw[m]), _abs_bound(sums.reps[m]))
            fold(acc.raw[m], sums.raw[m])
            fold(acc.reps[m], sums.reps[m])
    return acc.result(key_names)


def read_window(warehouse: Warehouse, analysis_type: AnalysisType, exp_id: str, start_hour: str, end_hour: str,
                metrics: Sequence[str], projection: Sequence[str] = (),
                filter_: Filter | None = None) -> pa.Table:
    """The rows of ``agg_<type>`` for one experiment and the hours in ``[start_hour, end_hour)``, with an ``hour``
    column, only the columns a query of ``metrics`` by ``projection`` needs, unfiltered."""
    check_projection(analysis_type, projection)
    hours = _check_window(start_hour, end_hour)
    files = list_partition_files(warehouse, analysis_type.table, exp_id, hours)
    check_readable(warehouse, analysis_type.name, analysis_type.table, exp_id, sorted({f.hour for f in files}))
    columns = window_columns(metrics, projection, filter_)
    parts = [rows.append_column("hour", pa.array([file.hour] * rows.num_rows, pa.string()))
             for file, rows in read_partition_files(warehouse, analysis_type.table, files, columns)]
    return pa.concat_tables(parts) if parts else pa.table({})

