"""Health checks pass on a healthy experiment and fail on a planted problem (skewed split, broken hour, harm)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from rayab.guardrails.health import HealthSettings, experiment_health, worst_status
from rayab.guardrails.sample_ratio import srm_check, srm_timeline
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.storage.logs import write_log_file
from rayab.storage.tables import replace_partitions
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")


def _with_guardrail(world: World) -> Config:
    data = world.config.to_dict()
    for exp in data["experiments"]:
        exp["guardrails"] = [{"metric": "ctr", "bad_direction": "decrease", "tolerance_pct": 1}]
    return Config.from_dict(data)


@pytest.fixture()
def healthy(workdir: Path) -> World:
    world = make_world(workdir, n_units=3000, n_hours=3)
    world.config = _with_guardrail(world)
    for hour in world.hours:
        run_hour(world.config, hour, world.logs, world.warehouse)
    return world


def _by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_experiment_passes(healthy: World) -> None:
    checks = _by_name(experiment_health(healthy.warehouse, healthy.config, "aa_check", healthy.hours[0],
                                        "2026-11-23T03", HealthSettings(srm_by=("country",))))
    assert [checks[n].status for n in ("assignment_rate", "sample_ratio", "sample_ratio_by_country",
                                       "data_completeness", "data_quality", "guardrail_ctr")] == ["ok"] * 6
    counts = checks["sample_ratio"].details["counts"]
    rows = healthy.assignments.filter(pc.equal(healthy.assignments.column("exp_id"), "aa_check"))
    assert counts == {v: sum(1 for x in rows.column("variant_id").to_pylist() if x == v) for v in ("a", "b")}
    expected_p = stats.chisquare(list(counts.values())).pvalue
    assert checks["sample_ratio"].details["pvalue"] == pytest.approx(expected_p, rel=1e-9)


def test_skewed_split_fails_sample_ratio(healthy: World) -> None:
    rows = healthy.assignments
    rng = np.random.default_rng(0)
    drop = (np.asarray(pc.equal(rows.column("variant_id"), "b"))) & (rng.random(rows.num_rows) < 0.4)
    replace_partitions(healthy.warehouse, "assignment", rows.filter(pa.array(~drop)), ["exp_id", "date"],
                       {"exp_id": ["aa_check", "ranker_v2"]})
    checks = experiment_health(healthy.warehouse, healthy.config, "aa_check", healthy.hours[0], "2026-11-23T03")
    srm = _by_name(checks)["sample_ratio"]
    assert srm.status == "fail" and "sample-ratio mismatch" in srm.reason
    assert worst_status(checks) == "fail"
    timeline = srm_timeline(healthy.warehouse, healthy.config.experiment("aa_check"), healthy.hours[0],
                            "2026-11-23T03")
    assert [look.hour for look in timeline] == healthy.hours
    assert timeline[-1].pvalue < 0.001
    assert all(a.sequential_pvalue >= b.sequential_pvalue for a, b in itertools.pairwise(timeline))


def test_srm_per_slice_is_corrected(healthy: World) -> None:
    checks = srm_check(healthy.warehouse, healthy.config.experiment("ranker_v2"), by=["country", "platform"])
    slices = checks[1:]
    assert {c.slice[0][0] for c in slices} == {"country", "platform"}
    assert all(c.adjusted_pvalue >= c.pvalue for c in slices)
    assert sum(c.n_units for c in slices if c.slice[0][0] == "country") == checks[0].n_units


def test_missing_and_dirty_hours_are_flagged(healthy: World) -> None:
    bad = pa.table({"unit_id": ["u1", None], "exp_id": ["aa_check"] * 2, "variant_id": ["a", "a"],
                    "country": ["FR"] * 2, "platform": ["web"] * 2, "impressions": [1, 1], "clicks": [-1, 0],
                    "revenue": [0.0, 0.0]})
    write_log_file(healthy.logs, "2026-11-23T03", "bad.parquet", bad)
    run_hour(healthy.config, "2026-11-23T03", healthy.logs, healthy.warehouse)
    checks = _by_name(experiment_health(healthy.warehouse, healthy.config, "aa_check", healthy.hours[0],
                                        "2026-11-23T05", logs_root=healthy.logs))
    assert checks["data_completeness"].status == "fail"
    assert "2026-11-23T04" in checks["data_completeness"].reason
    quality = checks["data_quality"]
    assert quality.details["rows_quarantined"] == 2 and quality.status == "warn"
    assert checks["late_data"].status == "ok"
    write_log_file(healthy.logs, healthy.hours[0], "late.parquet", bad.slice(0, 1))
    checks = _by_name(experiment_health(healthy.warehouse, healthy.config, "aa_check", healthy.hours[0],
                                        "2026-11-23T04", logs_root=healthy.logs))
    assert checks["late_data"].status == "warn" and healthy.hours[0] in checks["late_data"].reason


def test_guardrail_catches_a_harmful_variant(workdir: Path) -> None:
    from rayab.simulate import UnitPopulation, demo_config, hour_offsets, simulate_days

    world = make_world(workdir / "base", n_units=10, n_hours=1)
    config = _with_guardrail(world)
    hours = hour_offsets("2026-11-23T00", 3)
    logs = str(workdir / "harm_logs")
    harm = {"ranker_v2": {"treatment": -0.3}}
    assignments = simulate_days(UnitPopulation.generate(20_000, seed=5), demo_config(), harm, hours,
                                lambda h, e: write_log_file(logs, h, "p.parquet", e), seed=5)  # type: ignore[arg-type]
    replace_partitions(world.warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": ["aa_check", "ranker_v2"]})
    for hour in hours:
        run_hour(config, hour, logs, world.warehouse)
    checks = _by_name(experiment_health(world.warehouse, config, "ranker_v2", hours[0], "2026-11-23T03"))
    assert checks["guardrail_ctr"].status == "fail", checks["guardrail_ctr"].reason
    assert "treatment" in checks["guardrail_ctr"].reason


def test_assignment_outage_is_flagged(healthy: World) -> None:
    rows = healthy.assignments
    hours = pc.strftime(rows.column("assigned_at"), format="%Y-%m-%dT%H")
    kept = rows.filter(pc.invert(pc.equal(hours, healthy.hours[1])))
    replace_partitions(healthy.warehouse, "assignment", kept, ["exp_id", "date"], {"exp_id": ["aa_check", "ranker_v2"]})
    check = _by_name(experiment_health(healthy.warehouse, healthy.config, "aa_check", healthy.hours[0],
                                       "2026-11-23T03"))["assignment_rate"]
    assert check.status == "warn" and healthy.hours[1] in check.reason
    assert check.details["assignments_per_hour"][healthy.hours[1]] == 0
