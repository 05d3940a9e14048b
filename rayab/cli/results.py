"""``rayab results``: estimates, lifts and confidence intervals over a window of hours, or as of every hour of it.

Examples::

    rayab results --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-24T00 --metric ctr --by country
    rayab results --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-24T00 \\
        --where "platform IN ('ios', 'android')" --correction holm --format csv
    rayab results --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-24T00 --metric ctr --cumulative --sequential
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rayab.cli.options import add_common, format_pvalue, load_cli_config, primary_first, print_results, results_notes
from rayab.model import AnalysisType, Config, Experiment
from rayab.query.spec import Query
from rayab.report.formatting import format_number, format_pct, render_table

if TYPE_CHECKING:
    from rayab.query.compare import MetricResult

__all__ = ["add_query_options", "query_from_args", "register", "resolve_target"]

_CORRECTIONS = ("bonferroni", "holm", "hochberg", "sidak", "holm-sidak", "bh", "by")


def add_query_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The options that describe a query: experiment, window, metrics, slices, filter, level and method
    (``required=False``: the caller checks the experiment and window, which another mode may not need)."""
    parser.add_argument("--exp", required=required)
    parser.add_argument("--start", required=required, help="first hour of the window, e.g. 2026-11-23T00")
    parser.add_argument("--end", required=required, help="hour after the last one (the window is [start, end))")
    parser.add_argument("--metric", action="append", help="metric name (repeatable; default: all)")
    parser.add_argument("--by", action="append", help="projection dimension (repeatable: crosses of several)")
    parser.add_argument("--where", default=None,
                        help="filter on dimensions: =, !=, IN, NOT IN, AND, OR with quoted values, "
                             "e.g. \"country IN ('US', 'BR') AND platform != 'tv'\"")
    parser.add_argument("--analysis-type", default=None)
    parser.add_argument("--config", default=None)
    parser.add_argument("--confidence-level", type=float, default=0.95)
    parser.add_argument("--ci-method", choices=["percentile", "basic", "normal"], default="percentile")


def resolve_target(args: argparse.Namespace) -> tuple[Config, Experiment, AnalysisType]:
    """The config, experiment and analysis type the arguments name."""
    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    analysis_type = (config.analysis_type(args.analysis_type) if args.analysis_type
                     else config.analysis_types_of(exp.exp_id)[0])
    return config, exp, analysis_type


def query_from_args(args: argparse.Namespace) -> Query:
    """The :class:`Query` the arguments describe."""
    data: dict[str, Any] = {
        "exp_id": args.exp, "start_hour": args.start, "end_hour": args.end, "metrics": args.metric or (),
        "projection": args.by or (), "where": args.where, "confidence_level": args.confidence_level,
        "method": args.ci_method, "bayesian": getattr(args, "bayesian", "bootstrap"),
    }
    for name in ("correction", "correct_across_slices", "planned_units"):
        if getattr(args, name, None) is not None:
            data[name] = getattr(args, name)
    if getattr(args, "sequential", False):
        data["interval"] = "sequential"
    return Query.from_dict(data)


def _print_series(results: Sequence[MetricResult], across_slices: bool) -> None:
    """A time series as a table: one line per window end, variant and slice."""
    corrected = bool(results and results[0].correction)
    rows = []
    for r in primary_first(results):
        p = r.adjusted_pvalue if corrected else r.pvalue
        sig = r.variant_id != r.control_id and math.isfinite(p) and p < 1.0 - r.confidence_level
        rows.append([r.end_hour, r.metric + (" [primary]" if r.primary_kpi else ""), r.variant_id,
                     ",".join(f"{k}={v}" for k, v in r.slice) or "all", r.units, format_number(r.estimate),
                     format_pct(r.rel_diff), f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]",
                     format_pvalue(r.pvalue, r.pvalue_is_bound),
                     *([format_number(r.adjusted_pvalue, 3)] if corrected else []), "*" if sig else ""])
    level = f"{results[0].confidence_level:.0%}" if results else "95%"
    sequential = bool(results and results[0].interval == "sequential")
    kind = "always-valid " if sequential else ""
    print(render_table(["end_hour", "metric", "variant", "slice", "units", "estimate", "lift",
                        f"lift {kind}{level} CI", "p-value", *(["adj. p"] if corrected else []), "sig"], rows))
    notes = results_notes(results, across_slices)
    if sequential:
        notes.append("always-valid: each look's interval is the intersection of the looks so far and its p-value "
                     "the running minimum, so both may be read after every hour")
    if notes:
        print("\n" + "\n".join(notes))


def _run(args: argparse.Namespace) -> int:
    from rayab.query.results import cumulative_results, run_query
    from rayab.storage.warehouse import Warehouse

    _, exp, analysis_type = resolve_target(args)
    query = query_from_args(args)
    warehouse = Warehouse.from_url(args.warehouse)
    if getattr(args, "cuped", False):
        from rayab.cli.cuped import print_cuped
        from rayab.query.cuped import run_cuped_query

        print_cuped(run_cuped_query(warehouse, analysis_type, exp, query), args.format)
        return 0
    if args.cumulative:
        series = cumulative_results(warehouse, analysis_type, exp, query)
        if args.format == "table":
            _print_series(series, bool(args.correct_across_slices))
        else:
            print_results(series, args.format)
        return 0
    print_results(run_query(warehouse, analysis_type, exp, query), args.format, bool(args.correct_across_slices))
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    res = sub.add_parser("results", help="estimates, lifts and confidence intervals over a window of hours")
    add_common(res)
    add_query_options(res)
    res.add_argument("--correction", choices=_CORRECTIONS, default=None,
                     help="adjust p-values across metrics x variants (per slice unless --across-slices)")
    res.add_argument("--across-slices", dest="correct_across_slices", action="store_true", default=None,
                     help="one multiple-testing family for all slices")
    res.add_argument("--bayesian", choices=["bootstrap", "normal"], default="bootstrap",
                     help="Bayesian readouts (chance to beat control, risk, credible interval of rel_diff) from "
                          "the bootstrap replicates as posterior draws (default) or the lognormal approximation")
    res.add_argument("--cumulative", action="store_true", help="results as of the end of every hour of the window")
    res.add_argument("--sequential", action="store_true",
                     help="always-valid intervals (confidence sequences) for results looked at every hour")
    res.add_argument("--planned-units", type=float, default=None,
                     help="units (both arms) where sequential intervals are tightest (default 5000)")
    res.add_argument("--cuped", action="store_true",
                     help="CUPED-adjusted lifts of the analysis type's CUPED metrics, next to the unadjusted ones")
    res.set_defaults(func=_run)
