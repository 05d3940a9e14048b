"""Faults and idempotence on the session's local Ray: re-runs, a reducer killed mid-commit, a crash between hours."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from deltalake import DeltaTable

from rayab.aggregate.manifest import completed_hours
from rayab.aggregate.partial_ranges import PARTIAL_BYTES
from rayab.errors import InputDataError, StorageError
from rayab.hourly.job import ReducerActor, run_hour
from rayab.storage.logs import hour_folder
from rayab.storage.tables import read_rows
from tests.worlds import World, assignments_in_hour, reference_cells

pytestmark = pytest.mark.usefixtures("ray_local")


def _partition_files(world: World, hour: str) -> dict[str, str]:
    """sha256 of every data file of the hour's partitions, keyed by partition (file names change on re-runs)."""
    table = DeltaTable(world.warehouse.table_uri(world.analysis_type.table))
    out = {}
    for path in table.file_uris():
        if f"/hour={hour}/" not in path:
            continue
        partition = "/".join(p for p in path.split("/") if p.startswith(("exp_id=", "hour=")))
        out[partition] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def _assert_matches_reference(world: World, hour: str) -> None:
    expected = reference_cells(world, world.events[hour], assignments_in_hour(world, hour))
    rows = read_rows(world.warehouse, world.analysis_type.table, where={"hour": hour}).to_pylist()
    got = {(r["exp_id"], r["variant_id"], r["country"], r["platform"]): r for r in rows}
    assert set(got) == set(expected)
    for cell, want in expected.items():
        for metric in ("units", "impressions", "clicks", "revenue"):
            assert got[cell][metric] == want[metric]  # type: ignore[index]
            np.testing.assert_array_equal(got[cell][f"{metric}_reps"], want[f"{metric}_reps"])  # type: ignore[index]


def test_rerunning_an_hour_replaces_it_with_the_same_bytes(world: World) -> None:
    hour = world.hours[0]
    first = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=2)[0]
    before = _partition_files(world, hour)
    second = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=3)[0]
    assert _partition_files(world, hour) == before  # same content per partition, no duplicate files
    assert len(before) == 2  # one coalesced file per (exp_id, hour) partition
    assert first.bytes_written == second.bytes_written > 0
    assert read_rows(world.warehouse, "_manifest").num_rows == 2
    assert completed_hours(world.warehouse, world.analysis_type.name) == [hour]
    _assert_matches_reference(world, hour)


def _kill_during_commit(reducer: object, done: threading.Event, delay: float) -> threading.Thread:
    def kill() -> None:
        if done.wait(timeout=120):
            time.sleep(delay)
            ray.kill(reducer, no_restart=False)  # type: ignore[arg-type]

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _shards_done(done: threading.Event):
    def progress(line: str) -> None:
        step = re.search(r"\] shards .* (\d+)/(\d+)$", line)
        if step and step.group(1) == step.group(2):
            done.set()
    return progress


@pytest.mark.parametrize("max_partial_bytes", [PARTIAL_BYTES, 1], ids=["whole partials", "by ranges"])
def test_a_reducer_killed_mid_commit_restarts_and_the_hour_completes(world: World, max_partial_bytes: int) -> None:
    # by ranges, the restarted reducer submits its range tasks again from the shards' rows
    hour = world.hours[1]
    reducer = ReducerActor.options(max_restarts=1, max_task_retries=1).remote(commit_delay=4.0)  # type: ignore
    done = threading.Event()
    killer = _kill_during_commit(reducer, done, delay=1.5)
    (summary,) = run_hour(world.config, hour, world.logs, world.warehouse, reducer=reducer,
                          progress=_shards_done(done), max_partial_bytes=max_partial_bytes)
    killer.join(timeout=5)
    assert done.is_set()
    assert summary.rows_read == world.events[hour].num_rows
    assert read_rows(world.warehouse, "_manifest").num_rows == 1  # the killed attempt appended nothing
    _assert_matches_reference(world, hour)


def test_a_reducer_killed_for_good_fails_loudly_and_commits_nothing(world: World) -> None:
    hour = world.hours[1]
    reducer = ReducerActor.options(max_restarts=0, max_task_retries=0).remote(commit_delay=4.0)  # type: ignore
    done = threading.Event()
    _kill_during_commit(reducer, done, delay=1.0)
    with pytest.raises(StorageError, match=f"hour {hour} of engagement not committed"):
        run_hour(world.config, hour, world.logs, world.warehouse, reducer=reducer, progress=_shards_done(done))
    assert read_rows(world.warehouse, "_manifest").num_rows == 0
    assert read_rows(world.warehouse, world.analysis_type.table).num_rows == 0
    assert read_rows(world.warehouse, "_quarantine").num_rows == 0


def test_a_crash_between_hours_leaves_the_earlier_hours_complete(world: World) -> None:
    first, second = world.hours
    run_hour(world.config, first, world.logs, world.warehouse)
    (Path(hour_folder(world.logs, second)) / "zz-truncated.parquet").write_bytes(b"PAR1\x00\x01")
    with pytest.raises(InputDataError, match=r"zz-truncated\.parquet"):
        run_hour(world.config, second, world.logs, world.warehouse)
    assert completed_hours(world.warehouse, world.analysis_type.name) == [first]
    assert set(read_rows(world.warehouse, world.analysis_type.table).column("hour").to_pylist()) == {first}
    _assert_matches_reference(world, first)
