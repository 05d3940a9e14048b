"""The three commits of an hour (agg, quarantine, manifest) tell one story: a driver killed between them during a
re-run leaves rows of another commit than the manifest names; health, backfill and the results reader see it, and
the re-run hour agrees again. The kill is real: ``rayab run-hour`` in its own process (its own local Ray), paused by
the reducer's fault hook right after one commit, then SIGKILLed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rayab.aggregate.manifest import latest_manifests, plan_reruns
from rayab.cli.main import main
from rayab.storage.commits import COMMIT_ID, hour_mismatches, partition_commit_ids
from rayab.storage.logs import list_log_files, write_log_file
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from tests.waiting import wait_until
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")


def _late_file(world: World, hour: str) -> tuple[int, int]:
    """A late file with 5 good rows and 3 rows of negative clicks; returns (good, bad) row counts."""
    rows = world.events[hour].slice(0, 8)
    clicks = pa.array([1] * 5 + [-1] * 3, rows.schema.field("clicks").type)
    rows = rows.set_column(rows.schema.get_field_index("clicks"), "clicks", clicks)
    write_log_file(world.logs, hour, "late-arrival.parquet", rows)
    return 5, 3


def _run_hour_killed_after(world: World, hour: str, step: str, workdir: Path) -> None:
    """``rayab run-hour`` in a subprocess, SIGKILLed once its reducer has made the ``step`` commit."""
    marker = workdir / f"paused-after-{step}"
    env = {**os.environ, "RAYAB_FAULT_PAUSE_AFTER": step, "RAYAB_FAULT_MARKER": str(marker)}
    process = subprocess.Popen(
        [sys.executable, "-m", "rayab.cli.main", "run-hour", "--hour", hour, "--logs", world.logs,
         "--warehouse", world.warehouse.url, "--num-cpus", "1", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the reducer never reached the fault point"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)  # the driver dies between two commits
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever else that run started (its local Ray) goes too
            os.killpg(process.pid, signal.SIGKILL)
        if process.stderr:
            process.stderr.close()
    # every process of that run is gone before the test checks that nothing more was committed
    wait_until(lambda: not _group_running(process.pid), 60, f"the processes of group {process.pid} exiting", 0.1)


def _group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies waiting to be reaped do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _n_events(world: World, hour: str) -> int:
    rows = read_rows(world.warehouse, world.analysis_type.table, where={"hour": hour})
    return int(pc.sum(rows.column("n_events")).as_py())


def _kill_rerun_and_repair(world: World, workdir: Path, step: str, capsys: pytest.CaptureFixture[str]) -> None:
    save_config(world.warehouse, world.config)
    hour = world.hours[0]
    at = world.analysis_type
    exp_id = world.config.experiments[0].exp_id
    assert main(["run-hour", "--hour", hour, "--logs", world.logs, "--warehouse", world.warehouse.url,
                 "--quiet"]) == 0
    before = latest_manifests(world.warehouse, at.name)[hour]
    n0 = world.events[hour].num_rows
    assert before["rows_read"] == n0 and before["rows_quarantined"] == 0 and _n_events(world, hour) == n0
    assert partition_commit_ids(world.warehouse, at.table, {"hour": hour}) == {hour: {before[COMMIT_ID]}}
    good, bad = _late_file(world, hour)

    _run_hour_killed_after(world, hour, step, workdir)

    # the old manifest row is still the newest one, but the agg rows are the new run's
    after_kill = latest_manifests(world.warehouse, at.name)[hour]
    assert after_kill["run_id"] == before["run_id"] and after_kill["rows_read"] == n0
    assert read_rows(world.warehouse, "_manifest").num_rows == 1
    assert _n_events(world, hour) == n0 + good
    (new_id,) = partition_commit_ids(world.warehouse, at.table, {"hour": hour})[hour]
    assert new_id not in (None, before[COMMIT_ID])
    quarantine = read_rows(world.warehouse, "_quarantine", where={"analysis_type": at.name, "hour": hour})
    assert quarantine.num_rows == (bad if step == "quarantine" else 0)

    # every reader sees the disagreement
    (mismatch,) = hour_mismatches(world.warehouse, at.name, at.table, [hour])
    assert mismatch.hour == hour and before[COMMIT_ID][:12] in mismatch.reason and new_id[:12] in mismatch.reason
    window = ["--exp", exp_id, "--start", hour, "--end", "2026-11-23T01", "--warehouse", world.warehouse.url]
    capsys.readouterr()
    assert main(["health", *window, "--format", "json"]) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["manifest_consistency"]["status"] == "fail"
    assert checks["manifest_consistency"]["details"]["mismatched"][0]["hour"] == hour
    assert main(["results", *window]) == 4
    assert f"{hour} (agg_engagement holds {new_id[:12]}" in capsys.readouterr().err
    (plan,) = plan_reruns(world.warehouse, at.name, [hour], lambda h: list_log_files(world.logs, h))
    assert plan.reason.startswith("manifest does not match the data")

    # backfill re-runs the hour; then the three agree and count the same rows
    backfill = ["backfill", "--start", hour, "--end", "2026-11-23T01", "--logs", world.logs, "--warehouse",
                world.warehouse.url, "--quiet", "--format", "json"]
    assert main(backfill) == 0
    out = capsys.readouterr().out
    assert "manifest does not match the data" in out
    (summary,) = json.loads(out[out.index("["):])
    assert summary["rows_read"] == n0 + good + bad and summary["rows_quarantined"] == bad
    repaired = latest_manifests(world.warehouse, at.name)[hour]
    assert repaired[COMMIT_ID] == new_id  # same inputs as the killed run: the same commit, byte for byte
    assert repaired["rows_read"] == n0 + good + bad and _n_events(world, hour) == n0 + good
    assert partition_commit_ids(world.warehouse, "_quarantine", {"hour": hour}) == {hour: {new_id}}
    assert hour_mismatches(world.warehouse, at.name, at.table, [hour]) == []
    assert main(["health", *window, "--format", "json"]) in (0, 1)
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["manifest_consistency"]["status"] == "ok"
    assert checks["data_quality"]["details"]["rows_read"] == n0 + good + bad
    assert main(["results", *window, "--format", "json"]) == 0
    assert main(backfill) == 0  # and nothing is left to re-run
    assert "0 of 1 hours to run" in capsys.readouterr().out


def test_a_driver_killed_after_the_agg_commit_is_seen_and_backfill_repairs_it(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _kill_rerun_and_repair(make_world(workdir, n_units=600, n_hours=1), workdir, "agg", capsys)


@pytest.mark.slow
def test_a_driver_killed_after_the_quarantine_commit_is_seen_and_backfill_repairs_it(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _kill_rerun_and_repair(make_world(workdir, n_units=600, n_hours=1), workdir, "quarantine", capsys)


def test_a_first_run_killed_before_its_manifest_is_not_read_as_complete(workdir: Path) -> None:
    """Rows of a commit without any manifest row: the reader refuses them, backfill runs the hour."""
    world = make_world(workdir, n_units=300, n_hours=1)
    hour = world.hours[0]
    at = world.analysis_type
    from rayab.storage.commits import check_readable, with_commit_id
    from rayab.storage.tables import replace_partitions

    rows = with_commit_id(pa.table({"exp_id": ["e"], "hour": [hour], "n_events": [3]}), "f" * 32)
    replace_partitions(world.warehouse, at.table, rows, ["exp_id", "hour"], {"hour": hour})
    (mismatch,) = hour_mismatches(world.warehouse, at.name, at.table, [hour])
    assert mismatch.reason == "rows of commit ffffffffffff and no manifest row"
    with pytest.raises(Exception, match=r"2026-11-23T00 \(rows of commit ffffffffffff and no manifest row\)"):
        check_readable(world.warehouse, at.name, at.table, "e", [hour])
    (plan,) = plan_reruns(world.warehouse, at.name, [hour], lambda h: [])
    assert plan.reason == "no manifest: never completed"
