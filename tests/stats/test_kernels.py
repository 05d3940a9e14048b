"""The fused kernel against the numpy reference: bit identity, order and split independence, golden values."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayab.stats.kernels import fused_weights, replicate_sums_fused
from rayab.stats.poisson_weights import poisson_weights, unit_keys
from rayab.stats.replicate_sums import replicate_sums, replicate_sums_numpy


def _random_rows(seed: int, n: int, n_cells: int, n_metrics: int, lo: int = -10**6, hi: int = 10**6):
    rng = np.random.default_rng(seed)
    k1 = rng.integers(0, 2**32, n, dtype=np.uint32)
    k2 = rng.integers(0, 2**32, n, dtype=np.uint32)
    cells = rng.integers(0, n_cells, n)
    values = rng.integers(lo, hi, (n, n_metrics), dtype=np.int64)
    return k1, k2, cells, values


def _assert_same(a, b):
    assert a[0].dtype == b[0].dtype == np.int64 and a[1].dtype == b[1].dtype == np.int64
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 60),
    n_cells=st.integers(1, 7),
    n_metrics=st.integers(1, 4),
    n_replicates=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    wide=st.booleans(),
    threads=st.sampled_from([1, 2]),
)
def test_matches_numpy_reference(n, n_cells, n_metrics, n_replicates, seed, wide, threads):
    # ``wide`` pushes values past int32 so both the single-multiply and the int64 path are covered.
    bound = 2**40 if wide else 2**20
    k1, k2, cells, values = _random_rows(seed, n, n_cells, n_metrics, -bound, bound)
    _assert_same(replicate_sums_fused(k1, k2, cells, values, n_cells, n_replicates, n_threads=threads),
                 replicate_sums_numpy(k1, k2, cells, values, n_cells, n_replicates))


@pytest.mark.parametrize("n_replicates", [1, 31, 32, 33, 200, 1000, 2049])
@pytest.mark.parametrize("n_metrics", [1, 3, 17])
def test_matches_reference_on_larger_inputs(n_replicates, n_metrics):
    k1, k2, cells, values = _random_rows(n_replicates * 7 + n_metrics, 3000, 13, n_metrics)
    values[::5] = 0  # zero metrics take a shortcut in the kernel
    ref = replicate_sums_numpy(k1, k2, cells, values, 13, n_replicates)
    _assert_same(replicate_sums_fused(k1, k2, cells, values, 13, n_replicates), ref)
    _assert_same(replicate_sums_fused(k1, k2, cells, values, 13, n_replicates, n_threads=2), ref)


def test_b_ten_thousand():
    k1, k2, cells, values = _random_rows(3, 400, 3, 2)
    _assert_same(replicate_sums_fused(k1, k2, cells, values, 3, 10_000),
                 replicate_sums_numpy(k1, k2, cells, values, 3, 10_000))


def test_one_big_cell_split_over_threads():
    # A single cell larger than a work item is split into row ranges with private accumulators.
    k1, k2, cells, values = _random_rows(11, 40_000, 1, 2)
    _assert_same(replicate_sums_fused(k1, k2, cells, values, 1, 64, n_threads=2),
                 replicate_sums_numpy(k1, k2, cells, values, 1, 64))


def _unfmix32(y: np.ndarray) -> np.ndarray:
    """The inverse of MurmurHash3's finaliser: ``fmix32(_unfmix32(y)) == y``."""
    y = y.astype(np.uint64)
    y ^= y >> np.uint64(16)
    y = (y * np.uint64(2127672349)) & np.uint64(0xFFFFFFFF)  # 0xC2B2AE35 ** -1 mod 2**32
    y ^= (y >> np.uint64(13)) ^ (y >> np.uint64(26))
    y = (y * np.uint64(2781581891)) & np.uint64(0xFFFFFFFF)  # 0x85EBCA6B ** -1 mod 2**32
    y ^= y >> np.uint64(16)
    return y.astype(np.uint32)


