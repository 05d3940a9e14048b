"""What the console's pages show, computed from the results engine's answers: no web framework, no statistics.

Every number comes from :class:`~rayab.api.engine.ResultsEngine` (results, time series, health); this module only
picks, formats and lays them out: the verdict line, the scorecard rows with the geometry of their interval bars, the
catalogue rows and the chart series. Formatting matches the CLI's tables (:mod:`rayab.report.formatting`), so a number
read on the page is the one ``rayab results`` prints.

>>> format_pct(0.02113), format_pct(float("nan")), format_number(0.074781234), format_number(87781)
('+2.11%', '-', '0.07478', '87781')
>>> parse_explore_hour("2026-11-23T05:00", "start"), parse_explore_hour("2026-11-23T05", "start")
('2026-11-23T05', '2026-11-23T05')
>>> parse_composed("cpi = clicks / impressions")
{'cpi': 'clicks / impressions'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rayab.errors import ValidationError
from rayab.guardrails.health import HealthCheck, worst_status
from rayab.model import Experiment
from rayab.model.hours import format_hour, parse_hour
from rayab.query.compare import MetricResult
from rayab.query.cuped import CupedMetricResult
from rayab.report.formatting import format_number, format_pct

__all__ = [
    "CatalogueRow",
    "CupedRow",
    "Progress",
    "ScoreRow",
    "Verdict",
    "catalogue_row",
    "chart_series",
    "cuped_rows",
    "default_window",
    "format_number",
    "format_pct",
    "is_significant",
    "matches",
    "parse_composed",
    "parse_explore_hour",
    "progress",
    "scorecard",
    "units_per_day",
    "verdict",
]

_HOUR_INPUT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2})(:\d{2}(:\d{2})?)?Z?")
_COMPOSED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*")


def parse_explore_hour(text: str, name: str) -> str:
    """An hour from a form: ``YYYY-MM-DDTHH`` or a ``datetime-local`` value ``YYYY-MM-DDTHH:MM`` (minutes dropped).

    >>> parse_explore_hour("yesterday", "end")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: end == 'yesterday': must be an hour such as 2026-11-24T10 (UTC)
    """
    match = _HOUR_INPUT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(name, text, "must be an hour such as 2026-11-24T10 (UTC)")
    parse_hour(match.group(1), name)
    return match.group(1)


def parse_composed(text: str) -> dict[str, str]:
    """Composed metrics typed on the spot, ``name = expression``, one per line or separated by ``;``.

    >>> parse_composed("a = clicks / impressions; b = 100 * a")
    {'a': 'clicks / impressions', 'b': '100 * a'}
    >>> parse_composed("clicks")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: compose == 'clicks': must be name = expression, e.g. cpi = clicks / impressions
    """
    out: dict[str, str] = {}
    for part in re.split(r"[;\n]", text or ""):
        if not part.strip():
            continue
        match = _COMPOSED.fullmatch(part)
        if match is None:
            raise ValidationError("compose", part.strip()[:80],
                                  "must be name = expression, e.g. cpi = clicks / impressions")
        out[match.group(1)] = match.group(2)
    return out


def default_window(experiment: Experiment, completed: Sequence[str]) -> tuple[str, str] | None:
    """``[start, end)`` from the experiment's start hour to the hour after the last committed one (None: no data).

    >>> from rayab.simulate import demo_config
    >>> exp = demo_config("2026-11-23T00:00:00Z").experiments[0]
    >>> default_window(exp, ["2026-11-22T23", "2026-11-23T00", "2026-11-23T05"])
    ('2026-11-23T00', '2026-11-23T06')
    >>> default_window(exp, ["2026-11-22T23"]) is None
    True
    """
    start = format_hour(experiment.start_time)
    last = format_hour(experiment.end_time) if experiment.end_time is not None else None
    inside = [h for h in completed if h >= start and (last is None or h <= last)]
    if not inside:
        return None
    end = format_hour(parse_hour(max(inside)) + timedelta(hours=1))
    return start, end


def is_significant(result: MetricResult) -> bool:
    """Whether a comparison is significant at its level: the interval of the lift excludes 0, or, with a correction,
    the corrected p-value is below ``1 - confidence_level``."""
    if result.variant_id == result.control_id or math.isnan(result.rel_diff):
        return False
    if result.correction:
        return bool(result.adjusted_pvalue < 1.0 - result.confidence_level)
    return bool(result.rel_ci_lower > 0 or result.rel_ci_upper < 0)


def _rel_diff_text(result: MetricResult) -> str:
    return f"{format_pct(result.rel_diff)} [{format_pct(result.rel_ci_lower)}, {format_pct(result.rel_ci_upper)}]"


def _days(experiment: Experiment, now: datetime) -> float:
    end = experiment.end_time if experiment.end_time is not None and experiment.end_time < now else now
    return max(0.0, (end - experiment.start_time).total_seconds() / 86400.0)


@dataclass(frozen=True)
class Verdict:
    """The decision line on top of an experiment page: ``kind`` is stop, win, loss, flat or empty."""

    kind: str
    text: str


def _harmed_guardrails(health: Sequence[HealthCheck]) -> list[str]:
    return [c.name.removeprefix("guardrail_") for c in health if c.name.startswith("guardrail_")
            and c.status == "fail"]


@dataclass(frozen=True)
class Progress:
    """Units so far against the planned sample (``planned`` 0: the experiment has no plan)."""

    units: int
    planned: int

    @property
    def fraction(self) -> float:
        """``units / planned`` (nan without a plan)."""
        return self.units / self.planned if self.planned else math.nan

    @property
    def text(self) -> str:
        """``38% of the planned sample (2,280 of 6,000 units)``, or '' without a plan.

        >>> Progress(2280, 6000).text, Progress(7000, 6000).text, Progress(5, 0).text
        ('38% of the planned sample (2,280 of 6,000 units)', '117% of the planned sample (7,000 of 6,000 units)', '')
        """
        if not self.planned:
            return ""
        return f"{self.fraction:.0%} of the planned sample ({self.units:,} of {self.planned:,} units)"


def progress(experiment: Experiment, overall: Sequence[MetricResult]) -> Progress:
    """Units of every arm so far (the unsliced primary-KPI rows) against the experiment's ``planned_units``."""
    units = sum(r.units for r in overall if r.metric == experiment.primary_kpi and not r.slice)
    return Progress(int(units), experiment.planned_units)


