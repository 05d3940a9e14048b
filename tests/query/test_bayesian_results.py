"""Bayesian readouts in the results: GrowthBook's published vector through the results path, and both paths against
a plain numpy / scipy computation on the raw replicate arrays of real aggregated data."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import ValidationError
from rayab.model import AnalysisType, Experiment, Metric, Variant
from rayab.model.guardrail import Guardrail
from rayab.query.compare import MetricResult, compare_metric
from rayab.query.results import experiment_results, run_query
from rayab.query.spec import Query
from tests.query.test_results import START, _ctr_and_rpu, _direct
from tests.worlds import World

VECTOR_TOL = 5e-6 + 1e-12  # the vectors are rounded to 5 decimals


def _experiment(traffic: tuple[float, float] = (50.0, 50.0), guardrails: tuple[Guardrail, ...] = ()) -> Experiment:
    return Experiment("e", "e", datetime(2026, 1, 1, tzinfo=UTC),
                      (Variant("control", traffic[0]), Variant("treatment", traffic[1])), "x", guardrails=guardrails)


def _standardized(rng: np.random.Generator, n: int) -> np.ndarray:
    z = rng.standard_normal(n)
    out: np.ndarray = (z - z.mean()) / z.std(ddof=1)
    return out


def _sums(control: tuple[float, np.ndarray], treatment: tuple[float, np.ndarray]) -> CellSums:
    raw = np.array([control[0], treatment[0]])
    reps = np.stack([control[1], treatment[1]])
    return CellSums(("variant_id",), (("control",), ("treatment",)), np.array([10, 10]), {"x": raw}, {"x": reps},
                      ())


def _treatment(results: list[MetricResult]) -> MetricResult:
    return next(r for r in results if r.variant_id == "treatment")


def test_normal_path_reproduces_the_gbstats_gaussian_vector(gbstats_bayesian: dict[str, Any]) -> None:
    """The vector's arms (n = 10, mean 10 and 10.5, variances of the mean 0.025 and 0.1) as replicate arrays with
    exactly those variances: the results' normal path gives the published numbers to their 5 decimals."""
    case = gbstats_bayesian["gaussian_no_prior"]
    arms = []
    for arm in (case["control"], case["treatment"]):
        n, total, squares = arm["n"], arm["sum"], arm["sum_squares"]
        mean, var_of_mean = total / n, (squares - total * total / n) / (n - 1) / n
        arms.append((mean, var_of_mean))
    rng = np.random.default_rng(1)
    sums = _sums(*[(m, m + math.sqrt(v) * _standardized(rng, 400)) for m, v in arms])
    at = AnalysisType("t", (Metric("x"),), n_replicates=400)
    query = Query("e", "2026-01-01T00", "2026-01-01T01", metrics=("x",), bayesian="normal")
    results = compare_metric(sums, at, _experiment(), "x", query)
    r = _treatment(results)
    assert r.bayesian == "normal" and r.bayes_error == ""
    assert r.chance_to_beat_control == pytest.approx(case["chance_to_win"], abs=VECTOR_TOL)
    assert (r.rel_cred_lower, r.rel_cred_upper) == pytest.approx(case["ci"], abs=VECTOR_TOL)
    assert (r.risk_control, r.risk_variant) == pytest.approx(case["risk"], abs=VECTOR_TOL)
    control = next(x for x in results if x.variant_id == "control")
    assert math.isnan(control.chance_to_beat_control) and math.isnan(control.rel_cred_lower)
    # the bootstrap path reads the same (here normal) replicates: within Monte-Carlo error of the vector
    boot = _treatment(compare_metric(sums, at, _experiment(), "x", Query("e", "2026-01-01T00", "2026-01-01T01")))
    assert boot.bayesian == "bootstrap"
    se = math.sqrt(case["chance_to_win"] * (1 - case["chance_to_win"]) / 400)
    assert abs(boot.chance_to_beat_control - case["chance_to_win"]) < 4 * se


def test_guardrail_that_must_not_increase_beats_control_by_going_down() -> None:
    rng = np.random.default_rng(2)
    sums = _sums((10.0, 10.0 + 0.2 * rng.standard_normal(300)), (10.5, 10.5 + 0.2 * rng.standard_normal(300)))
    at = AnalysisType("t", (Metric("x"),), n_replicates=300)
    query = Query("e", "2026-01-01T00", "2026-01-01T01", metrics=("x",))
    up = _treatment(compare_metric(sums, at, _experiment(), "x", query))
    down = _treatment(compare_metric(sums, at, _experiment(guardrails=(Guardrail("x", "increase"),)), "x", query))
    assert up.chance_to_beat_control == pytest.approx(1.0 - down.chance_to_beat_control, abs=1e-12)
    assert (up.risk_control, up.risk_variant) == pytest.approx((down.risk_variant, down.risk_control), abs=1e-12)
    assert (up.rel_cred_lower, up.rel_cred_upper) == (down.rel_cred_lower, down.rel_cred_upper)


def test_totals_are_compared_at_the_control_traffic_share() -> None:
    """A 70 / 30 split: the variant's total is rescaled by 70 / 30 before the readout, as for the intervals."""
    rng = np.random.default_rng(3)
    c = rng.poisson(700.0, 500).astype(float)
    t = rng.poisson(310.0, 500).astype(float)
    sums = _sums((700.0, c), (310.0, t))
    at = AnalysisType("t", (Metric("x"),), n_replicates=500)
    r = _treatment(compare_metric(sums, at, _experiment((70.0, 30.0)), "x",
                                  Query("e", "2026-01-01T00", "2026-01-01T01", metrics=("x",))))
    scaled = t * 70.0 / 30.0
    assert r.contrast == "traffic_share"
    assert r.chance_to_beat_control == pytest.approx(np.mean(scaled > c) + 0.5 * np.mean(scaled == c), abs=1e-12)
    assert r.risk_control == pytest.approx(np.mean(np.maximum(scaled - c, 0)), rel=1e-12)


