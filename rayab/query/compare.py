"""Per cell and variant: estimate and interval; versus control: absolute and relative difference, interval, p-value.

Every metric, additive or composed, is evaluated **per replicate** on the window's summed arrays (a ratio of sums,
never a mean of hourly ratios); the point estimate comes from the raw (unweighted) sums. Arms are independent and a
unit's weights are the same in every hour, so replicate ``b`` of ``treatment - control`` is a draw of the unit-level
(clustered) Poisson bootstrap over the whole window. The relative difference is ``treatment / control - 1`` per
replicate. All cells of a metric are computed at once (:func:`rayab.stats.bootstrap.bootstrap_intervals`).

Replicates whose value cannot be computed (a zero denominator in a resample) are dropped and counted in
``n_invalid`` (the largest count among the estimate, the difference and the lift); above
``max_invalid_fraction`` of B the result carries ``error="too_many_invalid_replicates"`` and NaN intervals.

With ``interval="sequential"`` the intervals are asymptotic confidence sequences
(:func:`rayab.stats.sequential.confidence_sequence`) around the same estimates, with the bootstrap standard error
plugged in and ``n`` the units behind the estimate (both arms for a difference); ``pvalue`` is then the
always-valid p-value (:mod:`rayab.query.results` takes its running minimum over the hourly looks).

**Totals across unequal arms.** ``units``, additive metrics and composed metrics that scale like a total (``clicks
+ views``, not ``clicks / views``) grow with an arm's traffic share, so comparing them raw would report the design's
split as an effect (an arm with 30% of the traffic has about 30/70 of the control's units). Their contrast
(``contrast="traffic_share"``) compares the variant rescaled to the control's share, ``variant * w_c / w_v``, with
the control: for ``units`` this is the observed against the expected share (what the SRM test asks). Ratios
(``contrast="direct"``) are compared as they are. A variant with no traffic share gets no comparison.

**p-values at their floor.** A percentile (or basic) bootstrap p-value cannot go below ``2 / (B + 1)``; when it
is there, ``pvalue_is_bound`` is True (the true p-value is smaller, read it as "< 2 / (B + 1)") and
``normal_pvalue``, the normal-method p-value from the bootstrap standard error, is given beside it (always, for a
fixed-horizon comparison).

**Bayesian readouts.** Beside the frequentist numbers every comparison carries ``chance_to_beat_control``,
``risk_control`` / ``risk_variant`` (the expected loss of shipping that arm, in the metric's own units, as
``E[max(D, 0)]`` and ``E[max(-D, 0)]`` for ``D = variant - control``) and the credible interval
``[rel_cred_lower, rel_cred_upper]`` of ``rel_diff`` at ``confidence_level`` (:mod:`rayab.stats.bayesian`). With
``bayesian="bootstrap"`` (the default) they come from the same replicate arrays as the intervals, read as draws of
the posterior under a flat prior: replicate ``b`` of both arms is one draw; with ``bayesian="normal"`` from the
lognormal approximation of ``variant / control`` with each arm's variance taken from its replicates (both means must
be positive). "Beating" is being higher, or lower for a guardrail whose ``bad_direction`` is ``increase``
(the risks swap with it). A total is compared as its traffic-share rescaled value, as above. A readout that cannot
be formed leaves the numbers NaN and says why in ``bayes_error``.

>>> import numpy as np
>>> from rayab.model import Metric
>>> at = AnalysisType("t", (Metric("clicks"), Metric("views")), n_replicates=3, composed={"ctr": "clicks / views"})
>>> sums = CellSums(("variant_id",), (("a",), ("b",)), np.array([9, 9]),
...                   {"clicks": np.array([2, 3]), "views": np.array([10, 10])},
...                   {"clicks": np.array([[2, 1, 3], [3, 4, 0]]), "views": np.array([[10, 8, 0], [9, 12, 10]])}, ())
>>> estimates, replicates = metric_values(sums, at, "ctr")
>>> estimates.tolist(), replicates[0].tolist()
([0.2, 0.3], [0.2, 0.125, nan])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import ValidationError
from rayab.model import UNITS_METRIC, AnalysisType, Experiment, evaluate, referenced_names
from rayab.query.spec import Query
from rayab.query.window import metric_scale
from rayab.stats.bayesian import BayesianReadouts, bootstrap_readouts, normal_readouts_from_replicates
from rayab.stats.bootstrap import BootstrapIntervals, bootstrap_intervals
from rayab.stats.sequential import confidence_sequence

__all__ = ["END_HOUR_KEY", "MetricResult", "compare_metric", "compare_values", "is_total", "lower_is_better",
           "metric_values", "traffic_ratios"]

END_HOUR_KEY = "end_hour"
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_NAN = math.nan


class MetricResult(NamedTuple):
    """One metric of one variant in one slice, and its comparison with control (NaN for control itself).

    ``abs_*`` is the difference ``variant - control``; ``rel_*`` the relative lift ``variant / control - 1``.
    ``pvalue`` tests a zero difference, by the same method as the interval (see :mod:`rayab.stats.bootstrap`), or
    is the always-valid p-value when ``interval == "sequential"`` (the running minimum over hourly looks);
    ``adjusted_pvalue`` is ``pvalue`` corrected by ``correction`` across the family (NaN without a correction).
    ``n_invalid`` counts replicates whose value could not be computed (a zero denominator). The window is
    ``[start_hour, end_hour)``. ``pvalue_is_bound``: the bootstrap p-value is at its floor ``2 / (B + 1)``, so the
    true one is below it; ``normal_pvalue`` is the normal-method p-value beside it. ``contrast`` is
    ``"traffic_share"`` when the variant's total was rescaled to the control's traffic share before comparing,
    ``"direct"`` otherwise. ``primary_kpi`` marks the experiment's primary KPI. ``chance_to_beat_control``,
    ``risk_control``, ``risk_variant``, ``rel_cred_lower`` and ``rel_cred_upper`` are the Bayesian readout by the
    method ``bayesian`` (see the module doc; NaN for control itself and when ``bayes_error`` says why).
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
    adjusted_pvalue: float = _NAN
    correction: str = ""
    interval: str = "fixed"
    start_hour: str = ""
    end_hour: str = ""
    pvalue_is_bound: bool = False
    normal_pvalue: float = _NAN
    contrast: str = "direct"
    primary_kpi: bool = False
    chance_to_beat_control: float = _NAN
    risk_control: float = _NAN
    risk_variant: float = _NAN
    rel_cred_lower: float = _NAN
    rel_cred_upper: float = _NAN
    bayesian: str = ""
    bayes_error: str = ""


