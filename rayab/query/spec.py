"""A results query: experiment, window of hours, filter, projection, metrics and how to infer.

A :class:`Query` is valid on its own once constructed (hours, level, method, correction); :meth:`Query.resolve`
then checks it against an analysis type (metric names, projected and filtered dimensions) and fills in the
default metric list. Errors name the field: ``metrics[1]``, ``projection[0]``, ``where.and[1].dimension``.

>>> q = Query("ranker_v2", "2026-11-23T00", "2026-11-24T00", metrics=("ctr",), projection=("country",),
...           where=parse_filter("platform IN ('ios', 'android')"), correction="holm")
>>> Query.from_dict(q.to_dict()) == q
True
>>> Query("e", "2026-11-23T05", "2026-11-23T05")
Traceback (most recent call last):
...
rayab.errors.ValidationError: end_hour == '2026-11-23T05': must be after start_hour 2026-11-23T05
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

from rayab.errors import ValidationError
from rayab.model import UNITS_METRIC, AnalysisType, referenced_names
from rayab.model.hours import hours_between
from rayab.query.filters import Filter, check_filter, filter_from_dict, filter_to_dict, parse_filter
from rayab.stats.arguments import BootstrapMethod, PvalueAdjustment

__all__ = ["BayesianPath", "CIMethod", "Correction", "Query", "additive_metrics", "check_projection", "default_metrics"]

CIMethod = BootstrapMethod
Correction = PvalueAdjustment
_METHODS: tuple[str, ...] = get_args(BootstrapMethod)
_CORRECTIONS: tuple[str, ...] = get_args(PvalueAdjustment)
_INTERVALS = ("fixed", "sequential")
BayesianPath = Literal["bootstrap", "normal"]
_BAYESIAN: tuple[str, ...] = get_args(BayesianPath)


def check_projection(analysis_type: AnalysisType, projection: Sequence[str]) -> None:
    """Every projected name must be a dimension of the analysis type, each at most once."""
    for i, dim in enumerate(projection):
        if dim not in analysis_type.dimensions:
            raise ValidationError(f"projection[{i}]", dim, f"must be a dimension of {analysis_type.name}: "
                                  f"{list(analysis_type.dimensions)}")
        if dim in projection[:i]:
            raise ValidationError(f"projection[{i}]", dim, "is listed twice")


def default_metrics(analysis_type: AnalysisType) -> tuple[str, ...]:
    """``units``, then the additive metrics, the conversion counts, the composed ones and the quantiles, in spec
    order."""
    return (UNITS_METRIC, *analysis_type.metric_names, *analysis_type.conversion_columns, *analysis_type.composed,
            *analysis_type.quantile_outputs)


def additive_metrics(analysis_type: AnalysisType, metrics: Sequence[str]) -> list[str]:
    """The stored metrics that ``metrics`` read, plus ``units`` (always reported), sorted."""
    needed = {UNITS_METRIC}
    for i, name in enumerate(metrics):
        if analysis_type.quantile_output(name) is not None:  # read from the sketches (rayab.query.quantiles)
            continue
        try:
            needed |= referenced_names(analysis_type.expression(name))
        except ValidationError as err:
            raise ValidationError(f"metrics[{i}]", name, err.rule) from None
    return sorted(needed)


def _check_number(field: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < float(value) < high:
        raise ValidationError(field, value, f"must be a number in ({low:g}, {high:g})")
    return float(value)


def _check_strings(field: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationError(field, values, "must be a list of names")
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{field}[{i}]", value, "must be a non-empty name")
    return tuple(values)


@dataclass(frozen=True)
class Query:
    """What to compute over the window ``[start_hour, end_hour)`` of experiment ``exp_id``.

    Attributes:
        metrics: metric names (additive, ``units`` or composed); empty means every metric of the analysis type.
        projection: dimensions to slice by (any subset, so crosses of several at once); empty is the total.
        where: a filter on dimensions applied to the rows before summing.
        confidence_level: of every interval.
        method: ``"percentile"``, ``"basic"`` or ``"normal"`` (see :mod:`rayab.stats.bootstrap`).
        correction: adjust p-values across metrics x variants (see :mod:`rayab.stats.multiplicity`).
        correct_across_slices: make one family of all slices instead of one family per slice.
        interval: ``"fixed"`` (fixed-horizon bootstrap) or ``"sequential"`` (always-valid confidence sequences
            with the bootstrap standard error plugged in, for dashboards looked at every hour).
        planned_units: the sample size (units in both arms) where a sequential interval is tightest.
        max_invalid_fraction: share of replicates with a zero denominator above which no interval is given.
        bayesian: how the Bayesian readouts (chance to beat control, risk, credible interval of ``rel_diff``) are
            formed: ``"bootstrap"`` from the replicates as posterior draws, ``"normal"`` from the lognormal
            approximation of the ratio (see :mod:`rayab.query.compare`).
    """

    exp_id: str
    start_hour: str
    end_hour: str
    metrics: tuple[str, ...] = ()
    projection: tuple[str, ...] = ()
    where: Filter | None = None
    confidence_level: float = 0.95
    method: CIMethod = "percentile"
    correction: Correction | None = None
    correct_across_slices: bool = False
    interval: Literal["fixed", "sequential"] = "fixed"
    planned_units: float = 5000.0
    max_invalid_fraction: float = 0.01
    bayesian: BayesianPath = "bootstrap"

    def __post_init__(self) -> None:
        if not isinstance(self.exp_id, str) or not self.exp_id:
            raise ValidationError("exp_id", self.exp_id, "must be a non-empty experiment id")
        if not hours_between(self.start_hour, self.end_hour):
            raise ValidationError("end_hour", self.end_hour, f"must be after start_hour {self.start_hour}")
        object.__setattr__(self, "metrics", _check_strings("metrics", self.metrics))
        object.__setattr__(self, "projection", _check_strings("projection", self.projection))
        object.__setattr__(self, "confidence_level", _check_number("confidence_level", self.confidence_level, 0, 1))
        for name, value, allowed in (("method", self.method, _METHODS), ("interval", self.interval, _INTERVALS),
                                     ("bayesian", self.bayesian, _BAYESIAN)):
            if value not in allowed:
                raise ValidationError(name, value, f"must be one of {', '.join(allowed)}")
        if self.correction is not None and self.correction not in _CORRECTIONS:
            raise ValidationError("correction", self.correction, f"must be one of {', '.join(_CORRECTIONS)}")
        if not isinstance(self.correct_across_slices, bool):
            raise ValidationError("correct_across_slices", self.correct_across_slices, "must be true or false")
        object.__setattr__(self, "planned_units", _check_number("planned_units", self.planned_units, 0, math.inf))
        if not 0.0 <= self.max_invalid_fraction <= 1.0:
            raise ValidationError("max_invalid_fraction", self.max_invalid_fraction, "must be in [0, 1]")

    def resolve(self, analysis_type: AnalysisType) -> Query:
        """This query checked against ``analysis_type``, with the default metrics filled in."""
        metrics = self.metrics or default_metrics(analysis_type)
        additive_metrics(analysis_type, metrics)
        check_projection(analysis_type, self.projection)
        if self.where is not None:
            check_filter(self.where, analysis_type, "where")
        return replace(self, metrics=tuple(metrics))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["metrics"], out["projection"] = list(self.metrics), list(self.projection)
        out["where"] = filter_to_dict(self.where) if self.where is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Query:
        """Build from a mapping (``where`` as a filter mapping or as text such as ``"country = 'US'"``)."""
        if not isinstance(data, dict):
            raise ValidationError("query", data, "must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(unknown[0], data[unknown[0]], f"unknown query field; known: {sorted(known)}")
        kwargs = dict(data)
        where = kwargs.get("where")
        if isinstance(where, str):
            kwargs["where"] = parse_filter(where)
        elif where is not None:
            kwargs["where"] = filter_from_dict(where, "where")
        for name in ("metrics", "projection"):
            if name in kwargs:
                kwargs[name] = _check_strings(name, kwargs[name])
        for name in ("exp_id", "start_hour", "end_hour"):
            if name not in kwargs:
                raise ValidationError(name, None, "is required")
        return cls(**kwargs)
