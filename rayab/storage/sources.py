"""Event sources of the hourly job: what one hour of a source reads, and reading it as Arrow with the analysis type's
column names.

Two functions make the boundary between a source and the job: :func:`plan_hour` (on the driver) lists what the hour
reads as :class:`SourcePart` s, one map task each, with the manifest entry (files and sizes, the Delta version, or the
query text and its parameters); :func:`read_part` (in a map task) reads one part as a table whose columns are the
ones the analysis type needs, ready for validation. The kinds and their fields are described in
:mod:`rayab.model.source`.

What a part holds once read:

- only the hour's rows when the source has a ``timestamp_column`` (rows outside it are counted, not returned);
- only the rows matching ``where`` (the others counted);
- columns renamed from the source's fields (``properties.revenue`` from a nested object or struct);
- the unit id as exact text, whatever its type: ``12345678901234567890`` from an int64, ``100000000000000000000``
  from the float ``1e20``, never ``1e+20``;
- rows whose time cannot be read carry their reason in :data:`~rayab.storage.logs.LINE_ERROR`, so validation
  quarantines them. Such a row belongs to the hour of the earliest readable time of its file (of its row group for
  Parquet in a flat folder), so it is quarantined once; a file without any readable time has its rows quarantined in
  each hour that reads it.

>>> import pyarrow as pa
>>> exact_text(pa.array([1e20, 12.5, None])).to_pylist()
['100000000000000000000', '12.5', None]
>>> exact_text(pa.array([12345678901234567890], pa.uint64())).to_pylist()
['12345678901234567890']
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rayab.errors import InputDataError, ValidationError
from rayab.model.hours import parse_hour
from rayab.model.source import EventSource
from rayab.storage.logs import (
    FORMATS_READ,
    LINE_ERROR,
    SPLIT_BYTES,
    IgnoredFile,
    LogFile,
    LogListing,
    LogSplit,
    ignore_reason,
    log_splits,
    read_log_file,
    row_group_splits,
    scan_log_files,
)
from rayab.storage.warehouse import filesystem_for

__all__ = ["TIME_COLUMN", "HourInput", "PartRead", "SourcePart", "default_source", "event_times", "exact_text",
           "plan_hour", "read_part", "source_field", "where_keeps", "where_rows"]

# The event-time column that the assignment join compares with ``assigned_at`` (also rayab.aggregate.validate's).
TIME_COLUMN = "event_time"
_TIME = pa.timestamp("us", tz="UTC")
_PER_SECOND = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


def default_source(logs: str) -> EventSource:
    """The source ``--logs`` names: files in rayab's hourly layout, or a URL template."""
    return EventSource(kind="files", path=logs)


@dataclass(frozen=True)
class SourcePart:
    """One map task's share of an hour: a file (or row groups of it), a Delta data file, or the whole query."""

    source: EventSource
    hour: str
    label: str
    split: LogSplit | None = None
    # flat Parquet: the row groups to read one by one (each attributes its rows whose time is unreadable)
    by_group: bool = False
    delta_version: int | None = None
    partition_values: tuple[tuple[str, str | None], ...] = ()
    # a query read by several tasks: the job hands this part its slice of one run (query_slices); read alone, the
    # part reads the rows whose unit hash is ``split_index`` modulo ``n_splits``
    split_index: int = 0
    n_splits: int = 1

    @property
    def file_path(self) -> str:
        """The file the part reads (the label for a query)."""
        return self.split.file.path if self.split is not None else self.label


@dataclass(frozen=True)
class HourInput:
    """What an hour of a source reads: parts, the inputs with sizes (what ``backfill`` compares), ignored files,
    and the source's description for the manifest (``input_source``)."""

    parts: list[SourcePart]
    listing: LogListing
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[LogFile]:
        """The inputs read, each with its size (a query: its digest, size 0)."""
        return self.listing.files


@dataclass(frozen=True)
class PartRead:
    """A part as read: the rows for validation, and the rows left out (outside the hour, not matching ``where``)."""

    table: pa.Table
    rows_outside_hour: int = 0
    rows_filtered: int = 0


def _bounds(hour: str) -> tuple[datetime, datetime]:
    start = parse_hour(hour)
    return start, start + timedelta(hours=1)


def _local(path: str) -> str:
    """Local paths made absolute (map tasks may run elsewhere than the driver's working folder)."""
    return path if "://" in path else os.path.abspath(path)


