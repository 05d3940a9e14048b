"""``rayab.v1.ResultsService``: a thin adapter over :class:`~rayab.api.engine.ResultsEngine`.

Reading partitions and computing intervals is blocking work: it runs in a worker thread, so a results query never
stalls the assignment calls served by the same event loop. A call whose deadline has already passed is not started.
When the server has a read token, every call needs it or the admin token (:class:`~rayab.rpc.auth.ReadAccess`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from rayab.api.engine import QueryRequest, ResultsEngine
from rayab.guardrails.health import worst_status
from rayab.query.compare import MetricResult
from rayab.query.cuped import CupedMetricResult
from rayab.rpc._generated import results_pb2 as rpb
from rayab.rpc._generated import results_pb2_grpc as rpb_grpc
from rayab.rpc.auth import AdminToken, ReadAccess
from rayab.rpc.convert import (
    BAYESIAN_PATH_OF_NAME,
    DIALECT_OF_NAME,
    DIALECTS,
    HEALTH_STATUSES,
    INTERVAL_KINDS,
    enum_value,
    python_to_struct,
    query_fields,
)
from rayab.rpc.status import guarded

__all__ = ["ResultsService", "request_fields"]

_T = TypeVar("_T")
_NUMBER_FIELDS = ("n_events", "units", "estimate", "ci_lower", "ci_upper", "abs_diff", "abs_ci_lower",
                  "abs_ci_upper", "rel_diff", "rel_ci_lower", "rel_ci_upper", "pvalue", "adjusted_pvalue",
                  "confidence_level", "n_replicates", "n_invalid", "chance_to_beat_control", "risk_control",
                  "risk_variant", "rel_cred_lower", "rel_cred_upper")


def request_fields(query: rpb.ResultsQuery, cuped: bool = False) -> QueryRequest:
    """The fields of a ``ResultsQuery`` (and a request's ``cuped`` flag) as a plain mapping of rayab values."""
    return {**query_fields(query), "cuped": cuped}


def _result_message(result: MetricResult) -> rpb.MetricResult:
    numbers = {name: getattr(result, name) for name in _NUMBER_FIELDS}
    return rpb.MetricResult(
        exp_id=result.exp_id, metric=result.metric, variant_id=result.variant_id,
        slice=[rpb.SliceValue(dimension=d, value=v) for d, v in result.slice], control_id=result.control_id,
        error=result.error, interval=INTERVAL_KINDS[result.interval], start_hour=result.start_hour,
        end_hour=result.end_hour, bayes_error=result.bayes_error,
        bayesian=BAYESIAN_PATH_OF_NAME.get(result.bayesian, rpb.BAYESIAN_PATH_UNSPECIFIED), **numbers)


def _cuped_message(result: CupedMetricResult) -> rpb.CupedResult:
    fields = {k: v for k, v in result._asdict().items() if k != "slice"}
    return rpb.CupedResult(slice=[rpb.SliceValue(dimension=d, value=v) for d, v in result.slice], **fields)


def _messages(results: Sequence[MetricResult]) -> list[rpb.MetricResult]:
    return [_result_message(r) for r in results]


class ResultsService(rpb_grpc.ResultsServiceServicer):
    """The servicer; every method validates, runs the engine in a thread and converts the answer."""

    def __init__(self, engine: ResultsEngine, reads: ReadAccess | None = None) -> None:
        self.engine = engine
        self.reads = reads or ReadAccess(AdminToken(None))

    async def _run(self, context: Any, work: Callable[[], _T]) -> _T:
        if self.reads.configured:  # results carry no secrets: only a configured read token restricts them
            self.reads.check(context.invocation_metadata())
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the query started")
        return await asyncio.to_thread(work)

    @guarded
    async def QueryResults(self, request: rpb.QueryResultsRequest, context: Any) -> rpb.QueryResultsResponse:
        fields = request_fields(request.query, request.cuped)
        results, cached = await self._run(context, lambda: self.engine.results(fields))
        if not request.cuped:
            return rpb.QueryResultsResponse(results=_messages(results), cached=cached)
        cuped, cuped_cached = await self._run(context, lambda: self.engine.cuped(fields))
        return rpb.QueryResultsResponse(results=_messages(results), cached=cached and cuped_cached,
                                        cuped_results=[_cuped_message(r) for r in cuped])

    @guarded
    async def Timeseries(self, request: rpb.TimeseriesRequest, context: Any) -> rpb.TimeseriesResponse:
        fields = request_fields(request.query)
        results, cached = await self._run(context, lambda: self.engine.timeseries(fields))
        return rpb.TimeseriesResponse(results=_messages(results), cached=cached)

    @guarded
    async def Health(self, request: rpb.HealthRequest, context: Any) -> rpb.HealthResponse:
        checks = await self._run(context, lambda: self.engine.health(
            request.exp_id, request.start_hour, request.end_hour, list(request.srm_by), request.srm_threshold))
        return rpb.HealthResponse(status=HEALTH_STATUSES[worst_status(checks)], checks=[
            rpb.HealthCheck(name=c.name, status=HEALTH_STATUSES[c.status], reason=c.reason,
                            details=python_to_struct(c.details)) for c in checks])

    @guarded
    async def Power(self, request: rpb.PowerRequest, context: Any) -> rpb.PowerResponse:
        fields = {"exp_id": request.exp_id, "analysis_type": request.analysis_type,
                  "start_hour": request.start_hour, "end_hour": request.end_hour, "metrics": list(request.metrics),
                  "relative_mde": request.relative_mde, "alpha": request.alpha, "power": request.power,
                  "n_arms": request.n_arms, "days": request.days}
        result = await self._run(context, lambda: self.engine.power(fields))
        plan = result.plan
        return rpb.PowerResponse(
            n_per_arm=plan.n_per_arm, n_total=plan.n_total, duration_days=plan.duration_days,
            alpha_per_test=plan.alpha_per_test, n_tests=plan.n_tests, binding_metric=plan.binding_metric,
            metrics=[rpb.MetricHistory(metric=h.metric, mean=h.mean, variance=h.variance, n_units=h.n_units,
                                       units_per_day=h.units_per_day, mde_after_days=mde)
                     for h, mde in zip(result.histories, result.mde_after_days, strict=True)])

    @guarded
    async def GenerateSql(self, request: rpb.GenerateSqlRequest, context: Any) -> rpb.GenerateSqlResponse:
        dialect = enum_value(DIALECTS, request.dialect, "dialect")
        fields = request_fields(request.query)
        text = await self._run(context, lambda: self.engine.sql(fields, dialect))
        return rpb.GenerateSqlResponse(sql=text, dialect=DIALECT_OF_NAME[dialect])
