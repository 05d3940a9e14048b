"""CUPED per replicate from the additive hourly sums, and the pre-period comparison of the covariate.

For a CUPED metric ``m`` the aggregate stores, per cell, raw and replicate sums of ``units`` (``N``), ``m``
(``Sy``) and ``m__x``, ``m__xx``, ``m__xy`` (``Sx``, ``Sxx``, ``Sxy``). For each pair (variant, control) of a slice
and each replicate ``b`` (and once on the raw sums for the point estimate), with the sums pooled over the pair::

    theta_b   = (Sxy - Sx Sy / N) / (Sxx - Sx^2 / N)          (0 when x is constant)
    diff_b    = (ybar_t - ybar_c) - theta_b (xbar_t - xbar_c)  (= adjusted mean_t - adjusted mean_c)
    rel_diff_b = diff_b / |ybar_c|

where ``ybar = Sy / N`` per arm. Every quantity is self-normalised by the replicate's own weighted unit count, so
replicate ``b`` is a draw of the clustered bootstrap of the whole CUPED procedure, theta included. The point estimate
on the raw sums is exactly the closed-form CUPED estimate (:func:`tests.oracles.cuped.cuped_test`) on per-unit data.
``variance_reduction`` is ``1 - var(adjusted diff reps) / var(unadjusted diff reps)``: it is defined on the
absolute difference, the quantity whose interval and p-value are reported (``abs_*``, ``pvalue``), not on the
relative difference (the lift), whose replicates also carry the noise of the control mean in the denominator (and
so show a different, typically larger, reduction).

:func:`pre_period_bias` compares ``xbar`` between arms the same way: the ``m__x`` sums ARE the arms' pre-period
totals, so a pre-period imbalance needs no extra data.

>>> import numpy as np
>>> from rayab.model import AnalysisType, Metric
>>> at = AnalysisType("t", (Metric("clicks"),), n_replicates=2, cuped=("clicks",))
>>> sums = CellSums(("variant_id",), (("a",), ("b",)), np.array([0, 0]),
...     {"units": np.array([2, 2]), "clicks": np.array([3, 6]), "clicks__x": np.array([2, 4]),
...      "clicks__xx": np.array([2, 10]), "clicks__xy": np.array([3, 15])},
...     {k: np.array([[v[0]] * 2, [v[1]] * 2]) for k, v in [("units", (2, 2)), ("clicks", (3, 6)),
...      ("clicks__x", (2, 4)), ("clicks__xx", (2, 10)), ("clicks__xy", (3, 15))]}, ())
>>> r = cuped_arrays(sums, at, "clicks", 0, 1)
>>> round(float(r.theta[0]), 6), round(float(r.diff[0]), 6)
(1.5, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import NotFoundError, ValidationError
from rayab.model import UNITS_METRIC, AnalysisType, Experiment, cuped_column
from rayab.query.compare import control_rows
from rayab.query.spec import Query
from rayab.query.window import metric_scale, sum_partitions
from rayab.stats.bootstrap import BootstrapIntervals, bootstrap_intervals
from rayab.storage.warehouse import Warehouse

__all__ = ["CupedArrays", "CupedMetricResult", "PrePeriodResult", "cuped_arrays", "cuped_from_sums",
           "cuped_metrics", "pre_period_bias", "pre_period_from_sums", "read_cuped_sums", "run_cuped_query"]

F64 = npt.NDArray[np.float64]
_NAN = math.nan


class CupedArrays(NamedTuple):
    """One (variant, control) pair: index 0 from the raw sums, 1..B from the replicates."""

    theta: F64
    diff: F64
    rel_diff: F64
    raw_diff: F64
    raw_rel_diff: F64


class CupedMetricResult(NamedTuple):
    """The CUPED-adjusted comparison of one variant with control in one slice, next to the unadjusted one."""

    exp_id: str
    metric: str
    variant_id: str
    slice: tuple[tuple[str, str], ...]
    units: int
    control_id: str
    theta: float
    abs_diff: float
    abs_ci_lower: float
    abs_ci_upper: float
    rel_diff: float
    rel_ci_lower: float
    rel_ci_upper: float
    pvalue: float
    raw_abs_diff: float
    raw_abs_ci_lower: float
    raw_abs_ci_upper: float
    raw_rel_diff: float
    raw_rel_ci_lower: float
    raw_rel_ci_upper: float
    raw_pvalue: float
    variance_reduction: float
    confidence_level: float
    n_replicates: int
    n_invalid: int
    error: str


class PrePeriodResult(NamedTuple):
    """The pre-period covariate's mean per unit in a variant versus control: difference, lift and p-value."""

    exp_id: str
    metric: str
    variant_id: str
    slice: tuple[tuple[str, str], ...]
    control_mean: float
    variant_mean: float
    abs_diff: float
    rel_diff: float
    rel_ci_lower: float
    rel_ci_upper: float
    pvalue: float
    error: str