def plan_hour(source: EventSource, hour: str, storage_options: Mapping[str, str] | None = None,
              split_bytes: int | None = None) -> HourInput:
    """The parts of ``hour`` for ``source`` and its manifest entry; see the module docstring."""
    start, end = _bounds(hour)
    described: dict[str, Any] = {"kind": source.kind, **source.to_dict()}
    if source.kind == "sql":
        params = {"start": start.isoformat(), "end": end.isoformat()}
        text = source.sql_text()
        digest = hashlib.sha256(json.dumps([text, params]).encode()).hexdigest()[:16]
        name = f"duckdb query {digest}"
        listing = LogListing([LogFile(name, 0)], [], text[:200], "", True)
        n = source.query_splits
        parts = [SourcePart(source, hour, name if n == 1 else f"{name} [{i + 1}/{n}]", split_index=i, n_splits=n)
                 for i in range(n)]
        return HourInput(parts, listing, {**described, "query": text, "params": params})
    if source.kind == "delta":
        return _plan_delta(source, hour, storage_options, described)
    if source.kind == "iceberg":
        return _plan_iceberg(source, hour, {**described, "catalog": _redacted(source.catalog)})
    path = source.path  # as given, like --logs always was (manifests name the files the same way across versions)
    if source.layout == "flat":
        return _plan_flat(source, path, hour, storage_options, split_bytes, described)
    listing = scan_log_files(path, hour, storage_options, source.format or None)
    parts = [SourcePart(source, hour, s.label, s) for f in listing.files
             for s in log_splits(f, storage_options, split_bytes)]
    return HourInput(parts, listing, described)


def _plan_flat(source: EventSource, folder: str, hour: str, storage_options: Mapping[str, str] | None,
               split_bytes: int | None, described: dict[str, Any]) -> HourInput:
    """Every file below ``folder``; Parquet files and row groups whose statistics lie outside the hour are skipped."""
    fs = filesystem_for(folder, storage_options)
    prefix = "s3://" if folder.startswith("s3://") else ""
    root = folder.rstrip("/")
    try:
        exists = fs.isdir(root)
    except (FileNotFoundError, PermissionError):
        exists = False
    found = {(n if n.startswith(prefix) else prefix + n): int(e["size"])
             for n, e in (fs.find(root, detail=True).items() if exists else []) if e["type"] == "file"}
    start, end = _bounds(hour)
    files: list[LogFile] = []
    ignored: list[IgnoredFile] = []
    parts: list[SourcePart] = []
    outside = 0
    for path, size in sorted(found.items()):
        reason = ignore_reason(path, root, source.format or None)
        if reason is not None:
            ignored.append(IgnoredFile(path, size, reason))
            continue
        file = LogFile(path, size)
        if (source.format or file.format) != "parquet":
            files.append(file)
            parts.append(SourcePart(source, hour, path, LogSplit(file)))
            continue
        groups = _groups_in_hour(file, source.timestamp_column, source.timestamp_unit, start, end, storage_options)
        if groups is None:
            files.append(file)
            parts.extend(SourcePart(source, hour, s.label, s) for s in log_splits(file, storage_options, split_bytes))
            continue
        if not groups:
            outside += 1
            continue
        files.append(file)
        parts.extend(SourcePart(source, hour, s.label, s, by_group=True)
                     for s in _group_splits(file, groups, storage_options, split_bytes))
    listing = LogListing(files, ignored, f"{root}/** ({source.timestamp_column} in [{start:%Y-%m-%dT%H}:00, "
                         f"{end:%Y-%m-%dT%H}:00))", root, exists)
    return HourInput(parts, listing, {**described, "files_outside_hour": outside})


