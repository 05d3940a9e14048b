"""CUPED: variance reduction with a pre-period covariate, in closed form from :class:`CupedStats`.

With ``theta = cov(y, x) / var(x)`` computed on both arms together (one slope for all arms, so the adjustment cannot
favour an arm), each arm's adjusted mean is ``mean_y - theta (mean_x - pooled mean_x)`` and the absolute estimate is
the difference of adjusted means, with per-arm unit variance ``var_y + theta^2 var_x - 2 theta cov_xy``.

The relative estimate divides by the *unadjusted* control mean ``|m_c|`` and, by the delta method, keeps the
covariance between the adjusted control mean and that denominator::

    var_rel = (v_t + th^2 vx_t - 2 th c_t) / (n_t m_c^2)
            + (v_c m_t^2 / m_c^2 - 2 th c_c m_t / m_c + th^2 vx_c) / (n_c m_c^2)

Degrees of freedom are Welch-Satterthwaite's on the adjusted variances. ``variance_reduction`` is
``1 - se^2 / se_unadjusted^2`` of the same (absolute or relative) estimate. Degenerate input gives the codes of
:mod:`tests.oracles.welch` in ``error``; a constant covariate is not an error, it just gives ``theta = 0``.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> x = rng.normal(10, 2, size=400)
>>> y = x + rng.normal(0, 1, size=400) + np.r_[np.zeros(200), np.full(200, 0.3)]
>>> result = cuped_test(CupedStats.from_values(y[:200], x[:200]), CupedStats.from_values(y[200:], x[200:]))
>>> round(result.theta, 2), result.variance_reduction > 0.7, result.pvalue < 0.05
(0.98, True, True)

Ratio metrics (:func:`cuped_ratio_test`) adjust the post-period ratio ``R = m / d`` with the pre-period ratio
``P = m_pre / d_pre``: per arm, the unit-level covariance of ``(R, P)`` is the delta-method ``G S G'`` with ``S`` the
4 x 4 covariance of ``(m, d, m_pre, d_pre)``; ``theta`` is the sum over arms of ``cov(R, P)`` over the sum of
``var(P)``, and the relative estimate's control term uses the exact gradient of
``((R_t - theta P_t) - (R_c - theta P_c)) / R_c`` with respect to ``(R_c, P_c)``.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from rayab.stats.arguments import Alternative, check_alternative, check_probability
from tests.oracles.moments import CupedRatioStats, CupedStats
from tests.oracles.welch import TTestError, t_inference, welch_dof

__all__ = ["CupedResult", "cuped_ratio_test", "cuped_test", "cuped_theta"]


class CupedResult(NamedTuple):
    """The CUPED-adjusted comparison of a treatment arm with the control arm.

    Attributes:
        estimate: adjusted treatment minus adjusted control, divided by ``|control_mean|`` when ``relative``.
        se: standard error of ``estimate``.
        ci_lower: lower bound of the interval (``-inf`` for ``alternative="less"``).
        ci_upper: upper bound of the interval (``inf`` for ``alternative="greater"``).
        statistic: ``estimate / se``.
        dof: Welch-Satterthwaite degrees of freedom of the adjusted variances.
        pvalue: p-value of the null "no difference" against ``alternative``.
        theta: the pooled regression slope of ``y`` on ``x``.
        variance_reduction: ``1 - se^2 / se_unadjusted^2``, the share of variance CUPED removed.
        control_mean: unadjusted control mean of ``y``.
        treatment_mean: unadjusted treatment mean of ``y``.
        control_mean_adjusted: ``control_mean - theta (control x mean - pooled x mean)``.
        treatment_mean_adjusted: the same for the treatment arm.
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
    theta: float
    variance_reduction: float
    control_mean: float
    treatment_mean: float
    control_mean_adjusted: float
    treatment_mean_adjusted: float
    relative: bool
    alternative: Alternative
    confidence_level: float
    error: TTestError | None = None


