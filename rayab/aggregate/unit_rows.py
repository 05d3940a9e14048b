"""Unit-level rows, the data the shuffle moves: one row per (cell, unit) of the hour.

A map task turns validated events into :class:`UnitIdRows` in three steps, on integer codes and raw id bytes:

1. dictionary codes of exp_id, variant_id and the dimensions, packed into one cell code per event
   (:mod:`rayab.aggregate.codes`);
2. collapse events to (cell, unit id) rows, summing metrics and counting events, in one compiled pass over the
   UTF-8 bytes of the ids (:func:`~rayab.aggregate.grouping.collapse_sorted_by_hash`), with a 64-bit hash per id,
   the rows coming out sorted by that hash (cache-sized partitions by its top bits);
3. route each to shard ``(hash >> 32) % S``, so every row of a unit meets in one
   shard.

A shard merges the pieces of all map tasks (:func:`merge_unit_ids`, a streaming k-way merge of the sorted pieces),
then hashes each merged (cell, unit) once under the experiment's **bootstrap salt** (compiled md5) to get the keys
``k1, k2`` the weights depend on, and drops the unit id (:func:`key_unit_ids`, giving :class:`UnitRows`).

>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
>>> valid = pa.table({"exp_id": ["e", "e", "e"], "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u1", "u2"],
...                   "clicks": [1, 2, 5]})
>>> pieces = event_unit_ids(valid, at, n_shards=2)
>>> merged = [key_unit_ids(merge_unit_ids([p]), at, {"e": "salt"}) for p in pieces]
>>> sorted(v for m in merged for v in m.values[:, 1].tolist()), sorted(n for m in merged for n in m.n_events.tolist())
([3, 5], [1, 2])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.codes import KeyCodes, key_codes
from rayab.aggregate.covariates import Covariates, fill_cuped_columns
from rayab.aggregate.grouping import (
    collapse_ids_sorted_by_hash,
    collapse_sorted_by_hash,
    merge_ids_sorted_by_hash,
    take_bytes,
)
from rayab.aggregate.partials import metric_columns
from rayab.model import AnalysisType
from rayab.stats.unit_hash import md5_keys, unit_keys_arrow
from rayab.storage.schemas import NULL_DIMENSION

__all__ = ["UnitIdRows", "UnitRows", "assignment_keys", "assignment_unit_ids", "event_unit_ids", "key_unit_ids",
           "merge_unit_ids", "quarantined_unit_ids", "unassigned_events", "units_all_quarantined"]

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class UnitRows:
    """Rows of ``cells[cell[i]]`` for the unit with keys ``(k1[i], k2[i])``: ``values[i]`` holds ``units`` and the
    metric totals (int64), ``n_events[i]`` the event count."""

    cells: tuple[tuple[str, ...], ...]
    cell: I64
    k1: U32
    k2: U32
    values: I64
    n_events: I64

    @classmethod
    def empty(cls, n_values: int) -> UnitRows:
        """No rows."""
        return cls((), np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.uint32),
                   np.zeros((0, n_values), np.int64), np.zeros(0, np.int64))

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return len(self.cell)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays: what the rows cost to ship."""
        return int(self.cell.nbytes + self.k1.nbytes + self.k2.nbytes + self.values.nbytes + self.n_events.nbytes)

    def take(self, rows: npt.NDArray[np.int64]) -> UnitRows:
        """The given rows (cells are kept as they are)."""
        return UnitRows(self.cells, self.cell[rows], self.k1[rows], self.k2[rows], self.values[rows],
                        self.n_events[rows])


def _key_names(analysis_type: AnalysisType) -> tuple[str, ...]:
    return ("exp_id", "variant_id", *analysis_type.dimensions)


