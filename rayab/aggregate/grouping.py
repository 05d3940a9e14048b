"""Compiled group-by steps of the hourly job: collapse events to (cell, unit) rows and merge rows across map tasks.

They run over plain integer arrays (cell codes, hashes) and the raw UTF-8 bytes of the unit ids with numba, so no
Python object is created per row:

* :func:`collapse_by_unit_bytes` sums events per (cell, unit id) in order of first appearance, with one
  open-addressing table whose probe touches one slot and one record (key, cell, the id's first bytes, sums);
* :func:`collapse_sorted_by_hash`, what a map task runs, gives the same groups sorted by unit hash: it splits the
  rows into cache-sized partitions by the hash's top bits first, so each partition's table stays in cache (about
  twice as fast on a million-row split as the one big table and a sort, which miss the cache on most rows);
* :func:`merge_sorted_by_hash` merges the map tasks' pieces in a shard: each piece is sorted by unit hash, so a
  k-way merge reads every row once, in order.

Sums are int64 and exact, so none depends on row order beyond the order of the groups.

>>> import numpy as np
>>> data = np.frombuffer(b"u5u5u5u2", np.uint8)
>>> cells, h, first, sums, counts = collapse_by_unit_bytes([0, 1, 0, 0], data, np.array([0, 2, 4, 6, 8]),
...                                                        [[1], [2], [3], [4]], [1, 1, 1, 1])
>>> cells.tolist(), first.tolist(), sums.tolist(), counts.tolist()
([0, 1, 0], [0, 1, 3], [[4], [2], [4]], [2, 1, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["collapse_by_unit_bytes", "collapse_ids_sorted_by_hash", "collapse_sorted_by_hash",
           "merge_ids_sorted_by_hash", "merge_sorted_by_hash", "take_bytes"]

I64 = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(inline="always")
def _bytes_hash(data: Any, lo: int, hi: int) -> np.uint64:
    """FNV-1a over ``data[lo:hi]`` with murmur3's 64-bit finaliser (routing and table probes, not bootstrap keys)."""
    h = _FNV_OFFSET
    for j in range(lo, hi):
        h = np.uint64((h ^ np.uint64(data[j])) * _FNV_PRIME)
    h = np.uint64(h ^ (h >> np.uint64(33)))
    h = np.uint64(h * np.uint64(0xFF51AFD7ED558CCD))
    h = np.uint64(h ^ (h >> np.uint64(33)))
    h = np.uint64(h * np.uint64(0xC4CEB9FE1A85EC53))
    return np.uint64(h ^ (h >> np.uint64(33)))


@njit(inline="always")
def _same_bytes(data: Any, a_lo: int, a_hi: int, b_lo: int, b_hi: int) -> bool:
    if a_hi - a_lo != b_hi - b_lo:
        return False
    for j in range(a_hi - a_lo):  # noqa: SIM110 - a plain loop: numba compiles it, not a generator
        if data[a_lo + j] != data[b_lo + j]:
            return False
    return True


_MAX_WORDS = 5  # id bytes kept inline in a group's record (40): longer ids compare their tail in ``data``


@njit(inline="always")
def _id_words(data: Any, lo: int, hi: int, words: Any, n_words: int) -> None:
    """The first ``8 * n_words`` bytes of ``data[lo:hi]`` as little-endian int64 words, zero-padded."""
    for w in range(n_words):
        base = lo + 8 * w
        word = np.uint64(0)
        if hi - base >= 8:  # a whole word: a constant trip count, which LLVM folds into one 8-byte load
            for j in range(8):
                word |= np.uint64(data[base + j]) << np.uint64(8 * j)
        else:
            for j in range(max(0, hi - base)):
                word |= np.uint64(data[base + j]) << np.uint64(8 * j)
        words[w] = np.int64(word)


