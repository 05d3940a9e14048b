"""rayab from Python (a notebook, a script, a scheduled report): a warehouse opened for analysis.

Every answer comes from the same :class:`~rayab.api.engine.ResultsEngine` the CLI, the gRPC results service and the
console use, with its cache; results are :class:`~rayab.api.tables.ResultTable` sequences of typed records that
convert to Arrow, pandas or polars.

>>> import rayab
>>> ws = rayab.connect("./rayab-warehouse")                                    # doctest: +SKIP
>>> ctr = ws.results("ranker_v2", "2026-11-23T00", "2026-11-24T00", metrics=["ctr"], by=["country"])  # doctest: +SKIP
>>> ctr.to_pandas()[["variant_id", "country", "estimate", "rel_diff", "pvalue"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rayab.api.engine import ResultsEngine
from rayab.api.requests import ResultsRequest
from rayab.api.tables import ResultTable
from rayab.guardrails.health import HealthCheck
from rayab.guardrails.planning import PowerPlan
from rayab.model import Experiment
from rayab.query.compare import MetricResult
from rayab.query.cuped import CupedMetricResult
from rayab.storage.warehouse import Warehouse

__all__ = ["Workspace", "connect", "results"]


class Workspace:
    """A warehouse (a local folder or an ``s3://`` URL) opened for analysis.

    Each method takes the experiment, the window ``[start, end)`` as hours (``2026-11-23T00``) and the options of
    :class:`~rayab.api.requests.ResultsRequest`: ``metrics`` (default: all, composed ones included), ``by`` (the
    dimensions to slice by), ``where`` (a filter, e.g. ``"platform = 'ios'"``), ``confidence_level``, ``method``
    (``percentile``, ``basic``, ``normal``), ``correction`` (``bonferroni``, ``holm``, ``bh``), ``interval``
    (``fixed`` or ``sequential``) and ``analysis_type``.
    """

    def __init__(self, warehouse: str | Warehouse, storage_options: Mapping[str, str] | None = None,
                 cache_entries: int = 256) -> None:
        if isinstance(warehouse, str):
            warehouse = Warehouse.from_url(warehouse, storage_options=dict(storage_options or {}))
        self.warehouse = warehouse
        self.engine = ResultsEngine(warehouse, cache_entries=cache_entries)

    def __repr__(self) -> str:
        return f"Workspace({self.warehouse.url!r})"

    def experiments(self) -> list[Experiment]:
        """Every experiment of the config saved in the warehouse."""
        return list(self.engine.config().experiments)

    def request(self, exp_id: str, start: str, end: str, *, by: Sequence[str] = (), **options: Any) -> ResultsRequest:
        """The typed request the other methods send (``by`` is the request's ``projection``)."""
        return ResultsRequest(exp_id, start, end, projection=tuple(by), **options)

    def results(self, exp_id: str, start: str, end: str, **options: Any) -> ResultTable[MetricResult]:
        """Every metric of every variant (per slice with ``by``) over the window, compared with control."""
        found, _ = self.engine.results(self.request(exp_id, start, end, **options))
        return ResultTable(found)

    def timeseries(self, exp_id: str, start: str, end: str, **options: Any) -> ResultTable[MetricResult]:
        """The results as of the end of every hour of the window (``end_hour`` says which)."""
        found, _ = self.engine.timeseries(self.request(exp_id, start, end, **options))
        return ResultTable(found)

    def cuped(self, exp_id: str, start: str, end: str, **options: Any) -> ResultTable[CupedMetricResult]:
        """CUPED-adjusted comparisons of the analysis type's CUPED metrics, next to the unadjusted ones."""
        found, _ = self.engine.cuped(self.request(exp_id, start, end, **options))
        return ResultTable(found)

    def health(self, exp_id: str, start: str, end: str, srm_by: Sequence[str] = ()) -> ResultTable[HealthCheck]:
        """Every health check of the experiment over the window (SRM, data completeness, guardrails, ...)."""
        return ResultTable(self.engine.health(exp_id, start, end, srm_by=srm_by))

    def power(self, exp_id: str, start: str, end: str, **options: Any) -> PowerPlan:
        """A sample-size plan from the control arm of a past window (``metrics``, ``relative_mde``, ``alpha``,
        ``power``, ``n_arms``, ``days``)."""
        return self.engine.power({"exp_id": exp_id, "start_hour": start, "end_hour": end, **options})

    def sql(self, exp_id: str, start: str, end: str, dialect: str = "duckdb", **options: Any) -> str:
        """The SQL (``duckdb`` or ``trino``) that computes the same results inside a SQL engine."""
        return self.engine.sql(self.request(exp_id, start, end, **options), dialect)


def connect(warehouse: str | Warehouse, storage_options: Mapping[str, str] | None = None) -> Workspace:
    """Open a warehouse for analysis (see :class:`Workspace`)."""
    return Workspace(warehouse, storage_options)


def results(warehouse: str | Warehouse, exp_id: str, start: str, end: str, **options: Any) -> ResultTable[MetricResult]:
    """One-shot :meth:`Workspace.results`."""
    return Workspace(warehouse).results(exp_id, start, end, **options)
