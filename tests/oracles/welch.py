"""Welch's t-test on sufficient statistics: absolute or relative (delta method) difference of two means.

The estimate is ``treatment - control`` (absolute) or ``(treatment - control) / |control|`` (relative). Standard
errors use each arm's own variance (unequal variances); the degrees of freedom are Welch-Satterthwaite's from the
per-arm variances of the means, also for the relative estimate. Relative variance by the delta method, arms
independent: ``var_t / (n_t m_c^2) + var_c m_t^2 / (n_c m_c^4)``.

Degenerate input is reported in ``error`` rather than raised; the numbers then take neutral values (estimate 0,
se 0, interval [0, 0], pvalue 1) so a dashboard shows "no evidence" instead of crashing:

* ``"too_few_units"``: an arm has fewer than 2 units,
* ``"zero_control_mean"``: a relative estimate with a control mean of 0,
* ``"zero_variance"``: the standard error is 0 (or not finite).

>>> control = SampleStats.from_values([1.0, 2.0, 3.0])
>>> treatment = SampleStats.from_values([1.1, 2.9, 4.2])
>>> result = welch_test(control, treatment)
>>> round(result.estimate, 4), round(result.statistic, 4), round(result.pvalue, 4), round(result.dof, 3)
(0.7333, 0.6865, 0.5362, 3.41)
>>> welch_test(control, SampleStats.from_values([5.0])).error
'too_few_units'
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from scipy import stats

from rayab.stats.arguments import Alternative, check_alternative, check_probability
from tests.oracles.moments import SampleStats

__all__ = [
    "Inference",
    "MeanVariance",
    "TTestError",
    "TTestResult",
    "compare_means",
    "t_inference",
    "welch_dof",
    "welch_test",
]

TTestError = Literal["too_few_units", "zero_control_mean", "zero_variance", "zero_denominator"]


class MeanVariance(NamedTuple):
    """One arm as a t-test sees it: the mean, the unit-level variance and the number of units."""

    mean: float
    variance: float
    n: int


class Inference(NamedTuple):
    """Test statistic, p-value and interval for an estimate with a t (or, with ``dof=inf``, normal) law."""

    statistic: float
    pvalue: float
    ci_lower: float
    ci_upper: float


class TTestResult(NamedTuple):
    """The comparison of a treatment arm with the control arm.

    Attributes:
        estimate: treatment minus control, divided by ``|control_mean|`` when ``relative``.
        se: standard error of ``estimate``.
        ci_lower: lower bound of the interval (``-inf`` for ``alternative="less"``).
        ci_upper: upper bound of the interval (``inf`` for ``alternative="greater"``).
        statistic: ``estimate / se``.
        dof: Welch-Satterthwaite degrees of freedom.
        pvalue: p-value of the null "no difference" against ``alternative``.
        control_mean: the control arm's mean (its ratio, for ratio metrics).
        treatment_mean: the treatment arm's mean (its ratio, for ratio metrics).
        relative: whether ``estimate`` is relative to the control mean.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
        confidence_level: the interval's confidence level.
        error: ``None``, or the code of the degeneracy that made the numbers neutral.
    """

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    statistic: float
    dof: float
    pvalue: float
    control_mean: float
    treatment_mean: float
    relative: bool
    alternative: Alternative
    confidence_level: float
    error: TTestError | None = None


def t_inference(estimate: float, se: float, dof: float, alternative: Alternative = "two-sided",
                confidence_level: float = 0.95) -> Inference:
    """The t statistic, p-value and interval of ``estimate`` with standard error ``se > 0``.

    >>> [round(x, 4) for x in t_inference(1.96, 1.0, math.inf)]
    [1.96, 0.05, 0.0, 3.92]
    """
    statistic = estimate / se
    law = stats.norm if math.isinf(dof) else stats.t(dof)
    if alternative == "two-sided":
        margin = float(law.isf((1.0 - confidence_level) / 2.0)) * se
        return Inference(statistic, float(2.0 * law.sf(abs(statistic))), estimate - margin, estimate + margin)
    margin = float(law.isf(1.0 - confidence_level)) * se
    if alternative == "greater":
        return Inference(statistic, float(law.sf(statistic)), estimate - margin, math.inf)
    return Inference(statistic, float(law.cdf(statistic)), -math.inf, estimate + margin)


def welch_dof(var_mean_control: float, var_mean_treatment: float, n_control: int, n_treatment: int) -> float:
    """Welch-Satterthwaite degrees of freedom from the variances of the two means (``variance / n``)."""
    numerator = (var_mean_control + var_mean_treatment) ** 2
    denominator = var_mean_control**2 / (n_control - 1) + var_mean_treatment**2 / (n_treatment - 1)
    return numerator / denominator if denominator > 0 else math.inf


def degenerate_result(control_mean: float, treatment_mean: float, error: TTestError, relative: bool,
                      alternative: Alternative, confidence_level: float) -> TTestResult:
    """The neutral result (estimate 0, interval [0, 0], pvalue 1) carrying ``error``."""
    return TTestResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, control_mean, treatment_mean, relative, alternative,
                       confidence_level, error)


def compare_means(control: MeanVariance, treatment: MeanVariance, *, relative: bool = False,
                  alternative: Alternative = "two-sided", confidence_level: float = 0.95) -> TTestResult:
    """Welch's test of ``treatment.mean - control.mean`` (relative to ``|control.mean|`` when ``relative``)."""
    alternative = check_alternative(alternative)
    confidence_level = check_probability("confidence_level", confidence_level)
    c, t = control, treatment
    error = _degeneracy(c, t, relative)
    if error is None:
        estimate, se = _relative_difference(c, t) if relative else (t.mean - c.mean, _se_absolute(c, t))
        if not se > 0 or not math.isfinite(se):
            error = "zero_variance"
    if error is not None:
        return degenerate_result(c.mean, t.mean, error, relative, alternative, confidence_level)
    dof = welch_dof(c.variance / c.n, t.variance / t.n, c.n, t.n)
    inference = t_inference(estimate, se, dof, alternative, confidence_level)
    return TTestResult(estimate, se, inference.ci_lower, inference.ci_upper, inference.statistic, dof,
                       inference.pvalue, c.mean, t.mean, relative, alternative, confidence_level)


def welch_test(control: SampleStats, treatment: SampleStats, *, relative: bool = False,
               alternative: Alternative = "two-sided", confidence_level: float = 0.95,
               ddof: Literal[0, 1] = 1) -> TTestResult:
    """Welch's test from the sufficient statistics of two arms.

    ``ddof=0`` uses the population variance, i.e. ``p(1 - p)`` for a 0/1 metric (GrowthBook's proportion rule).
    """
    return compare_means(MeanVariance(control.mean, control.var(ddof), control.n),
                         MeanVariance(treatment.mean, treatment.var(ddof), treatment.n),
                         relative=relative, alternative=alternative, confidence_level=confidence_level)


def _degeneracy(control: MeanVariance, treatment: MeanVariance, relative: bool) -> TTestError | None:
    if control.n < 2 or treatment.n < 2:
        return "too_few_units"
    if relative and control.mean == 0:
        return "zero_control_mean"
    return None


def _se_absolute(control: MeanVariance, treatment: MeanVariance) -> float:
    return math.sqrt(control.variance / control.n + treatment.variance / treatment.n)


def _relative_difference(control: MeanVariance, treatment: MeanVariance) -> tuple[float, float]:
    mc, mt = control.mean, treatment.mean
    variance = treatment.variance / (treatment.n * mc**2) + control.variance * mt**2 / (control.n * mc**4)
    return (mt - mc) / abs(mc), math.sqrt(variance)
