"""Fast unit keys ``(k1, k2)`` for many unit ids: md5 compiled with numba, run over Arrow string buffers.

The keys are the ones specified in :mod:`rayab.stats.poisson_weights`: ``h = md5(utf8(salt + ":" + unit_id))``,
``k1`` = bytes 0..3 of ``h`` and ``k2`` = bytes 4..7, read big-endian. A Python loop over :mod:`hashlib` spends most
of its ~1 us per id on interpreter overhead (building bytes, a call, slicing). Here the ids stay in one Arrow buffer
(UTF-8 data plus offsets) and a compiled MD5 walks it, so no Python object is created per id. Dictionary-encoded
arrays hash each distinct id once.

MD5 is implemented from RFC 1321 and checked against :mod:`hashlib` in the tests (ASCII, multi-byte UTF-8, empty
and multi-block ids).

>>> k1, k2 = unit_keys("salt", ["alice", "bob"])
>>> [int(k) for k in k1], [int(k) for k in k2]
([2247964580, 4112618318], [263100266, 839231466])
>>> import hashlib
>>> hashlib.md5(b"salt:alice").digest()[:4] == int(k1[0]).to_bytes(4, "big")
True
>>> import pyarrow as pa
>>> [int(k) for k in unit_keys_arrow("salt", pa.array(["bob", "alice"]).dictionary_encode())[0]]
[4112618318, 2247964580]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["md5_keys", "unit_keys", "unit_keys_arrow"]

U32 = npt.NDArray[np.uint32]

# RFC 1321: per-step additive constants floor(|sin(i + 1)| * 2**32) and left-rotation amounts.
_K = np.array([int(abs(math.sin(i + 1)) * 2**32) & 0xFFFFFFFF for i in range(64)], dtype=np.uint32)
_R = np.array([7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4,
              dtype=np.uint32)
# Message word used in step i of each of the four rounds.
_G = np.array([i for i in range(16)] + [(5 * i + 1) % 16 for i in range(16)]
              + [(3 * i + 5) % 16 for i in range(16)] + [(7 * i) % 16 for i in range(16)], dtype=np.int64)


@njit(inline="always")
def _rotl(x: np.uint32, r: np.uint32) -> np.uint32:
    return np.uint32((x << r) | (x >> np.uint32(32 - r)))


@njit(inline="always")
def _compress(state: Any, m: Any) -> None:
    """One MD5 compression of the 16 little-endian words ``m`` into ``state``."""
    # Four branch-free loops with constant trip counts: LLVM unrolls them and folds the table lookups.
    a, b, c, d = state[0], state[1], state[2], state[3]
    for i in range(16):
        f = np.uint32(np.uint32((b & c) | (~b & d)) + a + _K[i] + m[i])
        a, d, c = d, c, b
        b = np.uint32(b + _rotl(f, _R[i]))
    for i in range(16, 32):
        f = np.uint32(np.uint32((d & b) | (~d & c)) + a + _K[i] + m[_G[i]])
        a, d, c = d, c, b
        b = np.uint32(b + _rotl(f, _R[i]))
    for i in range(32, 48):
        f = np.uint32(np.uint32(b ^ c ^ d) + a + _K[i] + m[_G[i]])
        a, d, c = d, c, b
        b = np.uint32(b + _rotl(f, _R[i]))
    for i in range(48, 64):
        f = np.uint32(np.uint32(c ^ (b | ~d)) + a + _K[i] + m[_G[i]])
        a, d, c = d, c, b
        b = np.uint32(b + _rotl(f, _R[i]))
    state[0] = np.uint32(state[0] + a)
    state[1] = np.uint32(state[1] + b)
    state[2] = np.uint32(state[2] + c)
    state[3] = np.uint32(state[3] + d)


@njit(inline="always")
def _bswap(x: np.uint32) -> np.uint32:
    # Digest bytes 0..3 are the little-endian bytes of state[0]; k1 reads them big-endian.
    return np.uint32(((x & np.uint32(0xFF)) << np.uint32(24)) | ((x & np.uint32(0xFF00)) << np.uint32(8))
                     | ((x >> np.uint32(8)) & np.uint32(0xFF00)) | (x >> np.uint32(24)))


@njit(inline="always")
def _md5_one(n_prefix: int, data: Any, lo: int, hi: int, buf: Any, words: Any, state: Any) -> None:
    """md5(prefix + data[lo:hi]) into ``state``; ``buf`` already starts with the prefix and is long enough."""
    length = n_prefix + (hi - lo)
    n_bytes = ((length + 8) // 64 + 1) * 64  # message + 0x80 + 8-byte bit length, rounded up to whole blocks
    for j in range(hi - lo):
        buf[n_prefix + j] = data[lo + j]
    buf[length] = 0x80
    for j in range(length + 1, n_bytes - 8):
        buf[j] = 0
    bit_length = np.uint64(length) * np.uint64(8)
    for j in range(8):
        buf[n_bytes - 8 + j] = np.uint8((bit_length >> np.uint64(8 * j)) & np.uint64(0xFF))
    state[0] = np.uint32(0x67452301)
    state[1] = np.uint32(0xEFCDAB89)
    state[2] = np.uint32(0x98BADCFE)
    state[3] = np.uint32(0x10325476)
    for blk in range(0, n_bytes, 64):
        for j in range(16):
            p = blk + 4 * j
            words[j] = (np.uint32(buf[p]) | (np.uint32(buf[p + 1]) << np.uint32(8))
                        | (np.uint32(buf[p + 2]) << np.uint32(16)) | (np.uint32(buf[p + 3]) << np.uint32(24)))
        _compress(state, words)


@njit(inline="always")
def _keys_range(prefix: Any, data: Any, offsets: Any, k1: U32, k2: U32, lo: int, hi: int, buf_len: int) -> None:
    buf = np.empty(buf_len, np.uint8)
    buf[:prefix.shape[0]] = prefix
    state = np.empty(4, np.uint32)
    words = np.empty(16, np.uint32)
    for i in range(lo, hi):
        _md5_one(prefix.shape[0], data, offsets[i], offsets[i + 1], buf, words, state)
        k1[i] = _bswap(state[0])
        k2[i] = _bswap(state[1])


@njit(cache=True, nogil=True)
def _keys_serial(prefix: Any, data: Any, offsets: Any, k1: U32, k2: U32,
                 buf_len: int) -> None:  # pragma: no cover - compiled
    _keys_range(prefix, data, offsets, k1, k2, 0, k1.shape[0], buf_len)


@njit(cache=True, nogil=True, parallel=True)
def _keys_parallel(prefix: Any, data: Any, offsets: Any, k1: U32, k2: U32, buf_len: int,
                   n_chunks: int) -> None:  # pragma: no cover - compiled
    n = k1.shape[0]
    for t in prange(n_chunks):
        _keys_range(prefix, data, offsets, k1, k2, t * n // n_chunks, (t + 1) * n // n_chunks, buf_len)


def md5_keys(salt: str, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
             n_threads: int = 1) -> tuple[U32, U32]:
    """Keys of the ids ``data[offsets[i]:offsets[i + 1]]`` (UTF-8 bytes) for ``i < len(offsets) - 1``."""
    prefix = np.frombuffer(salt.encode("utf-8") + b":", dtype=np.uint8)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = max(0, offsets.shape[0] - 1)
    k1 = np.empty(n, dtype=np.uint32)
    k2 = np.empty(n, dtype=np.uint32)
    if n == 0:
        return k1, k2
    data = np.ascontiguousarray(data, dtype=np.uint8)
    if offsets[0] < 0 or offsets[-1] > data.shape[0] or bool((np.diff(offsets) < 0).any()):
        raise ValueError("offsets must be non-decreasing and lie within data")
    # One scratch buffer per thread, long enough for the longest padded message.
    buf_len = ((prefix.shape[0] + int(np.diff(offsets).max()) + 8) // 64 + 1) * 64
    if n_threads > 1 and n >= 4096:
        _keys_parallel(prefix, data, offsets, k1, k2, buf_len, n_threads)
    else:
        _keys_serial(prefix, data, offsets, k1, k2, buf_len)
    return k1, k2


def _buffers(array: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The UTF-8 data and the ``len + 1`` offsets of a (large) string/binary array, honouring its slice offset."""
    import pyarrow as pa

    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    _, offsets_buf, data_buf = array.buffers()
    offset_type = np.int64 if wide else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    return data, offsets.astype(np.int64)


