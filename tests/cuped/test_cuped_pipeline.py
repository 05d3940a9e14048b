"""CUPED per replicate from the hourly sums: equal to closed-form CUPED on raw per-unit data, reduces variance on a
correlated covariate, keeps an A/A interval around 0; the pre-period bias check flags a planted imbalance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayab.guardrails.health import experiment_health
from rayab.hourly.job import run_hour
from rayab.model import cuped_column
from rayab.query.cuped import pre_period_bias, run_cuped_query
from rayab.query.spec import Query
from rayab.query.window import sum_partitions
from rayab.stats.poisson_weights import weights_for
from tests.cuped.worlds import CupedWorld, make_cuped_world
from tests.oracles.cuped import cuped_test
from tests.oracles.moments import CupedStats

pytestmark = pytest.mark.usefixtures("ray_local")


@pytest.fixture(scope="module")
def cw(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> CupedWorld:
    # aa_check gets a planted pre-period imbalance in revenue only; its clicks covariate stays healthy
    out = make_cuped_world(Path(tmp_path_factory.mktemp("cuped")), imbalance={"aa_check": ("revenue", "b")})
    for hour in out.world.hours:
        run_hour(out.world.config, hour, out.world.logs, out.world.warehouse)
    return out


def _window(cw: CupedWorld) -> tuple[str, str]:
    return cw.world.hours[0], f"2026-11-23T{len(cw.world.hours):02d}"


def _closed_form(cw: CupedWorld, exp_id: str, metric: str, control: str, treatment: str,
                 keep: set[str] | None = None) -> tuple[CupedStats, CupedStats]:
    variant, y, x = cw.unit_table(exp_id, metric)
    arms = []
    for arm in (control, treatment):
        units = [u for u, v in variant.items() if v == arm and (keep is None or u in keep)]
        arms.append(CupedStats.from_values([y[u] for u in units], [x[u] for u in units]))
    return arms[0], arms[1]


@pytest.mark.parametrize(("exp_id", "metric"), [("ranker_v2", "clicks"), ("ranker_v2", "revenue"),
                                                ("aa_check", "clicks")])
def test_point_estimate_equals_closed_form_cuped(cw: CupedWorld, exp_id: str, metric: str) -> None:
    at, exp = cw.world.analysis_type, cw.world.config.experiment(exp_id)
    start, end = _window(cw)
    (result,) = run_cuped_query(cw.world.warehouse, at, exp, Query(exp_id, start, end, metrics=(metric,)))
    control, treatment = _closed_form(cw, exp_id, metric, exp.control_id, result.variant_id)
    absolute, relative = cuped_test(control, treatment), cuped_test(control, treatment, relative=True)
    assert result.units == control.n + treatment.n
    assert result.theta == pytest.approx(absolute.theta, rel=1e-9, abs=1e-9)
    assert result.abs_diff == pytest.approx(absolute.estimate, rel=1e-9, abs=1e-9)
    assert result.rel_diff == pytest.approx(relative.estimate, rel=1e-9, abs=1e-9)
    unadjusted = treatment.post.mean - control.post.mean
    assert result.raw_abs_diff == pytest.approx(unadjusted, rel=1e-9, abs=1e-9)


def test_cuped_per_slice_equals_closed_form_on_the_slice(cw: CupedWorld) -> None:
    at, exp = cw.world.analysis_type, cw.world.config.experiment("ranker_v2")
    start, end = _window(cw)
    results = run_cuped_query(cw.world.warehouse, at, exp, Query("ranker_v2", start, end, metrics=("clicks",),
                                                                 projection=("platform",)))
    assigned = cw.world.assignments.to_pylist()
    assert len(results) >= 2
    for r in results:
        platform = dict(r.slice)["platform"]
        keep = {a["unit_id"] for a in assigned if a["exp_id"] == "ranker_v2" and a["platform"] == platform}
        control, treatment = _closed_form(cw, "ranker_v2", "clicks", "control", "treatment", keep)
        assert r.abs_diff == pytest.approx(cuped_test(control, treatment).estimate, rel=1e-9, abs=1e-9)


def test_replicate_sums_are_weighted_unit_products(cw: CupedWorld) -> None:
    """Every replicate of clicks__xy / __x / __xx is sum_u w_ub * (x y, x, x^2) over the raw per-unit data."""
    at, exp = cw.world.analysis_type, cw.world.config.experiment("ranker_v2")
    start, end = _window(cw)
    columns = ["units", "clicks", *(cuped_column("clicks", s) for s in ("x", "xx", "xy"))]
    sums = sum_partitions(cw.world.warehouse, at, "ranker_v2", start, end, columns)
    variant, y, x = cw.unit_table("ranker_v2", "clicks")
    for arm in ("control", "treatment"):
        units = sorted(u for u, v in variant.items() if v == arm)
        w = weights_for(exp.bootstrap_salt, units, at.n_replicates).astype(np.int64)
        xv = np.array([int(x[u]) for u in units], np.int64)
        yv = np.array([int(y[u]) for u in units], np.int64)
        i = sums.cell((arm,))
        assert sums.reps["clicks__xy"][i].tolist() == (w.T @ (xv * yv)).tolist()
        assert sums.reps["clicks__x"][i].tolist() == (w.T @ xv).tolist()
        assert sums.reps["clicks__xx"][i].tolist() == (w.T @ (xv * xv)).tolist()
        assert int(sums.raw["clicks__xy"][i]) == int(xv @ yv)


def test_cuped_reduces_variance_on_a_correlated_covariate(cw: CupedWorld) -> None:
    at, exp = cw.world.analysis_type, cw.world.config.experiment("ranker_v2")
    start, end = _window(cw)
    (r,) = run_cuped_query(cw.world.warehouse, at, exp, Query("ranker_v2", start, end, metrics=("clicks",)))
    assert r.variance_reduction > 0.2, r
    assert (r.rel_ci_upper - r.rel_ci_lower) < (r.raw_rel_ci_upper - r.raw_rel_ci_lower)


def test_aa_cuped_interval_contains_zero(cw: CupedWorld) -> None:
    at, exp = cw.world.analysis_type, cw.world.config.experiment("aa_check")
    start, end = _window(cw)
    (r,) = run_cuped_query(cw.world.warehouse, at, exp, Query("aa_check", start, end, metrics=("clicks",)))
    assert r.rel_ci_lower < 0 < r.rel_ci_upper
    assert r.abs_ci_lower < 0 < r.abs_ci_upper


def test_pre_period_bias_flags_the_planted_imbalance(cw: CupedWorld) -> None:
    at = cw.world.analysis_type
    start, end = _window(cw)
    checks = {exp_id: {c.name: c for c in experiment_health(cw.world.warehouse, cw.world.config, exp_id, start, end)}
              for exp_id in ("ranker_v2", "aa_check")}
    assert checks["ranker_v2"]["pre_period_bias"].status == "ok", checks["ranker_v2"]["pre_period_bias"].reason
    planted = checks["aa_check"]["pre_period_bias"]
    assert planted.status == "fail" and "revenue b" in planted.reason, planted.reason
    # the comparison itself: the tripled covariate shows as about +200% in revenue, clicks stays balanced
    results = {r.metric: r for r in pre_period_bias(cw.world.warehouse, at, cw.world.config.experiment("aa_check"),
                                                    Query("aa_check", start, end, method="normal"))}
    assert results["revenue"].rel_diff == pytest.approx(2.0, abs=0.3)
    assert results["clicks"].pvalue > 0.01


def test_cli_results_cuped_prints_adjusted_next_to_raw(cw: CupedWorld, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rayab.cli.main import main

    config = tmp_path / "config.json"
    config.write_text(json.dumps(cw.world.config.to_dict()))
    start, end = _window(cw)
    assert main(["results", "--warehouse", cw.world.warehouse.url, "--config", str(config), "--exp", "ranker_v2",
                 "--start", start, "--end", end, "--cuped", "--metric", "clicks", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    (expected,) = run_cuped_query(cw.world.warehouse, cw.world.analysis_type, cw.world.config.experiment("ranker_v2"),
                                  Query("ranker_v2", start, end, metrics=("clicks",)))
    assert row["rel_diff"] == pytest.approx(expected.rel_diff) and row["variance_reduction"] > 0.2


def test_results_service_returns_cuped_results(cw: CupedWorld) -> None:
    import asyncio

    from rayab.api.engine import ResultsEngine
    from rayab.rpc._generated import results_pb2 as rpb
    from rayab.rpc.results_service import ResultsService
    from rayab.storage.specs import save_config

    class Context:
        def time_remaining(self) -> None:
            return None

    save_config(cw.world.warehouse, cw.world.config)
    start, end = _window(cw)
    service = ResultsService(ResultsEngine(cw.world.warehouse))
    query = rpb.ResultsQuery(exp_id="ranker_v2", start_hour=start, end_hour=end, metrics=["clicks", "ctr"])
    request = rpb.QueryResultsRequest(query=query, cuped=True)
    response: rpb.QueryResultsResponse = asyncio.run(service.QueryResults(request, Context()))  # type: ignore[arg-type]
    (message,) = response.cuped_results
    (expected,) = run_cuped_query(cw.world.warehouse, cw.world.analysis_type, cw.world.config.experiment("ranker_v2"),
                                  Query("ranker_v2", start, end, metrics=("clicks",)))
    assert (message.metric, message.variant_id) == ("clicks", "treatment")
    assert message.rel_diff == pytest.approx(expected.rel_diff)
    assert message.variance_reduction == pytest.approx(expected.variance_reduction)
    assert {r.metric for r in response.results} == {"clicks", "ctr"}
    plain_request = rpb.QueryResultsRequest(query=rpb.ResultsQuery(exp_id="ranker_v2", start_hour=start, end_hour=end,
                                                                   metrics=["clicks"]))
    plain: rpb.QueryResultsResponse = asyncio.run(service.QueryResults(plain_request, Context()))  # type: ignore[arg-type]
    assert not plain.cuped_results
