"""Tables a team already has, read as Arrow: a CSV, Parquet or JSON-lines file, or a Delta table folder.

:func:`read_external` decides by the path: a folder holding ``_delta_log`` is a Delta table (its latest version),
``.csv`` (also ``.csv.gz``, ``.csv.zst``) is CSV, ``.parquet`` Parquet, ``.jsonl`` / ``.json`` / ``.ndjson`` JSON
lines (also ``.gz`` / ``.zst``); ``fmt`` names the format of a file whose name does not say (a Segment export's
``*.gz``), its compression still read from the name. Local paths and ``s3://`` URLs. CSV columns are read as
text, every one of them: an id such as ``12345678901234567890`` keeps every digit, and each caller converts the
columns it needs with its own rules.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
>>> _ = path.write_text("unit_id,variant_id\\n12345678901234567890,b\\n")
>>> read_external(str(path)).table.column("unit_id").to_pylist()
['12345678901234567890']
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from rayab.errors import InputDataError, NotFoundError, ValidationError
from rayab.storage.delta_reads import delta_rows
from rayab.storage.logs import decompress, jsonl_rows
from rayab.storage.warehouse import filesystem_for

__all__ = ["ExternalFormat", "ExternalTable", "external_format", "read_csv_text", "read_external"]

ExternalFormat = Literal["csv", "parquet", "jsonl", "delta"]
_SUFFIXES: tuple[tuple[str, ExternalFormat], ...] = (
    (".csv", "csv"), (".csv.gz", "csv"), (".csv.zst", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl"),
    (".json", "jsonl"), (".ndjson", "jsonl"),
    *((f"{plain}{packed}", "jsonl") for plain in (".jsonl", ".json", ".ndjson") for packed in (".gz", ".zst")))


@dataclass(frozen=True)
class ExternalTable:
    """What was read: the rows, the format, and where (a Delta table also gives its version)."""

    table: pa.Table
    format: ExternalFormat
    source: str
    version: int | None = None


def external_format(source: str, storage_options: Mapping[str, str] | None = None,
                    fmt: ExternalFormat | None = None) -> ExternalFormat:
    """The format of ``source`` (see the module docstring); a path that does not exist raises NotFoundError."""
    fs = filesystem_for(source, storage_options)
    path = source.rstrip("/")
    if not fs.exists(path):
        raise NotFoundError(f"{source} does not exist")
    if fs.isdir(path):
        if fs.exists(f"{path}/_delta_log"):
            return "delta"
        raise ValidationError("source", source, "is a folder without _delta_log: give a file (.csv, .parquet, "
                              ".jsonl) or a Delta table folder")
    if fmt is not None and fmt != "delta":
        return fmt
    lower = path.lower()
    for suffix, named in _SUFFIXES:
        if lower.endswith(suffix):
            return named
    raise ValidationError("source", source, f"must end with one of {[s for s, _ in _SUFFIXES[:7]]} (text formats "
                          "also .gz, .zst), be a Delta table folder, or have its format given (--input-format)")


def read_csv_text(data: bytes, compression: str | None = None) -> pa.Table:
    """CSV bytes (with a header line) as a table of text columns; an empty field is null."""
    def stream() -> pa.NativeFile:
        plain = pa.BufferReader(data)
        return pa.CompressedInputStream(plain, compression) if compression else plain

    names = pacsv.open_csv(stream()).schema.names
    options = pacsv.ConvertOptions(column_types={name: pa.string() for name in names}, strings_can_be_null=True)
    return pacsv.read_csv(stream(), convert_options=options)


def read_external(source: str, storage_options: Mapping[str, str] | None = None,
                  fmt: ExternalFormat | None = None) -> ExternalTable:
    """Read ``source`` whole; unreadable content raises :class:`InputDataError` naming it."""
    fmt = external_format(source, storage_options, fmt)
    lower = source.lower()
    compression = "gzip" if lower.endswith(".gz") else "zstd" if lower.endswith(".zst") else None
    try:
        if fmt == "delta":
            options = dict(storage_options) if source.startswith("s3://") and storage_options else None
            delta = DeltaTable(source.rstrip("/"), storage_options=options)
            return ExternalTable(delta_rows(delta), fmt, source, int(delta.version()))
        with filesystem_for(source, storage_options).open(source, "rb") as handle:
            data = handle.read()
        if fmt == "parquet":
            return ExternalTable(pq.read_table(io.BytesIO(data)), fmt, source)
        if fmt == "jsonl":
            return ExternalTable(jsonl_rows(decompress(data, compression) if compression else data), fmt, source)
        return ExternalTable(read_csv_text(data, compression), fmt, source)
    except (TableNotFoundError, FileNotFoundError):
        raise NotFoundError(f"{source} does not exist") from None
    except (pa.ArrowInvalid, OSError, DeltaError) as err:
        raise InputDataError(f"{source} is not a readable {fmt} source: {str(err)[:300]}") from None
