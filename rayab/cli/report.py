"""``rayab report``: a self-contained HTML report of one experiment."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rayab.cli.options import load_cli_config

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.report.html import build_report
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    text = build_report(Warehouse.from_url(args.warehouse), config, args.exp, args.start, args.end)
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
