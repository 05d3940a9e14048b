"""Results over a window, checked against a direct numpy computation over the raw events with the same weights."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import NotFoundError, ValidationError
from rayab.model import AnalysisType, Metric
from rayab.model.hours import hours_between
from rayab.query.compare import compare_metric
from rayab.query.filters import Equals, In, parse_filter
from rayab.query.results import cumulative_results, experiment_results, run_query
from rayab.query.spec import Query
from rayab.query.window import read_window
from rayab.stats.bootstrap import QUANTILE_METHOD
from rayab.stats.multiplicity import adjust_pvalues
from rayab.stats.poisson_weights import weights_for
from rayab.stats.sequential import confidence_sequence
from rayab.storage.partitions import list_partition_files
from tests.worlds import World

START, END = "2026-11-23T00", "2026-11-23T03"
Row = dict[str, Any]


def _direct(world: World, exp_id: str, end: str = END, keep: Callable[[Row], bool] = lambda row: True,
            by: Sequence[str] = ()) -> dict[tuple[str, ...], dict[str, np.ndarray]]:
    """Per (variant, *by): raw and replicate totals of clicks, impressions, revenue (cents), units, from raw rows."""
    exp = world.config.experiment(exp_id)
    b = world.analysis_type.n_replicates
    hours = set(hours_between(START, end))
    per_unit: dict[tuple[tuple[str, ...], str], np.ndarray] = defaultdict(lambda: np.zeros(4))
    for hour, events in world.events.items():
        if hour not in hours:
            continue
        for row in events.filter(pc.equal(events.column("exp_id"), exp_id)).to_pylist():
            if keep(row):
                cell = (row["variant_id"], *(row[d] for d in by))
                per_unit[(cell, row["unit_id"])] += [row["clicks"], row["impressions"], round(row["revenue"] * 100), 0]
    for row in world.assignments.to_pylist():
        if row["exp_id"] == exp_id and row["assigned_at"].strftime("%Y-%m-%dT%H") in hours and keep(row):
            per_unit[((row["variant_id"], *(row[d] for d in by)), row["unit_id"])][3] = 1
    out: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for (cell, unit), values in per_unit.items():
        w = weights_for(exp.bootstrap_salt, [unit], b)[0].astype(float)
        entry = out.setdefault(cell, {"raw": np.zeros(4), "reps": np.zeros((4, b))})
        entry["raw"] += values
        entry["reps"] += values[:, None] * w[None, :]
    return out


def same_results(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal results, NaN equal to NaN."""
    def key(r: Any) -> tuple[Any, ...]:
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r)
    return [key(r) for r in a] == [key(r) for r in b]


def _ctr_and_rpu(entry: dict[str, np.ndarray]) -> dict[str, tuple[float, np.ndarray]]:
    raw, reps = entry["raw"], entry["reps"]
    with np.errstate(divide="ignore", invalid="ignore"):  # a cell without impressions: NaN, as the engine says
        return {"ctr": (raw[0] / raw[1], reps[0] / reps[1]),
                "revenue_per_unit": (raw[2] / 100 / raw[3], reps[2] / 100 / reps[3])}


def _check_against_direct(results: Sequence[Any], direct: dict[tuple[str, ...], dict[str, np.ndarray]],
                          level: float) -> int:
    q = [(1 - level) / 2, (1 + level) / 2]
    checked = 0
    for r in results:
        cell = (r.variant_id, *(v for _, v in r.slice))
        estimate, reps = _ctr_and_rpu(direct[cell])[r.metric]
        assert r.estimate == pytest.approx(estimate, rel=1e-12)
        assert r.units == direct[cell]["raw"][3]
        if not r.error:
            np.testing.assert_allclose([r.ci_lower, r.ci_upper], np.quantile(reps, q, method=QUANTILE_METHOD),
                                       rtol=1e-9)
        if r.variant_id == "treatment" and not r.error:
            _, control = _ctr_and_rpu(direct[("control", *cell[1:])])[r.metric]
            np.testing.assert_allclose([r.abs_ci_lower, r.abs_ci_upper],
                                       np.quantile(reps - control, q, method=QUANTILE_METHOD), rtol=1e-9)
            np.testing.assert_allclose([r.rel_ci_lower, r.rel_ci_upper],
                                       np.quantile(reps / control - 1, q, method=QUANTILE_METHOD), rtol=1e-9)
        checked += 1
    return checked


