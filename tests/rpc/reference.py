"""An independent reference of rayab's assignment for tests: the hash and the range layout written from their
specification (rayab/assignment/hashing.py and allocation.py docstrings), sharing no code with the engine."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def position(salt: str, unit_id: str) -> float:
    """md5(salt:unit) -> top 53 bits of the first 8 bytes (big-endian) / 2**53."""
    digest = hashlib.md5(f"{salt}:{unit_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2**53


def expected_variant(salt: str, unit_id: str, variants: Sequence[tuple[str, float]], rollout_pct: float) -> str | None:
    """Variant i owns [start_i, start_i + coverage * w_i) with start_i the sum of the weights before it."""
    where = position(salt, unit_id)
    start = 0.0
    for variant_id, traffic_pct in variants:
        weight = traffic_pct / 100.0
        if start <= where < start + rollout_pct / 100.0 * weight:
            return variant_id
        start += weight
    return None


HALF = (("control", 50.0), ("treatment", 50.0))
