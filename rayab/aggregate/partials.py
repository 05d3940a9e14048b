"""An hour's partial aggregates as rows of ``agg_<type>``: the metric columns they carry and the table they become.

An hour's partial is a :class:`~rayab.aggregate.cell_sums.CellSums` over the cells (exp_id, variant_id,
*dimensions): ``CellSums.zero(...)`` is the identity and ``+`` merges cells by key, summing integer arrays, so the
reducer's result does not depend on how the hour was split into files, shards or tasks. Metric columns are
``units`` followed by the analysis type's metrics.

>>> import numpy as np
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=2)
>>> sums = CellSums(("exp_id", "variant_id"), (("e", "a"),), np.array([2]),
...                 {"units": np.array([1]), "clicks": np.array([3])},
...                 {"units": np.array([[1, 0]]), "clicks": np.array([[2, 4]])})
>>> hour_table(sums, "2026-11-23T00", at).select(["hour", "variant_id", "clicks", "clicks_reps"]).to_pylist()
[{'hour': '2026-11-23T00', 'variant_id': 'a', 'clicks': 3, 'clicks_reps': [2, 4]}]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rayab.aggregate.cell_sums import CellSums
from rayab.model import UNITS_METRIC, AnalysisType
from rayab.storage.schemas import REPS_TYPE, agg_schema, reps_column

__all__ = ["hour_table", "metric_columns"]


def metric_columns(analysis_type: AnalysisType) -> tuple[str, ...]:
    """The metric columns every partial of an analysis type carries: ``units``, the additive metrics, then the
    CUPED sums (:attr:`rayab.model.AnalysisType.cuped_columns`)."""
    return (UNITS_METRIC, *analysis_type.metric_names, *analysis_type.cuped_columns)


def hour_table(sums: CellSums, hour: str, analysis_type: AnalysisType) -> pa.Table:
    """The rows of ``agg_<name>`` for this hour, in :func:`rayab.storage.schemas.agg_schema` order."""
    schema = agg_schema(analysis_type)
    n = len(sums.keys)
    columns: dict[str, pa.Array] = {"hour": pa.array([hour] * n, pa.string())}
    for j, name in enumerate(sums.key_names):
        columns[name] = pa.array([k[j] for k in sums.keys], pa.string())
    columns["n_events"] = pa.array(sums.n_events, pa.int64())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * sums.n_replicates)
    for metric in metric_columns(analysis_type):
        columns[metric] = pa.array(sums.raw[metric], pa.int64())
        flat = pa.array(np.ascontiguousarray(sums.reps[metric]).reshape(-1), pa.int64())
        columns[reps_column(metric)] = pa.ListArray.from_arrays(offsets, flat, type=REPS_TYPE)
    return pa.table([columns[f.name] for f in schema], schema=schema)
