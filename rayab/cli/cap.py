"""``rayab cap``: derive a cap from a past window of logs and print the capped metric to add to the config.

The cap is the ``--quantile`` of the units' hour totals of ``--metric`` over ``[--start, --end)`` (the pre-period,
or the experiment's first day), computed once here and frozen as a number in the printed metric, with its
``cap_basis``; the hourly job reads that number, so later hours never change earlier sums. Example::

    rayab cap --logs ./rayab-logs --metric revenue --quantile 0.99 --start 2026-11-23T00 --end 2026-11-24T00
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rayab.cli.options import add_common, load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    from rayab.aggregate.caps import derive_cap
    from rayab.model.analysis import AnalysisType
    from rayab.model.hours import hours_between

    config = load_cli_config(args)
    analysis_type = config.analysis_type(args.analysis_type) if args.analysis_type else config.analysis_types[0]
    hours = hours_between(args.start, args.end)
    metric = derive_cap(args.logs, analysis_type, args.metric, hours, args.quantile, name=args.name or "",
                        exp_ids=args.exp or ())
    if args.cap_low is not None:
        metric = dataclasses.replace(metric, cap_low=args.cap_low)
    spec = AnalysisType(analysis_type.name, (metric,)).to_dict()["metrics"][0]
    if args.format == "json":
        print(json.dumps(spec, indent=1))
    else:
        print(f"cap = {metric.cap:g} ({metric.cap_basis})\nadd to analysis type {analysis_type.name}'s metrics:\n"
              f"  {json.dumps(spec)}")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cap = sub.add_parser("cap", help="derive a frozen cap (a quantile of unit-hour totals of past logs) for a "
                                     "capped metric")
    add_common(cap)
    cap.add_argument("--logs", required=True, help="root of the raw logs")
    cap.add_argument("--metric", required=True, help="the sum metric to cap")
    cap.add_argument("--quantile", type=float, default=0.99, help="of the positive unit-hour totals (default 0.99)")
    cap.add_argument("--start", required=True, help="first hour of the past window the cap is derived from")
    cap.add_argument("--end", required=True, help="hour after its last one")
    cap.add_argument("--name", default=None, help="the capped metric's name (default <metric>_capped)")
    cap.add_argument("--cap-low", type=float, default=None, help="also floor unit-hour totals at this value (<= 0)")
    cap.add_argument("--exp", action="append", help="only these experiments' events (repeatable; default all)")
    cap.add_argument("--analysis-type", default=None)
    cap.add_argument("--config", default=None)
    cap.set_defaults(func=_run)
