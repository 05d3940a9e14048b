"""SRM: chi-square against GrowthBook vectors and scipy; the sequential test keeps its level under hourly looks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.srm import (
    DEFAULT_SRM_THRESHOLD,
    sequential_srm_test,
    srm_log_bayes_factor,
    srm_test,
)


def test_default_threshold_is_growthbooks(gbstats: dict[str, Any]) -> None:
    assert gbstats["default_srm_threshold"]["value"] == DEFAULT_SRM_THRESHOLD


def test_gbstats_srm_vectors(gbstats: dict[str, Any]) -> None:
    checked = 0
    for case in gbstats["srm"]:
        if len(case["users"]) != len(case["weights"]):
            # rayab rejects counts that do not line up with the weights instead of guessing which arm is missing
            with pytest.raises(ValidationError):
                srm_test(case["users"], case["weights"])
            continue
        result = srm_test(case["users"], case["weights"])
        assert result.pvalue == pytest.approx(case["p"], abs=5e-9), case
        checked += 1
    assert checked == 9


def test_special_cases_carry_an_error_code() -> None:
    assert srm_test([1000, 900, 800], [1, 0, 0]).error == "too_few_arms"
    assert srm_test([0, 0, 0], [0.34, 0.33, 0.33]).error == "no_units"
    assert srm_test([1000], [1.0]).pvalue == 1.0
    assert srm_test([1000, 1200, 900], [0.5, 0.5, 0.0]).dof == 1


def test_matches_scipy_chisquare() -> None:
    counts, weights = [480, 530, 1010], [0.25, 0.25, 0.5]
    expected = stats.chisquare(counts, np.array(weights) * sum(counts))
    result = srm_test(counts, weights)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-12)


def test_practical_floor_suppresses_immaterial_mismatch() -> None:
    counts = [1_000_000, 1_004_000]  # p ~ 0.005 but only 0.2% off
    assert srm_test(counts, [0.5, 0.5], threshold=0.01).mismatch
    assert not srm_test(counts, [0.5, 0.5], threshold=0.01, min_relative_deviation=0.01).mismatch


@pytest.mark.parametrize(("counts", "weights"), [([1, 2], [0.5, -0.5]), ([1, 2], [0, 0]), ([1, -2], [1, 1]),
                                                 ([1, 2], [1, float("nan")])])
def test_invalid_arguments_raise(counts: list[int], weights: list[float]) -> None:
    with pytest.raises(ValidationError):
        srm_test(counts, weights)


def test_bayes_factor_is_the_dirichlet_multinomial_ratio() -> None:
    counts, p, concentration = np.array([7, 3, 5]), np.array([0.5, 0.25, 0.25]), 10.0
    mixture = stats.dirichlet_multinomial.logpmf(counts, concentration * p, counts.sum())
    null = stats.multinomial.logpmf(counts, counts.sum(), p)
    assert float(srm_log_bayes_factor(counts, p, concentration)) == pytest.approx(mixture - null, rel=1e-10)


def test_sequential_pvalue_is_a_running_minimum() -> None:
    first = sequential_srm_test([600, 400], [0.5, 0.5], alpha=0.05)
    later = sequential_srm_test([1010, 990], [0.5, 0.5], alpha=0.05, previous_pvalue=first.pvalue)
    assert first.pvalue < 0.05 and first.mismatch
    assert later.pvalue == first.pvalue
    assert sequential_srm_test([0, 0], [0.5, 0.5]).error == "no_units"


def test_hourly_looks_keep_the_false_alarm_rate_while_naive_chi_square_does_not() -> None:
    rng = np.random.default_rng(2024)
    runs, looks, alpha, weights = 400, 48, 0.05, np.array([0.5, 0.3, 0.2])
    hourly = rng.multinomial(200, weights, size=(runs, looks))
    cumulative = np.cumsum(hourly, axis=1)
    sequential_alarm = (srm_log_bayes_factor(cumulative, weights) >= np.log(1 / alpha)).any(axis=1)
    expected = cumulative.sum(axis=-1, keepdims=True) * weights
    chi2 = ((cumulative - expected) ** 2 / expected).sum(axis=-1)
    naive_alarm = (stats.chi2.sf(chi2, len(weights) - 1) < alpha).any(axis=1)
    assert sequential_alarm.mean() <= alpha
    assert naive_alarm.mean() > 2 * alpha
    # the sequential test still finds a real 10% mismatch within the two days
    skewed = np.cumsum(rng.multinomial(200, [0.45, 0.33, 0.22], size=(runs, looks)), axis=1)
    assert (srm_log_bayes_factor(skewed, weights) >= np.log(1 / alpha)).any(axis=1).mean() > 0.9
