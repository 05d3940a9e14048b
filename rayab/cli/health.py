"""``rayab health``: the experiment's health checks; exits 1 when a check fails or has no data, so a scheduler can
alert."""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.options import add_common, load_cli_config
from rayab.report.formatting import render_table, to_json

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.guardrails.health import HealthSettings, experiment_health, worst_status
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    settings = HealthSettings(srm_threshold=args.srm_threshold, srm_by=tuple(args.srm_by or ()))
    checks = experiment_health(Warehouse.from_url(args.warehouse), config, args.exp, args.start, args.end, settings,
                               logs_root=args.logs)
    if args.format == "json":
        print(to_json([c._asdict() for c in checks]))
    else:
        print(render_table(["check", "status", "reason"], [[c.name, c.status.upper(), c.reason] for c in checks]))
    status = worst_status(checks)
    if args.format == "table":
        print(f"\n{args.exp}: {status.upper()}")
    # no data is not a pass: a scheduler must hear about it like a failure
    return 1 if status in ("fail", "no_data") else 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    health = sub.add_parser("health", help="SRM, assignment rate, data quality and guardrail checks")
    add_common(health)
    health.add_argument("--exp", required=True)
    health.add_argument("--start", required=True, help="first hour of the window, e.g. 2026-11-23T00")
    health.add_argument("--end", required=True, help="hour after the last one")
    health.add_argument("--config", default=None)
    health.add_argument("--srm-threshold", type=float, default=0.001)
    health.add_argument("--srm-by", action="append", help="also test SRM per value of this assignment dimension")
    health.add_argument("--logs", default=None, help="raw logs root of the analysis types without a source in the "
                        "config, to detect inputs that changed after commit (sources are always checked)")
    health.set_defaults(func=_run)
