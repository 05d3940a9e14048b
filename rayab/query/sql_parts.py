"""The pieces of generated SQL, as sqlglot expression trees: names, filters, metric expressions, quantiles, sources.

User values (experiment ids, hours, filter values) only ever become :class:`sqlglot.exp.Literal` nodes, which the
generator quotes and escapes for the dialect; names (tables, dimensions, metrics) are checked to be plain
identifiers and always quoted. Nothing is formatted into SQL text.

Quantiles use one rule everywhere: linear interpolation between order statistics (type 7,
:data:`rayab.stats.bootstrap.QUANTILE_METHOD`). DuckDB's ``quantile_cont`` is that rule. Trino and Athena have no
exact quantile aggregate: ``approx_percentile`` answers from a quantile digest, a sketch with a bounded rank error,
not from interpolated order statistics, so its interval ends would not match the engine's. The ``"window"`` rule
computes the quantile exactly from ``ROW_NUMBER()`` and ``COUNT()`` windows: with ``n`` valid values ranked from 0
and ``h = (n - 1) u``, ``q(u) = v[floor h] + (h - floor h) (v[floor h + 1] - v[floor h])``. It runs in DuckDB too
(``quantiles="window"``), which is how the tests check the Trino query's arithmetic.

>>> from rayab.model import parse_expression
>>> columns = {"clicks": col("clicks"), "impressions": col("impressions")}
>>> metric_sql(parse_expression("1000 * clicks / impressions"), columns).sql("duckdb")
'(CAST(1000.0 AS DOUBLE) * "clicks") / NULLIF("impressions", 0)'
>>> from rayab.query.filters import Equals
>>> filter_sql(Equals("country", "x' OR '1'='1")).sql("duckdb")
'"country" = \\'x\\'\\' OR \\'\\'1\\'\\'=\\'\\'1\\''
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model.expression import BinaryOp, Constant, Expression, Negate, Reference
from rayab.query.filters import And, Equals, Filter, Or

__all__ = ["Dialect", "QuantileRule", "col", "filter_sql", "literal", "metric_sql", "number", "parquet_source",
           "quantile_aggregate", "quantile_window", "rank_columns", "table_source"]

Dialect = Literal["duckdb", "trino"]
QuantileRule = Literal["aggregate", "window"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference (optionally qualified by a CTE or table alias)."""
    return exp.column(name, table=table, quoted=True)


def literal(value: str) -> exp.Literal:
    """A string literal: the one way a user value enters the SQL."""
    return exp.Literal.string(str(value))


def number(value: float | int) -> exp.Expr:
    """A numeric literal written with full precision (``repr``); negative numbers as a negation."""
    if value < 0:
        return exp.Neg(this=number(-value))
    return exp.Literal.number(repr(float(value)) if isinstance(value, float) else str(int(value)))


def filter_sql(node: Filter) -> exp.Expr:
    """The condition of a filter; values become string literals."""
    if isinstance(node, (And, Or)):
        parts = [exp.Paren(this=filter_sql(t)) for t in node.terms]
        return exp.and_(*parts) if isinstance(node, And) else exp.or_(*parts)
    column = col(node.dimension)
    if isinstance(node, Equals):
        cls = exp.NEQ if node.negated else exp.EQ
        return cls(this=column, expression=literal(node.value))
    member = exp.In(this=column, expressions=[literal(v) for v in node.values])
    return exp.Not(this=member) if node.negated else member


def metric_sql(node: Expression, columns: Mapping[str, exp.Expr]) -> exp.Expr:
    """A metric expression over SQL columns; ``x / 0`` is NULL (the in-process NaN), never an error or inf."""
    if isinstance(node, Constant):
        # a bare 1000.0 is a DECIMAL literal in both dialects; the engine's arithmetic is in doubles
        return exp.cast(number(node.value), "DOUBLE")
    if isinstance(node, Reference):
        return columns[node.name].copy()
    if isinstance(node, Negate):
        return exp.Neg(this=exp.Paren(this=metric_sql(node.operand, columns)))
    left = exp.Paren(this=metric_sql(node.left, columns)) if isinstance(node.left, BinaryOp) else \
        metric_sql(node.left, columns)
    right = metric_sql(node.right, columns)
    right = exp.Paren(this=right) if isinstance(node.right, BinaryOp) else right
    if node.op == "/":
        return exp.Div(this=left, expression=exp.Nullif(this=right, expression=number(0)))
    cls = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[node.op]
    return cls(this=left, expression=right)