def verdict(experiment: Experiment, overall: Sequence[MetricResult], health: Sequence[HealthCheck],
            plan: Progress | None = None) -> Verdict:
    """The verdict from the unsliced results of the primary KPI and the health checks.

    SRM stops everything (the comparison is not trustworthy); then a significant primary-KPI lift wins or loses;
    otherwise there is no detectable effect yet, with the share of the planned sample reached when there is a
    plan (``plan``). Harmed guardrails are named.
    """
    srm = [c for c in health if c.name == "sample_ratio" and c.status == "fail"]
    if srm:
        return Verdict("stop", f"stop: SRM ({srm[0].reason})")
    kpi = experiment.primary_kpi
    arms = [r for r in overall if r.metric == kpi and not r.slice and r.variant_id != r.control_id]
    if not arms:
        return Verdict("empty", f"no data yet for {kpi}")
    harmed = _harmed_guardrails(health)
    tail = (f", guardrail harmed: {', '.join(harmed)}" if harmed
            else ", no guardrail harmed" if experiment.guardrails else "")
    winners = [r for r in arms if is_significant(r) and r.rel_diff > 0]
    losers = [r for r in arms if is_significant(r) and r.rel_diff < 0]
    if winners:
        best = max(winners, key=lambda r: r.rel_diff)
        return Verdict("loss" if harmed else "win", f"{best.variant_id} wins on {kpi} ({_rel_diff_text(best)}){tail}")
    if losers:
        worst = min(losers, key=lambda r: r.rel_diff)
        return Verdict("loss", f"{worst.variant_id} loses on {kpi} ({_rel_diff_text(worst)}){tail}")
    shown = "; ".join(f"{r.variant_id} {_rel_diff_text(r)}" for r in arms)
    reached = f": {plan.text}" if plan is not None and plan.text else ""
    return Verdict("flat", f"no detectable effect yet on {kpi}{reached} ({shown}){tail}")


