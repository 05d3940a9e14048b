"""Power planning from past data: a metric's unit-level variance from stored bootstrap replicates.

For any metric, additive or composed, the bootstrap variance of its estimate over ``n`` units is about
``sigma^2 / n`` where ``sigma^2`` is the unit-level (linearised, for ratios) variance; so ``n * var(replicates)``
estimates ``sigma^2`` with no access to unit-level data. With the assignment rate from the ``assignment`` table, that
gives the minimum detectable effect, the sample size and the duration of a planned experiment (Bonferroni over KPIs
and treatment arms, via :func:`rayab.stats.power.plan_experiment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from rayab.errors import NotFoundError, ValidationError
from rayab.guardrails.sample_ratio import experiment_assignments
from rayab.model import AnalysisType, Experiment, evaluate, referenced_names
from rayab.model.hours import hours_between, parse_hour
from rayab.query.window import metric_scale, sum_partitions
from rayab.stats.power import Kpi, SamplePlan, plan_experiment, relative_minimum_detectable_effect
from rayab.storage.warehouse import Warehouse

__all__ = ["MetricHistory", "PowerPlan", "metric_history", "plan_from_history"]


class MetricHistory(NamedTuple):
    """What past data says of a metric: its mean, unit-level variance and the units behind them."""

    metric: str
    mean: float
    variance: float
    n_units: int
    units_per_day: float


class PowerPlan(NamedTuple):
    """The plan for every KPI, and per KPI its history and the relative MDE reached after ``days``."""

    plan: SamplePlan
    histories: tuple[MetricHistory, ...]
    relative_mde: float
    days: int
    mde_after_days: tuple[float, ...]


def metric_history(warehouse: Warehouse, analysis_type: AnalysisType, experiment: Experiment, start_hour: str,
                   end_hour: str, metrics: Sequence[str], variant_id: str | None = None) -> list[MetricHistory]:
    """Mean and unit-level variance of ``metrics`` in one arm (default: control) over a past window."""
    variant = variant_id or experiment.control_id
    additive = {"units"}
    for i, name in enumerate(metrics):
        try:
            additive |= referenced_names(analysis_type.expression(name))
        except ValidationError as err:
            raise ValidationError(f"metrics[{i}]", name, err.rule) from None
    sums = sum_partitions(warehouse, analysis_type, experiment.exp_id, start_hour, end_hour, sorted(additive))
    if (variant,) not in sums.keys:
        raise NotFoundError(f"no data for variant {variant} of {experiment.exp_id} in [{start_hour}, {end_hour})")
    row = sums.keys.index((variant,))
    raw = {m: np.asarray(sums.raw[m][row] / metric_scale(analysis_type, m)) for m in sums.raw}
    reps = {m: sums.reps[m][row] / metric_scale(analysis_type, m) for m in sums.reps}
    n_units = int(sums.raw["units"][row])
    days = len(hours_between(start_hour, end_hour)) / 24.0
    total_units = experiment_assignments(warehouse, experiment, until=parse_hour(end_hour)).num_rows
    out = []
    for name in metrics:
        expr = analysis_type.expression(name)
        replicates = evaluate(expr, reps)
        replicates = replicates[np.isfinite(replicates)]
        variance = float(np.var(replicates, ddof=1)) * n_units if len(replicates) > 1 else math.nan
        out.append(MetricHistory(name, float(evaluate(expr, raw)), variance, n_units, total_units / days))
    return out


def plan_from_history(histories: Sequence[MetricHistory], *, relative_mde: float = 0.02, alpha: float = 0.05,
                      power: float = 0.8, n_arms: int = 2, days: int = 14) -> PowerPlan:
    """Units and days to detect ``relative_mde`` on every metric, and the MDE each metric reaches after ``days``."""
    if not histories:
        raise ValidationError("metrics", [], "must name at least one metric")
    kpis = [Kpi(h.metric, relative_mde * h.mean, h.variance) for h in histories]
    units_per_day = histories[0].units_per_day
    plan = plan_experiment(kpis, units_per_day=units_per_day, n_arms=n_arms, alpha=alpha, power=power)
    n_tests = len(histories) * (n_arms - 1)
    per_arm = units_per_day * days / n_arms
    mdes = tuple(relative_minimum_detectable_effect(h.mean, h.variance, per_arm, alpha=alpha / n_tests, power=power)
                 for h in histories)
    return PowerPlan(plan, tuple(histories), relative_mde, days, mdes)
