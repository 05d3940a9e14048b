"""Coverage-monotone variant ranges and the choice of a variant from a bucket.

Variant ``i`` owns ``[start_i, start_i + coverage * w_i)`` with ``start_i`` the sum of the full weights
before it. Raising ``coverage`` (the rollout) only widens every range from its fixed start, so it only
**adds** units: nobody changes variant during 1% -> 5% -> ... -> 100%. Changing weights moves range starts,
which is why it must be a new phase with a new salt.

A unit's position is the md5 :func:`~rayab.assignment.hashing.bucket` of the experiment's ``assignment_salt``,
or, for ``hash_mode: growthbook``, GrowthBook's hash with the salt as seed
(:mod:`rayab.assignment.growthbook`); the ranges are the same in both modes.

>>> ranges = variant_ranges([0.5, 0.5], coverage=0.1)
>>> ranges
((0.0, 0.05), (0.5, 0.55))
>>> choose_variant(0.52, ranges), choose_variant(0.3, ranges)
(1, -1)
"""

from __future__ import annotations

from collections.abc import Sequence

from rayab.assignment.growthbook import gb_hash
from rayab.assignment.hashing import bucket
from rayab.model.experiment import Experiment

__all__ = ["assign_variant", "choose_variant", "experiment_ranges", "unit_position", "variant_ranges"]


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


def experiment_ranges(experiment: Experiment) -> tuple[tuple[float, float], ...]:
    """The variant ranges of ``experiment`` at its current rollout."""
    return variant_ranges([v.traffic_pct / 100.0 for v in experiment.variants], experiment.coverage)


def unit_position(experiment: Experiment, hash_id: str) -> float:
    """The position in [0, 1) of ``hash_id`` in ``experiment`` (md5 bucket, or GrowthBook's in that mode)."""
    if experiment.hash_mode == "growthbook":
        position = gb_hash(experiment.assignment_salt, hash_id, experiment.hash_version)
        assert position is not None  # hash_version is validated to be 1 or 2
        return position
    return bucket(experiment.assignment_salt, hash_id)


def assign_variant(experiment: Experiment, unit_id: str) -> str | None:
    """The variant id a unit gets in ``experiment``, or None when it falls outside the rollout.

    Hash and rollout only: :class:`rayab.assignment.engine.Assigner` adds status, targeting, layers and
    consistency modes on top.
    """
    index = choose_variant(unit_position(experiment, unit_id), experiment_ranges(experiment))
    return None if index < 0 else experiment.variants[index].variant_id
