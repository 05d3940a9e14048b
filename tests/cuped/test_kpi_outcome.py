"""kpi_outcome per unit and day (log mode and a pre-period day in assignment-join mode), covariates from it, and
the data model's example queries run as written through DuckDB, each compared with numpy on the raw rows."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rayab.aggregate.covariates import covariates_from_kpi_outcome
from rayab.cli.main import main
from rayab.hourly.kpi_outcome import build_kpi_outcome
from rayab.query.sql_files import referenced_tables, run_sql_file
from rayab.simulate import UnitPopulation, hour_offsets, simulate_hour
from rayab.storage.logs import write_log_file
from rayab.storage.tables import read_rows
from tests.cuped.worlds import cuped_config
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")
QUERIES = Path(__file__).resolve().parents[2] / "examples" / "queries"
PRE_DAY = "2026-11-22"
SCALE = {"impressions": 1, "clicks": 1, "revenue": 100}


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> tuple[World, pa.Table]:
    root = Path(tmp_path_factory.mktemp("kpi"))
    world = make_world(root, n_units=600, n_hours=2)
    world.config = cuped_config(world.config)
    # pre-period logs of the day before the start, events carrying only the unit (no experiment yet)
    population = UnitPopulation.generate(600, seed=3)
    pre = []
    for hour in hour_offsets(f"{PRE_DAY}T20", 3):
        events = simulate_hour(population, world.config.experiments, {}, hour, seed=17)
        events = events.filter(pc.equal(events.column("exp_id"), "ranker_v2")).drop_columns(["exp_id", "variant_id"])
        write_log_file(f"{root}/prelogs", hour, "part-0.parquet", events)
        pre.append(events)
    build_kpi_outcome(world.config, "2026-11-23", world.logs, world.warehouse)
    build_kpi_outcome(world.config, PRE_DAY, f"{root}/prelogs", world.warehouse, population="assignment")
    return world, pa.concat_tables(pre)


def _stored(world: World, date: str) -> dict[tuple[str, str, str], float]:
    rows = read_rows(world.warehouse, "kpi_outcome", where={"metric_date": date})
    return {(r["exp_id"], r["unit_id"], r["kpi_name"]): r["kpi_value"] for r in rows.to_pylist()}


def test_log_mode_day_equals_raw_sums(kw: tuple[World, pa.Table]) -> None:
    world, _ = kw
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for table in world.events.values():
        for r in table.to_pylist():
            for m, scale in SCALE.items():
                expected[(r["exp_id"], r["unit_id"], m)] += round(r[m] * scale)
    stored = _stored(world, "2026-11-23")
    assert set(stored) == set(expected)
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value / SCALE[key[2]], abs=1e-12)


def test_pre_period_day_joins_every_assignment(kw: tuple[World, pa.Table]) -> None:
    world, pre = kw
    in_exp = defaultdict(set)
    for r in world.assignments.to_pylist():
        in_exp[r["unit_id"]].add(r["exp_id"])
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in pre.to_pylist():
        for exp_id in in_exp.get(r["unit_id"], ()):
            for m, scale in SCALE.items():
                expected[(exp_id, r["unit_id"], m)] += round(r[m] * scale)
    stored = _stored(world, PRE_DAY)
    assert expected and set(stored) == set(expected)
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value / SCALE[key[2]], abs=1e-12)
    # covariates over the one pre-period day: exact integers at the metric's scale
    at = world.config.analysis_types[0]
    cov = covariates_from_kpi_outcome(world.warehouse, at, world.config.experiment("ranker_v2"), days=1)
    for r in cov.to_pylist():
        assert r["x"] == expected[("ranker_v2", r["unit_id"], r["metric"])]
    assert cov.num_rows == sum(1 for k in expected if k[0] == "ranker_v2" and k[2] in at.cuped)


def test_rebuilding_a_day_replaces_it(kw: tuple[World, pa.Table]) -> None:
    world, _ = kw
    before = _stored(world, "2026-11-23")
    summary = build_kpi_outcome(world.config, "2026-11-23", world.logs, world.warehouse)
    assert _stored(world, "2026-11-23") == before and summary.rows == len(before)


def test_example_queries_run_as_written(kw: tuple[World, pa.Table]) -> None:
    world, _ = kw
    kpi = read_rows(world.warehouse, "kpi_outcome").to_pylist()
    variant = {(r["exp_id"], r["unit_id"]): r["variant_id"] for r in world.assignments.to_pylist()}
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    units: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in kpi:
        if (r["exp_id"], r["unit_id"]) in variant:
            key = (r["exp_id"], variant[(r["exp_id"], r["unit_id"])], r["kpi_name"])
            groups[key].append(r["kpi_value"])
            units[key].add(r["unit_id"])
    got = run_sql_file(world.warehouse, QUERIES / "avg_kpi_by_variant.sql").to_pylist()
    assert [(r["exp_id"], r["variant_id"], r["kpi_name"]) for r in got] == sorted(groups)
    for r in got:
        key = (r["exp_id"], r["variant_id"], r["kpi_name"])
        assert r["avg_kpi_value"] == pytest.approx(float(np.mean(groups[key])), rel=1e-12)
        assert r["units"] == len(units[key])
    distinct = run_sql_file(world.warehouse, QUERIES / "distinct_units_per_experiment.sql").to_pylist()
    per_exp: dict[str, set[str]] = defaultdict(set)
    for r in kpi:
        per_exp[r["exp_id"]].add(r["unit_id"])
    assert {r["exp_id"]: r["units"] for r in distinct} == {e: len(u) for e, u in per_exp.items()}
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for pair in zip(world.assignments.column("exp_id").to_pylist(), world.assignments.column("variant_id").to_pylist(),
                    strict=True):
        counts[pair] += 1
    assigned = run_sql_file(world.warehouse, QUERIES / "assignments_per_experiment.sql").to_pylist()
    assert {(r["exp_id"], r["variant_id"]): r["assignments"] for r in assigned} == dict(counts)


def test_sql_file_cli_and_table_names(kw: tuple[World, pa.Table], capsys: pytest.CaptureFixture[str]) -> None:
    world, _ = kw
    assert referenced_tables("WITH t AS (SELECT 1) SELECT * FROM t JOIN kpi_outcome USING (x)") == ["kpi_outcome"]
    assert main(["sql-file", str(QUERIES / "assignments_per_experiment.sql"), "--warehouse", world.warehouse.url,
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["assignments"] for r in rows) == world.assignments.num_rows


def test_kpi_outcome_and_covariates_cli(kw: tuple[World, pa.Table], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    world, _ = kw
    config = tmp_path / "config.json"
    config.write_text(json.dumps(world.config.to_dict()))
    common = ["--warehouse", world.warehouse.url, "--config", str(config), "--format", "json"]
    before = _stored(world, "2026-11-23")
    assert main(["kpi-outcome", "--date", "2026-11-23", "--logs", world.logs, *common]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == len(before)
    assert main(["covariates", "--exp", "aa_check", "--days", "1", *common]) == 0
    summary = json.loads(capsys.readouterr().out)
    stored = read_rows(world.warehouse, "covariate", where={"exp_id": "aa_check"})
    assert summary["rows"] == stored.num_rows > 0 and summary["from"] == PRE_DAY
    assert main(["kpi-outcome", "--date", "2026-13-01", "--logs", world.logs, *common]) == 2
    assert "date == '2026-13-01'" in capsys.readouterr().err
