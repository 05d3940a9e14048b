"""Asymptotic confidence sequences: intervals that may be looked at after every hour without inflating errors.

The normal-mixture boundary of Waudby-Smith et al., "Time-uniform central limit theory and asymptotic confidence
sequences" (2023), in the form GrowthBook and Eppo document. For an estimate with standard error ``se`` after ``n``
units, the unit-level standard deviation is ``sigma = se sqrt(n)`` and the interval is
``estimate +/- sigma * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * log(sqrt(n rho^2 + 1) / alpha))``, which holds
simultaneously for all ``n`` with probability about ``1 - alpha``. The mixing parameter ``rho`` makes the
boundary tightest at a planned sample size ``n*``: ``rho^2 = (-2 log alpha + log(1 - 2 log alpha)) / n*``.

The always-valid p-value is the smallest ``alpha`` whose sequence excludes 0 (with ``rho`` fixed by the design):
``min(1, sqrt(n rho^2 + 1) exp(-z^2 n rho^2 / (2 (n rho^2 + 1))))`` with ``z = estimate / se``.

>>> cs = confidence_sequence(0.5, 0.1, 10_000, planned_n=10_000)
>>> round(cs.ci_lower, 4), round(cs.ci_upper, 4), cs.pvalue < 0.05
(0.1965, 0.8035, True)
>>> cs.ci_upper - cs.ci_lower > 2 * 1.96 * 0.1
True
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from rayab.stats.arguments import check_count, check_finite, check_positive, check_probability

__all__ = ["ConfidenceSequence", "SequentialError", "confidence_sequence", "mixture_rho"]

SequentialError = Literal["too_few_units", "zero_variance"]


class ConfidenceSequence(NamedTuple):
    """A confidence sequence at one look.

    Attributes:
        estimate: the estimate at this look.
        se: its standard error.
        ci_lower: lower bound, valid uniformly over looks.
        ci_upper: upper bound, valid uniformly over looks.
        pvalue: always-valid p-value of the null "estimate is 0".
        n: units behind the estimate.
        rho: the mixing parameter.
        confidence_level: ``1 - alpha``.
        error: ``None``, ``"too_few_units"`` (``n < 2``) or ``"zero_variance"``; then the interval is
            ``[estimate, estimate]`` and the pvalue 1.
    """

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pvalue: float
    n: int
    rho: float
    confidence_level: float
    error: SequentialError | None = None


def mixture_rho(planned_n: float, alpha: float = 0.05) -> float:
    """The ``rho`` that makes the boundary tightest near ``planned_n`` units at level ``alpha``."""
    alpha = check_probability("alpha", alpha)
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(1.0 + log_term)) / check_positive("planned_n", planned_n))


def confidence_sequence(estimate: float, se: float, n: int, *, planned_n: float,
                        confidence_level: float = 0.95) -> ConfidenceSequence:
    """The asymptotic confidence sequence of ``estimate`` (standard error ``se``, ``n`` units) at this look."""
    alpha = 1.0 - check_probability("confidence_level", confidence_level)
    estimate, se = check_finite("estimate", estimate), check_finite("se", se)
    n = check_count("n", n)
    rho = mixture_rho(planned_n, alpha)
    error: SequentialError | None = "too_few_units" if n < 2 else ("zero_variance" if se <= 0 else None)
    if error is not None:
        return ConfidenceSequence(estimate, se, estimate, estimate, 1.0, n, rho, confidence_level, error)
    n_rho2 = n * rho**2
    sigma = se * math.sqrt(n)
    margin = sigma * math.sqrt(2.0 * (n_rho2 + 1.0) / (n * n_rho2) * math.log(math.sqrt(n_rho2 + 1.0) / alpha))
    z = estimate / se
    log_p = 0.5 * math.log(n_rho2 + 1.0) - z**2 * n_rho2 / (2.0 * (n_rho2 + 1.0))
    pvalue = math.exp(min(log_p, 0.0))
    return ConfidenceSequence(estimate, se, estimate - margin, estimate + margin, pvalue, n, rho,
                              confidence_level)
