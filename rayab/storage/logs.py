"""Raw hourly event logs: where an hour's files are, listing them with sizes, reading and writing them.

Layout: ``{root}/date=YYYY-MM-DD/hour=HH/*.parquet`` (local folder or ``s3://``).

>>> hour_folder("s3://logs/events", "2026-11-24T10")
's3://logs/events/date=2026-11-24/hour=10'
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from rayab.errors import InputDataError
from rayab.model.hours import parse_hour
from rayab.storage.warehouse import filesystem_for

__all__ = ["LogFile", "hour_folder", "list_log_files", "read_log_file", "write_log_file"]


@dataclass(frozen=True)
class LogFile:
    """One input file of an hour and its size in bytes (sizes let a backfill see changed inputs)."""

    path: str
    size: int


def hour_folder(root: str, hour: str) -> str:
    """The folder holding one hour's log files."""
    start = parse_hour(hour)
    return f"{root.rstrip('/')}/date={start:%Y-%m-%d}/hour={start:%H}"


def list_log_files(root: str, hour: str, storage_options: Mapping[str, str] | None = None) -> list[LogFile]:
    """The hour's Parquet files, sorted by path; an hour with no folder has no files."""
    fs = filesystem_for(root, storage_options)
    folder = hour_folder(root, hour)
    prefix = "s3://" if root.startswith("s3://") else ""
    try:
        entries = fs.ls(folder, detail=True)
    except FileNotFoundError:
        return []
    files = [LogFile(prefix + e["name"] if not e["name"].startswith(prefix) else e["name"], int(e["size"]))
             for e in entries if e["type"] == "file" and e["name"].endswith(".parquet")]
    return sorted(files, key=lambda f: f.path)


def write_log_file(root: str, hour: str, name: str, table: pa.Table,
                   storage_options: Mapping[str, str] | None = None) -> LogFile:
    """Write one Parquet file into the hour's folder."""
    fs = filesystem_for(root, storage_options)
    folder = hour_folder(root, hour)
    fs.makedirs(folder, exist_ok=True)
    path = f"{folder}/{name}"
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with fs.open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return LogFile(path, buffer.tell())


def read_log_file(path: str, columns: Sequence[str] | None = None,
                  storage_options: Mapping[str, str] | None = None) -> pa.Table:
    """Read a Parquet log file; a file that is not valid Parquet raises :class:`InputDataError` naming it.

    ``columns`` that the file lacks are simply not read: the caller decides what a missing column means.
    """
    fs = filesystem_for(path, storage_options)
    try:
        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(io.BytesIO(handle.read()))
            present = [c for c in columns if c in parquet.schema_arrow.names] if columns else None
            return parquet.read(columns=present)
    except FileNotFoundError:
        raise InputDataError(f"input file {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise InputDataError(f"input file {path} is not a readable Parquet file: {err}") from None
