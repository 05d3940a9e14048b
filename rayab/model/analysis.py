"""Metric and analysis-type specs.

An **additive metric** is a per-event quantity summed per unit and per cell (``clicks``, ``revenue``). Values are
kept as exact integers: a metric with ``decimals=2`` stores cents. Integer sums do not depend on the order of
addition, so any split of the input into files, shards or hours gives bit-identical partitions, and an SQL engine
reproduces them exactly. ``units`` is built in: the (bootstrap-weighted) count of units first assigned in an hour.

A **composed metric** is an expression over additive metrics, evaluated per replicate at query time.

``cuped`` lists additive metrics adjusted with a per-unit pre-period covariate ``x`` (CUPED). Each adds three stored
value columns (:data:`CUPED_SUFFIXES`): ``<m>__xy`` (``x * y`` of the unit's hour total ``y``, every hour) and
``<m>__x``, ``<m>__xx`` (``x`` and ``x**2``, in the hour of the unit's first assignment, like ``units``). ``x`` is
fixed per unit, so these stay additive over hours and their replicate sums give theta per replicate.

A **capped metric** (winsorized) clips each unit's hour total ``y`` of the metric to ``[cap_low, cap]`` before it
is summed: ``cap`` bounds the top (a whale's revenue), ``cap_low`` (<= 0) floors negative values (refunds).
Clipping happens per (unit, hour, cell): the total of one unit in one hour within one slice cell, after all its
events of that hour are summed, never per event and never per window. A unit-hour is fixed once its hour is
aggregated, so capped sums stay additive over hours, shards and slices, and any window sums them exactly; the
window total of a unit can exceed ``cap`` (``cap`` per hour it is active). Values in ``[cap_low, cap]``, and units
without events in an hour (0), are unchanged. A cap derived from data (a quantile of the pre-period) is frozen
into the spec as a number, with ``cap_basis`` saying where it came from (:mod:`rayab.aggregate.caps`); it is part
of the metric's definition: capping differently means a new metric, so hours already aggregated never change.

A **conversion** or **retention** metric (``kind: conversion`` / ``kind: retention``) counts units, each once, in
the hour its outcome becomes known: converted at least once since the first assignment (optionally ``within`` a
span), or active on day N after it (:mod:`rayab.model.conversion_metric`). The counts live in ``cnv_<name>`` and
are summed like any additive metric; shares are composed metrics (``purchased / units``).

An **analysis type** names the projection dimensions and metrics of one table ``agg_<name>``.

>>> at = AnalysisType.from_dict({"name": "engagement", "dimensions": ["country"],
...     "metrics": [{"name": "impressions", "kind": "count"}, {"name": "clicks", "column": "clicks"}],
...     "composed": {"ctr": "clicks / impressions"}})
>>> at.table, at.metric_names, at.n_replicates
('agg_engagement', ('impressions', 'clicks'), 200)
>>> AnalysisType.from_dict({"name": "x", "metrics": [{"name": "clicks"}], "composed": {"ctr": "clicks / views"}})
Traceback (most recent call last):
...
rayab.errors.SpecError: analysis_type.composed.ctr == 'clicks / views': refers to unknown metric 'views'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from rayab.errors import ExpressionError, SpecError
from rayab.model.conversion_metric import CONVERSION_KINDS, ConversionMetric
from rayab.model.expression import Expression, parse_expression, referenced_names, substitute
from rayab.model.quantile_metric import QUANTILE_KIND, QuantileMetric
from rayab.model.source import EventSource
from rayab.model.validation import check_choice, check_column, check_int, check_keys, check_number, check_text

__all__ = ["CUPED_SUFFIXES", "RESERVED_METRICS", "UNITS_METRIC", "AnalysisType", "ConversionMetric", "Metric",
           "QuantileMetric", "cuped_column"]

UNITS_METRIC = "units"
RESERVED_METRICS = frozenset({UNITS_METRIC, "n_events", "exp_id", "variant_id", "hour", "unit_id"})
_TABLE_NAME = re.compile(r"[a-z0-9_]{1,48}")
MetricKind = Literal["sum", "count"]
CUPED_SUFFIXES = ("x", "xx", "xy")


def cuped_column(metric: str, suffix: str) -> str:
    """The stored column of a CUPED sum: ``cuped_column("clicks", "xy") == "clicks__xy"``."""
    return f"{metric}__{suffix}"


@dataclass(frozen=True)
class Metric:
    """An additive metric: ``sum`` of a log ``column`` or ``count`` of events, per unit and cell.

    ``decimals`` fixes the integer scale (value * 10**decimals is rounded to an integer); ``allow_negative``
    decides whether negative values are valid or quarantined. ``cap`` / ``cap_low`` clip each unit's hour total
    (see the module doc); ``cap_basis`` records how a derived cap was computed.

    >>> m = Metric("revenue_capped", column="revenue", decimals=2, cap=50.0)
    >>> m.int_bounds
    (None, 5000)
    >>> Metric("r", cap=-1.0)
    Traceback (most recent call last):
    ...
    rayab.errors.SpecError: cap == -1.0: must be in (0, 1e+15]
    """

    name: str
    column: str = ""
    kind: MetricKind = "sum"
    decimals: int = 0
    allow_negative: bool = False
    cap: float | None = None
    cap_low: float | None = None
    cap_basis: str = ""

    def __post_init__(self) -> None:
        check_column("name", self.name)
        if self.name in RESERVED_METRICS or self.name.endswith("_reps"):
            raise SpecError("name", self.name, f"is reserved ({', '.join(sorted(RESERVED_METRICS))}, *_reps)")
        object.__setattr__(self, "kind", check_choice("kind", self.kind, ("sum", "count")))
        if self.kind == "sum":
            object.__setattr__(self, "column", check_column("column", self.column or self.name))
        elif self.column:
            raise SpecError("column", self.column, "must be empty for a count metric")
        check_int("decimals", self.decimals, 0, 9)
        if not isinstance(self.allow_negative, bool):
            raise SpecError("allow_negative", self.allow_negative, "must be true or false")
        if self.cap is not None:
            object.__setattr__(self, "cap", check_number("cap", self.cap, 0.0, 1e15, low_open=True))
        if self.cap_low is not None:
            object.__setattr__(self, "cap_low", check_number("cap_low", self.cap_low, -1e15, 0.0))
        check_text("cap_basis", self.cap_basis, allow_empty=True)
        if self.cap_basis and self.cap is None and self.cap_low is None:
            raise SpecError("cap_basis", self.cap_basis, "needs a cap or cap_low")

    @property
    def int_bounds(self) -> tuple[int | None, int | None]:
        """``(low, high)`` of a unit's hour total on the stored integer scale (None: no bound on that side)."""
        low = None if self.cap_low is None else round(self.cap_low * self.scale)
        high = None if self.cap is None else round(self.cap * self.scale)
        return low, high

    @property
    def scale(self) -> int:
        """The integer multiplier ``10**decimals``."""
        return int(10**self.decimals)

    @classmethod
    def from_dict(cls, data: Any, path: str = "metric") -> Metric:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, {"name", "column", "kind", "decimals", "allow_negative", "cap", "cap_low",
                                       "cap_basis"}, {"name"})
        try:
            return cls(**data)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None


