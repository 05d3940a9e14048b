"""Conversion and retention counts against a plain-Python reference on the raw events and assignments."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.conversions import conversion_rows, event_hits, merge_hits
from rayab.errors import SpecError
from rayab.model import AnalysisType, Config, ConversionMetric, Metric
from rayab.model.hours import format_hour, parse_hour
from rayab.simulate import UnitPopulation, demo_config, hour_offsets, simulate_days
from rayab.stats.poisson_weights import weights_for
from rayab.storage.logs import write_log_file

HOURS = hour_offsets("2026-11-23T00", 3)
B = 16
CONVERSIONS: list[dict[str, Any]] = [
    {"name": "clicked", "kind": "conversion", "metric": "clicks"},
    {"name": "clicked_2h", "kind": "conversion", "metric": "clicks", "within": "2h"},
    {"name": "ios_seen", "kind": "conversion", "where": {"platform": "ios"}},
]


def _config(extra: list[dict[str, Any]] | None = None) -> Config:
    base = demo_config()
    at = base.analysis_types[0].to_dict()
    at["n_replicates"] = B
    at["metrics"] += CONVERSIONS + (extra or [])
    at["composed"]["click_rate"] = "clicked / units"
    return Config.from_dict({**base.to_dict(), "analysis_types": [at]})


def _qualifies(spec: dict[str, Any], row: dict[str, Any]) -> bool:
    ok = all(str(row[c]) in ([v] if isinstance(v, str) else v) for c, v in spec.get("where", {}).items())
    return ok and (not spec.get("metric") or row[spec["metric"]] > 0)


def _span(spec: dict[str, Any]) -> tuple[timedelta, timedelta | None]:
    if spec["kind"] == "retention":
        return timedelta(days=spec["day"]), timedelta(days=spec["day"] + 1)
    within = spec.get("within")
    if within is None:
        return timedelta(0), None
    return timedelta(0), timedelta(hours=int(within[:-1]) * (24 if within.endswith("d") else 1))


def reference(events: list[dict[str, Any]], assignments: list[dict[str, Any]], specs: list[dict[str, Any]],
              salts: dict[str, str], through: str) -> dict[tuple[str, ...], tuple[int, list[int]]]:
    """Per (name, exp_id, hour, variant_id, country, platform): the count and its replicate sums, by plain Python:
    each unit's earliest assignment, its events one by one, its weights from the pure-numpy weight function."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted(assignments, key=lambda r: (r["exp_id"], r["unit_id"], r["assigned_at"], r["variant_id"])):
        first.setdefault((row["exp_id"], row["unit_id"]), row)
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in events:
        by_unit[(row["exp_id"], row["unit_id"])].append(row)
    last_hour = parse_hour(through)
    counted: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for (exp_id, unit), a_row in first.items():
        a = a_row["assigned_at"]
        cell = (a_row["variant_id"], a_row["country"], a_row["platform"])
        for spec in specs:
            low, high = _span(spec)
            times = [r["event_time"] for r in by_unit[(exp_id, unit)] if _qualifies(spec, r)
                     and r["event_time"] >= a + low and (high is None or r["event_time"] < a + high)]
            if spec["kind"] == "conversion":
                if times and min(times) < last_hour + timedelta(hours=1):
                    counted[(spec["name"], exp_id, format_hour(min(times)), *cell)].append(unit)
            else:
                assert high is not None
                end = a + high - timedelta(microseconds=1)
                if end < last_hour + timedelta(hours=1):
                    counted[(spec["name"] + "_eligible", exp_id, format_hour(end), *cell)].append(unit)
                    if times:
                        counted[(spec["name"], exp_id, format_hour(end), *cell)].append(unit)
    return {key: (len(units), weights_for(salts[key[1]], units, B).sum(axis=0, dtype=np.int64).tolist())
            for key, units in counted.items()}


def stored(rows: pa.Table, at: AnalysisType) -> dict[tuple[str, ...], tuple[int, list[int]]]:
    out: dict[tuple[str, ...], tuple[int, list[int]]] = {}
    for row in rows.to_pylist():
        for name in at.conversion_columns:
            if row[name]:
                out[(name, row["exp_id"], row["hour"], row["variant_id"], row["country"], row["platform"])] = (
                    row[name], row[name + "_reps"])
    return out


