"""The mergeable quantile sketch: accuracy against exact sample quantiles on raw data, exact merges of any split,
bucket edges and the documented range."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayab.errors import ValidationError
from rayab.stats.poisson_weights import poisson_weights, unit_keys
from rayab.stats.quantile_sketch import QuantileSketches, SketchLayout, histogram_quantiles

LAYOUT = SketchLayout(0.01)
QS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]
ROUNDING = 1e-12  # float error of exp/log in the bucket arithmetic, far below alpha


def within_alpha(estimate: np.ndarray, exact: np.ndarray, layout: SketchLayout) -> bool:
    """``|estimate - exact| <= alpha |exact|``, or ``< min_value`` absolutely where the exact value is that small."""
    error = np.abs(estimate - exact)
    small = np.abs(exact) < layout.min_value
    return bool(np.all(np.where(small, error < layout.min_value,
                                error <= (layout.relative_accuracy + ROUNDING) * np.abs(exact))))


def events(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    if name == "lognormal":
        return rng.lognormal(np.log(120.0), 0.9, n)
    if name == "pareto":
        return (rng.pareto(1.2, n) + 1.0) * 50.0
    if name == "lognormal_with_zeros":
        return np.where(rng.random(n) < 0.2, 0.0, rng.lognormal(0.0, 2.5, n))
    if name == "signed":
        return rng.standard_t(2, n) * 10.0
    return rng.exponential(1e-6, n)  # tiny values, some in the zero bucket


@pytest.mark.parametrize("name", ["lognormal", "pareto", "lognormal_with_zeros", "signed", "tiny"])
def test_estimates_are_within_alpha_of_the_exact_inverted_cdf_quantile(name: str) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    values = events(rng, name, 20_000)
    layout = SketchLayout(0.01, min_value=1e-7) if name == "tiny" else LAYOUT
    k1, k2 = unit_keys("acc", [f"u{i}" for i in range(len(values))])
    sketch = QuantileSketches.from_events(layout, values, np.zeros(len(values), np.int64), k1, k2, 1, 3)
    estimates, _ = sketch.quantiles(QS)
    exact = np.quantile(values, QS, method="inverted_cdf")
    assert within_alpha(estimates[0], exact, layout)
    # and the bound is not loose by accident: the worst error is a sizeable share of alpha
    nonzero = np.abs(exact) >= layout.min_value
    assert np.max(np.abs(estimates[0] - exact)[nonzero] / np.abs(exact[nonzero])) > 0.1 * layout.relative_accuracy


def test_replicate_quantiles_are_the_weighted_quantiles_of_clustered_events() -> None:
    """Every event of a unit carries that unit's Poisson weight; each replicate's quantile is within alpha of
    numpy's weighted inverted-CDF quantile of the raw events with those weights."""
    rng = np.random.default_rng(12)
    n_units, n_reps = 400, 50
    unit_effect = rng.lognormal(0.0, 0.5, n_units)
    per_unit = rng.integers(1, 30, n_units)
    unit = np.repeat(np.arange(n_units), per_unit)
    values = rng.lognormal(np.log(80.0), 0.7, len(unit)) * unit_effect[unit]
    uk1, uk2 = unit_keys("clustered", [f"u{i}" for i in range(n_units)])
    k1, k2 = uk1[unit], uk2[unit]
    cell = (unit % 2).astype(np.int64)
    sketch = QuantileSketches.from_events(LAYOUT, values, cell, k1, k2, 2, n_reps)
    estimates, replicates = sketch.quantiles([0.5, 0.9, 0.99])
    weights = poisson_weights(uk1, uk2, n_reps).astype(np.float64)[unit]  # (events, B)
    for c in (0, 1):
        rows = cell == c
        exact = np.quantile(values[rows], [0.5, 0.9, 0.99], method="inverted_cdf")
        assert within_alpha(estimates[c], exact, LAYOUT)
        for b in range(n_reps):
            weighted = np.quantile(values[rows], [0.5, 0.9, 0.99], method="inverted_cdf", weights=weights[rows, b])
            assert within_alpha(replicates[c, :, b], weighted, LAYOUT), (c, b)
    assert sketch.replicates.sum(axis=0).tolist() == weights.sum(axis=0).astype(np.int64).tolist()


