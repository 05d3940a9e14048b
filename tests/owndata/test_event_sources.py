"""Event sources of the hourly job: each one's hour gives the same partitions, bit for bit, as the same events
written in rayab's own layout; each keeps the job's guarantees (quarantine with reasons, a manifest of what was read,
backfill seeing changed inputs)."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from rayab.aggregate.manifest import plan_reruns
from rayab.errors import SpecError
from rayab.guardrails.health import HealthCheck, experiment_health
from rayab.hourly.job import hour_input, run_hour
from rayab.model import Config
from rayab.model.source import EventSource
from rayab.simulate import demo_config
from rayab.storage.logs import hour_folder
from rayab.storage.schemas import MANIFEST_TABLE, QUARANTINE_TABLE
from rayab.storage.sources import event_times, exact_text, plan_hour, read_part
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"
T0 = datetime(2026, 11, 23, 5, tzinfo=UTC)
BIG = 9_007_199_254_740_993  # 2**53 + 1: a float would make it ...992


def _config(source: dict[str, Any] | None = None) -> Config:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    at = {**data["analysis_types"][0], "n_replicates": 16}
    if source is not None:
        at["source"] = source
    data["analysis_types"] = [at]
    return Config.from_dict(data)


def _events(seed: int = 3) -> list[dict[str, Any]]:
    """Events of hours 04, 05 and 06 (05 is the one run), sorted by time; int64 ids, some beyond 2**53; revenue
    with 2 decimals and some with 4 (rounded half to even); one negative revenue in hour 05 (quarantined)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(900):
        minute = int(rng.integers(-60, 120))
        unit = BIG + int(rng.integers(0, 150))
        exp = ("ranker_v2", "aa_check")[i % 2]
        variant = (("control", "treatment"), ("a", "b"))[i % 2][(unit * 7) % 2]
        revenue = round(float(rng.gamma(1.0, 2.0)), 4 if i % 5 == 0 else 2)
        rows.append({"unit_id": unit, "exp_id": exp, "variant_id": variant, "country": ("US", "FR", "DE")[i % 3],
                     "platform": ("web", "ios")[unit % 2], "impressions": int(rng.integers(1, 4)),
                     "clicks": int(rng.integers(0, 2)), "revenue": revenue,
                     "ts": T0 + timedelta(minutes=minute, seconds=int(rng.integers(0, 60)))})
    rows.append({**rows[0], "revenue": -1.0, "ts": T0 + timedelta(minutes=30)})
    return sorted(rows, key=lambda r: (r["ts"], r["unit_id"]))


def _in_hour(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if T0 <= r["ts"] < T0 + timedelta(hours=1)]


