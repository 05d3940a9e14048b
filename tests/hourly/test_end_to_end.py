"""The hourly job end to end on a real local Ray, checked against plain Python over the raw events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.hourly.job import run_hour
from rayab.storage.tables import read_rows
from tests.worlds import World, assignments_in_hour, make_world, reference_cells

pytestmark = pytest.mark.usefixtures("ray_local")

METRICS = ("units", "impressions", "clicks", "revenue")


def _agg(world: World, hour: str | None = None) -> pa.Table:
    where = {"hour": hour} if hour else None
    table = read_rows(world.warehouse, world.analysis_type.table, where=where)
    return table.sort_by([(c, "ascending") for c in ("exp_id", "hour", "variant_id", "country", "platform")])


def test_hour_matches_direct_computation_over_raw_events(world: World) -> None:
    hour = world.hours[1]
    (summary,) = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=3)
    expected = reference_cells(world, world.events[hour], assignments_in_hour(world, hour))
    got = {(r["exp_id"], r["variant_id"], r["country"], r["platform"]): r for r in _agg(world, hour).to_pylist()}
    assert set(got) == set(expected)
    for cell, want in expected.items():
        row = got[cell]  # type: ignore[index]
        assert row["n_events"] == want["n_events"]
        for metric in METRICS:
            assert row[metric] == want[metric], (cell, metric)
            np.testing.assert_array_equal(row[f"{metric}_reps"], want[f"{metric}_reps"], err_msg=f"{cell} {metric}")
    assert summary.rows_read == world.events[hour].num_rows
    assert summary.rows_quarantined == 0
    assert summary.units == assignments_in_hour(world, hour).num_rows


def test_shard_count_and_file_split_do_not_change_the_partition(workdir: Path) -> None:
    one_file = make_world(workdir / "one", files_per_hour=1, n_hours=1)
    three_files = make_world(workdir / "three", files_per_hour=3, n_hours=1)
    hour = one_file.hours[0]
    run_hour(one_file.config, hour, one_file.logs, one_file.warehouse, n_shards=1)
    reference = _agg(one_file)
    run_hour(three_files.config, hour, three_files.logs, three_files.warehouse, n_shards=4)
    assert _agg(three_files).equals(reference)
    run_hour(one_file.config, hour, one_file.logs, one_file.warehouse, n_shards=4)  # re-run: idempotent
    assert _agg(one_file).equals(reference)


def test_hourly_partitions_add_up_to_the_whole_day(workdir: Path) -> None:
    """The additivity invariant: 24 hourly partitions summed == the same events aggregated as one hour."""
    hourly = make_world(workdir / "hourly", n_units=600, n_hours=24)
    for hour in hourly.hours:
        run_hour(hourly.config, hour, hourly.logs, hourly.warehouse, n_shards=2)
    # the whole day as one "hour": every event and every first assignment moved into 2026-11-23T00
    day = make_world(workdir / "day", n_units=600, n_hours=24)
    from rayab.storage.logs import write_log_file
    from rayab.storage.tables import replace_partitions

    events = pa.concat_tables(day.events.values())
    day_logs = str(workdir / "day_logs")
    write_log_file(day_logs, "2026-11-23T00", "all.parquet", events)
    moved = day.assignments.set_column(
        day.assignments.schema.get_field_index("assigned_at"), "assigned_at",
        pa.array([day.assignments.column("assigned_at")[0].as_py().replace(hour=0)] * day.assignments.num_rows,
                 day.assignments.schema.field("assigned_at").type))
    replace_partitions(day.warehouse, "assignment", moved, ["exp_id", "date"], {"exp_id": ["ranker_v2", "aa_check"]})
    run_hour(day.config, "2026-11-23T00", day_logs, day.warehouse, n_shards=3)

    def totals(table: pa.Table) -> dict[tuple[str, ...], dict[str, np.ndarray]]:
        out: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
        for row in table.to_pylist():
            cell = (row["exp_id"], row["variant_id"], row["country"], row["platform"])
            entry = out.setdefault(cell, {})
            for m in METRICS:
                entry[m] = entry.get(m, 0) + np.asarray(row[f"{m}_reps"], np.int64)
                entry[m + "_raw"] = entry.get(m + "_raw", 0) + row[m]
        return out

    summed, whole = totals(_agg(hourly)), totals(_agg(day))
    assert len(set(_agg(hourly).column("hour").to_pylist())) == 24
    assert summed.keys() == whole.keys()
    for cell in whole:
        for key in whole[cell]:
            np.testing.assert_array_equal(summed[cell][key], whole[cell][key], err_msg=f"{cell} {key}")


def test_manifest_records_the_committed_hour(world: World) -> None:
    hour = world.hours[0]
    run_hour(world.config, hour, world.logs, world.warehouse)
    manifest = read_rows(world.warehouse, "_manifest").to_pylist()
    assert [m["hour"] for m in manifest] == [hour]
    entry = manifest[0]
    assert entry["rows_read"] == world.events[hour].num_rows
    assert entry["n_replicates"] == world.analysis_type.n_replicates
    assert sorted(entry["exp_ids"]) == ["aa_check", "ranker_v2"]
    assert entry["input_sizes"][0] == Path(entry["input_files"][0]).stat().st_size
