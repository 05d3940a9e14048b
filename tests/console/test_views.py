"""The console's layout logic on hand-made results: verdicts, tones and bar geometry, catalogue summaries."""

from __future__ import annotations

import math

from rayab.console import views
from rayab.guardrails.health import HealthCheck
from rayab.model import Experiment
from rayab.query.compare import MetricResult
from rayab.report.formatting import format_number, format_pct

EXP = Experiment.from_dict({"exp_id": "e", "name": "E", "primary_kpi": "ctr", "start_time": "2026-11-23T00:00:00Z",
                            "guardrails": [{"metric": "latency", "bad_direction": "increase"}],
                            "variants": [{"variant_id": "c", "traffic_pct": 50},
                                         {"variant_id": "t", "traffic_pct": 50}]})


def _result(metric: str, variant: str, lift: float, low: float, high: float, p: float = 0.5,
            correction: str = "", adjusted: float = math.nan) -> MetricResult:
    nan = math.nan
    own = variant == "c"
    return MetricResult("e", metric, variant, (), 10, 100, 1.0 + (0 if own else lift), 0.9, 1.1, "c",
                        nan if own else lift, nan, nan, nan if own else lift, nan if own else low,
                        nan if own else high, nan if own else p, 0.95, 64, 0, "", adjusted, correction)


def _check(name: str, status: str, reason: str = "r") -> HealthCheck:
    return HealthCheck(name, status, reason, {})  # type: ignore[arg-type]


def test_srm_stops_before_any_lift() -> None:
    results = [_result("ctr", "c", 0, 0, 0), _result("ctr", "t", 0.05, 0.01, 0.09, 0.01)]
    verdict = views.verdict(EXP, results, [_check("sample_ratio", "fail", "chi-square p = 1e-9")])
    assert (verdict.kind, verdict.text) == ("stop", "stop: SRM (chi-square p = 1e-9)")


def test_a_win_names_the_lift_and_a_harmed_guardrail_turns_it_into_a_loss() -> None:
    results = [_result("ctr", "c", 0, 0, 0), _result("ctr", "t", 0.021, 0.007, 0.035, 0.01)]
    assert views.verdict(EXP, results, []).text == "t wins on ctr (+2.10% [+0.70%, +3.50%]), no guardrail harmed"
    harmed = views.verdict(EXP, results, [_check("guardrail_latency", "fail")])
    assert harmed.kind == "loss" and harmed.text.endswith("guardrail harmed: latency")


def test_no_effect_when_the_interval_holds_zero_and_loss_when_below() -> None:
    flat = views.verdict(EXP, [_result("ctr", "t", 0.01, -0.01, 0.03)], [])
    assert flat.kind == "flat" and flat.text.startswith("no detectable effect yet on ctr (t +1.00% [-1.00%, +3.00%])")
    assert views.verdict(EXP, [_result("ctr", "t", -0.02, -0.03, -0.01)], []).kind == "loss"
    assert views.verdict(EXP, [], []).kind == "empty"


def test_a_correction_decides_by_the_adjusted_p_value() -> None:
    inside = _result("ctr", "t", 0.02, 0.001, 0.04, p=0.04, correction="holm", adjusted=0.08)
    assert not views.is_significant(inside)  # the interval excludes 0 but the corrected p-value is 0.08
    assert views.is_significant(inside._replace(adjusted_pvalue=0.01))


def test_scorecard_orders_roles_and_colours_guardrail_harm() -> None:
    results = [_result("revenue", "t", 0.01, -0.02, 0.04), _result("latency", "t", 0.05, 0.02, 0.08),
               _result("ctr", "c", 0, 0, 0), _result("ctr", "t", -0.04, -0.06, -0.02, 0.001)]
    groups = views.scorecard(EXP, results)
    assert [(g.metric, g.role) for g in groups] == [("ctr", "primary"), ("latency", "guardrail"),
                                                   ("revenue", "metric")]
    ctr, latency, revenue = (g.rows[0] for g in groups)
    assert (ctr.tone, latency.tone, revenue.tone) == ("bad", "bad", "neutral")  # latency up is its bad direction
    assert ctr.rel_diff == format_pct(-0.04) and ctr.pvalue == format_number(0.001, 3)
    assert ctr.control == format_number(1.0)
    # the widest bound sits 5% from the edge of the track, zero in the middle
    assert ctr.bar_left == 5.0 and math.isclose(ctr.bar_left + ctr.bar_width, 35.0) and ctr.zero == 50.0


def test_scorecard_shows_the_chance_to_beat_control_where_available() -> None:
    with_chance = _result("ctr", "t", 0.02, 0.01, 0.03)._replace(chance_to_beat_control=0.9731)
    rows = views.scorecard(EXP, [_result("ctr", "c", 0, 0, 0), with_chance, _result("revenue", "t", 0.0, -1, 1)])
    assert rows[0].rows[0].chance == "97.31%"
    assert rows[1].rows[0].chance == "-"  # results without a readout


def test_formatting_matches_the_cli() -> None:
    for value in (0.0211349, -0.5, 123456.0, 0.07478123, 3.0, math.nan, 12, 1e-7):
        assert views.format_number(value) == format_number(value)
        assert views.format_number(value, 3) == format_number(value, 3)
        if isinstance(value, float):
            assert views.format_pct(value) == format_pct(value)


def test_summary_counts_units_and_picks_the_largest_lift() -> None:
    results = [_result("ctr", "c", 0, 0, 0), _result("ctr", "t", 0.021, 0.007, 0.035)]
    summary = views.summary(EXP, results, [_check("data_completeness", "warn", "1 hour missing")])
    assert summary == {"units": "200", "rel_diff": "+2.10% [+0.70%, +3.50%]", "variant": "t", "tone": "good",
                       "health": "warn", "health_reason": "data_completeness: 1 hour missing"}
