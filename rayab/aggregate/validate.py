"""Row validation of raw events: every row is either valid (normalised) or quarantined with its reason.

Nothing is dropped silently: ``valid.num_rows + quarantined.num_rows`` always equals the rows read.
Metric values become exact integers at the metric's ``decimals`` scale; a value that needs more decimals, is null,
NaN, infinite, negative where not allowed, above :data:`rayab.aggregate.sum_bounds.MAX_ROW_VALUE` at its scale (it
could not be summed exactly) or a float beyond 2**53 (where floats skip integers) is quarantined, as are rows with a
null or empty unit id, an unknown experiment or variant, a JSON line that is not an object, and every row of a file
that lacks a required column. Numbers given as text (JSON lines mixing types, string columns) are parsed exactly.
Checks run on whole columns and on dictionary codes (an unknown exp_id is looked up once per distinct value, not
once per row).

Two input modes (``population``): ``"log"`` events carry exp_id and variant_id; ``"assignment"`` events carry only
the unit (and ``event_time``) and get their experiments from the ``assignment`` table later.

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
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.codes import key_codes
from rayab.aggregate.sum_bounds import MAX_ROW_VALUE
from rayab.model import AnalysisType, Experiment, Metric
from rayab.storage.logs import LINE_ERROR
from rayab.storage.schemas import QUARANTINE

__all__ = ["TIME_COLUMN", "Population", "Reasons", "required_columns", "validate_events", "variant_ids"]

Population = Literal["log", "assignment"]
# The event-time column the assignment join compares with ``assigned_at``.
TIME_COLUMN = "event_time"
# Tolerance for "this float is an integer at the metric's scale": float noise such as 0.1 + 0.2 passes.
_INTEGRAL_TOLERANCE = 1e-6


class Reasons:
    """The first reason each row failed, as small integer codes into a list of texts (0: valid)."""

    def __init__(self, n_rows: int) -> None:
        self.codes = np.zeros(n_rows, np.int32)
        self.texts: list[str] = [""]

    def flag(self, mask: npt.NDArray[np.bool_], text: str) -> None:
        """Give ``text`` to the rows in ``mask`` that have no reason yet."""
        target = mask & (self.codes == 0)
        if target.any():
            self.texts.append(text)
            self.codes[target] = len(self.texts) - 1

    def flag_values(self, mask: npt.NDArray[np.bool_], value_codes: npt.NDArray[np.int64], texts: list[str]) -> None:
        """Like :meth:`flag` with a text per value: row ``i`` gets ``texts[value_codes[i]]``."""
        target = mask & (self.codes == 0)
        if target.any():
            base = len(self.texts)
            self.texts.extend(texts)
            self.codes[target] = base + value_codes[target]

    @property
    def bad(self) -> npt.NDArray[np.bool_]:
        """Rows with a reason."""
        out: npt.NDArray[np.bool_] = self.codes != 0
        return out


def required_columns(analysis_type: AnalysisType, population: Population = "log") -> list[str]:
    """The input columns an analysis type needs, in order (duplicates removed)."""
    ids = ["exp_id", "variant_id"] if population == "log" else [TIME_COLUMN]
    return list(dict.fromkeys([analysis_type.unit_column, *ids, *analysis_type.dimensions,
                               *(m.column for m in analysis_type.metrics if m.kind == "sum")]))


def validate_events(
    table: pa.Table,
    analysis_type: AnalysisType,
    experiments: Sequence[Experiment] | Mapping[str, Sequence[str]],
    source_file: str,
    hour: str = "",
    population: Population = "log",
) -> tuple[pa.Table, pa.Table]:
    """Split ``table`` into ``(valid, quarantined)``.

    ``experiments`` are the running experiments, or just their variant ids by exp_id (what map tasks carry).

    ``valid`` keeps the key columns as read (exp_id, variant_id or event_time, unit_id, dimensions; nulls in
    dimensions are kept and become ``(none)`` later) and has one int64 column per metric, named after the metric;
    ``quarantined`` follows :data:`rayab.storage.schemas.QUARANTINE`.
    """
    reasons = Reasons(table.num_rows)
    if LINE_ERROR in table.column_names:
        errors = table.column(LINE_ERROR)
        codes = key_codes(errors)
        reasons.flag_values(codes.codes >= 0, np.maximum(codes.codes, 0), list(codes.values))
    missing = [c for c in required_columns(analysis_type, population) if c not in table.column_names]
    if missing:
        reasons.flag(np.ones(table.num_rows, bool), f"missing column {missing[0]!r}")
        return pa.table({}), _quarantined(table, reasons, analysis_type, source_file, hour)
    _check_units(table.column(analysis_type.unit_column), reasons)
    if population == "log":
        _check_ids(table, experiments, reasons)
    else:
        _flag_nulls(table.column(TIME_COLUMN), reasons, f"{TIME_COLUMN} is null")
    metric_values = [_metric_values(table, m, reasons) for m in analysis_type.metrics]
    return (_valid(table, reasons, analysis_type, metric_values, population),
            _quarantined(table, reasons, analysis_type, source_file, hour))


def _flag_nulls(column: pa.ChunkedArray, reasons: Reasons, text: str) -> None:
    if column.null_count:
        reasons.flag(np.asarray(column.is_null(), dtype=bool), text)


def _check_units(units: pa.ChunkedArray, reasons: Reasons) -> None:
    if pa.types.is_dictionary(units.type):
        units = units.cast(units.type.value_type)
    as_text = pc.cast(units, pa.string(), safe=False)
    empty = pc.fill_null(pc.equal(pc.utf8_length(as_text), 0), True)
    reasons.flag(np.asarray(empty, dtype=bool), "unit_id is null or empty")


def variant_ids(experiments: Sequence[Experiment] | Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Variant ids by exp_id."""
    if isinstance(experiments, Mapping):
        return {exp_id: frozenset(ids) for exp_id, ids in experiments.items()}
    return {e.exp_id: frozenset(v.variant_id for v in e.variants) for e in experiments}


