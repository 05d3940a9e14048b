"""The hourly quantile sketches of an analysis type: per cell and quantile metric, weighted bucket counts.

For every quantile metric (:class:`~rayab.model.QuantileMetric`) and cell ``(exp_id, variant_id, *dimensions)``,
an hour stores the sparse histogram of its events' values in fixed log-spaced buckets
(:class:`~rayab.stats.quantile_sketch.SketchLayout`): per bucket the event count and the ``B`` counts weighted by
the Poisson weight of the event's unit, ``sum over events of w(unit, b)``. The weight is the one every additive
metric of the experiment uses (same salt, same ``(k1, k2)``), so a unit's weight multiplies **all** its events:
the bootstrap is clustered by unit, as it must be for a per-event quantile.

:class:`HourSketches` is a commutative monoid like :class:`~rayab.aggregate.cell_sums.CellSums`: files, map tasks
and hours add up exactly (integer counts), in any order, and the empty sketch is the identity.

>>> import pyarrow as pa
>>> from rayab.model import AnalysisType, Metric, QuantileMetric
>>> at = AnalysisType("perf", (Metric("clicks"),), n_replicates=3, quantile_metrics=(QuantileMetric("latency"),))
>>> valid = pa.table({"exp_id": ["e"] * 3, "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u2", "u3"],
...                   "clicks": [0, 1, 0], "latency": [120.0, float("nan"), 80.0]})
>>> one = event_sketches(valid, at, {"e": "salt"})
>>> one.keys, one.sketches["latency"].counts.tolist()
((('e', 'a'), ('e', 'b')), [1, 1])
>>> both = one + event_sketches(valid.slice(0, 1), at, {"e": "salt"})
>>> both.sketches["latency"].counts.tolist(), both.to_table("2026-01-01T00", at).num_rows
([2, 1], 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.model import AnalysisType, QuantileMetric
from rayab.stats.quantile_sketch import QuantileSketches, SketchLayout
from rayab.stats.unit_hash import unit_keys_arrow
from rayab.storage.schemas import NULL_DIMENSION, REPS_TYPE, SKETCH_KEY, reps_column, sketch_schema

__all__ = ["HourSketches", "event_sketches", "layout_of"]

I64 = npt.NDArray[np.int64]


def layout_of(metric: QuantileMetric) -> SketchLayout:
    """The bucket layout of a quantile metric."""
    return SketchLayout(metric.relative_accuracy, metric.min_value, metric.max_value)


def _key_names(analysis_type: AnalysisType) -> tuple[str, ...]:
    return ("exp_id", "variant_id", *analysis_type.dimensions)


@dataclass(frozen=True, eq=False)
class HourSketches:
    """Cells (sorted keys) and, per quantile metric, a :class:`QuantileSketches` whose cell numbers index them."""

    key_names: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    sketches: Mapping[str, QuantileSketches]

    @classmethod
    def zero(cls, analysis_type: AnalysisType) -> HourSketches:
        """The identity of ``+``: no cells."""
        return cls(_key_names(analysis_type), (), {q.name: QuantileSketches.empty(layout_of(q),
                                                                                   analysis_type.n_replicates)
                                                    for q in analysis_type.quantile_metrics})

    def __add__(self, other: HourSketches) -> HourSketches:
        return self.total([self, other])

    @classmethod
    def total(cls, parts: Sequence[HourSketches]) -> HourSketches:
        """The sum of ``parts`` (at least one), in one pass: their rows concatenated and summed once, rather than
        a running ``+`` that would copy and sort the growing total once per part.

        >>> from rayab.simulate import latency_config
        >>> at = latency_config().analysis_types[0]
        >>> HourSketches.total([HourSketches.zero(at)] * 3).n_rows
        0
        """
        if not parts:
            raise ValueError("the total of no sketches has no analysis type: pass zero(analysis_type)")
        first = parts[0]
        for part in parts[1:]:
            if part.key_names != first.key_names or set(part.sketches) != set(first.sketches):
                raise ValueError("cannot add sketches of different analysis types")
        filled = [p for p in parts if p.keys]
        if len(filled) <= 1:
            return filled[0] if filled else first
        keys = tuple(sorted(set().union(*(p.keys for p in filled))))
        index = {k: i for i, k in enumerate(keys)}
        remaps = [np.array([index[k] for k in p.keys], np.int64) for p in filled]
        out = {name: _sum_sketches(mine.layout, [p.sketches[name] for p in filled], remaps, len(keys))
               for name, mine in first.sketches.items()}
        return HourSketches(first.key_names, keys, out)

    @property
    def n_rows(self) -> int:
        """Stored rows: (cell, metric, bucket) triples."""
        return sum(s.n_rows for s in self.sketches.values())

    def to_table(self, hour: str, analysis_type: AnalysisType) -> pa.Table:
        """The rows of ``qsk_<name>`` for this hour (:func:`rayab.storage.schemas.sketch_schema`), sorted by cell,
        metric (spec order) and bucket."""
        schema = sketch_schema(analysis_type)
        parts: list[tuple[I64, QuantileSketches]] = []
        for q in analysis_type.quantile_metrics:
            sk = self.sketches[q.name]
            parts.append((np.full(sk.n_rows, len(parts), np.int64), sk))
        cells = np.concatenate([s.cells for _, s in parts]) if parts else np.zeros(0, np.int64)
        metric_no = np.concatenate([m for m, _ in parts]) if parts else np.zeros(0, np.int64)
        order = np.lexsort((np.concatenate([s.keys for _, s in parts]), metric_no, cells)) if parts else cells
        n = len(cells)
        columns: dict[str, pa.Array] = {"hour": pa.array([hour] * n, pa.string())}
        for j, name in enumerate(self.key_names):
            values = np.array([k[j] for k in self.keys] or [""], dtype=object)
            columns[name] = pa.array(values[cells[order]].tolist() if n else [], pa.string())
        names = np.array([q.name for q in analysis_type.quantile_metrics] or [""], dtype=object)
        columns["metric"] = pa.array(names[metric_no[order]].tolist() if n else [], pa.string())
        columns[SKETCH_KEY] = pa.array(np.concatenate([s.keys for _, s in parts])[order] if n else [], pa.int32())
        columns["n_events"] = pa.array(np.concatenate([s.counts for _, s in parts])[order] if n else [], pa.int64())
        b = analysis_type.n_replicates
        reps = np.concatenate([s.replicates for _, s in parts])[order] if n else np.zeros((0, b), np.int64)
        offsets = pa.array(np.arange(n + 1, dtype=np.int32) * b)
        columns[reps_column("n_events")] = pa.ListArray.from_arrays(
            offsets, pa.array(np.ascontiguousarray(reps).reshape(-1), pa.int64()), type=REPS_TYPE)
        return pa.table([columns[f.name] for f in schema], schema=schema)


def _sum_sketches(layout: SketchLayout, pieces: Sequence[QuantileSketches], remaps: Sequence[I64],
                  n_cells: int) -> QuantileSketches:
    """The sum of canonical sketches whose cells ``remaps`` renumbers (increasingly) into ``n_cells`` shared cells.

    Each (cell, bucket) row gets one output slot (a sorted unique of one int64 key per row); each piece's
    replicate rows are then added into their slots in place, with no sort or copy of the (rows x B) replicates.
    That needs each piece's rows distinct and sorted, which canonical sketches are (checked; otherwise, and when
    the int64 key could overflow, :meth:`QuantileSketches.from_counts` sums them the general way).

    >>> layout = SketchLayout(0.01)
    >>> a = QuantileSketches.from_counts(layout, [0, 1], [5, 5], [1, 2], [[1, 0], [2, 2]])
    >>> b = QuantileSketches.from_counts(layout, [0], [5], [3], [[0, 4]])
    >>> total = _sum_sketches(layout, [a, b], [np.array([0, 2]), np.array([2])], 3)
    >>> total.cells.tolist(), total.counts.tolist(), total.replicates.tolist()
    ([0, 2], [1, 5], [[1, 0], [2, 6]])
    """
    cells = [remap[piece.cells] for remap, piece in zip(remaps, pieces, strict=True)]
    span = 2 * layout.max_key + 1
    fits = n_cells * span < 2**62  # one int64 code per (cell, bucket)
    codes = [c * span + (p.keys.astype(np.int64) + layout.max_key) for c, p in zip(cells, pieces, strict=True)
             ] if fits else []
    if not fits or not all(bool((np.diff(c) > 0).all()) for c in codes):
        return QuantileSketches.from_counts(layout, np.concatenate(cells), np.concatenate([p.keys for p in pieces]),
                                            np.concatenate([p.counts for p in pieces]),
                                            np.concatenate([p.replicates for p in pieces]))
    slots, inverse = np.unique(np.concatenate(codes), return_inverse=True)
    counts = np.zeros(len(slots), np.int64)
    replicates = np.zeros((len(slots), pieces[0].replicates.shape[1]), np.int64)
    start = 0
    for piece in pieces:  # a piece's slots are distinct, so a fancy-index += adds every row once
        at = inverse[start:start + len(piece.cells)]
        counts[at] += piece.counts
        replicates[at] += piece.replicates
        start += len(piece.cells)
    return QuantileSketches(layout, slots // span, (slots % span - layout.max_key).astype(np.int32), counts,
                            replicates)


def _codes(column: pa.ChunkedArray, null_value: str | None) -> tuple[I64, list[str]]:
    """Dictionary codes of a key column (nulls as ``null_value``) and its distinct values."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    column = pc.cast(column, pa.string())
    if null_value is not None and column.null_count:
        column = pc.fill_null(column, null_value)
    encoded = pc.dictionary_encode(column).combine_chunks()
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary.to_pylist()


