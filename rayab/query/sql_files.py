"""Run an SQL file as written against the warehouse's tables through DuckDB, in process.

Every table the SQL names that exists in the warehouse (``kpi_outcome``, ``assignment``, ``agg_<type>`` ...) becomes
a DuckDB view over the table's **current** Parquet files, as listed by the Delta log (``DeltaTable.file_uris()``), so
a replaced or half-written file is never read; partition columns come back from the Hive-style paths as strings,
as they are stored. No DuckDB extension is needed (an S3 warehouse goes through its fsspec filesystem).

>>> import tempfile, pyarrow as pa
>>> from rayab.storage.tables import replace_partitions
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> replace_partitions(wh, "t", pa.table({"day": ["d1", "d2"], "x": [1, 2]}), ["day"], {"day": ["d1", "d2"]})
>>> run_sql(wh, "SELECT day, x FROM t ORDER BY day").to_pylist()
[{'day': 'd1', 'x': 1}, {'day': 'd2', 'x': 2}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from rayab.errors import NotFoundError, ValidationError
from rayab.storage.tables import current_file_uris, table_exists
from rayab.storage.warehouse import Warehouse

__all__ = ["referenced_tables", "run_sql", "run_sql_file"]


def referenced_tables(sql: str) -> list[str]:
    """The plain table names an SQL text reads (CTE names excluded), in order of first use."""
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as err:
        raise ValidationError("sql", sql[:80], f"does not parse: {str(err).splitlines()[0]}") from None
    names: list[str] = []
    for statement in statements:
        if statement is None:
            continue
        ctes = {c.alias_or_name for c in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if table.name and not table.db and table.name not in ctes and table.name not in names:
                names.append(table.name)
    return names


def _view_sql(name: str, uris: list[str]) -> str:
    files = ", ".join("'" + u.replace("'", "''") + "'" for u in uris)
    # hive_types_autocast=false: partition values stay strings, as the tables declare them
    return (f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{files}], hive_partitioning = true, '
            f"hive_types_autocast = false, union_by_name = true)")


def run_sql(warehouse: Warehouse, sql: str) -> pa.Table:
    """The rows of the last statement of ``sql``, with the warehouse's tables as views."""
    con = duckdb.connect()
    try:
        if warehouse.is_s3:
            con.register_filesystem(warehouse.filesystem())
        for name in referenced_tables(sql):
            if not table_exists(warehouse, name):
                continue  # not a warehouse table (a function, a view made by the SQL itself ...)
            uris = current_file_uris(warehouse, name)
            if not uris:
                raise NotFoundError(f"table {name} has no data files yet")
            con.execute(_view_sql(name, list(uris)))
        result: Any = con.sql(sql)
        if result is None:
            raise ValidationError("sql", sql[:80], "must end with a query that returns rows")
        table: pa.Table = result.to_arrow_table()
        return table
    finally:
        con.close()


def run_sql_file(warehouse: Warehouse, path: str | Path) -> pa.Table:
    """:func:`run_sql` on the text of a file."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise NotFoundError(f"cannot read SQL file {path}: {err.strerror}") from None
    return run_sql(warehouse, text)
