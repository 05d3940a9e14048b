"""``rayab report``: a self-contained HTML report of one experiment: the console's page (verdict, scorecard,
charts) as one file, the SQL in a collapsed section (:mod:`rayab.console.report`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rayab.cli.options import load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.storage.warehouse import Warehouse

    warehouse = Warehouse.from_url(args.warehouse)
    render: Any = None
    if not args.config:  # the console's page renders the saved config (a --config file gets the plain report)
        try:
            from rayab.console.report import render_report as render
        except ImportError as err:
            print(f"rayab: note: the plain report (the console's needs pip install 'rayab[console]': {err})",
                  file=sys.stderr)
    if render is not None:
        text = render(warehouse, args.exp, args.start, args.end)
    else:
        from rayab.report.html import build_report

        text = build_report(warehouse, load_cli_config(args), args.exp, args.start, args.end)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1024:.0f} KiB)")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    report = sub.add_parser("report", help="a self-contained HTML report with charts")
    report.add_argument("--warehouse", default=None, help="warehouse folder or s3:// URL")
    report.add_argument("--exp", required=True)
    report.add_argument("--start", required=True)
    report.add_argument("--end", required=True)
    report.add_argument("--config", default=None)
    report.add_argument("--out", default="report.html")
    report.set_defaults(func=_run)
