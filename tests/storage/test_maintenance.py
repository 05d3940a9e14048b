"""Tables that stay healthy: writers checkpoint every CHECKPOINT_INTERVAL commits, and after ``rayab maintain`` a
plain Hive-partitioned Parquet reader (pyarrow.dataset, DuckDB read_parquet) sees exactly the Delta table's rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable, write_deltalake

from rayab.cli.main import main
from rayab.hourly.job import run_hour
from rayab.storage.logs import write_log_file
from rayab.storage.maintenance import maintain_warehouse
from rayab.storage.tables import CHECKPOINT_INTERVAL, append_rows, replace_partitions
from rayab.storage.warehouse import Warehouse, filesystem_for
from tests.worlds import make_world


def _checkpoints(table_uri: str) -> list[str]:
    return sorted(p.name for p in Path(table_uri, "_delta_log").glob("*.checkpoint.parquet"))


def test_writers_checkpoint_every_interval_commits(workdir: Path) -> None:
    warehouse = Warehouse.from_url(workdir / "wh")
    uri = warehouse.table_uri("_manifest_like")
    for i in range(CHECKPOINT_INTERVAL + 1):
        append_rows(warehouse, "_manifest_like", pa.table({"i": [i]}))
        # delta-rs checkpoints after the commit whose version + 1 is a multiple of the interval
        assert bool(_checkpoints(uri)) == (i >= CHECKPOINT_INTERVAL - 1)
    assert _checkpoints(uri) == [f"{CHECKPOINT_INTERVAL - 1:020d}.checkpoint.parquet"]
    assert DeltaTable(uri).metadata().configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)
    assert DeltaTable(uri).to_pyarrow_table().num_rows == CHECKPOINT_INTERVAL + 1


def _key(row: dict[str, object]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _hive_rows(table_uri: str) -> list[str]:
    """Rows of every Parquet file under the folder, partition values from the hive paths (as strings)."""
    dataset = ds.dataset(table_uri, format="parquet", partitioning=ds.partitioning(flavor="hive"))
    table = dataset.to_table()
    return sorted(_key({k: (str(v) if k in _partition_names(table_uri) else v) for k, v in row.items()})
                  for row in table.to_pylist())


def _partition_names(table_uri: str) -> list[str]:
    return list(DeltaTable(table_uri).metadata().partition_columns)


def _delta_rows(table_uri: str) -> list[str]:
    table = DeltaTable(table_uri).to_pyarrow_table()
    return sorted(_key(row) for row in table.to_pylist())


@pytest.mark.usefixtures("ray_local")
def test_after_maintain_a_hive_parquet_reader_sees_the_delta_rows(workdir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(workdir, n_units=400, n_hours=1)
    run_hour(world.config, world.hours[0], world.logs, world.warehouse)
    write_log_file(world.logs, world.hours[0], "late.parquet", world.events[world.hours[0]].slice(0, 7))
    run_hour(world.config, world.hours[0], world.logs, world.warehouse)  # a re-run supersedes hour 0's files
    agg = world.warehouse.table_uri(world.analysis_type.table)
    delta_agg = DeltaTable(agg).to_pyarrow_table()
    n_agg = delta_agg.num_rows
    cells_h0 = sum(1 for h in delta_agg.column("hour").to_pylist() if h == world.hours[0])
    # before maintenance a plain Parquet reader also counts hour 0's superseded files
    assert len(_hive_rows(agg)) == n_agg + cells_h0
    assert len(DeltaTable(world.warehouse.table_uri("_manifest")).file_uris()) == 2  # one small file per commit

    capsys.readouterr()
    assert main(["maintain", "--warehouse", world.warehouse.url, "--retention-hours", "0"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    # the manifest's two appends become one file (v2), the two small files are vacuumed (v3, v4), checkpointed
    assert lines["_manifest"] == ("_manifest: v4, 1 data files; compact 2 -> 1 files; checkpoint v4 written; "
                                  "vacuum 2 removed files")
    # agg_engagement: created empty (v0), two hourly commits, the vacuum's two (v3, v4); one superseded file per
    # experiment
    assert lines["agg_engagement"] == ("agg_engagement: v4, 2 data files; compact 0 -> 0 files; checkpoint v4 "
                                       "written; vacuum 2 removed files")
    assert out.splitlines()[-1].startswith("4 tables: 2 small files compacted, ")

    for name in ("agg_engagement", "_manifest", "_quarantine", "assignment"):
        uri = world.warehouse.table_uri(name)
        if not Path(uri).exists():
            continue
        assert _hive_rows(uri) == _delta_rows(uri), name
        assert _checkpoints(uri), f"{name} has no checkpoint"
    assert len(_hive_rows(agg)) == n_agg
    glob = f"{agg}/*/*/*.parquet"  # the partition folders only: _delta_log holds checkpoint Parquet files too
    (count, events), = duckdb.sql(f"SELECT count(*), sum(n_events) FROM read_parquet('{glob}', "  # type: ignore[union-attr]
                                  "hive_partitioning = true)").fetchall()
    assert (count, events) == (n_agg, int(pa.compute.sum(delta_agg.column("n_events")).as_py()))
    assert events == sum(world.events[h].num_rows for h in world.hours) + 7

    # idempotent: a second run (as cron would) finds nothing to do
    assert main(["maintain", "--warehouse", world.warehouse.url, "--retention-hours", "0", "--format",
                 "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {r["table"] for r in again} >= {"agg_engagement", "_manifest", "assignment"}
    assert all(r["compacted_files"] == 0 and r["vacuumed_files"] == 0 and not r["checkpoint_written"]
               and r["properties_set"] == [] for r in again)


def test_maintain_dry_run_changes_nothing_and_bad_retention_is_refused(workdir: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = Warehouse.from_url(workdir / "wh")
    uri = warehouse.table_uri("_manifest")
    for i in range(3):  # a table as older versions wrote it: no checkpoint interval set
        write_deltalake(uri, pa.table({"i": [i]}), mode="append")
    assert main(["maintain", "--warehouse", warehouse.url, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "_manifest: v2, 3 data files; would compact 3 -> 1 files; no checkpoint; would vacuum 0 removed files; "
        f"set delta.checkpointInterval={CHECKPOINT_INTERVAL}")
    assert len(DeltaTable(uri).file_uris()) == 3 and DeltaTable(uri).version() == 2
    assert main(["maintain", "--warehouse", warehouse.url]) == 0  # default retention: nothing is old enough
    assert capsys.readouterr().out.splitlines()[0] == (
        "_manifest: v4, 1 data files; compact 3 -> 1 files; checkpoint v4 written; vacuum 0 removed files; "
        f"set delta.checkpointInterval={CHECKPOINT_INTERVAL}")
    assert DeltaTable(uri).metadata().configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)
    assert sorted(DeltaTable(uri).to_pyarrow_table().column("i").to_pylist()) == [0, 1, 2]
    assert main(["maintain", "--warehouse", warehouse.url, "--retention-hours", "-1"]) == 2
    assert "retention_hours == -1" in capsys.readouterr().err


def test_maintain_on_s3(s3_server: dict[str, str], s3_bucket: str) -> None:
    warehouse = Warehouse.from_url(f"s3://{s3_bucket}/wh", s3_server)
    for x in (1, 2):
        replace_partitions(warehouse, "agg_t", pa.table({"hour": ["h1"], "x": [x]}), ["hour"], {"hour": "h1"})
        append_rows(warehouse, "_manifest", pa.table({"x": [x]}))
    first = {r.table: r for r in maintain_warehouse(warehouse, retention_hours=0)}
    assert set(first) == {"_manifest", "agg_t"}
    assert (first["agg_t"].vacuumed_files, first["_manifest"].compacted_files, first["_manifest"].vacuumed_files) \
        == (1, 2, 2)
    assert all(r.checkpoint_written for r in first.values())
    again = maintain_warehouse(warehouse, retention_hours=0)
    assert [(r.vacuumed_files, r.compacted_files, r.checkpoint_written) for r in again] == [(0, 0, False)] * 2
    fs = filesystem_for(warehouse.url, s3_server)
    assert len(fs.glob(f"{s3_bucket}/wh/agg_t/hour=*/*.parquet")) == 1  # only the current file is left
    assert fs.exists(f"{s3_bucket}/wh/agg_t/_delta_log/_last_checkpoint")
