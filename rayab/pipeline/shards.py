"""The shuffle's pure steps: collapse events to units, split by unit hash, compute a shard's partial.

1. ``collapse_units``: one row per (exp_id, variant_id, dims, unit_id) with summed metrics and an event count
   (a map-side combiner: it shrinks what is shuffled).
2. ``split_by_shard``: hash each (experiment, unit) once under the experiment's **bootstrap salt**, keep the keys
   (k1, k2) on the row and route it to shard ``k1 % S``, so all rows of a unit meet in one shard.
3. ``shard_partial``: collapse again (a unit may come from several files), then raw and replicate sums per cell.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
>>> valid = pa.table({"exp_id": ["e", "e", "e"], "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u1", "u2"],
...                   "clicks": [1, 2, 5]})
>>> parts = split_by_shard(collapse_units(valid, at), {"e": "salt"}, n_shards=2)
>>> partial = shard_partial(parts, at)
>>> partial.keys, partial.n_events.tolist(), partial.raw.tolist()
((('e', 'a'), ('e', 'b')), [2, 1], [[0, 3], [0, 5]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.model import UNITS_METRIC, AnalysisType
from rayab.pipeline.partials import Partial, metric_columns
from rayab.query.cells import cell_index
from rayab.stats.poisson_weights import unit_keys
from rayab.stats.replicate_sums import replicate_sums
from rayab.storage.schemas import NULL_DIMENSION

__all__ = ["collapse_units", "shard_partial", "split_by_shard", "units_partial"]


def _key_names(analysis_type: AnalysisType) -> tuple[str, ...]:
    return ("exp_id", "variant_id", *analysis_type.dimensions)


def collapse_units(valid: pa.Table, analysis_type: AnalysisType, extra_keys: Sequence[str] = ()) -> pa.Table:
    """Sum metrics and count events per (cell, unit)."""
    keys = [*_key_names(analysis_type), "unit_id", *extra_keys]
    metrics = [m for m in analysis_type.metric_names if m in valid.column_names]
    has_events = "n_events" in valid.column_names
    aggregations = [(m, "sum") for m in metrics] + [("n_events", "sum") if has_events else ("unit_id", "count")]
    grouped = valid.group_by(keys, use_threads=False).aggregate(aggregations)
    names = [f"{m}_sum" for m in metrics] + ["n_events_sum" if has_events else "unit_id_count"]
    return grouped.select([*keys, *names]).rename_columns([*keys, *metrics, "n_events"])


def split_by_shard(collapsed: pa.Table, salts: Mapping[str, str], n_shards: int) -> list[pa.Table]:
    """Attach each row's bootstrap keys ``k1, k2`` and split rows into ``n_shards`` tables by ``k1 % n_shards``."""
    k1 = np.zeros(collapsed.num_rows, np.uint32)
    k2 = np.zeros(collapsed.num_rows, np.uint32)
    exp_ids = collapsed.column("exp_id")
    for exp_id in pc.unique(exp_ids).to_pylist():
        rows = np.flatnonzero(np.asarray(pc.equal(exp_ids, exp_id)))
        units = collapsed.column("unit_id").take(pa.array(rows, pa.int64())).to_pylist()
        k1[rows], k2[rows] = unit_keys(salts[exp_id], units)
    keyed = collapsed.append_column("k1", pa.array(k1)).append_column("k2", pa.array(k2))
    shard = k1 % np.uint32(n_shards)
    return [keyed.take(pa.array(np.flatnonzero(shard == s), pa.int64())) for s in range(n_shards)]


def _partial_from_units(units: pa.Table, analysis_type: AnalysisType, values: npt.NDArray[np.int64],
                        n_events: npt.NDArray[np.int64]) -> Partial:
    key_names = _key_names(analysis_type)
    keys, cells = cell_index(units, key_names)
    k1 = np.asarray(units.column("k1"), dtype=np.uint32) if units.num_rows else np.zeros(0, np.uint32)
    k2 = np.asarray(units.column("k2"), dtype=np.uint32) if units.num_rows else np.zeros(0, np.uint32)
    raw, reps = replicate_sums(k1, k2, cells, values, len(keys), analysis_type.n_replicates)
    events = np.zeros(len(keys), np.int64)
    np.add.at(events, cells, n_events)
    return Partial(key_names, keys, metric_columns(analysis_type), events, raw, reps)


def shard_partial(parts: Sequence[pa.Table], analysis_type: AnalysisType) -> Partial:
    """The partial of one shard from the map tasks' pieces routed to it."""
    non_empty = [p for p in parts if p.num_rows]
    if not non_empty:
        return Partial.zero(_key_names(analysis_type), metric_columns(analysis_type), analysis_type.n_replicates)
    units = collapse_units(pa.concat_tables(non_empty), analysis_type, extra_keys=("k1", "k2"))
    values = np.zeros((units.num_rows, 1 + len(analysis_type.metrics)), np.int64)
    for m, name in enumerate(analysis_type.metric_names, start=1):
        values[:, m] = np.asarray(units.column(name), dtype=np.int64)
    return _partial_from_units(units, analysis_type, values, np.asarray(units.column("n_events"), np.int64))


def units_partial(assignments: pa.Table, analysis_type: AnalysisType, salts: Mapping[str, str]) -> Partial:
    """The ``units`` metric: each unit first assigned in the hour counts once (weighted in every replicate).

    Dimensions missing from the assignment rows take the value ``(none)``.
    """
    key_names = _key_names(analysis_type)
    if assignments.num_rows == 0:
        return Partial.zero(key_names, metric_columns(analysis_type), analysis_type.n_replicates)
    columns = {}
    for name in (*key_names, "unit_id"):
        if name in assignments.column_names:
            columns[name] = pc.fill_null(pc.cast(assignments.column(name), pa.string()), NULL_DIMENSION)
        else:
            columns[name] = pa.array([NULL_DIMENSION] * assignments.num_rows, pa.string())
    rows = pa.table(columns).group_by([*key_names, "unit_id"], use_threads=False).aggregate([])
    keyed = pa.concat_tables(split_by_shard(rows, salts, 1))
    values = np.zeros((keyed.num_rows, 1 + len(analysis_type.metrics)), np.int64)
    values[:, metric_columns(analysis_type).index(UNITS_METRIC)] = 1
    return _partial_from_units(keyed, analysis_type, values, np.zeros(keyed.num_rows, np.int64))
