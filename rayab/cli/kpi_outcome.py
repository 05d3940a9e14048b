"""``rayab kpi-outcome``: build the ``kpi_outcome`` rows of one day (per unit, per experiment, per KPI).

Example (a pre-period day, events carrying only the unit)::

    rayab kpi-outcome --date 2026-11-20 --logs ./logs --population assignment
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from rayab.cli.options import add_common, add_ray_options, load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.hourly.kpi_outcome import build_kpi_outcome
    from rayab.runtime import ray_session
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    with ray_session(args.address, args.num_cpus):
        summary = build_kpi_outcome(config, args.date, args.logs, Warehouse.from_url(args.warehouse),
                                    analysis_type=args.analysis_type, population=args.population,
                                    exp_ids=args.exp or None)
    if args.format == "json":
        print(json.dumps(dataclasses.asdict(summary), indent=1))
    else:
        print(f"kpi_outcome {summary.date} ({summary.analysis_type}): {summary.files} files, {summary.units} "
              f"(experiment, unit) pairs, {summary.rows} rows, {summary.rows_quarantined} rows quarantined")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("kpi-outcome", help="build the kpi_outcome table for one day")
    add_common(cmd)
    add_ray_options(cmd)
    cmd.add_argument("--date", required=True, help="the day, e.g. 2026-11-23 (UTC)")
    cmd.add_argument("--logs", required=True, help="root of the raw logs (or a URL template, as for run-hour)")
    cmd.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    cmd.add_argument("--analysis-type", default=None, help="whose metrics are the KPIs (default: the first)")
    cmd.add_argument("--exp", action="append", help="only this experiment (repeatable)")
    cmd.add_argument("--population", choices=["log", "assignment"], default="log",
                     help="assignment: events carry only the unit; joined with the assignment table, counting "
                          "events before the experiment's start (pre-period) or at/after the unit's assignment")
    cmd.set_defaults(func=_run)
