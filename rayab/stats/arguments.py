"""Argument checks shared by the statistics modules; each raises :class:`~rayab.errors.ValidationError`.

A check returns the value it accepted (as a plain ``float`` or ``int``) so call sites read as assignments:

>>> check_probability("confidence_level", 0.95)
0.95
>>> check_probability("alpha", 1.5)
Traceback (most recent call last):
...
rayab.errors.ValidationError: alpha == 1.5: must be a number in (0, 1)
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Literal, get_args

from rayab.errors import ValidationError

__all__ = ["Alternative", "check_alternative", "check_count", "check_finite", "check_positive", "check_probability"]

Alternative = Literal["two-sided", "greater", "less"]
_ALTERNATIVES: tuple[str, ...] = get_args(Alternative)


def _is_real(value: Any) -> bool:
    # numbers.Real admits numpy scalars; bool is an int subclass but never a meaningful statistic.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_finite(field: str, value: Any) -> float:
    """A finite real number."""
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValidationError(field, value, "must be a finite number")
    return float(value)


def check_probability(field: str, value: Any) -> float:
    """A number strictly between 0 and 1 (a level, an alpha, a power, a share)."""
    if not _is_real(value) or not 0.0 < float(value) < 1.0:
        raise ValidationError(field, value, "must be a number in (0, 1)")
    return float(value)


def check_positive(field: str, value: Any) -> float:
    """A finite number greater than 0."""
    if not _is_real(value) or not 0.0 < float(value) < math.inf:
        raise ValidationError(field, value, "must be a finite number > 0")
    return float(value)


def check_count(field: str, value: Any, low: int = 0) -> int:
    """An integer (Python or numpy) of at least ``low``."""
    try:
        count = operator.index(value)
    except TypeError:
        raise ValidationError(field, value, "must be an integer") from None
    if isinstance(value, bool) or count < low:
        raise ValidationError(field, value, f"must be an integer >= {low}")
    return count


def check_alternative(value: Any) -> Alternative:
    """One of ``"two-sided"``, ``"greater"`` (treatment > control) or ``"less"``."""
    if value not in _ALTERNATIVES:
        raise ValidationError("alternative", value, f"must be one of {', '.join(_ALTERNATIVES)}")
    alternative: Alternative = value
    return alternative


# The names of the interval methods and p-value corrections, here (no numpy, no scipy) so that a query can be
# validated without loading the statistics that compute them.
BootstrapMethod = Literal["percentile", "basic", "normal"]
PvalueAdjustment = Literal["bonferroni", "holm", "hochberg", "sidak", "holm-sidak", "bh", "by"]