def _check_ids(table: pa.Table, experiments: Sequence[Experiment] | Mapping[str, Sequence[str]],
               reasons: Reasons) -> None:
    exp = key_codes(table.column("exp_id"))
    variant = key_codes(table.column("variant_id"))
    known = variant_ids(experiments)
    reasons.flag(exp.codes < 0, "exp_id is null")
    unknown = np.array([v not in known for v in exp.values] + [False], bool)
    reasons.flag_values(unknown[exp.codes], exp.codes,
                        [f"exp_id == {v!r}: unknown or not running" for v in exp.values])
    reasons.flag(variant.codes < 0, "variant_id is null")
    # (exp code, variant code) -> is the variant one of the experiment's
    allowed = np.zeros((len(exp.values) + 1, len(variant.values) + 1), bool)
    for i, exp_id in enumerate(exp.values):
        if exp_id in known:
            allowed[i, :-1] = [v in known[exp_id] for v in variant.values]
    bad = ~allowed[exp.codes, variant.codes]
    pair = exp.codes * (len(variant.values) + 1) + variant.codes
    texts = [f"variant_id == {v!r}: unknown variant of {e}" for e in exp.values for v in [*variant.values, ""]]
    reasons.flag_values(bad, np.where(bad, pair, 0), texts)


def _as_float(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """Numbers as float64 (null -> NaN)."""
    return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), math.nan), dtype=np.float64)


_TOO_LARGE = "is too large to be summed exactly (above {bound} at the metric's integer scale)"
# floats above this skip integers, so an integer at the metric's scale could have been changed on its way here
_FLOAT_EXACT = 2.0**53


