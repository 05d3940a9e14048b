"""Confidence sequences: the closed form, p-value consistency, and error control under repeated looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.errors import ValidationError
from rayab.stats.sequential import confidence_sequence, mixture_rho


def test_closed_form_boundary() -> None:
    alpha, planned, n, se = 0.05, 5000, 3000, 0.02
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / planned
    assert mixture_rho(planned, alpha) ** 2 == pytest.approx(rho2, rel=1e-12)
    variance = se**2 * n
    half = math.sqrt(variance) * math.sqrt(2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1)
                                                                                          / alpha))
    cs = confidence_sequence(0.03, se, n, planned_n=planned)
    assert (cs.ci_lower, cs.ci_upper) == pytest.approx((0.03 - half, 0.03 + half), rel=1e-12)
    assert half > 1.96 * se


@given(st.floats(-5, 5), st.floats(0.01, 2), st.integers(2, 10**6), st.floats(0.5, 0.999))
def test_pvalue_below_alpha_iff_the_sequence_excludes_zero(estimate: float, se: float, n: int,
                                                          level: float) -> None:
    cs = confidence_sequence(estimate, se, n, planned_n=10_000, confidence_level=level)
    excludes = cs.ci_lower > 0 or cs.ci_upper < 0
    # the p-value is computed with rho fixed at the design level, so compare at that level only
    margin = abs(abs(estimate) - (cs.ci_upper - cs.ci_lower) / 2)
    if margin > 1e-9 * max(1.0, abs(estimate)):
        assert excludes == (cs.pvalue < 1 - level)


def test_repeated_looks_keep_the_error_rate_while_fixed_horizon_tests_do_not() -> None:
    rng = np.random.default_rng(99)
    runs, looks, per_look, alpha = 300, 24, 40, 0.05
    control = rng.normal(0.0, 1.0, (runs, looks * per_look))
    treatment = rng.normal(0.0, 1.0, (runs, looks * per_look))
    ends = np.arange(1, looks + 1) * per_look
    sequential_alarm = np.zeros(runs, dtype=bool)
    fixed_alarm = np.zeros(runs, dtype=bool)
    for end in ends:
        c, t = control[:, :end], treatment[:, :end]
        estimate = t.mean(axis=1) - c.mean(axis=1)
        se = np.sqrt(t.var(axis=1, ddof=1) / end + c.var(axis=1, ddof=1) / end)
        fixed_alarm |= np.abs(estimate / se) > 1.959964
        for run in range(runs):
            cs = confidence_sequence(float(estimate[run]), float(se[run]), int(2 * end), planned_n=2 * ends[-1])
            sequential_alarm[run] |= cs.ci_lower > 0 or cs.ci_upper < 0
    assert sequential_alarm.mean() <= alpha + 0.02
    assert fixed_alarm.mean() > alpha + 0.06


def test_degenerate_and_invalid_input() -> None:
    assert confidence_sequence(1.0, 0.0, 100, planned_n=100).error == "zero_variance"
    cs = confidence_sequence(1.0, 0.1, 1, planned_n=100)
    assert (cs.error, cs.pvalue) == ("too_few_units", 1.0)
    with pytest.raises(ValidationError):
        confidence_sequence(1.0, 0.1, 100, planned_n=0)
    with pytest.raises(ValidationError):
        confidence_sequence(float("nan"), 0.1, 100, planned_n=100)
