"""Poisson(1) bootstrap weights as a pure function of a salted hash of (unit, replicate).

The weight of unit ``u`` in replicate ``b`` under salt ``s`` is specified byte for byte, so Spark, DuckDB, Trino or C
can reproduce it exactly:

1. ``h = md5(utf8(s + ":" + u))``; ``k1`` = bytes 0..3 of ``h``, ``k2`` = bytes 4..7, both big-endian uint32.
2. ``x_b = fmix32((k2 + b * (k1 | 1)) mod 2**32)`` with MurmurHash3's 32-bit finaliser ``fmix32``.
3. ``w = #{j in 0..11 : x_b >= POISSON_THRESHOLDS[j]}`` where
   ``POISSON_THRESHOLDS[j] = ceil(2**32 * P(Poisson(1) <= j))`` (the inverse CDF of Poisson(1) on a 32-bit grid).

Because the weight depends on nothing but (salt, unit, b), the same unit gets the same weights in every hour, shard
and process; replicate sums ``sum_u w(u, b) * y_u`` therefore add up over hours and shards to exactly a unit-level
(clustered) Poisson bootstrap over any window. ``k1 | 1`` is odd, so for a fixed unit ``b -> k2 + b*(k1|1)`` visits
distinct 32-bit values for b < 2**32 and the finaliser decorrelates neighbouring replicates.

>>> k1, k2 = unit_keys("salt", ["alice", "bob"])
>>> poisson_weights(k1, k2, 8).tolist()
[[1, 0, 1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 2, 0, 1, 0]]
>>> weights_for("salt", ["bob"], 8).tolist() == poisson_weights(k1[1:], k2[1:], 8).tolist()
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_WEIGHT", "POISSON_THRESHOLDS", "fmix32", "poisson_weights", "unit_keys", "weights_for"]

# ceil(2**32 * P(Poisson(1) <= j)) for j = 0..11, computed with 60-digit decimal arithmetic and checked against
# scipy.stats.poisson.cdf in the tests. P(Poisson(1) > 12) < 1e-9, below the 2**-32 grid.
POISSON_THRESHOLDS: tuple[int, ...] = (
    1580030169, 3160060338, 3950075422, 4213413784, 4279248374, 4292415292,
    4294609778, 4294923277, 4294962464, 4294966818, 4294967253, 4294967293,
)
MAX_WEIGHT = len(POISSON_THRESHOLDS)
_THRESHOLDS = np.array(POISSON_THRESHOLDS, dtype=np.uint32)

U32 = npt.NDArray[np.uint32]


def unit_keys(salt: str, unit_ids: Iterable[str]) -> tuple[U32, U32]:
    """The two 32-bit keys ``(k1, k2)`` of every unit under ``salt`` (one md5 per unit)."""
    prefix = salt.encode("utf-8") + b":"
    digests = b"".join(hashlib.md5(prefix + u.encode("utf-8"), usedforsecurity=False).digest()[:8]
                       for u in unit_ids)
    keys = np.frombuffer(digests, dtype=">u4").astype(np.uint32).reshape(-1, 2)
    return np.ascontiguousarray(keys[:, 0]), np.ascontiguousarray(keys[:, 1])


def fmix32(x: U32) -> U32:
    """MurmurHash3's 32-bit finaliser, elementwise on uint32 arrays (wrapping arithmetic).

    >>> int(fmix32(np.array([1], dtype=np.uint32))[0])
    1364076727
    """
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def poisson_weights(k1: U32, k2: U32, n_replicates: int, first_replicate: int = 0) -> npt.NDArray[np.uint8]:
    """Weights of shape ``(len(k1), n_replicates)`` for replicates ``first_replicate ...``, as uint8."""
    k1 = np.asarray(k1, dtype=np.uint32)
    k2 = np.asarray(k2, dtype=np.uint32)
    b = np.arange(first_replicate, first_replicate + n_replicates, dtype=np.uint32)
    with np.errstate(over="ignore"):
        x = k2[:, None] + b[None, :] * (k1 | np.uint32(1))[:, None]
    out: npt.NDArray[np.uint8] = np.searchsorted(_THRESHOLDS, fmix32(x), side="right").astype(np.uint8)
    return out


def weights_for(salt: str, unit_ids: Sequence[str], n_replicates: int) -> npt.NDArray[np.uint8]:
    """Weights of ``unit_ids`` under ``salt``: ``poisson_weights(*unit_keys(salt, unit_ids), n_replicates)``."""
    k1, k2 = unit_keys(salt, unit_ids)
    return poisson_weights(k1, k2, n_replicates)