def _metric_values(table: pa.Table, metric: Metric, reasons: Reasons) -> npt.NDArray[np.int64]:
    if metric.kind == "count":
        return np.ones(table.num_rows, dtype=np.int64)
    column = table.column(metric.column)
    name = metric.column
    bound = MAX_ROW_VALUE // metric.scale
    too_large = f"{name} " + _TOO_LARGE.format(bound=MAX_ROW_VALUE)
    if pa.types.is_integer(column.type) and column.null_count == 0:
        values = np.asarray(pc.cast(column, pa.int64()), dtype=np.int64)  # exact: no float round trip
        if not metric.allow_negative:
            reasons.flag(values < 0, f"{name} is negative")
        reasons.flag((values > bound) | (values < -bound), too_large)
        if metric.scale != 1:
            return np.where(reasons.codes == 0, values * metric.scale, 0)
        return values
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        return _text_metric_values(column, metric, reasons, too_large)
    raw = _as_float(column)
    reasons.flag(np.isnan(raw), f"{name} is null or NaN")
    reasons.flag(np.isinf(raw), f"{name} is infinite")
    if not metric.allow_negative:
        reasons.flag(raw < 0, f"{name} is negative")
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = raw * metric.scale
        rounded = np.round(scaled)
        reasons.flag(np.abs(rounded) > MAX_ROW_VALUE, too_large)
        reasons.flag(np.abs(rounded) > _FLOAT_EXACT, f"{name} is a float beyond 2**53 at the metric's scale, where "
                     "floats are not exact integers: write it as an integer")
        reasons.flag(np.abs(scaled - rounded) > _INTEGRAL_TOLERANCE, f"{name} has more than {metric.decimals} decimals")
    ok = np.isfinite(rounded) & (np.abs(rounded) <= _FLOAT_EXACT)
    return np.where(ok, rounded, 0).astype(np.int64)


def _text_metric_values(column: pa.ChunkedArray, metric: Metric, reasons: Reasons,
                        too_large: str) -> npt.NDArray[np.int64]:
    """Numbers written as text, parsed exactly (decimal arithmetic, so ``"0.1"`` is 10 cents and a 19-digit
    integer keeps every digit); one reason per row that is not a number at the metric's scale."""
    from decimal import Decimal, InvalidOperation, localcontext

    name = metric.column
    kind = f"{name} is not a number (column type {column.type})"
    out = np.zeros(len(column), np.int64)
    problems = np.zeros(len(column), np.int64)
    texts = [kind, f"{name} is infinite", f"{name} is negative", too_large,
             f"{name} has more than {metric.decimals} decimals"]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    for i, value in enumerate(column.to_pylist()):
        try:
            number = Decimal(str(value).strip()) if value is not None and not isinstance(value, bool) else None
        except InvalidOperation:
            number = None
        if number is None or number.is_nan():
            problems[i] = 1
        elif number.is_infinite():
            problems[i] = 2
        elif number < 0 and not metric.allow_negative:
            problems[i] = 3
        else:
            with localcontext() as exact:
                exact.prec = len(number.as_tuple().digits) + metric.decimals + 2  # the product is never rounded
                scaled = number.scaleb(metric.decimals)
                if abs(scaled) > MAX_ROW_VALUE:
                    problems[i] = 4
                elif scaled != scaled.to_integral_value():
                    problems[i] = 5
                else:
                    out[i] = int(scaled)
    reasons.flag_values(problems > 0, np.maximum(problems - 1, 0), texts)
    return out


def _quarantined(table: pa.Table, reasons: Reasons, analysis_type: AnalysisType, source_file: str,
                 hour: str) -> pa.Table:
    bad_index = np.flatnonzero(reasons.bad)
    rows = table.take(pa.array(bad_index, pa.int64())).to_pylist() if len(bad_index) else []
    texts = np.array(reasons.texts, dtype=object)
    return pa.table({
        "analysis_type": pa.array([analysis_type.name] * len(bad_index), pa.string()),
        "hour": pa.array([hour] * len(bad_index), pa.string()),
        "source_file": pa.array([source_file] * len(bad_index), pa.string()),
        "row_index": pa.array(bad_index, pa.int64()),
        "reason": pa.array(texts[reasons.codes[bad_index]].tolist(), pa.string()),
        "row": pa.array([json.dumps(r, default=str, sort_keys=True) for r in rows], pa.string()),
    }, schema=QUARANTINE)


def _valid(table: pa.Table, reasons: Reasons, analysis_type: AnalysisType,
           metric_values: list[npt.NDArray[np.int64]], population: Population) -> pa.Table:
    good = ~reasons.bad
    everything = bool(good.all())
    mask = pa.array(good)
    keys = ["exp_id", "variant_id"] if population == "log" else [TIME_COLUMN]
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for name in (*keys, *analysis_type.dimensions):
        columns[name] = table.column(name) if everything else table.column(name).filter(mask)
    unit = table.column(analysis_type.unit_column)
    columns["unit_id"] = unit if everything else unit.filter(mask)
    for metric, values in zip(analysis_type.metrics, metric_values, strict=True):
        columns[metric.name] = pa.array(values if everything else values[good], pa.int64())
    return pa.table(columns)
