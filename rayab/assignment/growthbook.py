"""GrowthBook-compatible bucketing, so teams moving from GrowthBook keep every unit's assignment.

An experiment with ``hash_mode: growthbook`` uses these functions instead of the md5 bucket. The behaviour is
pinned by the cross-SDK conformance cases of GrowthBook (``tests/reference/growthbook_sdk_cases_subset.json``,
from github.com/growthbook/growthbook-python ``tests/cases.json``, MIT licence); this is an independent
implementation of the behaviour those cases describe:

- ``fnv1a32``: 32-bit FNV-1a (offset basis 0x811C9DC5, prime 0x01000193) over the UTF-16 code units of the
  text, as the JavaScript SDK reads strings (identical to reading code points for every character of the
  Basic Multilingual Plane).
- ``gb_hash`` version 1: ``fnv1a32(value + seed) % 1000 / 1000``; version 2:
  ``fnv1a32(decimal(fnv1a32(seed + value))) % 10000 / 10000``; any other version has no hash (None).
- ``bucket_ranges``: coverage is clamped to [0, 1]; weights are replaced by equal weights when missing, of the
  wrong length, or summing outside [0.99, 1.01]; variation ``i`` owns ``[c_i, c_i + coverage * w_i)`` where
  ``c_i`` is the sum of the weights before it (the same coverage-monotone layout as rayab's own ranges).
- ``in_namespace``: ``gb_hash("__" + namespace_id, unit, 1)`` falls in ``[start, end)``; rayab maps a layer
  to a namespace with the layer's name as id.

>>> gb_hash("", "a", 1), gb_hash("seed", "a", 2), gb_hash("abc", "def", 99)
(0.22, 0.0505, None)
>>> bucket_ranges(3, 0.2, [0.2, 0.3, 0.5])[0]
(0.0, 0.04000000000000001)
>>> run({"key": "my-test", "variations": [0, 1]}, {"id": "1"})
RunResult(value=1, variation_id=1, in_experiment=True, hash_used=True)
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "RunResult",
    "bucket_ranges",
    "choose_variation",
    "equal_weights",
    "fnv1a32",
    "gb_hash",
    "in_namespace",
    "run",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text`` read as UTF-16 code units.

    >>> hex(fnv1a32("")), hex(fnv1a32("a"))
    ('0x811c9dc5', '0xe40c292c')
    """
    if text.isascii():
        units: Sequence[int] = text.encode("ascii")
    else:
        data = text.encode("utf-16-le")
        units = struct.unpack(f"<{len(data) // 2}H", data)
    value = _FNV_OFFSET
    for unit in units:
        value = ((value ^ unit) * _FNV_PRIME) & _MASK32
    return value


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """The unit's position in [0, 1) for hash ``version`` 1 or 2; None for any other version."""
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    return None


def equal_weights(n_variations: int) -> list[float]:
    """``n_variations`` equal weights summing to 1 (none for fewer than one variation).

    >>> equal_weights(4), equal_weights(0)
    ([0.25, 0.25, 0.25, 0.25], [])
    """
    return [1.0 / n_variations] * n_variations if n_variations >= 1 else []


def bucket_ranges(n_variations: int, coverage: float,
                  weights: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """Half-open ranges of each variation, after GrowthBook's coverage and weight normalisation."""
    coverage = min(max(coverage, 0.0), 1.0)
    if weights is None or len(weights) != n_variations or not 0.99 <= math.fsum(weights) <= 1.01:
        weights = equal_weights(n_variations)
    ranges = []
    cumulative = 0.0
    for weight in weights:
        ranges.append((cumulative, cumulative + coverage * weight))
        cumulative += weight
    return ranges


def choose_variation(position: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the first range with ``start <= position < end``, else -1.

    >>> choose_variation(0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)])
    2
    """
    for i, (start, end) in enumerate(ranges):
        if start <= position < end:
            return i
    return -1


def in_namespace(unit_id: str, namespace: tuple[str, float, float]) -> bool:
    """Whether the unit falls in ``(namespace_id, start, end)``.

    >>> in_namespace("1", ("namespace1", 0.4, 1))
    True
    """
    namespace_id, start, end = namespace
    position = gb_hash("__" + namespace_id, unit_id, 1)
    return position is not None and start <= position < end


class RunResult(NamedTuple):
    """Outcome of :func:`run`: the served value, the variation index, and whether the unit was hashed in."""

    value: Any
    variation_id: int
    in_experiment: bool
    hash_used: bool


def run(experiment: Mapping[str, Any], attributes: Mapping[str, Any]) -> RunResult:
    """Run a plain experiment (``key``, ``variations`` and optionally ``weights``, ``coverage``, ``seed``,
    ``hashVersion``, ``hashAttribute``, ``namespace``) for a unit described by ``attributes``.

    A unit outside the experiment (fewer than 2 variations, no usable id, outside the namespace or the
    coverage, unknown hash version) is served variation 0 with ``in_experiment`` false.
    """
    variations = list(experiment["variations"])
    outside = RunResult(variations[0] if variations else None, 0, False, False)
    raw_id = attributes.get(experiment.get("hashAttribute") or "id")
    if len(variations) < 2 or raw_id is None or raw_id == "":
        return outside
    unit_id = str(raw_id)
    namespace = experiment.get("namespace")
    if namespace and not in_namespace(unit_id, (namespace[0], namespace[1], namespace[2])):
        return outside
    seed = experiment.get("seed") or experiment["key"]
    position = gb_hash(seed, unit_id, experiment.get("hashVersion") or 1)
    if position is None:
        return outside
    ranges = bucket_ranges(len(variations), experiment.get("coverage", 1.0), experiment.get("weights"))
    index = choose_variation(position, ranges)
    if index < 0:
        return outside
    return RunResult(variations[index], index, True, True)
