"""Power, minimum detectable effect (MDE), sample size and duration of a two-sample test of means.

The planning functions use the normal approximation of the test of a difference of means with a known unit
variance, two-sided unless told otherwise; the power of a two-sided test counts both rejection tails. Several KPIs
(or several treatment arms) are planned with Bonferroni: each test runs at ``alpha / n_tests``.

* :func:`power_two_sample`, :func:`minimum_detectable_effect`, :func:`sample_size`, :func:`duration_days` and
  :func:`plan_experiment` (all KPIs at once) work on absolute effects;
* :func:`relative_power` and :func:`relative_minimum_detectable_effect` work on effects relative to the control
  mean, with the delta-method variance of the Welch test;
* :func:`normal_power`, :func:`t_power` and :func:`chisquare_power` are the standardised textbook powers (normal,
  noncentral t, noncentral chi-square) for effect sizes in standard-deviation units (Cohen's d and w).

>>> round(power_two_sample(0.3, 100.0, 19_952, 19_952), 3)
0.85
>>> sample_size(0.3, 100.0, power=0.85)
SampleSize(n_total=39904, n_control=19952, n_treatment=19952)
>>> duration_days(39_904, units_per_day=5_000)
8
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.arguments import (
    Alternative,
    check_alternative,
    check_count,
    check_finite,
    check_positive,
    check_probability,
)

__all__ = [
    "Kpi",
    "SamplePlan",
    "SampleSize",
    "chisquare_power",
    "duration_days",
    "minimum_detectable_effect",
    "normal_power",
    "plan_experiment",
    "power_two_sample",
    "relative_minimum_detectable_effect",
    "relative_power",
    "sample_size",
    "t_power",
]


class SampleSize(NamedTuple):
    """Units needed: in total (over every arm) and in the two compared arms."""

    n_total: int
    n_control: int
    n_treatment: int


class Kpi(NamedTuple):
    """A key metric to plan for: the absolute effect to detect and the unit-level variance."""

    name: str
    effect: float
    variance: float


class SamplePlan(NamedTuple):
    """A plan for equal arms that detects every KPI's effect with the asked power.

    Attributes:
        n_per_arm: units in each arm.
        n_total: ``n_per_arm * n_arms``.
        duration_days: days to collect ``n_total`` units.
        alpha_per_test: ``alpha / n_tests`` (Bonferroni).
        n_tests: KPIs times treatment arms.
        binding_metric: the KPI that needs the most units.
    """

    n_per_arm: int
    n_total: int
    duration_days: int
    alpha_per_test: float
    n_tests: int
    binding_metric: str


def _z_crit(alpha: float, alternative: Alternative) -> float:
    return float(stats.norm.isf(alpha / 2.0 if alternative == "two-sided" else alpha))


def _normal_power_z(shift: float, alpha: float, alternative: Alternative) -> float:
    """Power of a z-test whose statistic is N(``shift``, 1) under the alternative."""
    z = _z_crit(alpha, alternative)
    if alternative == "greater":
        return float(stats.norm.sf(z - shift))
    if alternative == "less":
        return float(stats.norm.cdf(-z - shift))
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))


def normal_power(effect_size: float, nobs1: float, nobs2: float | None = None, *, alpha: float = 0.05,
                 alternative: Alternative = "two-sided") -> float:
    """Power of a z-test for a standardised effect; one-sample when ``nobs2`` is ``None``."""
    alpha = check_probability("alpha", alpha)
    alternative = check_alternative(alternative)
    inverse_n = 1.0 / check_positive("nobs1", nobs1) + (0.0 if nobs2 is None else 1.0 / check_positive("nobs2", nobs2))
    return _normal_power_z(check_finite("effect_size", effect_size) / math.sqrt(inverse_n), alpha, alternative)


def t_power(effect_size: float, nobs1: float, nobs2: float | None = None, *, alpha: float = 0.05,
            alternative: Alternative = "two-sided") -> float:
    """Power of Student's t-test (noncentral t) for Cohen's d; one-sample when ``nobs2`` is ``None``."""
    alpha = check_probability("alpha", alpha)
    alternative = check_alternative(alternative)
    d, n1 = check_finite("effect_size", effect_size), check_positive("nobs1", nobs1)
    if nobs2 is None:
        dof, ncp = n1 - 1.0, d * math.sqrt(n1)
    else:
        n2 = check_positive("nobs2", nobs2)
        dof, ncp = n1 + n2 - 2.0, d * math.sqrt(n1 * n2 / (n1 + n2))
    crit = float(stats.t.isf(alpha / 2.0 if alternative == "two-sided" else alpha, dof))
    upper, lower = float(stats.nct.sf(crit, dof, ncp)), float(stats.nct.cdf(-crit, dof, ncp))
    return {"greater": upper, "less": lower, "two-sided": upper + lower}[alternative]


def chisquare_power(effect_size: float, nobs: float, dof: int, *, alpha: float = 0.05) -> float:
    """Power of a chi-square test with ``dof`` degrees of freedom for Cohen's w (noncentrality ``nobs w^2``)."""
    alpha = check_probability("alpha", alpha)
    dof = check_count("dof", dof, low=1)
    ncp = check_positive("nobs", nobs) * check_finite("effect_size", effect_size) ** 2
    return float(stats.ncx2.sf(stats.chi2.isf(alpha, dof), dof, ncp))


