"""What the hourly job can sum exactly in int64, and the checks that stop an hour before a wrapped sum is stored.

Every stored number is a sum of int64 values: per (cell, unit) in the map tasks, across map tasks in a shard,
weighted by bootstrap weights of at most :data:`~rayab.stats.poisson_weights.MAX_WEIGHT` (12) in the replicate
sums, and across shards in the reducer. None of these can wrap when, for every metric column,

    MAX_WEIGHT x (sum over the hour's rows of |value|)  <=  2**63 - 1,

because every partial sum of a cell, raw or weighted, is bounded in absolute value by that product. So:

* a single value above :data:`MAX_ROW_VALUE` (``(2**63 - 1) // 12``, about 7.7e17 at the metric's integer scale)
  can never be summed exactly and is quarantined by validation;
* the map tasks and shard tasks report the exact totals of ``|value|`` (:func:`abs_totals`) of what they summed,
  and the driver refuses to commit an hour whose totals break the bound (:func:`check_hour_totals`), naming the
  metric. Nothing is stored: the hour's committed data, if any, stays as it was.

>>> import numpy as np
>>> abs_totals(np.array([[2**62, -3], [2**62, 4]], dtype=np.int64))
[9223372036854775808, 7]
>>> check_hour_totals({"clicks": MAX_ROW_VALUE}, "2026-11-24T10")
>>> check_hour_totals({"clicks": MAX_ROW_VALUE + 1}, "2026-11-24T10")
Traceback (most recent call last):
...
rayab.aggregate.sum_bounds.SumOverflowError: hour 2026-11-24T10 not committed: the values of clicks add up to \
768614336404564651 in absolute value; times the largest bootstrap weight (12) that exceeds int64 \
(9223372036854775807), so its sums could not be exact: check the input for wrong values, or give the metric \
fewer decimals
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from rayab.errors import InputDataError
from rayab.stats.poisson_weights import MAX_WEIGHT

__all__ = ["INT64_MAX", "MAX_ROW_VALUE", "SumOverflowError", "abs_totals", "add_totals", "check_hour_totals"]

INT64_MAX = 2**63 - 1
# The largest |value| one row may carry: alone in its cell with the largest weight, it still fits int64.
MAX_ROW_VALUE = INT64_MAX // MAX_WEIGHT


class SumOverflowError(InputDataError):
    """An hour's values are too large to be summed exactly in int64."""


def abs_totals(values: npt.NDArray[np.int64]) -> list[int]:
    """Exact ``sum(|values[:, m]|)`` per column as Python ints (no wrap: halves of 32 bits are summed apart).

    Exact for up to 2**32 rows."""
    if values.size == 0:
        return [0] * (values.shape[1] if values.ndim == 2 else 0)
    magnitude = np.abs(values).view(np.uint64)  # |-2**63| wraps to -2**63, whose uint64 view is 2**63: still exact
    high = (magnitude >> np.uint64(32)).sum(axis=0, dtype=np.uint64)
    low = (magnitude & np.uint64(0xFFFFFFFF)).sum(axis=0, dtype=np.uint64)
    return [(int(h) << 32) + int(lo) for h, lo in zip(high, low, strict=True)]


def add_totals(into: dict[str, int], names: tuple[str, ...] | list[str], totals: list[int]) -> None:
    """Add one task's totals (in ``names`` order) into a running dict of exact totals."""
    for name, total in zip(names, totals, strict=True):
        into[name] = into.get(name, 0) + int(total)


def check_hour_totals(totals: Mapping[str, int], hour: str, label: str = "") -> None:
    """Raise :class:`SumOverflowError` if a column's exact ``sum |value|`` times the largest weight exceeds int64."""
    for name, total in totals.items():
        if total * MAX_WEIGHT > INT64_MAX:
            where = f" of {label}" if label else ""
            raise SumOverflowError(
                f"hour {hour}{where} not committed: the values of {name} add up to {total} in absolute value; times "
                f"the largest bootstrap weight ({MAX_WEIGHT}) that exceeds int64 ({INT64_MAX}), so its sums could "
                "not be exact: check the input for wrong values, or give the metric fewer decimals")
