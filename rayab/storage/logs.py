"""Raw hourly event logs: where an hour's files are, listing them with sizes, splitting, reading and writing them.

Logs are found from either a root, laid out ``{root}/date=YYYY-MM-DD/hour=HH/*.parquet``, or a URL template with
``{date}`` and ``{hour}`` fields and a file glob, such as ``s3://logs/events/dt={date}/h={hour}/*.jsonl`` (local
folder or ``s3://``). Files are Parquet (``.parquet``) or JSON lines (``.jsonl``, ``.json``, ``.ndjson``).

>>> hour_folder("s3://logs/events", "2026-11-24T10")
's3://logs/events/date=2026-11-24/hour=10'
>>> hour_glob("s3://logs/e/dt={date}/h={hour}/*.jsonl", "2026-11-24T10")
's3://logs/e/dt=2026-11-24/h=10/*.jsonl'
>>> LogFile("x/part-0.jsonl", 10).format
'jsonl'
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from rayab.errors import InputDataError, ValidationError
from rayab.model.hours import parse_hour
from rayab.storage.warehouse import filesystem_for

__all__ = ["LOG_SUFFIXES", "LogFile", "LogFormat", "LogSplit", "hour_folder", "hour_glob", "list_log_files",
           "log_splits", "read_log_file", "write_log_file"]

LogFormat = Literal["parquet", "jsonl"]
LOG_SUFFIXES: dict[str, LogFormat] = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl",
                                      ".ndjson": "jsonl"}
# Files above this size are split into row-group ranges of about this many bytes, one map task each.
SPLIT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LogFile:
    """One input file of an hour and its size in bytes (sizes let a backfill see changed inputs)."""

    path: str
    size: int

    @property
    def format(self) -> LogFormat:
        """``parquet`` or ``jsonl``, from the file name."""
        for suffix, fmt in LOG_SUFFIXES.items():
            if self.path.endswith(suffix):
                return fmt
        raise ValidationError("input file", self.path, f"must end with one of {sorted(LOG_SUFFIXES)}")


@dataclass(frozen=True)
class LogSplit:
    """A part of a file one map task reads: all of it, or a range of Parquet row groups."""

    file: LogFile
    row_groups: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        """The file, and the row groups if it is a part."""
        if self.row_groups is None:
            return self.file.path
        return f"{self.file.path}[row groups {self.row_groups[0]}-{self.row_groups[-1]}]"


def hour_folder(root: str, hour: str) -> str:
    """The folder holding one hour's log files."""
    start = parse_hour(hour)
    return f"{root.rstrip('/')}/date={start:%Y-%m-%d}/hour={start:%H}"


def hour_glob(logs: str, hour: str) -> str:
    """The glob of an hour's files: a template with ``{date}``/``{hour}`` filled in, or ``hour_folder/*``."""
    start = parse_hour(hour)
    if "{date}" in logs or "{hour}" in logs:
        try:
            return logs.format(date=f"{start:%Y-%m-%d}", hour=f"{start:%H}")
        except (KeyError, IndexError, ValueError) as err:
            raise ValidationError("logs", logs, f"must use only the fields {{date}} and {{hour}} ({err})") from None
    return f"{hour_folder(logs, hour)}/*"


def list_log_files(root: str, hour: str, storage_options: Mapping[str, str] | None = None) -> list[LogFile]:
    """The hour's Parquet and JSON-lines files, sorted by path; an hour with no folder has no files."""
    fs = filesystem_for(root, storage_options)
    prefix = "s3://" if root.startswith("s3://") else ""
    try:
        entries: dict[str, Any] = fs.glob(hour_glob(root, hour), detail=True)
    except FileNotFoundError:
        return []
    files = [LogFile(name if name.startswith(prefix) else prefix + name, int(e["size"]))
             for name, e in entries.items()
             if e["type"] == "file" and any(name.endswith(s) for s in LOG_SUFFIXES)]
    return sorted(files, key=lambda f: f.path)


def log_splits(file: LogFile, storage_options: Mapping[str, str] | None = None,
               split_bytes: int | None = None) -> list[LogSplit]:
    """A big Parquet file as ranges of row groups of about ``split_bytes`` each; anything else as one split.

    A file whose footer cannot be read stays one split, so reading it fails with a message naming it.
    """
    split_bytes = split_bytes or SPLIT_BYTES
    if file.format != "parquet" or file.size <= split_bytes:
        return [LogSplit(file)]
    try:
        with filesystem_for(file.path, storage_options).open(file.path, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError):
        return [LogSplit(file)]
    splits: list[LogSplit] = []
    group: list[int] = []
    size = 0
    for i in range(meta.num_row_groups):
        group.append(i)
        size += meta.row_group(i).total_byte_size
        if size >= split_bytes:
            splits.append(LogSplit(file, tuple(group)))
            group, size = [], 0
    if group:
        splits.append(LogSplit(file, tuple(group)))
    return splits or [LogSplit(file)]


def write_log_file(root: str, hour: str, name: str, table: pa.Table,
                   storage_options: Mapping[str, str] | None = None) -> LogFile:
    """Write one file into the hour's folder: Parquet, or JSON lines when ``name`` ends with ``.jsonl``."""
    fs = filesystem_for(root, storage_options)
    folder = hour_folder(root, hour)
    fs.makedirs(folder, exist_ok=True)
    path = f"{folder}/{name}"
    buffer = io.BytesIO()
    if LogFile(path, 0).format == "jsonl":
        _write_jsonl(table, buffer)
    else:
        pq.write_table(table, buffer)
    with fs.open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return LogFile(path, buffer.tell())


def _write_jsonl(table: pa.Table, buffer: io.BytesIO) -> None:
    import json

    for row in table.to_pylist():
        buffer.write(json.dumps(row, default=str).encode("utf-8") + b"\n")


def read_log_file(path: str, columns: Sequence[str] | None = None,
                  storage_options: Mapping[str, str] | None = None, row_groups: Sequence[int] | None = None,
                  dictionary_columns: Sequence[str] = ()) -> pa.Table:
    """Read a log file (or some of its Parquet row groups); a file that cannot be parsed raises
    :class:`InputDataError` naming it.

    ``columns`` that the file lacks are simply not read: the caller decides what a missing column means.
    ``dictionary_columns`` are read dictionary-encoded (cheap for low-cardinality strings).
    """
    fs = filesystem_for(path, storage_options)
    fmt = LogFile(path, 0).format
    try:
        with fs.open(path, "rb") as handle:
            if fmt == "jsonl":
                table = pajson.read_json(io.BytesIO(handle.read()))
                return table.select([c for c in columns if c in table.column_names]) if columns else table
            parquet = pq.ParquetFile(handle)
            names = parquet.schema_arrow.names
            present = [c for c in columns if c in names] if columns else names
            dictionary = [c for c in dictionary_columns if c in present
                          and pa.types.is_string(parquet.schema_arrow.field(c).type)]
            if dictionary:
                parquet = pq.ParquetFile(handle, read_dictionary=dictionary)
            if row_groups is not None:
                return parquet.read_row_groups(list(row_groups), columns=present, use_threads=False)
            return parquet.read(columns=present, use_threads=False)
    except FileNotFoundError:
        raise InputDataError(f"input file {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise InputDataError(f"input file {path} is not a readable {fmt} file: {err}") from None
