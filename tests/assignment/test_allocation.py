"""Properties of the allocation: uniform variant shares, stickiness under ramps, independence between salts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from rayab.assignment.allocation import assign_variant, choose_variant, variant_ranges
from rayab.assignment.hashing import buckets
from rayab.model.experiment import Experiment

ExperimentFactory = Callable[..., Experiment]

# Every test uses fixed ids and fixed salts, so each p-value below is one fixed number: a threshold this low
# cannot flake, and the biased cases show the same test detects a real 1% distortion.
PVALUE_FLOOR = 1e-3
N_PER_VARIANT = 100_000


def unit_ids(n: int) -> list[str]:
    """``n`` deterministic unit ids (no random seed involved)."""
    return [f"unit-{i:07d}" for i in range(n)]


def allocation_pvalue(observed: Sequence[str | None], weights: dict[str, float]) -> float:
    """Chi-square goodness of fit of the variant counts to the intended shares."""
    counts = Counter(v for v in observed if v is not None)
    n = sum(counts.values())
    names = sorted(weights)
    expected = [n * weights[name] for name in names]
    return float(stats.chisquare([counts[name] for name in names], expected).pvalue)


def variant_of_position(positions: np.ndarray, weights: Sequence[float]) -> list[str | None]:
    ranges = variant_ranges(weights, 1.0)
    return [None if (i := choose_variant(p, ranges)) < 0 else f"v{i}" for p in positions.tolist()]


@pytest.mark.parametrize("weights", [(50, 50), (25, 25, 25, 25), (10, 30, 60)])
def test_variant_shares_are_uniform(weights: tuple[float, ...], experiment: ExperimentFactory) -> None:
    exp = experiment("uniformity", weights)
    ids = unit_ids(N_PER_VARIANT * len(weights))
    observed = variant_of_position(buckets(exp.assignment_salt, ids), [w / 100 for w in weights])
    assert observed.count(None) == 0
    pvalue = allocation_pvalue(observed, {f"v{i}": w / 100 for i, w in enumerate(weights)})
    assert pvalue > PVALUE_FLOOR


def test_buckets_are_uniform_on_the_unit_interval() -> None:
    positions = buckets("uniformity", unit_ids(200_000))
    counts, _ = np.histogram(positions, bins=100, range=(0.0, 1.0))
    assert stats.chisquare(counts).pvalue > PVALUE_FLOOR
    assert stats.kstest(positions, "uniform").pvalue > PVALUE_FLOOR


def test_a_biased_allocation_is_detected() -> None:
    # The allocation actually uses 50.5 / 49.5 while the experiment intends 50 / 50.
    positions = buckets("uniformity", unit_ids(2 * N_PER_VARIANT))
    observed = variant_of_position(positions, [0.505, 0.495])
    assert allocation_pvalue(observed, {"v0": 0.5, "v1": 0.5}) < PVALUE_FLOOR
    assert allocation_pvalue(observed, {"v0": 0.505, "v1": 0.495}) > PVALUE_FLOOR


def test_a_biased_hash_is_detected() -> None:
    # A common mistake: taking one byte of the digest modulo the number of variants (256 is not a multiple of 3).
    positions = buckets("uniformity", unit_ids(3 * N_PER_VARIANT))
    byte = (positions * 256).astype(np.int64)
    observed = [f"v{b % 3}" for b in byte.tolist()] * 4  # as if 4x the traffic saw the same bias
    assert allocation_pvalue(observed, {"v0": 1 / 3, "v1": 1 / 3, "v2": 1 / 3}) < PVALUE_FLOOR


RAMP = (1, 5, 10, 50, 100)


@pytest.mark.parametrize("hash_mode", ["rayab", "growthbook"])
@pytest.mark.parametrize("weights", [(50, 50), (20, 30, 50)])
def test_ramping_up_never_changes_a_variant(hash_mode: str, weights: tuple[float, ...],
                                            experiment: ExperimentFactory) -> None:
    ids = unit_ids(50_000)
    ramp = [experiment("ramp", weights, rollout_pct=pct, hash_mode=hash_mode) for pct in RAMP]
    steps = [{u: assign_variant(exp, u) for u in ids} for exp in ramp]
    for before, after in pairwise(steps):
        for unit, variant in before.items():
            if variant is not None:
                assert after[unit] == variant, unit
    for pct, step in zip(RAMP, steps, strict=True):
        share = sum(v is not None for v in step.values()) / len(ids)
        assert share == pytest.approx(pct / 100, abs=0.01)


def test_ramping_down_only_removes_units(experiment: ExperimentFactory) -> None:
    ids = unit_ids(50_000)
    ramp = [experiment("ramp", rollout_pct=pct) for pct in RAMP[::-1]]
    steps = [{u: assign_variant(exp, u) for u in ids} for exp in ramp]
    for before, after in pairwise(steps):
        for unit, variant in after.items():
            if variant is not None:
                assert before[unit] == variant, unit


@given(
    st.lists(st.integers(1, 100), min_size=2, max_size=6),
    st.floats(0, 1), st.floats(0, 1), st.floats(0, 1, exclude_max=True),
)
def test_any_coverage_increase_keeps_every_assigned_position(raw: list[int], c1: float, c2: float,
                                                            position: float) -> None:
    total = sum(raw)
    weights = [r / total for r in raw]
    low, high = sorted((c1, c2))
    before = choose_variant(position, variant_ranges(weights, low))
    after = choose_variant(position, variant_ranges(weights, high))
    assert before == -1 or before == after


def contingency_pvalue(first: list[str | None], second: list[str | None]) -> float:
    table = Counter(zip(first, second, strict=True))
    rows = sorted({a for a, _ in table}, key=str)
    cols = sorted({b for _, b in table}, key=str)
    matrix = [[table[(r, c)] for c in cols] for r in rows]
    return float(stats.chi2_contingency(matrix).pvalue)


def test_experiments_with_different_salts_are_independent(experiment: ExperimentFactory) -> None:
    ids = unit_ids(200_000)
    first = experiment("exp_a", (30, 30, 40))
    second = experiment("exp_b", (50, 50))
    a = [assign_variant(first, u) for u in ids]
    b = [assign_variant(second, u) for u in ids]
    assert contingency_pvalue(a, b) > PVALUE_FLOOR


def test_experiments_sharing_a_salt_are_detected_as_dependent(experiment: ExperimentFactory) -> None:
    ids = unit_ids(20_000)
    first = experiment("exp_a", (50, 50), assignment_salt="shared")
    second = experiment("exp_b", (30, 70), assignment_salt="shared")
    a = [assign_variant(first, u) for u in ids]
    b = [assign_variant(second, u) for u in ids]
    assert contingency_pvalue(a, b) < 1e-12


def test_assign_variant_outside_rollout_is_none(experiment: ExperimentFactory) -> None:
    exp = experiment("zero", rollout_pct=0)
    assert {assign_variant(exp, u) for u in unit_ids(1000)} == {None}