def is_total(analysis_type: AnalysisType, metric: str) -> bool:
    """Whether ``metric`` scales like a total (doubling every additive input doubles it), e.g. ``units``.

    >>> from rayab.model import Metric
    >>> at = AnalysisType("t", (Metric("clicks"), Metric("views")), composed={"ctr": "clicks / views",
    ...                   "both": "clicks + views", "per_unit": "clicks / units"})
    >>> [is_total(at, m) for m in ("units", "clicks", "ctr", "both", "per_unit")]
    [True, True, False, True, False]
    """
    expr = analysis_type.expression(metric)
    names = sorted(referenced_names(expr))
    for point in (1.0, 2.0):
        values = {n: np.asarray(point * (1.37 + 0.61 * i)) for i, n in enumerate(names)}
        once = float(evaluate(expr, values))
        twice = float(evaluate(expr, {n: 2.0 * v for n, v in values.items()}))
        if not (math.isfinite(once) and math.isfinite(twice)) or abs(twice - 2.0 * once) > 1e-9 * abs(once):
            return False
    return True


def traffic_ratios(sums: CellSums, experiment: Experiment) -> F64:
    """Per cell, the control's traffic share over the cell's variant's (NaN for a variant without traffic).

    >>> from datetime import datetime, timezone
    >>> from rayab.model import Variant
    >>> exp = Experiment("e", "e", datetime(2026, 1, 1, tzinfo=timezone.utc), (Variant("a", 70.0), Variant("b", 30.0)),
    ...                  "units")
    >>> sums = CellSums(("variant_id",), (("a",), ("b",)), np.array([1, 1]), {}, {}, ())
    >>> [round(float(x), 4) for x in traffic_ratios(sums, exp)]
    [1.0, 2.3333]
    """
    share = {v.variant_id: v.traffic_pct for v in experiment.variants}
    control = share.get(experiment.control_id, 0.0)
    at = sums.key_names.index("variant_id")
    out = np.full(len(sums.keys), np.nan)
    for i, key in enumerate(sums.keys):
        mine = share.get(key[at], 0.0)
        if mine > 0 and control > 0:
            out[i] = control / mine
    return out


def metric_values(sums: CellSums, analysis_type: AnalysisType, metric: str) -> tuple[F64, F64]:
    """Point estimates ``(cells,)`` from the raw sums and replicate values ``(cells, B)`` of ``metric``."""
    expr = analysis_type.expression(metric)
    names = referenced_names(expr)
    raw = {m: sums.raw[m] / metric_scale(analysis_type, m) for m in names}
    reps = {m: sums.reps[m] / metric_scale(analysis_type, m) for m in names}
    n = len(sums.keys)
    estimates = np.broadcast_to(evaluate(expr, raw), (n,)).astype(np.float64)
    replicates = np.broadcast_to(evaluate(expr, reps), (n, sums.n_replicates)).astype(np.float64)
    return estimates, replicates