@pytest.mark.parametrize("top", [1, 2**31 // (12 * 64), 2**31 // (12 * 64) + 1, 2**31 - 1])
def test_int32_accumulators_flush_before_they_could_wrap(top):
    # Per cell, rows share int32 accumulators only while rows x 12 x max |value| fits int32: ``top`` puts a cell
    # at exactly the smallest chunk the kernel accepts (64 rows per flush), just under it (the int64 loop), at the
    # int32 limit and at no risk at all. Every value is +-top or +top, and in replicate 0 every row weighs 8 or more
    # (k2 is chosen so that fmix32(k2 + 0 * a) passes eight thresholds), so flushing half as often would wrap.
    from rayab.stats.poisson_weights import POISSON_THRESHOLDS, fmix32

    rng = np.random.default_rng(top % 1000)
    n = 5000
    k1, _, cells, _ = _random_rows(top % 997, n, 3, 2)
    k2 = _unfmix32(rng.integers(POISSON_THRESHOLDS[7], 2**32, n, dtype=np.uint64))
    assert (fmix32(k2) >= POISSON_THRESHOLDS[7]).all()
    values = np.where(rng.random((n, 2)) < 0.5, -top, top).astype(np.int64)
    values[cells == 2] = rng.integers(-3, 4, (int((cells == 2).sum()), 2))  # a small-valued cell next to it
    for vals in (values, np.abs(values)):  # all positive: partial sums only grow, the worst case for a wrap
        ref = replicate_sums_numpy(k1, k2, cells, vals, 3, 300)
        assert (poisson_weights(k1, k2, 1) >= 8).all()
        _assert_same(replicate_sums_fused(k1, k2, cells, vals, 3, 300), ref)
        _assert_same(replicate_sums_fused(k1, k2, cells, vals, 3, 300, n_threads=2), ref)


def test_heavy_weights_are_counted_in_full():
    # Units whose weights reach the tail (>= 5) exercise the fix-up path; compare every weight, not only sums.
    rng = np.random.default_rng(5)
    k1 = rng.integers(0, 2**32, 2000, dtype=np.uint32)
    k2 = rng.integers(0, 2**32, 2000, dtype=np.uint32)
    w = fused_weights(k1, k2, 999)
    np.testing.assert_array_equal(w, poisson_weights(k1, k2, 999))
    assert int(w.max()) >= 8


def test_independent_of_row_order_and_of_splits():
    k1, k2, cells, values = _random_rows(1, 5000, 9, 3)
    whole = replicate_sums_fused(k1, k2, cells, values, 9, 128)
    perm = np.random.default_rng(2).permutation(len(k1))
    _assert_same(replicate_sums_fused(k1[perm], k2[perm], cells[perm], values[perm], 9, 128), whole)
    raw = np.zeros_like(whole[0])
    reps = np.zeros_like(whole[1])
    for part in np.array_split(perm, 7):
        r, s = replicate_sums_fused(k1[part], k2[part], cells[part], values[part], 9, 128)
        raw += r
        reps += s
    _assert_same((raw, reps), whole)


def test_sorted_input_and_unused_cells():
    k1, k2, cells, values = _random_rows(4, 500, 3, 2)
    cells = np.sort(cells) * 2  # cells 1, 3 stay empty
    raw, reps = replicate_sums_fused(k1, k2, cells, values, 6, 50)
    _assert_same((raw, reps), replicate_sums_numpy(k1, k2, cells, values, 6, 50))
    assert not reps[1].any() and not reps[5].any()


def test_empty_inputs():
    empty_u = np.zeros(0, dtype=np.uint32)
    raw, reps = replicate_sums_fused(empty_u, empty_u, np.zeros(0, dtype=np.int64), np.zeros((0, 2), np.int64), 3, 10)
    assert raw.shape == (3, 2) and reps.shape == (3, 2, 10) and not raw.any() and not reps.any()
    raw, reps = replicate_sums_fused(empty_u, empty_u, [], np.zeros((0, 2), np.int64), 0, 10)
    assert raw.shape == (0, 2) and reps.shape == (0, 2, 10)
    k1, k2, cells, values = _random_rows(0, 5, 2, 2)
    raw, reps = replicate_sums_fused(k1, k2, cells, values, 2, 0)
    assert reps.shape == (2, 2, 0)
    _assert_same((raw, reps), replicate_sums_numpy(k1, k2, cells, values, 2, 0))


def test_one_dimensional_values_are_one_metric():
    k1, k2, cells, values = _random_rows(8, 50, 2, 1)
    _assert_same(replicate_sums_fused(k1, k2, cells, values[:, 0], 2, 20),
                 replicate_sums_numpy(k1, k2, cells, values, 2, 20))


def test_rejects_bad_input():
    k1, k2, cells, values = _random_rows(0, 5, 2, 2)
    with pytest.raises(ValueError, match="cell indices"):
        replicate_sums_fused(k1, k2, cells + 5, values, 2, 4)
    with pytest.raises(ValueError, match="length"):
        replicate_sums_fused(k1[:3], k2, cells, values, 2, 4)
    with pytest.raises(TypeError, match="integers"):
        replicate_sums_fused(k1, k2, cells, values.astype(float), 2, 4)


def test_public_entry_point_dispatches_to_the_kernel():
    k1, k2, cells, values = _random_rows(9, 300, 4, 2)
    _assert_same(replicate_sums(k1, k2, cells, values, 4, 40), replicate_sums_numpy(k1, k2, cells, values, 4, 40))


def test_golden_values():
    # Pinned: any change to the hash, the thresholds or the summation changes these numbers.
    units = [f"u{i}" for i in range(20)]
    k1, k2 = unit_keys("golden-salt", units)
    cells = np.arange(20) % 3
    values = np.stack([np.arange(20) - 7, (np.arange(20) * 37) % 11], axis=1).astype(np.int64)
    raw, reps = replicate_sums_fused(k1, k2, cells, values, 3, 6)
    assert raw.tolist() == [[14, 21], [21, 49], [15, 30]]
    assert reps[:, 0].tolist() == GOLDEN_REPS_METRIC0
    digest = hashlib.sha256(reps.tobytes()).hexdigest()[:16]
    assert digest == GOLDEN_DIGEST


GOLDEN_REPS_METRIC0 = [[16, -12, 16, -21, -10, 23], [27, 12, 18, -3, 18, 30], [36, 42, 15, 11, 24, 29]]
GOLDEN_DIGEST = "50630e4b84041622"  # sha256 prefix of reps (little-endian int64, C order)
