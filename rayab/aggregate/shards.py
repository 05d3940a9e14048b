"""A shard's partial: merge the unit rows routed to it, then raw and replicate sums per cell in one fused loop.

The replicate sums run the compiled kernel of :mod:`rayab.stats.kernels` (weights generated on the fly from
``k1, k2`` and summed while each cell's accumulators stay in L1), one thread per shard task: Ray already runs one
task per core.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> from rayab.aggregate.unit_rows import event_unit_rows
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
>>> valid = pa.table({"exp_id": ["e", "e", "e"], "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u1", "u2"],
...                   "clicks": [1, 2, 5]})
>>> partial = shard_partial(event_unit_rows(valid, at, {"e": "salt"}, n_shards=1), at)
>>> partial.keys, partial.n_events.tolist(), partial.raw.tolist()
((('e', 'a'), ('e', 'b')), [2, 1], [[0, 3], [0, 5]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rayab.aggregate.cell_sums import CellSums
from rayab.aggregate.partials import metric_columns
from rayab.aggregate.unit_rows import UnitRows, merge_unit_rows
from rayab.model import AnalysisType
from rayab.stats.kernels import replicate_sums_fused

__all__ = ["partial_from_unit_rows", "shard_partial"]


def _key_names(analysis_type: AnalysisType) -> tuple[str, ...]:
    return ("exp_id", "variant_id", *analysis_type.dimensions)


def partial_from_unit_rows(rows: UnitRows, analysis_type: AnalysisType) -> CellSums:
    """Raw sums, event counts and B replicate sums per cell of merged unit rows."""
    n_cells = len(rows.cells)
    metrics = metric_columns(analysis_type)
    if n_cells == 0:
        return CellSums.zero(_key_names(analysis_type), metrics, analysis_type.n_replicates)
    raw, reps = replicate_sums_fused(rows.k1, rows.k2, rows.cell, rows.values, n_cells, analysis_type.n_replicates)
    # float64 bincount is exact here: event counts stay far below 2**53
    events = np.bincount(rows.cell, weights=rows.n_events.astype(np.float64), minlength=n_cells).astype(np.int64)
    return CellSums(_key_names(analysis_type), rows.cells, events, {m: raw[:, j] for j, m in enumerate(metrics)},
                    {m: reps[:, j, :] for j, m in enumerate(metrics)})


def shard_partial(pieces: Sequence[UnitRows], analysis_type: AnalysisType) -> CellSums:
    """The partial of one shard from the unit rows every map task routed to it."""
    return partial_from_unit_rows(merge_unit_rows(pieces), analysis_type)
