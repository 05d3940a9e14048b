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
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["bucket", "buckets", "digest_position", "md5"]

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
    prefix = salt.encode("utf-8") + b":"
    # whole digests, then every other big-endian word: cheaper than slicing each digest in Python
    raw = b"".join([md5(prefix + u.encode("utf-8")).digest() for u in unit_ids])
    top = np.frombuffer(raw, dtype=">u8")[::2].astype(np.uint64) >> np.uint64(11)
    return top.astype(np.float64) / _TWO_53
