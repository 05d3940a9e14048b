"""``rayab sql-file``: run an SQL file as written against the warehouse's tables through DuckDB.

Example::

    rayab sql-file examples/queries/avg_kpi_by_variant.sql --warehouse ./rayab-warehouse
"""

from __future__ import annotations

import argparse
from typing import Any

from rayab.cli.options import add_common

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rayab.cli.sql import _print_rows
    from rayab.query.sql_files import run_sql_file
    from rayab.storage.warehouse import Warehouse

    table = run_sql_file(Warehouse.from_url(args.warehouse), args.path)
    _print_rows(table.column_names, table.to_pylist(), args.format)
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("sql-file", help="run an SQL file against the warehouse's tables (DuckDB, in process)")
    add_common(cmd)
    cmd.add_argument("path", help="the SQL file, e.g. examples/queries/avg_kpi_by_variant.sql")
    cmd.set_defaults(func=_run)
