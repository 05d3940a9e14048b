"""CUPED against GrowthBook vectors and against an explicit regression adjustment of raw data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from tests.oracles.cuped import cuped_ratio_test, cuped_test, cuped_theta
from tests.oracles.moments import CupedRatioStats, CupedStats, SampleStats
from tests.oracles.welch import welch_test


def arm(d: dict[str, Any], binary: bool = False) -> CupedStats:
    y_ss = d["post_sum"] if binary else d["post_ss"]
    x_ss = d["pre_sum"] if binary else d["pre_ss"]
    return CupedStats(d["n"], d["post_sum"], y_ss, d["pre_sum"], x_ss, d["post_pre_sum_product"])


def test_gbstats_cuped_mean(gbstats: dict[str, Any]) -> None:
    case = gbstats["cuped_mean"]
    result = cuped_test(arm(case["control"]), arm(case["treatment"]), relative=True)
    assert result.error is None
    assert result.theta == pytest.approx(case["theta_rederived"], rel=1e-12)
    assert result.control_mean == pytest.approx(case["cr_control_unadjusted"], abs=1e-9)
    assert result.treatment_mean == pytest.approx(case["cr_treatment_unadjusted"], abs=1e-9)
    assert result.estimate == pytest.approx(case["relative_expected"], abs=1e-9)
    assert result.pvalue == pytest.approx(case["p"], abs=1e-9)


def test_gbstats_cuped_proportion(gbstats: dict[str, Any]) -> None:
    case = gbstats["cuped_proportion"]
    mean_case = gbstats["cuped_mean"]
    control, treatment = arm(mean_case["control"], binary=True), arm(mean_case["treatment"], binary=True)
    result = cuped_test(control, treatment, relative=True, ddof=0)
    assert result.theta == pytest.approx(case["theta_rederived"], rel=1e-12)
    assert result.estimate == pytest.approx(case["relative_expected"], abs=1e-8)
    assert result.pvalue == pytest.approx(case["p_rederived"], rel=1e-9)
    assert result.pvalue == pytest.approx(case["p"], abs=5e-10)


def _simulated(seed: int, n: int = 500, effect: float = 0.2) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.gamma(2.0, 2.0, n), rng.gamma(2.0, 2.0, n + 50)
    y_c = 0.8 * x_c + rng.normal(0, 1, n)
    y_t = 0.8 * x_t + rng.normal(0, 1, n + 50) + effect
    return y_c, x_c, y_t, x_t


def test_absolute_cuped_equals_welch_on_adjusted_values() -> None:
    y_c, x_c, y_t, x_t = _simulated(1)
    x_all, y_all = np.r_[x_c, x_t], np.r_[y_c, y_t]
    theta = np.cov(y_all, x_all)[0, 1] / np.var(x_all, ddof=1)
    result = cuped_test(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    assert result.theta == pytest.approx(theta, rel=1e-9)
    adjusted_c, adjusted_t = y_c - theta * x_c, y_t - theta * x_t
    expected = stats.ttest_ind(adjusted_t, adjusted_c, equal_var=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.dof == pytest.approx(expected.df, rel=1e-9)
    unadjusted = welch_test(SampleStats.from_values(y_c), SampleStats.from_values(y_t))
    assert result.variance_reduction == pytest.approx(1 - result.se**2 / unadjusted.se**2, rel=1e-12)
    assert result.variance_reduction > 0.5
    assert result.treatment_mean_adjusted - result.control_mean_adjusted == pytest.approx(result.estimate)


def test_constant_covariate_gives_no_adjustment() -> None:
    y_c, _, y_t, _ = _simulated(2)
    control = CupedStats.from_values(y_c, np.ones_like(y_c))
    treatment = CupedStats.from_values(y_t, np.ones_like(y_t))
    assert cuped_theta(control, treatment) == 0.0
    result = cuped_test(control, treatment, relative=True)
    plain = welch_test(control.post, treatment.post, relative=True)
    assert result.estimate == pytest.approx(plain.estimate, rel=1e-12)
    assert result.se == pytest.approx(plain.se, rel=1e-12)


def test_degenerate_cuped_is_reported() -> None:
    one = CupedStats.from_values([1.0], [1.0])
    two = CupedStats.from_values([1.0, 2.0], [0.0, 1.0])
    assert cuped_test(one, two).error == "too_few_units"
    zero_mean = CupedStats.from_values([-1.0, 1.0], [0.0, 1.0])
    result = cuped_test(zero_mean, two, relative=True)
    assert (result.error, result.pvalue, result.estimate) == ("zero_control_mean", 1.0, 0.0)


def _ratio_arm(d: dict[str, Any]) -> CupedRatioStats:
    return CupedRatioStats(
        d["n"], d["m_post_sum"], d["m_post_ss"], d["d_post_sum"], d["d_post_ss"], d["m_pre_sum"], d["m_pre_ss"],
        d["d_pre_sum"], d["d_pre_ss"], d["m_post_d_post"], d["m_post_m_pre"], d["d_post_d_pre"], d["m_pre_d_pre"],
        d["m_post_d_pre"], d["m_pre_d_post"])


def test_gbstats_cuped_ratio(gbstats: dict[str, Any]) -> None:
    case = gbstats["cuped_ratio"]
    result = cuped_ratio_test(_ratio_arm(case["control"]), _ratio_arm(case["treatment"]), relative=True)
    assert result.error is None
    assert result.control_mean == pytest.approx(case["cr_control"], abs=1e-9)
    assert result.treatment_mean == pytest.approx(case["cr_treatment"], abs=1e-9)
    assert result.estimate == pytest.approx(case["relative_expected"], abs=1e-9)
    assert result.se == pytest.approx(case["se"], abs=1e-5)
    assert (result.ci_lower, result.ci_upper) == pytest.approx(case["ci95"], abs=1e-5)
    assert result.pvalue == pytest.approx(case["p"], abs=1e-9)


def test_cuped_ratio_with_unit_denominators_is_cuped_of_the_mean() -> None:
    y_c, x_c, y_t, x_t = _simulated(3)
    ones_c, ones_t = np.ones_like(y_c), np.ones_like(y_t)
    ratio = cuped_ratio_test(CupedRatioStats.from_values(y_c, ones_c, x_c, ones_c),
                             CupedRatioStats.from_values(y_t, ones_t, x_t, ones_t))
    # the ratio version pools within-arm covariances, the mean version the joint ones: close, not equal
    mean = cuped_test(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    assert ratio.theta == pytest.approx(mean.theta, rel=0.02)
    assert ratio.estimate == pytest.approx(mean.estimate, rel=0.05)
    assert ratio.se == pytest.approx(mean.se, rel=0.02)
    zero = CupedRatioStats.from_values(y_c, ones_c * 0, x_c, ones_c)
    assert cuped_ratio_test(zero, CupedRatioStats.from_values(y_t, ones_t, x_t, ones_t)).error == "zero_denominator"
