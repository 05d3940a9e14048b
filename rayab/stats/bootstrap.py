"""Confidence intervals and p-values from bootstrap replicates of an estimate.

Three interval methods at level ``1 - alpha``, with ``q(u)`` the ``u``-quantile of the valid replicates:

* ``"percentile"``: ``[q(alpha/2), q(1 - alpha/2)]``;
* ``"basic"`` (reverse percentile): ``[2 estimate - q(1 - alpha/2), 2 estimate - q(alpha/2)]``;
* ``"normal"``: ``estimate +/- z_{1 - alpha/2} se`` with ``se`` the replicates' standard deviation (``n - 1``).

Quantile rule: :data:`QUANTILE_METHOD` = numpy's ``method="linear"`` (Hyndman & Fan type 7), the default of numpy
and R and the rule of SQL's ``PERCENTILE_CONT``, so the same interval can be recomputed in the warehouse; with
hundreds of replicates the differences between quantile rules are far below the replicates' own noise.

p-values of the null ``null_value`` (two-sided), each matching its interval:

* ``"normal"``: ``2 Phi(-|estimate - null_value| / se)``;
* ``"percentile"``: ``min(1, 2 (k + 1) / (B + 1))`` with ``k`` the number of replicates on the far side of
  ``null_value`` (``min(#{r <= null}, #{r >= null})``) and ``B`` the valid replicates; the ``+ 1`` keeps a finite
  bootstrap from claiming p = 0;
* ``"basic"``: the percentile rule applied to the reflected replicates ``2 estimate - r``.

Replicates that are not finite (a ratio whose denominator summed to 0 in a resample) are never turned into
numbers: they are dropped, counted in ``n_invalid``, and when they exceed ``max_invalid_fraction`` of the
replicates the result carries ``error="too_many_invalid_replicates"``. Whenever ``error`` is set, ``se``,
``ci_lower``, ``ci_upper`` and ``pvalue`` are NaN.

>>> import numpy as np
>>> replicates = np.array([0.8, 1.1, 0.9, 1.3, 1.0, np.nan, 1.2, 0.7, 1.05, 0.95])
>>> result = bootstrap_interval(1.0, replicates, confidence_level=0.8, max_invalid_fraction=0.2)
>>> round(result.ci_lower, 3), round(result.ci_upper, 3), result.n_invalid, result.error
(0.78, 1.22, 1, None)
>>> bootstrap_interval(1.0, replicates, max_invalid_fraction=0.05).error
'too_many_invalid_replicates'

:func:`bootstrap_intervals` does the same for many estimates at once (one row of replicates each), with the same
numbers row by row; a query engine uses it to compute every cell, metric and comparison in a few array operations:

>>> batch = bootstrap_intervals([1.0, 2.0], [replicates, 1.0 + replicates], confidence_level=0.8,
...                             max_invalid_fraction=0.2)
>>> batch.row(0) == result, batch.error
(True, (None, None))
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt
from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.arguments import BootstrapMethod, check_probability

__all__ = [
    "QUANTILE_METHOD",
    "BootstrapError",
    "BootstrapInterval",
    "BootstrapIntervals",
    "BootstrapMethod",
    "bootstrap_interval",
    "bootstrap_intervals",
    "bootstrap_pvalue",
]

BootstrapError = Literal["too_many_invalid_replicates", "too_few_replicates", "invalid_estimate", "zero_variance"]
QUANTILE_METHOD: Literal["linear"] = "linear"
_METHODS: tuple[str, ...] = get_args(BootstrapMethod)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class BootstrapInterval(NamedTuple):
    """A bootstrap interval and p-value.

    Attributes:
        estimate: the point estimate on the full data (not the replicates' mean).
        ci_lower: lower bound (NaN when ``error``).
        ci_upper: upper bound (NaN when ``error``).
        se: standard deviation of the valid replicates, ``n - 1`` (NaN when ``error``).
        pvalue: two-sided p-value of ``null_value`` by the interval's method (NaN when ``error``).
        n_replicates: replicates given, valid or not.
        n_invalid: replicates that were NaN or infinite, left out.
        method: ``"percentile"``, ``"basic"`` or ``"normal"``.
        confidence_level: the interval's confidence level.
        error: ``None``, ``"too_many_invalid_replicates"``, ``"too_few_replicates"`` (fewer than 2 valid),
            ``"invalid_estimate"`` (the estimate is not finite) or ``"zero_variance"`` (all replicates equal).
    """

    estimate: float
    ci_lower: float
    ci_upper: float
    se: float
    pvalue: float
    n_replicates: int
    n_invalid: int
    method: BootstrapMethod
    confidence_level: float
    error: BootstrapError | None = None


def _check_method(method: str) -> BootstrapMethod:
    if method not in _METHODS:
        raise ValidationError("method", method, f"must be one of {', '.join(_METHODS)}")
    checked: BootstrapMethod = method  # type: ignore[assignment]
    return checked


def _percentile_pvalue(replicates: F64, null_value: float) -> float:
    far_side = min(int((replicates <= null_value).sum()), int((replicates >= null_value).sum()))
    return min(1.0, 2.0 * (far_side + 1) / (len(replicates) + 1))


def bootstrap_pvalue(estimate: float, replicates: npt.ArrayLike, method: BootstrapMethod = "percentile",
                     null_value: float = 0.0) -> float:
    """Two-sided p-value of ``null_value`` from the finite ``replicates`` by ``method`` (see the module doc)."""
    r = np.asarray(replicates, dtype=np.float64).ravel()
    r = r[np.isfinite(r)]
    method = _check_method(method)
    if method == "normal":
        se = float(np.std(r, ddof=1))
        return float(2.0 * stats.norm.sf(abs(estimate - null_value) / se))
    return _percentile_pvalue(r if method == "percentile" else 2.0 * estimate - r, null_value)


def _interval(estimate: float, r: F64, alpha: float, method: BootstrapMethod, se: float) -> tuple[float, float]:
    if method == "normal":
        margin = float(stats.norm.isf(alpha / 2.0)) * se
        return estimate - margin, estimate + margin
    low, high = np.quantile(r, [alpha / 2.0, 1.0 - alpha / 2.0], method=QUANTILE_METHOD)
    if method == "percentile":
        return float(low), float(high)
    return 2.0 * estimate - float(high), 2.0 * estimate - float(low)


def _error(estimate: float, r: F64, n_invalid: int, max_invalid_fraction: float) -> BootstrapError | None:
    if n_invalid > max_invalid_fraction * (len(r) + n_invalid):
        return "too_many_invalid_replicates"
    if not math.isfinite(estimate):
        return "invalid_estimate"
    if len(r) < 2:
        return "too_few_replicates"
    return "zero_variance" if float(np.ptp(r)) == 0 else None


def bootstrap_interval(estimate: float, replicates: npt.ArrayLike, confidence_level: float = 0.95,
                       method: BootstrapMethod = "percentile", *, null_value: float = 0.0,
                       max_invalid_fraction: float = 0.01) -> BootstrapInterval:
    """The ``method`` interval and matching p-value of ``estimate`` from its bootstrap ``replicates``."""
    confidence_level = check_probability("confidence_level", confidence_level)
    method = _check_method(method)
    if not 0.0 <= max_invalid_fraction <= 1.0:
        raise ValidationError("max_invalid_fraction", max_invalid_fraction, "must be in [0, 1]")
    all_replicates = np.asarray(replicates, dtype=np.float64).ravel()
    valid = np.isfinite(all_replicates)
    r = all_replicates[valid]
    n_invalid = int((~valid).sum())
    error = _error(float(estimate), r, n_invalid, max_invalid_fraction)
    if error is not None:
        nan = math.nan
        return BootstrapInterval(float(estimate), nan, nan, nan, nan, len(all_replicates), n_invalid, method,
                                 confidence_level, error)
    se = float(np.std(r, ddof=1))
    ci_lower, ci_upper = _interval(float(estimate), r, 1.0 - confidence_level, method, se)
    pvalue = bootstrap_pvalue(estimate, r, method, null_value)
    return BootstrapInterval(float(estimate), ci_lower, ci_upper, se, pvalue, len(all_replicates), n_invalid,
                             method, confidence_level)


class BootstrapIntervals(NamedTuple):
    """The fields of :class:`BootstrapInterval` for many estimates: arrays with one entry per row."""

    estimate: F64
    ci_lower: F64
    ci_upper: F64
    se: F64
    pvalue: F64
    n_replicates: int
    n_invalid: I64
    method: BootstrapMethod
    confidence_level: float
    error: tuple[BootstrapError | None, ...]

    def row(self, i: int) -> BootstrapInterval:
        """Row ``i`` as a :class:`BootstrapInterval`."""
        return BootstrapInterval(float(self.estimate[i]), float(self.ci_lower[i]), float(self.ci_upper[i]),
                                 float(self.se[i]), float(self.pvalue[i]), self.n_replicates, int(self.n_invalid[i]),
                                 self.method, self.confidence_level, self.error[i])


def _batch_pvalues(estimates: F64, r: F64, method: BootstrapMethod, null_value: float, se: F64) -> F64:
    if method == "normal":
        normal: F64 = np.asarray(2.0 * stats.norm.sf(np.abs(estimates - null_value) / se), dtype=np.float64)
        return normal
    if method == "basic":
        r = 2.0 * estimates[:, None] - r
    far_side = np.minimum((r <= null_value).sum(axis=1), (r >= null_value).sum(axis=1))
    percentile: F64 = np.minimum(1.0, 2.0 * (far_side + 1.0) / (r.shape[1] + 1.0))
    return percentile


def _batch_fill(out: dict[str, F64], rows: I64, estimates: F64, r: F64, alpha: float, method: BootstrapMethod,
                null_value: float) -> None:
    """Intervals of ``rows`` whose replicates are all finite and not constant, in whole-array operations."""
    if len(rows) == 0:
        return
    est, block = estimates[rows], r[rows]
    se = np.std(block, axis=1, ddof=1)
    if method == "normal":
        margin = float(stats.norm.isf(alpha / 2.0)) * se
        low, high = est - margin, est + margin
    else:
        q_low, q_high = np.quantile(block, [alpha / 2.0, 1.0 - alpha / 2.0], axis=1, method=QUANTILE_METHOD)
        low, high = (q_low, q_high) if method == "percentile" else (2.0 * est - q_high, 2.0 * est - q_low)
    out["se"][rows], out["ci_lower"][rows], out["ci_upper"][rows] = se, low, high
    out["pvalue"][rows] = _batch_pvalues(est, block, method, null_value, se)


def bootstrap_intervals(estimates: npt.ArrayLike, replicates: npt.ArrayLike, confidence_level: float = 0.95,
                        method: BootstrapMethod = "percentile", *, null_value: float = 0.0,
                        max_invalid_fraction: float = 0.01) -> BootstrapIntervals:
    """:func:`bootstrap_interval` of every row: ``estimates`` has shape ``(n,)``, ``replicates`` ``(n, B)``."""
    confidence_level = check_probability("confidence_level", confidence_level)
    method = _check_method(method)
    if not 0.0 <= max_invalid_fraction <= 1.0:
        raise ValidationError("max_invalid_fraction", max_invalid_fraction, "must be in [0, 1]")
    est = np.asarray(estimates, dtype=np.float64).reshape(-1)
    r = np.asarray(replicates, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != len(est):
        raise ValidationError("replicates", r.shape, f"must have shape ({len(est)}, B), one row per estimate")
    valid = np.isfinite(r)
    n_invalid = (~valid).sum(axis=1).astype(np.int64)
    out = {name: np.full(len(est), np.nan) for name in ("ci_lower", "ci_upper", "se", "pvalue")}
    errors: list[BootstrapError | None] = [None] * len(est)
    clean = (n_invalid == 0) & np.isfinite(est) & (r.shape[1] >= 2)
    if r.shape[1]:
        clean &= np.ptp(np.where(valid, r, 0.0), axis=1) > 0
    _batch_fill(out, np.flatnonzero(clean), est, r, 1.0 - confidence_level, method, null_value)
    for i in np.flatnonzero(~clean):  # rare: invalid replicates or a degenerate row take the one-row path
        one = bootstrap_interval(float(est[i]), r[i], confidence_level, method, null_value=null_value,
                                 max_invalid_fraction=max_invalid_fraction)
        out["ci_lower"][i], out["ci_upper"][i], out["se"][i], out["pvalue"][i] = (one.ci_lower, one.ci_upper,
                                                                                  one.se, one.pvalue)
        errors[i] = one.error
    return BootstrapIntervals(est, out["ci_lower"], out["ci_upper"], out["se"], out["pvalue"], int(r.shape[1]),
                              n_invalid, method, confidence_level, tuple(errors))