def _dimension_codes(column: pa.ChunkedArray) -> KeyCodes:
    """Key codes with nulls mapped to the ``(none)`` value, so null and a literal ``(none)`` share one cell."""
    key = key_codes(column)
    if not (key.codes < 0).any():
        return key
    values = list(key.values)
    if NULL_DIMENSION not in values:
        values.append(NULL_DIMENSION)
    return KeyCodes(np.where(key.codes < 0, values.index(NULL_DIMENSION), key.codes), values)


def _cell_codes(table: pa.Table, key_names: Sequence[str]) -> tuple[I64, list[KeyCodes]]:
    """One int64 per row packing every key column's code (mixed radix), and the columns' codes."""
    keys = [_dimension_codes(table.column(n)) if i >= 2 else key_codes(table.column(n))
            for i, n in enumerate(key_names)]
    combined = np.zeros(table.num_rows, np.int64)
    radix = 1
    for key in keys:
        radix *= max(len(key.values), 1)
        if radix >= 2**62:
            raise ValueError(f"too many distinct key combinations in {list(key_names)}: cap the dimensions")
        combined = combined * max(len(key.values), 1) + key.codes
    return combined, keys


def _decode_cells(combined: I64, keys: list[KeyCodes]) -> tuple[tuple[tuple[str, ...], ...], I64]:
    """Distinct packed codes back to sorted key tuples, and each row's index into them."""
    radix = int(np.prod([max(len(key.values), 1) for key in keys], dtype=np.float64)) if keys else 1
    if len(combined) and radix <= max(4 * len(combined), 1 << 16):  # few possible codes: a lookup, not a sort
        present = np.zeros(radix, np.bool_)
        present[combined] = True
        distinct = np.flatnonzero(present)
        lookup = np.empty(radix, np.int64)
        lookup[distinct] = np.arange(len(distinct))
        inverse = lookup[combined]
    else:
        distinct, inverse = np.unique(combined, return_inverse=True)
    columns = []
    rest = distinct.copy()
    for key in reversed(keys):
        size = max(len(key.values), 1)
        columns.append([key.values[int(c)] for c in rest % size])
        rest //= size
    tuples = list(zip(*reversed(columns), strict=True)) if len(distinct) else []
    order = sorted(range(len(tuples)), key=tuples.__getitem__)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return tuple(tuples[i] for i in order), rank[inverse.reshape(-1)]


def _packed(k1: U32, k2: U32) -> npt.NDArray[np.uint64]:
    packed: npt.NDArray[np.uint64] = (k1.astype(np.uint64) << np.uint64(32)) | k2.astype(np.uint64)
    return packed


def assignment_keys(assignments: pa.Table, salts: Mapping[str, str]) -> dict[str, npt.NDArray[np.uint64]]:
    """Per experiment, the sorted distinct 64-bit keys ``k1 << 32 | k2`` of its assigned units (under its bootstrap
    salt, as the unit rows carry them), so map tasks can tell unassigned units without the unit strings.

    >>> keys = assignment_keys(pa.table({"exp_id": ["e", "e"], "unit_id": ["u1", "u2"]}), {"e": "salt"})
    >>> len(keys["e"])
    2
    """
    exp = key_codes(assignments.column("exp_id"))
    units = assignments.column("unit_id").combine_chunks()
    # every experiment's rows from one stable sort by code, not one scan of the table per experiment
    order = np.argsort(exp.codes, kind="stable")
    bounds = np.searchsorted(exp.codes[order], np.arange(len(exp.values) + 1))
    out: dict[str, npt.NDArray[np.uint64]] = {}
    for code, exp_id in enumerate(exp.values):
        if exp_id not in salts:
            continue
        rows = pa.array(order[bounds[code]:bounds[code + 1]])
        k1, k2 = unit_keys_arrow(salts[exp_id], units.take(rows))
        out[exp_id] = np.sort(_packed(k1, k2))
    return out


