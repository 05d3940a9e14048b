"""The SQL of a results query, for DuckDB and Trino / Athena, built as one sqlglot expression tree.

The query computes, in the warehouse, what :func:`rayab.query.results.run_query` computes in process (fixed-horizon
intervals, no p-value correction), as a chain of CTEs with the same structure in both dialects:

``window_rows``
    the experiment's rows in ``[start_hour, end_hour)`` passing the filter (partition pruning on ``exp_id`` and
    ``hour``);
``cell_sums``
    raw sums per cell ``(variant_id, *projection)``;
``replicate_sums``
    the replicate arrays summed element-wise per cell: one row per ``(cell, rep)``. DuckDB unnests the arrays in the
    select list (lists of one row unnest in lockstep); Trino uses ``CROSS JOIN UNNEST(...) WITH ORDINALITY``;
``point_values`` / ``replicate_values``
    every metric (composed ones per replicate) in long form: one row per cell and metric (and rep), divisions by
    zero as NULL;
``contrasts``
    each replicate next to control's replicate of the same slice: ``abs_val = val - control``,
    ``rel_val = val / control - 1``;
``ranked`` (Trino only)
    ranks for the exact quantiles (see :mod:`rayab.query.sql_parts`);
``summary``
    per cell and metric: quantiles, standard deviations, counts of valid replicates and of replicates on each side
    of zero;
then the final ``SELECT`` with one row per metric and cell, columns named like
:class:`~rayab.query.compare.MetricResult` (NULL where the in-process result is NaN).

Differences from the in-process engine: the normal-method p-value needs the normal CDF, which DuckDB lacks (NULL
there; Trino uses ``normal_cdf``); sequential intervals and p-value corrections are computed in process only.

>>> from rayab.simulate import demo_config
>>> config = demo_config()
>>> at, exp = config.analysis_types[0], config.experiment("ranker_v2")
>>> q = Query("ranker_v2", "2026-11-23T00", "2026-11-24T00", metrics=("ctr",), projection=("country",))
>>> text = results_sql(at, exp, q, "trino")
>>> "CROSS JOIN UNNEST" in text and "WITH ORDINALITY" in text
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model import UNITS_METRIC, AnalysisType, Experiment
from rayab.query.spec import Query, additive_metrics
from rayab.query.sql_parts import (
    Dialect,
    Parameters,
    QuantileRule,
    col,
    filter_sql,
    literal,
    metric_sql,
    number,
    quantile_aggregate,
    quantile_window,
    rank_columns,
    table_source,
)
from rayab.query.window import metric_scale
from rayab.storage.schemas import conversion_table, reps_column

__all__ = ["CTE_NAMES", "OUTPUT_COLUMNS", "results_select", "results_sql", "with_conversion_counts"]

CTE_NAMES = ("window_rows", "cell_sums", "replicate_sums", "point_values", "replicate_values", "contrasts",
             "ranked", "summary")
OUTPUT_COLUMNS = ("exp_id", "metric", "variant_id", "n_events", "units", "estimate", "ci_lower", "ci_upper",
                  "control_id", "abs_diff", "abs_ci_lower", "abs_ci_upper", "rel_diff", "rel_ci_lower",
                  "rel_ci_upper", "pvalue", "confidence_level", "n_replicates", "n_invalid", "error")
_VALUES = ("val", "abs_val", "rel_val")  # a replicate's value, its difference and its lift versus control
_INTERNAL = {"rep", "metric_order", "est", "abs_est", "rel_est", "compared", "n_rep", "p_le", "p_ge",
             *(f"{v}_{s}" for v in _VALUES for s in ("lo", "hi", "sd", "valid", "min", "max", "rank", "n")),
             *_VALUES}


@dataclass(frozen=True)
class _Plan:
    analysis_type: AnalysisType
    experiment: Experiment
    query: Query
    additive: tuple[str, ...]
    dialect: Dialect
    quantiles: QuantileRule
    parameters: Parameters | None = None

    def value(self, name: str, text: str) -> exp.Expr:
        """A user value: a literal, or a named parameter."""
        return literal(text) if self.parameters is None else self.parameters.value(name, text)

    @property
    def keys(self) -> tuple[str, ...]:
        return ("variant_id", *self.query.projection)

    def key_cols(self, table: str | None = None) -> list[exp.Expr]:
        return [col(k, table) for k in self.keys]

    def keys_equal(self, left: str, right: str, names: Sequence[str] | None = None) -> list[exp.Expr]:
        return [exp.EQ(this=col(k, left), expression=col(k, right))
                for k in (self.keys if names is None else names)]


def _check(analysis_type: AnalysisType, experiment: Experiment, query: Query) -> Query:
    if query.exp_id != experiment.exp_id:
        raise ValidationError("exp_id", query.exp_id, f"does not match the experiment {experiment.exp_id}")
    query = query.resolve(analysis_type)
    if query.interval != "fixed":
        raise ValidationError("interval", query.interval, "SQL is generated for fixed-horizon intervals only")
    if query.correction is not None:
        raise ValidationError("correction", query.correction, "p-value corrections are computed in process only")
    for i, dim in enumerate(query.projection):
        if dim in _INTERNAL or dim in OUTPUT_COLUMNS or dim == "metric":
            raise ValidationError(f"projection[{i}]", dim, "clashes with a column name of the generated SQL")
    return query


def _window_rows(plan: _Plan, source: exp.Expr) -> exp.Select:
    q = plan.query
    columns = [*plan.key_cols(), col("n_events")]
    columns += [c for m in plan.additive for c in (col(m), col(reps_column(m)))]
    conditions: list[exp.Expr] = [
        exp.EQ(this=col("exp_id"), expression=plan.value("exp_id", q.exp_id)),
        exp.GTE(this=col("hour"), expression=plan.value("start_hour", q.start_hour)),
        exp.LT(this=col("hour"), expression=plan.value("end_hour", q.end_hour)),
    ]
    if q.where is not None:
        conditions.append(exp.Paren(this=filter_sql(
            q.where, plan.parameters.slice_value if plan.parameters is not None else None)))
    return exp.select(*columns).from_(source).where(exp.and_(*conditions))


def _zeros_like(reps: str) -> exp.Expr:
    """An array of B zeros, shaped like the replicate array ``reps`` of the same row."""
    x = exp.to_identifier("x")
    return exp.Transform(this=col(reps), expression=exp.Lambda(this=exp.Mul(this=number(0), expression=x),
                                                                 expressions=[x]))


def with_conversion_counts(analysis_type: AnalysisType, additive: Sequence[str], sums: exp.Expr,
                           counts: exp.Expr) -> exp.Expr:
    """The rows of ``agg_<type>`` (``sums``) and of ``cnv_<type>`` (``counts``) as one source, each side filling the
    other's columns with 0 and arrays of zeros (:mod:`rayab.aggregate.conversions`: the counts are cells of their
    own, summed with the rest like the window query does)."""
    keys = ["exp_id", "hour", "variant_id", *analysis_type.dimensions, "n_events"]
    stored = [m for m in additive if analysis_type.is_conversion_column(m)]

    def side(source: exp.Expr, mine: Sequence[str], like: str) -> exp.Select:
        columns: list[exp.Expr] = [col(k) for k in keys]
        for m in additive:
            if m in mine:
                columns += [col(m), col(reps_column(m))]
            else:
                columns += [exp.alias_(exp.cast(number(0), "BIGINT"), m, quoted=True),
                            exp.alias_(_zeros_like(reps_column(like)), reps_column(m), quoted=True)]
        return exp.select(*columns).from_(source)

    union = exp.union(side(sums, [m for m in additive if m not in stored], "units"),
                      side(counts, stored, stored[0]), distinct=False)
    return union.subquery("sums_and_counts")


def _sum(value: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(exp.Sum(this=value), name, quoted=True)


def _cell_sums(plan: _Plan) -> exp.Select:
    sums = [_sum(col("n_events"), "n_events"), *(_sum(col(m), m) for m in plan.additive)]
    return exp.select(*plan.key_cols(), *sums).from_("window_rows").group_by(*plan.key_cols())


def _replicate_sums(plan: _Plan) -> exp.Select:
    keys = plan.key_cols("window_rows")
    if plan.dialect == "trino":
        unnest = exp.Unnest(expressions=[col(reps_column(m), "window_rows") for m in plan.additive],
                            alias=exp.TableAlias(this=exp.to_identifier("r"), columns=[
                                exp.to_identifier(n, quoted=True) for n in (*plan.additive, "rep")]),
                            offset=True)
        sums = [_sum(col(m, "r"), m) for m in plan.additive]
        return (exp.select(*keys, col("rep", "r"), *sums).from_("window_rows").join(unnest, join_type="cross")
                .group_by(*keys, col("rep", "r")))
    first = col(reps_column(plan.additive[0]))
    subscripts = exp.Anonymous(this="generate_subscripts", expressions=[first, number(1)])
    unnested = (exp.select(*plan.key_cols(), exp.alias_(subscripts, "rep", quoted=True),
                           *(exp.alias_(exp.Unnest(expressions=[col(reps_column(m))]), m, quoted=True)
                             for m in plan.additive))
                .from_("window_rows"))
    sums = [_sum(col(m), m) for m in plan.additive]
    return (exp.select(*plan.key_cols(), col("rep"), *sums).from_(unnested.subquery("unnested"))
            .group_by(*plan.key_cols(), col("rep")))


def _scaled(plan: _Plan, metric: str) -> exp.Expr:
    value = exp.cast(col(metric), "DOUBLE")
    scale = metric_scale(plan.analysis_type, metric)
    return value if scale == 1 else exp.Div(this=value, expression=exp.cast(number(scale), "DOUBLE"))


def _metric_values(plan: _Plan, source: str, per_replicate: bool) -> exp.Expr:
    columns = {m: _scaled(plan, m) for m in plan.additive}
    selects = []
    for i, name in enumerate(plan.query.metrics):
        value = metric_sql(plan.analysis_type.expression(name), columns)
        extra = [col("rep")] if per_replicate else []
        selects.append(exp.select(*plan.key_cols(), *extra, exp.alias_(number(i), "metric_order", quoted=True),
                                  exp.alias_(literal(name), "metric", quoted=True),
                                  exp.alias_(value, "val", quoted=True)).from_(source))
    combined: exp.Query = selects[0]
    for select in selects[1:]:
        combined = exp.union(combined, select, distinct=False)
    return combined


def _control_join(plan: _Plan, table: str, alias: str, with_rep: bool) -> tuple[exp.Expr, exp.Expr]:
    control = plan.experiment.control_id
    on = [exp.EQ(this=col("variant_id", alias), expression=literal(control)),
          exp.NEQ(this=col("variant_id", "r"), expression=literal(control)),
          *plan.keys_equal(alias, "r", plan.query.projection),
          exp.EQ(this=col("metric", alias), expression=col("metric", "r"))]
    if with_rep:
        on.append(exp.EQ(this=col("rep", alias), expression=col("rep", "r")))
    return exp.alias_(exp.to_table(table), alias, table=True), exp.and_(*on)


def _ratio_minus_one(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Sub(this=exp.Div(this=a, expression=exp.Nullif(this=b, expression=number(0))), expression=number(1))


def _contrasts(plan: _Plan) -> exp.Select:
    point_on = exp.and_(*plan.keys_equal("p", "r"), exp.EQ(this=col("metric", "p"), expression=col("metric", "r")))
    pc_table, pc_on = _control_join(plan, "point_values", "pc", with_rep=False)
    c_table, c_on = _control_join(plan, "replicate_values", "c", with_rep=True)
    compared = exp.Case(ifs=[exp.If(this=exp.Is(this=col("metric", "pc"), expression=exp.null()), true=number(0))],
                        default=number(1))
    columns = [*plan.key_cols("r"), col("metric_order", "r"), col("metric", "r"), col("rep", "r"), col("val", "r"),
               exp.alias_(col("val", "p"), "est", quoted=True),
               exp.alias_(exp.Sub(this=col("val", "r"), expression=col("val", "c")), "abs_val", quoted=True),
               exp.alias_(_ratio_minus_one(col("val", "r"), col("val", "c")), "rel_val", quoted=True),
               exp.alias_(exp.Sub(this=col("val", "p"), expression=col("val", "pc")), "abs_est", quoted=True),
               exp.alias_(_ratio_minus_one(col("val", "p"), col("val", "pc")), "rel_est", quoted=True),
               exp.alias_(compared, "compared", quoted=True)]
    return (exp.select(*columns).from_(exp.alias_(exp.to_table("replicate_values"), "r", table=True))
            .join(exp.alias_(exp.to_table("point_values"), "p", table=True), on=point_on, join_type="inner")
            .join(pc_table, on=pc_on, join_type="left").join(c_table, on=c_on, join_type="left"))


def _ranked(plan: _Plan) -> exp.Select:
    partition = [*plan.key_cols(), col("metric")]
    ranks = [c for v in _VALUES for c in rank_columns(v, partition)]
    return exp.select(exp.Star(), *ranks).from_("contrasts")


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=number(1))], default=number(0)))


def _summary(plan: _Plan) -> exp.Select:
    alpha = 1.0 - plan.query.confidence_level
    columns: list[exp.Expr] = [*plan.key_cols(), col("metric_order"), col("metric")]
    for v in _VALUES:
        for suffix, q in (("lo", alpha / 2.0), ("hi", 1.0 - alpha / 2.0)):
            quantile = (quantile_window(v, q) if plan.quantiles == "window" else quantile_aggregate(col(v), q))
            columns.append(exp.alias_(quantile, f"{v}_{suffix}", quoted=True))
        for suffix, agg in (("sd", exp.StddevSamp), ("valid", exp.Count), ("min", exp.Min), ("max", exp.Max)):
            columns.append(exp.alias_(agg(this=col(v)), f"{v}_{suffix}", quoted=True))
    for name in ("est", "abs_est", "rel_est", "compared"):
        columns.append(exp.alias_(exp.Max(this=col(name)), name, quoted=True))
    columns.append(exp.alias_(exp.Count(this=exp.Star()), "n_rep", quoted=True))
    # p-value counts: replicates of the difference at or below / at or above 0 (basic: of 2 estimate - r)
    side = (exp.Sub(this=exp.Mul(this=number(2.0), expression=col("abs_est")), expression=col("abs_val"))
            if plan.query.method == "basic" else col("abs_val"))
    columns.append(exp.alias_(_count_if(exp.LTE(this=side, expression=number(0))), "p_le", quoted=True))
    columns.append(exp.alias_(_count_if(exp.GTE(this=side.copy(), expression=number(0))), "p_ge", quoted=True))
    source = "ranked" if plan.quantiles == "window" else "contrasts"
    return exp.select(*columns).from_(source).group_by(*plan.key_cols(), col("metric_order"), col("metric"))


def _error(plan: _Plan, v: str, estimate: str) -> exp.Expr:
    """The error code of one interval, in the order :func:`rayab.stats.bootstrap.bootstrap_interval` checks."""
    invalid = exp.Sub(this=col("n_rep", "s"), expression=col(f"{v}_valid", "s"))
    limit = exp.Mul(this=number(float(plan.query.max_invalid_fraction)), expression=col("n_rep", "s"))
    checks = [(exp.GT(this=invalid, expression=limit), "too_many_invalid_replicates"),
              (exp.Is(this=col(estimate, "s"), expression=exp.null()), "invalid_estimate"),
              (exp.LT(this=col(f"{v}_valid", "s"), expression=number(2)), "too_few_replicates"),
              (exp.EQ(this=col(f"{v}_min", "s"), expression=col(f"{v}_max", "s")), "zero_variance")]
    return exp.Case(ifs=[exp.If(this=c, true=literal(code)) for c, code in checks])


def _bounds(plan: _Plan, v: str, estimate: str) -> tuple[exp.Expr, exp.Expr]:
    est = col(estimate, "s")
    method = plan.query.method
    if method == "normal":
        z = NormalDist().inv_cdf(1.0 - (1.0 - plan.query.confidence_level) / 2.0)
        margin = exp.Mul(this=number(z), expression=col(f"{v}_sd", "s"))
        low: exp.Expr = exp.Sub(this=est, expression=margin)
        high: exp.Expr = exp.Add(this=est.copy(), expression=margin.copy())
    elif method == "basic":
        twice = exp.Mul(this=number(2.0), expression=est)
        low = exp.Sub(this=twice, expression=col(f"{v}_hi", "s"))
        high = exp.Sub(this=twice.copy(), expression=col(f"{v}_lo", "s"))
    else:
        low, high = col(f"{v}_lo", "s"), col(f"{v}_hi", "s")
    ok = exp.Is(this=_error(plan, v, estimate), expression=exp.null())
    return (exp.Case(ifs=[exp.If(this=ok, true=low)]), exp.Case(ifs=[exp.If(this=ok.copy(), true=high)]))


def _pvalue(plan: _Plan) -> exp.Expr:
    if plan.query.method == "normal":
        if plan.dialect != "trino":
            return exp.cast(exp.null(), "DOUBLE")  # DuckDB has no normal CDF
        z = exp.Div(this=exp.Abs(this=col("abs_est", "s")), expression=col("abs_val_sd", "s"))
        cdf = exp.Anonymous(this="normal_cdf", expressions=[number(0), number(1), z])
        value: exp.Expr = exp.Mul(this=number(2.0), expression=exp.Paren(
            this=exp.Sub(this=number(1.0), expression=cdf)))
    else:
        far = exp.Least(this=col("p_le", "s"), expressions=[col("p_ge", "s")])
        ratio = exp.Div(this=exp.cast(exp.Mul(this=number(2), expression=exp.Paren(
            this=exp.Add(this=far, expression=number(1)))), "DOUBLE"),
            expression=exp.cast(exp.Add(this=col("abs_val_valid", "s"), expression=number(1)), "DOUBLE"))
        value = exp.Least(this=number(1.0), expressions=[ratio])
    ok = exp.Is(this=_error(plan, "abs_val", "abs_est"), expression=exp.null())
    return exp.Case(ifs=[exp.If(this=exp.and_(_compared(), ok), true=value)])


def _compared() -> exp.Expr:
    return exp.EQ(this=col("compared", "s"), expression=number(1))


def _when_compared(value: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=_compared(), true=value)])


def _final(plan: _Plan) -> exp.Select:
    def named(value: exp.Expr, name: str) -> exp.Expr:
        return exp.alias_(value, name, quoted=True)

    q, exp_ = plan.query, plan.experiment
    own_low, own_high = _bounds(plan, "val", "est")
    abs_low, abs_high = _bounds(plan, "abs_val", "abs_est")
    rel_low, rel_high = _bounds(plan, "rel_val", "rel_est")
    invalid = {v: exp.Sub(this=col("n_rep", "s"), expression=col(f"{v}_valid", "s")) for v in _VALUES}
    n_invalid = exp.Greatest(this=invalid["val"], expressions=[exp.Case(
        ifs=[exp.If(this=_compared(), true=exp.Greatest(this=invalid["abs_val"],
                                                        expressions=[invalid["rel_val"]]))], default=number(0))])
    error = exp.Coalesce(this=_error(plan, "val", "est"), expressions=[
        _when_compared(exp.Coalesce(this=_error(plan, "abs_val", "abs_est"),
                                    expressions=[_error(plan, "rel_val", "rel_est")])), literal("")])
    columns = [named(plan.value("exp_id", q.exp_id), "exp_id"), col("metric", "s"), *plan.key_cols("s"),
               named(exp.cast(col("n_events", "c"), "BIGINT"), "n_events"),
               named(exp.cast(col(UNITS_METRIC, "c"), "BIGINT"), "units"), named(col("est", "s"), "estimate"),
               named(own_low, "ci_lower"), named(own_high, "ci_upper"), named(literal(exp_.control_id), "control_id"),
               named(_when_compared(col("abs_est", "s")), "abs_diff"), named(abs_low, "abs_ci_lower"),
               named(abs_high, "abs_ci_upper"), named(_when_compared(col("rel_est", "s")), "rel_diff"),
               named(rel_low, "rel_ci_lower"), named(rel_high, "rel_ci_upper"), named(_pvalue(plan), "pvalue"),
               named(exp.cast(number(float(q.confidence_level)), "DOUBLE"), "confidence_level"),
               named(col("n_rep", "s"), "n_replicates"), named(n_invalid, "n_invalid"), named(error, "error")]
    return (exp.select(*columns).from_(exp.alias_(exp.to_table("summary"), "s", table=True))
            .join(exp.alias_(exp.to_table("cell_sums"), "c", table=True), on=exp.and_(*plan.keys_equal("s", "c")),
                  join_type="inner")
            .order_by(col("metric_order", "s"), *plan.key_cols("s")))


def results_select(analysis_type: AnalysisType, experiment: Experiment, query: Query, dialect: Dialect = "duckdb",
                   source: exp.Expr | None = None, quantiles: QuantileRule | None = None,
                   parameters: Parameters | None = None, counts: exp.Expr | None = None) -> exp.Select:
    """The query as a sqlglot tree; ``source`` defaults to the table ``agg_<type>``, ``quantiles`` to the
    dialect's exact rule (DuckDB: ``quantile_cont``; Trino: ranks over windows). With ``parameters`` the
    experiment, the window's hours and the filter's values are named placeholders (``:exp_id``), their values
    collected in ``parameters.values``. A query of conversion counts also reads ``counts`` (default: the table
    ``cnv_<type>``), see :func:`with_conversion_counts`."""
    if dialect not in ("duckdb", "trino"):
        raise ValidationError("dialect", dialect, "must be duckdb or trino")
    rule = quantiles or ("window" if dialect == "trino" else "aggregate")
    if rule not in ("aggregate", "window") or (dialect == "trino" and rule == "aggregate"):
        raise ValidationError("quantiles", quantiles, "must be window (Trino) or aggregate / window (DuckDB)")
    query = _check(analysis_type, experiment, query)
    plan = _Plan(analysis_type, experiment, query, tuple(additive_metrics(analysis_type, query.metrics)),
                 dialect, rule, parameters)
    rows_from = source if source is not None else table_source(analysis_type.table)
    if any(analysis_type.is_conversion_column(m) for m in plan.additive):
        rows_from = with_conversion_counts(analysis_type, plan.additive, rows_from, counts if counts is not None
                                           else table_source(conversion_table(analysis_type)))
    ctes: list[tuple[str, exp.Expr]] = [
        ("window_rows", _window_rows(plan, rows_from)),
        ("cell_sums", _cell_sums(plan)), ("replicate_sums", _replicate_sums(plan)),
        ("point_values", _metric_values(plan, "cell_sums", per_replicate=False)),
        ("replicate_values", _metric_values(plan, "replicate_sums", per_replicate=True)),
        ("contrasts", _contrasts(plan))]
    if rule == "window":
        ctes.append(("ranked", _ranked(plan)))
    ctes.append(("summary", _summary(plan)))
    select = _final(plan)
    for name, cte in ctes:
        select = select.with_(name, as_=cte)
    return select


def results_sql(analysis_type: AnalysisType, experiment: Experiment, query: Query, dialect: Dialect = "duckdb",
                source: exp.Expr | None = None, quantiles: QuantileRule | None = None,
                pretty: bool = True, parameters: Parameters | None = None, style: str = "colon",
                counts: exp.Expr | None = None) -> str:
    """The query as SQL text in ``dialect`` (see :func:`results_select`), without a trailing ``;`` so that a BI
    tool can wrap it as a subquery; with ``parameters`` its placeholders are written in ``style``
    (:class:`~rayab.query.sql_parts.Parameters`). A query of quantile metrics gets
    :func:`rayab.query.quantile_sql.quantile_results_sql` (over ``qsk_<type>`` as well; literals only)."""
    if any(analysis_type.quantile_output(m) is not None for m in query.metrics):
        if parameters is not None:
            raise ValidationError("parameters", style, "named parameters are not available for percentile metrics: "
                                  "generate their SQL with literals")
        from rayab.query.quantile_sql import quantile_results_sql

        return quantile_results_sql(analysis_type, experiment, query, dialect, source, None, quantiles, pretty)
    text = results_select(analysis_type, experiment, query, dialect, source, quantiles, parameters, counts).sql(
        dialect, pretty=pretty)
    return parameters.render(text, style) if parameters is not None else text
