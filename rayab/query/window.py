"""Sum the hourly aggregate partitions of a window into :class:`~rayab.aggregate.cell_sums.CellSums`.

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

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.cell_sums import CellSums, CellSumsBuilder
from rayab.errors import StorageError, ValidationError
from rayab.model import UNITS_METRIC, AnalysisType
from rayab.model.hours import hours_between
from rayab.query.filters import Filter, check_filter, filter_dimensions, filter_mask
from rayab.query.spec import check_projection
from rayab.storage.commits import check_readable
from rayab.storage.partitions import list_partition_files, read_partition_files
from rayab.storage.schemas import conversion_table, reps_column
from rayab.storage.warehouse import Warehouse

__all__ = ["CellKeys", "metric_scale", "read_window", "sum_partitions", "sum_window", "window_columns"]

I64 = npt.NDArray[np.int64]


def metric_scale(analysis_type: AnalysisType, metric: str) -> int:
    """The integer scale of an additive metric (``units`` and conversion counts have scale 1)."""
    if metric == UNITS_METRIC or analysis_type.is_conversion_column(metric):
        return 1
    return analysis_type.metric(metric).scale


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


class CellKeys:
    """The cell keys of the rows of the last file read, reused when the next file lists the same cells in the same
    order (the usual case: every hour of an experiment holds the same cells), instead of being rebuilt per file.

    >>> keys = CellKeys()
    >>> a = keys.of(pa.table({"variant_id": ["a", "b"], "n_events": [1, 2]}), ["variant_id"])
    >>> b = keys.of(pa.table({"variant_id": ["a", "b"], "n_events": [5, 6]}), ["variant_id"])
    >>> a, a is b, keys.of(pa.table({"variant_id": ["b"]}), ["variant_id"])
    ([('a',), ('b',)], True, [('b',)])
    """

    def __init__(self) -> None:
        self._columns: pa.Table | None = None
        self._keys: list[tuple[str, ...]] = []

    def of(self, rows: pa.Table, key_names: Sequence[str]) -> list[tuple[str, ...]]:
        """The key (values of ``key_names``) of every row of ``rows``."""
        columns = rows.select(list(key_names))
        if self._columns is None or not columns.equals(self._columns):
            self._columns = columns
            self._keys = list(zip(*(columns.column(k).to_pylist() for k in key_names), strict=True))
        return self._keys


def _add_rows(builder: CellSumsBuilder, rows: pa.Table, key_names: Sequence[str], prefix: tuple[str, ...] = (),
              cell_keys: CellKeys | None = None, proven: bool = False) -> None:
    """Add ``rows`` (already filtered; ``proven``: of one committed partition) to the cells
    ``prefix + (values of key_names)``; metrics the rows lack (the conversion counts in ``agg_<type>`` rows, the
    sums in ``cnv_<type>`` rows) add zeros."""
    if rows.num_rows == 0:
        return
    keys = (cell_keys or CellKeys()).of(rows, key_names)
    n = rows.num_rows
    names = set(rows.column_names)
    builder.add_block([prefix + k for k in keys] if prefix else keys, np.asarray(rows.column("n_events"), np.int64),
                      {m: np.asarray(rows.column(m), np.int64) if m in names else np.zeros(n, np.int64)
                       for m in builder.metrics},
                      {m: _replicate_block(rows.column(reps_column(m)), builder.b, m) if m in names
                       else np.zeros((n, builder.b), np.int64) for m in builder.metrics},
                      proven=proven)


def _filtered(rows: pa.Table, filter_: Filter | None) -> pa.Table:
    return rows if filter_ is None or rows.num_rows == 0 else rows.filter(filter_mask(filter_, rows))


def sum_window(table: pa.Table, analysis_type: AnalysisType, metrics: Sequence[str],
               projection: Sequence[str] = (), filter_: Filter | None = None, by_hour: bool = False) -> CellSums:
    """Sum the rows of ``table`` per (variant_id, *projection), keeping the rows that pass ``filter_``.

    With ``by_hour`` the cells are ``(hour, variant_id, *projection)``.
    """
    check_projection(analysis_type, projection)
    if filter_ is not None:
        check_filter(filter_, analysis_type)
    acc = CellSumsBuilder(metrics, analysis_type.n_replicates)
    key_names = ("variant_id", *projection)
    kept = _filtered(table, filter_)
    if kept.num_rows:
        hours = kept.column("hour")
        acc.hours.update(pc.unique(hours).to_pylist())
        if by_hour:
            for hour in sorted(acc.hours):
                _add_rows(acc, kept.filter(pc.equal(hours, hour)), key_names, (hour,))
        else:
            _add_rows(acc, kept, key_names)
    return acc.result((("hour",) if by_hour else ()) + key_names)


def _check_window(start_hour: str, end_hour: str) -> tuple[str, ...]:
    hours = hours_between(start_hour, end_hour)
    if not hours:
        raise ValidationError("end_hour", end_hour, f"must be after start_hour {start_hour}")
    return hours


def sum_partitions(warehouse: Warehouse, analysis_type: AnalysisType, exp_id: str, start_hour: str,
                   end_hour: str, metrics: Sequence[str], projection: Sequence[str] = (),
                   filter_: Filter | None = None, by_hour: bool = False) -> CellSums:
    """Read and sum the window ``[start_hour, end_hour)`` of one experiment, streaming file by file."""
    check_projection(analysis_type, projection)
    if filter_ is not None:
        check_filter(filter_, analysis_type)
    hours = _check_window(start_hour, end_hour)
    files = list_partition_files(warehouse, analysis_type.table, exp_id, hours)
    check_readable(warehouse, analysis_type.name, analysis_type.table, exp_id, sorted({f.hour for f in files}))
    acc = CellSumsBuilder(metrics, analysis_type.n_replicates)
    cell_keys = CellKeys()
    prefix = ("hour",) if by_hour else ()
    # Over the window, sum per full cell (every dimension), then group once: a partition holds one row per full
    # cell, so each file is one contiguous add, whatever the projection; the dimension columns cost little to read.
    # By hour, each file (one hour) is reduced at once to its cells (hour, variant_id, *projection): the full
    # cells of every hour would be hours x cells rows of B replicates to hold and regroup.
    keyed = ("variant_id", *(projection if by_hour else analysis_type.dimensions))
    counts = [m for m in metrics if analysis_type.is_conversion_column(m)]
    sums = [m for m in metrics if m not in counts]
    for file, rows in read_partition_files(warehouse, analysis_type.table, files,
                                           window_columns(sums, keyed, filter_)):
        kept = _filtered(rows, filter_)
        if kept.num_rows:
            acc.hours.add(file.hour)
            _add_rows(acc, kept, keyed, (file.hour,) if by_hour else (), cell_keys, proven=True)
    if counts:  # conversion counts: their own table, same cells and hours (rayab.aggregate.conversions)
        table = conversion_table(analysis_type)
        count_keys = CellKeys()
        for file, rows in read_partition_files(warehouse, table, list_partition_files(warehouse, table, exp_id, hours),
                                               window_columns(counts, keyed, filter_)):
            _add_rows(acc, _filtered(rows, filter_), keyed, (file.hour,) if by_hour else (), count_keys)
    return acc.result(prefix + keyed).regroup((*prefix, "variant_id", *projection))


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

