"""``rayab run-hour``: aggregate one hour of raw logs and commit it (the command ``ray job submit`` runs)."""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.options import add_common, add_ray_options, load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.pipeline.job import run_hour
    from rayab.pipeline.runtime import ray_session
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    with ray_session(args.address, args.num_cpus):
        summaries = run_hour(config, args.hour, args.logs, Warehouse.from_url(args.warehouse),
                             analysis_types=args.analysis_type or None, n_shards=args.shards,
                             skip_corrupt=args.skip_corrupt)
    for summary in summaries:
        print(summary.line())
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    run = sub.add_parser("run-hour", help="aggregate one hour of raw logs and commit it")
    add_common(run)
    add_ray_options(run)
    run.add_argument("--hour", required=True, help="the hour, e.g. 2026-11-24T10 (UTC)")
    run.add_argument("--logs", required=True, help="root of the raw logs (.../date=YYYY-MM-DD/hour=HH/*.parquet)")
    run.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    run.add_argument("--analysis-type", action="append", help="only this analysis type (repeatable)")
    run.add_argument("--skip-corrupt", action="store_true", help="record unreadable files instead of failing")
    run.set_defaults(func=_run)