def _cells(valid: pa.Table, key_names: Sequence[str]) -> tuple[tuple[tuple[str, ...], ...], I64]:
    """Sorted distinct cells of the rows and each row's cell number."""
    codes, values = [], []
    for i, name in enumerate(key_names):
        c, v = _codes(valid.column(name), NULL_DIMENSION if i >= 2 else None)
        codes.append(c)
        values.append(v)
    packed = np.zeros(valid.num_rows, np.int64)  # mixed radix: one int64 per row, so the unique is 1-d (fast)
    for c, v in zip(codes, values, strict=True):
        packed = packed * max(len(v), 1) + c
    distinct_packed, inverse = np.unique(packed, return_inverse=True)
    rows = []
    for number in distinct_packed.tolist():
        row = []
        for v in reversed(values):
            number, code = divmod(number, max(len(v), 1))
            row.append(code)
        rows.append(row[::-1])
    tuples = [tuple(values[j][c] for j, c in enumerate(row)) for row in rows]
    order = sorted(range(len(tuples)), key=tuples.__getitem__)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return tuple(tuples[i] for i in order), rank[inverse.reshape(-1)]


def _unit_hashes(valid: pa.Table, salts: Mapping[str, str]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """``(k1, k2)`` of every row's unit under its experiment's bootstrap salt (one md5 per distinct pair)."""
    exp_codes, exp_values = _codes(valid.column("exp_id"), None)
    units = valid.column("unit_id")
    if pa.types.is_dictionary(units.type):
        units = units.cast(units.type.value_type)
    units = pc.cast(units, pa.string()).combine_chunks()
    k1 = np.zeros(valid.num_rows, np.uint32)
    k2 = np.zeros(valid.num_rows, np.uint32)
    order = np.argsort(exp_codes, kind="stable")  # each experiment's rows from one sort, not one scan each
    bounds = np.searchsorted(exp_codes[order], np.arange(len(exp_values) + 1))
    for code, exp_id in enumerate(exp_values):
        rows = order[bounds[code]:bounds[code + 1]]
        encoded = pc.dictionary_encode(units.take(pa.array(rows)))
        d1, d2 = unit_keys_arrow(salts[exp_id], encoded.dictionary)
        at = np.asarray(encoded.indices, dtype=np.int64)
        k1[rows], k2[rows] = d1[at], d2[at]
    return k1, k2


def event_sketches(valid: pa.Table, analysis_type: AnalysisType, salts: Mapping[str, str]) -> HourSketches:
    """The sketches of validated events (:func:`rayab.aggregate.validate.validate_events_counted` output, joined
    with assignments in that mode): each quantile metric's column holds the observations, NaN for none."""
    if valid.num_rows == 0 or not analysis_type.quantile_metrics:
        return HourSketches.zero(analysis_type)
    key_names = _key_names(analysis_type)
    keys, cells = _cells(valid, key_names)
    k1, k2 = _unit_hashes(valid, salts)
    out = {}
    for q in analysis_type.quantile_metrics:
        values = np.asarray(valid.column(q.name), dtype=np.float64)
        seen = ~np.isnan(values)
        out[q.name] = QuantileSketches.from_events(layout_of(q), values[seen], cells[seen], k1[seen], k2[seen],
                                                   max(len(keys), 1), analysis_type.n_replicates)
    return HourSketches(key_names, keys, out)