def _reference(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The hour from rayab's own layout: text unit ids, one Parquet file in date=/hour=."""
    logs = tmp_path / "own"
    Path(hour_folder(str(logs), HOUR)).mkdir(parents=True)
    own = [{**{k: v for k, v in r.items() if k != "ts"}, "unit_id": str(r["unit_id"])} for r in _in_hour(rows)]
    pq.write_table(pa.Table.from_pylist(own), f"{hour_folder(str(logs), HOUR)}/part-0.parquet")
    warehouse = Warehouse.from_url(tmp_path / "wh-own")
    run_hour(_config(), HOUR, str(logs), warehouse)
    return _agg(warehouse), _reasons(warehouse)


def _agg(warehouse: Warehouse) -> list[dict[str, Any]]:
    rows = read_rows(warehouse, "agg_engagement", where={"hour": HOUR})
    assert rows.num_rows > 0
    return sorted(rows.drop_columns(["commit_id"]).to_pylist(), key=lambda r: (r["exp_id"], r["variant_id"],
                                                                            r["country"], r["platform"]))


def _reasons(warehouse: Warehouse) -> Counter[str]:
    rows = read_rows(warehouse, QUARANTINE_TABLE, where={"hour": HOUR})
    return Counter(rows.column("reason").to_pylist()) if rows.num_rows else Counter()


def _manifest(warehouse: Warehouse) -> dict[str, Any]:
    rows = read_rows(warehouse, MANIFEST_TABLE).to_pylist()
    return max(rows, key=lambda r: r["committed_at"])


def _run_source(tmp_path: Path, name: str, source: dict[str, Any]) -> Warehouse:
    warehouse = Warehouse.from_url(tmp_path / f"wh-{name}")
    (summary,) = run_hour(_config(source), HOUR, None, warehouse)
    assert summary.rows_quarantined == 1
    return warehouse


def _check_same(tmp_path: Path, rows: list[dict[str, Any]], warehouse: Warehouse) -> None:
    agg, reasons = _reference(tmp_path, rows)
    assert _agg(warehouse) == agg
    assert _reasons(warehouse) == reasons == Counter({"revenue is negative": 1})
    assert _manifest(warehouse)["rows_read"] == len(_in_hour(rows))


def _late_data(warehouse: Warehouse, config: Config) -> HealthCheck:
    """``rayab health``'s late_data check of the hour, without --logs (the source is in the config)."""
    checks = {c.name: c for c in experiment_health(warehouse, config, "ranker_v2", HOUR, "2026-11-23T06")}
    return checks["late_data"]


def _csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def test_csv_gzip_in_rayab_layout(tmp_path: Path) -> None:
    rows = _events()
    root = tmp_path / "csv"
    folder = Path(hour_folder(str(root), HOUR))
    folder.mkdir(parents=True)
    hour_rows = _in_hour(rows)
    (folder / "a.csv.gz").write_bytes(gzip.compress(_csv_bytes(hour_rows[:300])))
    (folder / "b.csv").write_bytes(_csv_bytes(hour_rows[300:]))
    warehouse = _run_source(tmp_path, "csv", {"kind": "files", "path": str(root)})
    _check_same(tmp_path, rows, warehouse)
    assert sorted(Path(p).name for p in _manifest(warehouse)["input_files"]) == ["a.csv.gz", "b.csv"]


def test_template_with_other_keys_zstd_json_lines_and_renamed_columns(tmp_path: Path) -> None:
    rows = _events(4)
    template = str(tmp_path / "raw" / "y={year}" / "m={month}" / "d={day}" / "{time:%H}" / "*.jsonl.zst")
    folder = tmp_path / "raw" / "y=2026" / "m=11" / "d=23" / "05"
    folder.mkdir(parents=True)
    lines = "".join(json.dumps({"user": r["unit_id"], "experiment": r["exp_id"], "arm": r["variant_id"],
                                **{k: r[k] for k in ("country", "platform", "impressions", "clicks", "revenue")}})
                    + "\n" for r in _in_hour(rows)).encode()
    with pa.CompressedOutputStream(str(folder / "events.jsonl.zst"), "zstd") as out:
        out.write(lines)
    source = {"kind": "files", "path": template,
              "columns": {"unit_id": "user", "exp_id": "experiment", "variant_id": "arm"}}
    warehouse = _run_source(tmp_path, "template", source)
    _check_same(tmp_path, rows, warehouse)
    assert json.loads(_manifest(warehouse)["input_source"])["columns"]["unit_id"] == "user"


def _flat_parquet(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    half = len(rows) // 2
    # sorted by time, small row groups: statistics let whole groups be skipped
    pq.write_table(table.slice(0, half), folder / "part-0.parquet", row_group_size=60)
    pq.write_table(table.slice(half), folder / "part-1.parquet", row_group_size=60)
    later = [r for r in rows if r["ts"] >= T0 + timedelta(hours=1)]
    pq.write_table(pa.Table.from_pylist(later), folder / "later-only.parquet")
    (folder / "_SUCCESS").write_text("")


def test_flat_folder_of_parquet_selects_the_hour_by_timestamp_with_statistics(tmp_path: Path) -> None:
    rows = _events(5)
    folder = tmp_path / "flat"
    _flat_parquet(folder, rows)
    source = {"kind": "files", "path": str(folder), "layout": "flat", "timestamp_column": "ts"}
    planned = plan_hour(EventSource.from_dict(source), HOUR)
    # the file holding only hour 06 is not read at all, and row groups of other hours are skipped
    assert sorted(Path(f.path).name for f in planned.files) == ["part-0.parquet", "part-1.parquet"]
    groups = sum(len(p.split.row_groups or ()) for p in planned.parts if p.split is not None)
    total = sum(pq.ParquetFile(folder / n).num_row_groups for n in ("part-0.parquet", "part-1.parquet"))
    assert 0 < groups < total
    assert [i.path.rsplit("/", 1)[1] for i in planned.listing.ignored] == ["_SUCCESS"]
    warehouse = _run_source(tmp_path, "flat", source)
    _check_same(tmp_path, rows, warehouse)
    manifest = _manifest(warehouse)
    # the rows of hours 04 and 06 in the row groups read are counted, not aggregated
    assert 0 < manifest["rows_outside_hour"] <= groups * 60 - len(_in_hour(rows))
    # backfill and health: a late file with rows of the hour is a new input; one without them is not
    late = [r for r in rows if r["ts"] >= T0 + timedelta(hours=1)][:5]
    pq.write_table(pa.Table.from_pylist(late), folder / "other-hour.parquet")
    assert _late_data(warehouse, _config(source)).status == "ok"
    pq.write_table(pa.Table.from_pylist(_in_hour(rows)[:5]), folder / "late.parquet")
    at = _config(source).analysis_type("engagement")
    plans = plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files)
    assert len(plans) == 1 and "1 new files" in plans[0].reason and "late.parquet" in plans[0].reason
    check = _late_data(warehouse, _config(source))
    assert check.status == "warn" and check.details["changed"] == [f"engagement {HOUR}"]
    assert check.details["changes"][f"engagement {HOUR}"] == plans[0].reason.removeprefix("inputs changed: ")


def test_unreadable_times_are_quarantined_once_in_a_flat_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flat-json"
    folder.mkdir()
    rows = [{"unit_id": f"u{i}", "exp_id": "aa_check", "variant_id": "a", "country": "US", "platform": "web",
             "impressions": 1, "clicks": 0, "revenue": 0.5,
             "ts": (T0 + timedelta(minutes=40 * i)).isoformat().replace("+00:00", "Z")} for i in range(3)]
    rows.append({**rows[0], "ts": "yesterday"})
    (folder / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = {"kind": "files", "path": str(folder), "layout": "flat", "timestamp_column": "ts"}
    config = _config(source)
    first = Warehouse.from_url(tmp_path / "wh")
    (h5,) = run_hour(config, HOUR, None, first)
    (h6,) = run_hour(config, "2026-11-23T06", None, first)
    # 05 holds u0 and u1 (00:00, 00:40) and the row with no time (the file's earliest time is in 05); 06 holds u2
    assert (h5.rows_read, h5.rows_quarantined, h6.rows_read, h6.rows_quarantined) == (3, 1, 1, 0)
    assert h5.quarantine_reasons == {"ts == 'yesterday': not a time (ISO 8601, or epoch s)": 1}


def test_delta_table_filtered_to_the_hour_and_a_newer_version_is_seen(tmp_path: Path) -> None:
    rows = _events(6)
    table = pa.Table.from_pylist(rows)
    table = table.append_column("date", pa.array([r["ts"].strftime("%Y-%m-%d") for r in rows]))
    path = str(tmp_path / "delta")
    third = table.num_rows // 3
    write_deltalake(path, table.slice(0, third), partition_by=["date"])
    write_deltalake(path, table.slice(third, third), mode="append", partition_by=["date"])
    write_deltalake(path, table.slice(2 * third), mode="append", partition_by=["date"])
    source = {"kind": "delta", "path": path, "timestamp_column": "ts"}
    warehouse = _run_source(tmp_path, "delta", source)
    _check_same(tmp_path, rows, warehouse)
    described = json.loads(_manifest(warehouse)["input_source"])
    assert described["version"] == 2 and described["kind"] == "delta"
    at = _config(source).analysis_type("engagement")
    assert plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files) == []
    assert _late_data(warehouse, _config(source)).status == "ok"
    # a newer version with rows of the hour: the hour has new inputs; one with rows of another day does not touch it
    extra = table.slice(0, 3)
    write_deltalake(path, extra.set_column(extra.schema.get_field_index("ts"), "ts",
                                           pa.array([T0 + timedelta(minutes=1)] * 3, pa.timestamp("us", "UTC"))),
                    mode="append", partition_by=["date"])
    plans = plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files)
    assert len(plans) == 1 and "1 new files" in plans[0].reason
    check = _late_data(warehouse, _config(source))
    assert check.status == "warn" and "1 new files" in check.reason and HOUR in check.reason