@dataclass(frozen=True)
class ScoreRow:
    """One variant of one metric in one slice, against control, with the bar's geometry in percent of its track."""

    metric: str
    slice: str
    variant_id: str
    control: str
    estimate: str
    ci: str
    rel_diff: str  # shown as the lift
    rel_ci: str
    pvalue: str
    pvalue_label: str
    units: int
    tone: str  # good, bad, neutral (not significant), none (no comparison)
    bar_left: float = 0.0
    bar_width: float = 0.0
    dot: float = 50.0
    zero: float = 50.0
    error: str = ""
    chance: str = "-"  # chance to beat control (Bayesian readout), where the results carry one


@dataclass(frozen=True)
class ScoreGroup:
    """The rows of one metric: its role (primary, guardrail, metric) and the rows of every slice and variant."""

    metric: str
    role: str
    rows: tuple[ScoreRow, ...] = field(default_factory=tuple)


def _slice_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in pairs) or "all"


def scorecard(experiment: Experiment, results: Sequence[MetricResult]) -> list[ScoreGroup]:
    """Groups of rows per metric: the primary KPI first, then guardrails, then the other metrics."""
    guardrails = {g.metric: g.bad_direction for g in experiment.guardrails}
    by_metric: dict[str, list[MetricResult]] = {}
    for r in results:
        by_metric.setdefault(r.metric, []).append(r)
    groups = []
    for metric, rows in by_metric.items():
        controls = {r.slice: r for r in rows if r.variant_id == r.control_id}
        compared = [r for r in rows if r.variant_id != r.control_id]
        bounds = [abs(v) for r in compared for v in (r.rel_ci_lower, r.rel_ci_upper, r.rel_diff) if math.isfinite(v)]
        span = max(bounds, default=0.0) or 1.0

        def x(value: float, span: float = span) -> float:
            return 50.0 + 45.0 * value / span  # 0 in the middle, the widest bound 5% from the edge

        out = []
        for r in compared:
            control = controls.get(r.slice)
            if is_significant(r):
                bad = guardrails.get(metric)
                harmful = (bad == "increase" and r.rel_diff > 0) or (bad == "decrease" and r.rel_diff < 0)
                tone = "bad" if harmful or (bad is None and r.rel_diff < 0) else "good"
            else:
                tone = "neutral"
            finite = math.isfinite(r.rel_ci_lower) and math.isfinite(r.rel_ci_upper)
            left, right = (x(r.rel_ci_lower), x(r.rel_ci_upper)) if finite else (50.0, 50.0)
            label = f"p ({r.correction})" if r.correction else "p"
            out.append(ScoreRow(
                metric, _slice_text(r.slice), r.variant_id,
                format_number(control.estimate) if control else "-", format_number(r.estimate),
                f"[{format_number(r.ci_lower)}, {format_number(r.ci_upper)}]", format_pct(r.rel_diff),
                f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]",
                format_number(r.adjusted_pvalue if r.correction else r.pvalue, 3), label, r.units, tone,
                round(left, 2), round(max(right - left, 0.6), 2),
                round(x(r.rel_diff), 2) if math.isfinite(r.rel_diff) else 50.0, 50.0, r.error,
                format_pct(r.chance_to_beat_control, signed=False)))
        if not compared:  # e.g. a filter that keeps only control
            out = [ScoreRow(metric, _slice_text(r.slice), r.variant_id, format_number(r.estimate), "-", "-", "-", "-",
                            "-", "p", r.units, "none") for r in controls.values()]
        role = "primary" if metric == experiment.primary_kpi else "guardrail" if metric in guardrails else "metric"
        groups.append(ScoreGroup(metric, role, tuple(out)))
    order = {"primary": 0, "guardrail": 1, "metric": 2}
    return sorted(groups, key=lambda g: order[g.role])


