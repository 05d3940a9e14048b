"""``rayab assignments load`` against a plain-Python reference: the assignment table, the quarantine and the summary
are what a few lines of ``csv`` and ``datetime`` make of the same file."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from rayab.cli.main import main
from rayab.simulate import demo_config
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

START = datetime(2026, 11, 23, tzinfo=UTC)
BIG = 12345678901234567890  # beyond int64 and far beyond 2**53
LONG = 1234567890123456789  # an int64 beyond 2**53: a float round trip would change it


def _warehouse(tmp: Path) -> str:
    url = str(tmp / "wh")
    save_config(Warehouse.from_url(url), demo_config("2026-11-23T00:00:00Z"))
    return url


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows() -> list[dict[str, Any]]:
    rows = [{"unit_id": BIG + i, "variant_id": "control" if i % 2 else "treatment",
             "assigned_at": f"2026-11-23T{i % 24:02d}:{i % 60:02d}:00Z", "country": ["US", "FR"][i % 2],
             "household_id": i // 3} for i in range(60)]
    rows.append({**rows[4], "assigned_at": "2026-11-23T00:00:01Z", "variant_id": "control"})  # earlier: wins
    rows.append({**rows[5], "assigned_at": "2026-11-23T23:00:00Z"})  # later duplicate: dropped
    rows.append({**rows[6], "variant_id": "zz"})  # unknown variant
    rows.append({**rows[7], "unit_id": 999, "assigned_at": "yesterday"})  # not a time
    rows.append({**rows[8], "unit_id": 998, "assigned_at": "2026-11-22T23:59:59Z"})  # before the start
    rows.append({**rows[9], "unit_id": ""})  # no unit
    rows.append({**rows[10], "unit_id": 997, "assigned_at": "2026-11-23 07:30:00"})  # no zone: UTC
    return rows


def _reference(rows: list[dict[str, Any]]) -> tuple[dict[str, tuple[str, datetime, str]], Counter[str]]:
    """What the table must hold per unit (variant, time, country) and the quarantine reasons, in plain Python."""
    best: dict[str, tuple[datetime, str, str]] = {}
    reasons: Counter[str] = Counter()
    for row in rows:
        unit, variant = str(row["unit_id"]), str(row["variant_id"])
        try:
            at = datetime.fromisoformat(str(row["assigned_at"]))
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        except ValueError:
            at = None
        if not unit:
            reasons["unit_id is null or empty"] += 1
        elif variant not in ("control", "treatment"):
            reasons["variant_id == 'zz': unknown variant of ranker_v2 (known: control, treatment)"] += 1
        elif at is None:
            reasons["assigned_at is not an ISO 8601 time"] += 1
        elif at < START:
            reasons["assigned_at is before the experiment's start_time 2026-11-23T00:00:00+00:00"] += 1
        elif unit not in best or (at, variant) < best[unit][:2]:
            best[unit] = (at, variant, str(row["country"]))
    return {u: (v, at, c) for u, (at, v, c) in best.items()}, reasons


def _table(warehouse: str) -> dict[str, tuple[str, datetime, str]]:
    rows = read_rows(Warehouse.from_url(warehouse), "assignment", where={"exp_id": "ranker_v2"}).to_pylist()
    return {r["unit_id"]: (r["variant_id"], r["assigned_at"], r["country"]) for r in rows}


def test_load_matches_a_plain_python_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = _warehouse(tmp_path)
    rows = _rows()
    path = _write_csv(tmp_path / "assign.csv", rows)
    assert main(["assignments", "load", str(path), "--exp", "ranker_v2", "--warehouse", warehouse,
                 "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected, reasons = _reference(rows)
    assert _table(warehouse) == expected
    assert str(BIG) in expected and str(BIG + 4) in expected  # every digit kept, as text
    assert expected[str(BIG + 4)][0] == "control"  # the earlier row won
    assert summary["quarantine_reasons"] == dict(reasons)
    assert summary["rows_quarantined"] == sum(reasons.values()) == 4
    assert summary["rows_read"] == len(rows) and summary["inserted"] == len(expected)
    assert summary["duplicate_rows"] == 2 and summary["units_with_several_variants"] == 1
    by_variant = Counter(v for v, _, _ in expected.values())
    assert summary["units_in_file"] == summary["units_in_table"] == dict(by_variant)
    assert summary["kept_columns"] == ["country", "household_id"]
    quarantine = read_rows(Warehouse.from_url(warehouse), "_load_quarantine").to_pylist()
    assert sorted(r["row_index"] for r in quarantine) == [62, 63, 64, 65]  # 0-based rows of the bad lines
    assert json.loads(next(r for r in quarantine if r["row_index"] == 62)["row"])["variant_id"] == "zz"


def test_loading_twice_changes_nothing_and_earliest_wins_against_the_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = _warehouse(tmp_path)
    rows = _rows()
    path = _write_csv(tmp_path / "assign.csv", rows)
    args = ["assignments", "load", str(path), "--exp", "ranker_v2", "--warehouse", warehouse, "--format", "json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    before = _table(warehouse)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert _table(warehouse) == before
    assert again["table_version"] == first["table_version"]  # no commit at all
    assert again["inserted"] == again["made_earlier"] == 0 and again["unchanged"] == len(before)
    # a second export: one unit earlier (it moves, variant and all), one later (ignored), one new
    later = [{**rows[0], "assigned_at": "2026-11-22T12:00:00Z"},  # before the start: quarantined
             {**rows[1], "assigned_at": "2026-11-23T00:00:00Z", "variant_id": "treatment", "country": "DE"},
             {**rows[2], "assigned_at": "2026-11-24T05:00:00Z", "variant_id": "control"},
             {**rows[3], "unit_id": 5, "assigned_at": "2026-11-25T01:00:00Z"}]
    path2 = _write_csv(tmp_path / "more.csv", later)
    assert main(["assignments", "load", str(path2), "--exp", "ranker_v2", "--warehouse", warehouse,
                 "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected, _ = _reference(rows + later)
    assert _table(warehouse) == expected
    assert (summary["inserted"], summary["made_earlier"], summary["unchanged"]) == (1, 1, 1)
    dates = {r["unit_id"]: r["date"] for r in read_rows(Warehouse.from_url(warehouse), "assignment").to_pylist()}
    assert dates[str(BIG + 1)] == "2026-11-23" and dates["5"] == "2026-11-25"


def test_parquet_and_delta_sources_with_integer_ids_and_mapped_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = _warehouse(tmp_path)
    ids = pa.array([LONG, 2**63 - 1, 3, 4], pa.int64())
    table = pa.table({"user": ids, "arm": pa.array([0, 1, 1, 0], pa.int64()),
                      "ts": pa.array([datetime(2026, 11, 23, h) for h in (1, 2, 3, 4)], pa.timestamp("ms")),
                      "segment": pa.array([7, 8, None, 9], pa.int64())})
    pq.write_table(table, tmp_path / "a.parquet")
    write_deltalake(str(tmp_path / "delta"), table)
    for source in (str(tmp_path / "a.parquet"), str(tmp_path / "delta")):
        assert main(["assignments", "load", source, "--exp", "ranker_v2", "--warehouse", warehouse,
                     "--unit-column", "user", "--variant-column", "arm", "--time-column", "ts",
                     "--variant-map", "0=control,1=treatment", "--format", "json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["rows_quarantined"] == 0
    assert summary["format"] == "delta" and summary["unchanged"] == 4  # the same rows from the Delta table
    rows = read_rows(Warehouse.from_url(warehouse), "assignment").to_pylist()
    got = {r["unit_id"]: (r["variant_id"], r["assigned_at"].hour, r["segment"]) for r in rows}
    assert got == {str(LONG): ("control", 1, "7"), str(2**63 - 1): ("treatment", 2, "8"), "3": ("treatment", 3, None),
                   "4": ("control", 4, "9")}
    assert DeltaTable(str(tmp_path / "delta")).version() == 0  # the source is only read


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["--exp", "ranker_v2", "--unit-column", "user"], 2, "--unit-column == 'user'"),
    (["--exp", "nope"], 3, "experiment 'nope' not found"),
    (["--exp", "ranker_v2", "--variant-map", "0"], 2, "--variant-map == '0'"),
    (["--exp", "ranker_v2", "--cluster-column", "street"], 2, "--cluster-column == 'street'"),
])
def test_bad_arguments_exit_with_one_line_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: list[str], code: int, needle: str) -> None:
    warehouse = _warehouse(tmp_path)
    path = _write_csv(tmp_path / "assign.csv", _rows())
    assert main(["assignments", "load", str(path), "--warehouse", warehouse, *argv]) == code
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_a_missing_source_is_not_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = _warehouse(tmp_path)
    assert main(["assignments", "load", str(tmp_path / "none.csv"), "--exp", "ranker_v2",
                 "--warehouse", warehouse]) == 3
    assert "none.csv does not exist" in capsys.readouterr().err


def test_times_of_every_kind_become_utc_microseconds() -> None:
    from datetime import date

    from rayab.aggregate.assignment_file import parse_times

    expected = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    columns = [pa.array([1_795_424_400_123_456_789], pa.timestamp("ns")),  # nanoseconds: truncated, not refused
               pa.array([expected.replace(hour=10).astimezone(UTC).replace(tzinfo=None)], pa.timestamp("us")),
               pa.array(["2026-11-23T10:00:00.123456+01:00"]), pa.array(["2026-11-23 09:00:00.123456"])]
    for column in columns:
        times, why = parse_times(pa.chunked_array([column]))
        assert why == [None]
        assert times.to_pylist()[0].replace(hour=9) == expected
    times, why = parse_times(pa.chunked_array([pa.array([date(2026, 11, 23)])]))
    assert times.to_pylist() == [datetime(2026, 11, 23, tzinfo=UTC)]
    _, why = parse_times(pa.chunked_array([pa.array([1_795_424_400])]))
    assert why[0].startswith("is a int64 value, not a time")  # type: ignore[union-attr]
