"""The typed request every results door takes: the CLI, the gRPC results service, the report and the console.

A :class:`ResultsRequest` names the experiment, the window and, optionally, the analysis type; the rest is the
:class:`~rayab.query.spec.Query` it becomes, whose defaults it takes (one place states them). A wire or form
mapping, where an empty value means "not given", becomes a request with :meth:`ResultsRequest.from_mapping`.

>>> r = ResultsRequest.from_mapping({"exp_id": "e", "start_hour": "2026-11-23T00", "end_hour": "2026-11-24T00",
...                                  "metrics": ["ctr"], "method": "", "confidence_level": 0.0})
>>> r.metrics, r.method, r.confidence_level
(('ctr',), 'percentile', 0.95)
>>> hash(r) == hash(ResultsRequest("e", "2026-11-23T00", "2026-11-24T00", metrics=("ctr",)))
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rayab.errors import ValidationError
from rayab.model import AnalysisType
from rayab.query.filters import parse_filter
from rayab.query.spec import BayesianPath, CIMethod, Correction, Query

__all__ = ["ResultsRequest", "coerce_request"]

_QUERY_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Query)
                                   if f.default is not dataclasses.MISSING}


def _tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value or ())


@dataclass(frozen=True)
class ResultsRequest:
    """Experiment, window ``[start_hour, end_hour)``, analysis type (default: the experiment's first) and the query.

    ``where`` is the filter's text (``platform = 'ios' AND country IN ('US', 'DE')``), ``projection`` the
    dimensions to slice by, ``composed`` metrics typed on the spot (name -> expression, in order; a mapping is
    accepted). Hashable: equal requests are one cache entry.
    """

    exp_id: str
    start_hour: str
    end_hour: str
    analysis_type: str = ""
    metrics: tuple[str, ...] = ()
    projection: tuple[str, ...] = ()
    where: str = ""
    confidence_level: float = _QUERY_DEFAULTS["confidence_level"]
    method: CIMethod = _QUERY_DEFAULTS["method"]
    correction: Correction | None = _QUERY_DEFAULTS["correction"]
    correct_across_slices: bool = _QUERY_DEFAULTS["correct_across_slices"]
    interval: Literal["fixed", "sequential"] = _QUERY_DEFAULTS["interval"]
    planned_units: float = _QUERY_DEFAULTS["planned_units"]
    bayesian: BayesianPath = _QUERY_DEFAULTS["bayesian"]
    composed: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _tuple(self.metrics))
        object.__setattr__(self, "projection", _tuple(self.projection))
        composed: Any = self.composed
        object.__setattr__(self, "composed", tuple(composed.items() if isinstance(composed, Mapping) else composed))
        for name in ("exp_id", "start_hour", "end_hour"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValidationError(name, value, "is required")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ResultsRequest:
        """A request from a mapping of its fields (e.g. a protobuf message's), where empty values mean "default".

        Keys that are not fields of the request are ignored.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in mapping.items() if k in names and v not in (None, "", 0, 0.0, False, [], ())}
        return cls(**given)

    def query(self, analysis_type: AnalysisType) -> Query:
        """The :class:`~rayab.query.spec.Query` of this request, resolved against ``analysis_type``."""
        where = None
        if self.where:
            try:
                where = parse_filter(self.where)
            except ValidationError as err:
                raise ValidationError("where", self.where, err.rule) from None
        query = Query(self.exp_id, self.start_hour, self.end_hour, metrics=self.metrics, projection=self.projection,
                      where=where, confidence_level=self.confidence_level, method=self.method,
                      correction=self.correction, correct_across_slices=self.correct_across_slices,
                      interval=self.interval, planned_units=self.planned_units, bayesian=self.bayesian)
        return query.resolve(analysis_type)

    def replace(self, **changes: Any) -> ResultsRequest:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


def coerce_request(request: ResultsRequest | Mapping[str, Any]) -> ResultsRequest:
    """``request`` as a :class:`ResultsRequest` (a mapping goes through :meth:`ResultsRequest.from_mapping`)."""
    return request if isinstance(request, ResultsRequest) else ResultsRequest.from_mapping(request)

