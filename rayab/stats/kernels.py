"""Fused, compiled Poisson-bootstrap replicate sums: weights generated on the fly and summed in one loop.

:func:`replicate_sums_fused` returns exactly what the numpy reference
:func:`rayab.stats.replicate_sums.replicate_sums_numpy` returns (the same int64 arrays, bit for bit) without ever
materialising the ``rows x B`` weight matrix. The weight of a unit in replicate ``b`` is the one specified in
:mod:`rayab.stats.poisson_weights`: ``x = fmix32(k2 + b * (k1 | 1))`` and ``w = #{j : x >= T_j}``.

How the loop is laid out, and why:

* Rows are bucketed by cell (a counting sort, O(rows + cells)) and copied into contiguous per-cell runs, so all the
  rows of a cell are summed while that cell's accumulators are hot.
* Within a cell, replicates are processed in tiles small enough that ``metrics x tile`` accumulators stay in L1;
  for every tile the cell's rows are streamed through it. The per-row weights of a tile go through a small int32
  buffer, which lets both inner loops (weight generation and multiply-accumulate) auto-vectorise.
* The threshold count is the expensive part: twelve signed 32-bit compares per weight (after flipping the top bit
  of the hash, so that AVX2's signed compares serve too), all in one branch-free vector loop over the whole tile.
  Counting only the first five and recounting the rare blocks holding a weight >= 5 does less arithmetic, but its
  short blocks keep the loop off the widest vectors; on AVX-512 the plain count is 1.1-1.3x faster.
* Accumulators are int32 when they cannot wrap: per cell, ``chunk`` rows share them as long as
  ``chunk x MAX_WEIGHT x max |value|`` fits int32, then they are added into the cell's int64 sums. Integer sums
  that never wrap do not depend on the grouping, so the results are the same as int64 accumulation, with twice the
  lanes per vector and a 32-bit multiply (the hourly data: 1.1x the int64 loop at B = 100, 1.2x at B = 1000;
  with the weight loop above, 1.7x the previous kernel at both). Cells whose values are too large
  (fewer than ``_MIN_CHUNK`` rows per flush) take the int64 loop: when every value fits int32 its products are
  formed from two sign-extended int32s (one 32x32->64 multiply), else from int64s.
* The loop does not check for overflow (int64 sums wrap modulo 2**64): callers bound their inputs instead. The
  hourly job proves every sum exact before it commits (:mod:`rayab.aggregate.sum_bounds`: 12 x sum |value| of each
  metric below 2**63).

>>> import numpy as np
>>> from rayab.stats.poisson_weights import unit_keys, poisson_weights
>>> k1, k2 = unit_keys("s", ["a", "b", "c"])
>>> values = np.array([[1, -10], [2, 20], [3, 30]], dtype=np.int64)
>>> raw, reps = replicate_sums_fused(k1, k2, np.array([0, 1, 0]), values, n_cells=2, n_replicates=5)
>>> raw.tolist()
[[4, 20], [2, 20]]
>>> w = poisson_weights(k1, k2, 5).astype(np.int64)
>>> reps[0, 1].tolist() == (w[0] * -10 + w[2] * 30).tolist()
True
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from rayab.stats.poisson_weights import MAX_WEIGHT, POISSON_THRESHOLDS

__all__ = ["fused_weights", "replicate_sums_fused"]

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]


def _signed_threshold(t: int) -> np.int32:
    # For uint32 x and T: x >= T  <=>  int32(x ^ 2**31) > int32(T ^ 2**31) - 1. AVX2 only compares signed int32, so
    # the kernel flips the top bit of x once and compares against these shifted constants.
    v = (t ^ 0x80000000) - 1
    return np.int32(v - 2**32 if v >= 2**31 else v)


# Module-level constants are frozen into the compiled code by numba.
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9, _S10, _S11 = (_signed_threshold(t) for t in POISSON_THRESHOLDS)
_SIGN = np.uint32(0x80000000)
_M1 = np.uint32(0x85EBCA6B)
_M2 = np.uint32(0xC2B2AE35)
_BLOCK = 16  # tiles of replicates are multiples of this (a 512-bit vector of int32)
_L1_ACC_ENTRIES = 2048  # int64 accumulators per tile (16 KiB), so metrics x tile stays inside a 32 KiB L1
_L1_ACC32_ENTRIES = 4096  # int32 accumulators per tile: 16 KiB as well, twice the replicates
_INT32_MAX = 2**31 - 1
_INT64_MAX = np.int64(2**63 - 1)
_MIN_CHUNK = 64  # below this many rows per flush of the int32 accumulators, a cell takes the int64 loop


@njit(inline="always")
def _flipped_fmix32(x: np.uint32) -> np.int32:
    """``int32(fmix32(x) ^ 2**31)``: the finaliser, then the top-bit flip for signed compares."""
    x = np.uint32(x ^ (x >> np.uint32(16)))
    x = np.uint32(x * _M1)
    x = np.uint32(x ^ (x >> np.uint32(13)))
    x = np.uint32(x * _M2)
    x = np.uint32(x ^ (x >> np.uint32(16)))
    return np.int32(x ^ _SIGN)


@njit(inline="always")
def _weight(s: np.int32) -> np.int32:
    """The weight of a flipped hash: the number of thresholds it passes, all twelve counted."""
    return np.int32((s > _S0) + (s > _S1) + (s > _S2) + (s > _S3) + (s > _S4) + (s > _S5) + (s > _S6) + (s > _S7)
                    + (s > _S8) + (s > _S9) + (s > _S10) + (s > _S11))


@njit(inline="always")
def _weights_tile(a: np.uint32, start: np.uint32, wb: Any) -> None:
    """``wb[j] = weight at x = k2 + (b0 + j) * a`` for every j of the view ``wb``, where ``start = k2 + b0 * a``
    (mod 2**32)."""
    # Callers pass a fresh view indexed from 0: numba's negative-index wraparound on ``view[lo + j]`` is a branch
    # LLVM cannot hoist, and it silently disables vectorisation.
    xb = start
    for j in range(wb.shape[0]):
        wb[j] = _weight(_flipped_fmix32(xb))
        xb = np.uint32(xb + a)  # a uint32 induction variable keeps the vector loop 32-bit wide


@njit(cache=True, nogil=True)
def fused_weights(k1: U32, k2: U32, n_replicates: int) -> npt.NDArray[np.uint8]:  # pragma: no cover - compiled
    """The weight matrix ``(len(k1), n_replicates)`` from the compiled path (for tests and other engines)."""
    n = k1.shape[0]
    out = np.empty((n, n_replicates), np.uint8)
    w = np.empty(n_replicates, np.int32)
    for i in range(n):
        a = np.uint32(k1[i] | np.uint32(1))
        _weights_tile(a, k2[i], w)
        for b in range(n_replicates):
            out[i, b] = w[b]
    return out


@njit(inline="always")
def _cell_sums(a: Any, k2: Any, y: Any, lo: int, hi: int, acc: Any, w: Any, tile: int) -> None:
    """``acc[m, b] += w(row, b) * y[row, m]`` for the rows ``lo:hi`` of one cell; tiles of b outermost."""
    n_metrics = y.shape[1]
    n_rep = acc.shape[1]
    for b0 in range(0, n_rep, tile):
        nb = min(tile, n_rep - b0)
        for r in range(lo, hi):
            ar = a[r]
            _weights_tile(ar, np.uint32(k2[r] + np.uint32(b0) * ar), w[:nb])
            for m in range(n_metrics):
                ym = np.int64(y[r, m])
                if ym == 0:  # zero-valued metrics (common for sparse events) cost nothing
                    continue
                row = acc[m, b0:b0 + nb]
                for j in range(nb):
                    row[j] += np.int64(w[j]) * ym


@njit(inline="always")
def _cell_sums32(a: Any, k2: Any, y: Any, lo: int, hi: int, acc: Any, w: Any, acc32: Any, tile: int,
                 chunk: int) -> None:
    """:func:`_cell_sums` through int32 accumulators ``acc32``, added into ``acc`` after every ``chunk`` rows.

    The caller picks ``chunk`` so that ``chunk * MAX_WEIGHT * max |y|`` fits int32: no int32 partial sum can
    wrap, so the int64 totals are the same as :func:`_cell_sums`'s. Twice the lanes per vector and a 32-bit
    multiply make a product about half the work."""
    n_metrics = y.shape[1]
    n_rep = acc.shape[1]
    for b0 in range(0, n_rep, tile):
        nb = min(tile, n_rep - b0)
        for c0 in range(lo, hi, chunk):
            for m in range(n_metrics):
                part = acc32[m, :nb]
                for j in range(nb):
                    part[j] = 0
            for r in range(c0, min(hi, c0 + chunk)):
                ar = a[r]
                wb = w[:nb]
                _weights_tile(ar, np.uint32(k2[r] + np.uint32(b0) * ar), wb)
                for m in range(n_metrics):
                    ym = np.int32(y[r, m])
                    if ym == 0:  # zero-valued metrics (common for sparse events) cost nothing
                        continue
                    part = acc32[m, :nb]
                    for j in range(nb):
                        part[j] = np.int32(part[j] + np.int32(wb[j] * ym))
            for m in range(n_metrics):
                row = acc[m, b0:b0 + nb]
                part = acc32[m, :nb]
                for j in range(nb):
                    row[j] += np.int64(part[j])


@njit(cache=True, nogil=True)
def _group_rows(k1: U32, k2: U32, cells: I64, values: Any, n_cells: int) -> Any:  # pragma: no cover - compiled
    """Counting sort of rows by cell: contiguous ``(a = k1|1, k2, y)`` runs, ``starts``, and raw sums."""
    n, n_metrics = values.shape
    starts = np.zeros(n_cells + 1, np.int64)
    for i in range(n):
        starts[cells[i] + 1] += 1
    for c in range(n_cells):
        starts[c + 1] += starts[c]
    pos = starts[:-1].copy()
    a = np.empty(n, np.uint32)
    k2s = np.empty(n, np.uint32)
    ys = np.empty((n, n_metrics), values.dtype)
    raw = np.zeros((n_cells, n_metrics), np.int64)
    top = np.zeros(n_cells, np.int64)
    for i in range(n):
        c = cells[i]
        p = pos[c]
        pos[c] = p + 1
        a[p] = k1[i] | np.uint32(1)
        k2s[p] = k2[i]
        for m in range(n_metrics):
            v = np.int64(values[i, m])
            ys[p, m] = values[i, m]
            raw[c, m] += v
            av = v if v >= 0 else -v
            top[c] = max(top[c], av if av >= 0 else _INT64_MAX)  # -(-2**63) wraps: the largest bound
    return a, k2s, ys, starts, raw, top


@njit(inline="always")
def _range_sums(a: Any, k2: Any, ys: Any, lo: int, hi: int, acc: Any, w: Any, acc32: Any, chunk: int, tile: int,
                tile32: int) -> None:
    """The rows ``lo:hi`` of one cell into ``acc``: int32 accumulators when ``chunk`` rows may share them."""
    if chunk >= _MIN_CHUNK:
        _cell_sums32(a, k2, ys, lo, hi, acc, w, acc32, tile32, chunk)
    else:
        _cell_sums(a, k2, ys, lo, hi, acc, w, tile)


@njit(cache=True, nogil=True)
def _sums_serial(a: U32, k2: U32, ys: Any, starts: I64, chunks: I64, reps: I64, tile: int,
                 tile32: int) -> None:  # pragma: no cover - compiled
    w = np.empty(max(tile, tile32), np.int32)
    acc32 = np.empty((ys.shape[1], tile32), np.int32)
    for c in range(starts.shape[0] - 1):
        if starts[c + 1] > starts[c]:
            _range_sums(a, k2, ys, starts[c], starts[c + 1], reps[c], w, acc32, chunks[c], tile, tile32)


@njit(cache=True, nogil=True, parallel=True)
def _sums_parallel(a: U32, k2: U32, ys: Any, chunks: I64, item_cell: I64, item_lo: I64, item_hi: I64,
                   item_slot: I64, thread_items: I64, thread_starts: I64, reps: I64, scratch: I64, tile: int,
                   tile32: int) -> None:  # pragma: no cover - compiled
    """Work items are (cell, row range); an item writes into ``reps[cell]`` when it is the cell's only item, else
    into its own ``scratch`` slot, so threads never share an accumulator; each thread runs a balanced item list."""
    n_threads = thread_starts.shape[0] - 1
    for t in prange(n_threads):
        w = np.empty(max(tile, tile32), np.int32)
        acc32 = np.empty((ys.shape[1], tile32), np.int32)
        for q in range(thread_starts[t], thread_starts[t + 1]):
            it = thread_items[q]
            slot = item_slot[it]
            c = item_cell[it]
            acc = reps[c] if slot < 0 else scratch[slot]
            _range_sums(a, k2, ys, item_lo[it], item_hi[it], acc, w, acc32, chunks[c], tile, tile32)


def _flush_chunks(top: I64) -> I64:
    """Per cell, how many rows may share int32 accumulators: ``chunk * MAX_WEIGHT * max |y| <= 2**31 - 1`` (a
    product is at most ``MAX_WEIGHT * max |y|``), so no int32 partial sum can wrap. Cells below ``_MIN_CHUNK``
    take the int64 loop.

    >>> _flush_chunks(np.array([0, 1, 2**20, 2**31])).tolist()
    [178956970, 178956970, 170, 0]
    """
    return (_INT32_MAX // (MAX_WEIGHT * np.maximum(top, 1))).astype(np.int64)


def _plan_parallel(starts: I64, n_threads: int) -> tuple[I64, I64, I64, I64, I64, I64, int]:
    """Split cells into balanced work items and assign them to threads (longest first, to the lightest thread)."""
    sizes = np.diff(starts)
    total = int(sizes.sum())
    chunk = max(4096, -(-total // (4 * n_threads)))
    cells_l: list[int] = []
    lo_l: list[int] = []
    hi_l: list[int] = []
    slot_l: list[int] = []
    n_slots = 0
    for c in np.flatnonzero(sizes):
        lo, hi = int(starts[c]), int(starts[c + 1])
        pieces = -(-(hi - lo) // chunk)
        for p in range(pieces):
            cells_l.append(int(c))
            lo_l.append(lo + p * chunk)
            hi_l.append(min(hi, lo + (p + 1) * chunk))
            slot_l.append(-1 if pieces == 1 else n_slots)
            n_slots += pieces > 1
    item_lo = np.array(lo_l, dtype=np.int64)
    item_hi = np.array(hi_l, dtype=np.int64)
    loads = np.zeros(n_threads, dtype=np.int64)
    per_thread: list[list[int]] = [[] for _ in range(n_threads)]
    for it in np.argsort(item_lo - item_hi, kind="stable"):
        t = int(np.argmin(loads))
        per_thread[t].append(int(it))
        loads[t] += item_hi[it] - item_lo[it]
    thread_starts = np.cumsum([0] + [len(p) for p in per_thread]).astype(np.int64)
    thread_items = np.array([i for p in per_thread for i in p], dtype=np.int64)
    return (np.array(cells_l, dtype=np.int64), item_lo, item_hi, np.array(slot_l, dtype=np.int64),
            thread_items, thread_starts, n_slots)


def replicate_sums_fused(
    k1: npt.ArrayLike,
    k2: npt.ArrayLike,
    cells: npt.ArrayLike,
    values: npt.ArrayLike,
    n_cells: int,
    n_replicates: int,
    n_threads: int = 1,
) -> tuple[I64, I64]:
    """``(raw, reps)`` with shapes ``(n_cells, n_metrics)`` and ``(n_cells, n_metrics, n_replicates)``.

    Bit-identical to the numpy reference. ``n_threads > 1`` splits the work over that many threads (cells, and big
    cells into row ranges, with private accumulators merged at the end); the default of one thread suits callers
    that already run one task per core.
    """
    k1a = np.ascontiguousarray(k1, dtype=np.uint32).reshape(-1)
    k2a = np.ascontiguousarray(k2, dtype=np.uint32).reshape(-1)
    cell_index = np.ascontiguousarray(cells, dtype=np.int64).reshape(-1)
    n = cell_index.shape[0]
    vals = np.asarray(values)
    if vals.dtype.kind not in "iub" and vals.size:
        raise TypeError(f"values must be integers (fixed point), got {vals.dtype}")
    vals = np.ascontiguousarray(vals, dtype=np.int64)
    vals = vals.reshape(-1, 1) if vals.ndim == 1 else vals.reshape(n, vals.shape[-1])
    n_metrics = vals.shape[1]
    if k1a.shape[0] != n or k2a.shape[0] != n:
        raise ValueError(f"k1, k2 and cells differ in length: {k1a.shape[0]}, {k2a.shape[0]}, {n}")
    if n_replicates < 0 or n_cells < 0:
        raise ValueError(f"n_cells and n_replicates must be >= 0, got {n_cells}, {n_replicates}")
    if n and (int(cell_index.min()) < 0 or int(cell_index.max()) >= n_cells):
        raise ValueError(f"cell indices must lie in [0, {n_cells})")
    reps = np.zeros((n_cells, n_metrics, n_replicates), dtype=np.int64)
    if n == 0 or n_metrics == 0:
        return np.zeros((n_cells, n_metrics), dtype=np.int64), reps
    # int32 values take the single-multiply path; int64 sums make both paths exact and identical.
    i32 = np.iinfo(np.int32)
    if int(vals.min()) >= i32.min and int(vals.max()) <= i32.max:
        vals = vals.astype(np.int32)
    a, k2s, ys, starts, raw, top = _group_rows(k1a, k2a, cell_index, vals, n_cells)
    if n_replicates == 0:
        return raw, reps
    tile = max(_BLOCK, min(n_replicates, (_L1_ACC_ENTRIES // n_metrics) // _BLOCK * _BLOCK))
    tile32 = max(_BLOCK, min(n_replicates, (_L1_ACC32_ENTRIES // n_metrics) // _BLOCK * _BLOCK))
    chunks = _flush_chunks(top) if ys.dtype == np.int32 else np.zeros(n_cells, np.int64)
    n_threads = max(1, min(n_threads, int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))))
    if n_threads == 1:
        _sums_serial(a, k2s, ys, starts, chunks, reps, tile, tile32)
        return raw, reps
    item_cell, item_lo, item_hi, item_slot, thread_items, thread_starts, n_slots = _plan_parallel(starts, n_threads)
    scratch = np.zeros((n_slots, n_metrics, n_replicates), dtype=np.int64)
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        _sums_parallel(a, k2s, ys, chunks, item_cell, item_lo, item_hi, item_slot, thread_items, thread_starts,
                       reps, scratch, tile, tile32)
    finally:
        numba.set_num_threads(previous)
    for it in np.flatnonzero(item_slot >= 0):
        reps[item_cell[it]] += scratch[item_slot[it]]
    return raw, reps


def default_threads() -> int:
    """Cores this process may use (for callers that want the parallel path)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
