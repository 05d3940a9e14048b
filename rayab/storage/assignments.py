"""The ``assignment`` table: first assignments, one row per (exp_id, unit_id), keeping the earliest.

Writers (assignment loggers on several nodes) call :func:`merge_first_assignments`, a Delta MERGE on
``(exp_id, unit_id)``: a new key is inserted, an existing key is replaced only by an earlier ``assigned_at`` (the
row then moves to that earlier date's partition), so the result is the same whatever the order or overlap of the
batches. Concurrent merges that conflict are retried on the new table state; each batch is one atomic commit.

A MERGE rewrites files without any order, so :func:`sort_partitions` rewrites given ``(exp_id, date)``
partitions sorted by ``unit_id`` (one commit per partition; a concurrent write to the partition makes it start
over, so no row is ever lost or duplicated by sorting). The logger runs it on the partitions it touched.

The table may hold more columns than the five the logger writes, e.g. assignment-time attributes such as
``country`` and ``platform`` in a table written by ``rayab demo``: both writes keep them (a merged new row has
them null, a sorted partition keeps every column it had).

>>> import tempfile
>>> from datetime import UTC, datetime
>>> from rayab.storage.tables import read_rows
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> t0, t1 = datetime(2026, 11, 24, 23, tzinfo=UTC), datetime(2026, 11, 25, 1, tzinfo=UTC)
>>> merge_first_assignments(wh, [("e1", "u1", "a", t1), ("e1", "u2", "b", t1)])
2
>>> merge_first_assignments(wh, [("e1", "u1", "a", t0), ("e1", "u2", "b", t1.replace(hour=5))])
2
>>> sorted((r["unit_id"], r["date"]) for r in read_rows(wh, "assignment").to_pylist())
[('u1', '2026-11-24'), ('u2', '2026-11-25')]
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from rayab.errors import StorageError
from rayab.storage.delta_reads import delta_rows
from rayab.storage.schemas import ASSIGNMENT, ASSIGNMENT_TABLE, PARTITIONS
from rayab.storage.tables import read_rows, sql_predicate, table_version
from rayab.storage.warehouse import Warehouse

__all__ = ["ASSIGNMENT_TABLE", "FirstAssignment", "LoadCounts", "first_assignment_table", "load_first_assignments",
           "merge_first_assignments", "read_assignments", "sort_partitions"]

# exp_id, unit_id, variant_id, assigned_at (timezone-aware datetime, or microseconds since the epoch UTC)
FirstAssignment = tuple[str, str, str, datetime | int]

_MERGE_PREDICATE = "t.exp_id = s.exp_id AND t.unit_id = s.unit_id"
_KEEP_EARLIEST = {"variant_id": "s.variant_id", "assigned_at": "s.assigned_at", "date": "s.date"}


def first_assignment_table(rows: Sequence[FirstAssignment]) -> pa.Table:
    """Rows as an ``assignment`` table, one per (exp_id, unit_id) with the earliest ``assigned_at``, sorted."""
    at = [r[3] for r in rows]
    times = pa.array(at, type=pa.timestamp("us", tz="UTC")) if not at or not isinstance(at[0], int) else \
        pa.array(at, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    table = pa.table({
        "exp_id": pa.array([r[0] for r in rows], pa.string()),
        "unit_id": pa.array([r[1] for r in rows], pa.string()),
        "variant_id": pa.array([r[2] for r in rows], pa.string()),
        "assigned_at": times,
    })
    table = table.sort_by([("exp_id", "ascending"), ("unit_id", "ascending"), ("assigned_at", "ascending")])
    keys = pc.binary_join_element_wise(table.column("exp_id"), table.column("unit_id"), "\x00")
    first = pc.not_equal(keys, _previous(keys))
    table = table.filter(pc.fill_null(first, True))
    date = pc.strftime(table.column("assigned_at"), format="%Y-%m-%d", locale="C")
    table = table.append_column("date", date)
    table = table.select(ASSIGNMENT.names).cast(ASSIGNMENT)
    return table.sort_by([("exp_id", "ascending"), ("date", "ascending"), ("unit_id", "ascending")])


def _previous(values: pa.ChunkedArray) -> pa.Array:
    """``values`` shifted down by one (null first)."""
    flat = values.combine_chunks()
    return pa.concat_arrays([pa.nulls(1, flat.type), flat.slice(0, max(len(flat) - 1, 0))])


def merge_first_assignments(warehouse: Warehouse, rows: Sequence[FirstAssignment] | pa.Table,
                            attempts: int = 20) -> int:
    """Merge first assignments into the ``assignment`` table in one commit; returns the number of source rows
    (after deduplication). Commit conflicts with concurrent writers are retried up to ``attempts`` times."""
    source = rows if isinstance(rows, pa.Table) else first_assignment_table(rows)
    if source.num_rows == 0:
        return 0
    _ensure_table(warehouse)
    prune = sql_predicate({"t.exp_id": sorted(set(source.column("exp_id").to_pylist()))})

    def merge(table: DeltaTable) -> None:
        (table.merge(source, predicate=f"{_MERGE_PREDICATE} AND {prune}", source_alias="s", target_alias="t")
         .when_matched_update(updates=_KEEP_EARLIEST, predicate="s.assigned_at < t.assigned_at")
         .when_not_matched_insert(updates={name: f"s.{name}" for name in source.column_names})
         .execute())

    _commit_retrying(warehouse, merge, attempts)
    return int(source.num_rows)


class LoadCounts(NamedTuple):
    """What a load did to the ``assignment`` table: units inserted, units moved to an earlier ``assigned_at``, units
    left as they were (already there at the same or an earlier time), and the table version after it."""

    inserted: int
    made_earlier: int
    unchanged: int
    version: int


def read_assignments(warehouse: Warehouse, exp_id: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The experiment's rows of the ``assignment`` table (empty, with no columns, if there is none)."""
    return read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": exp_id}, columns=columns)


