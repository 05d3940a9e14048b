"""The console's web edge: a Starlette application over one :class:`~rayab.api.engine.ResultsEngine` and the
config store's admin path.

Routes:

- ``GET /``: the catalogue (``?q=`` searches id, name and KPI; ``?status=`` filters); each row's units, lift and
  health badge arrive from ``GET /experiments/{id}/summary`` so a thousand experiments list at once.
- ``GET /experiments/{id}``: the experiment page, decision first (verdict, health banner, scorecard), and the
  explore form; its charts (``/charts``) and SQL (``/sql``, when the panel is opened) arrive as JSON for the same
  query string, so the decision shows before the time series is computed. The query string is the view
  (``start``, ``end``, ``metric``, ``compose``, ``by``, ``where``, ``method``, ``correction``, ``level``,
  ``interval``, ``chart``), so every view has a shareable URL.
- ``POST /experiments/{id}/rollout`` and ``/stop``: admin changes, with the admin token (form field ``token`` or
  header ``authorization: Bearer <token>``) checked like the gRPC admin API's, through
  :class:`~rayab.lifecycle.config_store.LocalAdmin`; the same validation messages come back on the page.
- ``GET /healthz``: ``ok``.

Bad input renders the page with the message naming the field (status 400), an unknown experiment is 404, a refused
token 401, a change that breaks a life-cycle rule 409.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rayab.aggregate.manifest import completed_hours
from rayab.api.engine import QueryRequest, ResultsEngine
from rayab.console import operate, views
from rayab.errors import ConflictError, NotFoundError, PreconditionError, RayabError, ValidationError
from rayab.guardrails.health import HealthCheck
from rayab.lifecycle.config_store import ConfigStore, LocalAdmin
from rayab.model import AnalysisType, Experiment, ExperimentStatus
from rayab.query.spec import default_metrics
from rayab.rpc.auth import AdminToken, ReadAccess
from rayab.rpc.experiment_service import ExperimentAdmin
from rayab.rpc.status import Unauthenticated
from rayab.storage.specs import ConfigChange, load_config_history
from rayab.storage.warehouse import Warehouse

__all__ = ["CORRECTIONS", "METHODS", "create_app"]

HERE = Path(__file__).resolve().parent
METHODS = ("percentile", "basic", "normal")
CORRECTIONS = ("bonferroni", "holm", "hochberg", "sidak", "holm-sidak", "bh", "by")
_EXPLORE_KEYS = ("start", "end", "metric", "compose", "by", "where", "method", "correction", "level", "interval",
                 "chart", "analysis_type", "cuped")


class Console:
    """The state behind the routes: the engine (and its cache), the admin token and the write lock."""

    def __init__(self, warehouse: Warehouse, admin_token: str | None, engine: ResultsEngine | None = None,
                 admin: ExperimentAdmin | None = None) -> None:
        self.warehouse = warehouse
        self.engine = engine or ResultsEngine(warehouse)
        self._admin = admin
        self.token = AdminToken(admin_token)
        self.write_lock = asyncio.Lock()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["fmt_pct"] = views.format_pct
        self._completed: dict[str, tuple[Any, list[str]]] = {}

    async def admin(self) -> ExperimentAdmin:
        """The admin path changes go through: the one given (e.g. the config actor's, under ``rayab serve``), else
        a config store freshly read from the warehouse (the latest committed version, whoever wrote it)."""
        if self._admin is not None:
            return self._admin
        return LocalAdmin(await asyncio.to_thread(ConfigStore, self.warehouse))

    def history(self, exp_id: str) -> list[ConfigChange]:
        """The committed config versions that changed ``exp_id``, newest first."""
        return load_config_history(self.warehouse, exp_id)

    def completed(self, analysis_type: AnalysisType) -> list[str]:
        """Committed hours of an analysis type, re-read when its table changed."""
        version = self.engine.version_of(analysis_type.table)
        cached = self._completed.get(analysis_type.name)
        if cached is None or cached[0] != version:
            cached = (version, completed_hours(self.warehouse, analysis_type.name))
            self._completed[analysis_type.name] = cached
        return cached[1]

    def window(self, exp: Experiment, at: AnalysisType) -> tuple[str, str] | None:
        return views.default_window(exp, self.completed(at))


def _lists(params: QueryParams, key: str) -> list[str]:
    return [v for v in params.getlist(key) if v.strip()]


def explore_request(console: Console, exp: Experiment, params: QueryParams) -> tuple[QueryRequest, dict[str, Any]]:
    """The engine request a query string describes, and the form's current values (defaults filled in)."""
    at_name = params.get("analysis_type") or ""
    ats = console.engine.config().analysis_types_of(exp.exp_id)
    at = next((a for a in ats if a.name == at_name), ats[0])
    window = console.window(exp, at)
    start = views.parse_explore_hour(params["start"], "start") if params.get("start") else (window or ("", ""))[0]
    end = views.parse_explore_hour(params["end"], "end") if params.get("end") else (window or ("", ""))[1]
    composed = views.parse_composed(params.get("compose", ""))
    metrics = _lists(params, "metric") + [m for m in composed if m not in _lists(params, "metric")]
    method = params.get("method") or "percentile"
    correction = params.get("correction") or ""
    level_text = params.get("level") or "0.95"
    try:
        level = float(level_text)
    except ValueError:
        raise ValidationError("level", level_text[:40], "must be a number in (0, 1), e.g. 0.95") from None
    if not math.isfinite(level):
        raise ValidationError("level", level_text[:40], "must be a number in (0, 1), e.g. 0.95")
    request: QueryRequest = {
        "exp_id": exp.exp_id, "analysis_type": at.name, "start_hour": start, "end_hour": end,
        "metrics": metrics, "projection": _lists(params, "by"), "where": params.get("where") or "",
        "method": method, "correction": correction, "confidence_level": level,
        "interval": params.get("interval") or "fixed",
    }
    if composed:
        request["composed"] = composed
    form = {"start": start, "end": end, "metrics": metrics, "compose": params.get("compose", ""),
            "by": request["projection"], "where": request["where"], "method": method, "correction": correction,
            "level": level_text, "interval": request["interval"], "chart": params.get("chart") or exp.primary_kpi,
            "analysis_type": at.name, "analysis_types": [a.name for a in ats], "dimensions": list(at.dimensions),
            "all_metrics": list(default_metrics(at)) + [m for m in composed if m not in default_metrics(at)],
            "has_data": window is not None, "cuped": params.get("cuped") == "on", "cuped_metrics": list(at.cuped)}
    return request, form


def _share_url(exp_id: str, params: QueryParams) -> str:
    kept = [(k, v) for k, v in params.multi_items() if k in _EXPLORE_KEYS and v.strip()]
    return f"/experiments/{exp_id}" + (f"?{urlencode(kept)}" if kept else "")


def _health(console: Console, exp: Experiment, request: QueryRequest) -> tuple[list[HealthCheck], str]:
    try:
        return console.engine.health(exp.exp_id, request["start_hour"], request["end_hour"]), ""
    except RayabError as err:
        return [], f"health checks could not run: {err}"


_F = TypeVar("_F", bound=Callable[..., Any])


def _one_read(fn: _F) -> _F:
    """Run ``fn(console, ...)`` with the engine's table versions read once (:meth:`ResultsEngine.pinned`)."""
    @functools.wraps(fn)
    def wrapper(console: Console, *args: Any) -> Any:
        with console.engine.pinned():
            return fn(console, *args)
    return cast(_F, wrapper)


@_one_read
def _page_data(console: Console, exp: Experiment, params: QueryParams) -> dict[str, Any]:
    """Everything the experiment page shows (raises ValidationError / NotFoundError on a bad view)."""
    request, form = explore_request(console, exp, params)
    if not form["has_data"] and not params.get("start"):
        return {"form": form, "empty": True}
    results, _ = console.engine.results(request)
    # the verdict reads the unsliced primary KPI (and guardrails) of the same window, filter and method
    wanted = request["metrics"]
    if request["projection"] or (wanted and exp.primary_kpi not in wanted):
        overall_request = {**request, "projection": [],
                           "metrics": list(dict.fromkeys([exp.primary_kpi, *wanted])) if wanted else []}
        overall, _ = console.engine.results(overall_request)
    else:
        overall = results
    health, health_error = _health(console, exp, request)
    plan = views.progress(exp, overall)
    cuped_rows: list[views.CupedRow] = []
    cuped_note = ""
    if form["cuped"]:
        if not form["cuped_metrics"]:
            cuped_note = (f"CUPED is off: analysis type {form['analysis_type']} adjusts no metric "
                          "(list metrics under its cuped: and build covariates with rayab covariates)")
        else:
            asked = [m for m in request["metrics"] if m in form["cuped_metrics"]]
            if request["metrics"] and not asked:
                cuped_note = (f"CUPED adjusts only {', '.join(form['cuped_metrics'])}: pick one of them "
                              "in Metrics")
            else:
                cuped, _ = console.engine.cuped(request)
                cuped_rows = views.cuped_rows(cuped)
    return {
        "form": form, "empty": False, "request": request, "progress": plan, "cuped_rows": cuped_rows,
        "cuped_note": cuped_note,
        "verdict": views.verdict(exp, overall, health, plan), "groups": views.scorecard(exp, results),
        "health": health, "health_error": health_error,
        "health_banner": [c for c in health if c.name in ("sample_ratio", "data_completeness", "assignment_rate")
                          or c.status != "ok"],
    }


@_one_read
def _chart_data(console: Console, exp: Experiment, params: QueryParams) -> dict[str, Any]:
    """The charts of a view: the cumulative lift of the chart metric (unsliced) and units per day."""
    request, form = explore_request(console, exp, params)
    if not form["has_data"] and not params.get("start"):
        return {"rel_diff": views.chart_series([], form["chart"]), "units": views.units_per_day([], exp.planned_units),
                "level": request["confidence_level"]}
    series, _ = console.engine.timeseries({**request, "projection": [], "metrics": [form["chart"]]})
    health, _ = _health(console, exp, request)
    return {"rel_diff": views.chart_series(series, form["chart"]),
            "units": views.units_per_day(health, exp.planned_units), "level": request["confidence_level"]}


@_one_read
def _sql_data(console: Console, exp: Experiment, params: QueryParams) -> dict[str, str]:
    """The DuckDB and Trino SQL of a view (p-value corrections run in process only: the SQL gives raw p-values)."""
    request, _ = explore_request(console, exp, params)
    out = {"note": "p-values before the correction (corrections run in process)" if request["correction"] else ""}
    groups = _sql_groups(console, {**request, "correction": ""})
    for dialect in ("duckdb", "trino"):
        try:
            out[dialect] = "\n\n".join(f"-- {label}\n{console.engine.sql(part, dialect)}" if label else
                                        console.engine.sql(part, dialect) for label, part in groups)
        except ValidationError as err:
            out[dialect] = f"-- no SQL for this view: {err}"
    return out


def _sql_groups(console: Console, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The queries that give a view's SQL: one, or, when it mixes percentile metrics (their SQL merges histograms)
    with the others, one query for each kind, labelled."""
    try:
        _, at, query = console.engine.query(request)
    except ValidationError:
        return [("", request)]
    quantiles = [m for m in query.metrics if at.quantile_output(m) is not None]
    others = [m for m in query.metrics if at.quantile_output(m) is None]
    if not quantiles or not others:
        return [("", request)]
    return [("sums, counts and their ratios", {**request, "metrics": others}),
            ("percentile metrics", {**request, "metrics": quantiles})]


COOKIE = "rayab_token"


def _request_token(request: Request) -> list[tuple[str, str]]:
    """The bearer token of a request: its ``authorization`` header, else the sign-in cookie."""
    header = request.headers.get("authorization")
    if header:
        return [("authorization", header)]
    cookie = request.cookies.get(COOKIE)
    return [("authorization", f"Bearer {cookie}")] if cookie else []


def _form_token(form: FormData, request: Request) -> list[tuple[str, str]]:
    token = form.get("token")
    if isinstance(token, str) and token:
        return [("authorization", f"Bearer {token}")]
    return _request_token(request)


_EXAMPLE_SPEC = """exp_id: search_boost
name: Search boost
owner: search-team@example.com
description: Does boosting fresh results raise the click-through rate?
primary_kpi: ctr
status: draft
start_time: 2026-12-01T00:00:00Z
planned_units: 40000
variants:
  - {variant_id: control, traffic_pct: 50}
  - {variant_id: boosted, traffic_pct: 50, parameters: {boost: 1.5}}
"""


def create_app(warehouse: Warehouse, admin_token: str | None = None, *, engine: ResultsEngine | None = None,
               admin: ExperimentAdmin | None = None, read_token: str | None = None) -> Starlette:
    """The console application for ``warehouse``; admin changes need ``admin_token`` (None: they are refused).

    ``engine`` and ``admin`` let a serving process share its results engine (and cache) and its admin path (the
    config actor) with the console; by default the console has its own engine and writes through a config store
    on the warehouse. With ``read_token`` every page needs the read token or the admin token, as the gRPC reads
    do: a browser signs in once on ``/login`` (the token is kept in an HTTP-only, same-site cookie), a script
    sends ``authorization: Bearer <token>``.
    """
    console = Console(warehouse, admin_token, engine, admin)
    reads = ReadAccess(console.token, read_token)
    templates = console.templates

    def render(request: Request, name: str, context: Mapping[str, Any], status: int = 200) -> Response:
        return templates.TemplateResponse(request, name, {"admin_enabled": console.token.configured, **context},
                                          status_code=status)

    async def catalogue(request: Request) -> Response:
        params = request.query_params
        query, status, layer = params.get("q") or "", params.get("status") or "", params.get("layer") or ""
        config = await asyncio.to_thread(console.engine.config)
        now = datetime.now(UTC)
        rows = [views.catalogue_row(e, now) for e in config.experiments if views.matches(e, query, status, layer)]
        layers = sorted({e.layer for e in config.experiments})
        return render(request, "catalogue.html", {"rows": rows, "q": query, "status": status, "layer": layer,
                                                  "statuses": [s.value for s in ExperimentStatus],
                                                  "layers": layers, "total": len(config.experiments)})

    def _experiment(exp_id: str) -> Experiment:
        return console.engine.config().experiment(exp_id)

    async def summary(request: Request) -> Response:
        def compute() -> dict[str, str]:
            exp = _experiment(request.path_params["exp_id"])
            at = console.engine.config().analysis_types_of(exp.exp_id)[0]
            window = console.window(exp, at)
            if window is None:
                return {"units": "0", "rel_diff": "-", "variant": "", "tone": "neutral", "health": "none",
                        "health_reason": "no committed hour yet"}
            req: QueryRequest = {"exp_id": exp.exp_id, "analysis_type": at.name, "start_hour": window[0],
                                 "end_hour": window[1], "metrics": [exp.primary_kpi]}
            overall, _ = console.engine.results(req)
            health, _ = _health(console, exp, req)
            return views.summary(exp, overall, health)

        def pinned() -> dict[str, str]:
            with console.engine.pinned():
                return compute()

        try:
            return JSONResponse(await asyncio.to_thread(pinned))
        except NotFoundError as err:
            return JSONResponse({"error": str(err)}, status_code=404)
        except RayabError as err:
            return JSONResponse({"error": str(err)}, status_code=400)

    async def experiment_page(request: Request, notice: str = "", admin_error: str = "",
                              status: int = 200) -> Response:
        exp_id = request.path_params["exp_id"]
        try:
            exp = await asyncio.to_thread(_experiment, exp_id)
        except (NotFoundError, ValidationError) as err:
            return render(request, "error.html", {"message": str(err)}, 404)
        context: dict[str, Any] = {"exp": exp, "error": "", "notice": notice or request.query_params.get("notice", ""),
                                   "admin_error": admin_error, "share": _share_url(exp_id, request.query_params),
                                   "methods": METHODS, "corrections": CORRECTIONS,
                                   "query": request.url.query,
                                   "history": await asyncio.to_thread(console.history, exp_id)}
        try:
            context.update(await asyncio.to_thread(_page_data, console, exp, request.query_params))
        except (ValidationError, NotFoundError) as err:
            context["error"] = str(err)
            status = 400 if status == 200 else status
            if "form" not in context:
                context["form"] = {"start": request.query_params.get("start", ""), "metrics": [], "by": [],
                                   "dimensions": [], "all_metrics": [], "analysis_types": [], "has_data": True,
                                   "chart": exp.primary_kpi, "compose": request.query_params.get("compose", ""),
                                   "where": request.query_params.get("where", ""), "end": "", "level": "0.95",
                                   "method": "percentile", "correction": "", "interval": "fixed",
                                   "analysis_type": ""}
        return render(request, "experiment.html", context, status)

    async def show_experiment(request: Request) -> Response:
        return await experiment_page(request)

    async def _admin_call(form: FormData, what: str, exp_id: str) -> tuple[str, str]:
        """Run one change through the admin path; returns the experiment's id and the notice (raises the admin
        API's errors)."""
        fields = {k: (form.getlist(k) if k in ("variant_id", "traffic_pct") else form.get(k)) for k in form}
        who = operate.changed_by(fields)
        version_text = form.get("expected_version")
        expected = int(version_text) if isinstance(version_text, str) and version_text.isdigit() else None
        admin = await console.admin()
        if what == "create":
            source = form.get("spec_yaml")
            spec = (operate.spec_from_yaml(source) if isinstance(source, str) and source.strip()
                    else operate.spec_from_form(fields))
            exp, version = await admin.create(spec, changed_by=who)
            return exp.exp_id, f"created {exp.exp_id} as {exp.status} (config version {version})"
        if what == "rollout":
            raw = form.get("rollout_pct")
            text = raw.strip() if isinstance(raw, str) else ""
            try:
                rollout = float(text)
            except ValueError:
                raise ValidationError("rollout_pct", text[:40], "must be a number in [0, 100]") from None
            exp, version = await admin.update(exp_id, status=None, rollout_pct=rollout, targeting=None,
                                              expected_version=expected, changed_by=who)
            return exp.exp_id, f"rollout set to {exp.rollout_pct:g}% (config version {version})"
        if what in ("stop", "start"):
            status = ExperimentStatus.STOPPED if what == "stop" else ExperimentStatus.RUNNING
            exp, version = await admin.update(exp_id, status=status, rollout_pct=None, targeting=None,
                                              expected_version=expected, changed_by=who)
            return exp.exp_id, f"experiment {'stopped' if what == 'stop' else 'started'} (config version {version})"
        if what == "ship":
            variant = form.get("variant_id")
            exp, version = await admin.ship(exp_id, variant if isinstance(variant, str) else "", expected,
                                            changed_by=who)
            return exp.exp_id, f"shipped {exp.shipped_variant}: the experiment is stopped (config version {version})"
        if what == "archive":
            exp, version = await admin.archive(exp_id, expected, changed_by=who)
            return exp.exp_id, f"experiment archived (config version {version})"
        if what == "edit":
            edits = operate.described(fields)
            exp, version = await admin.update(exp_id, status=None, rollout_pct=None, targeting=None,
                                              expected_version=expected, changed_by=who, **edits)
            return exp.exp_id, f"saved {', '.join(sorted(edits))} (config version {version})"
        raise NotFoundError(f"no change called {what!r}")

    async def change(request: Request, what: str) -> Response:
        exp_id = request.path_params.get("exp_id", "")
        form = await request.form()
        async def failed(message: str, status: int) -> Response:
            if what == "create":
                return await new_page(request, form, message, status)
            return await experiment_page(request, admin_error=message, status=status)

        try:
            console.token.check(_form_token(form, request))
        except Unauthenticated as err:
            return await failed(str(err), 401)
        try:
            async with console.write_lock:
                exp_id, notice = await _admin_call(form, what, exp_id)
        except NotFoundError as err:
            if what == "create":
                return await failed(str(err), 404)
            return render(request, "error.html", {"message": str(err)}, 404)
        except (PreconditionError, ConflictError) as err:
            return await failed(str(err), 409)
        except ValidationError as err:
            return await failed(str(err), 400)
        except RayabError as err:
            return await failed(str(err), 503)
        return RedirectResponse(f"/experiments/{exp_id}?{urlencode({'notice': notice})}", status_code=303)

    async def new_page(request: Request, form: FormData | None = None, admin_error: str = "",
                       status: int = 200) -> Response:
        config = await asyncio.to_thread(console.engine.config)
        fields: dict[str, Any] = {}
        if form is not None:
            fields = {k: (form.getlist(k) if k in ("variant_id", "traffic_pct") else form.get(k)) for k in form}
        spec = operate.spec_from_form(fields) if fields else {}
        metrics = sorted({m for at in config.analysis_types for m in default_metrics(at)})
        return render(request, "new.html", {"form": fields, "spec": spec, "admin_error": admin_error,
                                            "variants": operate.variant_rows(spec), "metrics": metrics,
                                            "layers": sorted({e.layer for e in config.experiments}),
                                            "example": _EXAMPLE_SPEC}, status)

    async def create(request: Request) -> Response:
        return await change(request, "create")

    def _json_of(compute: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                exp = await asyncio.to_thread(_experiment, request.path_params["exp_id"])
                return JSONResponse(await asyncio.to_thread(compute, console, exp, request.query_params))
            except NotFoundError as err:
                return JSONResponse({"error": str(err)}, status_code=404)
            except RayabError as err:
                return JSONResponse({"error": str(err)}, status_code=400)
        return endpoint

    def _change_route(what: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await change(request, what)
        return endpoint

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def login_page(request: Request, error: str = "", status: int = 200) -> Response:
        return render(request, "login.html", {"error": error, "next": request.query_params.get("next", "/")}, status)

    async def login(request: Request) -> Response:
        form = await request.form()
        token = form.get("token")
        text = token.strip() if isinstance(token, str) else ""
        try:
            reads.check([("authorization", f"Bearer {text}")] if text else [])
        except Unauthenticated as err:
            return await login_page(request, str(err), 401)
        target = form.get("next")
        where = target if isinstance(target, str) and target.startswith("/") and not target.startswith("//") else "/"
        response = RedirectResponse(where, status_code=303)
        response.set_cookie(COOKIE, text, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    async def guard(request: Request, call_next: Any) -> Response:
        open_path = request.url.path in ("/healthz", "/login", "/favicon.ico") or request.url.path.startswith(
            "/static/")
        if reads.configured and not open_path:
            try:
                reads.check(_request_token(request))
            except Unauthenticated as err:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
                return JSONResponse({"error": str(err)}, status_code=401)
        response: Response = await call_next(request)
        return response

    app = Starlette(middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)], routes=[
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/", catalogue),
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        Route("/experiments/{exp_id}", show_experiment),
        Route("/experiments/{exp_id}/summary", summary),
        Route("/experiments/{exp_id}/charts", _json_of(_chart_data)),
        Route("/experiments/{exp_id}/sql", _json_of(_sql_data)),
        Route("/new", new_page, methods=["GET"]),
        Route("/new", create, methods=["POST"]),
        *[Route(f"/experiments/{{exp_id}}/{what}", _change_route(what), methods=["POST"])
          for what in ("rollout", "stop", "start", "ship", "archive", "edit")],
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ])
    app.state.console = console
    return app
