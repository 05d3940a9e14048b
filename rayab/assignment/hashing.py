"""The assignment hash: a unit's bucket in [0, 1) under an experiment's assignment salt.

Specified byte for byte so any engine can reproduce it: ``h = md5(utf8(salt + ":" + unit_id))``, the first
8 bytes read as a big-endian uint64 ``n``, ``bucket = (n >> 11) / 2**53``: the top 53 bits, which a float64
holds exactly, so the bucket is always strictly below 1 (``n / 2**64`` would round up to 1.0 for the top
~2**-54 of hashes and put those units outside every range). The bootstrap weights use the same
construction under a *different* salt (``Experiment.bootstrap_salt``), so buckets and weights are independent.

>>> round(bucket("ctr_test", "alice"), 6)
0.780788
>>> bucket("ctr_test", "alice") == bucket("ctr_test", "alice")
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["COMPILED_FROM", "bucket", "bucket_columns", "buckets", "digest_position", "md5", "utf8_column"]

_TWO_53 = float(2**53)

# The interpreter's own MD5 when it has one: the same digest as OpenSSL's (hashlib.md5), without the cost of an
# OpenSSL context per call, which dominates for ids of a few bytes (2.1 us against 5.2 us per hash measured on a
# loaded machine, about 2.5 times faster).
md5: Callable[[bytes], hashlib._Hash] = hashlib.md5
try:
    import _md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a build without the module
    pass
else:
    md5 = _md5.md5


def digest_position(digest: bytes) -> float:
    """The position in [0, 1) that an md5 digest stands for: its top 53 bits over 2**53."""
    return (int.from_bytes(digest[:8], "big") >> 11) / _TWO_53


def bucket(salt: str, unit_id: str) -> float:
    """The unit's position in [0, 1) under ``salt``."""
    return digest_position(md5(f"{salt}:{unit_id}".encode()).digest())


def buckets(salt: str, unit_ids: Iterable[str]) -> npt.NDArray[np.float64]:
    """:func:`bucket` of many units as a float64 array."""
    return bucket_columns((salt,), unit_ids)[0]


# From this many ids on, a column is hashed by the compiled MD5 of rayab.stats.unit_hash when numba is installed
# (the cluster extra): about 0.1 us an id instead of about 1 us for a Python loop over hashlib. Below it, loading
# numba and the cached kernel (once per process) would cost more than it saves.
COMPILED_FROM = 4_096
_NOT_LOADED: Any = object()
_compiled_keys: Any = _NOT_LOADED


def _compiled() -> Callable[..., tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]] | None:
    """The compiled md5 keys function, or None without numba; imported on first use only, so that importing the
    assignment engine (and the SDK) never loads numba."""
    global _compiled_keys
    if _compiled_keys is _NOT_LOADED:
        try:
            from rayab.stats.unit_hash import md5_keys
        except ImportError:  # the light install
            _compiled_keys = None
        else:
            _compiled_keys = md5_keys
    return _compiled_keys  # type: ignore[no-any-return]


def bucket_columns(salts: Sequence[str], unit_ids: Iterable[str], compiled: bool | None = None,
                   encoded: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None,
                   ) -> list[npt.NDArray[np.float64]]:
    """:func:`buckets` of the same ids under each of ``salts`` (an experiment's salt and its layer's, say), the
    ids encoded once (``encoded``: their :func:`utf8_column`, when the caller has it). ``compiled`` forces the
    compiled MD5 on (True: ImportError without numba) or off (False); None picks it for :data:`COMPILED_FROM`
    ids or more when numba is importable. Both give identical bits.

    >>> a, b = bucket_columns(("ctr_test", "other"), ["alice", "bob"])
    >>> a.tolist() == [bucket("ctr_test", "alice"), bucket("ctr_test", "bob")], float(b[1]) == bucket("other", "bob")
    (True, True)
    """
    ids = unit_ids if isinstance(unit_ids, list | tuple) else list(unit_ids)
    keys = None
    if compiled is True or (compiled is None and len(ids) >= COMPILED_FROM):
        keys = _compiled()
        if keys is None and compiled:
            raise ImportError("the compiled md5 needs numba (pip install 'rayab[cluster]')")
    if keys is None:
        return [_hashlib_buckets(salt, ids) for salt in salts]
    data, offsets = utf8_column(ids) if encoded is None else encoded
    threads = min(2, os.cpu_count() or 1)
    columns = []
    for salt in salts:
        k1, k2 = keys(salt, data, offsets, threads)
        top = ((k1.astype(np.uint64) << np.uint64(32)) | k2) >> np.uint64(11)
        columns.append(top.astype(np.float64) / _TWO_53)
    return columns


def _hashlib_buckets(salt: str, unit_ids: Sequence[str]) -> npt.NDArray[np.float64]:
    prefix = salt.encode("utf-8") + b":"
    # whole digests, then every other big-endian word: cheaper than slicing each digest in Python
    raw = b"".join([md5(prefix + u.encode("utf-8")).digest() for u in unit_ids])
    top = np.frombuffer(raw, dtype=">u8")[::2].astype(np.uint64) >> np.uint64(11)
    return top.astype(np.float64) / _TWO_53


def utf8_column(unit_ids: Sequence[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The ids' UTF-8 bytes end to end and their ``len + 1`` offsets (id ``i`` is ``data[offsets[i]:offsets[i +
    1]]``). ASCII ids without NUL (the usual case) are encoded without a Python step per id: joined by NUL, the
    separators found and dropped in numpy. A non-string raises TypeError, a lone surrogate UnicodeEncodeError.

    >>> data, offsets = utf8_column(["ab", "", "c"])
    >>> bytes(data), offsets.tolist()
    (b'abc', [0, 2, 2, 3])
    """
    n = len(unit_ids)
    joined = "\0".join(unit_ids)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if joined.isascii():
        raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        is_separator = raw == 0
        separators = np.flatnonzero(is_separator)
        if len(separators) == max(n - 1, 0):  # no id holds a NUL of its own
            # id i starts after i separators: at separators[i - 1] + 1 in raw, i bytes earlier once they are gone
            offsets[1:n] = separators - np.arange(n - 1)
            offsets[n] = len(raw) - len(separators)
            data = raw[~is_separator]
            data.flags.writeable = False  # read-only in both branches: one compiled signature, the hourly job's
            return data, offsets
    encoded = [u.encode("utf-8") for u in unit_ids]
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets
