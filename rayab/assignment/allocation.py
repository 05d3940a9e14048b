"""Coverage-monotone variant ranges and the choice of a variant from a bucket.

Variant ``i`` owns ``[start_i, start_i + coverage * w_i)`` with ``start_i`` the sum of the full weights before it.
Raising ``coverage`` (the rollout) only widens every range from its fixed start, so it only **adds** units: nobody
changes variant during 1% -> 5% -> ... -> 100%. Changing weights moves range starts, which is why it must be a new
phase with a new salt.

>>> ranges = variant_ranges([0.5, 0.5], coverage=0.1)
>>> ranges
((0.0, 0.05), (0.5, 0.55))
>>> choose_variant(0.52, ranges), choose_variant(0.3, ranges)
(1, -1)
"""

from __future__ import annotations

from collections.abc import Sequence

from rayab.assignment.hashing import bucket
from rayab.model.experiment import Experiment

__all__ = ["assign_variant", "choose_variant", "variant_ranges"]


def variant_ranges(weights: Sequence[float], coverage: float) -> tuple[tuple[float, float], ...]:
    """Half-open ranges ``[start_i, start_i + coverage * w_i)`` for weights summing to 1."""
    ranges = []
    start = 0.0
    for weight in weights:
        ranges.append((start, start + coverage * weight))
        start += weight
    return tuple(ranges)


def choose_variant(position: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the range holding ``position``, or -1 if none does (the unit is not in the rollout)."""
    for i, (low, high) in enumerate(ranges):
        if low <= position < high:
            return i
    return -1


def assign_variant(experiment: Experiment, unit_id: str) -> str | None:
    """The variant id a unit gets in ``experiment``, or None when it falls outside the rollout."""
    weights = [v.traffic_pct / 100.0 for v in experiment.variants]
    index = choose_variant(bucket(experiment.assignment_salt, unit_id),
                           variant_ranges(weights, experiment.coverage))
    return None if index < 0 else experiment.variants[index].variant_id