def unassigned_events(rows: UnitRows, assigned: Mapping[str, npt.NDArray[np.uint64]]) -> int:
    """Events of unit rows whose unit is not among ``assigned`` (:func:`assignment_keys`) for the row's experiment.

    >>> from rayab.model import AnalysisType, Metric
    >>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=2)
    >>> valid = pa.table({"exp_id": ["e"] * 3, "variant_id": ["a"] * 3, "unit_id": ["u1", "u9", "u9"],
    ...                   "clicks": [1, 1, 1]})
    >>> rows = key_unit_ids(merge_unit_ids(event_unit_ids(valid, at, n_shards=1)), at, {"e": "salt"})
    >>> unassigned_events(rows, assignment_keys(pa.table({"exp_id": ["e"], "unit_id": ["u1"]}), {"e": "salt"}))
    2
    """
    if rows.num_rows == 0:
        return 0
    key = _packed(rows.k1, rows.k2)
    exp_names = sorted({cell[0] for cell in rows.cells})
    code_of = {e: i for i, e in enumerate(exp_names)}
    exp_code = np.fromiter((code_of[cell[0]] for cell in rows.cells), np.int64, len(rows.cells))[rows.cell]
    by_exp = np.argsort(exp_code, kind="stable")  # each experiment's rows from one sort, not one scan each
    bounds = np.searchsorted(exp_code[by_exp], np.arange(len(exp_names) + 1))
    found = np.zeros(rows.num_rows, bool)
    for code, exp_id in enumerate(exp_names):
        mine = by_exp[bounds[code]:bounds[code + 1]]
        known = assigned.get(exp_id)
        if known is None or not len(known) or not len(mine):
            continue
        # looked up in ascending order: searchsorted then walks ``known`` forward, in cache, where the rows' own
        # order (by routing hash) made every probe a cache miss (8x slower for 2.5M rows among 2.7M keys)
        order = np.argsort(key[mine])
        queries = key[mine][order]
        at = np.minimum(np.searchsorted(known, queries), len(known) - 1)
        found[mine[order]] = known[at] == queries
    return int(rows.n_events[~found].sum())


def _shard_of(hashes: U64, n_shards: int) -> U64:
    """The shard each 64-bit unit hash routes to (the one routing rule of map tasks and shards)."""
    shard: U64 = (hashes >> np.uint64(32)) % np.uint64(n_shards)
    return shard


def quarantined_unit_ids(table: pa.Table, row_index: pa.ChunkedArray | pa.Array, unit_column: str) -> pa.Array:
    """The distinct unit ids (as text) of the rows of ``table`` at ``row_index``, the split's quarantined rows; rows
    with a null or empty unit id are left out (they belong to no unit).

    >>> t = pa.table({"unit_id": ["u1", "u2", None, "u1", ""]})
    >>> sorted(quarantined_unit_ids(t, pa.array([0, 2, 3, 4]), "unit_id").to_pylist())
    ['u1']
    """
    if unit_column not in table.column_names or not len(row_index):
        return pa.array([], pa.large_string())
    ids = table.column(unit_column).take(row_index).drop_null()
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(ids.type.value_type)
    text = ids.cast(pa.large_string())
    unique: pa.Array = pc.unique(text.filter(pc.greater(pc.utf8_length(text), 0)))
    return unique


