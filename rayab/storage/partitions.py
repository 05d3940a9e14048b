"""The query side of reading ``agg_<type>``: the files of one experiment's hours, read column-pruned in parallel.

Partition pruning happens on the Delta log: only the add actions whose partition values are the experiment and an
hour of the window are kept, so no other file is opened (the log's file list is a few milliseconds even for
thousands of partitions). Each file is then read with only the columns the query needs, a few files at a time on a
thread pool (Parquet decoding releases the GIL), and handed over as soon as it is read, so summing overlaps
reading and memory stays bounded by the files in flight.

Every partition is one coalesced file (DESIGN section 3), but nothing here relies on it: an hour with several files
yields several tables. Files are named in the log by URL-encoded paths relative to the table root.

>>> import tempfile, pyarrow as pa
>>> from rayab.storage.tables import replace_partitions
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> rows = pa.table({"exp_id": ["e", "e", "f"], "hour": ["2026-01-01T00", "2026-01-01T01", "2026-01-01T00"],
...                  "x": [1, 2, 3]})
>>> replace_partitions(wh, "t", rows, ["exp_id", "hour"], {"exp_id": ["e", "f"]})
>>> files = list_partition_files(wh, "t", "e", ["2026-01-01T01", "2026-01-01T05"])
>>> [f.hour for f in files]
['2026-01-01T01']
>>> [(f.hour, t.column("x").to_pylist()) for f, t in read_partition_files(wh, "t", files, ["x"])]
[('2026-01-01T01', [2])]
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from rayab.errors import StorageError
from rayab.storage.warehouse import Warehouse

__all__ = ["PartitionFile", "list_partition_files", "partition_uris", "read_partition_files", "table_file_uris"]


@dataclass(frozen=True)
class PartitionFile:
    """One data file of a partition: its hour and its path relative to the table root (decoded)."""

    hour: str
    path: str
    size_bytes: int


def _delta_table(warehouse: Warehouse, table: str) -> DeltaTable | None:
    try:
        return DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())
    except TableNotFoundError:
        return None
    except Exception as err:  # delta-rs raises several unrelated types; translate them at this boundary
        raise StorageError(f"cannot open table {table} at {warehouse.table_uri(table)}: {err}") from err


def list_partition_files(warehouse: Warehouse, table: str, exp_id: str, hours: Sequence[str]) -> list[PartitionFile]:
    """The current files of ``exp_id``'s partitions for ``hours``, sorted by hour (none if the table is absent)."""
    delta = _delta_table(warehouse, table)
    if delta is None:
        return []
    actions = pa.table(delta.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return []
    keep = pc.and_(pc.equal(actions.column("partition.exp_id"), exp_id),
                   pc.is_in(actions.column("partition.hour"), value_set=pa.array(list(hours), pa.string())))
    chosen = actions.filter(keep).select(["partition.hour", "path", "size_bytes"]).to_pylist()
    files = [PartitionFile(r["partition.hour"], unquote(r["path"]), int(r["size_bytes"])) for r in chosen]
    return sorted(files, key=lambda f: (f.hour, f.path))


def partition_uris(warehouse: Warehouse, table: str, files: Sequence[PartitionFile]) -> list[str]:
    """Absolute URIs of ``files`` (local paths or ``s3://``), e.g. for an SQL engine's ``read_parquet``."""
    root = warehouse.table_uri(table)
    return [f"{root}/{f.path}" for f in files]


def _filesystem(warehouse: Warehouse, table: str) -> tuple[pa_fs.FileSystem, str]:
    """A pyarrow filesystem and the prefix that turns a relative file path into one it opens."""
    if not warehouse.is_s3:
        return pa_fs.LocalFileSystem(), warehouse.table_uri(table) + "/"
    from deltalake.fs import DeltaStorageHandler

    handler = DeltaStorageHandler(warehouse.table_uri(table), warehouse.delta_options())
    return pa_fs.PyFileSystem(handler), ""


def _read_one(filesystem: pa_fs.FileSystem, path: str, columns: Sequence[str]) -> pa.Table:
    # ParquetFile.read, not pq.read_table: the latter builds a dataset per call, which costs more CPU than
    # decoding a partition's few rows (measured in scripts/bench_query.py's fixture: 0.75 s vs 0.49 s per window)
    try:
        with filesystem.open_input_file(path) as source:
            return pq.ParquetFile(source).read(columns=list(columns), use_threads=False)
    except Exception as err:  # a missing column (older partitions) or an unreadable file
        raise StorageError(f"cannot read {path} (columns {list(columns)}): {err}") from err


def read_partition_files(warehouse: Warehouse, table: str, files: Sequence[PartitionFile], columns: Sequence[str],
                         threads: int | None = None) -> Iterator[tuple[PartitionFile, pa.Table]]:
    """Yield ``(file, rows)`` in the order of ``files``, reading ``columns`` only, ``threads`` files at a time."""
    if not files:
        return
    filesystem, prefix = _filesystem(warehouse, table)
    workers = threads or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rayab-read") as pool:
        pending: deque[tuple[PartitionFile, Future[pa.Table]]] = deque()
        queue = iter(files)
        for file in queue:
            pending.append((file, pool.submit(_read_one, filesystem, prefix + file.path, columns)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            file, future = pending.popleft()
            table_rows = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_read_one, filesystem, prefix + nxt.path, columns)))
            yield file, table_rows


def table_file_uris(warehouse: Warehouse, table: str) -> list[str]:
    """Absolute URIs of every current data file of ``table`` (from its Delta log; none if it is absent)."""
    delta = _delta_table(warehouse, table)
    if delta is None:
        return []
    actions = pa.table(delta.get_add_actions(flatten=True))
    root = warehouse.table_uri(table)
    return sorted(f"{root}/{unquote(p)}" for p in actions.column("path").to_pylist()) if actions.num_rows else []
