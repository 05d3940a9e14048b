"""``rayab backfill``: re-run the hours of a range whose inputs changed since they were committed (late data).

For every hour in ``[--start, --end)`` the input listing (paths and sizes) is compared with the hour's newest manifest;
hours never completed or whose files were added, removed or resized are re-run, oldest first (all of them with
``--force``); for a Delta source the inputs are the data files of the newest version that hold the hour's times, for
a SQL source the query text and its parameters. A re-run replaces the hour's partitions atomically, so a backfill can
be repeated safely; if an hour fails, the hours before it stay committed and the command stops with that hour's
error. ``--from`` and ``--to`` are the earlier, deprecated spellings of ``--start`` and ``--end`` (hidden from the
help; they still work).

>>> from rayab.cli.main import build_parser
>>> args = build_parser(["backfill"]).parse_args(["backfill", "--start", "2026-11-24T00", "--end", "2026-11-24T06",
...                                               "--logs", "logs"])
>>> args.start, args.end
('2026-11-24T00', '2026-11-24T06')
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rayab.cli.options import add_common, add_ray_options, load_cli_config
from rayab.cli.run_hour import add_input_options

if TYPE_CHECKING:
    from rayab.storage.logs import LogFile

__all__ = ["register"]


class _DeprecatedAlias(argparse.Action):
    """Stores the value like the flag it replaced and notes on stderr which flag to use instead."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"rayab backfill: {option_string} is deprecated, use {self.const}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _run(args: argparse.Namespace) -> int:
    from rayab.aggregate.manifest import plan_reruns
    from rayab.aggregate.summary import print_progress
    from rayab.hourly.job import hour_input, run_hour, summary_dict
    from rayab.model.hours import hours_between
    from rayab.runtime import ray_session
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    warehouse = Warehouse.from_url(args.warehouse)
    hours = hours_between(args.start, args.end)
    names = args.analysis_type or [a.name for a in config.analysis_types]
    def lister(name: str) -> Callable[[str], list[LogFile]]:
        at = config.analysis_type(name)
        return lambda hour: hour_input(at, hour, args.logs).files

    plans = {name: plan_reruns(warehouse, name, hours, lister(name), args.force) for name in names}
    done = []
    for name, plan in plans.items():
        print(f"{name}: {len(plan)} of {len(hours)} hours to run" + "".join(f"\n  {p.hour}: {p.reason}"
                                                                           for p in plan))
    if args.dry_run or not any(plans.values()):
        return 0
    with ray_session(args.address, args.num_cpus):
        for name, plan in plans.items():
            for item in plan:
                done += run_hour(config, item.hour, args.logs, warehouse, analysis_types=[name],
                                 n_shards=args.shards, skip_corrupt=args.skip_corrupt, population=args.population,
                                 progress=None if args.quiet else print_progress, allow_empty=args.allow_empty)
    if args.format == "json":
        print(json.dumps([summary_dict(s) for s in done], indent=1))
    else:
        for summary in done:
            print(summary.line())
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    run = sub.add_parser("backfill", help="re-run the hours of a range whose inputs changed (or all, --force)")
    add_common(run)
    add_ray_options(run)
    for flag, old, text in (("--start", "--from", "first hour, e.g. 2026-11-24T00 (UTC)"),
                            ("--end", "--to", "hour after the last one (the range is [start, end))")):
        window = run.add_mutually_exclusive_group(required=True)
        window.add_argument(flag, dest=flag[2:], help=text)
        window.add_argument(old, dest=flag[2:], action=_DeprecatedAlias, const=flag, help=argparse.SUPPRESS)
    run.add_argument("--force", action="store_true", help="re-run every hour of the range")
    run.add_argument("--dry-run", action="store_true", help="only print which hours would run and why")
    add_input_options(run)
    run.set_defaults(func=_run)