def _world(root: Path, config: Config, n_units: int = 900) -> tuple[dict[str, pa.Table], pa.Table]:
    events: dict[str, pa.Table] = {}

    def write(hour: str, table: pa.Table) -> None:
        events[hour] = table
        write_log_file(str(root / "logs"), hour, "part-0.parquet", table)

    assignments = simulate_days(UnitPopulation.generate(n_units, seed=7), config, {}, HOURS, write, 7)
    return events, assignments


def test_counts_of_hits_equal_plain_python_for_conversion_within_and_retention() -> None:
    """Pure path: hits of hand-made events, including a unit assigned after its first click (that click does not
    count), a click after the 2h window, and day-0/day-1 retention with an event exactly at the day's end."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    specs: list[dict[str, Any]] = [*CONVERSIONS, {"name": "d0", "kind": "retention", "day": 0, "metric": "clicks"},
                                   {"name": "d1", "kind": "retention", "day": 1, "metric": "clicks"}]
    at = AnalysisType.from_dict({"name": "t", "dimensions": ["country", "platform"], "n_replicates": B,
                                 "metrics": [{"name": "clicks"}, *specs]})
    rng = np.random.default_rng(5)
    units = [f"u{i}" for i in range(60)]
    assignments: list[dict[str, Any]] = [
        {"exp_id": "e", "unit_id": u, "variant_id": "ab"[i % 2], "country": "US", "platform": "web",
         "assigned_at": t0 + timedelta(minutes=int(rng.integers(0, 600)))} for i, u in enumerate(units)]
    assignments.append({**assignments[0], "assigned_at": assignments[0]["assigned_at"] + timedelta(hours=3),
                        "variant_id": "b"})  # a later assignment row of u0: the earliest one counts
    events: list[dict[str, Any]] = []
    for _ in range(600):
        unit = units[int(rng.integers(0, len(units)))]
        events.append({"exp_id": "e", "variant_id": "a", "unit_id": unit, "clicks": int(rng.integers(0, 2)),
                       "platform": "ios" if rng.random() < 0.3 else "web", "country": "US",
                       "event_time": t0 + timedelta(minutes=int(rng.integers(0, 60 * 60)))})
    a1 = next(a["assigned_at"] for a in assignments if a["unit_id"] == "u1")
    events.append({**events[0], "unit_id": "u1", "clicks": 1, "event_time": a1 + timedelta(days=2) - timedelta(
        microseconds=1)})  # the last instant of u1's day 1
    by_hour: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_hour[format_hour(e["event_time"])].append(e)
    hits = pa.concat_tables([merge_hits([event_hits(pa.Table.from_pylist(rows), at)], hour)
                             for hour, rows in sorted(by_hour.items())])
    through = max(by_hour)
    rows = conversion_rows(hits, pa.Table.from_pylist(assignments), at, "e", "salt", through)
    expected = reference(events, assignments, specs, {"e": "salt"}, through)
    assert stored(rows, at) == expected
    assert {k[0] for k in expected} == {"clicked", "clicked_2h", "ios_seen", "d0", "d0_eligible", "d1",
                                        "d1_eligible"}
    # the click at the very end of u1's day 1 counts; one microsecond later it would not
    assert any(k[0] == "d1" for k in expected)


@pytest.mark.parametrize(("metric", "field", "text"), [
    ({"name": "c", "kind": "conversion", "within": "7 days"}, "within", "whole number of hours or days"),
    ({"name": "c", "kind": "conversion", "day": 1}, "day", "is for retention"),
    ({"name": "c", "kind": "retention"}, "day", "must be"),
    ({"name": "c", "kind": "conversion", "metric": "nope"}, "metric", "must be an additive metric"),
    ({"name": "clicks", "kind": "conversion"}, "name", "clashes"),
    ({"name": "c", "kind": "conversion", "where": {"platform": [True]}}, "where.platform", "text or integer"),
])
def test_bad_conversion_specs_name_the_field(metric: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(SpecError) as err:
        AnalysisType.from_dict({"name": "t", "metrics": [{"name": "clicks"}, metric]})
    assert field in err.value.field and text in str(err.value)


def test_specs_round_trip() -> None:
    at = _config().analysis_types[0]
    assert AnalysisType.from_dict(at.to_dict()) == at
    assert at.conversion_metrics[1] == ConversionMetric("clicked_2h", metric="clicks", within_hours=2)
    assert Metric("clicks") in at.metrics


@pytest.mark.slow
@pytest.mark.timeout(1200)  # seven hourly runs, a gRPC server and DuckDB: 2 min idle, 8.5 min at load average 30
@pytest.mark.usefixtures("ray_local")
def test_hourly_job_counts_each_unit_once_and_a_late_event_moves_it(tmp_path: Path) -> None:
    """Config -> run_hour (S = 2) -> cnv table and results equal plain Python; S = 4 stores the same rows; then a
    late click in hour 0 for units first converted in hour 2: after re-running hour 0 only, they count in hour 0
    and no longer in hour 2, equal to the reference on the updated events, and the window sums stay additive."""
    from rayab.hourly.job import run_hour
    from rayab.query.results import experiment_results
    from rayab.query.window import sum_partitions
    from rayab.storage.schemas import conversion_table, hits_table
    from rayab.storage.tables import read_rows, replace_partitions
    from rayab.storage.warehouse import Warehouse

    config = _config()
    at = config.analysis_types[0]
    salts = {e.exp_id: e.bootstrap_salt for e in config.experiments}
    events, assignments = _world(tmp_path, config)
    warehouses = {}
    for shards in (2, 4):
        wh = Warehouse.from_url(str(tmp_path / f"wh{shards}"))
        replace_partitions(wh, "assignment", assignments, ["exp_id", "date"], {"exp_id": list(salts)})
        for hour in HOURS:
            run_hour(config, hour, str(tmp_path / "logs"), wh, n_shards=shards)
        warehouses[shards] = wh
    warehouse = warehouses[2]

    def check(evs: dict[str, pa.Table]) -> dict[tuple[str, ...], tuple[int, list[int]]]:
        expected = reference([r for t in evs.values() for r in t.to_pylist()], assignments.to_pylist(), CONVERSIONS,
                             salts, HOURS[-1])
        assert stored(read_rows(warehouse, conversion_table(at)), at) == expected
        return expected

    expected = check(events)
    assert sum(v[0] for k, v in expected.items() if k[0] == "clicked") > 30
    for table in (conversion_table(at), hits_table(at)):
        assert sorted(read_rows(warehouses[4], table).drop_columns(["commit_id"] if table == hits_table(at) else [])
                      .to_pylist(), key=str) == sorted(read_rows(warehouse, table).drop_columns(
                          ["commit_id"] if table == hits_table(at) else []).to_pylist(), key=str)

    # results: the share's estimate is the reference count over the units from the same cells
    exp = config.experiment("ranker_v2")
    results = {r.variant_id: r for r in experiment_results(warehouse, at, exp, HOURS[0], "2026-11-23T03",
                                                           metrics=["click_rate"])}
    first = {(a["exp_id"], a["unit_id"]): a["variant_id"] for a in assignments.to_pylist()}
    for variant in ("control", "treatment"):
        converted = sum(v[0] for k, v in expected.items() if k[:2] == ("clicked", "ranker_v2") and k[3] == variant)
        units = sum(1 for (e, _), v in first.items() if e == "ranker_v2" and v == variant)
        assert results[variant].estimate == pytest.approx(converted / units)

    _check_doors(warehouse, config, results, tmp_path)

    # a late click in hour 0 for units assigned in hour 0 whose first click was in hour 2
    late_units = sorted({k for k in _first_click_hour(expected, events, assignments).items() if k[1] == HOURS[2]})
    chosen = [u for u, _ in late_units][:5]
    assert chosen
    rows = []
    for row in assignments.to_pylist():
        if (row["exp_id"], row["unit_id"]) in chosen:
            rows.append({"event_time": row["assigned_at"] + timedelta(seconds=1), "unit_id": row["unit_id"],
                         "exp_id": row["exp_id"], "variant_id": row["variant_id"], "country": row["country"],
                         "platform": row["platform"], "impressions": 1, "clicks": 1, "revenue": 0.0})
    late = pa.Table.from_pylist(rows, schema=events[HOURS[0]].schema)
    write_log_file(str(tmp_path / "logs"), HOURS[0], "late.parquet", late)
    before = sum_partitions(warehouse, at, "ranker_v2", HOURS[2], "2026-11-23T03", ["clicked"])
    run_hour(config, HOURS[0], str(tmp_path / "logs"), warehouse, n_shards=2)
    updated = check({**events, HOURS[0]: pa.concat_tables([events[HOURS[0]], late])})
    moved = [u for e, u in chosen if e == "ranker_v2"]
    after = sum_partitions(warehouse, at, "ranker_v2", HOURS[2], "2026-11-23T03", ["clicked"])
    assert int(before.raw["clicked"].sum()) - int(after.raw["clicked"].sum()) == len(moved)
    # hours add up to the whole window, which still counts every converted unit once
    whole = sum_partitions(warehouse, at, "ranker_v2", HOURS[0], "2026-11-23T03", ["clicked"])
    parts = [sum_partitions(warehouse, at, "ranker_v2", h, format_hour(parse_hour(h) + timedelta(hours=1)),
                            ["clicked"]) for h in HOURS]
    total = parts[0] + parts[1] + parts[2]
    assert whole.keys == total.keys and whole.reps["clicked"].tolist() == total.reps["clicked"].tolist()
    assert int(whole.raw["clicked"].sum()) == sum(v[0] for k, v in updated.items() if k[:2] == ("clicked",
                                                                                                  "ranker_v2"))

    # the generated DuckDB SQL over the real partitions of both tables equals the engine
    from rayab.query.results import run_query
    from rayab.query.spec import Query
    from rayab.query.sql_run import run_duckdb
    from tests.query.test_sql import assert_sql_matches

    query = Query("ranker_v2", HOURS[0], "2026-11-23T03", metrics=("click_rate", "clicked", "ios_seen", "clicks"),
                  projection=("platform",))
    assert_sql_matches(run_duckdb(warehouse, at, exp, query), run_query(warehouse, at, exp, query))

    # the results cache follows cnv_<type> too: a refresh that rewrites only the counts is not served stale
    from rayab.aggregate.conversions import refresh_conversions
    from rayab.api.engine import ResultsEngine

    engine = ResultsEngine(warehouse)
    request = {"exp_id": "ranker_v2", "start_hour": HOURS[0], "end_hour": "2026-11-23T03", "metrics": ["clicked"]}
    assert not engine.results(request)[1] and engine.results(request)[1]
    refresh_conversions(warehouse, at, salts, HOURS[-1])
    assert not engine.results(request)[1]


def _first_click_hour(expected: dict[tuple[str, ...], tuple[int, list[int]]], events: dict[str, pa.Table],
                      assignments: pa.Table) -> dict[tuple[str, str], str]:
    """(exp_id, unit) -> hour of its first counted click, for units assigned in the first hour."""
    assigned = {(a["exp_id"], a["unit_id"]): a["assigned_at"] for a in assignments.to_pylist()
                if format_hour(a["assigned_at"] + timedelta(seconds=1)) == HOURS[0]}
    out: dict[tuple[str, str], str] = {}
    for hour in HOURS:
        for row in events[hour].to_pylist():
            key = (row["exp_id"], row["unit_id"])
            if key in assigned and row["clicks"] > 0 and key not in out:
                out[key] = hour
    assert expected
    return out


def _check_doors(warehouse: Any, config: Config, results: dict[str, Any], tmp_path: Path) -> None:
    """The CLI (JSON), ResultsService on a loopback server and the HTML report give the engine's share."""
    import json

    from rayab.api.engine import ResultsEngine
    from rayab.cli.main import main
    from rayab.rpc._generated import results_pb2 as rpb
    from rayab.storage.specs import save_config
    from tests.rpc.test_results_rpc import ResultsServer

    save_config(warehouse, config)
    out = tmp_path / "cli.json"
    args = ["results", "--warehouse", warehouse.url, "--exp", "ranker_v2", "--start", HOURS[0], "--end",
            "2026-11-23T03", "--metric", "click_rate", "--format", "json"]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(args) == 0
    out.write_text(buffer.getvalue())
    rows = {r["variant_id"]: r for r in json.loads(out.read_text())}
    for variant, result in results.items():
        assert rows[variant]["estimate"] == pytest.approx(result.estimate)
        assert rows[variant]["ci_lower"] < result.estimate < rows[variant]["ci_upper"]
    server = ResultsServer(ResultsEngine(warehouse))
    try:
        reply = server.stub.QueryResults(rpb.QueryResultsRequest(query=rpb.ResultsQuery(
            exp_id="ranker_v2", start_hour=HOURS[0], end_hour="2026-11-23T03", metrics=["click_rate", "clicked"])))
    finally:
        server.close()
    got = {(r.metric, r.variant_id): r.estimate for r in reply.results}
    for variant, result in results.items():
        assert got[("click_rate", variant)] == pytest.approx(result.estimate)
    report = tmp_path / "report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", "--warehouse", warehouse.url, "--exp", "ranker_v2", "--start", HOURS[0], "--end",
                     "2026-11-23T03", "--out", str(report)]) == 0
    assert "click_rate" in report.read_text() and "clicked" in report.read_text()


