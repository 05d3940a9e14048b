"""Replace many partitions of a Delta table in one commit, their files written in parallel.

The hourly reducer commits one partition per experiment of ``agg_<type>``: thousands for a big hour. Handing
``write_deltalake`` the whole hour as one table needs it in memory at once (and delta-rs buffers every partition's
encoded file until the end of the write); here the partitions come one at a time, each is written as one Parquet
file by a thread pool (Parquet encoding and file writes release the GIL) while the next ones are built, and one Delta
transaction then removes the files the predicate matched and adds the new ones. A reader sees the old partitions
or the new ones, never a mix: files written before a crash are in no commit, so no reader sees them (``rayab
maintain`` vacuums them).

Each file's add action carries the statistics delta-rs writes itself (row count; per primitive column its null
count and, when it has a value, its minimum and maximum), so readers that learn a partition's ``commit_id`` from
the log (:mod:`rayab.storage.commits`) work the same on either writer's files.

A table that does not exist yet is first created empty (its version 0, no rows). When the fast path does not
apply (a table whose schema must first grow a column, a partition value that is not a plain name), the parts are
streamed to :func:`rayab.storage.tables.replace_partitions` instead: the same result in one commit, without the
parallel writes.

>>> import tempfile, pyarrow as pa
>>> from rayab.storage.tables import read_rows
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> parts = [pa.table({"exp_id": [e, e], "hour": ["h1", "h1"], "x": [i, i + 1]}) for i, e in enumerate("ab")]
>>> write_partitions(wh, "t", parts, ["exp_id", "hour"], {"hour": "h1"})
2
>>> write_partitions(wh, "t", parts[1:], ["exp_id", "hour"], {"hour": "h1"})
1
>>> sorted(read_rows(wh, "t").column("x").to_pylist())
[1, 2]
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from rayab.errors import StorageError
from rayab.storage.tables import PartitionValue, replace_partitions, table_exists
from rayab.storage.warehouse import Warehouse

__all__ = ["file_stats", "write_partitions"]

# partition values written as they are in a folder name; anything else would need Hive escaping
_PLAIN = re.compile(r"[A-Za-z0-9._-]+\Z")
# columns with statistics, as Delta's ``dataSkippingNumIndexedCols`` default
_INDEXED_COLUMNS = 32


def _stat_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else None


def file_stats(data: pa.Table, indexed: int = _INDEXED_COLUMNS) -> str:
    """The ``stats`` JSON of a data file's add action: rows, and per primitive column among the first ``indexed``
    its null count and, when it holds a value, its minimum and maximum (what delta-rs writes).

    >>> file_stats(pa.table({"c": ["b", "a"], "n": [None, 2], "l": [[1], [2]]}))
    '{"numRecords": 2, "minValues": {"c": "a", "n": 2}, "maxValues": {"c": "b", "n": 2}, "nullCount": {"c": 0, "n": 1}}'
    """
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field in list(data.schema)[:indexed]:
        if pa.types.is_nested(field.type):
            continue
        column = data.column(field.name)
        nulls[field.name] = column.null_count
        if column.null_count < len(column) and (pa.types.is_string(field.type) or pa.types.is_integer(field.type)
                                                or pa.types.is_floating(field.type)
                                                or pa.types.is_boolean(field.type)):
            bounds = pc.min_max(column)
            lo, hi = _stat_value(bounds["min"].as_py()), _stat_value(bounds["max"].as_py())
            if lo is not None and hi is not None:
                low[field.name], high[field.name] = lo, hi
    return json.dumps({"numRecords": data.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls})


def _partition_values(part: pa.Table, partition_by: Sequence[str]) -> dict[str, str] | None:
    """The part's one value per partition column, or None if it spans several or one is not a plain name."""
    values = {}
    for column in partition_by:
        distinct = pc.unique(part.column(column)).to_pylist()
        if len(distinct) != 1 or not isinstance(distinct[0], str) or not _PLAIN.match(distinct[0]):
            return None
        values[column] = distinct[0]
    return values


def _filesystem(warehouse: Warehouse, table: str) -> tuple[pa_fs.FileSystem, str]:
    """A filesystem writing the table's files, and the prefix of a path relative to the table root."""
    if not warehouse.is_s3:
        return pa_fs.LocalFileSystem(), warehouse.table_uri(table) + "/"
    from deltalake.fs import DeltaStorageHandler

    return pa_fs.PyFileSystem(DeltaStorageHandler(warehouse.table_uri(table), warehouse.delta_options())), ""