def _columns(sums: CellSums, name: str, scale: int) -> F64:
    """Raw sum then replicate sums of a column, as ``(cells, 1 + B)`` float64 at unit scale."""
    if name not in sums.raw:
        raise ValidationError("metrics", name, "is not in the window sums; read them with read_cuped_sums")
    return np.concatenate([sums.raw[name][:, None], sums.reps[name]], axis=1).astype(np.float64) / scale


def cuped_arrays(sums: CellSums, analysis_type: AnalysisType, metric: str, treatment: int,
                 control: int) -> CupedArrays:
    """Theta, adjusted and unadjusted difference and lift of cell ``treatment`` versus cell ``control``."""
    scale = metric_scale(analysis_type, metric)
    rows = [treatment, control]
    n = _columns(sums, UNITS_METRIC, 1)[rows]
    y = _columns(sums, metric, scale)[rows]
    x = _columns(sums, cuped_column(metric, "x"), scale)[rows]
    # x^2 and x*y carry the scale twice
    xx = _columns(sums, cuped_column(metric, "xx"), scale * scale)[rows]
    xy = _columns(sums, cuped_column(metric, "xy"), scale * scale)[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        n_all, x_all, y_all = n.sum(axis=0), x.sum(axis=0), y.sum(axis=0)
        var_x = xx.sum(axis=0) - x_all**2 / n_all
        cov = xy.sum(axis=0) - x_all * y_all / n_all
        # a constant covariate (var 0) means no adjustment, as in the closed form
        theta = np.where(var_x > 1e-12 * np.maximum(xx.sum(axis=0), 1.0), cov / var_x, 0.0)
        ybar, xbar = y / n, x / n
        raw_diff = ybar[0] - ybar[1]
        diff = raw_diff - theta * (xbar[0] - xbar[1])
        base = np.abs(ybar[1])
        rel_diff = np.where(base > 0, diff / base, np.nan)
        raw_rel_diff = np.where(base > 0, raw_diff / base, np.nan)
    return CupedArrays(theta, diff, rel_diff, raw_diff, raw_rel_diff)


def _slice(sums: CellSums, key: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((n, v) for n, v in zip(sums.key_names, key, strict=True) if n != "variant_id")


def _intervals(values: F64, query: Query) -> BootstrapIntervals:
    return bootstrap_intervals(values[:1], values[None, 1:], query.confidence_level, query.method,
                               max_invalid_fraction=query.max_invalid_fraction)


def _variance_reduction(adjusted: F64, raw: F64) -> float:
    ok = np.isfinite(adjusted) & np.isfinite(raw)
    if ok.sum() < 2:
        return _NAN
    raw_var = float(np.var(raw[ok], ddof=1))
    return 1.0 - float(np.var(adjusted[ok], ddof=1)) / raw_var if raw_var > 0 else _NAN


def cuped_from_sums(sums: CellSums, analysis_type: AnalysisType, experiment: Experiment, metric: str,
                    query: Query) -> list[CupedMetricResult]:
    """CUPED results of ``metric`` for every non-control cell of ``sums`` that has a control in its slice."""
    if metric not in analysis_type.cuped:
        raise ValidationError("metric", metric, f"is not a CUPED metric of {analysis_type.name}: "
                              f"{list(analysis_type.cuped)}")
    control = control_rows(sums, experiment.control_id)
    at = sums.key_names.index("variant_id")
    out = []
    for i in np.flatnonzero(control >= 0).tolist():
        arrays = cuped_arrays(sums, analysis_type, metric, i, int(control[i]))
        absolute, relative = _intervals(arrays.diff, query), _intervals(arrays.rel_diff, query)
        raw_abs, raw_rel = _intervals(arrays.raw_diff, query), _intervals(arrays.raw_rel_diff, query)
        error = absolute.error[0] or relative.error[0] or ""
        out.append(CupedMetricResult(
            experiment.exp_id, metric, sums.keys[i][at], _slice(sums, sums.keys[i]),
            int(sums.raw[UNITS_METRIC][i] + sums.raw[UNITS_METRIC][control[i]]), experiment.control_id,
            float(arrays.theta[0]), float(arrays.diff[0]), float(absolute.ci_lower[0]), float(absolute.ci_upper[0]),
            float(arrays.rel_diff[0]), float(relative.ci_lower[0]), float(relative.ci_upper[0]),
            float(absolute.pvalue[0]), float(arrays.raw_diff[0]), float(raw_abs.ci_lower[0]),
            float(raw_abs.ci_upper[0]), float(arrays.raw_rel_diff[0]), float(raw_rel.ci_lower[0]),
            float(raw_rel.ci_upper[0]), float(raw_abs.pvalue[0]),
            _variance_reduction(arrays.diff[1:], arrays.raw_diff[1:]), query.confidence_level,
            sums.n_replicates, int(max(absolute.n_invalid[0], relative.n_invalid[0])), error))
    return out


def cuped_metrics(analysis_type: AnalysisType, metrics: Sequence[str]) -> tuple[str, ...]:
    """The CUPED metrics asked for (all of the analysis type's when ``metrics`` is empty)."""
    if not analysis_type.cuped:
        raise ValidationError("cuped", analysis_type.name, "the analysis type lists no CUPED metrics "
                              "(add 'cuped: [metric, ...]' to its spec)")
    for i, name in enumerate(metrics):
        if name not in analysis_type.cuped:
            raise ValidationError(f"metrics[{i}]", name, f"is not a CUPED metric of {analysis_type.name}: "
                                  f"{list(analysis_type.cuped)}")
    return tuple(metrics) or analysis_type.cuped


def read_cuped_sums(warehouse: Warehouse, analysis_type: AnalysisType, query: Query,
                    metrics: Sequence[str]) -> CellSums:
    """The window sums of ``units``, the metrics and their CUPED columns, per (variant, *projection)."""
    columns = [UNITS_METRIC, *metrics, *(cuped_column(m, s) for m in metrics for s in ("x", "xx", "xy"))]
    sums = sum_partitions(warehouse, analysis_type, query.exp_id, query.start_hour, query.end_hour, columns,
                          query.projection, query.where)
    if not sums.keys:
        raise NotFoundError(f"no aggregated data for {query.exp_id} in {analysis_type.table} between "
                            f"{query.start_hour} and {query.end_hour}")
    return sums


def run_cuped_query(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment,
                    query: Query) -> list[CupedMetricResult]:
    """CUPED results of the query's metrics (default: every CUPED metric) over its window and slices."""
    if query.exp_id != experiment.exp_id:
        raise ValidationError("exp_id", query.exp_id, f"does not match the experiment {experiment.exp_id}")
    metrics = cuped_metrics(analysis_type, query.metrics)
    sums = read_cuped_sums(warehouse, analysis_type, query, metrics)
    return [r for m in metrics for r in cuped_from_sums(sums, analysis_type, experiment, m, query)]


def pre_period_from_sums(sums: CellSums, analysis_type: AnalysisType, experiment: Experiment, metric: str,
                         query: Query) -> list[PrePeriodResult]:
    """Per non-control cell: the pre-period mean ``x`` per unit versus control, with a bootstrap p-value."""
    scale = metric_scale(analysis_type, metric)
    n = _columns(sums, UNITS_METRIC, 1)
    x = _columns(sums, cuped_column(metric, "x"), scale)
    control = control_rows(sums, experiment.control_id)
    at = sums.key_names.index("variant_id")
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = x / n
    for i in np.flatnonzero(control >= 0).tolist():
        c = int(control[i])
        diff = xbar[i] - xbar[c]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_diff = np.where(xbar[c] != 0, xbar[i] / xbar[c] - 1.0, np.nan)
        absolute, relative = _intervals(diff, query), _intervals(rel_diff, query)
        out.append(PrePeriodResult(experiment.exp_id, metric, sums.keys[i][at], _slice(sums, sums.keys[i]),
                                   float(xbar[c, 0]), float(xbar[i, 0]), float(diff[0]), float(rel_diff[0]),
                                   float(relative.ci_lower[0]), float(relative.ci_upper[0]),
                                   float(absolute.pvalue[0]), absolute.error[0] or ""))
    return out


def pre_period_bias(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment,
                    query: Query) -> list[PrePeriodResult]:
    """The pre-period comparison of every CUPED metric (or the query's) over the query's window and slices."""
    metrics = cuped_metrics(analysis_type, query.metrics)
    sums = read_cuped_sums(warehouse, analysis_type, query, metrics)
    return [r for m in metrics for r in pre_period_from_sums(sums, analysis_type, experiment, m, query)]
