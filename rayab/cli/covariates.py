"""``rayab covariates``: per-unit CUPED covariates of an experiment from its pre-period ``kpi_outcome`` rows.

Example (a week before the start; build those days first with ``rayab kpi-outcome --population assignment``)::

    rayab covariates --exp ranker_v2 --days 7
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rayab.cli.options import add_common, load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.aggregate.covariates import covariates_from_kpi_outcome, pre_period_dates, write_covariates
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    at = config.analysis_type(args.analysis_type) if args.analysis_type else config.analysis_types_of(exp.exp_id)[0]
    warehouse = Warehouse.from_url(args.warehouse)
    rows = covariates_from_kpi_outcome(warehouse, at, exp, args.days)
    write_covariates(warehouse, exp.exp_id, rows)
    dates = pre_period_dates(exp, args.days)
    summary = {"exp_id": exp.exp_id, "analysis_type": at.name, "from": dates[0], "to": dates[-1],
               "rows": rows.num_rows, "metrics": list(at.cuped)}
    if args.format == "json":
        print(json.dumps(summary, indent=1))
    else:
        print(f"covariate {exp.exp_id}: {rows.num_rows} (unit, metric) rows of {', '.join(at.cuped)} "
              f"over {dates[0]}..{dates[-1]}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("covariates", help="per-unit CUPED covariates from pre-period kpi_outcome rows")
    add_common(cmd)
    cmd.add_argument("--exp", required=True)
    cmd.add_argument("--days", type=int, required=True, help="pre-period length in days before the start day")
    cmd.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    cmd.add_argument("--analysis-type", default=None)
    cmd.set_defaults(func=_run)