def quantile_aggregate(value: exp.Expr, q: float) -> exp.Expr:
    """DuckDB's exact ``quantile_cont`` (type 7) over the group's non-NULL values."""
    return exp.Anonymous(this="quantile_cont", expressions=[value, exp.cast(number(q), "DOUBLE")])


def rank_columns(value: str, partition: Sequence[exp.Expr]) -> list[exp.Expr]:
    """``<value>_rank`` (0-based, NULLs last) and ``<value>_n`` (non-NULL count) window columns for the window
    rule."""
    order = exp.Order(expressions=[exp.Ordered(this=col(value), nulls_first=False)])
    row_number = exp.Window(this=exp.RowNumber(), partition_by=[p.copy() for p in partition], order=order)
    count = exp.Window(this=exp.Count(this=col(value)), partition_by=[p.copy() for p in partition])
    return [exp.alias_(exp.Sub(this=row_number, expression=number(1)), f"{value}_rank", quoted=True),
            exp.alias_(count, f"{value}_n", quoted=True)]


def quantile_window(value: str, q: float) -> exp.Expr:
    """The exact type-7 quantile of ``value`` in a group, from the columns of :func:`rank_columns`."""

    def position(n: exp.Expr) -> exp.Expr:
        # a DOUBLE, as in numpy: a DECIMAL product could floor differently at an exact integer
        return exp.Mul(this=exp.Paren(this=exp.Sub(this=n, expression=number(1))),
                       expression=exp.cast(number(q), "DOUBLE"))

    row_floor = exp.Floor(this=position(col(f"{value}_n")))  # per row: the count is the same on every row

    def at(offset: int) -> exp.Expr:
        rank = row_floor.copy() if offset == 0 else exp.Add(this=row_floor.copy(), expression=number(offset))
        pick = exp.If(this=exp.EQ(this=col(f"{value}_rank"), expression=rank), true=col(value))
        return exp.Max(this=exp.Case(ifs=[pick]))

    h = position(exp.Max(this=col(f"{value}_n")))
    frac = exp.Paren(this=exp.Sub(this=h, expression=exp.Floor(this=h.copy())))
    step = exp.Sub(this=exp.Coalesce(this=at(1), expressions=[at(0)]), expression=at(0))
    return exp.Add(this=at(0), expression=exp.Mul(this=frac, expression=exp.Paren(this=step)))


def _checked_name(field: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(field, name, "must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def table_source(name: str) -> exp.Table:
    """A table by (optionally ``catalog.schema.``-qualified) name, each part checked and quoted."""
    parts = [_checked_name("table", p) for p in str(name).split(".")]
    if len(parts) > 3:
        raise ValidationError("table", name, "must be table, schema.table or catalog.schema.table")
    catalog, db = ([None] * (3 - len(parts)) + parts)[:2]
    return exp.table_(parts[-1], db=db, catalog=catalog, quoted=True)


def parquet_source(uris: Sequence[str]) -> exp.Expr:
    """DuckDB's ``read_parquet([...], hive_partitioning = true)`` over the given files (partition columns
    ``exp_id`` and ``hour`` come from the paths, as strings)."""
    if not uris:
        raise ValidationError("files", [], "must list at least one Parquet file")
    options = [exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true()),
               exp.EQ(this=exp.var("hive_types_autocast"), expression=exp.false())]
    return exp.Anonymous(this="read_parquet", expressions=[exp.Array(expressions=[literal(u) for u in uris]),
                                                           *options])