def split_sketches(values: list[float], parts: list[int],
                   n_reps: int) -> tuple[QuantileSketches, list[QuantileSketches]]:
    x = np.array(values)
    k1, k2 = unit_keys("merge", [f"u{i % 7}" for i in range(len(x))])  # few units: many events share a weight
    cells = np.arange(len(x)) % 3
    whole = QuantileSketches.from_events(LAYOUT, x, cells, k1, k2, 3, n_reps)
    part = np.array(parts[:len(x)] + [0] * (len(x) - len(parts)))
    pieces = [QuantileSketches.from_events(LAYOUT, x[part == p], cells[part == p], k1[part == p], k2[part == p], 3,
                                           n_reps) for p in range(4)]
    return whole, pieces


finite_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.sampled_from([0.0, 1.0, 1e-10])


@settings(max_examples=60, deadline=None)
@given(st.lists(finite_values, max_size=60), st.lists(st.integers(0, 3), max_size=60), st.integers(1, 5))
def test_merging_the_sketches_of_any_split_equals_the_sketch_of_the_whole(values: list[float], parts: list[int],
                                                                          n_reps: int) -> None:
    whole, pieces = split_sketches(values, parts, n_reps)
    a, b, c, d = pieces
    empty = QuantileSketches.empty(LAYOUT, n_reps)
    assert ((a + b) + (c + d)) == whole
    assert (a + (b + (c + d))) == whole  # associative
    assert (d + c + b + a) == whole  # commutative
    assert (whole + empty) == whole == (empty + whole)  # identity
    merged = np.concatenate([p.counts for p in pieces]).sum() if values else 0
    assert int(whole.counts.sum()) == len(values) == merged


def test_bucket_edges_are_exact() -> None:
    layout = LAYOUT
    for i in (-500, -1, 0, 1, 17, 1000, layout.min_index, layout.min_index + 1):
        edge = float(layout.upper_bounds(i))
        above = np.nextafter(edge, np.inf)
        below = np.nextafter(edge, 0.0)
        assert layout.indexes([below, edge, above]).tolist() == [i, i, i + 1]
        represented = layout.values(layout.keys([edge, above]))
        assert abs(represented[0] - edge) <= (layout.relative_accuracy + ROUNDING) * edge
        assert abs(represented[1] - above) <= (layout.relative_accuracy + ROUNDING) * above
        # at the lower edge of a bucket the error is alpha itself: the bound is tight
        assert abs(represented[1] - above) / above == pytest.approx(layout.relative_accuracy, rel=1e-9)


def test_range_zero_bucket_mirrored_negatives_and_rejections() -> None:
    layout = SketchLayout(0.02, min_value=1e-3, max_value=1e6)
    keys = layout.keys([0.0, 0.0009, -0.0009, 1e-3, -1e-3, 5.0, -5.0, 1e6, -1e6])
    assert keys[:3].tolist() == [0, 0, 0]
    assert keys[3] == 1 and keys[4] == -1
    assert keys[5] == -keys[6] > 1 and keys[7] == layout.max_key == -keys[8]
    assert layout.values([0, -keys[5], keys[5]]).tolist() == [0.0, -layout.values([keys[5]])[0],
                                                              layout.values([keys[5]])[0]]
    assert (np.diff(layout.values(np.arange(-layout.max_key, layout.max_key + 1))) > 0).all()  # key order = value order
    for bad in (1.0000001e6, -2e6, math.inf, math.nan):
        with pytest.raises(ValidationError, match=r"values == .*max_value \(1e\+06\) \(1 of 3 values\)"):
            layout.keys([1.0, bad, 2.0])
    with pytest.raises(ValidationError, match="relative_accuracy"):
        SketchLayout(1.0)
    with pytest.raises(ValidationError, match="max_value"):
        SketchLayout(0.01, min_value=10.0, max_value=1.0)


def test_quantiles_of_negative_and_zero_values_keep_their_order() -> None:
    values = np.array([-300.0, -20.0, -1.0, 0.0, 0.0, 2.0, 40.0])
    keys, counts = np.unique(LAYOUT.keys(values), return_counts=True)
    got = histogram_quantiles(LAYOUT, keys, counts, [0.0, 2 / 7, 0.5, 4 / 7, 5 / 7, 1.0])
    exact = np.quantile(values, [0.0, 2 / 7, 0.5, 4 / 7, 5 / 7, 1.0], method="inverted_cdf")
    assert within_alpha(got, exact, LAYOUT)
    assert got[2] == 0.0 and got[0] < got[1] < 0.0 < got[-1]


