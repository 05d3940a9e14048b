"""``rayab sql``: print the SQL of a results query for a BI dashboard (DuckDB or Trino / Athena), or run it.

Examples::

    rayab sql --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-30T00 --metric ctr --by country --dialect trino \\
        --table analytics.agg_engagement
    rayab sql --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-24T00 --metric ctr --run

Without ``--table`` the SQL reads the table ``agg_<analysis type>``; ``--files`` (DuckDB) reads the current Parquet
files of the window's partitions instead, which is what ``--run`` executes in process.
"""

from __future__ import annotations

import argparse
import csv
import io
from typing import Any

from rayab.cli.options import add_common
from rayab.cli.results import add_query_options, query_from_args, resolve_target
from rayab.errors import ValidationError
from rayab.report.formatting import render_table, to_json

__all__ = ["register"]


def _print_rows(columns: list[str], rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(to_json(rows))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        print(render_table(columns, [[r[c] for c in columns] for r in rows]))


def _run(args: argparse.Namespace) -> int:
    from rayab.query.sql import results_sql
    from rayab.query.sql_parts import table_source
    from rayab.query.sql_run import duckdb_source, run_duckdb
    from rayab.storage.warehouse import Warehouse

    _, exp, analysis_type = resolve_target(args)
    query = query_from_args(args)
    warehouse = Warehouse.from_url(args.warehouse)
    if args.run:
        if args.dialect != "duckdb":
            raise ValidationError("dialect", args.dialect, "--run executes the DuckDB SQL; use --dialect duckdb")
        table = run_duckdb(warehouse, analysis_type, exp, query, args.quantiles)
        _print_rows(table.column_names, table.to_pylist(), args.format)
        return 0
    if args.files and args.dialect == "duckdb":
        source = duckdb_source(warehouse, analysis_type, query)
    else:
        source = table_source(args.table or analysis_type.table)
    print(results_sql(analysis_type, exp, query, args.dialect, source, args.quantiles) + ";")
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("sql", help="print (or run) the SQL of a results query, for DuckDB or Trino / Athena")
    add_common(cmd)
    add_query_options(cmd)
    cmd.add_argument("--dialect", choices=["duckdb", "trino"], default="duckdb")
    cmd.add_argument("--table", default=None, help="table to read (default agg_<analysis type>), may be db.table")
    cmd.add_argument("--files", action="store_true",
                     help="DuckDB: read the current Parquet files of the window instead of a table")
    cmd.add_argument("--quantiles", choices=["aggregate", "window"], default=None,
                     help="quantile rule: DuckDB quantile_cont (aggregate) or exact ranks over windows "
                          "(window, the only one for Trino)")
    cmd.add_argument("--run", action="store_true", help="execute the DuckDB SQL on the warehouse and print rows")
    cmd.set_defaults(func=_run)
