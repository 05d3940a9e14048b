"""Delta tables in the warehouse: atomic partition replace, append, pruned reads.

Every write is one Delta commit, so a reader sees a partition either before or after a write, never half of it, and
re-running an hour (``replace_partitions`` with the hour's predicate) is idempotent.

>>> import tempfile, pyarrow as pa
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> rows = pa.table({"hour": ["h1", "h1"], "x": [1, 2]})
>>> replace_partitions(wh, "t", rows, partition_by=["hour"], where={"hour": "h1"})
>>> replace_partitions(wh, "t", rows.slice(0, 1), partition_by=["hour"], where={"hour": "h1"})
>>> read_rows(wh, "t").column("x").to_pylist()
[1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from rayab.errors import StorageError
from rayab.storage.delta_reads import delta_rows
from rayab.storage.warehouse import Warehouse

__all__ = ["CHECKPOINT_INTERVAL", "append_rows", "current_file_uris", "partition_bytes", "read_rows",
           "replace_partitions", "sql_predicate", "table_exists", "table_version"]

PartitionValue = str | Sequence[str]

# One Delta checkpoint every 10 commits (Delta's default, 100, is four days of hourly commits): a reader replays at
# most 10 JSON log entries after the newest checkpoint. ``rayab maintain`` sets it on tables created before.
CHECKPOINT_INTERVAL = 10


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sql_predicate(where: Mapping[str, PartitionValue]) -> str:
    """A Delta predicate ``col = 'v' AND col IN ('a', 'b')`` with every value quoted as a literal.

    >>> sql_predicate({"hour": "2026-11-24T10", "exp_id": ["a", "b'c"]})
    "hour = '2026-11-24T10' AND exp_id IN ('a', 'b''c')"
    """
    parts = []
    for column, value in where.items():
        if isinstance(value, str):
            parts.append(f"{column} = {_quote(value)}")
        else:
            parts.append(f"{column} IN ({', '.join(_quote(v) for v in value)})")
    return " AND ".join(parts)


def table_exists(warehouse: Warehouse, table: str) -> bool:
    """Whether a Delta table exists under the warehouse."""
    return bool(DeltaTable.is_deltatable(warehouse.table_uri(table), storage_options=warehouse.delta_options()))


def table_version(warehouse: Warehouse, table: str) -> int:
    """The latest committed version of a table (-1 if it does not exist)."""
    try:
        return int(DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options()).version())
    except TableNotFoundError:
        return -1


def current_file_uris(warehouse: Warehouse, table: str) -> list[str]:
    """The absolute URIs of a table's current data files, as its Delta log lists them (none if it is absent).

    A reader that scans the folder instead would also see files that later commits replaced.
    """
    try:
        return list(DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options()).file_uris())
    except TableNotFoundError:
        return []


def replace_partitions(
    warehouse: Warehouse,
    table: str,
    data: pa.Table | pa.RecordBatchReader,
    partition_by: Sequence[str],
    where: Mapping[str, PartitionValue],
    custom_metadata: Mapping[str, str] | None = None,
) -> None:
    """Atomically replace the rows matching ``where`` (partition columns) with ``data`` (a table, or a stream of
    record batches) in one commit."""
    if not where:
        raise StorageError(f"replace_partitions on {table} needs a predicate; refusing to overwrite the table")
    _write(warehouse, table, data, partition_by, mode="overwrite", predicate=sql_predicate(where),
           custom_metadata=custom_metadata)


def append_rows(warehouse: Warehouse, table: str, data: pa.Table, partition_by: Sequence[str] = ()) -> None:
    """Append ``data`` in one commit (creating the table if needed); new columns are added to the table's schema,
    so tables such as ``_manifest`` can grow columns without rewriting old rows."""
    _write(warehouse, table, data, partition_by, mode="append")


def partition_bytes(warehouse: Warehouse, table: str, where: Mapping[str, str]) -> int:
    """Bytes of the data files currently in the partitions matching ``where`` (0 if the table does not exist).

    >>> import tempfile, pyarrow as pa
    >>> wh = Warehouse.from_url(tempfile.mkdtemp())
    >>> replace_partitions(wh, "t", pa.table({"hour": ["h1"], "x": [1]}), partition_by=["hour"], where={"hour": "h1"})
    >>> partition_bytes(wh, "t", {"hour": "h1"}) > 0, partition_bytes(wh, "t", {"hour": "h2"})
    (True, 0)
    """
    try:
        delta = DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())
    except TableNotFoundError:
        return 0
    actions = pa.table(delta.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return 0
    keep = None
    for column, value in where.items():
        match = pc.equal(actions.column(f"partition.{column}"), value)
        keep = match if keep is None else pc.and_(keep, match)
    rows = actions.filter(keep) if keep is not None else actions
    return int(pc.sum(rows.column("size_bytes")).as_py() or 0)


def _write(warehouse: Warehouse, table: str, data: pa.Table | pa.RecordBatchReader, partition_by: Sequence[str], *,
           mode: str, predicate: str | None = None, custom_metadata: Mapping[str, str] | None = None) -> None:
    # merge: a table written before a column existed (e.g. ``commit_id``) gains it, its old rows read it as null
    kwargs: dict[str, Any] = {"mode": mode, "schema_mode": "merge"}
    if custom_metadata:
        from deltalake import CommitProperties

        kwargs["commit_properties"] = CommitProperties(custom_metadata=dict(custom_metadata))
    exists = table_exists(warehouse, table)
    if not exists:
        # a new table checkpoints as Delta intends: every writer writes one every CHECKPOINT_INTERVAL commits
        kwargs["configuration"] = {"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)}
    try:
        write_deltalake(warehouse.table_uri(table), data, partition_by=list(partition_by) or None,
                        predicate=predicate if exists else None,
                        storage_options=warehouse.delta_options(), **kwargs)
    except Exception as err:  # delta-rs raises several unrelated types; one boundary translates them all
        raise StorageError(f"cannot write table {table} at {warehouse.table_uri(table)}: {err}") from err


def read_rows(
    warehouse: Warehouse,
    table: str,
    where: Mapping[str, PartitionValue] | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Rows of a table, reading only the partitions matching ``where`` and only ``columns``.

    A table that does not exist yet reads as empty (zero columns); callers check ``num_rows``.
    """
    try:
        delta = DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())
    except TableNotFoundError:
        return pa.table({})
    filters: list[tuple[str, str, Any]] = []
    for column, value in (where or {}).items():
        filters.append((column, "=", value) if isinstance(value, str) else (column, "in", list(value)))
    try:
        return delta_rows(delta, filters or None, list(columns) if columns else None)
    except Exception as err:
        raise StorageError(f"cannot read table {table} at {warehouse.table_uri(table)}: {err}") from err