def units_all_quarantined(merged: UnitIdRows, candidates: Sequence[pa.Array], shard: int, n_shards: int) -> int:
    """How many of the ``candidates`` (unit ids of quarantined rows, from every split of the hour) that route to
    ``shard`` have no valid event in the shard's ``merged`` rows: the units all of whose events of the hour were
    quarantined (they count as zero in the sums). Ids are compared by their bytes, not only by their hash.

    >>> from rayab.model import Metric
    >>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=2)
    >>> valid = pa.table({"exp_id": ["e"], "variant_id": ["a"], "unit_id": ["u1"], "clicks": [1]})
    >>> merged = merge_unit_ids(event_unit_ids(valid, at, n_shards=1))
    >>> units_all_quarantined(merged, [pa.array(["u1", "u2"]), pa.array(["u2", "u3"])], 0, 1)
    2
    """
    arrays = [c.cast(pa.large_string()) for c in candidates if len(c)]
    if not arrays:
        return 0
    data, offsets = _id_buffers(pa.concat_arrays(arrays))
    n = len(offsets) - 1
    _, hashes, rows, _, _ = collapse_sorted_by_hash(np.zeros(n, np.int64), data, offsets, np.zeros((n, 1), np.int64),
                                                   np.ones(n, np.int64))
    mine = _shard_of(hashes, n_shards) == np.uint64(shard)
    hashes, rows = hashes[mine], rows[mine]
    with_events = np.flatnonzero(merged.n_events > 0)
    known = merged.unit_hash[with_events]  # ascending: merged rows come sorted by hash
    lo = np.searchsorted(known, hashes, "left")
    hi = np.searchsorted(known, hashes, "right")
    missing = int(np.count_nonzero(lo == hi))
    for i in np.flatnonzero(lo < hi):  # a hash seen: the same id only if the bytes agree (hashes can collide)
        wanted = data[offsets[rows[i]]:offsets[rows[i] + 1]].tobytes()
        found = any(merged.unit_data[merged.unit_offsets[r]:merged.unit_offsets[r + 1]].tobytes() == wanted
                    for r in with_events[lo[i]:hi[i]])
        missing += not found
    return missing


@dataclass(frozen=True)
class UnitIdRows:
    """(cell, unit) rows that still carry the unit id: what the hourly job's map tasks ship to its shards.

    The id of row ``i`` is the UTF-8 bytes ``unit_data[unit_offsets[i]:unit_offsets[i + 1]]`` and ``unit_hash[i]``
    a 64-bit hash of it (routing: shard ``(unit_hash >> 32) % S``). A shard merges the pieces of every map task by
    (cell, unit id) (:func:`merge_unit_ids`) and only then computes each row's bootstrap keys
    (:func:`key_unit_ids`), so md5 runs once per (cell, unit) of the hour, however many files and splits the unit's
    events were spread over."""

    cells: tuple[tuple[str, ...], ...]
    cell: I64
    unit_hash: U64
    unit_data: U8
    unit_offsets: I64
    values: I64
    n_events: I64

    @classmethod
    def empty(cls, n_values: int) -> UnitIdRows:
        """No rows."""
        return cls((), np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(1, np.int64),
                   np.zeros((0, n_values), np.int64), np.zeros(0, np.int64))

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return len(self.cell)

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays (what the shuffle moves for it, less the cell keys)."""
        return int(self.cell.nbytes + self.unit_hash.nbytes + self.unit_data.nbytes + self.unit_offsets.nbytes
                   + self.values.nbytes + self.n_events.nbytes)

    def unit_ids(self) -> pa.Array:
        """The unit ids as an Arrow ``large_string`` array (no copy)."""
        return pa.Array.from_buffers(pa.large_string(), self.num_rows,
                                     [None, pa.py_buffer(self.unit_offsets), pa.py_buffer(self.unit_data)])


def _id_buffers(column: pa.ChunkedArray | pa.Array) -> tuple[U8, I64]:
    """UTF-8 bytes and ``len + 1`` absolute offsets of a unit-id column (non-strings are cast to text first)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    _, offsets_buf, data_buf = array.buffers()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


def _unit_id_rows(table: pa.Table, analysis_type: AnalysisType, values: I64, counts: I64,
                  n_shards: int) -> list[UnitIdRows]:
    if table.num_rows == 0:
        return [UnitIdRows.empty(values.shape[1]) for _ in range(n_shards)]
    combined, keys = _cell_codes(table, _key_names(analysis_type))
    data, offsets = _id_buffers(table.column("unit_id"))
    # sorted by unit hash, so a shard merges the pieces of all map tasks in one streaming pass (merge_unit_ids)
    g_cell, g_hash, _, sums, n_events, g_data, g_offsets = collapse_ids_sorted_by_hash(combined, data, offsets,
                                                                                      values, counts)
    cells, cell = _decode_cells(g_cell, keys)
    if n_shards == 1:
        return [UnitIdRows(cells, cell, g_hash, g_data, g_offsets, sums, n_events)]
    shard = _shard_of(g_hash, n_shards)
    out = []
    for s in range(n_shards):
        rows = np.flatnonzero(shard == np.uint64(s))
        piece_data, piece_offsets = take_bytes(g_data, g_offsets, rows)  # ascending rows: a sequential read
        out.append(UnitIdRows(cells, cell[rows], g_hash[rows], piece_data, piece_offsets, sums[rows],
                              n_events[rows]))
    return out