def control_rows(sums: CellSums, control_id: str) -> I64:
    """For every cell, the row of the control cell of the same slice (-1 for control itself or when missing)."""
    at = sums.key_names.index("variant_id")
    index = {key: i for i, key in enumerate(sums.keys)}
    out = np.full(len(sums.keys), -1, np.int64)
    for i, key in enumerate(sums.keys):
        if key[at] != control_id:
            out[i] = index.get((*key[:at], control_id, *key[at + 1:]), -1)
    return out


class _Contrast(NamedTuple):
    own: BootstrapIntervals
    absolute: BootstrapIntervals
    relative: BootstrapIntervals
    rows: I64  # cells that have a control to compare with
    bayes: BayesianReadouts


def lower_is_better(experiment: Experiment, metric: str) -> bool:
    """Whether beating control means a lower ``metric``: a guardrail whose harmful direction is ``increase``.

    >>> from datetime import datetime, timezone
    >>> from rayab.model import Variant
    >>> from rayab.model.guardrail import Guardrail
    >>> exp = Experiment("e", "e", datetime(2026, 1, 1, tzinfo=timezone.utc), (Variant("a", 50.0), Variant("b", 50.0)),
    ...                  "ctr", guardrails=(Guardrail("errors", "increase"),))
    >>> lower_is_better(exp, "errors"), lower_is_better(exp, "ctr")
    (True, False)
    """
    return any(g.metric == metric and g.bad_direction == "increase" for g in experiment.guardrails)


