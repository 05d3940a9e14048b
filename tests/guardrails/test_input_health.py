"""Health tells the truth about inputs: an hour without input is missing ("not arrived"), never complete; ignored
files warn; events of units not in the ``assignment`` table are counted and their share is checked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rayab.guardrails.health import HealthSettings, experiment_health
from rayab.hourly.job import run_hour
from rayab.storage.logs import hour_folder
from rayab.storage.schemas import MANIFEST
from rayab.storage.tables import append_rows, read_rows
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")

END = "2026-11-23T02"


@pytest.fixture()
def small(workdir: Path) -> World:
    return make_world(workdir, n_units=600, n_hours=2)


def _checks(world: World, end: str = END, logs: bool = False,
            settings: HealthSettings | None = None):
    return {c.name: c for c in experiment_health(world.warehouse, world.config, "ranker_v2", world.hours[0], end,
                                                 settings, logs_root=world.logs if logs else None)}


def test_an_hour_committed_from_no_input_counts_as_not_arrived(small: World) -> None:
    for hour in small.hours:
        run_hour(small.config, hour, small.logs, small.warehouse)
    assert _checks(small)["data_completeness"].status == "ok"
    # what older versions committed for a wrong --logs path: a manifest row with no input file
    (latest,) = [m for m in read_rows(small.warehouse, "_manifest").to_pylist() if m["hour"] == small.hours[1]]
    wiped = {**latest, "input_files": [], "input_sizes": [], "rows_read": 0, "allow_empty": None,
             "committed_at": datetime.now(UTC)}
    append_rows(small.warehouse, "_manifest", pa.Table.from_pylist([wiped], schema=MANIFEST))
    check = _checks(small)["data_completeness"]
    assert check.status == "fail"
    assert check.details["missing_hours"]["engagement"] == [small.hours[1]]
    assert check.details["not_arrived"]["engagement"] == [small.hours[1]]
    assert "not arrived (2026-11-23T01)" in check.reason
    # declared empty with --allow-empty: the hour is complete
    append_rows(small.warehouse, "_manifest", pa.Table.from_pylist(
        [{**wiped, "allow_empty": True, "committed_at": datetime.now(UTC)}], schema=MANIFEST))
    assert _checks(small)["data_completeness"].status == "ok"


def test_an_uncommitted_hour_without_files_is_reported_as_not_arrived(small: World) -> None:
    run_hour(small.config, small.hours[0], small.logs, small.warehouse)
    check = _checks(small, end="2026-11-23T03", logs=True)["data_completeness"]
    assert check.details["missing_hours"]["engagement"] == ["2026-11-23T01", "2026-11-23T02"]
    assert check.details["not_arrived"]["engagement"] == ["2026-11-23T02"]  # T01's files are there, T02's are not


def test_ignored_files_warn_except_marker_files(small: World) -> None:
    folder = Path(hour_folder(small.logs, small.hours[0]))
    (folder / "_SUCCESS").write_text("")
    run_hour(small.config, small.hours[0], small.logs, small.warehouse)
    quality = _checks(small, end="2026-11-23T01")["data_quality"]
    assert quality.status == "ok" and "1 files ignored (1 hidden or marker)" in quality.reason
    (folder / "late.txt").write_text("unit_id\nu1\n")
    run_hour(small.config, small.hours[0], small.logs, small.warehouse)
    quality = _checks(small, end="2026-11-23T01")["data_quality"]
    assert quality.status == "warn"
    assert quality.details["ignored_files"] == [f"{folder}/_SUCCESS", f"{folder}/late.txt"]
    assert f"{folder}/late.txt" in quality.reason


def _ghosts(world: World, n: int) -> pa.Table:
    events = world.events[world.hours[0]]
    base = events.filter(pc.equal(events.column("exp_id"), "ranker_v2")).slice(0, n)
    return base.set_column(base.schema.get_field_index("unit_id"), "unit_id",
                           pa.array([f"ghost{i}" for i in range(base.num_rows)]))


def test_log_mode_counts_events_of_units_not_in_the_assignment_table(small: World) -> None:
    hour = small.hours[0]
    (clean,) = run_hour(small.config, hour, small.logs, small.warehouse)
    assert clean.rows_unmatched == 0
    assert _checks(small, end="2026-11-23T01")["unmatched_events"].status == "ok"
    pq.write_table(_ghosts(small, 7), f"{hour_folder(small.logs, hour)}/ghosts.parquet")
    (summary,) = run_hour(small.config, hour, small.logs, small.warehouse)
    assert summary.rows_unmatched == 7 and "7 unmatched" in summary.line()
    latest = max((m for m in read_rows(small.warehouse, "_manifest").to_pylist()), key=lambda m: m["committed_at"])
    assert latest["rows_unmatched"] == 7
    # they still count in the sums (their log names the variant): 7 more events than the clean run
    n_events = pc.sum(read_rows(small.warehouse, "agg_engagement", where={"hour": hour}).column("n_events"))
    assert n_events.as_py() == small.events[hour].num_rows + 7
    settings = HealthSettings(unmatched_warn=0.01, unmatched_fail=0.3)
    check = _checks(small, end="2026-11-23T01", settings=settings)["unmatched_events"]
    rows = small.events[hour].num_rows + 7
    assert check.details["log"] == {"rows": rows, "rows_unmatched": 7, "share": 7 / rows}
    assert 0.01 < 7 / rows <= 0.3 and check.status == "warn"
    assert f"7 of {rows} events ({7 / rows:.2%}) are of units not in the assignment table" in check.reason
    # above the fail threshold: every ranker_v2 event of the hour three times over as a ghost
    ghosts = _ghosts(small, small.events[hour].num_rows)
    pq.write_table(pa.concat_tables([ghosts] * 3), f"{hour_folder(small.logs, hour)}/ghosts.parquet")
    run_hour(small.config, hour, small.logs, small.warehouse)
    check = _checks(small, end="2026-11-23T01", settings=settings)["unmatched_events"]
    assert check.details["log"]["rows_unmatched"] == 3 * ghosts.num_rows
    assert check.details["log"]["share"] > 0.3 and check.status == "fail"