def _stat_time(value: Any, unit: str) -> datetime | None:
    """A Parquet or Delta statistic of the time column as a UTC datetime (None: unusable, read the data)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value * _PER_SECOND[unit] / 1e6 / (1000 if unit == "ns" else 1), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None  # text times: statistics compare as text, not as times


def _groups_in_hour(file: LogFile, column: str, unit: str, start: datetime, end: datetime,
                    storage_options: Mapping[str, str] | None) -> list[int] | None:
    """The row groups whose time statistics overlap [start, end) or that lack them; None: read the whole file
    (no usable statistics, or a footer that cannot be read: reading then names the file)."""
    top = column.split(".")[0]
    try:
        with filesystem_for(file.path, storage_options).open(file.path, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError):
        return None
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if column not in names and top not in names:
        return None
    index = names.index(column if column in names else top)
    keep: list[int] = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        low = _stat_time(stats.min, unit) if stats is not None and stats.has_min_max else None
        high = _stat_time(stats.max, unit) if stats is not None and stats.has_min_max else None
        if low is None or high is None or (high >= start and low < end):
            keep.append(g)
    return keep


def _group_splits(file: LogFile, groups: list[int], storage_options: Mapping[str, str] | None,
                  split_bytes: int | None) -> list[LogSplit]:
    limit = split_bytes or SPLIT_BYTES
    if file.size <= limit:
        return [LogSplit(file, tuple(groups))]
    with filesystem_for(file.path, storage_options).open(file.path, "rb") as handle:
        meta = pq.ParquetFile(handle).metadata
    return row_group_splits(file, meta, groups, limit)


def _plan_delta(source: EventSource, hour: str, storage_options: Mapping[str, str] | None,
                described: dict[str, Any]) -> HourInput:
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    path = _local(source.path).rstrip("/")
    options = dict(storage_options) if path.startswith("s3://") and storage_options else None
    try:
        table = DeltaTable(path, storage_options=options)
    except (TableNotFoundError, FileNotFoundError):
        listing = LogListing([], [], path, path, False)
        return HourInput([], listing, described)
    except DeltaError as err:
        raise InputDataError(f"Delta table {path} cannot be opened: {str(err)[:300]}") from None
    features = set(table.protocol().reader_features or [])
    if features & {"deletionVectors", "columnMapping"}:
        raise InputDataError(f"Delta table {path} uses {sorted(features & {'deletionVectors', 'columnMapping'})}, "
                             "which the hourly job does not read: rewrite it without them (OPTIMIZE / purge)")
    version = int(table.version())
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    start, end = _bounds(hour)
    files: list[LogFile] = []
    parts: list[SourcePart] = []
    column = source.timestamp_column
    for action in sorted(actions, key=lambda a: str(a["path"])):
        low = _stat_time(action.get(f"min.{column}"), source.timestamp_unit)
        high = _stat_time(action.get(f"max.{column}"), source.timestamp_unit)
        if low is not None and high is not None and (high < start or low >= end):
            continue
        name = str(action["path"])
        full = name if "://" in name or name.startswith("/") else f"{path}/{name}"
        file = LogFile(full, int(action["size_bytes"]))
        partition = tuple(sorted((k[len("partition."):], None if v is None else str(v))
                                 for k, v in action.items() if k.startswith("partition.")))
        files.append(file)
        parts.append(SourcePart(source, hour, full, LogSplit(file), delta_version=version,
                                partition_values=partition))
    listing = LogListing(files, [], f"{path}@v{version} ({column} in [{start:%Y-%m-%dT%H}:00, "
                         f"{end:%Y-%m-%dT%H}:00))", path, True)
    return HourInput(parts, listing, {**described, "version": version, "files_in_table": len(actions)})


_SECRET = re.compile(r"secret|password|token|credential|key", re.I)


def _redacted(properties: Mapping[str, str]) -> dict[str, str]:
    """Catalog properties fit for a manifest: secrets and the password of a URI replaced by ``***``.

    >>> _redacted({"uri": "postgresql://me:pw@db/cat", "s3.secret-access-key": "x", "warehouse": "s3://lake"})
    {'uri': 'postgresql://me:***@db/cat', 's3.secret-access-key': '***', 'warehouse': 's3://lake'}
    """
    return {k: "***" if _SECRET.search(k) else re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", v)
            for k, v in properties.items()}


def _plan_iceberg(source: EventSource, hour: str, described: dict[str, Any]) -> HourInput:
    """The data files of the table's current snapshot that may hold the hour (pyiceberg prunes by file statistics
    when the time column is a timestamp); each file is one part, read by name like a Delta table's."""
    try:
        from pyiceberg.catalog import load_catalog
        from pyiceberg.exceptions import NoSuchTableError
        from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, GreaterThanOrEqual, LessThan
        from pyiceberg.types import TimestampType, TimestamptzType
    except ImportError:
        raise InputDataError("an iceberg source needs pyiceberg: pip install 'rayab[iceberg]'") from None
    start, end = _bounds(hour)
    name = source.table
    try:
        properties = dict(source.catalog)
        table = load_catalog(properties.pop("name", "default"), **properties).load_table(name)
    except NoSuchTableError:
        return HourInput([], LogListing([], [], f"iceberg {name}", name, False), described)
    except Exception as err:  # pyiceberg raises many kinds (catalog, IO, validation): name them in one line
        raise InputDataError(f"Iceberg table {name} cannot be opened: {type(err).__name__}: {str(err)[:300]}") \
            from None
    snapshot = table.current_snapshot()
    column = source.timestamp_column
    found = table.schema().find_field(column) if column in table.schema().column_names else None
    row_filter: BooleanExpression = AlwaysTrue()
    if found is not None and isinstance(found.field_type, TimestampType | TimestamptzType):
        zone = start.tzinfo if isinstance(found.field_type, TimestamptzType) else None
        # pyiceberg's predicates take (term, literal); its pydantic fields make mypy see other arguments
        low = GreaterThanOrEqual(column, start.replace(tzinfo=zone).isoformat())  # type: ignore[call-arg, arg-type]
        high = LessThan(column, end.replace(tzinfo=zone).isoformat())  # type: ignore[call-arg, arg-type]
        row_filter = And(low, high)
    tasks = [] if snapshot is None else list(table.scan(row_filter=row_filter).plan_files())
    deletes = [t.file.file_path for t in tasks if t.delete_files]
    if deletes:
        raise InputDataError(f"Iceberg table {name} has delete files for {deletes[0][:200]} (and "
                             f"{len(deletes) - 1} more), which the hourly job does not read: compact the table "
                             "(rewrite_data_files) first")
    files: list[LogFile] = []
    parts: list[SourcePart] = []
    for task in sorted(tasks, key=lambda t: str(t.file.file_path)):
        path = str(task.file.file_path)
        file = LogFile(path.removeprefix("file://"), int(task.file.file_size_in_bytes))
        files.append(file)
        parts.append(SourcePart(source, hour, file.path, LogSplit(file)))
    snapshot_id = None if snapshot is None else int(snapshot.snapshot_id)
    listing = LogListing(files, [], f"iceberg {name}@{snapshot_id} ({column} in [{start:%Y-%m-%dT%H}:00, "
                         f"{end:%Y-%m-%dT%H}:00))", name, True)
    return HourInput(parts, listing, {**described, "snapshot_id": snapshot_id,
                                      "metadata_location": str(table.metadata_location)})


