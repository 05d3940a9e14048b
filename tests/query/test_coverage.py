"""A fast subset of ``scripts/coverage_harness.py``: intervals keep their promise on user-correlated data.

Fewer replications than the harness, so the bounds are binomial: a coverage is accepted within the harness's
1.5 points plus 3.5 standard errors of nominal (a percentile interval with a few hundred replicates on these
heavy-tailed units runs about a point low, see the harness), which still fails an interval that is 10 points off,
as the event-level bootstrap is.
"""

from __future__ import annotations

import math

import pytest

from scripts.coverage_harness import Design, coverage_run, se_check, sequential_run

LEVELS = (0.9, 0.95)


def _bound(level: float, n: int, slack: float = 0.015) -> float:
    return slack + 3.5 * math.sqrt(level * (1 - level) / n)


@pytest.mark.parametrize("rel_diff", [0.0, 0.08])
def test_unit_level_intervals_cover_differences_and_estimates(rel_diff: float) -> None:
    n = 300
    cov = coverage_run(Design(units_per_arm=2000), n, b=300, levels=LEVELS, rel_diff=rel_diff, seed=11)
    assert cov.replications == n
    for metric in ("ctr", "revenue_per_event", "revenue_per_unit"):
        for level in LEVELS:
            for quantity in ("abs_diff", "rel_diff", "estimate"):
                rate = cov.rate((metric, level, quantity))
                assert abs(rate - level) <= _bound(level, n), (metric, level, quantity, rate)


def test_an_event_level_bootstrap_under_covers_on_the_same_model() -> None:
    n = 120
    event = coverage_run(Design(units_per_arm=2000), n, b=200, levels=(0.95,), seed=12, event_level=True)
    unit = coverage_run(Design(units_per_arm=2000), n, b=200, levels=(0.95,), seed=12)
    for metric in ("ctr", "revenue_per_event", "revenue_per_unit"):
        assert event.rate((metric, 0.95, "abs_diff")) < 0.88, metric
        assert unit.rate((metric, 0.95, "abs_diff")) > event.rate((metric, 0.95, "abs_diff")) + 0.05, metric


def test_bootstrap_se_of_a_ratio_matches_the_delta_method() -> None:
    for name, (boot, delta) in se_check(10_000, 6000, seed=3).items():
        assert boot == pytest.approx(delta, rel=0.03), name


def test_hourly_looks_keep_alpha_with_confidence_sequences_not_with_fixed_intervals() -> None:
    n = 150
    rates = sequential_run(Design(units_per_arm=1500), n, b=200, looks=24, seed=4)
    for metric in ("ctr", "revenue_per_event", "revenue_per_unit"):
        assert rates[f"{metric} sequential"] <= 0.05 + _bound(0.05, n, slack=0.0), rates
        assert rates[f"{metric} fixed"] > 0.12, rates
