"""A shard's partial: merge the unit rows routed to it, then raw and replicate sums per cell in one fused loop.

After the merge a row is one unit's total of the hour in one cell, so that is where capped metrics are clipped
(:func:`capped_values`, see :mod:`rayab.model.analysis`).

The replicate sums run the compiled kernel of :mod:`rayab.stats.kernels` (weights generated on the fly from
``k1, k2`` and summed while each cell's accumulators stay in L1), one thread per shard task: Ray already runs one
task per core.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> from rayab.aggregate.unit_rows import event_unit_ids
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
>>> valid = pa.table({"exp_id": ["e", "e", "e"], "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u1", "u2"],
...                   "clicks": [1, 2, 5]})
>>> partial = shard_partial_ids(event_unit_ids(valid, at, n_shards=1), at, {"e": "salt"}).partial
>>> partial.keys, partial.n_events.tolist(), partial.raw["clicks"].tolist()
((('e', 'a'), ('e', 'b')), [2, 1], [3, 5])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rayab.aggregate.cell_sums import CellSums
from rayab.aggregate.covariates import Covariates
from rayab.aggregate.partial_ranges import partial_bytes, rows_by_cell
from rayab.aggregate.partials import metric_columns
from rayab.aggregate.sum_bounds import abs_totals
from rayab.aggregate.unit_rows import (
    UnitIdRows,
    UnitRows,
    key_unit_ids,
    merge_unit_ids,
    unassigned_events,
    units_all_quarantined,
)
from rayab.model import AnalysisType
from rayab.stats.kernels import replicate_sums_fused

__all__ = ["ShardResult", "capped_values", "partial_from_unit_rows", "shard_partial_ids"]

I64 = npt.NDArray[np.int64]


def _key_names(analysis_type: AnalysisType) -> tuple[str, ...]:
    return ("exp_id", "variant_id", *analysis_type.dimensions)


def capped_values(values: I64, analysis_type: AnalysisType) -> I64:
    """``values`` (merged unit rows: one per cell and unit of the hour, columns :func:`metric_columns`) with every
    capped metric's column clipped to its :attr:`~rayab.model.Metric.int_bounds`; the input when nothing is capped.

    >>> from rayab.model import Metric
    >>> at = AnalysisType("t", (Metric("revenue", cap=5.0, cap_low=-1.0), Metric("clicks")), n_replicates=1)
    >>> capped_values(np.array([[1, 9, 9], [1, -4, 2], [0, 3, 0]]), at).tolist()
    [[1, 5, 9], [1, -1, 2], [0, 3, 0]]
    """
    bounds = [(m, metric.int_bounds) for m, metric in enumerate(analysis_type.metrics, start=1)]
    bounds = [(m, b) for m, b in bounds if b != (None, None)]
    if not bounds or not len(values):
        return values
    out = values.copy()
    for m, (low, high) in bounds:
        np.clip(out[:, m], low, high, out=out[:, m])
    return out


def partial_from_unit_rows(rows: UnitRows, analysis_type: AnalysisType) -> CellSums:
    """Raw sums, event counts and B replicate sums per cell of merged unit rows (capped metrics clipped first)."""
    n_cells = len(rows.cells)
    metrics = metric_columns(analysis_type)
    if n_cells == 0:
        return CellSums.zero(_key_names(analysis_type), metrics, analysis_type.n_replicates)
    values = capped_values(rows.values, analysis_type)
    raw, reps = replicate_sums_fused(rows.k1, rows.k2, rows.cell, values, n_cells, analysis_type.n_replicates)
    # float64 bincount is exact here: event counts stay far below 2**53
    events = np.bincount(rows.cell, weights=rows.n_events.astype(np.float64), minlength=n_cells).astype(np.int64)
    # one contiguous array per metric: Ray ships those without a copy, where a strided view of the kernel's
    # (cell, metric, replicate) array is copied into the pickle stream, a whole partial more in the shard's memory
    return CellSums(_key_names(analysis_type), rows.cells, events,
                    {m: np.ascontiguousarray(raw[:, j]) for j, m in enumerate(metrics)},
                    {m: np.ascontiguousarray(reps[:, j, :]) for j, m in enumerate(metrics)})


@dataclass(frozen=True)
class ShardResult:
    """A shard's partial (or, when a whole partial would pass the budget, no cell and its merged unit rows sorted
    by cell in ``rows``: :mod:`rayab.aggregate.partial_ranges`), the exact ``sum |value|`` per metric column of
    the unit rows it summed (the driver bounds the hour's sums with them), the events of units missing from the
    ``assignment`` table (log mode), how many (cell, unit) rows it merged and kept, and how many of its units had
    every event of the hour quarantined."""

    partial: CellSums
    abs_totals: list[int]
    unmatched: int
    rows_in: int
    rows_out: int
    units_quarantined: int = 0
    rows: UnitRows | None = None

    @property
    def shipped(self) -> CellSums | UnitRows:
        """What the shard sends the reducer: its rows if it kept them, else its partial."""
        return self.partial if self.rows is None else self.rows


def shard_partial_ids(pieces: Sequence[UnitIdRows], analysis_type: AnalysisType, salts: Mapping[str, str],
                      covariates: Covariates | None = None,
                      assigned_keys: Mapping[str, npt.NDArray[Any]] | None = None,
                      quarantined_ids: Sequence[Any] = (), shard: tuple[int, int] = (0, 1),
                      max_partial_bytes: int | None = None) -> ShardResult:
    """One shard of the hour: merge the (cell, unit) rows every map task routed here, hash each merged row once,
    then the fused raw and replicate sums per cell. ``quarantined_ids`` are the unit ids of the hour's quarantined
    rows (every split's) and ``shard`` is (this shard, S): the ids routed here without a valid event are counted.
    A partial that would pass ``max_partial_bytes`` is not built: the result carries the merged rows, sorted by
    cell, for the reducer to sum range by range.

    >>> import pyarrow as pa
    >>> from rayab.model import AnalysisType, Metric
    >>> from rayab.aggregate.unit_rows import event_unit_ids
    >>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
    >>> split = lambda u, c: event_unit_ids(pa.table({"exp_id": ["e"], "variant_id": ["a"], "unit_id": [u],
    ...                                                "clicks": [c]}), at, 1)[0]
    >>> result = shard_partial_ids([split("u1", 1), split("u1", 2), split("u2", 5)], at, {"e": "salt"})
    >>> {m: v.tolist() for m, v in result.partial.raw.items()}, result.rows_in, result.rows_out
    ({'units': [0], 'clicks': [8]}, 3, 2)
    """
    merged = merge_unit_ids(pieces)
    lost = units_all_quarantined(merged, quarantined_ids, *shard) if quarantined_ids else 0
    rows = key_unit_ids(merged, analysis_type, salts, covariates)
    totals = [int(t) for t in abs_totals(rows.values)] if rows.num_rows else [0] * len(metric_columns(analysis_type))
    unmatched = unassigned_events(rows, assigned_keys) if assigned_keys is not None else 0
    size = partial_bytes(len(rows.cells), len(metric_columns(analysis_type)), analysis_type.n_replicates)
    rows_in = sum(p.num_rows for p in pieces)
    if max_partial_bytes is not None and size > max_partial_bytes:
        empty = CellSums.zero(_key_names(analysis_type), metric_columns(analysis_type), analysis_type.n_replicates)
        return ShardResult(empty, totals, unmatched, rows_in, rows.num_rows, lost, rows_by_cell(rows))
    return ShardResult(partial_from_unit_rows(rows, analysis_type), totals, unmatched, rows_in, rows.num_rows, lost)
