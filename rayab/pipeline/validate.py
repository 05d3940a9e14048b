"""Row validation of raw events: every row is either valid (normalised) or quarantined with its reason.

Nothing is dropped silently: ``valid.num_rows + quarantined.num_rows`` always equals the rows read.
Metric values become exact integers at the metric's ``decimals`` scale; a value that needs more decimals, is null,
NaN, infinite or negative where not allowed is quarantined, as are rows with a null or empty unit id, an unknown
experiment or variant, and every row of a file that lacks a required column.

>>> import pyarrow as pa
>>> from rayab.simulate import demo_config
>>> config = demo_config()
>>> rows = pa.table({"unit_id": ["u1", "", "u3"], "exp_id": ["aa_check"] * 3, "variant_id": ["a", "a", "zz"],
...                  "country": ["FR", None, "DE"], "platform": ["web"] * 3,
...                  "impressions": [3, 1, 1], "clicks": [1, 0, 0], "revenue": [0.5, 0.0, 0.0]})
>>> valid, bad = validate_events(rows, config.analysis_type("engagement"), config.experiments, "f.parquet")
>>> valid.column("revenue").to_pylist(), bad.column("reason").to_pylist()
([50], ['unit_id is null or empty', "variant_id == 'zz': unknown variant of aa_check"])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.model import AnalysisType, Experiment, Metric
from rayab.storage.schemas import NULL_DIMENSION, QUARANTINE

__all__ = ["validate_events"]

# Tolerance for "this float is an integer at the metric's scale": float noise such as 0.1 + 0.2 passes.
_INTEGRAL_TOLERANCE = 1e-6


def validate_events(
    table: pa.Table,
    analysis_type: AnalysisType,
    experiments: Sequence[Experiment],
    source_file: str,
    hour: str = "",
) -> tuple[pa.Table, pa.Table]:
    """Split ``table`` into ``(valid, quarantined)``.

    ``valid`` has columns exp_id, variant_id, unit_id, the dimensions (strings, null -> ``(none)``) and one int64
    column per metric; ``quarantined`` follows :data:`rayab.storage.schemas.QUARANTINE`.
    """
    unit_col = analysis_type.unit_column
    required = [unit_col, "exp_id", "variant_id", *analysis_type.dimensions,
                *(m.column for m in analysis_type.metrics if m.kind == "sum")]
    missing = [c for c in dict.fromkeys(required) if c not in table.column_names]
    reasons = np.full(table.num_rows, None, dtype=object)
    if missing:
        reasons[:] = f"missing column {missing[0]!r}"
        return _split(table, reasons, analysis_type, [], source_file, hour)
    _check_ids(table, unit_col, experiments, reasons)
    metric_values = [_metric_values(table, m, reasons) for m in analysis_type.metrics]
    return _split(table, reasons, analysis_type, metric_values, source_file, hour)


def _flag(reasons: npt.NDArray[np.object_], mask: npt.NDArray[np.bool_], reason: str | npt.NDArray[np.object_]) -> None:
    target = mask & (reasons == None)  # noqa: E711  (elementwise on an object array)
    reasons[target] = reason[target] if isinstance(reason, np.ndarray) else reason


def _check_ids(table: pa.Table, unit_col: str, experiments: Sequence[Experiment],
               reasons: npt.NDArray[np.object_]) -> None:
    units = pc.cast(table.column(unit_col), pa.string(), safe=False)
    _flag(reasons, np.asarray(pc.fill_null(pc.equal(units, ""), True)), "unit_id is null or empty")
    exp_ids = np.asarray(pc.cast(table.column("exp_id"), pa.string(), safe=False).to_pylist(), dtype=object)
    variant_ids = np.asarray(pc.cast(table.column("variant_id"), pa.string(), safe=False).to_pylist(), dtype=object)
    known = {e.exp_id: e for e in experiments}
    unknown_exp = ~np.isin(exp_ids, list(known))
    _flag(reasons, unknown_exp, np.array([f"exp_id == {e!r}: unknown or not running" for e in exp_ids],
                                         dtype=object) if unknown_exp.any() else "")
    for exp_id, exp in known.items():
        bad = (exp_ids == exp_id) & ~np.isin(variant_ids, [v.variant_id for v in exp.variants])
        if bad.any():
            _flag(reasons, bad, np.array([f"variant_id == {v!r}: unknown variant of {exp_id}" for v in variant_ids],
                                         dtype=object))


def _as_float(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """Numbers as float64 (null -> NaN); strings are parsed value by value, unparsable ones become NaN."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), math.nan), dtype=np.float64)
    out = np.full(len(column), math.nan)
    for i, value in enumerate(column.to_pylist()):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def _metric_values(table: pa.Table, metric: Metric, reasons: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    if metric.kind == "count":
        return np.ones(table.num_rows, dtype=np.int64)
    column = table.column(metric.column)
    raw = _as_float(column)
    name = metric.column
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        _flag(reasons, np.isnan(raw), f"{name} is not a number (column type {column.type})")
    _flag(reasons, np.isnan(raw), f"{name} is null or NaN")
    _flag(reasons, np.isinf(raw), f"{name} is infinite")
    if not metric.allow_negative:
        _flag(reasons, raw < 0, f"{name} is negative")
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = raw * metric.scale
        rounded = np.round(scaled)
        _flag(reasons, np.abs(rounded) > 2.0**62, f"{name} is too large for the metric's integer scale")
        _flag(reasons, np.abs(scaled - rounded) > _INTEGRAL_TOLERANCE,
              f"{name} has more than {metric.decimals} decimals")
    ok = np.isfinite(rounded) & (np.abs(rounded) <= 2.0**62)
    return np.where(ok, rounded, 0).astype(np.int64)


def _split(table: pa.Table, reasons: npt.NDArray[np.object_], analysis_type: AnalysisType,
           metric_values: list[npt.NDArray[np.int64]], source_file: str, hour: str) -> tuple[pa.Table, pa.Table]:
    bad = reasons != None  # noqa: E711
    bad_index = np.flatnonzero(bad)
    rows = table.take(pa.array(bad_index, pa.int64())).to_pylist() if len(bad_index) else []
    quarantined = pa.table({
        "analysis_type": pa.array([analysis_type.name] * len(bad_index), pa.string()),
        "hour": pa.array([hour] * len(bad_index), pa.string()),
        "source_file": pa.array([source_file] * len(bad_index), pa.string()),
        "row_index": pa.array(bad_index, pa.int64()),
        "reason": pa.array(reasons[bad_index].tolist(), pa.string()),
        "row": pa.array([json.dumps(r, default=str, sort_keys=True) for r in rows], pa.string()),
    }, schema=QUARANTINE)
    if not metric_values:  # a file-level problem: every row is quarantined
        return pa.table({}), quarantined
    good = pa.array(np.flatnonzero(~bad), pa.int64())
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "exp_id": pc.cast(table.column("exp_id"), pa.string()).take(good),
        "variant_id": pc.cast(table.column("variant_id"), pa.string()).take(good),
        "unit_id": pc.cast(table.column(analysis_type.unit_column), pa.string()).take(good),
    }
    for dim in analysis_type.dimensions:
        columns[dim] = pc.fill_null(pc.cast(table.column(dim), pa.string(), safe=False), NULL_DIMENSION).take(good)
    for metric, values in zip(analysis_type.metrics, metric_values, strict=True):
        columns[metric.name] = pa.array(values[~bad], pa.int64())
    return pa.table(columns), quarantined
