"""First assignments into the ``assignment`` table: the MERGE keeps the earliest row per (exp_id, unit_id) across
batches and across concurrent loggers (checked against plain Python over all rows sent), the logger flushes by
size and by time, ``close`` loses nothing, and a server's local buffer drops and counts instead of blocking."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from rayab.serving.assignment_recorder import AssignmentRecorder
from rayab.storage.assignments import merge_first_assignments, sort_partitions
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.waiting import wait_until

T0 = datetime(2026, 11, 24, 20, tzinfo=UTC)


def _random_rows(seed: int, n: int, units: int = 400):
    rng = random.Random(seed)
    return [(rng.choice(["e1", "e2"]), f"u{rng.randrange(units)}", rng.choice(["control", "treatment"]),
             T0 + timedelta(minutes=rng.randrange(60 * 24 * 3))) for _ in range(n)]


def _reference(rows):
    """The earliest row per (exp_id, unit_id), as plain Python."""
    best: dict[tuple[str, str], tuple] = {}  # type: ignore[type-arg]
    for row in rows:
        key = (row[0], row[1])
        if key not in best or row[3] < best[key][3]:
            best[key] = row
    return sorted((e, u, v, t.strftime("%Y-%m-%d"), t) for e, u, v, t in best.values())


def _table(warehouse):
    rows = read_rows(warehouse, "assignment").to_pylist()
    return sorted((r["exp_id"], r["unit_id"], r["variant_id"], r["date"], r["assigned_at"]) for r in rows)


def test_merge_keeps_the_earliest_row_whatever_the_order(workdir):
    batches = [_random_rows(seed, 300) for seed in range(5)]
    forward, backward = Warehouse.from_url(workdir / "a"), Warehouse.from_url(workdir / "b")
    for batch in batches:
        merge_first_assignments(forward, batch)
    for batch in reversed(batches):
        merge_first_assignments(backward, batch)
    expected = _reference([r for b in batches for r in b])
    assert _table(forward) == _table(backward) == expected
    assert len({(e, u) for e, u, *_ in expected}) == len(expected)
    table = DeltaTable(forward.table_uri("assignment"))
    assert table.metadata().partition_columns == ["exp_id", "date"]
    partitions = {(e, d) for e, _, _, d, _ in expected}
    assert sort_partitions(forward, partitions) == len(partitions)
    assert _table(forward) == expected  # sorting loses and duplicates nothing
    for path in DeltaTable(forward.table_uri("assignment")).file_uris():
        units = pq.read_table(path).column("unit_id").to_pylist()
        assert units == sorted(units)


@pytest.fixture()
def logger_factory(ray_local, workdir):
    import ray

    from rayab.serving.assignment_logger import AssignmentLogger

    made = []

    def make(**options):
        logger = AssignmentLogger.options(name=f"log-{uuid.uuid4().hex[:8]}").remote(  # type: ignore[attr-defined]
            Warehouse.from_url(workdir / "wh"), **options)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        ray.kill(logger)


def _micros(rows):
    return [(e, u, v, int(t.timestamp() * 1_000_000)) for e, u, v, t in rows]


def test_logger_flushes_by_size_by_time_and_on_close(logger_factory, workdir):
    import ray

    warehouse = Warehouse.from_url(workdir / "wh")
    logger = logger_factory(flush_rows=500, flush_s=0.5)
    big = _random_rows(1, 2_000, units=5_000)
    ray.get(logger.record.remote(_micros(big)))  # more than flush_rows distinct keys: flushed at once
    stats = ray.get(logger.stats.remote())
    assert stats["committed"] > 0 and stats["buffered"] == 0
    assert _table(warehouse) == _reference(big)
    later = _random_rows(2, 50, units=5_000)
    ray.get(logger.record.remote(_micros(later)))
    wait_until(lambda: _table(warehouse) == _reference(big + later), 20, "the timer's flush")
    slow = logger_factory(flush_rows=10**6, flush_s=3600)
    last = _random_rows(3, 77, units=5_000)
    ray.get(slow.record.remote(_micros(last)))
    assert _table(warehouse) == _reference(big + later)  # neither size nor time reached
    assert ray.get(slow.close.remote()) == len(_reference(last))
    assert _table(warehouse) == _reference(big + later + last)  # a graceful close loses nothing
    touched = {f"exp_id={e}/date={d}/" for e, _, _, d, _ in _reference(last)}
    checked = 0
    for path in DeltaTable(warehouse.table_uri("assignment")).file_uris():
        if any(part in path for part in touched):  # the partitions this logger wrote are sorted on close
            units = pq.read_table(path).column("unit_id").to_pylist()
            assert units == sorted(units)
            checked += 1
    assert checked >= len(touched)


def test_two_loggers_at_once_keep_each_key_once_with_the_earliest_time(logger_factory, workdir):
    import ray

    warehouse = Warehouse.from_url(workdir / "wh")
    loggers = [logger_factory(flush_rows=10**6, flush_s=3600) for _ in range(2)]
    sent = []
    for round_ in range(3):
        refs = []
        for i, logger in enumerate(loggers):
            rows = _random_rows(10 * round_ + i, 400, units=300)  # the two loggers overlap heavily
            sent += rows
            refs.append(logger.record.remote(_micros(rows)))
        ray.get(refs)
        ray.get([logger.flush.remote() for logger in loggers])  # concurrent commits: conflicts are retried
    assert _table(warehouse) == _reference(sent)


def test_a_full_local_buffer_drops_and_counts_instead_of_blocking():
    recorder = AssignmentRecorder(max_rows=100)
    for i in range(250):
        recorder.record("e1", f"u{i}", "a", i)
    assert (recorder.pending(), recorder.recorded, recorder.dropped) == (100, 100, 150)
    rows = recorder.drain()
    recorder.record("e1", "new", "a", 1)
    recorder.restore(rows)  # a failed shipment comes back, but only what fits
    assert (recorder.pending(), recorder.dropped) == (100, 151)


def test_the_shipper_keeps_rows_while_the_logger_is_down(ray_local, workdir):
    import asyncio

    import ray

    from rayab.serving.assignment_logger import AssignmentLogger, LogShipper

    logger = AssignmentLogger.remote(Warehouse.from_url(workdir / "wh"), flush_rows=10**6, flush_s=3600)  # type: ignore[attr-defined]
    ray.kill(logger, no_restart=True)
    recorder = AssignmentRecorder(max_rows=1_000)
    for i in range(10):
        recorder.record("e1", f"u{i}", "a", i)
    shipper = LogShipper(recorder, logger, interval_s=0.01)

    async def ship_for_a_while():
        await shipper.drain(timeout_s=1.0)

    asyncio.run(ship_for_a_while())
    assert shipper.failed >= 1 and shipper.shipped == 0
    assert recorder.pending() == 10  # nothing lost locally, nothing blocked


def test_a_demo_table_with_extra_columns_keeps_them_through_merge_sort_and_close(logger_factory, workdir):
    """`rayab demo` writes ``assignment`` with ``country`` and ``platform``; the logger used to rewrite it with its
    own 5 columns, so its merge and its sort failed (and `rayab serve` exited 4 on a normal stop)."""
    import pyarrow as pa
    import ray

    from rayab.storage.tables import replace_partitions

    warehouse = Warehouse.from_url(workdir / "wh")
    demo = pa.table({
        "exp_id": ["e1", "e1"], "date": ["2026-11-25", "2026-11-25"], "unit_id": ["u2", "u1"],
        "variant_id": ["control", "treatment"],
        "assigned_at": pa.array([T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)],
                                pa.timestamp("us", tz="UTC")),
        "country": ["FR", "US"], "platform": ["ios", "web"]})
    replace_partitions(warehouse, "assignment", demo, ["exp_id", "date"], {"exp_id": ["e1"]})  # as the demo does
    logger = logger_factory(flush_rows=10**6, flush_s=3600)
    served = [("e1", "u1", "treatment", T0), ("e1", "u3", "control", T0 + timedelta(days=1, hours=2))]
    ray.get(logger.record.remote(_micros(served)))
    assert ray.get(logger.close.remote()) == 2  # flush (a MERGE) and sort of both touched partitions
    rows = {r["unit_id"]: r for r in read_rows(warehouse, "assignment").to_pylist()}
    assert set(read_rows(warehouse, "assignment").column_names) >= {"country", "platform"}
    got = {u: (r["variant_id"], r["date"], r["assigned_at"], r["country"], r["platform"]) for u, r in rows.items()}
    assert got == {
        "u1": ("treatment", "2026-11-24", T0, "US", "web"),  # moved to its earlier first assignment, attributes kept
        "u2": ("control", "2026-11-25", T0 + timedelta(days=1), "FR", "ios"),  # untouched
        "u3": ("control", "2026-11-25", T0 + timedelta(days=1, hours=2), None, None),  # new: no attributes known
    }
    for path in DeltaTable(warehouse.table_uri("assignment")).file_uris():
        units = pq.read_table(path).column("unit_id").to_pylist()
        assert units == sorted(units)