# --- reading a part -----------------------------------------------------------------------------------------------

def _top(name: str) -> str:
    return name.split(".")[0]


def _wanted(source: EventSource, columns: Sequence[str]) -> list[str]:
    """The source's fields to read for the analysis type's ``columns`` (with the timestamp and ``where`` fields)."""
    fields = [source.field_of(c) for c in columns]
    extra = [source.timestamp_column] if source.timestamp_column else []
    extra += list(source.where)
    return list(dict.fromkeys([*fields, *extra, *(_top(f) for f in [*fields, *extra])]))


def query_slices(part: SourcePart, columns: Sequence[str], unit_column: str) -> list[pa.Table]:
    """The raw rows of every part of a query's hour from one run of the query: ``part.n_splits`` contiguous slices
    of its result (zero-copy), slice ``i`` for the part whose ``split_index`` is ``i``. Each row is in exactly one
    slice, so the parts read with :func:`read_part` (``preread``) hold the query's rows once, as the hash-filtered
    parts do, but the hour's input is scanned once instead of once per part.

    A failing query raises :class:`InputDataError` naming it, as :func:`read_part` does."""
    source = part.source
    whole = _run_query(replace(part, split_index=0, n_splits=1), source.field_of(unit_column),
                       _wanted(source, columns))
    n = max(part.n_splits, 1)
    step = -(-whole.num_rows // n)
    return [whole.slice(i * step, step) for i in range(n)]


def read_part(part: SourcePart, columns: Sequence[str], unit_column: str,
              storage_options: Mapping[str, str] | None = None, dictionary_columns: Sequence[str] = (),
              text_columns: Sequence[str] = (), preread: pa.Table | None = None) -> PartRead:
    """Read one part with the analysis type's ``columns`` (see the module docstring); unreadable content raises
    :class:`InputDataError` naming the file or the query.

    ``unit_column`` becomes exact text; ``dictionary_columns`` are read dictionary-encoded from Parquet, and CSV
    ``text_columns`` (ids, dimensions) as text. For a query part, ``preread`` is its slice of
    :func:`query_slices` (the query is then not run again)."""
    source = part.source
    wanted = _wanted(source, columns)
    if source.kind == "sql" and preread is not None:
        raw = [preread]
    elif source.kind == "sql":
        raw = [_run_query(part, source.field_of(unit_column), wanted)]
    else:
        raw = _read_file(part, wanted, storage_options, [source.field_of(c) for c in dictionary_columns],
                         [source.field_of(c) for c in text_columns])
    outside = filtered = 0
    tables = []
    for table in raw:
        table, out_count = _in_hour(table, source, part.hour)
        table, kept_out = _where(table, source)
        outside += out_count
        filtered += kept_out
        tables.append(_mapped(table, source, columns, unit_column))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return PartRead(table, outside, filtered)


def _read_file(part: SourcePart, wanted: Sequence[str], storage_options: Mapping[str, str] | None,
               dictionary: Sequence[str], text: Sequence[str]) -> list[pa.Table]:
    assert part.split is not None
    path = part.split.file.path
    groups = part.split.row_groups
    if part.by_group and groups is not None:
        # one read of all the row groups, then one zero-copy slice per group (each attributes its unreadable times)
        table = read_log_file(path, wanted, storage_options, groups, dictionary, text)
        with filesystem_for(path, storage_options).open(path, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
        slices, offset = [], 0
        for g in groups:
            rows = meta.row_group(g).num_rows
            slices.append(table.slice(offset, rows))
            offset += rows
        return slices
    table = read_log_file(path, wanted, storage_options, groups, dictionary, text,
                          fmt=part.source.format or None)
    for name, value in part.partition_values:
        if name in wanted and name not in table.column_names:
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return [table]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _wrapped_query(text: str, columns: Sequence[str], wanted: Sequence[str], unit_field: str, index: int,
                   n: int) -> str:
    """``text`` with only the columns the analysis type reads (DuckDB pushes the projection into its scans) and,
    with ``n`` > 1, only the rows whose unit hashes to ``index`` modulo ``n``: every row lands in exactly one split
    (a null unit hashes too; a query without the unit column is read whole by split 0).

    >>> _wrapped_query("SELECT * FROM t WHERE ts >= $start", ["uid", "x", "ts"], ["uid", "ts"], "uid", 1, 4)
    'SELECT "uid", "ts" FROM (SELECT * FROM t WHERE ts >= $start) AS rayab_q WHERE hash(rayab_q."uid") % 4 = 1'
    """
    inner = text.rstrip().rstrip(";")
    names = {_top(w) for w in wanted}
    kept = [c for c in columns if c in names]
    select = ", ".join(map(_quoted, kept)) if kept else "*"
    query = f"SELECT {select} FROM ({inner}) AS rayab_q"
    if n <= 1:
        return query
    top = _top(unit_field)
    if top not in columns:
        return query if index == 0 else f"{query} WHERE false"
    return f"{query} WHERE hash(rayab_q.{_quoted(top)}) % {n} = {index}"


def _run_query(part: SourcePart, unit_field: str, wanted: Sequence[str]) -> pa.Table:
    import duckdb

    start, end = _bounds(part.hour)
    text = part.source.sql_text()
    try:
        with duckdb.connect(":memory:") as con:
            con.execute("SET TimeZone = 'UTC'")
            if part.n_splits > 1:
                con.execute("SET threads = 1")  # the splits of the hour run side by side, one core each
            params = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
            columns = con.sql(text, params=params).columns  # binds the query, runs nothing
            query = _wrapped_query(text, columns, wanted, unit_field, part.split_index, part.n_splits)
            table = con.sql(query, params=params).to_arrow_table()
    except duckdb.Error as err:
        raise InputDataError(f"query {text[:120]!r} failed for hour {part.hour}: {str(err)[:300]}") from None
    return table if isinstance(table, pa.Table) else pa.table(table)


def source_field(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """A source field: a column, or a dotted path into struct columns or JSON-object text (``None``: absent).

    >>> t = pa.table({"properties": ['{"variation_id": 1}', '{"other": 2}']})
    >>> source_field(t, "properties.variation_id").to_pylist(), source_field(t, "context.page")
    ([1, None], None)
    """
    if name in table.column_names:
        return table.column(name)
    parts = name.split(".")
    if parts[0] not in table.column_names:
        return None
    column: pa.ChunkedArray = table.column(parts[0])
    for i, key in enumerate(parts[1:], 1):
        if pa.types.is_struct(column.type):
            if column.type.get_field_index(key) < 0:
                return None
            column = pc.struct_field(column, key)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return _json_path(column, parts[i:])
        else:
            return None
    return column


def _json_path(column: pa.ChunkedArray, keys: Sequence[str]) -> pa.ChunkedArray:
    """Values at ``keys`` inside JSON-object text (what line-by-line JSON reading keeps of a nested object)."""
    from rayab.storage.logs import _jsonl_column

    values: list[Any] = []
    for text in column.to_pylist():
        value: Any = None
        if isinstance(text, str):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
        values.append(value)
    return pa.chunked_array([_jsonl_column(values)])


def event_times(column: pa.ChunkedArray | pa.Array, unit: str = "s") -> tuple[pa.Array, np.ndarray]:
    """A time column as UTC microseconds, and which rows could not be read (null, not a time).

    Timestamps (no zone means UTC), epoch numbers in ``unit``, or ISO 8601 text (``2026-11-24T10:15:00.123Z``).

    >>> times, bad = event_times(pa.array(["2026-11-24T10:15:00Z", "2026-11-24T11:15:00+01:00", "soon", None]))
    >>> [t.isoformat() if t else None for t in times.to_pylist()], bad.tolist()
    (['2026-11-24T10:15:00+00:00', '2026-11-24T10:15:00+00:00', None, None], [False, False, True, True])
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_timestamp(array.type):
        times = array.cast(pa.timestamp(array.type.unit, tz="UTC")).cast(_TIME, safe=False)
    elif pa.types.is_date(array.type):
        times = array.cast(pa.timestamp("us")).cast(_TIME)
    elif pa.types.is_integer(array.type):
        exact = np.asarray(pc.fill_null(array.cast(pa.int64(), safe=False), 0), np.int64)
        limit = 2**62 // _PER_SECOND[unit]
        ok = np.asarray(array.is_valid(), bool) & (np.abs(exact) < limit)
        whole = exact // 1000 if unit == "ns" else np.where(ok, exact, 0) * _PER_SECOND[unit]
        times = pa.array(whole, pa.int64(), mask=~ok).cast(_TIME)
    elif pa.types.is_floating(array.type):
        numbers = np.asarray(pc.fill_null(array.cast(pa.float64()), math.nan), np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            micros = numbers * _PER_SECOND[unit] / (1000 if unit == "ns" else 1)
        ok = np.isfinite(micros) & (np.abs(micros) < 2**62)
        whole = np.floor(np.where(ok, micros, 0)).astype(np.int64)
        times = pa.array(whole, pa.int64(), mask=~ok).cast(_TIME)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        times = _parse_text_times(array)
    else:
        times = pa.nulls(len(array), _TIME)
    bad = np.asarray(times.is_null(), bool)
    return times, bad


def _parse_text_times(array: pa.Array) -> pa.Array:
    try:  # Arrow's ISO 8601 parser: fast, and exact to the microsecond (every time with a zone, or none without)
        return array.cast(_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return array.cast(pa.timestamp("us")).cast(_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: list[datetime | None] = []
    for text in array.to_pylist():
        try:
            at = datetime.fromisoformat(text.strip()) if isinstance(text, str) else None
        except ValueError:
            at = None
        out.append(None if at is None else at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC))
    return pa.array(out, _TIME)


def _in_hour(table: pa.Table, source: EventSource, hour: str) -> tuple[pa.Table, int]:
    """The rows of ``hour`` by the source's time column (with the parsed time as ``event_time`` when it is not
    mapped), rows whose time is unreadable flagged when this hour owns them; and how many rows lie outside."""
    if not source.timestamp_column:
        return table, 0
    column = source_field(table, source.timestamp_column)
    if column is None:
        return table, 0  # validation reports the missing column (event_time) or the rows are read as they are
    times, bad = event_times(column, source.timestamp_unit)
    start = _bounds(hour)[0]
    values = np.asarray(pc.fill_null(times.cast(pa.int64()), 0), np.int64)
    low = int((start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    high = low + 3_600_000_000
    inside = ~bad & (values >= low) & (values < high)
    owned = bool(bad.any()) and (bool(bad.all()) or low <= int(values[~bad].min()) < high)
    keep = inside | (bad & owned)
    if TIME_COLUMN not in source.columns and TIME_COLUMN not in table.column_names:
        table = table.append_column(TIME_COLUMN, times)
    if owned:
        shown = pc.cast(column, pa.string(), safe=False) if not pa.types.is_struct(column.type) else None
        texts = shown.to_pylist() if shown is not None else [None] * table.num_rows
        rule = f"not a time (ISO 8601, or epoch {source.timestamp_unit})"
        errors = [f"{source.timestamp_column} == {str(t)[:40]!r}: {rule}" if b else None
                  for t, b in zip(texts, bad.tolist(), strict=True)]
        if LINE_ERROR in table.column_names:
            previous = table.column(LINE_ERROR).to_pylist()
            errors = [p if p is not None else e for p, e in zip(previous, errors, strict=True)]
            table = table.drop_columns([LINE_ERROR])
        table = table.append_column(LINE_ERROR, pa.array(errors, pa.string()))
    if bool(keep.all()):
        return table, 0
    return table.filter(pa.array(keep)), int(np.count_nonzero(~keep))


def _where(table: pa.Table, source: EventSource) -> tuple[pa.Table, int]:
    """Rows whose ``where`` fields hold one of the listed values; and how many others there were."""
    return where_rows(table, source.where)


def where_keeps(table: pa.Table, where: Mapping[str, Sequence[Any]], option: str = "source.where") -> np.ndarray:
    """Which rows hold, in every ``where`` field, one of its listed values (compared as text: ``1`` matches
    ``"1"``); a field that is not in the input raises :class:`ValidationError` named ``{option}.{field}``."""
    keep = np.ones(table.num_rows, bool)
    for name, values in where.items():
        column = source_field(table, name)
        if column is None:
            raise ValidationError(f"{option}.{name}", name, "is not a field of the input")
        as_text = pc.cast(column, pa.string(), safe=False)
        keep &= np.asarray(pc.fill_null(pc.is_in(as_text, pa.array([str(v) for v in values], pa.string())),
                                        False), bool)
    return keep


def where_rows(table: pa.Table, where: Mapping[str, Sequence[Any]]) -> tuple[pa.Table, int]:
    """The rows :func:`where_keeps` keeps, and how many others there were.

    >>> t = pa.table({"event": ["Experiment Viewed", "Order Completed"], "n": [1, 2]})
    >>> kept, left_out = where_rows(t, {"event": ["Experiment Viewed"]})
    >>> kept.column("n").to_pylist(), left_out
    ([1], 1)
    """
    if not where or table.num_rows == 0:
        return table, 0
    keep = where_keeps(table, where)
    if bool(keep.all()):
        return table, 0
    return table.filter(pa.array(keep)), int(np.count_nonzero(~keep))


def _mapped(table: pa.Table, source: EventSource, columns: Sequence[str], unit: str) -> pa.Table:
    """The needed columns under their own names (the unit id as exact text), and the line errors if any."""
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    for name in columns:
        if name == TIME_COLUMN and TIME_COLUMN not in source.columns and TIME_COLUMN in table.column_names:
            out[name] = table.column(TIME_COLUMN)
            continue
        column = source_field(table, source.field_of(name))
        if column is None:
            continue
        out[name] = exact_text(column) if name == unit else column
    if LINE_ERROR in table.column_names:
        out[LINE_ERROR] = table.column(LINE_ERROR)
    if not out:
        return pa.table({LINE_ERROR: pa.nulls(table.num_rows, pa.string())})
    return pa.table(out)


def exact_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Ids of any scalar type as exact text: integers in full, integral floats without an exponent, other floats as
    their shortest repr, decimals as written; text stays as it is (see the module docstring)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    if not pa.types.is_floating(array.type):
        return pc.cast(array, pa.string(), safe=False)
    out: list[str | None] = []
    for value in array.to_pylist():
        if value is None:
            out.append(None)
        elif math.isfinite(value) and value == math.floor(value):
            out.append(str(int(value)))
        else:
            out.append(repr(value))
    return pa.array(out, pa.string())


def describe(listing: LogListing) -> str:
    """Where the hour's input was looked for, for messages."""
    return f"{listing.describe()} (formats read: {FORMATS_READ})"
