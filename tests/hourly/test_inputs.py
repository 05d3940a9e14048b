"""Input forms: JSON lines, URL templates, row-group splits of big files, and the assignment-join mode."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rayab.hourly.job import run_hour
from rayab.storage import logs as log_module
from rayab.storage.logs import hour_folder, list_log_files
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse
from tests.worlds import World, make_world, reference_cells

pytestmark = pytest.mark.usefixtures("ray_local")

ORDER = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]


def _agg(warehouse: Warehouse, hour: str) -> pa.Table:
    return read_rows(warehouse, "agg_engagement", where={"hour": hour}).sort_by(ORDER)


def _assert_matches(world: World, warehouse: Warehouse, hour: str, events: pa.Table, firsts: pa.Table) -> None:
    expected = reference_cells(world, events, firsts)
    got = {(r["exp_id"], r["variant_id"], r["country"], r["platform"]): r for r in _agg(warehouse, hour).to_pylist()}
    assert set(got) == set(expected)
    for cell, want in expected.items():
        assert got[cell]["n_events"] == want["n_events"]  # type: ignore[index]
        for metric in ("units", "impressions", "clicks", "revenue"):
            assert got[cell][metric] == want[metric], (cell, metric)  # type: ignore[index]
            np.testing.assert_array_equal(got[cell][f"{metric}_reps"], want[f"{metric}_reps"])  # type: ignore[index]


def test_json_lines_under_a_url_template_give_the_parquet_partition(world: World, workdir: Path) -> None:
    hour = world.hours[0]
    run_hour(world.config, hour, world.logs, world.warehouse)
    folder = workdir / "jsonl" / "dt=2026-11-23" / "h=00"
    folder.mkdir(parents=True)
    rows = world.events[hour].to_pylist()
    for part in range(2):
        with open(folder / f"part-{part}.jsonl", "w", encoding="utf-8") as out:
            for row in rows[part::2]:
                out.write(json.dumps(row, default=str) + "\n")
    template = str(workdir / "jsonl" / "dt={date}" / "h={hour}" / "*.jsonl")
    assert [f.path.rsplit("/", 1)[1] for f in list_log_files(template, hour)] == ["part-0.jsonl", "part-1.jsonl"]
    other = Warehouse.from_url(workdir / "wh-jsonl")
    replace_partitions(other, "assignment", world.assignments, ["exp_id", "date"],
                       {"exp_id": ["ranker_v2", "aa_check"]})
    (summary,) = run_hour(world.config, hour, template, other)
    assert summary.rows_read == world.events[hour].num_rows and summary.files == 2
    assert _agg(other, hour).equals(_agg(world.warehouse, hour))


def test_a_big_file_split_into_row_group_ranges_gives_the_same_partition(world: World, workdir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hour = world.hours[1]
    run_hour(world.config, hour, world.logs, world.warehouse)
    logs = str(workdir / "grouped")
    Path(hour_folder(logs, hour)).mkdir(parents=True)
    pq.write_table(world.events[hour], f"{hour_folder(logs, hour)}/big.parquet", row_group_size=40)
    monkeypatch.setattr(log_module, "SPLIT_BYTES", 2_000)
    (file,) = list_log_files(logs, hour)
    splits = log_module.log_splits(file)
    assert len(splits) > 2 and sum(len(s.row_groups or ()) for s in splits) == pq.ParquetFile(file.path).num_row_groups
    other = Warehouse.from_url(workdir / "wh-split")
    replace_partitions(other, "assignment", world.assignments, ["exp_id", "date"],
                       {"exp_id": ["ranker_v2", "aa_check"]})
    (summary,) = run_hour(world.config, hour, logs, other, n_shards=3)
    assert summary.rows_read == world.events[hour].num_rows
    assert _agg(other, hour).equals(_agg(world.warehouse, hour))


def test_assignment_join_counts_events_at_or_after_first_assignment(workdir: Path) -> None:
    world = make_world(workdir, n_hours=1, n_units=800)
    hour = world.hours[0]
    # aa_check assigned 20 minutes after each unit's first event: its earlier events must not count there
    late = pc.equal(world.assignments.column("exp_id"), "aa_check")
    at = world.assignments.column("assigned_at")
    shifted = pc.if_else(late, pc.add(at, pa.scalar(timedelta(minutes=20))), at)
    assignments = world.assignments.set_column(world.assignments.schema.get_field_index("assigned_at"),
                                               "assigned_at", shifted)
    replace_partitions(world.warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": ["ranker_v2", "aa_check"]})
    events = world.events[hour]
    base = events.filter(pc.equal(events.column("exp_id"), "ranker_v2")).drop_columns(["exp_id", "variant_id"])
    ghosts = base.slice(0, 7).set_column(base.schema.get_field_index("unit_id"), "unit_id",
                                         pa.array([f"ghost{i}" for i in range(7)]))
    logs = str(workdir / "unit-only")
    Path(hour_folder(logs, hour)).mkdir(parents=True)
    pq.write_table(pa.concat_tables([base, ghosts]), f"{hour_folder(logs, hour)}/events.parquet")
    (summary,) = run_hour(world.config, hour, logs, world.warehouse, population="assignment")

    first = {(r["exp_id"], r["unit_id"]): (r["variant_id"], r["assigned_at"]) for r in assignments.to_pylist()}
    counted = []
    for row in events.to_pylist():
        variant, assigned_at = first[(row["exp_id"], row["unit_id"])]
        if row["event_time"] >= assigned_at:
            counted.append({**row, "variant_id": variant})
    end = pc.strptime(pa.scalar(hour), format="%Y-%m-%dT%H", unit="us")
    in_hour = pc.less(pc.cast(shifted, pa.timestamp("us")), pc.add(end, pa.scalar(timedelta(hours=1))))
    _assert_matches(world, world.warehouse, hour, pa.Table.from_pylist(counted, schema=events.schema),
                    assignments.filter(in_hour))
    assert summary.rows_read == base.num_rows + 7
    assert summary.rows_unmatched == 7  # the ghosts were never assigned: counted, not quarantined
    assert summary.rows_quarantined == 0
    (manifest,) = read_rows(world.warehouse, "_manifest").to_pylist()
    assert manifest["population"] == "assignment" and manifest["rows_unmatched"] == 7