@njit(cache=True, nogil=True)
def _collapse_bytes(cells: Any, data: Any, offsets: Any, hashes: Any, have_hashes: bool, values: Any,
                    counts_in: Any) -> Any:  # pragma: no cover - compiled
    n, n_metrics = values.shape
    max_len = 0
    for i in range(n):
        max_len = max(max_len, offsets[i + 1] - offsets[i])
    n_words = min(_MAX_WORDS, (max_len + 7) // 8)
    inline = 8 * n_words
    # One record per group, so a probe that finds its group touches the slot and one record, nothing else:
    # key, cell, id length, first row, id words, count, sums.
    head = 4 + n_words
    width = head + 1 + n_metrics
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    slots = np.full(size, -1, np.int64)
    capacity = max(16, min(n, 1024 + n // 4))
    table = np.zeros((capacity, width), np.int64)
    words = np.zeros(max(n_words, 1), np.int64)
    n_groups = 0
    for i in range(n):
        lo = offsets[i]
        hi = offsets[i + 1]
        h = hashes[i] if have_hashes else _bytes_hash(data, lo, hi)
        c = cells[i]
        key = np.int64(np.uint64(h ^ np.uint64(np.uint64(c) * _GOLDEN)))
        slot = np.int64(np.uint64(np.uint64(key) * _MIX) >> np.uint64(20)) & mask
        _id_words(data, lo, hi, words, n_words)
        length = hi - lo
        while True:
            g = slots[slot]
            if g < 0:
                if n_groups == capacity:  # grow geometrically
                    capacity *= 2
                    table = np.concatenate((table, np.zeros((capacity - n_groups, width), np.int64)))
                g = n_groups
                n_groups += 1
                slots[slot] = g
                rec = table[g]
                rec[0] = key
                rec[1] = c
                rec[2] = length
                rec[3] = i
                for w in range(n_words):
                    rec[4 + w] = words[w]
                break
            rec = table[g]
            if rec[0] == key and rec[1] == c and rec[2] == length:
                same = True
                for w in range(n_words):
                    if rec[4 + w] != words[w]:
                        same = False
                        break
                if same and length > inline:
                    first = offsets[rec[3]]
                    same = _same_bytes(data, first + inline, first + length, lo + inline, hi)
                if same:
                    break
            slot = (slot + 1) & mask
        rec[head] += counts_in[i]
        for m in range(n_metrics):
            rec[head + 1 + m] += values[i, m]
    out = table[:n_groups]
    g_hash = np.empty(n_groups, np.uint64)
    g_cell = out[:, 1].copy()
    for g in range(n_groups):
        g_hash[g] = np.uint64(out[g, 0]) ^ np.uint64(np.uint64(g_cell[g]) * _GOLDEN)
    return g_cell, g_hash, out[:, 3].copy(), out[:, head + 1:].copy(), out[:, head].copy()


def _collapse_inputs(cells: npt.ArrayLike, offsets: npt.ArrayLike, values: npt.ArrayLike,
                     counts: npt.ArrayLike) -> tuple[I64, I64, I64, I64]:
    """The collapses' inputs as contiguous int64 arrays (values as rows x metrics), their lengths checked."""
    cell_array = np.ascontiguousarray(cells, dtype=np.int64).reshape(-1)
    n = len(cell_array)
    offset_array = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
    value_array = np.ascontiguousarray(values, dtype=np.int64).reshape(n, -1)
    count_array = np.ascontiguousarray(counts, dtype=np.int64).reshape(-1)
    if len(offset_array) != n + 1 or len(count_array) != n:
        raise ValueError(f"{n} cells need {n + 1} offsets and {n} counts, got {len(offset_array)} and "
                         f"{len(count_array)}")
    return cell_array, offset_array, value_array, count_array


def collapse_by_unit_bytes(cells: npt.ArrayLike, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
                           values: npt.ArrayLike, counts: npt.ArrayLike,
                           hashes: npt.NDArray[np.uint64] | None = None,
                           ) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64]:
    """``(cell, unit_hash, first_row, sums, counts)`` per distinct (cell, unit id) pair, in order of first
    appearance, where row ``i``'s unit id is the bytes ``data[offsets[i]:offsets[i + 1]]``.

    One pass of a compiled open-addressing table over the raw UTF-8 bytes: no dictionary of unit ids is built and no
    Python object is made per row. ``unit_hash`` is a 64-bit hash of the id alone (the shuffle routes on it);
    ``hashes`` passes ones computed before (a shard merging pieces), so ids are hashed once per map task.

    >>> data = np.frombuffer(b"u1u22u1", np.uint8)
    >>> cell, h, first, sums, counts = collapse_by_unit_bytes([0, 0, 0], data, np.array([0, 2, 5, 7]),
    ...                                                       [[1], [2], [4]], [1, 1, 1])
    >>> first.tolist(), sums.tolist(), counts.tolist(), bool(h[0] != h[1])
    ([0, 1], [[5], [2]], [2, 1], True)
    """
    cell_array, offset_array, value_array, count_array = _collapse_inputs(cells, offsets, values, counts)
    n = len(cell_array)
    hash_array = np.zeros(0, np.uint64) if hashes is None else np.ascontiguousarray(hashes, dtype=np.uint64)
    if hashes is not None and len(hash_array) != n:
        raise ValueError(f"{n} cells need {n} hashes, got {len(hash_array)}")
    result: tuple[I64, npt.NDArray[np.uint64], I64, I64, I64] = _collapse_bytes(
        cell_array, np.ascontiguousarray(data, dtype=np.uint8), offset_array, hash_array, hashes is not None,
        value_array, count_array)
    return result


@njit(cache=True, nogil=True)
def _collapse_partitioned(cells: Any, data: Any, offsets: Any, values: Any, counts_in: Any, bits: int,
                          space: Any, part_vals: Any, part_data: Any, out: Any, sums: Any,
                          g_data: Any) -> Any:  # pragma: no cover - compiled
    n, n_metrics = values.shape
    # the big arrays come from numpy, which asks the kernel for huge pages: in a virtual machine a fault per 4 KiB
    # page of fresh memory costs about as much as the collapse itself (``space``: this kernel's own five rows;
    # ``out``: the groups' cell, hash, first row, count, id offsets)
    hashes = space[0].view(np.uint64)
    rows = space[1]
    part_hash = space[2].view(np.uint64)
    part_cell = space[3]
    part_offsets = space[4]
    g_cell = out[0]
    g_hash = out[1].view(np.uint64)
    g_row = out[2]
    counts = out[3]
    g_offsets = out[4]
    shift = np.uint64(64 - bits)
    n_parts = 1 << bits
    # pass 1: each id's hash (a sequential read of the bytes), the rows and the id bytes of each partition (the
    # hash's top bits)
    bounds = np.zeros(n_parts + 1, np.int64)
    byte_bounds = np.zeros(n_parts + 1, np.int64)
    for i in range(n):
        h = _bytes_hash(data, offsets[i], offsets[i + 1])
        hashes[i] = h
        part = np.int64(h >> shift) + 1
        bounds[part] += 1
        byte_bounds[part] += offsets[i + 1] - offsets[i]
    largest = 0
    for p in range(n_parts):
        largest = max(largest, bounds[p + 1])
        bounds[p + 1] += bounds[p]
        byte_bounds[p + 1] += byte_bounds[p]
    # pass 2: rows by partition, in row order within each (a stable counting sort on the top bits), with what
    # pass 3 reads moved along, the id bytes too: pass 3 then reads only its partition, which stays in cache,
    # instead of the split's ids at random (in a virtual machine a random read costs a page walk as well)
    part_offsets[n] = byte_bounds[n_parts]
    fill = bounds[:-1].copy()
    byte_fill = byte_bounds[:-1].copy()
    for i in range(n):
        part = np.int64(hashes[i] >> shift)
        f = fill[part]
        rows[f] = i
        part_hash[f] = hashes[i]
        part_cell[f] = cells[i]
        part_vals[f, 0] = counts_in[i]
        for m in range(n_metrics):
            part_vals[f, m + 1] = values[i, m]
        b = byte_fill[part]
        part_offsets[f] = b
        lo = offsets[i]
        length = offsets[i + 1] - lo
        for j in range(length):
            part_data[b + j] = data[lo + j]
        byte_fill[part] = b + length
        fill[part] = f + 1
    # pass 3: one small table per partition, its groups then sorted by hash, their id bytes copied out in order
    size = 16
    while size < 2 * largest:
        size *= 2
    slots = np.empty(size, np.int64)
    cap = max(largest, 1)
    l_cell = np.empty(cap, np.int64)
    l_hash = np.empty(cap, np.uint64)
    l_row = np.empty(cap, np.int64)
    l_sums = np.zeros((cap, n_metrics), np.int64)
    l_counts = np.zeros(cap, np.int64)
    g_offsets[0] = 0
    n_groups = 0
    for p in range(n_parts):
        lo_p = bounds[p]
        hi_p = bounds[p + 1]
        if hi_p == lo_p:
            continue
        psize = 16
        while psize < 2 * (hi_p - lo_p):
            psize *= 2
        pmask = psize - 1
        slots[:psize] = -1
        k = 0
        for j in range(lo_p, hi_p):
            h = part_hash[j]
            c = part_cell[j]
            key = np.uint64(h ^ np.uint64(np.uint64(c) * _GOLDEN))
            slot = np.int64(np.uint64(key * _MIX) >> np.uint64(32)) & pmask
            lo = part_offsets[j]
            hi = part_offsets[j + 1]
            while True:
                g = slots[slot]
                if g < 0:
                    g = k
                    k += 1
                    slots[slot] = g
                    l_cell[g] = c
                    l_hash[g] = h
                    l_row[g] = j
                    l_counts[g] = 0
                    for m in range(n_metrics):
                        l_sums[g, m] = 0
                    break
                if l_hash[g] == h and l_cell[g] == c:
                    r = l_row[g]
                    if _same_bytes(part_data, part_offsets[r], part_offsets[r + 1], lo, hi):
                        break
                slot = (slot + 1) & pmask
            l_counts[g] += part_vals[j, 0]
            for m in range(n_metrics):
                l_sums[g, m] += part_vals[j, m + 1]
        order = np.argsort(l_hash[:k], kind="mergesort")  # stable: equal hashes keep their first appearance order
        for t in range(k):
            g = order[t]
            o = n_groups + t
            r = l_row[g]
            g_cell[o] = l_cell[g]
            g_hash[o] = l_hash[g]
            g_row[o] = rows[r]
            counts[o] = l_counts[g]
            for m in range(n_metrics):
                sums[o, m] = l_sums[g, m]
            lo = part_offsets[r]
            length = part_offsets[r + 1] - lo
            base = g_offsets[o]
            for b in range(length):
                g_data[base + b] = part_data[lo + b]
            g_offsets[o + 1] = base + length
        n_groups += k
    return n_groups


def collapse_sorted_by_hash(cells: npt.ArrayLike, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
                            values: npt.ArrayLike, counts: npt.ArrayLike,
                            ) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64]:
    """What :func:`collapse_by_unit_bytes` gives, with the groups in ascending ``unit_hash`` order (groups of equal
    hash in order of first appearance): exactly its output after a stable sort by hash, found faster.

    The rows are first split by the top bits of their id's hash into partitions of a few thousand rows (a counting
    sort that moves the ids' bytes along), then each partition is collapsed in its own small table, which stays in
    the CPU cache with the bytes it compares, and its groups sorted by hash; partitions come out in hash order, so
    the whole output is sorted. One big table probed at random would miss the cache on almost every row.

    >>> data = np.frombuffer(b"u5u5u5u2", np.uint8)
    >>> cells, h, first, sums, counts = collapse_sorted_by_hash([0, 1, 0, 0], data, np.array([0, 2, 4, 6, 8]),
    ...                                                         [[1], [2], [3], [4]], [1, 1, 1, 1])
    >>> bool((h[1:] >= h[:-1]).all()), sorted(zip(first.tolist(), sums[:, 0].tolist(), counts.tolist()))
    (True, [(0, 4, 2), (1, 2, 1), (3, 4, 1)])
    """
    g_cell, g_hash, g_row, sums, n_events, _, _ = collapse_ids_sorted_by_hash(cells, data, offsets, values, counts)
    return g_cell, g_hash, g_row, sums, n_events


def collapse_ids_sorted_by_hash(cells: npt.ArrayLike, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
                                values: npt.ArrayLike, counts: npt.ArrayLike,
                                ) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64, npt.NDArray[np.uint8], I64]:
    """:func:`collapse_sorted_by_hash` and each group's id as ``(data, offsets)`` in the groups' order (copied out
    of the partitions while they are in cache: gathering them afterwards by first row would read at random).

    >>> data = np.frombuffer(b"u5u5u5u2", np.uint8)
    >>> *_, ids, ends = collapse_ids_sorted_by_hash([0, 0, 0, 0], data, np.array([0, 2, 4, 6, 8]), [[1]] * 4,
    ...                                             [1] * 4)
    >>> sorted(bytes(ids[a:b]) for a, b in zip(ends[:-1], ends[1:]))
    [b'u2', b'u5']
    """
    cell_array, offset_array, value_array, count_array = _collapse_inputs(cells, offsets, values, counts)
    n = len(cell_array)
    bits = int(min(_MAX_PARTITION_BITS, max(1, (n // _PARTITION_ROWS).bit_length())))  # 1 at least: no shift by 64
    data_array = np.ascontiguousarray(data, dtype=np.uint8)
    n_bytes = int(offset_array[-1]) if n else 0
    space = np.empty((5, n + 1), np.int64)
    part_vals = np.empty((n, value_array.shape[1] + 1), np.int64)  # the event count, then the sums
    part_data = np.empty(n_bytes, np.uint8)
    out = np.empty((5, n + 1), np.int64)
    sums = np.empty((n, value_array.shape[1]), np.int64)
    g_data = np.empty(n_bytes, np.uint8)
    k = _collapse_partitioned(cell_array, data_array, offset_array, value_array, count_array, bits, space, part_vals,
                              part_data, out, sums, g_data)
    g_offsets = out[4, :k + 1]
    # views of the outputs sized for every row being a group: the pages past the groups were never touched
    return out[0, :k], out[1, :k].view(np.uint64), out[2, :k], sums[:k], out[3, :k], g_data[:g_offsets[k]], g_offsets


_PARTITION_ROWS = 16384  # rows per partition of collapse_sorted_by_hash, about: its table and groups stay in cache
_MAX_PARTITION_BITS = 14


@njit(cache=True, nogil=True)
def _take_bytes(data: Any, offsets: Any, rows: Any, out: Any, out_offsets: Any) -> None:  # pragma: no cover
    for k in range(len(rows)):
        lo = offsets[rows[k]]
        base = out_offsets[k]
        for j in range(out_offsets[k + 1] - base):
            out[base + j] = data[lo + j]


def take_bytes(data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
               rows: npt.ArrayLike) -> tuple[npt.NDArray[np.uint8], I64]:
    """The byte strings ``rows`` of ``(data, offsets)`` as a new contiguous ``(data, offsets)`` pair.

    >>> d, o = take_bytes(np.frombuffer(b"abcde", np.uint8), np.array([0, 1, 3, 5]), [2, 0])
    >>> bytes(d), o.tolist()
    (b'dea', [0, 2, 3])
    """
    offset_array = np.ascontiguousarray(offsets, dtype=np.int64)
    row_array = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    out_offsets = np.zeros(len(row_array) + 1, np.int64)
    np.cumsum(offset_array[row_array + 1] - offset_array[row_array], out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), np.uint8)  # from numpy: huge pages (see _collapse_partitioned)
    _take_bytes(np.ascontiguousarray(data, dtype=np.uint8), offset_array, row_array, out, out_offsets)
    return out, out_offsets


@njit(inline="always")
def _sift_down(heap_key: Any, heap_run: Any, size: int, i: int) -> None:
    """Restore the min-heap order of the subtree at ``i`` of ``heap_key[:size]`` after its root changed, its
    children's subtrees being heaps (``heap_run`` moves alongside)."""
    key = heap_key[i]
    run = heap_run[i]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_key[child + 1] < heap_key[child]:
            child += 1
        if heap_key[child] >= key:
            break
        heap_key[i] = heap_key[child]
        heap_run[i] = heap_run[child]
        i = child
    heap_key[i] = key
    heap_run[i] = run


@njit(cache=True, nogil=True)
def _merge_sorted(cells: Any, hashes: Any, data: Any, offsets: Any, values: Any, counts_in: Any, starts: Any,
                  out: Any, sums: Any, g_data: Any) -> Any:  # pragma: no cover - compiled
    n_metrics = values.shape[1]
    # outputs from numpy (huge pages, see _collapse_partitioned): ``out`` holds the groups' cell, hash, first row,
    # count and id offsets; each group's id bytes are copied out when it is made, as its run is read in order
    g_cell = out[0]
    g_hash = out[1].view(np.uint64)
    g_row = out[2]
    counts = out[3]
    g_offsets = out[4]
    g_offsets[0] = 0
    n_runs = starts.shape[0] - 1
    pos = starts[:-1].copy()
    heap_key = np.empty(max(n_runs, 1), np.uint64)
    heap_run = np.empty(max(n_runs, 1), np.int64)
    size = 0
    for r in range(n_runs):
        if starts[r + 1] > starts[r]:
            heap_key[size] = hashes[starts[r]]
            heap_run[size] = r
            size += 1
    for i in range(size // 2 - 1, -1, -1):  # heapify: sift each inner node down within its subtree
        _sift_down(heap_key, heap_run, size, i)
    n_groups = 0
    while size > 0:
        h = heap_key[0]
        first = n_groups  # the groups of this hash: few (one unit in a few cells, or a rare collision)
        while size > 0 and heap_key[0] == h:
            run = heap_run[0]
            i = pos[run]
            pos[run] = i + 1
            if i + 1 < starts[run + 1]:
                heap_key[0] = hashes[i + 1]
            else:
                size -= 1
                heap_key[0] = heap_key[size]
                heap_run[0] = heap_run[size]
            _sift_down(heap_key, heap_run, size, 0)
            c = cells[i]
            lo = offsets[i]
            hi = offsets[i + 1]
            g = first
            while g < n_groups:
                if g_cell[g] == c and _same_bytes(data, offsets[g_row[g]], offsets[g_row[g] + 1], lo, hi):
                    break
                g += 1
            if g == n_groups:
                g_cell[g] = c
                g_hash[g] = h
                g_row[g] = i
                counts[g] = 0
                for m in range(n_metrics):
                    sums[g, m] = 0
                base = g_offsets[g]
                for b in range(hi - lo):
                    g_data[base + b] = data[lo + b]
                g_offsets[g + 1] = base + hi - lo
                n_groups += 1
            counts[g] += counts_in[i]
            for m in range(n_metrics):
                sums[g, m] += values[i, m]
    return n_groups


def _merge_inputs(cells: npt.ArrayLike, hashes: npt.NDArray[np.uint64], offsets: npt.ArrayLike,
                  values: npt.ArrayLike, counts: npt.ArrayLike,
                  starts: npt.ArrayLike) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64, I64]:
    """The merges' inputs as contiguous arrays, their lengths and the runs' order checked."""
    cell_array = np.ascontiguousarray(cells, dtype=np.int64).reshape(-1)
    n = len(cell_array)
    hash_array = np.ascontiguousarray(hashes, dtype=np.uint64).reshape(-1)
    offset_array = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
    value_array = np.ascontiguousarray(values, dtype=np.int64).reshape(n, -1)
    count_array = np.ascontiguousarray(counts, dtype=np.int64).reshape(-1)
    start_array = np.ascontiguousarray(starts, dtype=np.int64).reshape(-1)
    if len(offset_array) != n + 1 or len(count_array) != n or len(hash_array) != n:
        raise ValueError(f"{n} cells need {n + 1} offsets, {n} hashes and {n} counts, got {len(offset_array)}, "
                         f"{len(hash_array)} and {len(count_array)}")
    if len(start_array) < 1 or start_array[0] != 0 or start_array[-1] != n or bool((np.diff(start_array) < 0).any()):
        raise ValueError(f"run starts must rise from 0 to {n}")
    falls = np.flatnonzero(hash_array[1:] < hash_array[:-1]) + 1  # allowed only where a new run starts
    unsorted = falls[~np.isin(falls, start_array)]
    if len(unsorted):
        run = int(np.searchsorted(start_array, unsorted[0], side="right")) - 1
        raise ValueError(f"rows {start_array[run]}:{start_array[run + 1]} are not sorted by hash")
    return cell_array, hash_array, offset_array, value_array, count_array, start_array


def merge_sorted_by_hash(cells: npt.ArrayLike, hashes: npt.NDArray[np.uint64], data: npt.NDArray[np.uint8],
                         offsets: npt.NDArray[np.int64], values: npt.ArrayLike, counts: npt.ArrayLike,
                         starts: npt.ArrayLike) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64]:
    """``(cell, unit_hash, first_row, sums, counts)`` per distinct (cell, unit id) pair of rows that come in runs
    ``starts[r]:starts[r + 1]``, each sorted by ``hashes`` (the 64-bit hash of the row's unit id): a k-way merge.

    Every input row is read once, in order, so the merge streams through memory instead of probing a table at
    random; rows of equal hash (one unit in several cells, or two ids that share a hash) are told apart by cell and
    by their bytes. Groups come out in ascending hash order.

    >>> data = np.frombuffer(b"u1u2u1u3", np.uint8)
    >>> cell, h, first, sums, counts = merge_sorted_by_hash([0, 0, 0, 0], np.array([5, 9, 5, 7], np.uint64), data,
    ...     np.array([0, 2, 4, 6, 8]), [[1], [2], [4], [8]], [1, 1, 1, 1], [0, 2, 4])
    >>> h.tolist(), first.tolist(), sums.tolist(), counts.tolist()
    ([5, 7, 9], [0, 3, 1], [[5], [8], [2]], [2, 1, 1])
    """
    g_cell, g_hash, g_row, sums, counts, _, _ = merge_ids_sorted_by_hash(cells, hashes, data, offsets, values,
                                                                         counts, starts)
    return g_cell, g_hash, g_row, sums, counts


def merge_ids_sorted_by_hash(cells: npt.ArrayLike, hashes: npt.NDArray[np.uint64], data: npt.NDArray[np.uint8],
                             offsets: npt.NDArray[np.int64], values: npt.ArrayLike, counts: npt.ArrayLike,
                             starts: npt.ArrayLike,
                             ) -> tuple[I64, npt.NDArray[np.uint64], I64, I64, I64, npt.NDArray[np.uint8], I64]:
    """:func:`merge_sorted_by_hash` and each group's id as ``(data, offsets)`` in the groups' order.

    >>> data = np.frombuffer(b"u1u2u1", np.uint8)
    >>> *_, ids, ends = merge_ids_sorted_by_hash([0, 0, 0], np.array([5, 9, 5], np.uint64), data,
    ...                                          np.array([0, 2, 4, 6]), [[1], [2], [4]], [1, 1, 1], [0, 2, 3])
    >>> bytes(ids), ends.tolist()
    (b'u1u2', [0, 2, 4])
    """
    cell_array, hash_array, offset_array, value_array, count_array, start_array = _merge_inputs(
        cells, hashes, offsets, values, counts, starts)
    n = len(cell_array)
    n_bytes = int(offset_array[-1] - offset_array[0]) if n else 0
    out = np.empty((5, n + 1), np.int64)
    sums = np.empty((n, value_array.shape[1]), np.int64)
    g_data = np.empty(n_bytes, np.uint8)
    k = _merge_sorted(cell_array, hash_array, np.ascontiguousarray(data, dtype=np.uint8), offset_array, value_array,
                      count_array, start_array, out, sums, g_data)
    g_offsets = out[4, :k + 1]
    return out[0, :k], out[1, :k].view(np.uint64), out[2, :k], sums[:k], out[3, :k], g_data[:g_offsets[k]], g_offsets
