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
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model.expression import BinaryOp, Constant, Expression, Negate, Reference
from rayab.query.filters import And, Equals, Filter, Or

__all__ = ["PARAMETER_STYLES", "Dialect", "Parameters", "QuantileRule", "col", "filter_sql", "literal", "metric_sql",
           "number", "parquet_source", "quantile_aggregate", "quantile_window", "rank_columns", "readable",
           "table_source"]

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


ValueFn = Callable[[str, str], exp.Expr]


def filter_sql(node: Filter, value: ValueFn | None = None) -> exp.Expr:
    """The condition of a filter; values become string literals, or what ``value(dimension, value)`` makes of them
    (named parameters, :class:`Parameters`)."""
    make = value or (lambda _dimension, text: literal(text))
    if isinstance(node, (And, Or)):
        parts = [exp.Paren(this=filter_sql(t, make)) for t in node.terms]
        return exp.and_(*parts) if isinstance(node, And) else exp.or_(*parts)
    column = col(node.dimension)
    if isinstance(node, Equals):
        cls = exp.NEQ if node.negated else exp.EQ
        return cls(this=column, expression=make(node.dimension, node.value))
    member = exp.In(this=column, expressions=[make(node.dimension, v) for v in node.values])
    return exp.Not(this=member) if node.negated else member


PARAMETER_STYLES = ("colon", "dollar", "jinja")


class Parameters:
    """Named parameters instead of literals: each user value gets a name (``exp_id``, ``start_hour``,
    ``end_hour``, ``slice_<dimension>`` then ``_2``, ``_3`` for more values of a dimension) and becomes a
    placeholder; :meth:`render` writes it in a BI tool's style: ``colon`` (``:exp_id``, JDBC / Trino clients),
    ``dollar`` (``$exp_id``, DuckDB) or ``jinja`` (``'{{ exp_id }}'``, Superset; the quotes are the template's).

    >>> params = Parameters()
    >>> params.value("exp_id", "ranker_v2").sql("trino"), params.slice_value("country", "FR").sql("duckdb")
    (':exp_id', '$slice_country')
    >>> params.values
    {'exp_id': 'ranker_v2', 'slice_country': 'FR'}
    >>> params.render("SELECT :exp_id, $slice_country", "jinja")
    "SELECT '{{ exp_id }}', '{{ slice_country }}'"
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def value(self, name: str, text: str) -> exp.Expr:
        """A placeholder for ``text`` named ``name`` (a new suffix when the name is taken by another value)."""
        base, n = name, 1
        while name in self.values and self.values[name] != text:
            n += 1
            name = f"{base}_{n}"
        self.values[name] = text
        return exp.Placeholder(this=name)

    def slice_value(self, dimension: str, text: str) -> exp.Expr:
        """A filter value's placeholder (see :func:`filter_sql`)."""
        return self.value(f"slice_{dimension}", text)

    def render(self, sql: str, style: str) -> str:
        """``sql`` (with ``:name`` placeholders) in ``style``."""
        if style not in PARAMETER_STYLES:
            raise ValidationError("parameters", style, f"must be one of {list(PARAMETER_STYLES)}")
        names = "|".join(re.escape(n) for n in sorted(self.values, key=len, reverse=True)) or "(?!)"
        # sqlglot writes a placeholder as :name (Trino) or $name (DuckDB)
        pattern = re.compile(rf"(?<![:$\w])[:$]({names})(?!\w)")
        if style == "colon":
            return pattern.sub(lambda m: f":{m.group(1)}", sql)
        if style == "dollar":
            return pattern.sub(lambda m: f"${m.group(1)}", sql)
        return pattern.sub(lambda m: f"'{{{{ {m.group(1)} }}}}'", sql)


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


def readable(q: float) -> float:
    """A quantile level as people write it: ``(1 - 0.95) / 2`` is ``0.025``, not ``0.025000000000000022`` (the two
    differ in the 17th digit, far below what a bootstrap quantile can tell apart).

    >>> readable((1 - 0.95) / 2), readable(1 - (1 - 0.9) / 2), readable(1 / 3)
    (0.025, 0.95, 0.333333333333)
    """
    return float(f"{q:.12g}")


def quantile_aggregate(value: exp.Expr, q: float) -> exp.Expr:
    """DuckDB's exact ``quantile_cont`` (type 7) over the group's non-NULL values."""
    return exp.Anonymous(this="quantile_cont", expressions=[value, exp.cast(number(readable(q)), "DOUBLE")])


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
                       expression=exp.cast(number(readable(q)), "DOUBLE"))

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