def _write_file(filesystem: pa_fs.FileSystem, prefix: str, part: pa.Table, values: Mapping[str, str],
                partition_by: Sequence[str]) -> AddAction:
    folder = "/".join(f"{c}={values[c]}" for c in partition_by)
    path = f"{folder}/part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    data = part.drop_columns(list(partition_by))
    if prefix:  # a local folder; object stores have no folders to make
        filesystem.create_dir(prefix + folder, recursive=True)
    with filesystem.open_output_stream(prefix + path) as sink:
        pq.write_table(data, sink, compression="snappy")
    size = filesystem.get_file_info(prefix + path).size
    return AddAction(path, int(size or 0), dict(values), int(time.time() * 1000), True, file_stats(data))


def _fallback(warehouse: Warehouse, table: str, parts: Iterable[pa.Table], partition_by: Sequence[str],
              where: Mapping[str, PartitionValue]) -> int:
    """The usual writer's replace, fed one part at a time (a stream of record batches: delta-rs still buffers
    each partition's file until the end, but no table of the whole hour is made here)."""
    queue = iter(parts)
    first = next(queue, None)
    if first is None:
        replace_partitions(warehouse, table, pa.table({}), partition_by, where)
        return 0
    count = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        for part in chain([first], queue):
            count[0] += 1
            yield from part.select(first.schema.names).cast(first.schema).to_batches()

    replace_partitions(warehouse, table, pa.RecordBatchReader.from_batches(first.schema, batches()), partition_by,
                       where)
    return count[0]


def write_partitions(warehouse: Warehouse, table: str, parts: Iterable[pa.Table], partition_by: Sequence[str],
                     where: Mapping[str, PartitionValue], threads: int | None = None) -> int:
    """Replace the rows matching ``where`` with ``parts`` (each the rows of one partition: one file) in one commit;
    returns the number of files written. Files are written ``threads`` at a time (default: the CPUs, at most 4)
    while ``parts`` is consumed, so memory holds only the parts in flight."""
    if not where:
        raise StorageError(f"write_partitions on {table} needs a predicate; refusing to overwrite the table")
    queue = iter(parts)
    first = next(queue, None)
    if first is None:
        return _fallback(warehouse, table, [], partition_by, where)
    queue = chain([first], queue)
    if not table_exists(warehouse, table):
        # created empty by the usual writer (schema, partitioning, checkpoint interval): its files are then written
        # here like every later hour's, so re-running the first hour gives the same bytes
        replace_partitions(warehouse, table, first.slice(0, 0), partition_by, where)
    try:
        delta = DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())
        schema = delta.schema()
    except Exception as err:  # delta-rs raises several unrelated types; one boundary translates them all
        raise StorageError(f"cannot open table {table} at {warehouse.table_uri(table)}: {err}") from err
    if ([f.name for f in schema.fields] != first.column_names
            or list(delta.metadata().partition_columns) != list(partition_by)):
        return _fallback(warehouse, table, queue, partition_by, where)
    filesystem, prefix = _filesystem(warehouse, table)
    workers = threads or min(4, os.cpu_count() or 1)
    actions: list[AddAction | RemoveAction] = []
    held: list[pa.Table] = []  # parts seen before one that needs the fallback
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rayab-write") as pool:
        pending: deque[Future[AddAction]] = deque()
        for part in queue:
            values = _partition_values(part, partition_by)
            if values is None or part.schema.names != first.column_names:
                held.append(part)
                break
            pending.append(pool.submit(_write_file, filesystem, prefix, part, values, partition_by))
            while len(pending) >= 2 * workers:
                actions.append(pending.popleft().result())
        while pending:
            actions.append(pending.popleft().result())
    if held:  # the files written so far are in no commit; the usual writer does the whole replace
        return _fallback(warehouse, table, _reread_parts(warehouse, table, actions, partition_by, held, queue),
                         partition_by, where)
    filters = [(c, "=", v) if isinstance(v, str) else (c, "in", list(v)) for c, v in where.items()]
    try:
        delta.create_write_transaction(actions, mode="overwrite", schema=schema, partition_by=list(partition_by),
                                       partition_filters=filters)
    except Exception as err:
        raise StorageError(f"cannot write table {table} at {warehouse.table_uri(table)}: {err}") from err
    return len(actions)


def _reread_parts(warehouse: Warehouse, table: str, actions: Sequence[Any], partition_by: Sequence[str],
                  held: list[pa.Table], rest: Iterable[pa.Table]) -> Iterable[pa.Table]:
    """The parts already written as files (read back from them, partition columns restored), then the others."""
    filesystem, prefix = _filesystem(warehouse, table)
    for action in actions:
        with filesystem.open_input_file(prefix + action.path) as source:
            data = pq.ParquetFile(source).read()
        for column in partition_by:
            data = data.append_column(column, pa.array([action.partition_values[column]] * data.num_rows,
                                                       pa.string()))
        yield data.select(held[0].column_names)
    yield from held
    yield from rest
