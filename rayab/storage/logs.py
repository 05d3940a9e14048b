"""Raw hourly event logs: where an hour's files are, listing them with sizes, splitting, reading and writing them.

Logs are found from either a root, laid out ``{root}/date=YYYY-MM-DD/hour=HH/*.parquet``, or a URL template with
fields naming the hour (``{date}``, ``{hour}``, ``{year}``, ``{month}``, ``{day}``, ``{time:%Y%m%d%H}``) and a file
glob, such as ``s3://logs/events/dt={date}/h={hour}/*.jsonl`` (local folder or ``s3://``). Files are Parquet
(``.parquet``), JSON lines (``.jsonl``, ``.json``, ``.ndjson``) or CSV with a header line (``.csv``), the text formats
also compressed (``.jsonl.gz``, ``.csv.zst``), suffixes in any case (``part.PARQUET`` is read). Under a root, every
file below the hour folder is read, sub-folders included, except hidden or marker files and folders (names starting
with ``.`` or ``_``, such as ``_SUCCESS``, ``.crc`` files or ``_temporary/``) and files of another format (``.txt``):
those are *ignored*, and :func:`scan_log_files` lists each
with its reason, so the job can report them instead of skipping them without a word. Under a template, the files the
glob matches are read and the other files of the folder it names are listed as ignored.

>>> hour_folder("s3://logs/events", "2026-11-24T10")
's3://logs/events/date=2026-11-24/hour=10'
>>> hour_glob("s3://logs/e/dt={date}/h={hour}/*.jsonl", "2026-11-24T10")
's3://logs/e/dt=2026-11-24/h=10/*.jsonl'
>>> LogFile("x/part-0.jsonl", 10).format
'jsonl'
>>> LogFile("x/part-0.PARQUET", 10).format, LogFile("x/part-0.csv.gz", 10).format
('parquet', 'csv')
>>> ignore_reason("x/hour=10/data.txt")
'not a log format (read: .parquet, .jsonl, .json, .ndjson, .csv (text formats also .gz, .zst))'
>>> ignore_reason("x/hour=10/_SUCCESS")
'hidden or marker file'
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from rayab.errors import InputDataError, ValidationError
from rayab.model.hours import parse_hour
from rayab.storage.warehouse import filesystem_for

__all__ = ["COMPRESSIONS", "FORMATS_READ", "LINE_ERROR", "LOG_SUFFIXES", "IgnoredFile", "LogFile", "LogFormat",
           "LogListing", "LogSplit", "compression_of", "decompress", "hour_folder", "hour_glob", "ignore_reason",
           "is_template", "jsonl_rows", "list_log_files", "log_splits", "read_csv", "read_log_file",
           "scan_log_files", "write_log_file"]

LogFormat = Literal["parquet", "jsonl", "csv"]
LOG_SUFFIXES: dict[str, LogFormat] = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl",
                                      ".ndjson": "jsonl", ".csv": "csv"}
# Text formats may be compressed: the compression's suffix follows the format's (``events.jsonl.gz``).
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
# What the job reads, for messages and the README.
FORMATS_READ = ", ".join(LOG_SUFFIXES) + " (text formats also .gz, .zst)"
# Column a JSON-lines table gets when some of its lines are not JSON objects: the error of each such line (null on
# good lines). Validation quarantines those rows with this text as their reason.
LINE_ERROR = "__rayab_line_error"
# Files above this size are split into row-group ranges of about this many bytes, one map task each.
SPLIT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LogFile:
    """One input file of an hour and its size in bytes (sizes let a backfill see changed inputs)."""

    path: str
    size: int

    @property
    def format(self) -> LogFormat:
        """``parquet``, ``jsonl`` or ``csv``, from the file name (the suffix in any case)."""
        fmt = _format_of(self.path)
        if fmt is not None:
            return fmt
        raise ValidationError("input file", self.path, f"must end with one of {sorted(LOG_SUFFIXES)}")

    @property
    def compression(self) -> str | None:
        """``gzip`` or ``zstd`` for a compressed text file (``.gz``, ``.zst``), else ``None``."""
        return compression_of(self.path)


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


TEMPLATE_FIELDS = "{date}, {hour}, {year}, {month}, {day}, {time:STRFTIME}"


def is_template(logs: str) -> bool:
    """Whether ``logs`` is a URL template (it has a field such as ``{date}``) rather than a root."""
    return "{" in logs


def hour_glob(logs: str, hour: str) -> str:
    """The glob of an hour's files: a template with its fields filled in, or ``hour_folder/*``.

    >>> hour_glob("s3://b/year={year}/month={month}/day={day}/{time:%Y%m%d%H}-*.csv.gz", "2026-11-24T10")
    's3://b/year=2026/month=11/day=24/2026112410-*.csv.gz'
    """
    start = parse_hour(hour)
    if is_template(logs):
        try:
            return logs.format(date=f"{start:%Y-%m-%d}", hour=f"{start:%H}", year=f"{start:%Y}",
                               month=f"{start:%m}", day=f"{start:%d}", time=start)
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise ValidationError("logs", logs, f"must use only the fields {TEMPLATE_FIELDS} ({err})") from None
    return f"{hour_folder(logs, hour)}/*"


def compression_of(path: str) -> str | None:
    """The compression a file's name says (``.gz``: gzip, ``.zst``: zstd), any case."""
    lower = path.lower()
    return next((name for suffix, name in COMPRESSIONS.items() if lower.endswith(suffix)), None)


