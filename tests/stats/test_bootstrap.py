"""Bootstrap intervals against numpy quantiles computed here, invalid replicates, and coverage of a normal model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.bootstrap import QUANTILE_METHOD, bootstrap_interval, bootstrap_pvalue


def test_quantile_rule_is_type_7_linear_interpolation() -> None:
    replicates = np.arange(11.0)  # quantile u of 0..10 under type 7 is exactly 10 u
    result = bootstrap_interval(5.0, replicates, confidence_level=0.9)
    assert QUANTILE_METHOD == "linear"
    assert (result.ci_lower, result.ci_upper) == pytest.approx((0.5, 9.5), rel=1e-12)


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_methods_against_independent_formulas(level: float) -> None:
    rng = np.random.default_rng(5)
    replicates = rng.gamma(3.0, 1.0, 2000)
    estimate, alpha = 2.7, 1 - level
    low, high = np.percentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    percentile = bootstrap_interval(estimate, replicates, level, "percentile")
    assert (percentile.ci_lower, percentile.ci_upper) == pytest.approx((low, high), rel=1e-12)
    basic = bootstrap_interval(estimate, replicates, level, "basic")
    assert (basic.ci_lower, basic.ci_upper) == pytest.approx((2 * estimate - high, 2 * estimate - low), rel=1e-12)
    normal = bootstrap_interval(estimate, replicates, level, "normal")
    sd = np.std(replicates, ddof=1)
    z = stats.norm.ppf(1 - alpha / 2)
    assert (normal.ci_lower, normal.ci_upper) == pytest.approx((estimate - z * sd, estimate + z * sd), rel=1e-12)
    assert normal.se == pytest.approx(sd, rel=1e-12)
    assert normal.pvalue == pytest.approx(2 * stats.norm.sf(estimate / sd), rel=1e-12)


def test_percentile_pvalue_counts_the_far_side() -> None:
    replicates = np.array([-1.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5])
    assert bootstrap_pvalue(2.0, replicates, "percentile") == pytest.approx(2 * (1 + 1) / 11)
    reflected = 4.0 - replicates  # basic: 2 * estimate - r; one value (-0.5) at or below 0
    assert bootstrap_pvalue(2.0, replicates, "basic") == pytest.approx(2 * ((reflected <= 0).sum() + 1) / 11)
    assert bootstrap_pvalue(2.0, np.full(5, 2.0) + np.arange(5), "percentile") == pytest.approx(2 / 6)


def test_invalid_replicates_are_counted_never_used() -> None:
    rng = np.random.default_rng(6)
    replicates = rng.normal(1.0, 0.1, 1000)
    with_nan = replicates.copy()
    with_nan[:5] = np.nan
    with_nan[5] = np.inf
    result = bootstrap_interval(1.0, with_nan)
    clean = bootstrap_interval(1.0, replicates[6:])
    assert (result.n_replicates, result.n_invalid, result.error) == (1000, 6, None)
    assert (result.ci_lower, result.ci_upper, result.se) == (clean.ci_lower, clean.ci_upper, clean.se)
    too_many = bootstrap_interval(1.0, with_nan, max_invalid_fraction=0.005)
    assert too_many.error == "too_many_invalid_replicates"
    assert all(math.isnan(x) for x in (too_many.ci_lower, too_many.ci_upper, too_many.se, too_many.pvalue))


@pytest.mark.parametrize(("estimate", "replicates", "error"), [
    (float("nan"), [1.0, 2.0], "invalid_estimate"),
    (1.0, [1.0], "too_few_replicates"),
    (1.0, [2.0, 2.0, 2.0], "zero_variance"),
])
def test_degenerate_input_carries_an_error(estimate: float, replicates: list[float], error: str) -> None:
    result = bootstrap_interval(estimate, np.array(replicates))
    assert result.error == error
    assert math.isnan(result.ci_lower) and math.isnan(result.pvalue)


@pytest.mark.parametrize("method", ["percentile", "basic", "normal"])
def test_coverage_of_a_normal_mean(method: str) -> None:
    rng = np.random.default_rng({"percentile": 1, "basic": 2, "normal": 3}[method])
    n, n_resamples, trials, covered = 60, 400, 300, 0
    for _ in range(trials):
        sample = rng.normal(0.0, 1.0, n)
        resamples = rng.choice(sample, size=(n_resamples, n), replace=True).mean(axis=1)
        result = bootstrap_interval(float(sample.mean()), resamples, 0.9, method)  # type: ignore[arg-type]
        covered += result.ci_lower <= 0.0 <= result.ci_upper
    assert 0.84 <= covered / trials <= 0.95


@pytest.mark.parametrize(("kwargs", "field"), [({"method": "bca"}, "method"),
                                               ({"confidence_level": 95}, "confidence_level"),
                                               ({"max_invalid_fraction": 1.5}, "max_invalid_fraction")])
def test_invalid_arguments_raise(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        bootstrap_interval(1.0, np.ones(3), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