def test_sql_of_a_conversion_share_reads_both_tables_in_both_dialects() -> None:
    import sqlglot

    from rayab.query.spec import Query
    from rayab.query.sql import results_sql

    config = _config()
    dialects: tuple[Literal["duckdb", "trino"], ...] = ("duckdb", "trino")
    for dialect in dialects:
        text = results_sql(config.analysis_types[0], config.experiment("ranker_v2"),
                           Query("ranker_v2", HOURS[0], HOURS[2], metrics=("click_rate",)), dialect)
        tables = {t.name for t in sqlglot.parse_one(text, read=dialect).find_all(sqlglot.exp.Table)}
        assert {"agg_engagement", "cnv_engagement"} <= tables
        assert "TRANSFORM(" in text.upper()


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.usefixtures("ray_local")
def test_hourly_job_counts_day_0_retention_in_the_hour_the_day_ends(tmp_path: Path) -> None:
    """Day-0 retention through the Ray job: units assigned in hour 0, active again in hour 12 (or not), are counted
    (retained and eligible) in the hour holding the end of their day 0 (hour 24), and nowhere before; the stored
    counts equal plain Python, and the share's estimate is retained / eligible."""
    from rayab.hourly.job import run_hour
    from rayab.query.results import experiment_results
    from rayab.storage.schemas import conversion_table
    from rayab.storage.tables import read_rows, replace_partitions
    from rayab.storage.warehouse import Warehouse

    specs: list[dict[str, Any]] = [{"name": "d0", "kind": "retention", "day": 0, "metric": "clicks"}]
    config = _config(specs)
    data = config.to_dict()
    data["analysis_types"][0]["composed"]["d0_rate"] = "d0 / d0_eligible"
    config = Config.from_dict(data)
    at = config.analysis_types[0]
    salts = {e.exp_id: e.bootstrap_salt for e in config.experiments}
    hours = ["2026-11-23T00", "2026-11-23T12", "2026-11-24T00"]
    events: dict[str, pa.Table] = {}

    def write(hour: str, table: pa.Table) -> None:
        events[hour] = table
        write_log_file(str(tmp_path / "logs"), hour, "part-0.parquet", table)

    assignments = simulate_days(UnitPopulation.generate(600, seed=11), config, {}, hours, write, 3)
    warehouse = Warehouse.from_url(str(tmp_path / "wh"))
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"], {"exp_id": list(salts)})
    everything = [r for t in events.values() for r in t.to_pylist()]
    for i, hour in enumerate(hours):
        run_hour(config, hour, str(tmp_path / "logs"), warehouse, n_shards=2)
        expected = reference(everything, assignments.to_pylist(), specs, salts, hour)
        got = {k: v for k, v in stored(read_rows(warehouse, conversion_table(at)), at).items()
               if k[0] in ("d0", "d0_eligible")}
        assert got == expected
        if i < 2:  # no unit's day 0 has ended yet
            assert not got
    assert sum(v[0] for k, v in got.items() if k[0] == "d0_eligible") > 100
    assert {k[2] for k in got} <= {"2026-11-24T00", "2026-11-23T23"}
    assert 0 < sum(v[0] for k, v in got.items() if k[0] == "d0") < sum(v[0] for k, v in got.items()
                                                                         if k[0] == "d0_eligible")
    exp = config.experiment("ranker_v2")
    results = {r.variant_id: r for r in experiment_results(warehouse, at, exp, hours[0], "2026-11-24T01",
                                                           metrics=["d0_rate"])}
    for variant in ("control", "treatment"):
        retained = sum(v[0] for k, v in got.items() if k[:2] == ("d0", "ranker_v2") and k[3] == variant)
        eligible = sum(v[0] for k, v in got.items() if k[:2] == ("d0_eligible", "ranker_v2") and k[3] == variant)
        assert results[variant].estimate == pytest.approx(retained / eligible)
