"""``rayab report``: one self-contained HTML file per experiment.

Sections: the experiment, a forest plot of relative lifts with their intervals for every metric and variant, the
cumulative lift of the primary KPI as of every hour with its band, the results table (with the Bayesian readouts:
chance to beat control, risk of shipping each arm, credible interval of the lift), the health panel and the SQL
that reproduces the numbers in a BI tool. Charts are inline SVG, so the file needs no network and no JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from rayab.guardrails.health import HealthCheck, experiment_health, worst_status
from rayab.model import Config, Experiment
from rayab.model.hours import format_hour, parse_hour
from rayab.query.compare import MetricResult
from rayab.query.results import cumulative_results, experiment_results
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.report.charts import cumulative_plot, forest_plot
from rayab.report.formatting import format_number, format_pct
from rayab.storage.warehouse import Warehouse

__all__ = ["CumulativeSeries", "ReportData", "build_report", "collect_report", "default_sql", "render_report"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#666} table{border-collapse:collapse;width:100%;font-size:.85rem} td,th{padding:.25rem .5rem;
text-align:right;border-bottom:1px solid #eee} td:first-child,th:first-child,td.l,th.l{text-align:left}
.ok{color:#1e8449;font-weight:600} .warn{color:#b9770e;font-weight:600} .fail{color:#c0392b;font-weight:600}
.no_data{color:#7d3c98;font-weight:600}
.chart{margin:1rem 0} pre{background:#f6f8fa;padding:1rem;overflow-x:auto;font-size:.8rem}
"""


@dataclass(frozen=True)
class CumulativeSeries:
    """Cumulative relative lift of one metric and variant as of the end of every hour."""

    metric: str
    variant_id: str
    hours: tuple[str, ...]
    rel_diff: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows."""

    experiment: Experiment
    start_hour: str
    end_hour: str
    results: tuple[MetricResult, ...]
    cumulative: tuple[CumulativeSeries, ...]
    health: tuple[HealthCheck, ...]
    sql: tuple[tuple[str, str], ...]


def _cumulative(warehouse: Warehouse, config: Config, exp: Experiment, start: str, end: str) -> list[CumulativeSeries]:
    analysis_type = config.analysis_types_of(exp.exp_id)[0]
    query = Query(exp.exp_id, start, end, metrics=(exp.primary_kpi,))
    by_variant: dict[str, list[tuple[str, float, float, float]]] = {}
    for r in cumulative_results(warehouse, analysis_type, exp, query):
        if r.variant_id != exp.control_id:
            by_variant.setdefault(r.variant_id, []).append((r.end_hour, r.rel_diff, r.rel_ci_lower, r.rel_ci_upper))
    series = []
    for variant_id, points in by_variant.items():
        points.sort()
        ends, rel_diff, low, high = (tuple(column) for column in zip(*points, strict=True))
        hours = tuple(format_hour(parse_hour(e) - timedelta(hours=1)) for e in ends)
        series.append(CumulativeSeries(exp.primary_kpi, variant_id, hours, rel_diff, low, high))
    return series


def default_sql(config: Config, exp: Experiment, start: str, end: str) -> list[tuple[str, str]]:
    """The primary KPI's query in DuckDB and Trino/Athena SQL, to paste into a BI tool."""
    analysis_type = config.analysis_types_of(exp.exp_id)[0]
    query = Query(exp.exp_id, start, end, metrics=(exp.primary_kpi,))
    return [(f"{dialect_name}: {exp.primary_kpi} over [{start}, {end})",
             results_sql(analysis_type, exp, query, dialect))  # type: ignore[arg-type]
            for dialect_name, dialect in (("DuckDB", "duckdb"), ("Trino / Athena", "trino"))]


def collect_report(warehouse: Warehouse, config: Config, exp_id: str, start_hour: str, end_hour: str,
                   sql: Callable[[Experiment], Sequence[tuple[str, str]]] | None = None) -> ReportData:
    """Read and compute everything the report shows."""
    exp = config.experiment(exp_id)
    results = []
    for analysis_type in config.analysis_types_of(exp_id):
        results += experiment_results(warehouse, analysis_type, exp, start_hour, end_hour)
    return ReportData(exp, start_hour, end_hour, tuple(results),
                      tuple(_cumulative(warehouse, config, exp, start_hour, end_hour)),
                      tuple(experiment_health(warehouse, config, exp_id, start_hour, end_hour)),
                      tuple(sql(exp)) if sql else tuple(default_sql(config, exp, start_hour, end_hour)))