@dataclass(frozen=True)
class CupedRow:
    """One CUPED comparison: the adjusted lift (its interval bar as in the scorecard) next to the unadjusted one."""

    metric: str
    slice: str
    variant_id: str
    units: int
    rel_diff: str  # shown as the lift
    rel_ci: str
    pvalue: str
    raw_rel_diff: str
    raw_rel_ci: str
    raw_pvalue: str
    variance_reduction: str
    theta: str
    tone: str
    bar_left: float = 50.0
    bar_width: float = 0.6
    dot: float = 50.0
    error: str = ""


def cuped_rows(results: Sequence[CupedMetricResult]) -> list[CupedRow]:
    """The CUPED table of a view: per metric, slice and variant, the adjusted and unadjusted lift and the variance
    reduction, all as :class:`~rayab.query.cuped.CupedMetricResult` holds them (nothing is recomputed here).

    >>> from rayab.query.cuped import CupedMetricResult
    >>> r = CupedMetricResult("e", "clicks", "b", (), 100, "a", 0.9, 0.1, 0.05, 0.15, 0.02, 0.01, 0.03, 0.001,
    ...                       0.1, -0.02, 0.22, 0.02, -0.004, 0.044, 0.11, 0.64, 0.95, 200, 0, "")
    >>> row = cuped_rows([r])[0]
    >>> row.rel_diff, row.rel_ci, row.raw_rel_ci, row.variance_reduction, row.tone
    ('+2.00%', '[+1.00%, +3.00%]', '[-0.40%, +4.40%]', '64.00%', 'good')
    """
    bounds = [abs(v) for r in results for v in (r.rel_ci_lower, r.rel_ci_upper, r.raw_rel_ci_lower,
                                                 r.raw_rel_ci_upper) if math.isfinite(v)]
    span = max(bounds, default=0.0) or 1.0

    def x(value: float) -> float:
        return 50.0 + 45.0 * value / span

    out = []
    for r in results:
        significant = math.isfinite(r.rel_ci_lower) and (r.rel_ci_lower > 0 or r.rel_ci_upper < 0)
        tone = ("good" if r.rel_diff > 0 else "bad") if significant else "neutral"
        finite = math.isfinite(r.rel_ci_lower) and math.isfinite(r.rel_ci_upper)
        left, right = (x(r.rel_ci_lower), x(r.rel_ci_upper)) if finite else (50.0, 50.0)
        out.append(CupedRow(
            r.metric, _slice_text(r.slice), r.variant_id, r.units, format_pct(r.rel_diff),
            f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]", format_number(r.pvalue, 3),
            format_pct(r.raw_rel_diff), f"[{format_pct(r.raw_rel_ci_lower)}, {format_pct(r.raw_rel_ci_upper)}]",
            format_number(r.raw_pvalue, 3), format_pct(r.variance_reduction, signed=False),
            format_number(r.theta), tone, round(left, 2), round(max(right - left, 0.6), 2),
            round(x(r.rel_diff), 2) if math.isfinite(r.rel_diff) else 50.0, r.error))
    return out


def _finite(value: float) -> float | None:
    return round(value * 100.0, 4) if math.isfinite(value) else None


def chart_series(series: Sequence[MetricResult], metric: str) -> dict[str, Any]:
    """The cumulative lift (percent) of ``metric`` per variant as of every hour, for the chart (unsliced rows)."""
    rows = [r for r in series if r.metric == metric and not r.slice and r.variant_id != r.control_id]
    hours = sorted({r.end_hour for r in rows})
    position = {h: i for i, h in enumerate(hours)}
    variants: dict[str, dict[str, list[float | None]]] = {}
    for r in rows:
        entry = variants.setdefault(r.variant_id, {k: [None] * len(hours) for k in ("rel_diff", "low", "high")})
        i = position[r.end_hour]
        entry["rel_diff"][i], entry["low"][i], entry["high"][i] = (_finite(r.rel_diff), _finite(r.rel_ci_lower),
                                                               _finite(r.rel_ci_upper))
    return {"metric": metric, "x": [int(parse_hour(h).timestamp()) for h in hours], "hours": hours,
            "variants": [{"variant": v, **values} for v, values in variants.items()]}