def test_ctr_and_revenue_per_unit_match_numpy_on_raw_events(agg_world: World) -> None:
    exp = agg_world.config.experiment("ranker_v2")
    results = experiment_results(agg_world.warehouse, agg_world.analysis_type, exp, START, "2026-11-23T02",
                                 metrics=["ctr", "revenue_per_unit"], confidence_level=0.9)
    assert _check_against_direct(results, _direct(agg_world, "ranker_v2", "2026-11-23T02"), 0.9) == 4
    control = next(r for r in results if r.variant_id == "control")
    assert math.isnan(control.rel_diff) and math.isnan(control.pvalue)


def test_filtered_crossed_slices_match_numpy_on_filtered_events(agg_world: World) -> None:
    exp = agg_world.config.experiment("ranker_v2")
    where = parse_filter("platform IN ('ios', 'android') AND country != 'US'")
    query = Query("ranker_v2", START, END, metrics=("ctr", "revenue_per_unit"), projection=("country", "platform"),
                  where=where, confidence_level=0.8)
    results = run_query(agg_world.warehouse, agg_world.analysis_type, exp, query)
    direct = _direct(agg_world, "ranker_v2", keep=lambda r: r["platform"] in ("ios", "android")
                     and r["country"] != "US", by=("country", "platform"))
    assert {(r.variant_id, *(v for _, v in r.slice)) for r in results} == set(direct)
    assert _check_against_direct(results, direct, 0.8) == 2 * len(direct)


def test_projection_slices_sum_to_the_total_and_crosses_to_single_dimensions(agg_world: World) -> None:
    exp = agg_world.config.experiment("aa_check")

    def clicks(projection: tuple[str, ...]) -> dict[tuple[str, ...], float]:
        rows = experiment_results(agg_world.warehouse, agg_world.analysis_type, exp, START, END,
                                  metrics=["clicks"], projection=projection)
        assert all(tuple(k for k, _ in r.slice) == projection for r in rows)
        return {(r.variant_id, *(v for _, v in r.slice)): r.estimate for r in rows}

    total, by_country, crossed = clicks(()), clicks(("country",)), clicks(("country", "platform"))
    for variant in ("a", "b"):
        assert sum(v for k, v in by_country.items() if k[0] == variant) == total[(variant,)]
        for country in {k[1] for k in by_country}:
            assert sum(v for k, v in crossed.items() if k[:2] == (variant, country)) == by_country[(variant, country)]


def test_cumulative_results_equal_a_query_of_each_prefix_window(agg_world: World) -> None:
    exp = agg_world.config.experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr", "units"), projection=("platform",))
    series = cumulative_results(agg_world.warehouse, agg_world.analysis_type, exp, query)
    ends = sorted({r.end_hour for r in series})
    assert ends == ["2026-11-23T01", "2026-11-23T02", "2026-11-23T03"]
    for end in ends:
        prefix = run_query(agg_world.warehouse, agg_world.analysis_type, exp,
                           Query("ranker_v2", START, end, metrics=("ctr", "units"), projection=("platform",)))
        at_end = [r for r in series if r.end_hour == end]
        assert same_results([r._replace(end_hour="") for r in at_end], [r._replace(end_hour="") for r in prefix])
    units = [r.units for r in series if r.metric == "units" and r.variant_id == "control" and r.slice[0][1] == "web"]
    assert units == sorted(units) and units[0] < units[-1]


