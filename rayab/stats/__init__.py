"""Pure numpy/scipy statistics: Poisson bootstrap weights, replicate sums, intervals and tests."""

from __future__ import annotations

from rayab.stats.poisson_weights import MAX_WEIGHT, POISSON_THRESHOLDS, poisson_weights, unit_keys, weights_for
from rayab.stats.replicate_sums import replicate_sums

__all__ = ["MAX_WEIGHT", "POISSON_THRESHOLDS", "poisson_weights", "replicate_sums", "unit_keys", "weights_for"]