def test_histogram_quantiles_columns_and_empty_replicates() -> None:
    keys = LAYOUT.keys([1.0, 2.0, 3.0])
    counts = np.array([[1, 0, 0], [1, 3, 0], [2, 1, 0]])
    out = histogram_quantiles(LAYOUT, keys, counts, [0.0, 0.25, 1.0])
    assert out.shape == (3, 3)
    assert np.isnan(out[:, 2]).all()  # a replicate whose weights were all 0
    assert out[0, 1] == out[1, 1] == LAYOUT.values(keys[1:2])[0]  # q = 0 skips the bucket with no weight
    with pytest.raises(ValidationError, match="quantiles"):
        histogram_quantiles(LAYOUT, keys, counts, [1.5])
    with pytest.raises(ValidationError, match="strictly increasing"):
        histogram_quantiles(LAYOUT, keys[::-1], counts, [0.5])


def test_merge_checks_layout_and_replicates() -> None:
    with pytest.raises(ValidationError, match="layout"):
        _ = QuantileSketches.empty(LAYOUT, 2) + QuantileSketches.empty(SketchLayout(0.02), 2)
    with pytest.raises(ValidationError, match="n_replicates"):
        _ = QuantileSketches.empty(LAYOUT, 2) + QuantileSketches.empty(LAYOUT, 3)
    with pytest.raises(ValidationError, match="cells"):
        k1, k2 = unit_keys("x", ["a"])
        QuantileSketches.from_events(LAYOUT, [1.0], [2], k1, k2, 2, 3)


@pytest.mark.parametrize("n_reps", [100, 1000])
def test_bytes_per_cell_hour_of_typical_latency(n_reps: int) -> None:
    """A cell-hour of 20,000 latency events (lognormal, median 120 ms, sigma 0.6, from 2,000 units) at alpha = 1%:
    the rows are the buckets it touches and the bytes follow ``R (20 + 8 B)``."""
    rng = np.random.default_rng(5)
    unit = rng.integers(0, 2_000, 20_000)
    uk1, uk2 = unit_keys("lat", [f"u{i}" for i in range(2_000)])
    latency = rng.lognormal(np.log(120.0), 0.6, 20_000)
    sketch = QuantileSketches.from_events(LAYOUT, latency, np.zeros(20_000, np.int64), uk1[unit], uk2[unit], 1, n_reps)
    expected_rows = len(np.unique(LAYOUT.keys(latency)))
    assert sketch.n_rows == expected_rows
    assert 150 < sketch.n_rows < 350
    assert sketch.nbytes == sketch.n_rows * (20 + 8 * n_reps)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_values, min_size=1, max_size=80),
       st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=5))
def test_any_sample_any_quantile_is_within_alpha(values: list[float], quantiles: list[float]) -> None:
    x = np.array(values)
    keys, counts = np.unique(LAYOUT.keys(x), return_counts=True)
    got = histogram_quantiles(LAYOUT, keys, counts, quantiles)
    assert within_alpha(got, np.quantile(x, quantiles, method="inverted_cdf"), LAYOUT)


def test_p90_replicates_feed_the_bayesian_readout_of_a_latency_regression() -> None:
    """The sketch's ``(cells, Q, B)`` replicates are the ``(cells, B)`` arrays the readouts take: a 10% slower
    treatment p90 gives a small chance to win when lower is better, and the lift's interval covers the plant."""
    from rayab.stats.bayesian import bootstrap_readouts

    rng = np.random.default_rng(90)
    n_units, n_reps = 3_000, 400
    per_unit = rng.integers(1, 12, n_units)
    unit = np.repeat(np.arange(n_units), per_unit)
    arm = (unit % 2).astype(np.int64)
    effect = rng.lognormal(0.0, 0.3, n_units)[unit]
    latency = rng.lognormal(np.log(100.0), 0.5, len(unit)) * effect * np.where(arm == 1, 1.1, 1.0)
    uk1, uk2 = unit_keys("p90", [f"u{i}" for i in range(n_units)])
    sketch = QuantileSketches.from_events(LAYOUT, latency, arm, uk1[unit], uk2[unit], 2, n_reps)
    estimates, replicates = sketch.quantiles([0.9])
    readout = bootstrap_readouts(estimates[:1, 0], estimates[1:, 0], replicates[:1, 0], replicates[1:, 0],
                                 inverse=True).row(0)
    assert readout.error is None and readout.n_replicates == n_reps
    assert readout.chance_to_win < 0.01
    assert 0.0 < readout.ci_lower < 0.1 < readout.ci_upper < 0.2
    assert readout.risk_treatment > readout.risk_control
