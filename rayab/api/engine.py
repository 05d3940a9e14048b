"""What the results service computes, without gRPC: queries, time series, health, power and SQL over a warehouse.

A serving process keeps one engine. It reloads the config (analysis types and experiments) only when the warehouse's
spec tables change, and caches recent answers keyed by the request and the version of the Delta tables it read:
a new hour committed to ``agg_<type>`` (or a re-run) changes the table version, so a cached answer is never stale.

>>> import tempfile
>>> engine = ResultsEngine(Warehouse.from_url(tempfile.mkdtemp()))
>>> engine.cache_size
0
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from rayab.aggregate.cell_sums import CellSums
from rayab.api.requests import ResultsRequest, coerce_request
from rayab.errors import NotFoundError, SpecError, ValidationError
from rayab.guardrails.health import HealthCheck, HealthSettings, experiment_health
from rayab.guardrails.planning import PowerPlan, metric_history, plan_from_history
from rayab.model import AnalysisType, Config, Experiment
from rayab.query.compare import MetricResult
from rayab.query.cuped import CupedMetricResult, run_cuped_query
from rayab.query.hour_cache import HourSumsCache
from rayab.query.results import HourSums, cumulative_results, run_query
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.query.window import sum_partitions
from rayab.storage.schemas import ANALYSIS_TYPE_TABLE, EXPERIMENT_TABLE, conversion_table
from rayab.storage.specs import load_saved_config
from rayab.storage.tables import table_version
from rayab.storage.warehouse import Warehouse

__all__ = ["QueryRequest", "ResultsEngine", "ResultsRequest"]

_T = TypeVar("_T")
QueryRequest = dict[str, Any]
# the engine and the table versions read in the current pinned() scope (per thread and task)
_PINNED: contextvars.ContextVar[tuple[ResultsEngine, dict[str, int]] | None] = contextvars.ContextVar(
    "rayab_pinned_versions", default=None)


class ResultsEngine:
    """Answers results, time series, health, power and SQL requests for one warehouse, with an LRU cache."""

    def __init__(self, warehouse: Warehouse, cache_entries: int = 256) -> None:
        self.warehouse = warehouse
        self.cache_entries = cache_entries
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._config: tuple[tuple[int, int], Config] | None = None
        self.hour_sums = HourSumsCache()
        self.hits = 0
        self.misses = 0

    @property
    def cache_size(self) -> int:
        """Answers held in the cache."""
        return len(self._cache)

    def version_of(self, table: str) -> int:
        """The table's Delta version: read once per :meth:`pinned` scope (every call outside one)."""
        pinned = _PINNED.get()
        if pinned is None or pinned[0] is not self:
            return table_version(self.warehouse, table)
        if table not in pinned[1]:
            pinned[1][table] = table_version(self.warehouse, table)
        return pinned[1][table]

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Read each table's version once for everything done inside (e.g. one page: its config, results,
        time series and cache keys), instead of opening the Delta log of the same table for every call.

        Everything inside sees the tables as of their first read, as one request should.

        >>> import tempfile
        >>> engine = ResultsEngine(Warehouse.from_url(tempfile.mkdtemp()))
        >>> with engine.pinned():
        ...     engine.version_of("experiment"), engine.version_of("experiment")
        (-1, -1)
        """
        token = _PINNED.set((self, {}))
        try:
            yield
        finally:
            _PINNED.reset(token)

    def config(self) -> Config:
        """The saved config, reloaded when the ``experiment`` or ``_analysis_type`` table changed."""
        versions = (self.version_of(EXPERIMENT_TABLE), self.version_of(ANALYSIS_TYPE_TABLE))
        if self._config is None or self._config[0] != versions:
            self._config = (versions, load_saved_config(self.warehouse))
        return self._config[1]

    def _cached(self, key: Hashable, compute: Callable[[], _T]) -> tuple[_T, bool]:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                self.hits += 1
                return self._cache[key], True
        value = compute()
        with self._lock:
            self.misses += 1
            self._cache[key] = value
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return value, False

    def _resolve(self, exp_id: str, analysis_type: str) -> tuple[Config, Experiment, AnalysisType]:
        config = self.config()
        exp = config.experiment(exp_id)
        types = config.analysis_types_of(exp_id)
        if not analysis_type:
            return config, exp, types[0]
        for at in types:
            if at.name == analysis_type:
                return config, exp, at
        raise NotFoundError(f"analysis type {analysis_type!r} does not measure {exp_id}; "
                            f"known: {[a.name for a in types]}")

    def analysis_type(self, request: ResultsRequest | QueryRequest) -> AnalysisType:
        """The analysis type a request reads, with the request's ``composed`` metrics (name -> expression, typed on
        the spot and validated like the spec's) added after its own."""
        request = coerce_request(request)
        _, _, at = self._resolve(request.exp_id, request.analysis_type)
        return _with_composed(at, dict(request.composed))

    def query(self, request: ResultsRequest | QueryRequest) -> tuple[Experiment, AnalysisType, Query]:
        """The experiment, analysis type (with the request's composed metrics) and resolved query of a request
        (typed, or a mapping of its fields)."""
        request = coerce_request(request)
        _, exp, at = self._resolve(request.exp_id, request.analysis_type)
        at = _with_composed(at, dict(request.composed))
        return exp, at, request.query(at)

    def _key(self, kind: str, request: ResultsRequest, table: str, *others: str) -> Hashable:
        versions = tuple(self.version_of(t) for t in (table, *others))
        return (kind, request, versions, self._config[0] if self._config else None)

    def _hour_sums(self, at: AnalysisType, query: Query) -> HourSums | None:
        """The per-hour sums of an unsliced query's window through the shared :class:`HourSumsCache` (one read
        serves the window's results and its series); None for a sliced query (per-hour slices are read directly:
        hours x slices x B per metric is too much to keep)."""
        if query.projection:
            return None
        key = (at.table, at.name, at.n_replicates, tuple(self.version_of(t) for t in (at.table, *_count_tables(at))),
               query.exp_id, query.start_hour, query.end_hour, query.where)

        def read(metrics: Sequence[str]) -> CellSums:
            return sum_partitions(self.warehouse, at, query.exp_id, query.start_hour, query.end_hour, metrics,
                                  (), query.where, by_hour=True)

        return lambda metrics: self.hour_sums.get(key, metrics, read)

    def results(self, request: ResultsRequest | QueryRequest) -> tuple[list[MetricResult], bool]:
        """``QueryResults``: the results of the window."""
        request = coerce_request(request)
        exp, at, query = self.query(request)
        return self._cached(self._key("results", request, at.table, *_count_tables(at)),
                            lambda: run_query(self.warehouse, at, exp, query, self._hour_sums(at, query)))

    def cuped(self, request: ResultsRequest | QueryRequest) -> tuple[list[CupedMetricResult], bool]:
        """``QueryResults`` with ``cuped``: CUPED comparisons of the requested CUPED metrics (all when none is)."""
        request = coerce_request(request)
        exp, at, query = self.query(request)
        asked = tuple(m for m in request.metrics if m in at.cuped)
        query = dataclasses.replace(query, metrics=asked)
        return self._cached(self._key("cuped", request, at.table, *_count_tables(at)),
                            lambda: run_cuped_query(self.warehouse, at, exp, query))

    def timeseries(self, request: ResultsRequest | QueryRequest) -> tuple[list[MetricResult], bool]:
        """``Timeseries``: the results as of the end of every hour of the window."""
        request = coerce_request(request)
        exp, at, query = self.query(request)
        return self._cached(self._key("timeseries", request, at.table, *_count_tables(at)),
                            lambda: cumulative_results(self.warehouse, at, exp, query, self._hour_sums(at, query)))

    def health(self, exp_id: str, start_hour: str, end_hour: str, srm_by: Sequence[str] = (),
               srm_threshold: float = 0.0) -> list[HealthCheck]:
        """``Health``: every check of the experiment over the window (never cached: it reads manifests)."""
        settings = HealthSettings(srm_threshold=srm_threshold or 0.001, srm_by=tuple(srm_by))
        return experiment_health(self.warehouse, self.config(), exp_id, start_hour, end_hour, settings)

    def power(self, request: QueryRequest) -> PowerPlan:
        """``Power``: a plan from the control arm of a past window."""
        _, exp, at = self._resolve(request["exp_id"], request.get("analysis_type", ""))
        metrics = list(request.get("metrics") or [exp.primary_kpi])
        histories = metric_history(self.warehouse, at, exp, request["start_hour"], request["end_hour"], metrics)
        n_arms = request.get("n_arms") or 2
        if n_arms < 2:
            raise ValidationError("n_arms", n_arms, "must be at least 2")
        return plan_from_history(histories, relative_mde=request.get("relative_mde") or 0.02,
                                 alpha=request.get("alpha") or 0.05, power=request.get("power") or 0.8,
                                 n_arms=n_arms, days=request.get("days") or 14)

    def sql(self, request: ResultsRequest | QueryRequest, dialect: str) -> str:
        """``GenerateSql``: the SQL of the query in ``dialect``."""
        dialect = dialect or "duckdb"
        if dialect not in ("duckdb", "trino"):
            raise ValidationError("dialect", dialect, "must be duckdb or trino")
        exp, at, query = self.query(request)
        return results_sql(at, exp, query, dialect)  # type: ignore[arg-type]


def _count_tables(at: AnalysisType) -> tuple[str, ...]:
    """The table of conversion counts a query may read beside ``agg_<type>`` (its version joins the cache key)."""
    return (conversion_table(at),) if at.conversion_metrics else ()


def _with_composed(at: AnalysisType, composed: Mapping[str, str]) -> AnalysisType:
    """``at`` with extra composed metrics; a name or expression error names the field ``composed.<name>``.

    >>> from rayab.model import Metric
    >>> at = AnalysisType("t", (Metric("clicks"), Metric("views")))
    >>> _with_composed(at, {"cpv": "clicks / views"}).composed["cpv"]
    'clicks / views'
    >>> _with_composed(at, {"bad": "clicks / nope"})
    Traceback (most recent call last):
    ...
    rayab.errors.SpecError: composed.bad == 'clicks / nope': refers to unknown metric 'nope'
    """
    if not composed:
        return at
    taken = [name for name in composed if name in at.composed]
    if taken:
        raise ValidationError(f"composed.{taken[0]}", composed[taken[0]], "is already a metric of the analysis type")
    try:
        return dataclasses.replace(at, composed={**at.composed, **composed})
    except SpecError as err:
        raise SpecError(err.field.removeprefix("analysis_type."), err.value, err.rule) from None
