"""Results of an experiment over a window: estimates, differences versus control, intervals and p-values.

Every metric, additive or composed, is evaluated **per replicate** on the window's summed arrays (a ratio of sums,
never a mean of hourly ratios); the point estimate comes from the raw (unweighted) sums. Arms are independent,
and a unit's weights are the same in every hour, so each replicate of a difference is a draw of the unit-level
(clustered) Poisson bootstrap over the whole window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from rayab.errors import NotFoundError, ValidationError
from rayab.model import AnalysisType, Experiment, evaluate, referenced_names
from rayab.query.window import WindowSums, metric_scale, read_window, sum_window
from rayab.stats.bootstrap import bootstrap_interval
from rayab.storage.warehouse import Warehouse

__all__ = ["MetricResult", "compare_variants", "experiment_results"]

CIMethod = Literal["percentile", "basic", "normal"]
F64 = npt.NDArray[np.float64]


class MetricResult(NamedTuple):
    """One metric of one variant in one slice, and its comparison with control (NaN for control itself).

    ``abs_*`` is the difference ``variant - control``; ``rel_*`` the relative lift ``variant / control - 1``.
    ``pvalue`` tests a zero difference, by the same method as the interval (see :mod:`rayab.stats.bootstrap`).
    ``n_invalid`` counts replicates whose value could not be computed (a zero denominator).
    """

    exp_id: str
    metric: str
    variant_id: str
    slice: tuple[tuple[str, str], ...]
    n_events: int
    units: int
    estimate: float
    ci_lower: float
    ci_upper: float
    control_id: str
    abs_diff: float
    abs_ci_lower: float
    abs_ci_upper: float
    rel_diff: float
    rel_ci_lower: float
    rel_ci_upper: float
    pvalue: float
    confidence_level: float
    n_replicates: int
    n_invalid: int
    error: str


def _values(sums: WindowSums, analysis_type: AnalysisType, row: int) -> tuple[dict[str, F64], dict[str, F64]]:
    raw = {m: np.asarray(sums.raw[m][row] / metric_scale(analysis_type, m)) for m in sums.raw}
    reps = {m: sums.reps[m][row] / metric_scale(analysis_type, m) for m in sums.reps}
    return raw, reps


def compare_variants(sums: WindowSums, analysis_type: AnalysisType, experiment: Experiment, metric: str,
                     confidence_level: float = 0.95, method: CIMethod = "percentile") -> list[MetricResult]:
    """Results of ``metric`` for every variant of every slice in ``sums``."""
    expr = analysis_type.expression(metric)
    nan = float("nan")
    out = []
    for row, key in enumerate(sums.keys):
        variant_id, slice_values = key[0], key[1:]
        raw, reps = _values(sums, analysis_type, row)
        estimate = float(evaluate(expr, raw))
        replicates = evaluate(expr, reps)
        own = bootstrap_interval(estimate, replicates, confidence_level=confidence_level, method=method)
        diff = (nan, nan, nan, nan, nan, nan, nan)
        error = own.error or ""
        n_invalid = own.n_invalid
        control_key = (experiment.control_id, *slice_values)
        if variant_id != experiment.control_id and control_key in sums.keys:
            c_raw, c_reps = _values(sums, analysis_type, sums.keys.index(control_key))
            c_est, c_reps_val = float(evaluate(expr, c_raw)), evaluate(expr, c_reps)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel_reps = np.where(c_reps_val == 0, np.nan, replicates / c_reps_val - 1.0)
                rel_est = estimate / c_est - 1.0 if c_est != 0 else nan
            absolute = bootstrap_interval(estimate - c_est, replicates - c_reps_val,
                                          confidence_level=confidence_level, method=method)
            relative = bootstrap_interval(rel_est, rel_reps, confidence_level=confidence_level, method=method)
            diff = (absolute.estimate, absolute.ci_lower, absolute.ci_upper, relative.estimate, relative.ci_lower,
                    relative.ci_upper, absolute.pvalue)
            n_invalid = max(n_invalid, absolute.n_invalid, relative.n_invalid)
            error = error or absolute.error or relative.error or ""
        units = int(sums.raw["units"][row]) if "units" in sums.raw else -1
        out.append(MetricResult(
            experiment.exp_id, metric, variant_id, tuple(zip(sums.key_names[1:], slice_values, strict=True)),
            int(sums.n_events[row]), units, estimate, own.ci_lower, own.ci_upper, experiment.control_id, *diff,
            confidence_level, sums.reps[next(iter(sums.reps))].shape[1] if sums.reps else 0, n_invalid, error))
    return out


def experiment_results(
    warehouse: Warehouse,
    analysis_type: AnalysisType,
    experiment: Experiment,
    start_hour: str,
    end_hour: str,
    metrics: Sequence[str] | None = None,
    projection: Sequence[str] = (),
    confidence_level: float = 0.95,
    method: CIMethod = "percentile",
) -> list[MetricResult]:
    """Read the window ``[start_hour, end_hour)`` and compute every requested metric (default: all of them)."""
    names = list(metrics) if metrics else ["units", *analysis_type.metric_names, *analysis_type.composed]
    additive: set[str] = {"units"}
    for i, name in enumerate(names):
        try:
            additive |= referenced_names(analysis_type.expression(name))
        except ValidationError as err:
            raise ValidationError(f"metrics[{i}]", name, err.rule) from None
    table = read_window(warehouse, analysis_type, experiment.exp_id, start_hour, end_hour, sorted(additive),
                        projection)
    if table.num_rows == 0:
        raise NotFoundError(f"no aggregated data for {experiment.exp_id} in {analysis_type.table} "
                            f"between {start_hour} and {end_hour}")
    sums = sum_window(table, analysis_type, sorted(additive), projection)
    return [r for name in names for r in compare_variants(sums, analysis_type, experiment, name,
                                                           confidence_level, method)]

