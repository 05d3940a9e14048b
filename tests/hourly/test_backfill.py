"""``rayab backfill``: re-runs only the hours whose input listing changed since their manifest (or all, --force)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from rayab.aggregate.manifest import completed_hours, latest_manifests
from rayab.cli.main import main
from rayab.storage.logs import write_log_file
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")


def _backfill(world: World, *extra: str) -> int:
    return main(["backfill", "--start", world.hours[0], "--end", "2026-11-23T03", "--logs", world.logs,
                 "--warehouse", world.warehouse.url, "--quiet", "--format", "json", *extra])


def test_backfill_reruns_only_changed_hours(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(workdir, n_units=600, n_hours=3)
    save_config(world.warehouse, world.config)
    assert _backfill(world) == 0  # nothing committed yet: every hour runs
    assert completed_hours(world.warehouse, "engagement") == world.hours
    runs = {h: m["run_id"] for h, m in latest_manifests(world.warehouse, "engagement").items()}
    capsys.readouterr()

    assert _backfill(world) == 0  # nothing changed: nothing runs
    assert "0 of 3 hours to run" in capsys.readouterr().out
    assert read_rows(world.warehouse, "_manifest").num_rows == 3

    late = world.events[world.hours[1]].slice(0, 5)
    write_log_file(world.logs, world.hours[1], "late-arrival.parquet", late)
    assert _backfill(world, "--dry-run") == 0
    assert "inputs changed: 1 new files" in capsys.readouterr().out
    assert read_rows(world.warehouse, "_manifest").num_rows == 3  # a dry run commits nothing

    assert _backfill(world) == 0
    out = capsys.readouterr().out
    summaries = json.loads(out[out.index("["):])
    assert [s["hour"] for s in summaries] == [world.hours[1]]
    assert summaries[0]["rows_read"] == world.events[world.hours[1]].num_rows + 5
    after = {h: m["run_id"] for h, m in latest_manifests(world.warehouse, "engagement").items()}
    assert after[world.hours[0]] == runs[world.hours[0]] and after[world.hours[2]] == runs[world.hours[2]]
    assert after[world.hours[1]] != runs[world.hours[1]]
    hour1 = read_rows(world.warehouse, "agg_engagement", where={"hour": world.hours[1]})
    assert int(pa.compute.sum(hour1.column("n_events")).as_py()) == world.events[world.hours[1]].num_rows + 5

    assert _backfill(world, "--force") == 0
    out = capsys.readouterr().out
    assert [s["hour"] for s in json.loads(out[out.index("["):])] == world.hours
