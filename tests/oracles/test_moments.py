"""Addable sufficient statistics: identity, associativity, any split gives the same, moments agree with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.errors import ValidationError
from tests.oracles.moments import CupedRatioStats, CupedStats, RatioStats, SampleStats

# Small integers keep every sum exact in float64, so equality (not closeness) is the right check.
ints = st.lists(st.integers(-1000, 1000), max_size=40)


@st.composite
def data_and_cuts(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    values = draw(ints)
    cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=5)))
    return values, cuts


@given(ints, ints, ints)
def test_sample_stats_addition_is_associative_with_identity(a: list[int], b: list[int], c: list[int]) -> None:
    x, y, z = (SampleStats.from_values(np.array(v, dtype=float)) for v in (a, b, c))
    assert (x + y) + z == x + (y + z)
    assert x + SampleStats() == x == SampleStats() + x
    assert x + y == y + x


@given(data_and_cuts())
def test_any_split_gives_the_same_stats(case: tuple[list[int], list[int]]) -> None:
    values, cuts = case
    arrays = np.split(np.array(values, dtype=float), cuts)
    total = sum((SampleStats.from_values(part) for part in arrays), SampleStats())
    assert total == SampleStats.from_values(np.array(values, dtype=float))
    numerators = np.split(np.array(values, dtype=float), cuts)
    denominators = np.split(np.abs(np.array(values, dtype=float)) + 1, cuts)
    ratio = sum((RatioStats.from_values(m, d) for m, d in zip(numerators, denominators, strict=True)),
                RatioStats())
    assert ratio == RatioStats.from_values(np.concatenate(numerators), np.concatenate(denominators))


@given(data_and_cuts())
def test_cuped_stats_any_split_gives_the_same(case: tuple[list[int], list[int]]) -> None:
    values, cuts = case
    y = np.array(values, dtype=float)
    x = y[::-1].copy()
    parts = zip(np.split(y, cuts), np.split(x, cuts), strict=True)
    assert sum((CupedStats.from_values(a, b) for a, b in parts), CupedStats()) == CupedStats.from_values(y, x)
    columns = (y, x, y * 2, x + 1)
    pieces = zip(*(np.split(c, cuts) for c in columns), strict=True)
    merged = sum((CupedRatioStats.from_values(*p) for p in pieces), CupedRatioStats())
    assert merged == CupedRatioStats.from_values(*columns)


def test_moments_match_numpy() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(3.0, 2.0, size=500)
    x = 0.5 * y + rng.normal(size=500)
    s = SampleStats.from_values(y)
    assert s.mean == pytest.approx(np.mean(y), rel=1e-12)
    assert s.variance == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    assert s.var(ddof=0) == pytest.approx(np.var(y), rel=1e-10)
    c = CupedStats.from_values(y, x)
    assert c.covariance() == pytest.approx(np.cov(y, x)[0, 1], rel=1e-10)
    assert c.pre.variance == pytest.approx(np.var(x, ddof=1), rel=1e-10)
    r = RatioStats.from_values(y, x)
    assert r.covariance() == pytest.approx(np.cov(y, x)[0, 1], rel=1e-10)
    assert r.ratio == pytest.approx(y.sum() / x.sum(), rel=1e-12)


def test_degenerate_moments_are_zero_not_errors() -> None:
    assert SampleStats().mean == 0.0
    assert SampleStats.from_values([4.0]).variance == 0.0
    for value in (0.1, 0.3, 1e8 + 0.7):  # cancellation must never give a negative variance
        assert 0.0 <= SampleStats.from_values([value] * 7).variance < 1e-6 * value**2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n": -1}, "n"), ({"n": 1.5}, "n"), ({"n": 2, "sum": float("nan")}, "sum"),
     ({"n": 2, "sum_squares": float("inf")}, "sum_squares")],
)
def test_invalid_sums_raise_validation_error(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        SampleStats(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_numpy_integer_counts_are_accepted() -> None:
    stats = SampleStats(np.int64(3), 1.0, 1.0)  # type: ignore[arg-type]
    assert stats.n == 3
    assert isinstance(stats.n, int)