def test_duckdb_query_over_parquet_with_bound_hour(tmp_path: Path) -> None:
    rows = _events(7)
    folder = tmp_path / "pq"
    _flat_parquet(folder, rows)
    glob = str(folder / "part-*.parquet")
    query = ("SELECT unit_id AS uid, exp_id, variant_id, country, platform, impressions, clicks, revenue "
             f"FROM read_parquet('{glob}') WHERE ts >= {{start}} AND ts < {{end}}")
    source = {"kind": "sql", "query": query, "columns": {"unit_id": "uid"}}
    # the result is read by 4 map tasks, each its share of units: together exactly the query's rows, once each
    columns = ["unit_id", "exp_id", "variant_id", "revenue"]
    parts = plan_hour(EventSource.from_dict(source), HOUR).parts
    shares = [read_part(p, columns, "unit_id").table for p in parts]
    (whole,) = [read_part(p, columns, "unit_id").table
                for p in plan_hour(EventSource.from_dict({**source, "splits": 1}), HOUR).parts]
    assert len(parts) == 4 and all(0 < t.num_rows < whole.num_rows for t in shares)
    assert whole.num_rows == len(_in_hour(rows))
    assert sorted(map(str, pa.concat_tables(shares).to_pylist())) == sorted(map(str, whole.to_pylist()))
    units = [set(t.column("unit_id").to_pylist()) for t in shares]
    assert sum(map(len, units)) == len(set().union(*units))  # each unit in one share only
    warehouse = _run_source(tmp_path, "sql", source)
    _check_same(tmp_path, rows, warehouse)
    described = json.loads(_manifest(warehouse)["input_source"])
    assert "$start" in described["query"] and "{start}" not in described["query"]
    assert described["params"] == {"start": "2026-11-23T05:00:00+00:00", "end": "2026-11-23T06:00:00+00:00"}
    # the query's digest is its input: a changed query is a changed input for backfill and health
    assert _late_data(warehouse, _config(source)).status == "ok"
    changed = _config({**source, "query": query + " AND clicks >= 0"})
    at = changed.analysis_type("engagement")
    plans = plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files)
    assert len(plans) == 1 and "new files" in plans[0].reason and "files gone" in plans[0].reason
    check = _late_data(warehouse, changed)
    assert check.status == "warn" and "files gone: duckdb query" in check.reason