def test_nonpositive_means_leave_the_normal_path_empty_with_its_reason() -> None:
    rng = np.random.default_rng(4)
    sums = _sums((0.0, np.abs(rng.standard_normal(100))), (1.0, 1.0 + rng.standard_normal(100)))
    at = AnalysisType("t", (Metric("x", allow_negative=True),), n_replicates=100)
    r = _treatment(compare_metric(sums, at, _experiment(), "x",
                                  Query("e", "2026-01-01T00", "2026-01-01T01", metrics=("x",), bayesian="normal")))
    assert r.bayes_error == "nonpositive_mean" and math.isnan(r.chance_to_beat_control)


@pytest.mark.parametrize("path", ["bootstrap", "normal"])
def test_a_slice_with_only_control_has_no_readout_and_no_error(path: str) -> None:
    sums = CellSums(("variant_id",), (("control",),), np.array([3]), {"x": np.array([5.0])},
                      {"x": np.array([[4.0, 6.0, 5.0]])}, ())
    at = AnalysisType("t", (Metric("x"),), n_replicates=3)
    (r,) = compare_metric(sums, at, _experiment(), "x", Query("e", "2026-01-01T00", "2026-01-01T01",
                                                               bayesian=path))  # type: ignore[arg-type]
    assert math.isnan(r.chance_to_beat_control) and r.bayes_error == "" and r.bayesian == path


def test_an_unknown_bayesian_path_names_the_field() -> None:
    with pytest.raises(ValidationError, match="bayesian == 'flat'"):
        Query("e", "2026-01-01T00", "2026-01-01T01", bayesian="flat")  # type: ignore[arg-type]


def _normal_reference(c_est: float, t_est: float, c: np.ndarray, t: np.ndarray, level: float) -> dict[str, float]:
    """The lognormal readout by hand: log ratio moments from the replicate variances, risks by quadrature."""
    vc, vt = np.var(c, ddof=1), np.var(t, ddof=1)
    mu, s = math.log(t_est / c_est), math.sqrt(vc / c_est**2 + vt / t_est**2)
    z = stats.norm.ppf((1 + level) / 2)
    sd = math.sqrt(vc + vt)
    density = stats.norm(t_est - c_est, sd)
    lo, hi = t_est - c_est - 12 * sd, t_est - c_est + 12 * sd
    gain = integrate.quad(lambda d: max(d, 0.0) * density.pdf(d), lo, hi, points=[0.0], limit=200)[0]
    loss = integrate.quad(lambda d: max(-d, 0.0) * density.pdf(d), lo, hi, points=[0.0], limit=200)[0]
    return {"chance": float(stats.norm.cdf(mu / s)), "low": math.expm1(mu - z * s), "high": math.expm1(mu + z * s),
            "risk_control": gain, "risk_variant": loss}


def test_both_paths_match_numpy_on_the_raw_replicates_of_real_aggregates(agg_world: World) -> None:
    """ctr and revenue per unit of the real pipeline's aggregates: the bootstrap readout equals plain numpy on the
    replicate totals recomputed from the raw events and weights; the normal readout equals the formulas by hand."""
    exp = agg_world.config.experiment("ranker_v2")
    direct = _direct(agg_world, "ranker_v2", "2026-11-23T02")
    level = 0.9
    boot = experiment_results(agg_world.warehouse, agg_world.analysis_type, exp, START, "2026-11-23T02",
                              metrics=["ctr", "revenue_per_unit"], confidence_level=level)
    query = Query("ranker_v2", START, "2026-11-23T02", metrics=("ctr", "revenue_per_unit"), confidence_level=level,
                  bayesian="normal")
    normal = run_query(agg_world.warehouse, agg_world.analysis_type, exp, query)
    checked = 0
    for b, n in zip(boot, normal, strict=True):
        if b.variant_id == b.control_id:
            continue
        c_est, c = _ctr_and_rpu(direct[("control",)])[b.metric]
        t_est, t = _ctr_and_rpu(direct[(b.variant_id,)])[b.metric]
        assert b.bayesian == "bootstrap" and b.bayes_error == ""
        assert b.chance_to_beat_control == pytest.approx(np.mean(t > c) + 0.5 * np.mean(t == c), abs=1e-12)
        assert b.risk_control == pytest.approx(np.mean(np.maximum(t - c, 0)), rel=1e-9, abs=1e-15)
        assert b.risk_variant == pytest.approx(np.mean(np.maximum(c - t, 0)), rel=1e-9, abs=1e-15)
        np.testing.assert_allclose([b.rel_cred_lower, b.rel_cred_upper],
                                   np.quantile(t / c - 1, [(1 - level) / 2, (1 + level) / 2]), rtol=1e-9)
        ref = _normal_reference(c_est, t_est, c, t, level)
        assert n.bayesian == "normal"
        assert n.chance_to_beat_control == pytest.approx(ref["chance"], abs=1e-9)
        assert (n.rel_cred_lower, n.rel_cred_upper) == pytest.approx((ref["low"], ref["high"]), rel=1e-9)
        assert (n.risk_control, n.risk_variant) == pytest.approx((ref["risk_control"], ref["risk_variant"]),
                                                                 rel=1e-6, abs=1e-12)
        checked += 1
    assert checked == 2
