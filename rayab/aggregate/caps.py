"""Caps derived from data and frozen before use: a quantile of the units' hour totals over a past window.

A capped metric (:class:`rayab.model.Metric` with ``cap``) clips every unit's hour total before it is summed. A cap
computed from the data being analysed would move whenever a later hour arrived and silently change the sums of
earlier hours; so a data-derived cap is computed **once**, from a window that is over (the pre-period, or the
experiment's first day), and written into the spec as a number with ``cap_basis`` saying how. Later hours read that
number; the quantile is never recomputed by the hourly job.

:func:`unit_hour_totals` gives the totals a cap applies to (per experiment, unit and hour, events of one hour
summed), :func:`quantile_cap` the cap of a set of totals (an order statistic: ``numpy``'s ``inverted_cdf`` of the
positive totals), :func:`derive_cap` both from an hour range of logs.

>>> import pyarrow as pa
>>> events = pa.table({"exp_id": ["e"] * 5, "unit_id": ["a", "a", "b", "c", "d"],
...                    "revenue": [1.0, 2.0, 0.5, 9.0, 0.0]})
>>> sorted(unit_hour_totals(events, "revenue", 2).tolist())
[0, 50, 300, 900]
>>> quantile_cap(unit_hour_totals(events, "revenue", 2), 0.5, decimals=2)
3.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import NotFoundError, ValidationError
from rayab.model import AnalysisType, Metric
from rayab.storage.logs import list_log_files, read_log_file

__all__ = ["derive_cap", "quantile_cap", "unit_hour_totals"]

I64 = npt.NDArray[np.int64]


def unit_hour_totals(events: pa.Table, column: str, decimals: int = 0, unit_column: str = "unit_id") -> I64:
    """Per (exp_id, unit) of one hour's ``events``, the total of ``column`` on the integer scale ``10**decimals``
    (each event rounded to it first, ``numpy.rint``); null values and units are skipped. The job caps per cell
    (a unit that changed dimensions within the hour has one total per cell); for deriving a cap the difference is
    immaterial."""
    if events.num_rows == 0:
        return np.zeros(0, np.int64)
    keep = pc.and_(pc.is_valid(events.column(column)), pc.is_valid(events.column(unit_column)))
    table = events.filter(keep)
    scaled = np.rint(np.asarray(table.column(column).to_numpy(zero_copy_only=False), np.float64) * 10**decimals)
    grouped = pa.table({"exp_id": table.column("exp_id"), "unit": table.column(unit_column),
                        "v": pa.array(scaled.astype(np.int64))}).group_by(["exp_id", "unit"]).aggregate([("v", "sum")])
    return np.asarray(grouped.column("v_sum").to_numpy(), np.int64)


def quantile_cap(totals: I64, quantile: float, decimals: int = 0) -> float:
    """The ``quantile`` of the **positive** unit-hour totals (an observed total, numpy ``inverted_cdf``), in the
    metric's units. Zeros are left out: a cap bounds what active units do, and zeros are never capped anyway."""
    if not 0.0 < quantile < 1.0:
        raise ValidationError("quantile", quantile, "must be in (0, 1)")
    positive = totals[totals > 0]
    if not len(positive):
        raise NotFoundError("no positive unit-hour totals to derive a cap from")
    value = int(np.quantile(positive, quantile, method="inverted_cdf"))
    return float(value / 10**decimals)


def derive_cap(logs_root: str, analysis_type: AnalysisType, metric: str, hours: Sequence[str], quantile: float, *,
               name: str = "", exp_ids: Sequence[str] = (), storage_options: Mapping[str, str] | None = None) -> Metric:
    """A capped copy of ``metric`` (named ``name``, default ``<metric>_capped``) whose ``cap`` is the ``quantile``
    of the unit-hour totals in the log files of ``hours`` (of ``exp_ids`` only, when given), frozen with its basis.

    The result goes into the spec as a new metric (the same column, ``cap`` a number): hours aggregated with it
    keep that cap whatever later data shows.
    """
    base = analysis_type.metric(metric)
    if base.kind != "sum":
        raise ValidationError("metric", metric, "must be a sum metric (a count per unit-hour is capped by its sum)")
    hourly: list[I64] = []
    for hour in hours:  # the files of one hour are summed together, as the hourly job does
        parts = []
        for file in list_log_files(logs_root, hour, storage_options):
            table = read_log_file(file.path, ["exp_id", analysis_type.unit_column, base.column], storage_options)
            if base.column in table.column_names and analysis_type.unit_column in table.column_names:
                if exp_ids:
                    table = table.filter(pc.is_in(table.column("exp_id"), pa.array(list(exp_ids))))
                parts.append(table)
        if parts:
            hour_table = pa.concat_tables(parts, promote_options="permissive")
            hourly.append(unit_hour_totals(hour_table, base.column, base.decimals, analysis_type.unit_column))
    totals = np.concatenate(hourly) if hourly else np.zeros(0, np.int64)
    cap = quantile_cap(totals, quantile, base.decimals)
    window = f"[{hours[0]}, {hours[-1]}]" if hours else "[]"
    basis = (f"p{quantile * 100:g} of {int((totals > 0).sum())} positive unit-hour totals of {base.column} over "
             f"hours {window}" + (f" of {', '.join(exp_ids)}" if exp_ids else ""))
    return dataclasses.replace(base, name=name or f"{metric}_capped", cap=cap, cap_basis=basis)
