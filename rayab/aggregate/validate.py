"""Row validation of raw events: every row is either valid (normalised) or quarantined with its reason.

Nothing is dropped silently: ``valid.num_rows + quarantined.num_rows`` always equals the rows read.
Metric values become exact integers at the metric's ``decimals`` scale. A value with more decimals than that is
rounded half to even (``0.125`` at 2 decimals is 12 cents, ``0.135`` is 14), on the decimal the value is written as
(a float counts as its shortest repr, so Parquet, JSON lines and CSV agree), and counted (``values_rounded``), not
quarantined; rounding comes before any sum, so sums stay exact. A value that is null, NaN, infinite, negative where
not allowed, above :data:`rayab.aggregate.sum_bounds.MAX_ROW_VALUE` at its scale (it could not be summed exactly)
or a float beyond 2**53 (where floats skip integers) is quarantined, as are rows with a
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
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.codes import key_codes
from rayab.aggregate.sum_bounds import MAX_ROW_VALUE
from rayab.model import AnalysisType, Experiment, Metric
from rayab.storage.logs import LINE_ERROR
from rayab.storage.schemas import QUARANTINE

__all__ = ["TIME_COLUMN", "Population", "Reasons", "ValidatedEvents", "metric_integers", "required_columns",
           "round_half_even", "validate_events", "validate_events_counted", "variant_ids"]

Population = Literal["log", "assignment"]
# The event-time column the assignment join compares with ``assigned_at``.
TIME_COLUMN = "event_time"
# Within this many units in the last place of a half, a float scaled to the metric's scale is a tie: the binary
# error of the value and of the multiplication then decides the side, so the decimal it prints as decides instead.
_NOISE_ULPS = 8.0


class ValidatedEvents(NamedTuple):
    """What validation makes of a table: valid rows, quarantined rows, and how many metric values of the valid rows
    were rounded to the metric's scale."""

    valid: pa.Table
    quarantined: pa.Table
    values_rounded: int


def round_half_even(number: Decimal, decimals: int) -> tuple[int, bool]:
    """``number`` as an integer at ``decimals`` decimals, rounded half to even, and whether it was rounded.

    >>> round_half_even(Decimal("0.125"), 2), round_half_even(Decimal("0.135"), 2), round_half_even(Decimal("7"), 2)
    ((12, True), (14, True), (700, False))
    """
    with localcontext() as exact:
        exact.prec = max(len(number.as_tuple().digits) + decimals + 2, 28)  # the product is never rounded
        scaled = number.scaleb(decimals)
        whole = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
        return int(whole), whole != scaled


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
                               *(m.column for m in analysis_type.metrics if m.kind == "sum"),
                               *(q.column for q in analysis_type.quantile_metrics),
                               *_conversion_columns(analysis_type)]))


def _conversion_columns(analysis_type: AnalysisType) -> list[str]:
    """What conversion metrics read besides the metrics: the event time and the columns of their ``where``."""
    if not analysis_type.conversion_metrics:
        return []
    return [TIME_COLUMN, *(c for cm in analysis_type.conversion_metrics for c in cm.columns)]


def validate_events(
    table: pa.Table,
    analysis_type: AnalysisType,
    experiments: Sequence[Experiment] | Mapping[str, Sequence[str]],
    source_file: str,
    hour: str = "",
    population: Population = "log",
) -> tuple[pa.Table, pa.Table]:
    """Split ``table`` into ``(valid, quarantined)``; see :func:`validate_events_counted`."""
    checked = validate_events_counted(table, analysis_type, experiments, source_file, hour, population)
    return checked.valid, checked.quarantined