def test_holm_and_bh_across_metrics_and_variants_keep_input_order(agg_world: World) -> None:
    exp = agg_world.config.experiment("ranker_v2")
    base = Query("ranker_v2", START, END, metrics=("ctr", "rpm", "revenue_per_unit", "clicks"),
                 projection=("platform",))
    plain = run_query(agg_world.warehouse, agg_world.analysis_type, exp, base)
    for method in ("holm", "bh", "bonferroni"):
        for across in (False, True):
            query = Query(**{**base.__dict__, "correction": method, "correct_across_slices": across})
            corrected = run_query(agg_world.warehouse, agg_world.analysis_type, exp, query)
            assert [(r.metric, r.variant_id, r.slice, r.pvalue) for r in corrected] == \
                [(r.metric, r.variant_id, r.slice, r.pvalue) for r in plain]
            families: dict[object, list[int]] = defaultdict(list)
            for i, r in enumerate(plain):
                if r.variant_id == "treatment" and math.isfinite(r.pvalue):
                    families[() if across else r.slice].append(i)
            assert sum(len(f) for f in families.values()) == 16  # 4 metrics x 1 variant x 4 platforms
            for members in families.values():
                expected = adjust_pvalues([plain[i].pvalue for i in members], method).pvalues
                assert [corrected[i].adjusted_pvalue for i in members] == pytest.approx(expected, rel=1e-12)
            assert all(math.isnan(r.adjusted_pvalue) for r in corrected if r.variant_id == "control")


def test_sequential_intervals_are_confidence_sequences_with_the_bootstrap_se(agg_world: World) -> None:
    # every hour of the window is a look: the reported interval is the intersection of the looks' confidence
    # sequences (each from the bootstrap SE over [START, hour)) and the p-value their minimum
    exp = agg_world.config.experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr",), interval="sequential", planned_units=3000)
    [control, treatment] = run_query(agg_world.warehouse, agg_world.analysis_type, exp, query)
    fixed = run_query(agg_world.warehouse, agg_world.analysis_type, exp, Query("ranker_v2", START, END,
                                                                              metrics=("ctr",)))[1]
    looks, own_looks = [], []
    for end in (*hours_between(START, END)[1:], END):
        direct = _direct(agg_world, "ranker_v2", end=end)
        c, t = (_ctr_and_rpu(direct[(v,)])["ctr"] for v in ("control", "treatment"))
        n = int(direct[("control",)]["raw"][3] + direct[("treatment",)]["raw"][3])
        looks.append(confidence_sequence(t[0] - c[0], float(np.std(t[1] - c[1], ddof=1)), n, planned_n=3000))
        own_looks.append(confidence_sequence(c[0], float(np.std(c[1], ddof=1)), int(direct[("control",)]["raw"][3]),
                                             planned_n=3000))
    expected = (max(cs.ci_lower for cs in looks), min(cs.ci_upper for cs in looks), min(cs.pvalue for cs in looks))
    assert (treatment.abs_ci_lower, treatment.abs_ci_upper, treatment.pvalue) == pytest.approx(expected, rel=1e-9)
    assert treatment.interval == "sequential" and treatment.abs_diff == fixed.abs_diff
    assert treatment.abs_ci_upper - treatment.abs_ci_lower > fixed.abs_ci_upper - fixed.abs_ci_lower
    assert (control.ci_lower, control.ci_upper) == pytest.approx(
        (max(cs.ci_lower for cs in own_looks), min(cs.ci_upper for cs in own_looks)), rel=1e-9)


