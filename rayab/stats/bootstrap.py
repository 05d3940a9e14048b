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
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt
from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.arguments import check_probability

__all__ = [
    "QUANTILE_METHOD",
    "BootstrapError",
    "BootstrapInterval",
    "BootstrapMethod",
    "bootstrap_interval",
    "bootstrap_pvalue",
]

BootstrapMethod = Literal["percentile", "basic", "normal"]
BootstrapError = Literal["too_many_invalid_replicates", "too_few_replicates", "invalid_estimate", "zero_variance"]
QUANTILE_METHOD: Literal["linear"] = "linear"
_METHODS: tuple[str, ...] = get_args(BootstrapMethod)

F64 = npt.NDArray[np.float64]


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
