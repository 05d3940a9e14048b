"""Partitions replaced in one commit from files written in parallel: same rows and log statistics as delta-rs's own
writer, one Delta version per replace, other partitions untouched, and an interrupted write loses nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from rayab.errors import StorageError
from rayab.storage.commits import partition_commit_ids, with_commit_id
from rayab.storage.partition_writes import write_partitions
from rayab.storage.tables import read_rows, replace_partitions, table_version
from rayab.storage.warehouse import Warehouse

REPS = pa.list_(pa.field("element", pa.int64()))
BY = ["exp_id", "hour"]


def part(exp: str, hour: str, base: int, rows: int = 3) -> pa.Table:
    return with_commit_id(pa.table({
        "hour": [hour] * rows, "exp_id": [exp] * rows, "variant_id": [f"v{i}" for i in range(rows)],
        "n_events": pa.array([base + i for i in range(rows)], pa.int64()),
        "clicks": pa.array([None] + [base * 10 + i for i in range(1, rows)], pa.int64()),
        "clicks_reps": pa.array([[base, i, -i] for i in range(rows)], REPS)}), f"c{base}")


def rows_of(wh: Warehouse, where: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = read_rows(wh, "agg", where)
    return sorted(rows.select(sorted(rows.column_names)).to_pylist(), key=lambda r: (r["exp_id"], r["hour"],
                                                                                   r["variant_id"]))


def stats_by_partition(wh: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    """The parsed ``stats`` of each add action of the table's newest commit, by partition (from the log itself)."""
    newest = sorted(Path(wh.table_uri("agg"), "_delta_log").glob("*.json"))[-1]
    out = {}
    for line in newest.read_text().splitlines():
        add = json.loads(line).get("add")
        if add:
            out[add["partitionValues"]["exp_id"], add["partitionValues"]["hour"]] = json.loads(add["stats"])
    return out


def test_same_rows_and_log_statistics_as_delta_rs(tmp_path: Path) -> None:
    ours, theirs = Warehouse.from_url(tmp_path / "ours"), Warehouse.from_url(tmp_path / "theirs")
    parts = [part("e1", "h1", 1), part("e2", "h1", 2, rows=1), part("e3", "h1", 3)]
    assert write_partitions(ours, "agg", parts, BY, {"hour": "h1"}) == 3
    replace_partitions(theirs, "agg", pa.concat_tables(parts), BY, {"hour": "h1"})
    assert rows_of(ours) == rows_of(theirs) and len(rows_of(ours)) == 7
    assert stats_by_partition(ours) == stats_by_partition(theirs)
    assert stats_by_partition(ours)["e2", "h1"]["nullCount"]["clicks"] == 1
    assert partition_commit_ids(ours, "agg", {"exp_id": "e3"}) == {"h1": {"c3"}}


def test_one_commit_replaces_the_hour_and_leaves_other_hours(tmp_path: Path) -> None:
    wh = Warehouse.from_url(tmp_path)
    write_partitions(wh, "agg", [part("e1", "h1", 1), part("e2", "h1", 2), part("e1", "h2", 5)], BY, {"hour": "h1"})
    before = table_version(wh, "agg")
    other_hour = rows_of(wh, {"hour": "h2"})
    write_partitions(wh, "agg", [part("e1", "h1", 7), part("e3", "h1", 8)], BY, {"hour": "h1"}, threads=3)
    assert table_version(wh, "agg") == before + 1
    assert rows_of(wh, {"hour": "h2"}) == other_hour and len(other_hour) == 3
    got = rows_of(wh, {"hour": "h1"})
    assert {r["exp_id"] for r in got} == {"e1", "e3"}  # e2 is gone with the old hour
    assert sorted(r["n_events"] for r in got) == [7, 8, 8, 9, 9, 10]
    assert len(DeltaTable(wh.table_uri("agg")).file_uris()) == 3  # one file per partition


def test_an_interrupted_write_keeps_the_old_hour(tmp_path: Path) -> None:
    wh = Warehouse.from_url(tmp_path)
    write_partitions(wh, "agg", [part("e1", "h1", 1), part("e2", "h1", 2)], BY, {"hour": "h1"})
    old, version = rows_of(wh), table_version(wh, "agg")

    def failing() -> Iterator[pa.Table]:
        yield part("e1", "h1", 40)
        yield part("e2", "h1", 41)
        raise RuntimeError("the reducer died while building the hour")

    with pytest.raises(RuntimeError, match="reducer died"):
        write_partitions(wh, "agg", failing(), BY, {"hour": "h1"})
    assert table_version(wh, "agg") == version and rows_of(wh) == old


def test_values_it_cannot_name_and_new_columns_take_the_usual_writer(tmp_path: Path) -> None:
    wh = Warehouse.from_url(tmp_path)
    write_partitions(wh, "agg", [part("e1", "h1", 1)], BY, {"hour": "h1"})
    odd = [part("e1", "h1", 2), part("exp 2/b", "h1", 3)]
    write_partitions(wh, "agg", odd, BY, {"hour": "h1"})
    assert rows_of(wh) == rows_of_table(odd)
    grown = [p.append_column("views", pa.array([1] * p.num_rows, pa.int64())) for p in [part("e1", "h1", 4)]]
    write_partitions(wh, "agg", grown, BY, {"hour": "h1"})
    assert rows_of(wh) == rows_of_table(grown)


def rows_of_table(parts: list[pa.Table]) -> list[dict[str, Any]]:
    table = pa.concat_tables(parts)
    return sorted(table.select(sorted(table.column_names)).to_pylist(),
                  key=lambda r: (r["exp_id"], r["hour"], r["variant_id"]))


def test_an_empty_hour_and_no_predicate(tmp_path: Path) -> None:
    wh = Warehouse.from_url(tmp_path)
    write_partitions(wh, "agg", [part("e1", "h1", 1), part("e1", "h2", 2)], BY, {"hour": "h1"})
    write_partitions(wh, "agg", [part("e1", "h1", 1).slice(0, 0)], BY, {"hour": "h1"})
    assert {r["hour"] for r in rows_of(wh)} == {"h2"}
    with pytest.raises(StorageError, match="needs a predicate"):
        write_partitions(wh, "agg", [part("e1", "h1", 1)], BY, {})
    assert json.dumps(rows_of(wh, {"hour": "h2"})[0]["clicks_reps"]) == "[2, 0, 0]"
