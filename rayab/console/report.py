"""``rayab report``: the console's experiment page as one self-contained HTML file.

The file shows what the console's page shows for the same window, from the same code: the verdict, the health
banner, the scorecard (primary KPI boxed, guardrails apart, interval bars coloured by significance), progress
toward the planned sample, the cumulative lift with its band and units per day (uPlot, interactive: hover values,
drag to zoom), then the health checks in full and the DuckDB and Trino SQL in a collapsed section. Styles, uPlot,
the chart script and the chart data are inlined: the file opens offline, from disk, in any browser, and can be
mailed or attached to a ticket.

It needs Jinja2 (a dependency of rayab) but no web server: templates are rendered directly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import QueryParams

from rayab.api.engine import ResultsEngine
from rayab.console import views
from rayab.storage.warehouse import Warehouse

__all__ = ["render_report"]

HERE = Path(__file__).resolve().parent


def _inline_script(text: str) -> str:
    """JavaScript or JSON safe inside ``<script>``: no ``</`` can close the element early."""
    return text.replace("</", "<\\/")


def render_report(warehouse: Warehouse, exp_id: str, start_hour: str, end_hour: str,
                  engine: ResultsEngine | None = None, params: QueryParams | None = None) -> str:
    """The report of ``exp_id`` over ``[start_hour, end_hour)`` (``params``: any other view of the console's query
    string, e.g. ``metric``, ``by`` or ``correction``)."""
    from rayab.console.app import Console, _chart_data, _health, _page_data, _sql_data

    console = Console(warehouse, None, engine)
    exp = console.engine.config().experiment(exp_id)
    query = QueryParams([*(params.multi_items() if params else []), ("start", start_hour), ("end", end_hour)])
    page = _page_data(console, exp, query)
    charts = _chart_data(console, exp, query)
    sql = _sql_data(console, exp, query)
    health, _ = _health(console, exp, page["request"])
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]))
    env.globals["fmt_pct"] = views.format_pct
    static = HERE / "static"
    context: dict[str, Any] = {
        **page, "exp": exp, "charts_inline": True, "all_health": health, "sql": sql,
        "css": "\n".join((static / name).read_text(encoding="utf-8") for name in ("uPlot.min.css", "console.css")),
        "scripts": [_inline_script((static / name).read_text(encoding="utf-8"))
                    for name in ("uPlot.iife.min.js", "console.js")],
        "chart_json": _inline_script(json.dumps(charts, allow_nan=False)),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return env.get_template("report.html").render(context)
