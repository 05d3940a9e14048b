"""The assignment hash: a unit's bucket in [0, 1) under an experiment's assignment salt.

Specified byte for byte so any engine can reproduce it: ``h = md5(utf8(salt + ":" + unit_id))``, the first
8 bytes read as a big-endian uint64 ``n``, ``bucket = n / 2**64``. The bootstrap weights use the same
construction under a *different* salt (``Experiment.bootstrap_salt``), so buckets and weights are independent.

>>> round(bucket("ctr_test", "alice"), 6)
0.780788
>>> bucket("ctr_test", "alice") == bucket("ctr_test", "alice")
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["bucket", "buckets"]

_TWO_64 = float(2**64)


def bucket(salt: str, unit_id: str) -> float:
    """The unit's position in [0, 1) under ``salt``."""
    digest = hashlib.md5(f"{salt}:{unit_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


def buckets(salt: str, unit_ids: Iterable[str]) -> npt.NDArray[np.float64]:
    """:func:`bucket` of many units as a float64 array."""
    prefix = salt.encode("utf-8") + b":"
    raw = b"".join(
        hashlib.md5(prefix + u.encode("utf-8"), usedforsecurity=False).digest()[:8] for u in unit_ids)
    return np.frombuffer(raw, dtype=">u8").astype(np.float64) / _TWO_64