def unit_keys_arrow(salt: str, array: pa.Array | pa.ChunkedArray, n_threads: int = 1) -> tuple[U32, U32]:
    """``(k1, k2)`` of every id in a pyarrow string array (string, large_string, string_view, binary,
    dictionary-encoded or chunked). Nulls are rejected: a unit without an id cannot be weighted."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        parts = [unit_keys_arrow(salt, chunk, n_threads) for chunk in array.chunks]
        if not parts:
            return np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.uint32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if array.null_count:
        raise ValueError(f"unit ids must not be null ({array.null_count} nulls)")
    if pa.types.is_dictionary(array.type):
        # Hash each distinct id once, then gather by the codes.
        d1, d2 = unit_keys_arrow(salt, array.dictionary, n_threads)
        codes = array.indices.to_numpy(zero_copy_only=False)
        return d1[codes], d2[codes]
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
            or pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type)):
        array = array.cast(pa.large_string())  # string_view and friends: one copy into the offset layout
    data, offsets = _buffers(array)
    return md5_keys(salt, data, offsets, n_threads)


def unit_keys(salt: str, unit_ids: Iterable[str] | pa.Array | pa.ChunkedArray, n_threads: int = 1) -> tuple[U32, U32]:
    """Same result as :func:`rayab.stats.poisson_weights.unit_keys` for any iterable of ``str`` (a list, a numpy
    object array, a pyarrow array), computed by the compiled MD5."""
    import pyarrow as pa

    if isinstance(unit_ids, (pa.Array, pa.ChunkedArray)):
        return unit_keys_arrow(salt, unit_ids, n_threads)
    ids = unit_ids if isinstance(unit_ids, (list, np.ndarray)) else list(unit_ids)
    if len(ids) and not all(isinstance(u, str) for u in (ids[0], ids[-1])):
        raise TypeError("unit ids must be str")
    return unit_keys_arrow(salt, pa.array(ids, type=pa.large_string()), n_threads)
