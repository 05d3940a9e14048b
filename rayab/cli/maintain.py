"""``rayab maintain``: checkpoints, compaction of small files and vacuum of every Delta table of the warehouse.

Safe to schedule (e.g. ``15 3 * * * rayab maintain --warehouse s3://bucket/wh``): each step does nothing when
there is nothing to do, only files the Delta log marked removed are deleted, and a run prints one line per table
saying what it did. ``--retention-hours`` (default 168) keeps removed files that long for readers of older
snapshots; ``0`` leaves exactly the current rows on storage, so a plain Parquet reader over the folder sees what the
Delta table holds.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rayab.cli.options import add_common

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.errors import ValidationError
    from rayab.storage.maintenance import maintain_warehouse
    from rayab.storage.warehouse import Warehouse

    if args.target_size_mb <= 0:
        raise ValidationError("target-size-mb", args.target_size_mb, "must be positive")
    reports = maintain_warehouse(Warehouse.from_url(args.warehouse), args.table, args.retention_hours,
                                 int(args.target_size_mb * 1024 * 1024), args.dry_run)
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        for report in reports:
            print(report.line())
        removed = sum(r.vacuumed_files for r in reports)
        compacted = sum(r.compacted_files for r in reports)
        print(f"{len(reports)} tables: {compacted} small files {'to compact' if args.dry_run else 'compacted'}, "
              f"{removed} removed files {'to delete' if args.dry_run else 'deleted'} "
              f"(retention {args.retention_hours} h)")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    run = sub.add_parser("maintain", help="checkpoint, compact and vacuum the warehouse's Delta tables "
                                          "(idempotent, safe from cron)")
    add_common(run)
    run.add_argument("--table", action="append", help="only this table (repeatable; default: every Delta table)")
    run.add_argument("--retention-hours", type=int, default=168,
                     help="keep files removed from the table this long (default 168; 0: delete them all)")
    run.add_argument("--target-size-mb", type=float, default=128.0,
                     help="compaction target file size in MiB (default 128)")
    run.add_argument("--dry-run", action="store_true", help="only say what would be compacted and deleted")
    run.set_defaults(func=_run)
