"""``rayab run-hour``: aggregate one hour of raw logs and commit it (the command ``ray job submit`` runs).

Progress lines go to standard error, one per stage step; the summary (rows read, quarantined, unmatched, units,
cells, bytes written, seconds per stage) goes to standard output, as text or ``--format json``.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rayab.cli.options import add_common, add_ray_options, load_cli_config

__all__ = ["add_input_options", "register"]


def _prepare(args: argparse.Namespace) -> tuple[Any, Any]:
    """What the hour needs besides Ray: the job's modules imported, the config loaded, the warehouse opened."""
    import rayab.hourly.job  # noqa: F401  (imported here, while Ray starts, not after)
    from rayab.storage.warehouse import Warehouse

    return load_cli_config(args), Warehouse.from_url(args.warehouse)


def _run(args: argparse.Namespace) -> int:
    from rayab.aggregate.summary import print_progress
    from rayab.runtime import ray_session

    # Starting a local Ray takes seconds, most of them spent waiting for its processes; the driver's own imports
    # and the config (a Delta read) are done in that time, on a second thread, instead of before it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rayab-prepare") as pool:
        prepared = pool.submit(_prepare, args)
        with ray_session(args.address, args.num_cpus):
            config, warehouse = prepared.result()
            from rayab.hourly.job import run_hour, summary_dict

            summaries = run_hour(config, args.hour, args.logs, warehouse,
                                 analysis_types=args.analysis_type or None, n_shards=args.shards,
                                 skip_corrupt=args.skip_corrupt, population=args.population,
                                 progress=None if args.quiet else print_progress, allow_empty=args.allow_empty)
    if args.format == "json":
        print(json.dumps([summary_dict(s) for s in summaries], indent=1))
    else:
        for summary in summaries:
            print(summary.line())
    return 0


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The options saying where the logs are and how to read them (shared with ``rayab backfill``)."""
    parser.add_argument("--logs", default=None,
                        help="root of the raw logs (.../date=YYYY-MM-DD/hour=HH/, sub-folders included) or a URL "
                             "template such as s3://bucket/events/dt={date}/h={hour}/*.parquet; files read: "
                             ".parquet, .jsonl, .json, .ndjson, .csv (any case, text formats also .gz, .zst), "
                             "others are listed as ignored; needed for the analysis types without a source in the "
                             "config")
    parser.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    parser.add_argument("--analysis-type", action="append", help="only this analysis type (repeatable)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="commit an hour with no input file or no row as really empty (by default such an hour "
                             "fails with exit code 5 and commits nothing, so a wrong --logs path never replaces "
                             "committed data)")
    parser.add_argument("--skip-corrupt", action="store_true",
                        help="record unreadable files in the manifest instead of failing the hour")
    parser.add_argument("--population", choices=["log", "assignment"], default="log",
                        help="log: events carry exp_id and variant_id; assignment: events carry only the unit and "
                             "are joined with the assignment table (events at or after first assignment count)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    run = sub.add_parser("run-hour", help="aggregate one hour of raw logs and commit it")
    add_common(run)
    add_ray_options(run)
    run.add_argument("--hour", required=True, help="the hour, e.g. 2026-11-24T10 (UTC)")
    add_input_options(run)
    run.set_defaults(func=_run)