def validate_events_counted(
    table: pa.Table,
    analysis_type: AnalysisType,
    experiments: Sequence[Experiment] | Mapping[str, Sequence[str]],
    source_file: str,
    hour: str = "",
    population: Population = "log",
) -> ValidatedEvents:
    """Split ``table`` into valid and quarantined rows, counting the metric values rounded to their scale.

    ``experiments`` are the running experiments, or just their variant ids by exp_id (what map tasks carry).

    ``valid`` keeps the key columns as read (exp_id, variant_id or event_time, unit_id, dimensions; nulls in
    dimensions are kept and become ``(none)`` later) and has one int64 column per metric, named after the metric,
    then one float64 column per quantile metric (NaN where the event has no observation);
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
        return ValidatedEvents(pa.table({}), _quarantined(table, reasons, analysis_type, source_file, hour), 0)
    _check_units(table.column(analysis_type.unit_column), reasons)
    if population == "log":
        _check_ids(table, experiments, reasons)
    else:
        _flag_nulls(table.column(TIME_COLUMN), reasons, f"{TIME_COLUMN} is null")
    if analysis_type.conversion_metrics:
        from rayab.storage.sources import event_times

        reasons.flag(np.asarray(event_times(table.column(TIME_COLUMN))[1], bool),
                     f"{TIME_COLUMN} is null or not a time (conversion metrics need it)")
    checked = [_metric_values(table, m, reasons) for m in analysis_type.metrics]
    metric_values = [values for values, _ in checked]
    observations = _quantile_observations(table, analysis_type, reasons)
    rounded = sum(int(np.count_nonzero(mask & ~reasons.bad)) for _, mask in checked)
    valid = _valid(table, reasons, analysis_type, metric_values, population)
    for metric, values in zip(analysis_type.quantile_metrics, observations, strict=True):
        valid = valid.append_column(metric.name, pa.array(values[~reasons.bad], pa.float64()))
    return ValidatedEvents(valid, _quarantined(table, reasons, analysis_type, source_file, hour), rounded)


def _quantile_observations(table: pa.Table, analysis_type: AnalysisType,
                           reasons: Reasons) -> list[npt.NDArray[np.float64]]:
    """Each quantile metric's observations (float64, NaN for none), named after the metric in ``valid``."""
    if not analysis_type.quantile_metrics:
        return []
    from rayab.aggregate.quantile_values import quantile_values

    return [quantile_values(table, q, reasons) for q in analysis_type.quantile_metrics]


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


def _metric_values(table: pa.Table, metric: Metric,
                   reasons: Reasons) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The metric's values as integers at its scale, and which of them were rounded to get there."""
    exact = np.zeros(table.num_rows, bool)
    if metric.kind == "count":
        return np.ones(table.num_rows, dtype=np.int64), exact
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
            return np.where(reasons.codes == 0, values * metric.scale, 0), exact
        return values, exact
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
        rounded = np.round(scaled)  # numpy rounds half to even
        reasons.flag(np.abs(rounded) > MAX_ROW_VALUE, too_large)
        reasons.flag(np.abs(rounded) > _FLOAT_EXACT, f"{name} is a float beyond 2**53 at the metric's scale, where "
                     "floats are not exact integers: write it as an integer")
        noise = _NOISE_ULPS * np.spacing(np.maximum(np.abs(scaled), 1.0))
        off = np.abs(scaled - rounded)
        ok = np.isfinite(rounded) & (np.abs(rounded) <= _FLOAT_EXACT)
        # near a tie the float's binary error decides the side: decide on the decimal it prints as instead
        for i in np.flatnonzero(ok & (np.abs(off - 0.5) <= noise)):
            rounded[i] = round_half_even(Decimal(repr(float(raw[i]))), metric.decimals)[0]
        # written with at most `decimals` decimals exactly when the float is the one nearest to rounded / scale,
        # which the (correctly rounded) division gives: 0.07 is not rounded, 0.1 + 0.2 is
        was_rounded = ok & (raw != rounded / metric.scale)
    return np.where(ok, rounded, 0).astype(np.int64), was_rounded


def metric_integers(table: pa.Table, metric: Metric,
                    reasons: Reasons) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """One metric's values as integers at its scale (rounded half to even beyond it) and which were rounded; rows
    that cannot be summed get their reason in ``reasons``."""
    return _metric_values(table, metric, reasons)


def _text_metric_values(column: pa.ChunkedArray, metric: Metric, reasons: Reasons,
                        too_large: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Numbers written as text, parsed exactly (decimal arithmetic, so ``"0.1"`` is 10 cents and a 19-digit
    integer keeps every digit) and rounded half to even beyond the metric's decimals; one reason per row that is
    not a number."""
    name = metric.column
    kind = f"{name} is not a number (column type {column.type})"
    out = np.zeros(len(column), np.int64)
    rounded = np.zeros(len(column), bool)
    problems = np.zeros(len(column), np.int64)
    texts = [kind, f"{name} is infinite", f"{name} is negative", too_large]
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
        elif number.adjusted() + metric.decimals > 19:  # beyond int64 at the scale, whatever its digits
            problems[i] = 4
        else:
            whole, rounded[i] = round_half_even(number, metric.decimals)
            if abs(whole) > MAX_ROW_VALUE:
                problems[i] = 4
            else:
                out[i] = whole
    reasons.flag_values(problems > 0, np.maximum(problems - 1, 0), texts)
    return out, rounded


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
    for name in dict.fromkeys((*keys, *analysis_type.dimensions, *_conversion_columns(analysis_type))):
        columns[name] = table.column(name) if everything else table.column(name).filter(mask)
    unit = table.column(analysis_type.unit_column)
    columns["unit_id"] = unit if everything else unit.filter(mask)
    for metric, values in zip(analysis_type.metrics, metric_values, strict=True):
        columns[metric.name] = pa.array(values if everything else values[good], pa.int64())
    return pa.table(columns)
