"""Keeping the warehouse's Delta tables healthy for years: checkpoints, compaction of small files, vacuum.

Every hourly commit adds a JSON entry to a table's ``_delta_log`` and, when it replaces partitions, leaves the
superseded Parquet files on storage (Delta only marks them removed). A reader of the Delta log ignores them; a plain
Parquet reader over the folder (a Hive / Athena / Spark table without Delta, ``pyarrow.dataset``, DuckDB's
``read_parquet``) counts them too. :func:`maintain_table` does, in this order, what Delta leaves to the operator:

1. sets ``delta.checkpointInterval`` (:data:`CHECKPOINT_INTERVAL`), so every writer checkpoints as it commits;
2. compacts partitions holding several small files into files of about ``target_size`` bytes (a rewrite without
   data change: the rows stay the same);
3. vacuums: deletes the files the log marked removed more than ``retention_hours`` ago;
4. writes a checkpoint of the current version if it has none, and removes log entries older than the table's
   ``delta.logRetentionDuration`` that a checkpoint makes redundant.

Each step does nothing when there is nothing to do, so running it again (e.g. from cron) is safe and reports zeros.
Only removed files are deleted (Delta's "lite" vacuum): files a running writer has not committed yet are never
touched, whatever the retention. A retention below the longest query or job means such a reader may find a file
gone and fail (never read wrong rows); 0 makes the folder exactly the Delta table's current rows.

>>> import tempfile, pyarrow as pa
>>> from rayab.storage.tables import replace_partitions
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> for x in (1, 2):
...     replace_partitions(wh, "t", pa.table({"hour": ["h1"], "x": [x]}), ["hour"], {"hour": "h1"})
>>> report = maintain_table(wh, "t", retention_hours=0)
>>> report.vacuumed_files, report.checkpoint_version, report.data_files
(1, 3, 1)
>>> maintain_table(wh, "t", retention_hours=0).vacuumed_files
0
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from rayab.errors import StorageError
from rayab.storage.tables import CHECKPOINT_INTERVAL
from rayab.storage.warehouse import Warehouse

__all__ = ["CHECKPOINT_INTERVAL", "TableMaintenance", "list_tables", "maintain_table", "maintain_warehouse"]

DEFAULT_RETENTION_HOURS = 168
DEFAULT_TARGET_SIZE = 128 * 1024 * 1024


@dataclass(frozen=True)
class TableMaintenance:
    """What :func:`maintain_table` found and did on one table."""

    table: str
    version: int
    data_files: int
    compacted_files: int
    compacted_into: int
    checkpoint_version: int
    checkpoint_written: bool
    vacuumed_files: int
    properties_set: tuple[str, ...]
    dry_run: bool

    def line(self) -> str:
        """One human line, e.g. for cron mail."""
        checkpoint = (f"checkpoint v{self.checkpoint_version} {'written' if self.checkpoint_written else 'exists'}"
                      if self.checkpoint_version >= 0 else "no checkpoint")
        verb = "would " if self.dry_run else ""
        return (f"{self.table}: v{self.version}, {self.data_files} data files; {verb}compact "
                f"{self.compacted_files} -> {self.compacted_into} files; {checkpoint}; {verb}vacuum "
                f"{self.vacuumed_files} removed files" +
                (f"; set {', '.join(self.properties_set)}" if self.properties_set else ""))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {**asdict(self), "properties_set": list(self.properties_set)}


def _open(warehouse: Warehouse, table: str) -> DeltaTable:
    return DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())


def list_tables(warehouse: Warehouse) -> list[str]:
    """Names of the Delta tables directly under the warehouse root, sorted."""
    fs = warehouse.filesystem()
    root = warehouse.url
    try:
        entries = fs.ls(root, detail=True)
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        if entry.get("type") != "directory":
            continue
        name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        if DeltaTable.is_deltatable(warehouse.table_uri(name), storage_options=warehouse.delta_options()):
            names.append(name)
    return sorted(names)


def _last_checkpoint(warehouse: Warehouse, table: str) -> int:
    fs = warehouse.filesystem()
    path = f"{warehouse.table_uri(table)}/_delta_log/_last_checkpoint"
    try:
        with fs.open(path, "rb") as source:
            return int(json.loads(source.read())["version"])
    except FileNotFoundError:
        return -1


def _small_file_groups(delta: DeltaTable, target_size: int) -> tuple[int, int]:
    """(files in partitions with more than one file smaller than ``target_size``, number of such partitions)."""
    actions = pa.table(delta.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return 0, 0
    partition_columns = [c for c in actions.column_names if c.startswith("partition.")]
    keys = list(zip(*(actions.column(c).to_pylist() for c in partition_columns), strict=True)) \
        if partition_columns else [()] * actions.num_rows
    sizes = actions.column("size_bytes").to_pylist()
    small = Counter(k for k, size in zip(keys, sizes, strict=True) if size < target_size)
    groups = {k: n for k, n in small.items() if n > 1}
    return sum(groups.values()), len(groups)


def maintain_table(warehouse: Warehouse, table: str, retention_hours: int = DEFAULT_RETENTION_HOURS,
                   target_size: int = DEFAULT_TARGET_SIZE, dry_run: bool = False) -> TableMaintenance:
    """Checkpoint interval, compaction, checkpoint and log cleanup, vacuum of one table (see the module doc)."""
    if retention_hours < 0:
        from rayab.errors import ValidationError

        raise ValidationError("retention_hours", retention_hours, "must be 0 or more")
    try:
        return _maintain(warehouse, table, retention_hours, target_size, dry_run)
    except StorageError:
        raise
    except Exception as err:  # delta-rs raises several unrelated types; one boundary translates them all
        raise StorageError(f"cannot maintain table {table} at {warehouse.table_uri(table)}: {err}") from err


def _maintain(warehouse: Warehouse, table: str, retention_hours: int, target_size: int,
              dry_run: bool) -> TableMaintenance:
    delta = _open(warehouse, table)
    properties_set: list[str] = []
    if delta.metadata().configuration.get("delta.checkpointInterval") != str(CHECKPOINT_INTERVAL):
        properties_set.append(f"delta.checkpointInterval={CHECKPOINT_INTERVAL}")
        if not dry_run:
            delta.alter.set_table_properties({"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)})
            delta = _open(warehouse, table)
    compacted, groups = _small_file_groups(delta, target_size)
    compacted_into = 0
    if compacted and not dry_run:
        metrics = delta.optimize.compact(target_size=target_size)
        compacted, compacted_into = int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])
        delta = _open(warehouse, table)
    elif compacted:
        compacted_into = groups
    # vacuum before the checkpoint: vacuum commits too, and the checkpoint is then of the final version
    vacuumed = _vacuum(warehouse, table, delta, retention_hours, dry_run)
    if vacuumed and not dry_run:
        delta = _open(warehouse, table)
    version = int(delta.version())
    checkpoint = _last_checkpoint(warehouse, table)
    written = False
    if checkpoint < version and not dry_run:
        delta.create_checkpoint()
        delta.cleanup_metadata()
        checkpoint, written = version, True
    data_files = len(delta.file_uris())
    return TableMaintenance(table, version, data_files, compacted, compacted_into, checkpoint, written,
                            vacuumed, tuple(properties_set), dry_run)


def _vacuum(warehouse: Warehouse, table: str, delta: DeltaTable, retention_hours: int, dry_run: bool) -> int:
    """Delete the removed files older than the retention that are still on storage; returns how many.

    The log keeps listing a removed file until its tombstone expires, so the candidates are first checked for
    existence: a second run finds none, commits nothing and reports 0."""
    candidates = delta.vacuum(retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False)
    fs = warehouse.filesystem()
    present = [path for path in candidates if fs.exists(f"{warehouse.table_uri(table)}/{path}")]
    if present and not dry_run:
        delta.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    return len(present)


def maintain_warehouse(warehouse: Warehouse, tables: Sequence[str] | None = None,
                       retention_hours: int = DEFAULT_RETENTION_HOURS, target_size: int = DEFAULT_TARGET_SIZE,
                       dry_run: bool = False) -> list[TableMaintenance]:
    """:func:`maintain_table` on ``tables`` (default: every Delta table of the warehouse), in name order."""
    names = list(tables) if tables else list_tables(warehouse)
    return [maintain_table(warehouse, name, retention_hours, target_size, dry_run) for name in names]
