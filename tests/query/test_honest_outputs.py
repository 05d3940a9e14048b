"""What the results say must not mislead: totals across unequal arms, p-values at the bootstrap's floor, running
sequential looks and the CUPED variance reduction, each checked against plain numpy / scipy on the same numbers."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from rayab.aggregate.cell_sums import CellSums
from rayab.cli.options import format_pvalue, results_table
from rayab.model import AnalysisType, Config, Metric
from rayab.query.compare import compare_metric
from rayab.query.cuped import cuped_from_sums
from rayab.query.results import results_from_sums, running_looks
from rayab.query.spec import Query

B = 200
AT = AnalysisType("t", (Metric("clicks"), Metric("views")), n_replicates=B,
                  composed={"ctr": "clicks / views", "clicks_per_unit": "clicks / units"})


def _config(control_pct: float) -> Config:
    return Config.from_dict({
        "analysis_types": [{"name": "t", "n_replicates": B, "metrics": [{"name": "clicks"}, {"name": "views"}],
                            "composed": {"ctr": "clicks / views", "clicks_per_unit": "clicks / units"}}],
        "experiments": [{"exp_id": "e", "name": "e", "primary_kpi": "ctr", "start_time": "2026-11-23T00:00:00Z",
                         "variants": [{"variant_id": "c", "traffic_pct": control_pct},
                                      {"variant_id": "t", "traffic_pct": 100 - control_pct}]}]})


def _unit_sums(units: dict[str, int], clicks_rate: dict[str, float], seed: int = 1) -> CellSums:
    """Window sums built from per-unit data with Poisson(1) weights drawn here (the query never sees units)."""
    rng = np.random.default_rng(seed)
    raw: dict[str, list[int]] = {"units": [], "clicks": [], "views": []}
    reps: dict[str, list[np.ndarray]] = {"units": [], "clicks": [], "views": []}
    for arm in ("c", "t"):
        n = units[arm]
        views = rng.integers(1, 20, n)
        clicks = rng.binomial(views, clicks_rate[arm])
        w = rng.poisson(1.0, (n, B))
        for name, y in (("units", np.ones(n, np.int64)), ("clicks", clicks), ("views", views)):
            raw[name].append(int(y.sum()))
            reps[name].append((w * y[:, None]).sum(axis=0))
    return CellSums(("variant_id",), (("c",), ("t",)), np.array([1, 1]),
                      {k: np.array(v, np.int64) for k, v in raw.items()},
                      {k: np.array(v, np.int64) for k, v in reps.items()}, ("2026-11-23T00",))


QUERY = Query("e", "2026-11-23T00", "2026-11-23T01", metrics=("units", "clicks", "ctr", "clicks_per_unit"))


def test_totals_of_unequal_arms_are_compared_per_traffic_share() -> None:
    # a 70/30 design that delivered its split: 7,007 vs 2,993 units (SRM fine), same behaviour per unit
    exp = _config(70).experiment("e")
    sums = _unit_sums({"c": 7007, "t": 2993}, {"c": 0.1, "t": 0.1})
    rows = {(r.metric, r.variant_id): r for r in results_from_sums(sums, AT, exp, QUERY)}
    units = rows[("units", "t")]
    # expected share: 2993 * 70/30 against 7007, i.e. -0.33%, not the raw -57.3%
    assert units.contrast == "traffic_share"
    assert units.rel_diff == pytest.approx(2993 * 70 / 30 / 7007 - 1, abs=1e-12)
    assert units.abs_diff == pytest.approx(2993 * 70 / 30 - 7007, abs=1e-9)
    assert abs(units.rel_diff) < 0.005 and units.pvalue > 0.05
    assert stats.chisquare([7007, 2993], [7000, 3000]).pvalue > 0.5  # the SRM test agrees
    clicks = rows[("clicks", "t")]
    expected = (sums.raw["clicks"][1] * 70 / 30) / sums.raw["clicks"][0] - 1
    assert clicks.contrast == "traffic_share" and clicks.rel_diff == pytest.approx(expected, abs=1e-12)
    # ratios are compared as they are: the split cancels
    for name in ("ctr", "clicks_per_unit"):
        r = rows[(name, "t")]
        num, den = ("clicks", "views") if name == "ctr" else ("clicks", "units")
        direct = (sums.raw[num][1] / sums.raw[den][1]) / (sums.raw[num][0] / sums.raw[den][0]) - 1
        assert r.contrast == "direct" and r.rel_diff == pytest.approx(direct, abs=1e-12)
    assert rows[("ctr", "t")].primary_kpi and not rows[("units", "t")].primary_kpi


def test_the_table_sets_the_primary_kpi_apart_and_marks_significance_after_correction() -> None:
    exp = _config(50).experiment("e")
    sums = _unit_sums({"c": 5000, "t": 5000}, {"c": 0.10, "t": 0.13})
    query = Query("e", "2026-11-23T00", "2026-11-23T01", metrics=("units", "clicks", "ctr"), correction="holm")
    results = results_from_sums(sums, AT, exp, query)
    lines = results_table(results).splitlines()
    assert lines[0].split()[-1] == "sig" and "adj. p" in lines[0]
    assert lines[2].split()[1:3] == ["ctr", "[primary]"]
    ctr = next(r for r in results if r.metric == "ctr" and r.variant_id == "t")
    assert ctr.adjusted_pvalue < 0.05 and lines[3].split()[1] == "ctr" and lines[3].rstrip().endswith("*")
    units_line = next(line for line in lines if line.split()[1:3] == ["units", "t"])
    assert not units_line.rstrip().endswith("*")
    text = "\n".join(lines)
    assert "after holm correction" in text and "traffic share" in text


def test_a_p_value_at_the_bootstrap_floor_is_shown_as_a_bound_with_the_normal_p() -> None:
    exp = _config(50).experiment("e")
    sums = _unit_sums({"c": 4000, "t": 4000}, {"c": 0.10, "t": 0.16})
    (ctr,) = [r for r in compare_metric(sums, AT, exp, "ctr", QUERY) if r.variant_id == "t"]
    # every replicate of the difference is above 0: the percentile p-value is its floor 2 / (B + 1)
    assert ctr.pvalue == pytest.approx(2 / (B + 1)) and ctr.pvalue_is_bound
    ctr_c = sums.reps["clicks"][0] / sums.reps["views"][0]
    ctr_t = sums.reps["clicks"][1] / sums.reps["views"][1]
    estimate = sums.raw["clicks"][1] / sums.raw["views"][1] - sums.raw["clicks"][0] / sums.raw["views"][0]
    normal = 2 * stats.norm.sf(abs(estimate) / np.std(ctr_t - ctr_c, ddof=1))
    assert ctr.normal_pvalue == pytest.approx(normal, rel=1e-9) and ctr.normal_pvalue < 1e-10
    assert format_pvalue(ctr.pvalue, ctr.pvalue_is_bound) == "< 0.01"
    table = results_table([r for r in compare_metric(sums, AT, exp, "ctr", QUERY)])
    row = table.splitlines()[3].split()
    assert "<" in row and "0.01" in row
    # an ordinary p-value is not a bound
    null = _unit_sums({"c": 4000, "t": 4000}, {"c": 0.10, "t": 0.10}, seed=3)
    (same,) = [r for r in compare_metric(null, AT, exp, "ctr", QUERY) if r.variant_id == "t"]
    assert not same.pvalue_is_bound and same.pvalue > 2 / (B + 1)


def _look(end: str, p: float, low: float, high: float) -> object:
    from rayab.query.compare import MetricResult

    return MetricResult("e", "ctr", "t", (), 0, 100, 0.1, low, high, "c", 0.01, low, high, 0.1, low, high, p, 0.95,
                        B, 0, "", interval="sequential", end_hour=end)


def test_sequential_p_is_the_running_minimum_and_the_interval_the_running_intersection() -> None:
    # the looks of the issue: 1 -> 0.592 -> 1 -> 1
    looks = [_look("2026-11-23T01", 1.0, -0.30, 0.40), _look("2026-11-23T02", 0.592, -0.10, 0.20),
             _look("2026-11-23T03", 1.0, -0.20, 0.15), _look("2026-11-23T04", 1.0, -0.05, 0.30)]
    out = running_looks(looks)  # type: ignore[arg-type]
    assert [r.pvalue for r in out] == [1.0, 0.592, 0.592, 0.592]
    assert [(r.abs_ci_lower, r.abs_ci_upper) for r in out] == [(-0.30, 0.40), (-0.10, 0.20), (-0.10, 0.15),
                                                                 (-0.05, 0.15)]
    # given out of order, each look still gets the minimum over the earlier hours only
    assert [r.pvalue for r in running_looks(looks[::-1])] == [0.592, 0.592, 0.592, 1.0]  # type: ignore[arg-type]


def test_cumulative_sequential_results_never_lose_evidence(agg_world: object) -> None:
    from rayab.query.results import cumulative_results, run_query
    from tests.worlds import World

    world: World = agg_world  # type: ignore[assignment]
    exp = world.config.experiment("ranker_v2")
    query = Query("ranker_v2", "2026-11-23T00", "2026-11-23T03", metrics=("ctr", "rpm"), interval="sequential",
                  planned_units=500)
    series = cumulative_results(world.warehouse, world.analysis_type, exp, query)
    fixed = cumulative_results(world.warehouse, world.analysis_type, exp, dataclasses.replace(query, interval="fixed"))
    assert len(series) == len(fixed)
    groups: dict[tuple[object, ...], list[object]] = {}
    for r in series:
        if r.variant_id != r.control_id:
            groups.setdefault((r.metric, r.variant_id), []).append(r)
    assert groups
    for looks in groups.values():
        p = [r.pvalue for r in looks]  # type: ignore[attr-defined]
        assert all(b <= a for a, b in itertools.pairwise(p))
        lows = [r.rel_ci_lower for r in looks]  # type: ignore[attr-defined]
        highs = [r.rel_ci_upper for r in looks]  # type: ignore[attr-defined]
        assert all(b >= a for a, b in itertools.pairwise(lows))
        assert all(b <= a for a, b in itertools.pairwise(highs))
    last = [r for r in series if r.end_hour == "2026-11-23T03"]
    assert repr(run_query(world.warehouse, world.analysis_type, exp, query)) == repr(last)


def test_cuped_variance_reduction_is_defined_on_the_difference() -> None:
    rng = np.random.default_rng(5)
    at = AnalysisType("t", (Metric("clicks"),), n_replicates=B, cuped=("clicks",))
    config = Config.from_dict({
        "analysis_types": [{"name": "t", "n_replicates": B, "metrics": [{"name": "clicks"}], "cuped": ["clicks"]}],
        "experiments": [{"exp_id": "e", "name": "e", "primary_kpi": "clicks", "start_time": "2026-11-23T00:00:00Z",
                         "variants": [{"variant_id": "c", "traffic_pct": 50},
                                      {"variant_id": "t", "traffic_pct": 50}]}]})
    columns = ("units", "clicks", "clicks__x", "clicks__xx", "clicks__xy")
    raw: dict[str, list[int]] = {c: [] for c in columns}
    reps: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    data = {}
    for arm, shift in (("c", 0), ("t", 1)):
        x = rng.poisson(5.0, 3000)
        y = rng.poisson(0.6 * x + 1.0 + shift)
        w = rng.poisson(1.0, (3000, B))
        data[arm] = (x, y, w)
        for name, v in zip(columns, (np.ones_like(x), y, x, x * x, x * y), strict=True):
            raw[name].append(int(v.sum()))
            reps[name].append((w * v[:, None]).sum(axis=0))
    sums = CellSums(("variant_id",), (("c",), ("t",)), np.array([1, 1]),
                      {k: np.array(v, np.int64) for k, v in raw.items()},
                      {k: np.array(v, np.int64) for k, v in reps.items()}, ())
    (result,) = cuped_from_sums(sums, at, config.experiment("e"), "clicks",
                                Query("e", "2026-11-23T00", "2026-11-23T01"))
    # independent reference: per replicate, the weighted per-unit data through numpy's weighted covariance
    adjusted, unadjusted, adjusted_rel_diff, unadjusted_rel_diff = [], [], [], []
    for b in range(B):
        x = np.concatenate([data["c"][0], data["t"][0]])
        y = np.concatenate([data["c"][1], data["t"][1]])
        w = np.concatenate([data["c"][2][:, b], data["t"][2][:, b]])
        cov = np.cov(x, y, fweights=w)
        theta = cov[0, 1] / cov[0, 0]
        mean = {arm: (np.average(data[arm][1], weights=data[arm][2][:, b]),
                      np.average(data[arm][0], weights=data[arm][2][:, b])) for arm in ("c", "t")}
        raw_diff = mean["t"][0] - mean["c"][0]
        diff = raw_diff - theta * (mean["t"][1] - mean["c"][1])
        adjusted.append(diff)
        unadjusted.append(raw_diff)
        adjusted_rel_diff.append(diff / mean["c"][0])
        unadjusted_rel_diff.append(raw_diff / mean["c"][0])
    on_diff = 1 - np.var(adjusted, ddof=1) / np.var(unadjusted, ddof=1)
    on_rel_diff = 1 - np.var(adjusted_rel_diff, ddof=1) / np.var(unadjusted_rel_diff, ddof=1)
    assert result.variance_reduction == pytest.approx(on_diff, rel=1e-9)
    assert not math.isclose(result.variance_reduction, on_rel_diff, rel_tol=1e-6)
    assert result.abs_diff == pytest.approx(1.0, abs=0.15)  # the planted +1 click per unit
