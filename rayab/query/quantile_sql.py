"""The SQL of quantile metrics (``latency_p90``) for DuckDB and Trino: merge the replicate histograms, read the
quantile of every replicate, then the same contrasts, summary and final ``SELECT`` as :mod:`rayab.query.sql`.

CTEs before the shared ones:

``window_rows`` / ``unit_sums``
    the ``agg_<type>`` rows of the window (for ``units``), summed per cell;
``sketch_rows``
    the ``qsk_<type>`` rows of the window passing the filter, for the quantile metrics asked;
``bucket_sums`` / ``bucket_cumulative``
    counts per (cell, metric, bucket) and their running sum in bucket order, with the cell's total;
``replicate_buckets`` / ``replicate_cumulative``
    the same per replicate: the weighted counts unnested (DuckDB in the select list, Trino with
    ``CROSS JOIN UNNEST ... WITH ORDINALITY``), summed, and accumulated per replicate;
``cell_sums``
    per cell and reported quantile: observations (``n_events``) and ``units``;
``point_values`` / ``replicate_values``
    per quantile level ``q`` the first bucket whose running count reaches ``q`` times the total (and is above 0),
    read inside the bucket at the fraction ``(q total - before) / count`` of its count, log-linearly, the rule of
    :func:`rayab.stats.quantile_sketch.histogram_quantiles` with ``interpolate``.

Quantile metrics are generated on their own: a query mixing them with other metrics is refused (ask twice).

>>> from rayab.simulate import latency_config
>>> config = latency_config()
>>> at, exp_ = config.analysis_types[0], config.experiments[0]
>>> text = quantile_results_sql(at, exp_, Query("speed_v2", "2026-11-23T00", "2026-11-24T00",
...                                              metrics=("latency_p90",)), "trino")
>>> "qsk_perf" in text and "WITH ORDINALITY" in text
True
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model import UNITS_METRIC, AnalysisType, Experiment
from rayab.query import sql as base
from rayab.query.quantiles import quantile_names
from rayab.query.spec import Query
from rayab.query.sql_parts import Dialect, QuantileRule, col, filter_sql, literal, number, table_source
from rayab.stats.quantile_sketch import SketchLayout
from rayab.storage.schemas import SKETCH_KEY, reps_column, sketch_table

__all__ = ["has_quantiles", "quantile_results_select", "quantile_results_sql"]

_COUNT = "n_events"


def has_quantiles(analysis_type: AnalysisType, metrics: Sequence[str]) -> bool:
    """Whether any of ``metrics`` is a quantile (then the whole query must be: see the module doc)."""
    return any(analysis_type.quantile_output(m) is not None for m in metrics)


def _in_window(plan: base._Plan) -> list[exp.Expr]:
    q = plan.query
    conditions: list[exp.Expr] = [exp.EQ(this=col("exp_id"), expression=literal(q.exp_id)),
                                  exp.GTE(this=col("hour"), expression=literal(q.start_hour)),
                                  exp.LT(this=col("hour"), expression=literal(q.end_hour))]
    if q.where is not None:
        conditions.append(exp.Paren(this=filter_sql(q.where)))
    return conditions


def _sketch_rows(plan: base._Plan, source: exp.Expr, names: Sequence[str]) -> exp.Select:
    columns = [*plan.key_cols(), col("metric"), col(SKETCH_KEY), col(_COUNT), col(reps_column(_COUNT))]
    chosen = exp.In(this=col("metric"), expressions=[literal(n) for n in names])
    return exp.select(*columns).from_(source).where(exp.and_(*_in_window(plan), chosen))


def _sum(value: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(exp.Sum(this=value), name, quoted=True)


def _bucket_sums(plan: base._Plan) -> exp.Select:
    keys = [*plan.key_cols(), col("metric"), col(SKETCH_KEY)]
    return exp.select(*keys, _sum(col(_COUNT), "cnt")).from_("sketch_rows").group_by(*keys)


def _replicate_buckets(plan: base._Plan) -> exp.Select:
    keys = [*plan.key_cols(), col("metric"), col(SKETCH_KEY)]
    if plan.dialect == "trino":
        unnest = exp.Unnest(expressions=[col(reps_column(_COUNT), "sketch_rows")],
                            alias=exp.TableAlias(this=exp.to_identifier("r"), columns=[
                                exp.to_identifier(n, quoted=True) for n in ("cnt", "rep")]), offset=True)
        qualified = [*plan.key_cols("sketch_rows"), col("metric", "sketch_rows"), col(SKETCH_KEY, "sketch_rows")]
        return (exp.select(*qualified, col("rep", "r"), _sum(col("cnt", "r"), "cnt")).from_("sketch_rows")
                .join(unnest, join_type="cross").group_by(*qualified, col("rep", "r")))
    subscripts = exp.Anonymous(this="generate_subscripts", expressions=[col(reps_column(_COUNT)), number(1)])
    unnested = exp.select(*keys, exp.alias_(subscripts, "rep", quoted=True),
                          exp.alias_(exp.Unnest(expressions=[col(reps_column(_COUNT))]), "cnt", quoted=True)
                          ).from_("sketch_rows")
    return (exp.select(*keys, col("rep"), _sum(col("cnt"), "cnt")).from_(unnested.subquery("unnested"))
            .group_by(*keys, col("rep")))


def _cumulative(plan: base._Plan, source: str, with_rep: bool) -> exp.Select:
    partition = [*plan.key_cols(), col("metric"), *([col("rep")] if with_rep else [])]
    running = exp.Window(this=exp.Sum(this=col("cnt")), partition_by=partition,
                         order=exp.Order(expressions=[exp.Ordered(this=col(SKETCH_KEY))]),
                         spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                             end="CURRENT ROW"))
    total = exp.Window(this=exp.Sum(this=col("cnt")), partition_by=[p.copy() for p in partition])
    return exp.select(*partition, col(SKETCH_KEY), col("cnt"), exp.alias_(running, "cum", quoted=True),
                      exp.alias_(total, "total", quoted=True)).from_(source)


def _double(value: float) -> exp.Expr:
    return exp.cast(number(value), "DOUBLE")


def _interpolated(layout: SketchLayout, key: exp.Expr, fraction: exp.Expr) -> exp.Expr:
    """The value ``fraction`` of the way through bucket ``k`` (:func:`rayab.stats.quantile_sketch.
    interpolated_values`): ``exp((i - 1 + f) log_gamma)`` for ``k > 0``, ``-exp((i - f) log_gamma)`` for ``k < 0``
    with ``i = |k| + min_index - 1``, and 0 for ``k = 0``."""
    index = exp.cast(exp.Add(this=exp.Abs(this=key), expression=number(layout.min_index - 1)), "DOUBLE")
    log_gamma = _double(float(layout.log_gamma))
    positive = exp.Exp(this=exp.Mul(this=exp.Paren(this=exp.Add(this=exp.Sub(this=index, expression=_double(1.0)),
                                                                expression=exp.Paren(this=fraction))),
                                    expression=log_gamma))
    negative = exp.Neg(this=exp.Exp(this=exp.Mul(this=exp.Paren(this=exp.Sub(this=index.copy(),
                                                                              expression=exp.Paren(
                                                                                  this=fraction.copy()))),
                                                 expression=log_gamma.copy())))
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=key.copy(), expression=number(0)), true=_double(0.0)),
                         exp.If(this=exp.GT(this=key.copy(), expression=number(0)), true=positive)],
                    default=negative)


def _quantile_values(plan: base._Plan, source: str, with_rep: bool) -> exp.Expr:
    selects = []
    extra = [col("rep")] if with_rep else []
    for i, name in enumerate(plan.query.metrics):
        found = plan.analysis_type.quantile_output(name)
        assert found is not None
        qm, q = found
        layout = SketchLayout(qm.relative_accuracy, qm.min_value, qm.max_value)
        reached = exp.GTE(this=exp.cast(col("cum"), "DOUBLE"),
                          expression=exp.Mul(this=_double(float(q)), expression=exp.cast(col("total"), "DOUBLE")))
        where = exp.and_(exp.EQ(this=col("metric"), expression=literal(qm.name)),
                         exp.GT(this=col("cum"), expression=number(0)), reached)
        # the first bucket reaching q * total, its count and the count before it
        chosen = exp.select(*plan.key_cols(), *extra, exp.alias_(exp.Min(this=col(SKETCH_KEY)), "k", quoted=True),
                            exp.alias_(exp.ArgMin(this=col("cnt"), expression=col(SKETCH_KEY)), "inside",
                                       quoted=True),
                            exp.alias_(exp.ArgMin(this=col("cum"), expression=col(SKETCH_KEY)), "reached",
                                       quoted=True),
                            exp.alias_(exp.Max(this=col("total")), "total", quoted=True)
                            ).from_(source).where(where).group_by(*plan.key_cols(), *[e.copy() for e in extra])
        before = exp.Paren(this=exp.Sub(this=exp.cast(col("reached"), "DOUBLE"),
                                        expression=exp.cast(col("inside"), "DOUBLE")))
        share = exp.Div(this=exp.Paren(this=exp.Sub(this=exp.Mul(this=_double(float(q)), expression=exp.cast(
            col("total"), "DOUBLE")), expression=before)), expression=exp.cast(col("inside"), "DOUBLE"))
        # literals cast to DOUBLE: DuckDB reads 0.0 as a DECIMAL and LEAST / GREATEST would round the share to it
        clipped = exp.Greatest(this=_double(0.0), expressions=[exp.Least(this=_double(1.0), expressions=[share])])
        fraction = exp.Case(ifs=[exp.If(this=exp.GT(this=col("inside"), expression=number(0)), true=clipped)],
                            default=_double(1.0))
        value = _interpolated(layout, col("k"), fraction)
        selects.append(exp.select(*plan.key_cols(), *[e.copy() for e in extra],
                                  exp.alias_(number(i), "metric_order", quoted=True),
                                  exp.alias_(literal(name), "metric", quoted=True),
                                  exp.alias_(value, "val", quoted=True)).from_(chosen.subquery(f"chosen_{i}")))
    combined: exp.Query = selects[0]
    for select in selects[1:]:
        combined = exp.union(combined, select, distinct=False)
    return combined


def _cell_sums(plan: base._Plan) -> exp.Expr:
    """Per cell and reported quantile: the observations and the cell's units."""
    selects = []
    on = exp.and_(*plan.keys_equal("b", "u"))
    for name in plan.query.metrics:
        found = plan.analysis_type.quantile_output(name)
        assert found is not None
        observed = exp.select(*plan.key_cols(), _sum(col("cnt"), _COUNT)).from_("bucket_sums").where(
            exp.EQ(this=col("metric"), expression=literal(found[0].name))).group_by(*plan.key_cols())
        selects.append(exp.select(*plan.key_cols("b"), exp.alias_(literal(name), "metric", quoted=True),
                                  col(_COUNT, "b"), exp.alias_(exp.Coalesce(this=col(UNITS_METRIC, "u"),
                                                                             expressions=[number(0)]),
                                                               UNITS_METRIC, quoted=True))
                       .from_(observed.subquery("b")).join(exp.alias_(exp.to_table("unit_sums"), "u", table=True),
                                                           on=on, join_type="left"))
    combined: exp.Query = selects[0]
    for select in selects[1:]:
        combined = exp.union(combined, select, distinct=False)
    return combined