def event_unit_ids(valid: pa.Table, analysis_type: AnalysisType, n_shards: int) -> list[UnitIdRows]:
    """Validated events collapsed to (cell, unit) rows on their unit ids, split by shard (see :class:`UnitIdRows`).

    >>> from rayab.model import AnalysisType, Metric
    >>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
    >>> valid = pa.table({"exp_id": ["e"] * 3, "variant_id": ["a", "a", "b"], "unit_id": ["u1", "u1", "u2"],
    ...                   "clicks": [1, 2, 5]})
    >>> (rows,) = event_unit_ids(valid, at, n_shards=1)
    >>> rows.unit_ids().to_pylist(), rows.values[:, 1].tolist(), rows.n_events.tolist()
    (['u1', 'u2'], [3, 5], [2, 1])
    """
    values = np.zeros((valid.num_rows, len(metric_columns(analysis_type))), np.int64)
    for m, name in enumerate(analysis_type.metric_names, start=1):
        values[:, m] = np.asarray(valid.column(name), dtype=np.int64)
    return _unit_id_rows(valid, analysis_type, values, np.ones(valid.num_rows, np.int64), n_shards)


def assignment_unit_ids(assignments: pa.Table, analysis_type: AnalysisType, n_shards: int) -> list[UnitIdRows]:
    """First assignments as (cell, unit) rows carrying ``units = 1`` and no events, split by shard; dimensions the
    assignment rows lack take the value ``(none)``."""
    table, values = _assignment_cells(assignments, analysis_type)
    return _unit_id_rows(table, analysis_type, values, np.zeros(table.num_rows, np.int64), n_shards)


def _assignment_cells(assignments: pa.Table, analysis_type: AnalysisType) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """The key columns and unit id of first assignments (dimensions they lack take ``(none)``), with metric values
    that count each row as one unit (``units = 1``, every other metric 0)."""
    n = assignments.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in (*_key_names(analysis_type), "unit_id"):
        columns[name] = (assignments.column(name) if name in assignments.column_names
                         else pa.array([NULL_DIMENSION] * n, pa.string()))
    values = np.zeros((n, len(metric_columns(analysis_type))), np.int64)
    values[:, 0] = 1
    return pa.table(columns), values