class _Arm(NamedTuple):
    n: int
    mean_y: float
    mean_x: float
    var_y: float
    var_x: float
    cov: float

    def adjusted_variance(self, theta: float) -> float:
        return max(self.var_y + theta**2 * self.var_x - 2.0 * theta * self.cov, 0.0)


def _arm(stats: CupedStats, ddof: int) -> _Arm:
    return _Arm(stats.n, stats.post.mean, stats.pre.mean, stats.post.var(ddof), stats.pre.var(ddof),
                stats.covariance(ddof))


def cuped_theta(control: CupedStats, treatment: CupedStats, ddof: Literal[0, 1] = 1) -> float:
    """``cov(y, x) / var(x)`` over both arms together; 0 when ``x`` is constant."""
    pooled = control + treatment
    var_x = pooled.pre.var(ddof)
    return pooled.covariance(ddof) / var_x if var_x > 0 else 0.0


def cuped_test(control: CupedStats, treatment: CupedStats, *, relative: bool = False,
               alternative: Alternative = "two-sided", confidence_level: float = 0.95,
               ddof: Literal[0, 1] = 1) -> CupedResult:
    """The CUPED-adjusted Welch test; ``ddof=0`` for 0/1 metrics (variances ``p(1 - p)``)."""
    alternative = check_alternative(alternative)
    confidence_level = check_probability("confidence_level", confidence_level)
    theta = cuped_theta(control, treatment, ddof) if control.n + treatment.n > ddof else 0.0
    c, t = _arm(control, ddof), _arm(treatment, ddof)
    pooled_x = (control.x_sum + treatment.x_sum) / max(control.n + treatment.n, 1)
    adjusted = (c.mean_y - theta * (c.mean_x - pooled_x), t.mean_y - theta * (t.mean_x - pooled_x))
    error = _degeneracy(c, t, relative)
    if error is None:
        estimate, se, se_unadjusted = _estimate(c, t, theta, relative)
        if not se > 0 or not math.isfinite(se):
            error = "zero_variance"
    if error is not None:
        return CupedResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, theta, 0.0, c.mean_y, t.mean_y, *adjusted,
                           relative, alternative, confidence_level, error)
    dof = welch_dof(c.adjusted_variance(theta) / c.n, t.adjusted_variance(theta) / t.n, c.n, t.n)
    inference = t_inference(estimate, se, dof, alternative, confidence_level)
    reduction = 1.0 - se**2 / se_unadjusted**2 if se_unadjusted > 0 else 0.0
    return CupedResult(estimate, se, inference.ci_lower, inference.ci_upper, inference.statistic, dof,
                       inference.pvalue, theta, reduction, c.mean_y, t.mean_y, *adjusted, relative,
                       alternative, confidence_level)


def _degeneracy(c: _Arm, t: _Arm, relative: bool) -> TTestError | None:
    if c.n < 2 or t.n < 2:
        return "too_few_units"
    if relative and c.mean_y == 0:
        return "zero_control_mean"
    return None


def _estimate(c: _Arm, t: _Arm, theta: float, relative: bool) -> tuple[float, float, float]:
    """``(estimate, se, se without adjustment)``."""
    difference = (t.mean_y - theta * t.mean_x) - (c.mean_y - theta * c.mean_x)
    if not relative:
        variance = c.adjusted_variance(theta) / c.n + t.adjusted_variance(theta) / t.n
        return difference, math.sqrt(variance), math.sqrt(c.var_y / c.n + t.var_y / t.n)
    return difference / abs(c.mean_y), math.sqrt(_relative_variance(c, t, theta)), \
        math.sqrt(_relative_variance(c, t, 0.0))


def _relative_variance(c: _Arm, t: _Arm, theta: float) -> float:
    mc, mt = c.mean_y, t.mean_y
    v_treatment = t.adjusted_variance(theta) / (t.n * mc**2)
    v_control = (c.var_y * mt**2 / mc**2 - 2.0 * theta * c.cov * mt / mc + theta**2 * c.var_x) / (c.n * mc**2)
    return max(v_treatment + v_control, 0.0)


