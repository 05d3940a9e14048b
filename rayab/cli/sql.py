"""``rayab sql``: print the SQL of a results query for a BI dashboard (DuckDB or Trino / Athena), or run it.

Examples::

    rayab sql --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-30T00 --metric ctr --by country --dialect trino \\
        --table analytics.agg_engagement
    rayab sql --exp ranker_v2 --start 2026-11-23T00 --end 2026-11-24T00 --metric ctr --run

Without ``--table`` the SQL reads the table ``agg_<analysis type>``; ``--files`` (DuckDB) reads the current Parquet
files of the window's partitions instead, which is what ``--run`` executes in process. The SQL has no trailing ``;``
(``--semicolon`` adds one), so BI tools (Superset, Metabase, QuickSight) can wrap it as a subquery;
``--parameters STYLE`` makes the experiment, the window and the filter's values named parameters. ``--ddl`` prints
the statements registering the tables (:mod:`rayab.query.ddl`).
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


def _ddl(args: argparse.Namespace) -> int:
    from rayab.cli.options import load_cli_config
    from rayab.query.ddl import table_ddl
    from rayab.storage.partitions import table_file_uris
    from rayab.storage.warehouse import Warehouse

    config = load_cli_config(args)
    names = [args.analysis_type] if args.analysis_type else [a.name for a in config.analysis_types]
    warehouse = Warehouse.from_url(args.warehouse)
    for name in names:
        at = config.analysis_type(name)
        location = args.location or warehouse.table_uri(at.table)
        files = table_file_uris(warehouse, at.table) if args.ddl == "duckdb" else []
        table = args.table if args.table and len(names) == 1 else None
        print(table_ddl(at, args.ddl, location, table, files), end="")
    return 0


def _run(args: argparse.Namespace) -> int:
    from rayab.query.sql import results_sql
    from rayab.query.sql_parts import Parameters, table_source
    from rayab.query.sql_run import duckdb_source, run_duckdb
    from rayab.storage.warehouse import Warehouse

    if args.ddl:
        return _ddl(args)
    for flag in ("exp", "start", "end"):
        if not getattr(args, flag):
            raise ValidationError(flag, "", f"--{flag} is required (unless --ddl)")
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
    parameters = Parameters() if args.parameters else None
    text = results_sql(analysis_type, exp, query, args.dialect, source, args.quantiles, parameters=parameters,
                       style=args.parameters or "colon")
    if args.format == "json":
        print(to_json({"sql": text, "dialect": args.dialect,
                       "parameters": parameters.values if parameters is not None else {}}))
        return 0
    if parameters is not None:
        print("\n".join(f"-- parameter {k} = {v!r}" for k, v in parameters.values.items()))
    print(text + (";" if args.semicolon else ""))
    return 0


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    cmd = sub.add_parser("sql", help="print (or run) the SQL of a results query, for DuckDB or Trino / Athena")
    add_common(cmd)
    add_query_options(cmd, required=False)
    cmd.add_argument("--dialect", choices=["duckdb", "trino"], default="duckdb")
    cmd.add_argument("--table", default=None, help="table to read (default agg_<analysis type>), may be db.table")
    cmd.add_argument("--files", action="store_true",
                     help="DuckDB: read the current Parquet files of the window instead of a table")
    cmd.add_argument("--quantiles", choices=["aggregate", "window"], default=None,
                     help="quantile rule: DuckDB quantile_cont (aggregate) or exact ranks over windows "
                          "(window, the only one for Trino)")
    cmd.add_argument("--run", action="store_true", help="execute the DuckDB SQL on the warehouse and print rows")
    cmd.add_argument("--parameters", choices=["colon", "dollar", "jinja"], default=None,
                     help="named parameters instead of literals for the experiment (exp_id), the window "
                          "(start_hour, end_hour) and the filter's values (slice_<dimension>): :name (colon), "
                          "$name (dollar, DuckDB) or '{{ name }}' (jinja, Superset); their values are printed "
                          "first as -- comments (--format json: an object with sql and parameters)")
    cmd.add_argument("--semicolon", action="store_true",
                     help="end the SQL with ';' (by default it has none, so a BI tool can wrap it as a subquery)")
    cmd.add_argument("--ddl", choices=["athena", "trino", "duckdb"], default=None,
                     help="print the DDL registering the aggregate tables (Athena / Glue, Trino's Delta connector, "
                          "or a DuckDB view) with column comments saying what each stored integer means")
    cmd.add_argument("--location", default=None,
                     help="--ddl: the table's location as the engine sees it (default: the warehouse's path)")
    cmd.set_defaults(func=_run)
