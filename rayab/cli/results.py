"""``rayab results``: estimates, lifts and confidence intervals over a window of hours."""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.options import add_common, load_cli_config, print_results

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.query.results import experiment_results
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    analysis_type = (config.analysis_type(args.analysis_type) if args.analysis_type
                     else config.analysis_types_of(exp.exp_id)[0])
    results = experiment_results(Warehouse.from_url(args.warehouse), analysis_type, exp, args.start, args.end,
                                 metrics=args.metric or None, projection=args.by or (),
                                 confidence_level=args.confidence_level, method=args.ci_method)
    print_results(results, args.format)
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    res = sub.add_parser("results", help="estimates, lifts and confidence intervals over a window of hours")
    add_common(res)
    res.add_argument("--exp", required=True)
    res.add_argument("--start", required=True, help="first hour of the window, e.g. 2026-11-23T00")
    res.add_argument("--end", required=True, help="hour after the last one (the window is [start, end))")
    res.add_argument("--metric", action="append", help="metric name (repeatable; default: all)")
    res.add_argument("--by", action="append", help="projection dimension (repeatable)")
    res.add_argument("--analysis-type", default=None)
    res.add_argument("--config", default=None)
    res.add_argument("--confidence-level", type=float, default=0.95)
    res.add_argument("--ci-method", choices=["percentile", "basic", "normal"], default="percentile")
    res.set_defaults(func=_run)