def power_two_sample(effect: float, variance: float, n_control: float, n_treatment: float, *,
                     alpha: float = 0.05, n_tests: int = 1, alternative: Alternative = "two-sided") -> float:
    """Power to detect an absolute ``effect`` on a metric with unit ``variance`` (normal approximation)."""
    alpha = check_probability("alpha", alpha) / check_count("n_tests", n_tests, low=1)
    sd = math.sqrt(check_positive("variance", variance))
    return normal_power(effect / sd, n_control, n_treatment, alpha=alpha, alternative=alternative)


def minimum_detectable_effect(variance: float, n_control: float, n_treatment: float, *, alpha: float = 0.05,
                              power: float = 0.8, n_tests: int = 1) -> float:
    """The absolute effect a two-sided test detects with ``power`` (the far rejection tail neglected)."""
    alpha = check_probability("alpha", alpha) / check_count("n_tests", n_tests, low=1)
    z = _z_crit(alpha, "two-sided") + float(stats.norm.ppf(check_probability("power", power)))
    variance = check_positive("variance", variance)
    inverse_n = 1.0 / check_positive("n_control", n_control) + 1.0 / check_positive("n_treatment", n_treatment)
    return z * math.sqrt(variance * inverse_n)


def sample_size(effect: float, variance: float, *, alpha: float = 0.05, power: float = 0.8, n_tests: int = 1,
                control_share: float = 0.5, treatment_share: float = 0.5) -> SampleSize:
    """Units for a two-sided test to detect an absolute ``effect`` with ``power``.

    The compared arms get ``control_share`` and ``treatment_share`` of all units (other arms, if any, the rest),
    so ``n_total`` counts every arm.
    """
    alpha = check_probability("alpha", alpha) / check_count("n_tests", n_tests, low=1)
    shares = check_probability("control_share", control_share), check_probability("treatment_share", treatment_share)
    if shares[0] + shares[1] > 1.0 + 1e-12:
        raise ValidationError("treatment_share", treatment_share, "must be at most 1 - control_share")
    effect = abs(check_finite("effect", effect))
    if effect == 0:
        raise ValidationError("effect", effect, "must be non-zero")
    z = _z_crit(alpha, "two-sided") + float(stats.norm.ppf(check_probability("power", power)))
    total = check_positive("variance", variance) * (1.0 / shares[0] + 1.0 / shares[1]) * (z / effect) ** 2
    n_total = math.ceil(total - 1e-9)
    return SampleSize(n_total, math.ceil(shares[0] * total - 1e-9), math.ceil(shares[1] * total - 1e-9))


def duration_days(n_total: int, units_per_day: float) -> int:
    """Whole days to enrol ``n_total`` units at ``units_per_day`` new units a day."""
    return math.ceil(check_count("n_total", n_total) / check_positive("units_per_day", units_per_day) - 1e-9)


def relative_power(effect: float, mean: float, variance: float, n_per_arm: float, *, alpha: float = 0.05) -> float:
    """Two-sided power for an effect relative to the control ``mean`` (delta-method variance, equal arms)."""
    alpha = check_probability("alpha", alpha)
    m, n = check_finite("mean", mean), check_positive("n_per_arm", n_per_arm)
    if m == 0:
        raise ValidationError("mean", mean, "must be non-zero for a relative effect")
    v = check_positive("variance", variance)
    treatment_mean = m * (1.0 + check_finite("effect", effect))
    se = math.sqrt(v / (n * m**2) + v * treatment_mean**2 / (n * m**4))
    return _normal_power_z(effect / se, alpha, "two-sided")


def relative_minimum_detectable_effect(mean: float, variance: float, n_per_arm: float, *, alpha: float = 0.05,
                                       power: float = 0.8) -> float:
    """The positive relative effect detected with ``power`` (``inf`` when the noise allows none).

    Solves ``effect = z * se(effect)`` with ``z = z_{1 - alpha/2} + z_power`` for the treatment mean ``t``:
    ``(1 - z^2 s / m^2) t^2 - 2 m t + m^2 - z^2 s = 0`` with ``s = variance / n_per_arm``.
    """
    alpha, m = check_probability("alpha", alpha), check_finite("mean", mean)
    if m == 0:
        raise ValidationError("mean", mean, "must be non-zero for a relative effect")
    z = _z_crit(alpha, "two-sided") + float(stats.norm.ppf(check_probability("power", power)))
    s = check_positive("variance", variance) / check_positive("n_per_arm", n_per_arm)
    a, b, c = 1.0 - z**2 * s / m**2, -2.0 * m, m**2 - z**2 * s
    discriminant = b * b - 4.0 * a * c
    if a <= 0 or discriminant < 0:
        return math.inf
    return ((-b + math.sqrt(discriminant)) / (2.0 * a) - m) / abs(m)


def plan_experiment(kpis: Sequence[Kpi], *, units_per_day: float, n_arms: int = 2, alpha: float = 0.05,
                    power: float = 0.8) -> SamplePlan:
    """Equal arms large enough for every KPI, Bonferroni over KPIs times treatment arms."""
    if not kpis:
        raise ValidationError("kpis", list(kpis), "must name at least one KPI")
    n_arms = check_count("n_arms", n_arms, low=2)
    n_tests = len(kpis) * (n_arms - 1)
    share = 1.0 / n_arms
    sizes = [sample_size(k.effect, k.variance, alpha=alpha, power=power, n_tests=n_tests, control_share=share,
                         treatment_share=share).n_control for k in kpis]
    n_per_arm = max(sizes)
    binding = kpis[sizes.index(n_per_arm)].name
    return SamplePlan(n_per_arm, n_per_arm * n_arms, duration_days(n_per_arm * n_arms, units_per_day),
                          alpha / n_tests, n_tests, binding)