def _format_of(path: str) -> LogFormat | None:
    lower = path.lower()
    compressed = next((suffix for suffix in COMPRESSIONS if lower.endswith(suffix)), "")
    if compressed:
        lower = lower[:-len(compressed)]
    fmt = next((fmt for suffix, fmt in LOG_SUFFIXES.items() if lower.endswith(suffix)), None)
    return None if compressed and fmt == "parquet" else fmt


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def ignore_reason(path: str, folder: str = "", fmt: str | None = None) -> str | None:
    """Why a file under an hour's ``folder`` is not read (``None``: it is read); see the module docstring. With a
    ``fmt`` every file that is not hidden is read in that format, whatever its name."""
    relative = path[len(folder.rstrip("/")) + 1:] if folder and path.startswith(folder.rstrip("/") + "/") else path
    parts = relative.split("/")
    if any(_hidden(p) for p in (parts[:-1] if folder else [])):
        return "in a hidden or marker folder"
    if _hidden(parts[-1]):
        return "hidden or marker file"
    if _format_of(path) is None and fmt is None:
        return f"not a log format (read: {FORMATS_READ})"
    return None


@dataclass(frozen=True)
class IgnoredFile:
    """A file under an hour that the job does not read, and why."""

    path: str
    size: int
    reason: str

    @property
    def marker(self) -> bool:
        """A hidden or marker file (``_SUCCESS``, ``.crc``), which writers such as Spark leave next to their data."""
        return self.reason.startswith(("hidden or marker", "in a hidden or marker"))


@dataclass(frozen=True)
class LogListing:
    """What an hour holds: the files read, the files ignored, and where they were looked for."""

    files: list[LogFile]
    ignored: list[IgnoredFile]
    pattern: str
    folder: str
    folder_exists: bool

    def describe(self) -> str:
        """Where the files were looked for, for messages: the pattern, and whether its folder exists."""
        where = f"{self.pattern} (folder {self.folder} {'exists' if self.folder_exists else 'does not exist'})"
        if self.ignored:
            names = ", ".join(f"{f.path} ({f.reason})" for f in self.ignored[:3])
            where += f"; {len(self.ignored)} files ignored: {names}{' ...' if len(self.ignored) > 3 else ''}"
        return where


_GLOB_CHARS = ("*", "?", "[")


def _folder_of(pattern: str, templated: bool, logs: str) -> str:
    """The folder whose files belong to the hour: the root layout's hour folder, or the template's folder when the
    hour is part of its folders (a template naming the hour only in the file name shares its folder across hours)."""
    if not templated:
        return pattern[:-2]
    folder = pattern.rsplit("/", 1)[0]
    if any(c in folder for c in _GLOB_CHARS) or not any(f in logs.rsplit("/", 1)[0] for f in ("{hour}", "{time")):
        return ""
    return folder


