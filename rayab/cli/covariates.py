"""``rayab covariates``: per-unit CUPED covariates of an experiment, from its pre-period ``kpi_outcome`` rows or
(``rayab covariates load``) from a file or table that already holds one value per unit.

Examples (a week before the start; build those days first with ``rayab kpi-outcome --population assignment``; or
last month's revenue per customer, exported elsewhere)::

    rayab covariates --exp ranker_v2 --days 7
    rayab covariates load revenue_before.csv --exp ranker_v2 --column revenue_30d --metric revenue
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rayab.cli.options import add_common, load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    if args.days is None:
        from rayab.errors import ValidationError

        raise ValidationError("--days", None, "is required (or use `rayab covariates load FILE`)")
    if args.exp is None:
        from rayab.errors import ValidationError

        raise ValidationError("--exp", None, "is required")
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


def _load(args: argparse.Namespace) -> int:
    from rayab.aggregate.covariate_file import covariate_rows_from, replace_metric_covariates
    from rayab.errors import ValidationError
    from rayab.storage.assignments import read_assignments
    from rayab.storage.external import read_external
    from rayab.storage.loads import replace_load_quarantine
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    name = args.metric or args.column
    adjusting = [at for at in config.analysis_types_of(exp.exp_id) if name in at.cuped]
    if not adjusting:
        cuped = sorted({m for at in config.analysis_types_of(exp.exp_id) for m in at.cuped})
        raise ValidationError("--metric", name, f"is not a CUPED metric of an analysis type of {exp.exp_id} "
                              f"(cuped: {', '.join(cuped) or 'none'})")
    metric = adjusting[0].metric(name)
    warehouse = Warehouse.from_url(args.warehouse)
    source = read_external(args.source, dict(warehouse.storage_options) or None)
    loaded = covariate_rows_from(source.table, exp.exp_id, metric, args.column, args.source, args.unit_column)
    wrote = replace_metric_covariates(warehouse, exp.exp_id, metric.name, loaded.rows)
    replace_load_quarantine(warehouse, exp.exp_id, f"covariates:{metric.name}", args.source, loaded.quarantined)
    assigned = read_assignments(warehouse, exp.exp_id, ["unit_id"])
    units = set(loaded.rows.column("unit_id").to_pylist())
    assigned_units = set(assigned.column("unit_id").to_pylist()) if assigned.num_rows else set()
    reasons = dict(sorted(_count(loaded.quarantined.column("reason").to_pylist()).items()))
    summary = {"exp_id": exp.exp_id, "metric": metric.name, "column": args.column, "source": args.source,
               "format": source.format, "rows_read": loaded.rows_read, "units": loaded.rows.num_rows,
               "rows_quarantined": loaded.quarantined.num_rows, "quarantine_reasons": reasons,
               "duplicate_rows": loaded.duplicates, "values_rounded": loaded.values_rounded, "written": wrote,
               "assigned_units": len(assigned_units), "assigned_without_covariate": len(assigned_units - units),
               "covariate_units_not_assigned": len(units - assigned_units) if assigned_units else None,
               "analysis_types": [at.name for at in adjusting]}
    if args.format == "json":
        print(json.dumps(summary, indent=1))
        return 0
    print(f"covariate {exp.exp_id} {metric.name} from {args.source} ({source.format}, column {args.column}): "
          f"{loaded.rows_read} rows read, {loaded.rows.num_rows} units, {loaded.quarantined.num_rows} quarantined, "
          f"{loaded.duplicates} repeated rows dropped, {loaded.values_rounded} values rounded to "
          f"{metric.decimals} decimals (half to even); {'written' if wrote else 'unchanged (already loaded)'}")
    for reason, n in reasons.items():
        print(f"  quarantined {n}: {reason}")
    if assigned_units:
        print(f"  {len(assigned_units)} assigned units, {len(assigned_units - units)} without a covariate "
              f"(x = 0), {len(units - assigned_units)} covariate units never assigned")
    return 0


def _count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("covariates", help="per-unit CUPED covariates from pre-period kpi_outcome rows, or "
                                            "`covariates load FILE` from a file of one value per unit")
    add_common(cmd)
    cmd.add_argument("--exp", default=None)
    cmd.add_argument("--days", type=int, default=None, help="pre-period length in days before the start day")
    cmd.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    cmd.add_argument("--analysis-type", default=None)
    cmd.set_defaults(func=_run)
    actions = cmd.add_subparsers(dest="action")
    load = actions.add_parser("load", help="a per-unit pre-period covariate from CSV, Parquet, JSON lines or Delta")
    add_common(load)
    load.add_argument("source", help="a .csv (.csv.gz), .parquet or .jsonl file, or a Delta table folder")
    load.add_argument("--exp", required=True)
    load.add_argument("--column", required=True, help="the column holding each unit's pre-period value")
    load.add_argument("--metric", default=None, help="the CUPED metric it adjusts (default: --column)")
    load.add_argument("--unit-column", default="unit_id", help="column of the unit id (default unit_id)")
    load.add_argument("--config", default=None, help="YAML/JSON spec file (default: the warehouse's saved config)")
    load.set_defaults(func=_load)
