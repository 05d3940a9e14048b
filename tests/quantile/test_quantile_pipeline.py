"""Quantile metrics end to end: the hourly job's sketches, results against raw data, additivity, CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlglot
from sqlglot import exp as exp_

from rayab.aggregate.sketches import event_sketches, layout_of
from rayab.cli.main import main
from rayab.errors import ValidationError
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.query.filters import parse_filter
from rayab.query.quantiles import sum_sketches
from rayab.query.results import cumulative_results, run_query
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.query.sql_run import run_duckdb
from rayab.simulate import latency_config, simulate_latency
from rayab.stats.poisson_weights import weights_for
from rayab.storage.logs import write_log_file
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse
from tests.query.test_sql import assert_sql_matches

pytestmark = pytest.mark.usefixtures("ray_local")

HOURS = ["2026-11-23T00", "2026-11-23T01"]
END = "2026-11-23T02"
B = 40
ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)  # an estimate lies in the bucket of the exact quantile: within a factor gamma


@dataclass
class LatencyRun:
    config: Config
    warehouse: Warehouse
    logs: str
    events: pa.Table


def _world(root: Path, n_units: int = 400, seed: int = 5, shift: float = 0.5) -> tuple[Config, str, pa.Table,
                                                                                          pa.Table]:
    config = latency_config(B)
    world = simulate_latency(n_units, HOURS, seed=seed, shift=shift)
    logs = str(root / "logs")
    for hour, table in world.events.items():
        half = table.num_rows // 2
        write_log_file(logs, hour, "part-0.parquet", table.slice(0, half))
        write_log_file(logs, hour, "part-1.parquet", table.slice(half))
    return config, logs, pa.concat_tables(world.events.values()), world.assignments


def _run(root: Path, shards: int, config: Config, logs: str, assignments: pa.Table, name: str) -> Warehouse:
    warehouse = Warehouse.from_url(root / name)
    save_config(warehouse, config)
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"], {"exp_id": ["speed_v2"]})
    for hour in HOURS:
        run_hour(config, hour, logs, warehouse, n_shards=shards)
    return warehouse


@pytest.fixture(scope="module")
def latency_run(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> LatencyRun:
    root = tmp_path_factory.mktemp("latency")
    config, logs, events, assignments = _world(root)
    return LatencyRun(config, _run(root, 2, config, logs, assignments, "wh"), logs, events)


def _exact(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q, method="inverted_cdf"))


def _observed(events: pa.Table, **where: str) -> pa.Table:
    kept = events.filter(pc.is_valid(events.column("latency_ms")))
    for name, value in where.items():
        kept = kept.filter(pc.equal(kept.column(name), value))
    return kept


def test_estimates_are_within_the_bucket_accuracy_of_the_exact_sample_quantile(latency_run: LatencyRun) -> None:
    at, exp = latency_run.config.analysis_types[0], latency_run.config.experiments[0]
    results = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END,
                                                              metrics=at.quantile_outputs))
    assert len(results) == 6
    by_key = {(r.metric, r.variant_id): r for r in results}
    for variant in ("control", "treatment"):
        raw = _observed(latency_run.events, variant_id=variant)
        values = np.asarray(raw.column("latency_ms"), np.float64)
        for q, name in zip((0.5, 0.9, 0.99), at.quantile_outputs, strict=True):
            r = by_key[name, variant]
            exact = _exact(values, q)
            assert abs(r.estimate - exact) <= (GAMMA - 1) * exact * (1 + 1e-12), (name, variant, r.estimate, exact)
            assert r.n_events == len(values)  # observations: events with a latency
            assert r.ci_lower <= r.estimate <= r.ci_upper
    # the planted shift is +50% at every quantile: the p50 and p90 lifts see it
    for name in ("latency_p50", "latency_p90"):
        t = by_key[name, "treatment"]
        assert t.rel_ci_lower > 0.15 and t.pvalue < 0.05, (name, t)
        assert t.abs_diff == pytest.approx(t.estimate - by_key[name, "control"].estimate)
        assert t.rel_diff == pytest.approx(t.estimate / by_key[name, "control"].estimate - 1)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def test_every_replicate_is_the_unit_clustered_weighted_quantile(latency_run: LatencyRun) -> None:
    at = latency_run.config.analysis_types[0]
    exp = latency_run.config.experiments[0]
    sketches = sum_sketches(latency_run.warehouse, at, "speed_v2", HOURS[0], END, ["latency"])
    raw = _observed(latency_run.events, variant_id="control")
    units = raw.column("unit_id").to_pylist()
    distinct = sorted(set(units))
    w = weights_for(exp.bootstrap_salt, distinct, B).astype(np.int64)  # one weight per unit and replicate
    per_event = w[np.searchsorted(np.array(distinct), np.array(units))]
    values = np.asarray(raw.column("latency_ms"), np.float64)
    qm = at.quantile_metrics[0]
    _, replicates, _ = sketches.values(qm, 0.9, [("control",)])
    for b in range(B):
        expected = _weighted_quantile(values, per_event[:, b].astype(np.float64), 0.9)
        assert abs(replicates[0, b] - expected) <= (GAMMA - 1) * expected * (1 + 1e-12), b


def test_slices_filters_and_cumulative_results(latency_run: LatencyRun) -> None:
    at, exp = latency_run.config.analysis_types[0], latency_run.config.experiments[0]
    sliced = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END, metrics=("latency_p90",),
                                                             projection=("platform",)))
    for r in sliced:
        platform = dict(r.slice)["platform"]
        values = np.asarray(_observed(latency_run.events, variant_id=r.variant_id, platform=platform)
                            .column("latency_ms"), np.float64)
        assert abs(r.estimate - _exact(values, 0.9)) <= (GAMMA - 1) * _exact(values, 0.9) * (1 + 1e-12)
    filtered = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END, metrics=("latency_p90",),
                                                               where=parse_filter("platform = 'ios'")))
    ios = {r.variant_id: r for r in sliced if dict(r.slice)["platform"] == "ios"}
    for r in filtered:
        assert (r.estimate, r.ci_lower, r.ci_upper, r.pvalue) == (
            ios[r.variant_id].estimate, ios[r.variant_id].ci_lower, ios[r.variant_id].ci_upper,
            ios[r.variant_id].pvalue)
    series = cumulative_results(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END,
                                                                      metrics=("latency_p90",)))
    first = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], HOURS[1], metrics=("latency_p90",)))
    whole = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END, metrics=("latency_p90",)))
    for look, expected in ((HOURS[1], first), (END, whole)):
        got = [r for r in series if r.end_hour == look]
        assert [(r.estimate, r.ci_lower, r.ci_upper, r.abs_diff, r.pvalue) for r in got] == [
            (r.estimate, r.ci_lower, r.ci_upper, r.abs_diff, r.pvalue) for r in expected]
    sequential = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END,
                                                                 metrics=("latency_p90",), interval="sequential"))
    assert all(np.isfinite(r.ci_lower) for r in sequential)


def _sorted_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    rows = read_rows(warehouse, "qsk_perf").drop_columns(["commit_id"]).to_pylist()
    return sorted(rows, key=lambda r: (r["hour"], r["variant_id"], r["platform"], r["metric"], r["bucket"]))


def test_shards_files_and_hours_add_up_exactly(latency_run: LatencyRun, tmp_path: Path) -> None:
    config, logs, events, assignments = _world(tmp_path)
    one = _run(tmp_path, 1, config, logs, assignments, "s1")
    four = _run(tmp_path, 4, config, logs, assignments, "s4")
    assert _sorted_rows(one) == _sorted_rows(four) == _sorted_rows(latency_run.warehouse)
    # the window's sum of the hourly sketches is the sketch of all the window's events at once
    at = config.analysis_types[0]
    window = sum_sketches(one, at, "speed_v2", HOURS[0], END, ["latency"], projection=("platform",))
    valid = events.rename_columns([c if c != "latency_ms" else "latency" for c in events.column_names])
    whole = event_sketches(valid, at, {"speed_v2": config.experiments[0].bootstrap_salt})
    assert [k[1:] for k in whole.keys] == list(window.keys)
    assert whole.sketches["latency"] == window.sketches["latency"]


def test_bad_values_are_quarantined_and_nulls_are_no_observation(tmp_path: Path) -> None:
    config = latency_config(8)
    hour = HOURS[0]
    table = pa.table({"unit_id": ["a", "b", "c", "d", "e"], "exp_id": ["speed_v2"] * 5,
                      "variant_id": ["control"] * 5, "platform": ["web"] * 5,
                      "latency_ms": pa.array([10.0, None, -3.0, float("nan"), 0.0])})
    logs = str(tmp_path / "logs")
    write_log_file(logs, hour, "part-0.parquet", table)
    warehouse = Warehouse.from_url(tmp_path / "wh")
    (summary,) = run_hour(config, hour, logs, warehouse, n_shards=1)
    assert summary.rows_quarantined == 2
    reasons = sorted(read_rows(warehouse, "_quarantine").column("reason").to_pylist())
    assert reasons == ["latency_ms is NaN", "latency_ms is negative"]
    agg = read_rows(warehouse, "agg_perf").to_pylist()
    assert [r["requests"] for r in agg] == [3]  # the null-latency row still counts
    sketch = read_rows(warehouse, "qsk_perf").to_pylist()
    ten = int(layout_of(config.analysis_types[0].quantile_metrics[0]).keys([10.0])[0])
    assert sorted((r["bucket"], r["n_events"]) for r in sketch) == [(0, 1), (ten, 1)]  # the zero bucket, and 10 ms


def test_cli_results_of_a_quantile_metric(latency_run: LatencyRun, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--warehouse", latency_run.warehouse.url, "--format", "json"]
    assert main(["results", "--exp", "speed_v2", "--start", HOURS[0], "--end", END, "--metric", "latency_p99",
                 "--metric", "requests", *common]) == 0
    rows = {(r["metric"], r["variant_id"]): r for r in json.loads(capsys.readouterr().out)}
    values = np.asarray(_observed(latency_run.events, variant_id="treatment").column("latency_ms"), np.float64)
    got = rows["latency_p99", "treatment"]["estimate"]
    assert abs(got - _exact(values, 0.99)) <= (GAMMA - 1) * _exact(values, 0.99) * (1 + 1e-12)
    assert rows["requests", "treatment"]["estimate"] == float(
        _observed(latency_run.events, variant_id="treatment").num_rows
        + latency_run.events.filter(pc.and_(pc.is_null(latency_run.events.column("latency_ms")),
                                            pc.equal(latency_run.events.column("variant_id"), "treatment"))).num_rows)
    assert main(["results", "--exp", "speed_v2", "--start", HOURS[0], "--end", END, "--metric", "latency_p42",
                 *common]) == 2
    assert "latency_p42" in capsys.readouterr().err


SQL_CASES = [
    pytest.param({}, "aggregate", id="total"),
    pytest.param({"projection": ("platform",), "method": "basic"}, "window", id="by-platform-basic"),
    pytest.param({"where": parse_filter("platform IN ('ios', 'web')"), "method": "normal",
                  "confidence_level": 0.9}, "aggregate", id="filtered-normal"),
]


@pytest.mark.parametrize(("change", "rule"), SQL_CASES)
def test_duckdb_sql_equals_the_engine(latency_run: LatencyRun, change: dict[str, Any], rule: str) -> None:
    at, exp = latency_run.config.analysis_types[0], latency_run.config.experiments[0]
    query = Query("speed_v2", HOURS[0], END, metrics=("latency_p50", "latency_p99"), **change)
    rows = run_duckdb(latency_run.warehouse, at, exp, query, rule)  # type: ignore[arg-type]
    assert_sql_matches(rows, run_query(latency_run.warehouse, at, exp, query),
                       skip=("pvalue",) if query.method == "normal" else ())


def test_trino_sql_parses_and_mixing_is_refused(latency_run: LatencyRun) -> None:
    at, exp = latency_run.config.analysis_types[0], latency_run.config.experiments[0]
    query = Query("speed_v2", HOURS[0], END, metrics=("latency_p90",), projection=("platform",))
    tree = sqlglot.parse_one(results_sql(at, exp, query, "trino"), read="trino")
    assert {t.name for t in tree.find_all(exp_.Table)} >= {"agg_perf", "qsk_perf"}
    with pytest.raises(ValidationError, match="cannot be mixed"):
        results_sql(at, exp, Query("speed_v2", HOURS[0], END, metrics=("latency_p90", "requests")), "trino")


def test_results_service_and_report_serve_quantiles(latency_run: LatencyRun, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from rayab.api.engine import ResultsEngine
    from rayab.rpc._generated import results_pb2 as rpb
    from tests.rpc.test_results_rpc import ResultsServer

    at, exp = latency_run.config.analysis_types[0], latency_run.config.experiments[0]
    server = ResultsServer(ResultsEngine(latency_run.warehouse))
    try:
        reply = server.stub.QueryResults(rpb.QueryResultsRequest(query=rpb.ResultsQuery(
            exp_id="speed_v2", start_hour=HOURS[0], end_hour=END, metrics=["latency_p90"], projection=["platform"])))
        series = server.stub.Timeseries(rpb.TimeseriesRequest(query=rpb.ResultsQuery(
            exp_id="speed_v2", start_hour=HOURS[0], end_hour=END, metrics=["latency_p50"])))
        sql = server.stub.GenerateSql(rpb.GenerateSqlRequest(query=rpb.ResultsQuery(
            exp_id="speed_v2", start_hour=HOURS[0], end_hour=END, metrics=["latency_p90"]),
            dialect=rpb.SQL_DIALECT_TRINO))
    finally:
        server.close()
    expected = run_query(latency_run.warehouse, at, exp, Query("speed_v2", HOURS[0], END, metrics=("latency_p90",),
                                                               projection=("platform",)))
    assert len(reply.results) == len(expected) == 6
    for got, want in zip(reply.results, expected, strict=True):
        assert (got.metric, got.variant_id, [s.value for s in got.slice]) == (
            want.metric, want.variant_id, [v for _, v in want.slice])
        for name in ("estimate", "ci_lower", "ci_upper", "abs_diff", "rel_diff", "rel_ci_lower", "pvalue"):
            ours, theirs = getattr(want, name), getattr(got, name)
            assert (np.isnan(ours) and np.isnan(theirs)) or ours == theirs, name
    assert sorted({r.end_hour for r in series.results}) == [HOURS[1], END]
    assert "qsk_perf" in sql.sql
    out = tmp_path / "report.html"
    assert main(["report", "--warehouse", latency_run.warehouse.url, "--exp", "speed_v2", "--start", HOURS[0],
                 "--end", END, "--out", str(out)]) == 0
    page = out.read_text()
    assert "latency_p90" in page and "latency_p99" in page and "qsk_perf" in page