class _RatioArm(NamedTuple):
    n: int
    post: float
    pre: float
    cov: npt.NDArray[np.float64]  # 2 x 2 unit-level covariance of (post ratio, pre ratio)

    def adjusted_variance(self, theta: float) -> float:
        return max(float(self.cov[0, 0] + theta**2 * self.cov[1, 1] - 2.0 * theta * self.cov[0, 1]), 0.0)


def _ratio_arm(stats: CupedRatioStats) -> _RatioArm:
    m, d, m_pre, d_pre = stats.sums / stats.n
    gradient = np.array([[1.0 / d, -m / d**2, 0.0, 0.0], [0.0, 0.0, 1.0 / d_pre, -m_pre / d_pre**2]])
    return _RatioArm(stats.n, m / d, m_pre / d_pre, gradient @ stats.covariance_matrix() @ gradient.T)


def _ratio_estimate(c: _RatioArm, t: _RatioArm, theta: float, relative: bool) -> tuple[float, float]:
    difference = (t.post - theta * t.pre) - (c.post - theta * c.pre)
    if not relative:
        return difference, math.sqrt(c.adjusted_variance(theta) / c.n + t.adjusted_variance(theta) / t.n)
    gradient = np.array([-(t.post - theta * t.pre + theta * c.pre) / c.post**2, theta / c.post])
    variance = t.adjusted_variance(theta) / (t.n * c.post**2) + float(gradient @ c.cov @ gradient) / c.n
    return difference / abs(c.post), math.sqrt(max(variance, 0.0))


def cuped_ratio_test(control: CupedRatioStats, treatment: CupedRatioStats, *, relative: bool = False,
                     alternative: Alternative = "two-sided", confidence_level: float = 0.95) -> CupedResult:
    """The CUPED-adjusted Welch test of a ratio metric; a zero (pre-)denominator gives ``"zero_denominator"``."""
    alternative = check_alternative(alternative)
    confidence_level = check_probability("confidence_level", confidence_level)
    nan = math.nan
    error: TTestError | None = None
    if control.n < 2 or treatment.n < 2:
        error = "too_few_units"
    elif 0.0 in (control.d_sum, treatment.d_sum, control.d_pre_sum, treatment.d_pre_sum):
        error = "zero_denominator"
    elif relative and control.m_sum == 0:
        error = "zero_control_mean"
    if error is not None:
        return CupedResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, nan, nan, nan, nan, relative,
                           alternative, confidence_level, error)
    c, t = _ratio_arm(control), _ratio_arm(treatment)
    var_pre = float(c.cov[1, 1] + t.cov[1, 1])
    theta = float(c.cov[0, 1] + t.cov[0, 1]) / var_pre if var_pre > 0 else 0.0
    estimate, se = _ratio_estimate(c, t, theta, relative)
    se_unadjusted = _ratio_estimate(c, t, 0.0, relative)[1]
    pooled_pre = (control.m_pre_sum + treatment.m_pre_sum) / (control.d_pre_sum + treatment.d_pre_sum)
    adjusted = (c.post - theta * (c.pre - pooled_pre), t.post - theta * (t.pre - pooled_pre))
    if not se > 0 or not math.isfinite(se):
        return CupedResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, theta, 0.0, c.post, t.post, *adjusted, relative,
                           alternative, confidence_level, "zero_variance")
    dof = welch_dof(c.adjusted_variance(theta) / c.n, t.adjusted_variance(theta) / t.n, c.n, t.n)
    inference = t_inference(estimate, se, dof, alternative, confidence_level)
    reduction = 1.0 - se**2 / se_unadjusted**2 if se_unadjusted > 0 else 0.0
    return CupedResult(estimate, se, inference.ci_lower, inference.ci_upper, inference.statistic, dof,
                       inference.pvalue, theta, reduction, c.post, t.post, *adjusted, relative, alternative,
                       confidence_level)