def quantile_results_select(analysis_type: AnalysisType, experiment: Experiment, query: Query,
                            dialect: Dialect = "duckdb", source: exp.Expr | None = None,
                            sketch_source: exp.Expr | None = None,
                            quantiles: QuantileRule | None = None) -> exp.Select:
    """The query of quantile metrics as a sqlglot tree; ``source`` defaults to ``agg_<type>`` and
    ``sketch_source`` to ``qsk_<type>``; ``quantiles`` is the rule of the interval quantiles (as in
    :func:`rayab.query.sql.results_select`)."""
    if dialect not in ("duckdb", "trino"):
        raise ValidationError("dialect", dialect, "must be duckdb or trino")
    rule = quantiles or ("window" if dialect == "trino" else "aggregate")
    if rule not in ("aggregate", "window") or (dialect == "trino" and rule == "aggregate"):
        raise ValidationError("quantiles", quantiles, "must be window (Trino) or aggregate / window (DuckDB)")
    query = base._check(analysis_type, experiment, query)
    for i, name in enumerate(query.metrics):
        if analysis_type.quantile_output(name) is None:
            raise ValidationError(f"metrics[{i}]", name, "cannot be mixed with quantile metrics in one SQL query: "
                                  "generate the quantile metrics on their own")
    plan = base._Plan(analysis_type, experiment, query, (UNITS_METRIC,), dialect, rule)
    names = quantile_names(analysis_type, query.metrics)
    agg = source if source is not None else table_source(analysis_type.table)
    sketches = sketch_source if sketch_source is not None else table_source(sketch_table(analysis_type))
    ctes: list[tuple[str, exp.Expr]] = [
        ("window_rows", base._window_rows(plan, agg)),
        ("unit_sums", exp.select(*plan.key_cols(), _sum(col(UNITS_METRIC), UNITS_METRIC)).from_("window_rows")
         .group_by(*plan.key_cols())),
        ("sketch_rows", _sketch_rows(plan, sketches, names)),
        ("bucket_sums", _bucket_sums(plan)),
        ("bucket_cumulative", _cumulative(plan, "bucket_sums", with_rep=False)),
        ("replicate_buckets", _replicate_buckets(plan)),
        ("replicate_cumulative", _cumulative(plan, "replicate_buckets", with_rep=True)),
        ("cell_sums", _cell_sums(plan)),
        ("point_values", _quantile_values(plan, "bucket_cumulative", with_rep=False)),
        ("replicate_values", _quantile_values(plan, "replicate_cumulative", with_rep=True)),
        ("contrasts", base._contrasts(plan))]
    if rule == "window":
        ctes.append(("ranked", base._ranked(plan)))
    ctes.append(("summary", base._summary(plan)))
    select = base._final(plan)
    # cell_sums has a row per cell and reported quantile: join on the metric too
    join = select.args["joins"][0]
    join.set("on", exp.and_(join.args["on"], exp.EQ(this=col("metric", "s"), expression=col("metric", "c"))))
    for name, cte in ctes:
        select = select.with_(name, as_=cte)
    return select


def quantile_results_sql(analysis_type: AnalysisType, experiment: Experiment, query: Query,
                         dialect: Dialect = "duckdb", source: exp.Expr | None = None,
                         sketch_source: exp.Expr | None = None, quantiles: QuantileRule | None = None,
                         pretty: bool = True) -> str:
    """The query of quantile metrics as SQL text in ``dialect`` (see :func:`quantile_results_select`)."""
    return quantile_results_select(analysis_type, experiment, query, dialect, source, sketch_source,
                                   quantiles).sql(dialect, pretty=pretty)