def _contrast(estimates: F64, replicates: F64, control: I64, query: Query, scale: F64 | None,
              inverse: bool = False) -> _Contrast:
    """Own intervals, and the variant (times ``scale``, its traffic ratio, for a total) against its control."""

    def intervals(est: F64, reps: F64) -> BootstrapIntervals:
        return bootstrap_intervals(est, reps, query.confidence_level, query.method,
                                   max_invalid_fraction=query.max_invalid_fraction)

    rows = np.flatnonzero(control >= 0)
    c = control[rows]
    factor = np.ones(len(rows)) if scale is None else scale[rows]
    est_v, reps_v = estimates[rows] * factor, replicates[rows] * factor[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_est = np.where(estimates[c] == 0, np.nan, est_v / estimates[c] - 1.0)
        rel_reps = np.where(replicates[c] == 0, np.nan, reps_v / replicates[c] - 1.0)
    readout = bootstrap_readouts if query.bayesian == "bootstrap" else normal_readouts_from_replicates
    with np.errstate(divide="ignore", invalid="ignore"):
        bayes = readout(estimates[c], est_v, replicates[c], reps_v,
                        confidence_level=query.confidence_level, inverse=inverse,
                        **({"max_invalid_fraction": query.max_invalid_fraction}
                           if query.bayesian == "bootstrap" else {}))
    return _Contrast(intervals(estimates, replicates), intervals(est_v - estimates[c], reps_v - replicates[c]),
                     intervals(rel_est, rel_reps), rows, bayes)


def _bayes_fields(b: BayesianReadouts, j: int) -> dict[str, float | str]:
    """The Bayesian fields of a :class:`MetricResult` from row ``j`` (NaN numbers when the readout failed)."""
    error = b.error[j] or ""
    if error:
        return {"bayes_error": error}
    return {"chance_to_beat_control": float(b.chance_to_win[j]), "risk_control": float(b.risk_control[j]),
            "risk_variant": float(b.risk_treatment[j]), "rel_cred_lower": float(b.ci_lower[j]),
            "rel_cred_upper": float(b.ci_upper[j])}


def _normal_pvalue(b: BootstrapIntervals, j: int) -> float:
    se = float(b.se[j])
    if b.error[j] or not (math.isfinite(se) and se > 0):
        return _NAN
    return float(2.0 * stats.norm.sf(abs(float(b.estimate[j])) / se))


def _at_floor(b: BootstrapIntervals, j: int, pvalue: float, query: Query) -> bool:
    """The percentile / basic p-value is its floor ``2 / (valid B + 1)``: a bound, not a value."""
    if query.method == "normal" or query.interval == "sequential" or not math.isfinite(pvalue):
        return False
    valid = b.n_replicates - int(b.n_invalid[j])
    return pvalue <= 2.0 / (valid + 1) * (1 + 1e-9)


def _sequential(estimate: float, se: float, n: int, query: Query) -> tuple[float, float, float, str]:
    """A confidence sequence ``(low, high, pvalue, error)`` around a bootstrap estimate and standard error."""
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return _NAN, _NAN, _NAN, ""
    cs = confidence_sequence(estimate, se, n, planned_n=query.planned_units,
                             confidence_level=query.confidence_level)
    if cs.error is not None:
        return _NAN, _NAN, _NAN, cs.error
    return cs.ci_lower, cs.ci_upper, cs.pvalue, ""


def _bounds(b: BootstrapIntervals, i: int, n: int, query: Query) -> tuple[float, float, float, str]:
    """``(low, high, pvalue, error)`` of row ``i`` by the query's kind of interval."""
    error = b.error[i] or ""
    if query.interval == "sequential" and not error:
        return _sequential(float(b.estimate[i]), float(b.se[i]), n, query)
    return float(b.ci_lower[i]), float(b.ci_upper[i]), float(b.pvalue[i]), error


def _slice_and_hours(sums: CellSums, key: tuple[str, ...], query: Query) -> tuple[tuple[tuple[str, str], ...], str]:
    names = sums.key_names
    pairs = tuple((n, v) for n, v in zip(names, key, strict=True) if n not in ("variant_id", END_HOUR_KEY))
    end = key[names.index(END_HOUR_KEY)] if END_HOUR_KEY in names else query.end_hour
    return pairs, end


def compare_metric(sums: CellSums, analysis_type: AnalysisType, experiment: Experiment, metric: str,
                   query: Query) -> list[MetricResult]:
    """Results of ``metric`` for every cell of ``sums``, in cell order."""
    if query.interval == "sequential" and UNITS_METRIC not in sums.raw:
        raise ValidationError("interval", query.interval, "sequential intervals need the units metric in the sums")
    estimates, replicates = metric_values(sums, analysis_type, metric)
    return compare_values(sums, experiment, metric, query, estimates, replicates, is_total(analysis_type, metric))


def compare_values(sums: CellSums, experiment: Experiment, metric: str, query: Query, estimates: F64,
                   replicates: F64, total: bool = False) -> list[MetricResult]:
    """Results of a metric given its point estimates ``(cells,)`` and replicate values ``(cells, B)`` in the cells
    of ``sums`` (which give the keys, event counts and ``units``); ``total`` compares per traffic share."""
    control = control_rows(sums, experiment.control_id)
    contrast = _contrast(estimates, replicates, control, query, traffic_ratios(sums, experiment) if total else None,
                         lower_is_better(experiment, metric))
    units = sums.raw[UNITS_METRIC] if UNITS_METRIC in sums.raw else np.full(len(sums.keys), -1, np.int64)
    variant_at = sums.key_names.index("variant_id")
    position = {int(row): j for j, row in enumerate(contrast.rows)}
    out = []
    for i, key in enumerate(sums.keys):
        low, high, _, error = _bounds(contrast.own, i, int(units[i]), query)
        diff = (_NAN, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN)
        n_invalid = int(contrast.own.n_invalid[i])
        bound, normal_p = False, _NAN
        bayes: dict[str, float | str] = {}
        if i in position:
            j, n_pair = position[i], int(units[i] + units[control[i]])
            a_low, a_high, pvalue, a_error = _bounds(contrast.absolute, j, n_pair, query)
            r_low, r_high, _, r_error = _bounds(contrast.relative, j, n_pair, query)
            diff = (float(contrast.absolute.estimate[j]), a_low, a_high, float(contrast.relative.estimate[j]),
                    r_low, r_high, pvalue)
            n_invalid = max(n_invalid, int(contrast.absolute.n_invalid[j]), int(contrast.relative.n_invalid[j]))
            error = error or a_error or r_error
            bayes = _bayes_fields(contrast.bayes, j)
            if query.interval != "sequential":
                normal_p = _normal_pvalue(contrast.absolute, j)
                bound = _at_floor(contrast.absolute, j, pvalue, query)
        pairs, end_hour = _slice_and_hours(sums, key, query)
        out.append(MetricResult(
            experiment.exp_id, metric, key[variant_at], pairs, int(sums.n_events[i]), int(units[i]),
            float(estimates[i]), low, high, experiment.control_id, *diff, query.confidence_level,
            sums.n_replicates, n_invalid, error, interval=query.interval, start_hour=query.start_hour,
            end_hour=end_hour, pvalue_is_bound=bound, normal_pvalue=normal_p,
            contrast="traffic_share" if total else "direct", primary_kpi=metric == experiment.primary_kpi,
            bayesian=query.bayesian, **bayes))  # type: ignore[arg-type]
    return out