def scan_log_files(logs: str, hour: str, storage_options: Mapping[str, str] | None = None,
                   fmt: str | None = None) -> LogListing:
    """Every file of the hour, read or ignored (each with its reason); an hour with no folder has no files. ``fmt``
    reads every file that is not hidden in that format (see :func:`ignore_reason`)."""
    fs = filesystem_for(logs, storage_options)
    prefix = "s3://" if logs.startswith("s3://") else ""
    templated = is_template(logs)
    pattern = hour_glob(logs, hour)
    folder = _folder_of(pattern, templated, logs)

    def full(name: str) -> str:
        return name if name.startswith(prefix) else prefix + name

    try:
        exists = bool(folder) and fs.isdir(folder)
    except (FileNotFoundError, PermissionError):
        exists = False
    found: dict[str, int] = {}
    if exists:
        found = {full(n): int(e["size"]) for n, e in fs.find(folder, detail=True).items() if e["type"] == "file"}
    matched: dict[str, int] = found
    if templated:
        try:
            entries: dict[str, Any] = fs.glob(pattern, detail=True)
        except FileNotFoundError:
            entries = {}
        matched = {full(n): int(e["size"]) for n, e in entries.items() if e["type"] == "file"}
        exists = exists or bool(matched)
    files: list[LogFile] = []
    ignored: list[IgnoredFile] = []
    for path, size in sorted(matched.items()):
        reason = ignore_reason(path, folder.rstrip("/") and full(folder), fmt)
        if reason is None:
            files.append(LogFile(path, size))
        else:
            ignored.append(IgnoredFile(path, size, reason))
    ignored += [IgnoredFile(p, size, "does not match the logs pattern") for p, size in sorted(found.items())
                if p not in matched]
    return LogListing(files, sorted(ignored, key=lambda f: f.path), pattern, full(folder) if folder else pattern,
                      exists)


def list_log_files(root: str, hour: str, storage_options: Mapping[str, str] | None = None) -> list[LogFile]:
    """The hour's files that are read (see :func:`scan_log_files`), sorted by path."""
    return scan_log_files(root, hour, storage_options).files


def log_splits(file: LogFile, storage_options: Mapping[str, str] | None = None,
               split_bytes: int | None = None) -> list[LogSplit]:
    """A big Parquet file as ranges of row groups of about ``split_bytes`` each; anything else as one split.

    A file whose footer cannot be read stays one split, so reading it fails with a message naming it.
    """
    split_bytes = split_bytes or SPLIT_BYTES
    if _format_of(file.path) != "parquet" or file.size <= split_bytes:
        return [LogSplit(file)]
    try:
        with filesystem_for(file.path, storage_options).open(file.path, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError):
        return [LogSplit(file)]
    return row_group_splits(file, meta, range(meta.num_row_groups), split_bytes) or [LogSplit(file)]


def row_group_splits(file: LogFile, meta: pq.FileMetaData, groups: Iterable[int], split_bytes: int) -> list[LogSplit]:
    """``groups`` of a Parquet file (in order) cut into consecutive splits of about ``split_bytes`` each."""
    splits: list[LogSplit] = []
    batch: list[int] = []
    size = 0
    for g in groups:
        batch.append(g)
        size += meta.row_group(g).total_byte_size
        if size >= split_bytes:
            splits.append(LogSplit(file, tuple(batch)))
            batch, size = [], 0
    if batch:
        splits.append(LogSplit(file, tuple(batch)))
    return splits


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
                  dictionary_columns: Sequence[str] = (), text_columns: Sequence[str] = (),
                  fmt: str | None = None) -> pa.Table:
    """Read a log file (or some of its Parquet row groups); a file that cannot be parsed raises
    :class:`InputDataError` naming it.

    ``columns`` that the file lacks are simply not read: the caller decides what a missing column means.
    ``dictionary_columns`` are read dictionary-encoded (cheap for low-cardinality strings). CSV ``text_columns``
    (ids, dimensions) are read as text, the other columns with their inferred types (every column as text when a
    column mixes numbers and words, so one bad value costs its row and not the file). ``fmt`` overrides the format
    the file's name says.
    """
    fs = filesystem_for(path, storage_options)
    fmt = fmt or LogFile(path, 0).format
    try:
        with fs.open(path, "rb") as handle:
            if fmt != "parquet":
                data = handle.read()
                compression = compression_of(path)
                if compression:
                    data = decompress(data, compression)
                table = _read_jsonl(data) if fmt == "jsonl" else read_csv(data, text_columns)
                if not columns:
                    return table
                return table.select([c for c in (*columns, LINE_ERROR) if c in table.column_names])
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


def decompress(data: bytes, compression: str) -> bytes:
    """The bytes of a gzip or zstd stream.

    >>> import gzip
    >>> decompress(gzip.compress(b"x"), "gzip")
    b'x'
    """
    with pa.CompressedInputStream(pa.BufferReader(data), compression) as stream:
        return bytes(stream.read())