def _results_table(results: Sequence[MetricResult]) -> str:
    head = ("<tr><th>metric</th><th class=l>variant</th><th>units</th><th>estimate</th><th>CI</th><th>lift</th>"
            "<th>lift CI</th><th>p-value</th><th>P(beat)</th><th>risk control</th><th>risk variant</th>"
            "<th>lift credible interval</th></tr>")
    rows = [f"<tr><td>{html.escape(r.metric)}</td><td class=l>{html.escape(r.variant_id)}</td><td>{r.units}</td>"
            f"<td>{format_number(r.estimate)}</td><td>[{format_number(r.ci_lower)}, {format_number(r.ci_upper)}]</td>"
            f"<td>{format_pct(r.rel_diff)}</td><td>[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]</td>"
            f"<td>{format_number(r.pvalue, 3)}</td><td>{format_pct(r.chance_to_beat_control, signed=False)}</td>"
            f"<td>{format_number(r.risk_control)}</td><td>{format_number(r.risk_variant)}</td>"
            f"<td>[{format_pct(r.rel_cred_lower)}, {format_pct(r.rel_cred_upper)}]</td></tr>"
            for r in results if not r.slice]
    return f"<table>{head}{''.join(rows)}</table>"


def _health_table(checks: Sequence[HealthCheck]) -> str:
    rows = [f"<tr><td>{html.escape(c.name)}</td><td class='l {c.status}'>{c.status.upper()}</td>"
            f"<td class=l>{html.escape(c.reason)}</td></tr>" for c in checks]
    return f"<table><tr><th>check</th><th class=l>status</th><th class=l>reason</th></tr>{''.join(rows)}</table>"


def render_report(data: ReportData) -> str:
    """The report as one HTML document."""
    exp = data.experiment
    rel_diffs = [(r.metric, r.variant_id, r.rel_diff, r.rel_ci_lower, r.rel_ci_upper) for r in data.results
             if r.variant_id != exp.control_id and not r.slice and r.metric != "units"]
    charts = [f"<div class=chart id=forest>{forest_plot(rel_diffs)}</div>"]
    for series in data.cumulative:
        title = f"Cumulative lift of {series.metric}: {series.variant_id} vs {exp.control_id}"
        svg = cumulative_plot(series.hours, series.rel_diff, series.ci_lower, series.ci_upper, title)
        charts.append(f"<div class=chart id='cumulative-{html.escape(series.variant_id)}'>{svg}</div>")
    status = worst_status(data.health)
    variants = ", ".join(f"{html.escape(v.variant_id)} {v.traffic_pct:g}%" for v in exp.variants)
    sql = "".join(f"<h3>{html.escape(title)}</h3><pre>{html.escape(text)}</pre>" for title, text in data.sql)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>rayab · {html.escape(exp.exp_id)}"
            f"</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(exp.name)} <span class=meta>({html.escape(exp.exp_id)})</span></h1>"
            f"<p class=meta>window [{data.start_hour}, {data.end_hour}) · variants {variants} · primary KPI "
            f"{html.escape(exp.primary_kpi)} · health <span class={status}>{status.upper()}</span></p>"
            f"<h2>Lifts</h2>{''.join(charts)}<h2>Results</h2>{_results_table(data.results)}"
            f"<h2>Health</h2>{_health_table(data.health)}"
            + (f"<h2>SQL</h2>{sql}" if sql else "") + "</body></html>")


def build_report(warehouse: Warehouse, config: Config, exp_id: str, start_hour: str, end_hour: str,
                 sql: Callable[[Experiment], Sequence[tuple[str, str]]] | None = None) -> str:
    """Collect and render in one call."""
    return render_report(collect_report(warehouse, config, exp_id, start_hour, end_hour, sql))
