"""The bootstrap weight function: byte-exact spec, Poisson(1) distribution, independence, reproducibility."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from rayab.assignment import buckets
from rayab.stats.poisson_weights import POISSON_THRESHOLDS, poisson_weights, unit_keys, weights_for


def _reference_weight(salt: str, unit_id: str, b: int) -> int:
    """The spec of DESIGN section 2 written out with Python integers, independently of the numpy code."""
    digest = hashlib.md5(f"{salt}:{unit_id}".encode()).digest()
    k1, k2 = int.from_bytes(digest[0:4], "big"), int.from_bytes(digest[4:8], "big")
    x = (k2 + b * (k1 | 1)) % 2**32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) % 2**32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) % 2**32
    x ^= x >> 16
    thresholds = [int(np.ceil(2**32 * stats.poisson.cdf(j, 1.0))) for j in range(12)]
    return sum(x >= t for t in thresholds)


# Golden vectors: pinned so any engine re-implementing the spec can check itself (salt "exp:bootstrap").
GOLDEN = {
    "alice": [0, 2, 1, 0, 1, 0, 1, 0, 1, 2, 1, 0],
    "bob": [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 2, 1],
    "": [0, 0, 0, 1, 0, 0, 2, 0, 0, 2, 2, 1],
    "ünïcode-42": [1, 0, 1, 1, 0, 2, 0, 1, 2, 4, 2, 0],
}


def test_thresholds_are_the_poisson_inverse_cdf_on_a_32_bit_grid() -> None:
    expected = [int(np.ceil(2**32 * stats.poisson.cdf(j, 1.0))) for j in range(12)]
    assert list(POISSON_THRESHOLDS) == expected


@pytest.mark.parametrize("unit", sorted(GOLDEN))
def test_golden_vectors(unit: str) -> None:
    got = weights_for("exp:bootstrap", [unit], 12)[0].tolist()
    assert got == [_reference_weight("exp:bootstrap", unit, b) for b in range(12)]
    assert got == GOLDEN[unit]


def test_matches_the_reference_on_many_units_and_far_replicates() -> None:
    units = [f"user-{i}" for i in range(300)]
    k1, k2 = unit_keys("s", units)
    got = poisson_weights(k1, k2, 5, first_replicate=995)
    for i in range(0, 300, 37):
        assert got[i].tolist() == [_reference_weight("s", units[i], b) for b in range(995, 1000)]


def test_distribution_is_poisson_1() -> None:
    w = weights_for("dist", [f"u{i}" for i in range(50_000)], 64).ravel()
    # mean and variance of Poisson(1) are 1; SE of the mean over 3.2M draws is ~0.00056
    assert abs(w.mean() - 1.0) < 0.003
    assert abs(w.var() - 1.0) < 0.006
    counts = np.bincount(w, minlength=13)[:6]
    expected = stats.poisson.pmf(np.arange(6), 1.0) * len(w)
    expected[-1] = stats.poisson.sf(4, 1.0) * len(w)
    counts[-1] = (w >= 5).sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, df=5) > 1e-4


def test_a_biased_weight_function_would_be_caught() -> None:
    """The distribution test above can fail: weights that are Poisson(1.02) are rejected by the same check."""
    rng = np.random.default_rng(0)
    w = rng.poisson(1.02, 50_000 * 64)
    assert abs(w.mean() - 1.0) >= 0.003


def test_replicates_are_uncorrelated() -> None:
    w = weights_for("corr", [f"u{i}" for i in range(40_000)], 32).astype(float)
    corr = np.corrcoef(w.T)
    off_diagonal = corr[~np.eye(32, dtype=bool)]
    # SE of a correlation over 40k pairs is 0.005: 6 SE bounds over 992 pairs
    assert np.abs(off_diagonal).max() < 0.03
    assert abs(np.corrcoef(w[:-1, 0], w[1:, 0])[0, 1]) < 0.03  # neighbouring units


def test_salts_are_independent_and_independent_of_the_assignment_bucket() -> None:
    units = [f"u{i}" for i in range(40_000)]
    a, b = weights_for("exp:bootstrap", units, 16), weights_for("other:bootstrap", units, 16)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01
    position = buckets("exp", units)
    treated = position < 0.5
    # the weights of each arm must look alike: same mean, same variance
    for arm in (treated, ~treated):
        assert abs(a[arm].mean() - 1.0) < 0.01
        assert abs(a[arm].var() - 1.0) < 0.03
    assert abs(np.corrcoef(position, a[:, 0])[0, 1]) < 0.02


def test_same_unit_same_weights_whatever_the_batch_or_order() -> None:
    units = [f"u{i}" for i in range(1000)]
    whole = weights_for("s", units, 50)
    perm = np.random.default_rng(1).permutation(1000)
    shuffled = weights_for("s", [units[i] for i in perm], 50)
    np.testing.assert_array_equal(shuffled, whole[perm])
    np.testing.assert_array_equal(weights_for("s", units[500:], 50), whole[500:])


def test_same_weights_in_another_process() -> None:
    code = ("from rayab.stats.poisson_weights import weights_for;"
            "print(weights_for('s', ['a', 'b', 'c'], 20).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(weights_for("s", ["a", "b", "c"], 20).tolist())
