"""Ratio metrics ``sum(m) / sum(d)`` by the delta method, tested with Welch's t-test.

Per arm, the unit-level variance of the ratio ``R = mean(m) / mean(d)`` is linearised around the means
(sample moments, ``n - 1``)::

    var_R = var_m / d^2 + var_d m^2 / d^4 - 2 cov_md m / d^3        (m, d: the arm's means)

so ``var_R / n`` is the variance of the arm's ratio, and the two arms are compared like means with that variance
(:func:`tests.oracles.welch.compare_means`). An arm whose denominator sums to 0 has no ratio: the result carries
``error="zero_denominator"`` and neutral numbers (estimate 0, pvalue 1).

>>> control = RatioStats.from_values([1.0, 0.0, 2.0, 1.0], [2.0, 1.0, 3.0, 2.0])
>>> treatment = RatioStats.from_values([2.0, 1.0, 2.0, 1.0], [2.0, 2.0, 3.0, 1.0])
>>> result = ratio_test(control, treatment)
>>> round(result.control_mean, 4), round(result.treatment_mean, 4), round(result.estimate, 4)
(0.5, 0.75, 0.25)
>>> ratio_test(RatioStats(n=3, m_sum=1.0, m_sum_squares=1.0), treatment).error
'zero_denominator'
"""

from __future__ import annotations

from rayab.stats.arguments import Alternative, check_alternative, check_probability
from tests.oracles.moments import RatioStats
from tests.oracles.welch import MeanVariance, TTestResult, compare_means, degenerate_result

__all__ = ["ratio_mean_variance", "ratio_test", "ratio_variance"]


def ratio_variance(stats: RatioStats) -> float:
    """The delta-method unit-level variance of the arm's ratio (NaN when ``d_sum == 0``)."""
    if stats.d_sum == 0:
        return float("nan")
    m = stats.m_sum / stats.n
    d = stats.d_sum / stats.n
    var_m, var_d, cov = stats.numerator.variance, stats.denominator.variance, stats.covariance()
    return max(var_m / d**2 + var_d * m**2 / d**4 - 2.0 * cov * m / d**3, 0.0)


def ratio_mean_variance(stats: RatioStats) -> MeanVariance:
    """The arm as a t-test sees it: its ratio, the delta-method variance and its units."""
    return MeanVariance(stats.ratio, ratio_variance(stats), stats.n)


def ratio_test(control: RatioStats, treatment: RatioStats, *, relative: bool = False,
               alternative: Alternative = "two-sided", confidence_level: float = 0.95) -> TTestResult:
    """Welch's test of the treatment ratio against the control ratio (relative to it when ``relative``)."""
    alternative = check_alternative(alternative)
    confidence_level = check_probability("confidence_level", confidence_level)
    if control.d_sum == 0 or treatment.d_sum == 0:
        return degenerate_result(control.ratio, treatment.ratio, "zero_denominator", relative, alternative,
                                 confidence_level)
    return compare_means(ratio_mean_variance(control), ratio_mean_variance(treatment), relative=relative,
                         alternative=alternative, confidence_level=confidence_level)
