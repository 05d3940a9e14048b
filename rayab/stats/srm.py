"""Sample-ratio mismatch (SRM): are units spread over the arms as the design weights say?

Two tests on unit counts per arm against design weights; arms with weight 0 are dropped (their units say nothing
about the split of the others), the remaining weights are renormalised:

* :func:`srm_test`, Pearson's chi-square goodness of fit with ``arms - 1`` degrees of freedom, for one look. With
  fewer than 2 arms or no units there is nothing to test: pvalue 1 and ``error`` says why. A mismatch is flagged
  when ``pvalue < threshold`` (default :data:`DEFAULT_SRM_THRESHOLD`) and, optionally, the largest relative
  deviation ``|observed / expected - 1|`` reaches ``min_relative_deviation`` (so huge samples do not flag
  immaterial drifts).
* :func:`sequential_srm_test`, an anytime-valid test that may be repeated on the cumulative counts every hour:
  the Bayes factor of a Dirichlet-multinomial mixture against the design multinomial is a nonnegative martingale
  under the null, so ``p = min(1, 1 / max BF over looks)`` is a valid p-value at any (data-dependent) look (the
  multinomial sequential test of Lindon & Malek, "Anytime-valid inference for multinomial count data", 2022).
  The weights must stay fixed over the looks.

>>> round(srm_test([1000, 1200], [0.5, 0.5]).pvalue, 10)
2.00787e-05
>>> srm_test([500, 500], [0.5, 0.5]).mismatch
False
>>> look1 = sequential_srm_test([510, 490], [0.5, 0.5])
>>> look2 = sequential_srm_test([1300, 1000], [0.5, 0.5], previous_pvalue=look1.pvalue)
>>> look1.pvalue == 1.0, look2.pvalue < 0.001
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from rayab.errors import ValidationError
from rayab.stats.arguments import check_count, check_finite, check_positive, check_probability

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "SequentialSrmResult",
    "SrmError",
    "SrmResult",
    "sequential_srm_test",
    "srm_log_bayes_factor",
    "srm_test",
]

DEFAULT_SRM_THRESHOLD = 0.001
SrmError = Literal["too_few_arms", "no_units"]


class SrmResult(NamedTuple):
    """A chi-square SRM test.

    Attributes:
        statistic: Pearson's chi-square over the arms with weight > 0.
        dof: arms with weight > 0, minus 1.
        pvalue: upper tail of chi-square with ``dof`` degrees of freedom (1 when ``error``).
        max_relative_deviation: largest ``|observed / expected - 1|`` over the kept arms.
        mismatch: ``pvalue < threshold`` and ``max_relative_deviation >= min_relative_deviation``.
        threshold: the p-value threshold used.
        n_units: units in the kept arms.
        error: ``None``, ``"too_few_arms"`` or ``"no_units"``.
    """

    statistic: float
    dof: int
    pvalue: float
    max_relative_deviation: float
    mismatch: bool
    threshold: float
    n_units: int
    error: SrmError | None = None


class SequentialSrmResult(NamedTuple):
    """An anytime-valid SRM test at one look.

    Attributes:
        bayes_factor: the Dirichlet-multinomial mixture against the design multinomial at this look (an e-value).
        pvalue: ``min(previous_pvalue, 1 / bayes_factor, 1)``: valid however many looks were taken.
        mismatch: ``pvalue < alpha``.
        alpha: the level used.
        n_units: units in the kept arms.
        error: ``None``, ``"too_few_arms"`` or ``"no_units"``.
    """

    bayes_factor: float
    pvalue: float
    mismatch: bool
    alpha: float
    n_units: int
    error: SrmError | None = None


def _kept_arms(counts: Sequence[int], weights: Sequence[float]) -> tuple[npt.NDArray[np.int64],
                                                                            npt.NDArray[np.float64]]:
    """Counts and renormalised weights of the arms with weight > 0."""
    if len(counts) != len(weights):
        raise ValidationError("counts", list(counts), f"must have one count per weight ({len(weights)})")
    n = np.array([check_count(f"counts[{i}]", c) for i, c in enumerate(counts)], dtype=np.int64)
    w = np.array([check_finite(f"weights[{i}]", x) for i, x in enumerate(weights)], dtype=np.float64)
    if (w < 0).any() or not (w > 0).any():
        raise ValidationError("weights", list(weights), "must be >= 0 with at least one > 0")
    keep = w > 0
    return n[keep], w[keep] / w[keep].sum()


def _error(counts: npt.NDArray[np.int64]) -> SrmError | None:
    if len(counts) < 2:
        return "too_few_arms"
    return "no_units" if counts.sum() == 0 else None


def srm_test(counts: Sequence[int], weights: Sequence[float], *, threshold: float = DEFAULT_SRM_THRESHOLD,
             min_relative_deviation: float = 0.0) -> SrmResult:
    """Pearson's chi-square test of unit ``counts`` per arm against design ``weights``."""
    threshold = check_probability("threshold", threshold)
    if min_relative_deviation < 0 or not math.isfinite(min_relative_deviation):
        raise ValidationError("min_relative_deviation", min_relative_deviation, "must be a finite number >= 0")
    n, p = _kept_arms(counts, weights)
    error = _error(n)
    if error is not None:
        return SrmResult(0.0, max(len(n) - 1, 0), 1.0, 0.0, False, threshold, int(n.sum()), error)
    expected = n.sum() * p
    statistic = float(((n - expected) ** 2 / expected).sum())
    pvalue = float(stats.chi2.sf(statistic, len(n) - 1))
    deviation = float(np.abs(n / expected - 1.0).max())
    mismatch = pvalue < threshold and deviation >= min_relative_deviation
    return SrmResult(statistic, len(n) - 1, pvalue, deviation, mismatch, threshold, int(n.sum()))