@dataclass(frozen=True)
class AnalysisType:
    """Projection dimensions, additive metrics and composed metrics of one aggregate table."""

    name: str
    metrics: tuple[Metric, ...]
    dimensions: tuple[str, ...] = ()
    composed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    n_replicates: int = 200
    unit_column: str = "unit_id"
    cuped: tuple[str, ...] = ()
    quantile_metrics: tuple[QuantileMetric, ...] = ()
    source: EventSource | None = None
    conversion_metrics: tuple[ConversionMetric, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TABLE_NAME.fullmatch(self.name):
            raise SpecError("name", self.name, "must match [a-z0-9_]{1,48} (it names the table agg_<name>)")
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if not self.metrics:
            raise SpecError("metrics", [], "must list at least one metric")
        names = [m.name for m in self.metrics]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise SpecError(f"metrics[{i}].name", name, "duplicate metric name")
        dims = tuple(self.dimensions)
        for i, dim in enumerate(dims):
            check_column(f"dimensions[{i}]", dim)
            if dim in dims[:i] or dim in RESERVED_METRICS or dim in names:
                raise SpecError(f"dimensions[{i}]", dim, "duplicates a dimension, a metric or a reserved name")
        object.__setattr__(self, "dimensions", dims)
        check_int("n_replicates", self.n_replicates, 1, 10_000)
        check_column("unit_column", self.unit_column)
        self._check_conversions(names)
        self._check_composed()
        self._check_cuped(names)
        self._check_quantiles(names)
        if self.source is not None and not isinstance(self.source, EventSource):
            raise SpecError("source", self.source, "must be an event source")

    def _check_quantiles(self, names: list[str]) -> None:
        quantiles = tuple(self.quantile_metrics)
        taken = {*names, *RESERVED_METRICS, *self.dimensions, *self.composed, *self.cuped_columns,
                 *self.conversion_columns}
        for i, qm in enumerate(quantiles):
            if not isinstance(qm, QuantileMetric):
                raise SpecError(f"quantile_metrics[{i}]", qm, "must be a quantile metric")
            for name in (qm.name, *qm.output_names):
                if name in taken or name.endswith("_reps"):
                    raise SpecError(f"quantile_metrics[{i}].name", name,
                                    "clashes with a metric, a dimension or a reserved name")
                taken.add(name)
        object.__setattr__(self, "quantile_metrics", quantiles)

    def _check_conversions(self, names: list[str]) -> None:
        conversions = tuple(self.conversion_metrics)
        taken = {*names, *RESERVED_METRICS, *self.dimensions}
        for i, cm in enumerate(conversions):
            if not isinstance(cm, ConversionMetric):
                raise SpecError(f"conversion_metrics[{i}]", cm, "must be a conversion metric")
            for name in cm.output_names:
                if name in taken or name.endswith("_reps") or "__" in name:
                    raise SpecError(f"conversion_metrics[{i}].name", name,
                                    "clashes with a metric, a dimension or a reserved name")
                taken.add(name)
            if cm.metric and cm.metric not in names:
                raise SpecError(f"conversion_metrics[{i}].metric", cm.metric,
                                f"must be an additive metric of {self.name}: {names}")
            for column in cm.columns:
                if column in names:
                    raise SpecError(f"conversion_metrics[{i}].where.{column}", column,
                                    "names a metric; where compares log columns (use metric for value > 0)")
        object.__setattr__(self, "conversion_metrics", conversions)

    @property
    def conversion_columns(self) -> tuple[str, ...]:
        """The stored counts of every conversion and retention metric (``purchased``, ``d1``, ``d1_eligible``).

        >>> at = AnalysisType("t", (Metric("clicks"),), conversion_metrics=(ConversionMetric("d1", "retention",
        ...                   day=1),), composed={"d1_rate": "d1 / d1_eligible"})
        >>> at.conversion_columns, at.is_conversion_column("d1_eligible"), at.is_conversion_column("clicks")
        (('d1', 'd1_eligible'), True, False)
        """
        return tuple(name for cm in self.conversion_metrics for name in cm.output_names)

    def is_conversion_column(self, name: str) -> bool:
        """Whether ``name`` is a stored count of ``cnv_<type>`` rather than of ``agg_<type>``."""
        return name in self.conversion_columns

    @property
    def quantile_outputs(self) -> tuple[str, ...]:
        """The reported names of every quantile of every quantile metric (``latency_p90``), in spec order."""
        return tuple(name for qm in self.quantile_metrics for name in qm.output_names)

    def quantile_output(self, name: str) -> tuple[QuantileMetric, float] | None:
        """The quantile metric and level behind a reported name such as ``latency_p90``, or None.

        >>> at = AnalysisType("t", (Metric("clicks"),), quantile_metrics=(QuantileMetric("latency"),))
        >>> at.quantile_output("latency_p90"), at.quantile_output("clicks")
        ((QuantileMetric(name='latency', column='latency', quantiles=(0.5, 0.9, 0.99), relative_accuracy=0.01, \
min_value=1e-09, max_value=1000000000000000.0, allow_negative=False), 0.9), None)
        """
        for qm in self.quantile_metrics:
            q = qm.quantile_of(name)
            if q is not None:
                return qm, q
        return None

    def _check_cuped(self, names: list[str]) -> None:
        if not isinstance(self.cuped, tuple | list):
            raise SpecError("cuped", self.cuped, "must be a list of additive metric names")
        cuped = tuple(self.cuped)
        for i, name in enumerate(cuped):
            if name not in names:
                raise SpecError(f"cuped[{i}]", name, f"must be an additive metric of {self.name}: {names}")
            if name in cuped[:i]:
                raise SpecError(f"cuped[{i}]", name, "is listed twice")
            if self.metric(name).int_bounds != (None, None):
                raise SpecError(f"cuped[{i}]", name, "is capped: CUPED sums use the unit's uncapped hour total")
        taken = {*names, *RESERVED_METRICS, *self.dimensions, *self.composed}
        for name in cuped:
            for suffix in CUPED_SUFFIXES:
                if cuped_column(name, suffix) in taken:
                    raise SpecError("cuped", name, f"its column {cuped_column(name, suffix)} clashes with a name")
        object.__setattr__(self, "cuped", cuped)

    @property
    def cuped_columns(self) -> tuple[str, ...]:
        """The stored CUPED value columns, per CUPED metric ``<m>__x, <m>__xx, <m>__xy``.

        >>> AnalysisType("t", (Metric("clicks"),), cuped=("clicks",)).cuped_columns
        ('clicks__x', 'clicks__xx', 'clicks__xy')
        """
        return tuple(cuped_column(m, s) for m in self.cuped for s in CUPED_SUFFIXES)

    def _check_composed(self) -> None:
        if not isinstance(self.composed, Mapping):
            raise SpecError("composed", self.composed, "must be a mapping of name to expression")
        known = {*self.metric_names, UNITS_METRIC, *self.conversion_columns}
        for name, text in self.composed.items():
            check_column(f"composed.{name}", name)
            if name in known:
                raise SpecError(f"composed.{name}", text, "name clashes with a metric or an earlier composed metric")
            try:
                expr = parse_expression(text)
            except ExpressionError as err:
                raise SpecError(f"composed.{name}", text, err.rule) from None
            unknown = sorted(referenced_names(expr) - known)
            if unknown:
                raise SpecError(f"composed.{name}", text, f"refers to unknown metric {unknown[0]!r}")
            known.add(name)
        object.__setattr__(self, "composed", MappingProxyType(dict(self.composed)))

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # MappingProxyType does not pickle; rebuild from the plain form (Ray ships specs to workers)
        return (AnalysisType.from_dict, (self.to_dict(),))

    @property
    def table(self) -> str:
        """The aggregate table's name."""
        return f"agg_{self.name}"

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the additive metrics, in spec order (``units`` not included)."""
        return tuple(m.name for m in self.metrics)

    def metric(self, name: str) -> Metric:
        """The additive metric called ``name``."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise SpecError("metric", name, f"unknown in analysis type {self.name}; known: {list(self.metric_names)}")

    def expression(self, name: str) -> Expression:
        """The expression of a metric by name (composed, additive or ``units``), over additive metrics only.

        >>> at = AnalysisType("t", (Metric("clicks"), Metric("views")),
        ...                   composed={"ctr": "clicks / views", "pct": "100 * ctr"})
        >>> sorted(referenced_names(at.expression("pct")))
        ['clicks', 'views']
        """
        if name in self.composed:
            expanded: dict[str, Expression] = {}
            for other, text in self.composed.items():  # spec order: a name only refers to earlier ones
                expanded[other] = substitute(parse_expression(text), expanded)
                if other == name:
                    return expanded[other]
        if name in self.metric_names or name == UNITS_METRIC or name in self.conversion_columns:
            return parse_expression(name)
        known = [*self.metric_names, UNITS_METRIC, *self.conversion_columns, *self.composed]
        raise SpecError("metric", name, f"unknown in analysis type {self.name}; known: {known}")

    @classmethod
    def from_dict(cls, data: Any, path: str = "analysis_type") -> AnalysisType:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, {"name", "metrics", "dimensions", "composed", "n_replicates",
                                       "unit_column", "cuped", "source"}, {"name", "metrics"})
        raw_metrics = data["metrics"]
        if not isinstance(raw_metrics, list):
            raise SpecError(f"{path}.metrics", raw_metrics, "must be a list")
        special = (QUANTILE_KIND, *CONVERSION_KINDS)
        metrics = tuple(Metric.from_dict(m, f"{path}.metrics[{i}]") for i, m in enumerate(raw_metrics)
                        if not (isinstance(m, Mapping) and m.get("kind") in special))
        conversions = tuple(ConversionMetric.from_dict(m, f"{path}.metrics[{i}]") for i, m in enumerate(raw_metrics)
                            if isinstance(m, Mapping) and m.get("kind") in CONVERSION_KINDS)
        if conversions:
            kwargs_c: dict[str, Any] = {"conversion_metrics": conversions}
        else:
            kwargs_c = {}
        quantile_metrics = tuple(QuantileMetric.from_dict(m, f"{path}.metrics[{i}]") for i, m in enumerate(raw_metrics)
                                 if isinstance(m, Mapping) and m.get("kind") == QUANTILE_KIND)
        kwargs_q: dict[str, Any] = {"quantile_metrics": quantile_metrics} if quantile_metrics else {}
        kwargs = {k: v for k, v in data.items() if k not in {"metrics", "dimensions", "composed", "cuped", "source"}}
        cuped = data.get("cuped") or ()
        source = EventSource.from_dict(data["source"], f"{path}.source") if data.get("source") else None
        try:
            return cls(metrics=metrics, dimensions=tuple(data.get("dimensions") or ()),
                       composed=data.get("composed") or {}, cuped=tuple(cuped) if isinstance(cuped, list) else cuped,
                       source=source, **kwargs, **kwargs_q, **kwargs_c)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {
            "name": self.name, "dimensions": list(self.dimensions), "n_replicates": self.n_replicates,
            "unit_column": self.unit_column, "composed": dict(self.composed),
            "metrics": [_metric_dict(m) for m in self.metrics],
        }
        if self.cuped:  # only when used, so specs without CUPED keep their stored form
            out["cuped"] = list(self.cuped)
        out["metrics"] += [qm.to_dict() for qm in self.quantile_metrics]
        out["metrics"] += [cm.to_dict() for cm in self.conversion_metrics]
        if self.source is not None:  # likewise: only when the events do not come from --logs
            out["source"] = self.source.to_dict()
        return out


def _metric_dict(m: Metric) -> dict[str, Any]:
    """A metric's stored form; the capping fields only when used, so specs without caps keep their form."""
    out: dict[str, Any] = {"name": m.name, "column": m.column, "kind": m.kind, "decimals": m.decimals,
                           "allow_negative": m.allow_negative}
    for name in ("cap", "cap_low", "cap_basis"):
        if getattr(m, name) not in (None, ""):
            out[name] = getattr(m, name)
    return out
