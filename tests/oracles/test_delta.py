"""Delta-method ratio metrics against GrowthBook vectors and an independent linearisation on raw data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from tests.oracles.delta import ratio_test, ratio_variance
from tests.oracles.moments import RatioStats


def arm(d: dict[str, Any]) -> RatioStats:
    return RatioStats(d["n"], d["m_sum"], d["m_ss"], d["d_sum"], d["d_ss"], d["md_sum_product"])


def test_gbstats_ratio_delta_method(gbstats: dict[str, Any]) -> None:
    case = gbstats["ratio_delta_method"]
    result = ratio_test(arm(case["control"]), arm(case["treatment"]), relative=True)
    assert result.error is None
    assert result.control_mean == pytest.approx(case["cr_control"], abs=1e-9)
    assert result.treatment_mean == pytest.approx(case["cr_treatment"], abs=1e-9)
    assert result.estimate == pytest.approx(case["relative_expected"], abs=1e-9)
    assert result.pvalue == pytest.approx(case["p"], abs=1e-9)


def test_gbstats_zero_denominator_is_reported(gbstats: dict[str, Any]) -> None:
    case = gbstats["ratio_zero_denominator"]
    result = ratio_test(arm(case["control"]), arm(case["treatment"]), relative=True)
    assert result.error == "zero_denominator"
    assert result.estimate == case["expected"]
    assert result.pvalue == case["p"]


def test_ratio_variance_is_the_variance_of_the_linearised_units() -> None:
    rng = np.random.default_rng(3)
    d = rng.poisson(4.0, 800) + 1.0
    m = rng.binomial(d.astype(int), 0.3).astype(float)
    ratio = m.sum() / d.sum()
    influence = (m - ratio * d) / d.mean()  # first-order expansion of the ratio around the means
    assert ratio_variance(RatioStats.from_values(m, d)) == pytest.approx(np.var(influence, ddof=1), rel=1e-9)


def test_absolute_ratio_test_matches_scipy_on_linearised_units() -> None:
    rng = np.random.default_rng(4)
    d_c, d_t = rng.poisson(3.0, 600) + 1.0, rng.poisson(3.0, 700) + 1.0
    m_c, m_t = rng.binomial(d_c.astype(int), 0.30) * 1.0, rng.binomial(d_t.astype(int), 0.33) * 1.0
    result = ratio_test(RatioStats.from_values(m_c, d_c), RatioStats.from_values(m_t, d_t))
    r_c, r_t = m_c.sum() / d_c.sum(), m_t.sum() / d_t.sum()
    z_c, z_t = r_c + (m_c - r_c * d_c) / d_c.mean(), r_t + (m_t - r_t * d_t) / d_t.mean()
    expected = stats.ttest_ind(z_t, z_c, equal_var=False)
    assert result.estimate == pytest.approx(r_t - r_c, rel=1e-12)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_ratio_interval_covers_in_simulation() -> None:
    rng = np.random.default_rng(8)
    covered = 0
    for _ in range(400):
        d_c, d_t = rng.poisson(3.0, 300) + 1.0, rng.poisson(3.0, 300) + 1.0
        m_c, m_t = rng.binomial(d_c.astype(int), 0.3) * 1.0, rng.binomial(d_t.astype(int), 0.3) * 1.0
        result = ratio_test(RatioStats.from_values(m_c, d_c), RatioStats.from_values(m_t, d_t))
        covered += result.ci_lower <= 0.0 <= result.ci_upper
    assert 0.92 <= covered / 400 <= 0.98