def _ratio_sums(clicks: np.ndarray, impressions: np.ndarray) -> CellSums:
    """Two variants (control, treatment) of hand-made replicate sums, B = clicks.shape[1]."""
    n_events = np.array([10, 10])
    raw = {"clicks": clicks.sum(axis=1) // clicks.shape[1], "impressions": impressions.sum(axis=1)
           // impressions.shape[1], "units": np.array([5, 5])}
    reps = {"clicks": clicks, "impressions": impressions, "units": np.full_like(clicks, 5)}
    return CellSums(("variant_id",), (("control",), ("treatment",)), n_events, raw, reps, (START,))


def test_zero_denominator_replicates_are_counted_and_reported() -> None:
    at = AnalysisType("t", (Metric("clicks"), Metric("impressions")), n_replicates=200,
                      composed={"ctr": "clicks / impressions"})
    from rayab.simulate import demo_config

    exp = demo_config().experiment("ranker_v2")
    rng = np.random.default_rng(3)
    impressions = rng.poisson(3.0, (2, 200))
    clicks = rng.binomial(impressions, 0.3)
    zeros = (impressions == 0).sum(axis=1)
    assert zeros[0] > 2  # the control arm has a few resamples without any impression
    query = Query(exp.exp_id, START, END, metrics=("ctr",), max_invalid_fraction=0.5)
    control, treatment = compare_metric(_ratio_sums(clicks, impressions), at, exp, "ctr", query)
    assert control.n_invalid == zeros[0] and control.error == ""
    valid = clicks[0][impressions[0] > 0] / impressions[0][impressions[0] > 0]
    assert [control.ci_lower, control.ci_upper] == pytest.approx(np.quantile(valid, [0.025, 0.975]), rel=1e-12)
    either = ((impressions[0] == 0) | (impressions[1] == 0) | (clicks[0] == 0)).sum()
    assert treatment.n_invalid == either  # the lift is undefined where control's ctr is 0 or undefined
    strict = Query(exp.exp_id, START, END, metrics=("ctr",))
    control, _ = compare_metric(_ratio_sums(clicks, impressions), at, exp, "ctr", strict)
    assert control.error == "too_many_invalid_replicates" and math.isnan(control.ci_lower)
    assert control.n_invalid == zeros[0] and math.isfinite(control.estimate)


def test_reads_only_the_window_partitions_and_the_needed_columns(agg_world: World) -> None:
    at = agg_world.analysis_type
    files = list_partition_files(agg_world.warehouse, at.table, "aa_check", ["2026-11-23T01", "2026-11-24T00"])
    assert [f.hour for f in files] == ["2026-11-23T01"] and "exp_id=aa_check/hour=2026-11-23T01/" in files[0].path
    table = read_window(agg_world.warehouse, at, "aa_check", "2026-11-23T01", "2026-11-23T02", ["clicks"],
                        ["country"], Equals("platform", "web"))
    assert sorted(table.column_names) == sorted(["variant_id", "country", "platform", "n_events", "clicks",
                                                 "clicks_reps", "hour"])
    assert set(table.column("hour").to_pylist()) == {"2026-11-23T01"}


def test_bad_queries_name_the_field(agg_world: World) -> None:
    world = agg_world
    exp = world.config.experiment("aa_check")
    with pytest.raises(ValidationError) as info:
        experiment_results(world.warehouse, world.analysis_type, exp, START, END, metrics=["dwell"])
    assert info.value.field == "metrics[0]"
    with pytest.raises(ValidationError, match="projection"):
        experiment_results(world.warehouse, world.analysis_type, exp, START, END, projection=["browser"])
    with pytest.raises(NotFoundError):
        experiment_results(world.warehouse, world.analysis_type, exp, "2026-12-01T00", "2026-12-01T02")
    with pytest.raises(NotFoundError, match="matching the filter"):
        experiment_results(world.warehouse, world.analysis_type, exp, START, END, where=In("country", ("XX",)))
    bad: list[tuple[dict[str, Any], str]] = [
        ({"where": Equals("browser", "x")}, "where.dimension"),
        ({"where": parse_filter("country = 'US' OR (platform IN ('a') AND browser = 'b')")}, "where.or[1].and[1]"),
        ({"projection": ("country", "country")}, "projection[1]"),
        ({"exp_id": "ranker_v2"}, "exp_id"),
    ]
    for change, field in bad:
        query = Query(**{**Query("aa_check", START, END).__dict__, **change})
        with pytest.raises(ValidationError) as info:
            run_query(world.warehouse, world.analysis_type, exp, query)
        assert info.value.field.startswith(field), (change, info.value)


@pytest.mark.parametrize(("change", "field"), [
    ({"confidence_level": 1.5}, "confidence_level"), ({"method": "bca"}, "method"),
    ({"correction": "fdr"}, "correction"), ({"interval": "always"}, "interval"),
    ({"planned_units": 0}, "planned_units"), ({"end_hour": START}, "end_hour"),
    ({"start_hour": "2026-11-23 00"}, "start_hour"), ({"metrics": "ctr"}, "metrics"),
])
def test_query_validation_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Query(**{"exp_id": "e", "start_hour": START, "end_hour": END, **change})
    assert info.value.field == field


def test_query_from_dict_reads_text_and_mapping_filters() -> None:
    text = Query.from_dict({"exp_id": "e", "start_hour": START, "end_hour": END, "where": "country = 'US'"})
    mapping = Query.from_dict(text.to_dict())
    assert text == mapping and text.where == Equals("country", "US")
    with pytest.raises(ValidationError) as info:
        Query.from_dict({"exp_id": "e", "start_hour": START, "end_hour": END, "colour": "red"})
    assert info.value.field == "colour"