def srm_log_bayes_factor(counts: npt.ArrayLike, probabilities: npt.ArrayLike,
                         concentration: float = 100.0) -> npt.NDArray[np.float64]:
    """Log Bayes factor of a Dirichlet(``concentration * probabilities``)-multinomial against the multinomial.

    ``counts`` has the arms on its last axis (any leading shape, e.g. runs x looks); ``probabilities`` are the
    design weights of those arms, summing to 1. The multinomial coefficient cancels, leaving
    ``log B(a + x) - log B(a) - sum x log p`` with ``B`` the multivariate beta function and ``a`` the prior.
    """
    x = np.asarray(counts, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    a = concentration * p
    log_mixture = (special.gammaln(a.sum()) - special.gammaln(a.sum() + x.sum(axis=-1))
                   + (special.gammaln(a + x) - special.gammaln(a)).sum(axis=-1))
    log_null = (x * np.log(p)).sum(axis=-1)
    return np.asarray(log_mixture - log_null, dtype=np.float64)


def sequential_srm_test(counts: Sequence[int], weights: Sequence[float], *, alpha: float = DEFAULT_SRM_THRESHOLD,
                        concentration: float = 100.0, previous_pvalue: float = 1.0) -> SequentialSrmResult:
    """Anytime-valid SRM test on cumulative ``counts``; pass the last look's ``pvalue`` as ``previous_pvalue``.

    ``concentration`` is the prior's total pseudo-count around the design weights: larger values spend more of
    the test's power on small mismatches, which then take more units to detect.
    """
    alpha = check_probability("alpha", alpha)
    concentration = check_positive("concentration", concentration)
    if not 0.0 < previous_pvalue <= 1.0:
        raise ValidationError("previous_pvalue", previous_pvalue, "must be in (0, 1]")
    n, p = _kept_arms(counts, weights)
    error = _error(n)
    if error is not None:
        return SequentialSrmResult(1.0, previous_pvalue, previous_pvalue < alpha, alpha, int(n.sum()), error)
    log_bf = float(srm_log_bayes_factor(n, p, concentration))
    pvalue = min(previous_pvalue, math.exp(-log_bf) if log_bf > 0 else 1.0)
    return SequentialSrmResult(math.exp(min(log_bf, 700.0)), pvalue, pvalue < alpha, alpha, int(n.sum()))