def merge_unit_ids(pieces: Sequence[UnitIdRows]) -> UnitIdRows:
    """One shard's rows from every map task's piece: cells unified (sorted), rows of equal (cell, unit id) summed.

    >>> from rayab.model import AnalysisType, Metric
    >>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=3)
    >>> one = event_unit_ids(pa.table({"exp_id": ["e"], "variant_id": ["b"], "unit_id": ["u1"], "clicks": [1]}),
    ...                      at, 1)
    >>> two = event_unit_ids(pa.table({"exp_id": ["e", "e"], "variant_id": ["a", "b"], "unit_id": ["u1", "u1"],
    ...                                "clicks": [2, 4]}), at, 1)
    >>> merged = merge_unit_ids([*one, *two])
    >>> merged.cells, merged.cell.tolist(), merged.values[:, 1].tolist()
    ((('e', 'a'), ('e', 'b')), [1, 0], [5, 2])
    """
    non_empty = [_sorted_by_hash(p) for p in pieces if p.num_rows]
    if not non_empty:
        return UnitIdRows.empty(pieces[0].values.shape[1] if pieces else 1)
    cells = tuple(sorted({c for p in non_empty for c in p.cells}))
    index = {c: i for i, c in enumerate(cells)}
    cell = np.concatenate([np.array([index[c] for c in p.cells], np.int64)[p.cell] for p in non_empty])
    bases = np.cumsum([0] + [int(p.unit_offsets[-1] - p.unit_offsets[0]) for p in non_empty[:-1]])
    offsets = np.concatenate([np.zeros(1, np.int64)] + [p.unit_offsets[1:] - p.unit_offsets[0] + base
                                                        for p, base in zip(non_empty, bases, strict=True)])
    data = np.concatenate([p.unit_data[p.unit_offsets[0]:p.unit_offsets[-1]] for p in non_empty])
    hashes = np.concatenate([p.unit_hash for p in non_empty])
    values = np.concatenate([p.values for p in non_empty])
    counts = np.concatenate([p.n_events for p in non_empty])
    starts = np.cumsum([0] + [p.num_rows for p in non_empty])
    g_cell, g_hash, _, sums, n_events, merged_data, merged_offsets = merge_ids_sorted_by_hash(
        cell, hashes, data, offsets, values, counts, starts)
    return UnitIdRows(cells, g_cell, g_hash, merged_data, merged_offsets, sums, n_events)


def _sorted_by_hash(piece: UnitIdRows) -> UnitIdRows:
    """The piece with its rows in ascending ``unit_hash`` order (map tasks ship them so; others are sorted here)."""
    if piece.num_rows < 2 or not bool((piece.unit_hash[1:] < piece.unit_hash[:-1]).any()):
        return piece
    order = np.argsort(piece.unit_hash, kind="stable")
    data, offsets = take_bytes(piece.unit_data, piece.unit_offsets, order)
    return UnitIdRows(piece.cells, piece.cell[order], piece.unit_hash[order], data, offsets, piece.values[order],
                      piece.n_events[order])


def key_unit_ids(rows: UnitIdRows, analysis_type: AnalysisType, salts: Mapping[str, str],
                 covariates: Covariates | None = None) -> UnitRows:
    """Merged rows with each unit's bootstrap keys ``(k1, k2)`` under its experiment's salt, the unit id dropped;
    with CUPED metrics, the ``x`` columns are filled first (``x * y`` for the events' metrics, ``x * units`` and
    ``x**2 * units`` for first assignments: each row holds both, one of them zero)."""
    n = rows.num_rows
    k1 = np.zeros(n, np.uint32)
    k2 = np.zeros(n, np.uint32)
    exp_of_cell = [c[0] for c in rows.cells]
    exp_names = sorted(set(exp_of_cell))
    code_of = {e: i for i, e in enumerate(exp_names)}
    exp_code = np.fromiter((code_of[e] for e in exp_of_cell), np.int64, len(exp_of_cell))[rows.cell]
    # each experiment's rows in one pass over them (stable: in hash order within it), not one scan per experiment
    order = np.argsort(exp_code, kind="stable") if len(exp_names) > 1 else np.arange(n, dtype=np.int64)
    bounds = np.searchsorted(exp_code[order], np.arange(len(exp_names) + 1))
    for code, exp_id in enumerate(exp_names):
        sel = order[bounds[code]:bounds[code + 1]]
        data, offsets = take_bytes(rows.unit_data, rows.unit_offsets, sel)
        k1[sel], k2[sel] = md5_keys(salts[exp_id], data, offsets)
    sums = rows.values
    if analysis_type.cuped and n:
        sums = sums.copy()
        exps = [exp_of_cell[int(c)] for c in rows.cell]
        ids = rows.unit_ids()
        fill_cuped_columns(sums, analysis_type, covariates, exps, ids, first_assignment=True)
        fill_cuped_columns(sums, analysis_type, covariates, exps, ids, first_assignment=False)
    return UnitRows(rows.cells, rows.cell, k1, k2, sums, rows.n_events)
