"""Map tasks that read several splits: the grouping rule, and an hour whose result does not depend on it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.hourly.job import run_hour
from rayab.hourly.task_groups import group_splits, split_sizes
from rayab.storage.logs import LogFile, LogSplit, hour_folder, write_log_file
from rayab.storage.sources import SourcePart, default_source
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.worlds import World, assignments_in_hour, make_world, reference_cells

ORDER = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]


@given(st.lists(st.one_of(st.none(), st.integers(1, 10_000)), min_size=1, max_size=40), st.integers(1, 8),
       st.integers(1, 50_000))
def test_every_split_is_read_by_one_task_and_the_tasks_fill_the_cpus_within_the_budget(
        sizes: list[int | None], cpus: int, budget: int) -> None:
    groups = group_splits(sizes, cpus, budget)
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
    assert groups == sorted(groups) and all(g == sorted(g) for g in groups)
    assert all(len(g) == 1 for g in groups if any(sizes[i] is None for i in g))  # a query slice stays alone
    known = [s for s in sizes if s is not None]
    sized = [g for g in groups if sizes[g[0]] is not None]
    if not known:
        assert not sized
        return
    # enough tasks for the budget, a multiple of the CPUs unless there are fewer splits, no more than the splits
    wanted = -(-max(math.ceil(sum(known) / budget), 1) // cpus) * cpus
    assert len(sized) == min(len(known), wanted)
    loads = [sum(sizes[i] or 0 for i in g) for g in sized]
    assert max(loads) - min(loads) <= max(known)  # balanced: the heaviest task exceeds the lightest by a split at most
    assert group_splits(sizes, cpus, budget) == groups


def test_a_file_cut_into_row_group_ranges_shares_its_size_and_a_query_slice_has_none() -> None:
    source = default_source("/logs")
    big, small = LogFile("/logs/a.parquet", 900), LogFile("/logs/b.parquet", 50)
    parts = [SourcePart(source, "2026-11-23T00", "a", LogSplit(big, (i,))) for i in range(3)]
    parts += [SourcePart(source, "2026-11-23T00", "b", LogSplit(small)), SourcePart(source, "2026-11-23T00", "q")]
    assert split_sizes(parts) == [300, 300, 300, 50, None]


def _world_with_an_empty_hour(root: Path, n_units: int) -> tuple[World, str, Path]:
    """A one-hour world whose hour folder was emptied, for a test to write its own files into."""
    world = make_world(root, n_units=n_units, n_hours=1)
    hour = world.hours[0]
    folder = Path(hour_folder(world.logs, hour))
    for old in folder.iterdir():
        old.unlink()
    return world, hour, folder


def _agg(warehouse: Warehouse, hour: str) -> pa.Table:
    return read_rows(warehouse, "agg_engagement", where={"hour": hour}).drop_columns(["commit_id"]).sort_by(ORDER)


@pytest.mark.usefixtures("ray_local")
def test_grouped_map_tasks_give_the_partition_of_one_task_per_file_and_ship_fewer_unit_rows(workdir: Path) -> None:
    world, hour, _ = _world_with_an_empty_hour(workdir / "w", 3000)
    events = world.events[hour]
    shuffled = events.take(np.random.default_rng(7).permutation(events.num_rows))  # each unit's events in many files
    step = -(-events.num_rows // 8)
    for i in range(8):
        write_log_file(world.logs, hour, f"part-{i}.parquet", shuffled.slice(i * step, step))
    (alone,) = run_hour(world.config, hour, world.logs, world.warehouse, map_task_bytes=1)
    one_per_file = _agg(world.warehouse, hour)
    (grouped,) = run_hour(world.config, hour, world.logs, world.warehouse)
    assert _agg(world.warehouse, hour).equals(one_per_file)
    tasks = [sum(n["map_tasks"] for n in s.work["nodes"].values()) for s in (alone, grouped)]
    assert tasks == [8, 2]  # 2 CPUs: the 8 small files in 2 tasks
    assert sum(n["events"] for n in grouped.work["nodes"].values()) == world.events[hour].num_rows
    # a unit's events are spread over the 8 files: one row per task and cell, not one per file
    assert grouped.work["unit_rows_shuffled"] < alone.work["unit_rows_shuffled"]
    assert grouped.work["unit_rows_merged"] == alone.work["unit_rows_merged"]
    expected = reference_cells(world, world.events[hour], assignments_in_hour(world, hour))
    got = {(r["exp_id"], r["variant_id"], r["country"], r["platform"]): r for r in one_per_file.to_pylist()}
    assert set(got) == set(expected)
    for cell, want in expected.items():
        assert got[cell]["clicks"] == want["clicks"]  # type: ignore[index]
        np.testing.assert_array_equal(got[cell]["clicks_reps"], want["clicks_reps"])  # type: ignore[index]


@pytest.mark.usefixtures("ray_local")
def test_a_corrupt_file_skipped_inside_a_task_loses_only_its_own_rows(workdir: Path) -> None:
    world = make_world(workdir / "w", n_units=600, n_hours=1, files_per_hour=5)
    hour = world.hours[0]
    bad = Path(hour_folder(world.logs, hour)) / "part-zz.parquet"
    bad.write_bytes(b"PAR1 this is not parquet at all")
    (summary,) = run_hour(world.config, hour, world.logs, world.warehouse, skip_corrupt=True)
    assert summary.skipped_files == [str(bad)] and summary.files == 6
    assert summary.rows_read == world.events[hour].num_rows
    (manifest,) = read_rows(world.warehouse, "_manifest").to_pylist()
    assert manifest["skipped_files"] == [str(bad)] and manifest["rows_read"] == world.events[hour].num_rows
    got = _agg(world.warehouse, hour)
    assert sum(got.column("n_events").to_pylist()) == world.events[hour].num_rows


@pytest.mark.usefixtures("ray_local")
def test_one_task_reads_parquet_csv_and_json_lines_of_one_hour_together(workdir: Path) -> None:
    world, hour, folder = _world_with_an_empty_hour(workdir / "w", 800)
    events = world.events[hour]
    third = -(-events.num_rows // 3)
    write_log_file(world.logs, hour, "part-0.parquet", events.slice(0, third))
    write_log_file(world.logs, hour, "part-1.jsonl", events.slice(third, third))
    pa_csv.write_csv(events.slice(2 * third), folder / "part-2.csv")
    (alone,) = run_hour(world.config, hour, world.logs, world.warehouse, map_task_bytes=1)
    one_per_file = _agg(world.warehouse, hour)
    (grouped,) = run_hour(world.config, hour, world.logs, world.warehouse, map_task_bytes=2**30)
    assert sum(n["map_tasks"] for n in grouped.work["nodes"].values()) == 2  # 3 files, 2 CPUs
    assert grouped.rows_read == alone.rows_read == events.num_rows
    assert _agg(world.warehouse, hour).equals(one_per_file)
