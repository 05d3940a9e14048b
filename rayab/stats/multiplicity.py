"""Adjusted p-values for a family of tests, returned in input order and clipped to 1.

Family-wise error rate (FWER): ``"bonferroni"`` (``m p``), ``"holm"`` (step-down Bonferroni), ``"hochberg"``
(step-up, for independent or positively dependent tests), ``"sidak"`` (single-step ``1 - (1 - p)^m``) and
``"holm-sidak"`` (step-down Sidak). False discovery rate (FDR): ``"bh"`` (Benjamini-Hochberg, independent or
positively dependent tests) and ``"by"`` (Benjamini-Yekutieli, any dependence, ``sum 1/i`` more conservative).
Step-down adjustments are made monotone with a running maximum from the smallest p-value up, step-up ones with a
running minimum from the largest down. A test is rejected when its adjusted p-value is ``<= alpha``.

>>> result = adjust_pvalues([0.01, 0.04, 0.03, 0.005], method="holm")
>>> [round(p, 4) for p in result.pvalues]
[0.03, 0.06, 0.06, 0.02]
>>> result.rejected
(True, False, False, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, get_args

import numpy as np
import numpy.typing as npt

from rayab.errors import ValidationError
from rayab.stats.arguments import PvalueAdjustment, check_probability

__all__ = ["MultipleTestResult", "PvalueAdjustment", "adjust_pvalues"]

_METHODS: tuple[str, ...] = get_args(PvalueAdjustment)

F64 = npt.NDArray[np.float64]


class MultipleTestResult(NamedTuple):
    """Adjusted p-values and decisions, in the order of the input p-values.

    Attributes:
        pvalues: adjusted p-values, each in ``[raw p-value, 1]``.
        rejected: ``adjusted p-value <= alpha``.
        method: the adjustment used.
        alpha: the family-wise error rate or false discovery rate controlled.
    """

    pvalues: tuple[float, ...]
    rejected: tuple[bool, ...]
    method: PvalueAdjustment
    alpha: float


def _step_down(sorted_adjusted: F64) -> F64:
    return np.maximum.accumulate(sorted_adjusted)


def _step_up(sorted_adjusted: F64) -> F64:
    return np.minimum.accumulate(sorted_adjusted[::-1])[::-1]


def _sidak(p: F64, k: F64 | int) -> F64:
    """``1 - (1 - p)^k`` without losing small p-values to rounding; p = 1 maps to 1."""
    with np.errstate(divide="ignore"):
        out: F64 = -np.expm1(k * np.log1p(-p))
    return out


def _adjust_sorted(p: F64, method: PvalueAdjustment) -> F64:
    """Adjusted values of ascending p-values ``p``."""
    m = len(p)
    rank = np.arange(1, m + 1, dtype=np.float64)
    if method == "bonferroni":
        return m * p
    if method == "sidak":
        return _sidak(p, m)
    if method == "holm":
        return _step_down((m - rank + 1) * p)
    if method == "holm-sidak":
        return _step_down(_sidak(p, m - rank + 1))
    if method == "hochberg":
        return _step_up((m - rank + 1) * p)
    if method == "bh":
        return _step_up(m / rank * p)
    harmonic = float(np.sum(1.0 / rank))
    return _step_up(harmonic * m / rank * p)


def adjust_pvalues(pvalues: Sequence[float], method: PvalueAdjustment = "holm",
                   alpha: float = 0.05) -> MultipleTestResult:
    """Adjust ``pvalues`` for multiplicity with ``method``; an empty family gives an empty result."""
    if method not in _METHODS:
        raise ValidationError("method", method, f"must be one of {', '.join(_METHODS)}")
    alpha = check_probability("alpha", alpha)
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    bad = [float(x) for x in p if not (math.isfinite(x) and 0.0 <= x <= 1.0)]
    if bad:
        raise ValidationError("pvalues", bad[0], "must be numbers in [0, 1]")
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(_adjust_sorted(p[order], method), 1.0)
    return MultipleTestResult(tuple(float(x) for x in adjusted), tuple(bool(x <= alpha) for x in adjusted),
                              method, alpha)
