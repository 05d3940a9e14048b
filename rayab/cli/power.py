"""``rayab power``: sample size, duration and minimum detectable effect from a past window of data."""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.options import add_common, load_cli_config
from rayab.report.formatting import format_number, format_pct, render_table, to_json

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.guardrails.planning import metric_history, plan_from_history
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    exp = config.experiment(args.exp)
    metrics = args.metric or [exp.primary_kpi]
    analysis_type = (config.analysis_type(args.analysis_type) if args.analysis_type
                     else config.analysis_types_of(exp.exp_id)[0])
    histories = metric_history(Warehouse.from_url(args.warehouse), analysis_type, exp, args.start, args.end, metrics)
    result = plan_from_history(histories, relative_mde=args.mde, alpha=args.alpha, power=args.power,
                               n_arms=args.arms, days=args.days)
    if args.format == "json":
        print(to_json({"plan": result.plan._asdict(), "histories": [h._asdict() for h in result.histories],
                       "mde_after_days": dict(zip(metrics, result.mde_after_days, strict=True))}))
        return 0
    rows = [[h.metric, format_number(h.mean), format_number(h.variance), f"{h.units_per_day:.0f}",
             format_pct(mde, signed=False)] for h, mde in zip(result.histories, result.mde_after_days, strict=True)]
    print(render_table(["metric", "mean", "unit variance", "units/day", f"MDE after {args.days} days"], rows))
    plan = result.plan
    print(f"\nto detect a {args.mde:.1%} relative change on every metric with power {args.power:.0%} "
          f"(alpha {args.alpha} / {plan.n_tests} tests): {plan.n_per_arm} units per arm, {plan.n_total} in all, "
          f"about {plan.duration_days} days; binding metric: {plan.binding_metric}")
    print(f"set planned_units: {plan.n_total} in the experiment's spec (or the console's Edit form) to follow the "
          "progress toward this sample")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    power = sub.add_parser("power", help="sample size, duration and MDE from past data")
    add_common(power)
    power.add_argument("--exp", required=True, help="an experiment whose control arm serves as history")
    power.add_argument("--start", required=True)
    power.add_argument("--end", required=True)
    power.add_argument("--metric", action="append", help="metric to plan for (repeatable; default primary KPI)")
    power.add_argument("--analysis-type", default=None)
    power.add_argument("--config", default=None)
    power.add_argument("--mde", type=float, default=0.02, help="relative effect to detect (default 0.02)")
    power.add_argument("--alpha", type=float, default=0.05)
    power.add_argument("--power", type=float, default=0.8)
    power.add_argument("--arms", type=int, default=2)
    power.add_argument("--days", type=int, default=14, help="report the MDE reached after this many days")
    power.set_defaults(func=_run)
