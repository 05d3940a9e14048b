"""The batch of bootstrap intervals the query engine uses equals the one-row function, row by row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rayab.errors import ValidationError
from rayab.stats.bootstrap import bootstrap_interval, bootstrap_intervals


def _rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(17)
    reps = rng.gamma(2.0, 1.0, (9, 300))
    estimates = reps.mean(axis=1) + rng.normal(0, 0.05, 9)
    reps[1, :2] = np.nan  # a few invalid replicates: within 1%
    reps[2, :10] = np.inf  # too many
    reps[3] = 1.5  # zero variance
    estimates[4] = np.nan  # invalid estimate
    reps[5, :299] = np.nan  # too few
    reps[6] = np.round(reps[6])  # ties
    reps[7] = reps[7] - reps[7].mean()  # p-value around zero
    return estimates, reps


@pytest.mark.parametrize("method", ["percentile", "basic", "normal"])
@pytest.mark.parametrize("level", [0.8, 0.95])
def test_each_row_equals_bootstrap_interval(method: str, level: float) -> None:
    estimates, reps = _rows()
    batch = bootstrap_intervals(estimates, reps, level, method, null_value=0.1)  # type: ignore[arg-type]
    for i in range(len(estimates)):
        one = bootstrap_interval(float(estimates[i]), reps[i], level, method, null_value=0.1)  # type: ignore[arg-type]
        row = batch.row(i)
        assert (row.error, row.n_invalid, row.n_replicates, row.method) == (one.error, one.n_invalid,
                                                                             one.n_replicates, one.method)
        for name in ("estimate", "ci_lower", "ci_upper", "se", "pvalue"):
            a, b = getattr(row, name), getattr(one, name)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15), (i, name)
    assert batch.error[2] == "too_many_invalid_replicates" and batch.error[3] == "zero_variance"


def test_shapes_are_checked() -> None:
    with pytest.raises(ValidationError) as info:
        bootstrap_intervals([1.0, 2.0], np.zeros((3, 10)))
    assert info.value.field == "replicates"
    empty = bootstrap_intervals(np.zeros(0), np.zeros((0, 10)))
    assert len(empty.ci_lower) == 0