def read_csv(data: bytes, text_columns: Sequence[str] = ()) -> pa.Table:
    """CSV bytes with a header line: ``text_columns`` as text, the others as Arrow infers them (all as text when
    inference fails on a column mixing numbers and words); an empty field is null.

    >>> t = read_csv(b"unit_id,clicks,revenue\\n007,2,0.5\\n", ["unit_id"])
    >>> t.column("unit_id").to_pylist(), t.column("clicks").type, t.column("revenue").to_pylist()
    (['007'], DataType(int64), [0.5])
    """
    import pyarrow.csv as pacsv

    names = pacsv.open_csv(pa.BufferReader(data)).schema.names
    text = {name: pa.string() for name in names if name in set(text_columns)}
    try:
        return pacsv.read_csv(pa.BufferReader(data), convert_options=pacsv.ConvertOptions(
            column_types=text, strings_can_be_null=True))
    except pa.ArrowInvalid:
        every = {name: pa.string() for name in names}
        return pacsv.read_csv(pa.BufferReader(data), convert_options=pacsv.ConvertOptions(
            column_types=every, strings_can_be_null=True))


def _read_jsonl(data: bytes) -> pa.Table:
    """JSON lines as a table: Arrow's reader when every column has one type, else line by line (:func:`jsonl_rows`).
    """
    try:
        table = pajson.read_json(io.BytesIO(data))
    except pa.ArrowInvalid:
        return jsonl_rows(data)
    # Arrow reads a column of integers and floats as double: an integer beyond 2**53 would silently lose digits.
    # Top-level floats all below 2**53 in size cannot have lost one; nested ones are checked on the text.
    if any(pa.types.is_floating(f.type) for f in table.schema) and _may_hold_big_integer(table, data):
        return jsonl_rows(data)
    return table


def _may_hold_big_integer(table: pa.Table, data: bytes) -> bool:
    import pyarrow.compute as pc

    if any(pa.types.is_nested(f.type) for f in table.schema):
        return _has_big_integer(data)
    for field in table.schema:
        if pa.types.is_floating(field.type):
            largest = pc.max(pc.abs(table.column(field.name))).as_py()
            if largest is not None and largest >= 2.0**53:
                return _has_big_integer(data)
    return False


def _has_big_integer(data: bytes) -> bool:
    """Whether the text holds an integer literal of 16 digits or more (a cheap scan first, the exact one after)."""
    import re

    if re.search(rb"\d{16}", data) is None:
        return False
    return re.search(rb"(?<![\w.\"])-?\d{16,}(?![\w.\"])", data) is not None


def jsonl_rows(data: bytes) -> pa.Table:
    """JSON lines read line by line, so that one bad value costs its row and not the file.

    A column whose values are all integers is int64, all numbers (integers and floats) float64 (integers beyond
    2**53 make it a string column instead, so no digit is lost), anything else string (numbers written as their
    JSON text, which validation parses exactly). A line that is not a JSON object gets its error in
    :data:`LINE_ERROR` and nulls elsewhere. Blank lines are skipped, as Arrow's reader does.

    >>> t = jsonl_rows(b'{"u": "a", "clicks": 1}\\n{"u": "b", "clicks": "many"}\\n{"u": "c"\\n')
    >>> t.column("clicks").to_pylist(), t.column(LINE_ERROR).to_pylist()[2][:22]
    (['1', 'many', None], 'not a JSON object: Exp')
    """
    import json

    rows: list[dict[str, Any]] = []
    errors: list[str | None] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            problem = "" if isinstance(row, dict) else f"a JSON {type(row).__name__}"
        except ValueError as err:
            problem = str(err)
        if not problem:
            rows.append(row)
            errors.append(None)
        else:
            rows.append({})
            errors.append(f"not a JSON object: {problem}; line starts {line[:80].decode('utf-8', 'replace')!r}")
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = {name: _jsonl_column([r.get(name) for r in rows]) for name in names}
    if any(e is not None for e in errors):
        columns[LINE_ERROR] = pa.array(errors, pa.string())
    return pa.table(columns) if columns else pa.table({LINE_ERROR: pa.array(errors, pa.string())})


def _jsonl_column(values: list[Any]) -> pa.Array:

    present = [v for v in values if v is not None]
    if all(isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63 for v in present):
        return pa.array(values, pa.int64())
    if all(isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and abs(v) <= 2**53)
           for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    return pa.array([None if v is None else v if isinstance(v, str) else _json_text(v) for v in values],
                    pa.string())


def _json_text(value: Any) -> str:
    """A JSON value as text; an integral float in full (``1e20`` is ``100000000000000000000``, an id)."""
    import json

    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)