def load_first_assignments(warehouse: Warehouse, rows: pa.Table, attempts: int = 20) -> LoadCounts:
    """Merge validated first assignments of one experiment (one row per unit, ``assignment`` columns first, then
    extra text columns) so that the earliest ``assigned_at`` per unit wins, against the table too.

    Only rows that change something are merged: a load of rows already there (or later ones) makes no commit, so
    loading a file twice leaves the table, its version included, as it was. Extra columns are added to the table's
    schema (older rows read them as null); a unit made earlier takes the new row's extras."""
    exps = sorted(set(rows.column("exp_id").to_pylist())) if rows.num_rows else []
    if len(exps) > 1:
        raise StorageError(f"load_first_assignments takes one experiment at a time, got {exps[:3]}")
    if not exps:
        return LoadCounts(0, 0, 0, table_version(warehouse, ASSIGNMENT_TABLE))
    have = read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": exps[0]}, columns=["unit_id", "assigned_at"])
    if have.num_rows:
        joined = rows.join(have.rename_columns(["unit_id", "__have"]), keys="unit_id", join_type="left outer",
                           use_threads=False)
        new = pc.is_null(joined.column("__have"))
        earlier = pc.fill_null(pc.less(joined.column("assigned_at"), joined.column("__have")), False)
        changes = joined.filter(pc.or_(new, earlier)).drop_columns(["__have"])
        inserted = int(pc.sum(new).as_py() or 0)
        made_earlier = int(pc.sum(earlier).as_py() or 0)
    else:
        changes, inserted, made_earlier = rows, rows.num_rows, 0
    unchanged = rows.num_rows - inserted - made_earlier
    if changes.num_rows == 0:
        return LoadCounts(0, 0, unchanged, table_version(warehouse, ASSIGNMENT_TABLE))
    changes = changes.select(rows.column_names).cast(
        pa.schema([*ASSIGNMENT, *[pa.field(n, pa.string()) for n in rows.column_names[len(ASSIGNMENT):]]]))
    _ensure_table(warehouse)
    updates = {**_KEEP_EARLIEST, **{n: f"s.{n}" for n in changes.column_names[len(ASSIGNMENT):]}}
    prune = sql_predicate({"t.exp_id": exps})

    def merge(table: DeltaTable) -> None:
        (table.merge(changes, predicate=f"{_MERGE_PREDICATE} AND {prune}", source_alias="s", target_alias="t",
                     merge_schema=True)
         .when_matched_update(updates=updates, predicate="s.assigned_at < t.assigned_at")
         .when_not_matched_insert_all()
         .execute())

    _commit_retrying(warehouse, merge, attempts)
    return LoadCounts(inserted, made_earlier, unchanged, table_version(warehouse, ASSIGNMENT_TABLE))


def sort_partitions(warehouse: Warehouse, partitions: Iterable[tuple[str, str]], attempts: int = 20) -> int:
    """Rewrite each ``(exp_id, date)`` partition sorted by ``unit_id``; returns the partitions rewritten."""
    done = 0
    for exp_id, date in sorted(set(partitions)):
        where = {"exp_id": exp_id, "date": date}

        def rewrite(table: DeltaTable, where: dict[str, str] = where) -> None:
            rows = delta_rows(table, [(k, "=", v) for k, v in where.items()])
            # written against the version just read: a concurrent commit to the partition is a conflict (retried)
            # every column of the table, not only the logger's: extra assignment-time columns are kept
            write_deltalake(table, rows.sort_by("unit_id"), mode="overwrite", predicate=sql_predicate(where))

        _commit_retrying(warehouse, rewrite, attempts)
        done += 1
    return done


def _commit_retrying(warehouse: Warehouse, write: Callable[[DeltaTable], None], attempts: int) -> None:
    """Run ``write`` on the latest table state until it commits without a conflict."""
    uri = warehouse.table_uri(ASSIGNMENT_TABLE)
    for attempt in range(attempts):
        try:
            write(DeltaTable(uri, storage_options=warehouse.delta_options()))
            return
        except CommitFailedError as err:
            if attempt == attempts - 1:
                raise StorageError(f"cannot commit to {uri} after {attempts} conflicting commits: {err}") from err
            # another writer committed first: back off a little (jittered) and redo it on the new state
            time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.uniform(0.5, 1.5))
        except (DeltaError, OSError) as err:
            raise StorageError(f"cannot write {uri}: {err}") from err


def _ensure_table(warehouse: Warehouse) -> None:
    uri = warehouse.table_uri(ASSIGNMENT_TABLE)
    options = warehouse.delta_options()
    try:
        DeltaTable(uri, storage_options=options)
        return
    except TableNotFoundError:
        pass
    try:
        DeltaTable.create(uri, ASSIGNMENT, mode="ignore", partition_by=PARTITIONS[ASSIGNMENT_TABLE],
                          storage_options=options)
    except (CommitFailedError, DeltaError):
        # two writers created it at once: fine as long as it exists now
        DeltaTable(uri, storage_options=options)
