"""DDL that registers an aggregate table ``agg_<type>`` in a BI engine, with column comments saying what each stored
integer means.

Three forms (``rayab sql --ddl``):

- ``athena``: ``CREATE EXTERNAL TABLE ... TBLPROPERTIES ('table_type' = 'DELTA')`` (Athena and Glue read the
  columns from the Delta log; the meanings follow as ``--`` comments, for the Glue console's column comments);
- ``trino``: ``CALL delta.system.register_table(...)`` for Trino's Delta Lake connector, then one
  ``COMMENT ON COLUMN`` per column;
- ``duckdb``: a view over the table's current Parquet files (from the Delta log) and the same comments; the tests
  run it and query it with the SQL of ``rayab sql``.

A stored metric is an exact integer at its metric's scale: ``revenue`` with 2 decimals is in cents, so a BI tool
divides it by 100. Statements end with ``;`` (they are scripts, not datasets to wrap).

>>> from rayab.simulate import demo_config
>>> at = demo_config().analysis_types[0]
>>> column_comments(at)["revenue"]
'sum of revenue over the cell (integer at scale 10^2: divide by 100, e.g. cents)'
>>> print(table_ddl(at, "trino", "s3://wh/agg_engagement", "analytics.agg_engagement").splitlines()[0])
CALL delta.system.register_table(schema_name => 'analytics', table_name => 'agg_engagement', table_location => 's3://wh/agg_engagement');
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model import UNITS_METRIC, AnalysisType
from rayab.model.analysis import CUPED_SUFFIXES, cuped_column
from rayab.storage.schemas import agg_schema, reps_column

__all__ = ["DDL_DIALECTS", "column_comments", "table_ddl"]

DdlDialect = Literal["athena", "trino", "duckdb"]
DDL_DIALECTS = ("athena", "trino", "duckdb")


def _scale_text(decimals: int) -> str:
    if decimals == 0:
        return "integer"
    unit = {2: ", e.g. cents", 3: ", e.g. milliseconds or grams"}.get(decimals, "")
    return f"integer at scale 10^{decimals}: divide by {10 ** decimals}{unit}"


def column_comments(analysis_type: AnalysisType) -> dict[str, str]:
    """What each column of ``agg_<type>`` holds, by column name (``agg_schema`` order)."""
    out = {"exp_id": "experiment id (partition)",
           "hour": "UTC hour of the events, YYYY-MM-DDTHH (partition)",
           "variant_id": "variant id"}
    for dim in analysis_type.dimensions:
        out[dim] = "dimension value of the cell; '(none)' where the input had no value"
    out["n_events"] = "number of events in the cell (integer)"
    out[UNITS_METRIC] = "units first assigned in this hour (integer; sum over hours for the units of a window)"
    cuped_of = {cuped_column(m, s): (m, s) for m in analysis_type.cuped for s in CUPED_SUFFIXES}
    meaning = {"x": "pre-period covariate x", "xx": "x squared", "xy": "x times the unit's hour total"}
    for m in analysis_type.metrics:
        what = "count of events" if m.kind == "count" else f"sum of {m.column}"
        out[m.name] = f"{what} over the cell ({_scale_text(m.decimals)})"
    for column, (name, suffix) in cuped_of.items():
        out[column] = f"CUPED sum of {meaning[suffix]} for {name}, per unit first assigned or per event hour (integer)"
    names = [f.name for f in agg_schema(analysis_type)]
    for name in list(out):
        if reps_column(name) in names:
            out[reps_column(name)] = (f"Poisson(1) bootstrap replicate sums of {name}, one per replicate "
                                      f"(B = {analysis_type.n_replicates}), same scale as {name}")
    out["commit_id"] = "id of the commit that wrote the hour (matches the manifest)"
    order = {n: i for i, n in enumerate(names)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def _string(text: str) -> str:
    return exp.Literal.string(text).sql("trino")


def _split_name(table_name: str) -> tuple[str | None, str]:
    parts = table_name.split(".")
    if len(parts) > 2 or not all(p.replace("_", "a").isalnum() for p in parts):
        raise ValidationError("table", table_name, "must be name or schema.name (letters, digits, _)")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def table_ddl(analysis_type: AnalysisType, dialect: str, location: str, table_name: str | None = None,
              files: Sequence[str] = ()) -> str:
    """The DDL script registering ``analysis_type``'s table stored at ``location`` (see the module docstring);
    ``files`` are the current data files, for the DuckDB view."""
    if dialect not in DDL_DIALECTS:
        raise ValidationError("ddl", dialect, f"must be one of {list(DDL_DIALECTS)}")
    schema, name = _split_name(table_name or analysis_type.table)
    comments = column_comments(analysis_type)
    if dialect == "athena":
        qualified = f"`{schema}`.`{name}`" if schema else f"`{name}`"
        lines = [f"-- {column}: {text}" for column, text in comments.items()]
        return "\n".join([f"CREATE EXTERNAL TABLE {qualified}", f"LOCATION {_string(location.rstrip('/') + '/')}",
                          "TBLPROPERTIES ('table_type' = 'DELTA');", *lines]) + "\n"
    if dialect == "trino":
        qualified = f'"{schema}"."{name}"' if schema else f'"{name}"'
        statements = [f"CALL delta.system.register_table(schema_name => {_string(schema or 'default')}, "
                      f"table_name => {_string(name)}, table_location => {_string(location)})"]
        statements += [f'COMMENT ON COLUMN {qualified}."{c}" IS {_string(t)}' for c, t in comments.items()]
        return ";\n".join(statements) + ";\n"
    if not files:
        raise ValidationError("ddl", dialect, f"the table {analysis_type.table} has no data file yet")
    listed = ", ".join(_string(f) for f in files)
    qualified = f'"{name}"'
    statements = [f"CREATE OR REPLACE VIEW {qualified} AS SELECT * FROM read_parquet([{listed}], "
                  "hive_partitioning = true, union_by_name = true)"]
    statements += [f'COMMENT ON COLUMN {qualified}."{c}" IS {_string(t)}' for c, t in comments.items()]
    return ";\n".join(statements) + ";\n"