def test_a_query_cannot_have_values_formatted_in() -> None:
    with pytest.raises(SpecError, match=r"source.query == .*must use \{start\} and \{end\}"):
        EventSource.from_dict({"kind": "sql", "query": "SELECT * FROM t WHERE ts >= '2026-11-23 05:00'"})
    query = "SELECT * FROM t WHERE ts >= {start} AND ts < {end}"
    assert EventSource.from_dict({"kind": "sql", "query": query}).query_splits == 4
    assert EventSource.from_dict({"kind": "sql", "query": query, "splits": 2}).to_dict()["splits"] == 2
    with pytest.raises(SpecError, match=r"source.splits == 300: must be an integer from 1 to 256"):
        EventSource.from_dict({"kind": "sql", "query": query, "splits": 300})
    with pytest.raises(SpecError, match=r"source.splits == 2: is only for a sql source, not delta"):
        EventSource.from_dict({"kind": "delta", "path": "t", "timestamp_column": "ts", "splits": 2})


def test_ids_and_times_of_any_type() -> None:
    ids = exact_text(pa.array([1e20, 123.0, 2.5, None]))
    assert ids.to_pylist() == ["100000000000000000000", "123", "2.5", None]
    assert exact_text(pa.array([BIG], pa.int64())).to_pylist() == [str(BIG)]
    epoch = int(T0.timestamp())
    for column, unit in ((pa.array([epoch]), "s"), (pa.array([epoch * 1000]), "ms"),
                         (pa.array([epoch * 10**9]), "ns"), (pa.array([T0.replace(tzinfo=None)]), "s"),
                         (pa.array(["2026-11-23T06:00:00+01:00"]), "s")):
        times, bad = event_times(column, unit)
        assert times.to_pylist() == [T0] and not bad.any(), (column, unit)


def test_a_query_read_by_several_tasks_runs_once_and_a_failing_one_is_an_input_error(tmp_path: Path) -> None:
    """The job runs a query source's hour once (one task returns every part's slice), the slices hold the query's
    rows once each, and a query that fails is the same one-line input error as before, not an internal one."""
    import ray

    from rayab.errors import InputDataError
    from rayab.hourly.job import JobOptions, _query_reads

    rows = _events(11)
    folder = tmp_path / "pq"
    _flat_parquet(folder, rows)
    query = ("SELECT unit_id AS uid, exp_id, variant_id, country, platform, impressions, clicks, revenue "
             f"FROM read_parquet('{folder / 'part-*.parquet'}') WHERE ts >= {{start}} AND ts < {{end}}")
    source = {"kind": "sql", "query": query, "columns": {"unit_id": "uid"}}
    at = _config(source).analysis_type("engagement")
    parts = plan_hour(EventSource.from_dict(source), HOUR).parts
    refs = _query_reads(parts, at, JobOptions())
    assert len(refs) == 4 and len({r.task_id() for r in refs}) == 1  # one query task for the four parts
    slices = ray.get(refs)
    assert sum(s.num_rows for s in slices) == len(_in_hour(rows)) and all(s.num_rows for s in slices)
    columns = ["unit_id", "exp_id", "variant_id", "revenue"]
    read = [read_part(p, columns, "unit_id", preread=s).table for p, s in zip(parts, slices, strict=True)]
    hashed = [read_part(p, columns, "unit_id").table for p in parts]
    assert sorted(map(str, pa.concat_tables(read).to_pylist())) == sorted(
        map(str, pa.concat_tables(hashed).to_pylist()))
    bad = {**source, "query": query.replace(str(folder), str(tmp_path / "missing"))}
    with pytest.raises(InputDataError, match=r"query .* failed for hour 2026-11-23T05"):
        run_hour(_config(bad), HOUR, None, Warehouse.from_url(tmp_path / "wh-bad"))