def units_per_day(health: Sequence[HealthCheck], planned: int = 0) -> dict[str, Any]:
    """First assignments per UTC day, from the ``assignment_rate`` check's hourly counts, their running total and
    the ``planned`` sample (0: none) the running total heads for.

    >>> check = HealthCheck("assignment_rate", "ok", "", {"assignments_per_hour": {
    ...     "2026-11-23T00": 5, "2026-11-23T23": 5, "2026-11-24T00": 30}})
    >>> u = units_per_day([check], planned=80)
    >>> u["days"], u["units"], u["cumulative"], u["planned"]
    (['2026-11-23', '2026-11-24'], [10, 30], [10, 40], 80)
    """
    per_hour: Mapping[str, int] = next((c.details.get("assignments_per_hour", {}) for c in health
                                        if c.name == "assignment_rate"), {})
    days: dict[str, int] = {}
    for hour, count in per_hour.items():
        days[hour[:10]] = days.get(hour[:10], 0) + int(count)
    names = sorted(days)
    cumulative, total = [], 0
    for d in names:
        total += days[d]
        cumulative.append(total)
    return {"days": names, "x": [int(datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
                                 for d in names], "units": [days[d] for d in names], "cumulative": cumulative,
            "planned": planned}


@dataclass(frozen=True)
class CatalogueRow:
    """One experiment in the catalogue (the cheap fields; the lift and health arrive per row)."""

    exp_id: str
    name: str
    status: str
    start: str
    days: str
    layer: str
    primary_kpi: str
    rollout: str
    owner: str = ""
    description: str = ""


def _shorten(text: str, width: int = 120) -> str:
    """The first ``width`` characters of ``text`` on one line, with an ellipsis when cut.

    >>> _shorten("a  b   c"), _shorten("x" * 10, 4)
    ('a b c', 'xxx…')
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


def catalogue_row(experiment: Experiment, now: datetime) -> CatalogueRow:
    """The catalogue fields that need no query."""
    return CatalogueRow(experiment.exp_id, experiment.name, str(experiment.status),
                        experiment.start_time.strftime("%Y-%m-%d %H:%M"), f"{_days(experiment, now):.1f}",
                        experiment.layer or "", experiment.primary_kpi, f"{experiment.rollout_pct:g}%",
                        experiment.owner, _shorten(experiment.description))


def matches(experiment: Experiment, query: str = "", status: str = "", layer: str = "") -> bool:
    """Whether the catalogue's search (id, name, owner, description or KPI; any case) and filters keep it.

    >>> from rayab.simulate import demo_config
    >>> exp = demo_config().experiment("ranker_v2")
    >>> matches(exp, "RANKER"), matches(exp, status="stopped"), matches(exp, layer=exp.layer), matches(exp, layer="x")
    (True, False, True, False)
    """
    text = query.strip().lower()
    haystack = (experiment.exp_id, experiment.name, experiment.primary_kpi, experiment.owner, experiment.description)
    return ((not status or str(experiment.status) == status) and (not layer or experiment.layer == layer)
            and (not text or any(text in h.lower() for h in haystack)))


def summary(experiment: Experiment, overall: Sequence[MetricResult], health: Sequence[HealthCheck]) -> dict[str, str]:
    """The lazily loaded catalogue cells: units so far, the primary KPI's lift and interval, the health badge."""
    units = sum(r.units for r in overall if r.metric == experiment.primary_kpi and not r.slice)
    arms = [r for r in overall if r.metric == experiment.primary_kpi and not r.slice
            and r.variant_id != r.control_id]
    best = max(arms, key=lambda r: abs(r.rel_diff) if math.isfinite(r.rel_diff) else -1.0, default=None)
    status = worst_status(health)
    reasons = "; ".join(f"{c.name}: {c.reason}" for c in health if c.status != "ok")
    return {"units": str(units), "rel_diff": _rel_diff_text(best) if best else "-",
            "variant": best.variant_id if best else "",
            "tone": ("good" if best.rel_diff > 0 else "bad") if best and is_significant(best) else "neutral",
            "health": status, "health_reason": reasons or "every check passed"}
