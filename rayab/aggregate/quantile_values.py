"""Validation of a quantile metric's per-event values: float64 observations, NaN where an event has none.

A null value is no observation (the event still counts in every other metric); a value that is not a number,
NaN, infinite, negative where not allowed, or above the metric's ``max_value`` in magnitude is a bad row, quarantined
with its reason like any other (:mod:`rayab.aggregate.validate`).

>>> import pyarrow as pa
>>> from rayab.aggregate.validate import Reasons
>>> from rayab.model import QuantileMetric
>>> table = pa.table({"latency_ms": [12.5, None, -1.0, float("nan"), 3e15]})
>>> reasons = Reasons(5)
>>> values = quantile_values(table, QuantileMetric("latency", "latency_ms"), reasons)
>>> values[:2].tolist(), [reasons.texts[c] for c in reasons.codes]
([12.5, nan], ['', '', 'latency_ms is negative', 'latency_ms is NaN', 'latency_ms is above max_value (1e+15)'])
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.validate import Reasons
from rayab.model import QuantileMetric

__all__ = ["quantile_values"]

F64 = npt.NDArray[np.float64]


def _parsed(column: pa.ChunkedArray, name: str, reasons: Reasons) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Values and which were null; text that is not a number gets its reason."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    nulls = np.asarray(column.is_null(), dtype=bool)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        values = np.asarray(pc.fill_null(pc.cast(column, pa.float64()), math.nan), dtype=np.float64)
        return values, nulls
    out = np.full(len(column), math.nan)
    bad = np.zeros(len(column), bool)
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            out[i] = float(str(value).strip()) if not isinstance(value, bool) else math.nan
        except ValueError:
            bad[i] = True
    reasons.flag(bad, f"{name} is not a number (column type {column.type})")
    return out, nulls


def quantile_values(table: pa.Table, metric: QuantileMetric, reasons: Reasons) -> F64:
    """The observations of ``metric`` in ``table`` (NaN: none); bad values get their reason in ``reasons``."""
    name = metric.column
    values, nulls = _parsed(table.column(name), name, reasons)
    with np.errstate(invalid="ignore"):
        reasons.flag(np.isnan(values) & ~nulls & (reasons.codes == 0), f"{name} is NaN")
        reasons.flag(np.isinf(values), f"{name} is infinite")
        if not metric.allow_negative:
            reasons.flag(values < 0, f"{name} is negative")
        reasons.flag(np.isfinite(values) & (np.abs(values) > metric.max_value),
                     f"{name} is above max_value ({metric.max_value:g})")
    return values
