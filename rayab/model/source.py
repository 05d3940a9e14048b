"""Where an analysis type's events come from, and how their columns map to the ones it needs (``source`` in the
config).

Three kinds:

- ``files``: Parquet, JSON lines or CSV files, plain or compressed (``.gz``, ``.zst``), in one of three layouts:
  ``hourly`` (rayab's ``{path}/date=YYYY-MM-DD/hour=HH/``), ``template`` (a URL template whose fields name the hour:
  ``{date}``, ``{hour}``, ``{year}``, ``{month}``, ``{day}``, or ``{time:%Y%m%d%H}`` with any strftime format) or
  ``flat`` (every file below ``path``; the hour is chosen by ``timestamp_column``, and Parquet row-group statistics
  skip what lies outside it). The layout defaults to ``template`` when the path has a ``{`` and to ``hourly``
  otherwise.
- ``delta``: a Delta table at ``path``, filtered to the hour by ``timestamp_column`` (file statistics skip the rest).
- ``iceberg``: an Iceberg ``table`` (``namespace.name``) of the pyiceberg ``catalog`` whose properties are given
  (``uri: sqlite:///catalog.db``, ``warehouse: file:///lake``; a REST or Glue catalog the same way; ``name``, default
  ``default``, is the catalog's name, which a SQL catalog stores with its tables), filtered to
  the hour by ``timestamp_column`` (pyiceberg's file pruning skips the rest); the extra ``rayab[iceberg]``.
- ``sql``: a DuckDB ``query`` whose ``{start}`` and ``{end}`` (or ``$start`` / ``$end``) are bound as the hour's
  bounds (UTC ``TIMESTAMP`` values, never formatted into the text). Its result is read by ``splits`` map tasks
  (default 4): each runs the query with a filter on a hash of the unit id pushed around it, so every row is read by
  exactly one task. The query must therefore give the same rows each time it runs (no ``random()``, no ``LIMIT``
  without ``ORDER BY``), as a backfill already assumes; ``splits: 1`` runs it once.

``columns`` maps a needed column to a field of the source: a plain name, or a dotted path into nested objects
(``properties.revenue`` of a Segment ``track`` event). ``where`` keeps only rows whose field equals one of the listed
values (rows left out are counted in the manifest, ``rows_filtered``). ``timestamp_column`` is a timestamp, an ISO
8601 text (no zone means UTC) or an epoch number in ``timestamp_unit``; it also gives ``event_time`` when that column
is not mapped.

>>> s = EventSource.from_dict({"kind": "files", "path": "raw/", "layout": "flat", "timestamp_column": "timestamp",
...                            "columns": {"unit_id": "userId", "revenue": "properties.revenue"}})
>>> s.layout, s.field_of("revenue"), s.field_of("clicks")
('flat', 'properties.revenue', 'clicks')
>>> EventSource.from_dict({"kind": "files", "path": "s3://b/y={year}/m={month}/*.json.gz"}).layout
'template'
>>> EventSource.from_dict({"kind": "sql", "query": "SELECT 1"})
Traceback (most recent call last):
...
rayab.errors.SpecError: source.query == 'SELECT 1': must use {start} and {end} (or $start and $end)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from rayab.errors import SpecError
from rayab.model.validation import check_choice, check_keys

__all__ = ["FILE_FORMATS", "LAYOUTS", "SOURCE_KINDS", "SQL_SPLITS", "EventSource", "check_field"]

SOURCE_KINDS = ("files", "delta", "sql", "iceberg")
LAYOUTS = ("hourly", "template", "flat")
FILE_FORMATS = ("", "parquet", "jsonl", "csv")
TIME_UNITS = ("s", "ms", "us", "ns")
SQL_SPLITS = 4
_MAX_SPLITS = 256
SourceKind = Literal["files", "delta", "sql", "iceberg"]
_FIELD = re.compile(r"[A-Za-z_$@][\w$@ -]{0,127}(\.[A-Za-z_$@][\w$@ -]{0,127}){0,7}")
_PARAM = re.compile(r"\{(start|end)\}|\$(start|end)\b")


def check_field(path: str, value: Any) -> str:
    """``value`` if it is a field name or a dotted path into nested objects, else a :class:`SpecError` at ``path``.

    >>> check_field("columns.revenue", "properties.revenue")
    'properties.revenue'
    """
    if not isinstance(value, str) or not _FIELD.fullmatch(value):
        raise SpecError(path, value, "must be a field name or a dotted path such as properties.revenue")
    return value


@dataclass(frozen=True)
class EventSource:
    """One analysis type's event source; see the module docstring."""

    kind: SourceKind = "files"
    path: str = ""
    layout: str = ""
    format: str = ""
    query: str = ""
    timestamp_column: str = ""
    timestamp_unit: str = "s"
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: MappingProxyType({}))
    splits: int = 0
    table: str = ""
    catalog: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", check_choice("kind", self.kind, SOURCE_KINDS))
        object.__setattr__(self, "format", check_choice("format", self.format, FILE_FORMATS))
        object.__setattr__(self, "timestamp_unit", check_choice("timestamp_unit", self.timestamp_unit, TIME_UNITS))
        if self.kind in ("files", "delta") and (not isinstance(self.path, str) or not self.path):
            raise SpecError("path", self.path, f"is required for a {self.kind} source")
        if self.kind != "files":
            if self.layout:
                raise SpecError("layout", self.layout, f"is only for a files source, not {self.kind}")
        else:
            layout = self.layout or ("template" if "{" in self.path else "hourly")
            object.__setattr__(self, "layout", check_choice("layout", layout, LAYOUTS))
        if self.layout == "template" and "{" not in self.path:
            raise SpecError("path", self.path, "a template names the hour with fields such as {date} and {hour}")
        if self.layout == "flat" and not self.timestamp_column:
            raise SpecError("timestamp_column", "", "is required for a flat folder (it selects the hour's rows)")
        if self.kind == "delta" and not self.timestamp_column:
            raise SpecError("timestamp_column", "", "is required for a Delta table (it selects the hour's rows)")
        if self.kind == "iceberg":
            if not isinstance(self.table, str) or not re.fullmatch(r"[\w-]+(\.[\w-]+)+", self.table):
                raise SpecError("table", self.table, "is required for an Iceberg source, as namespace.name")
            if not self.timestamp_column:
                raise SpecError("timestamp_column", "", "is required for an Iceberg table (it selects the hour's rows)")
            if not isinstance(self.catalog, Mapping) or not self.catalog or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in self.catalog.items()):
                raise SpecError("catalog", self.catalog, "must map pyiceberg catalog properties to text, e.g. "
                                "{uri: 'sqlite:///catalog.db', warehouse: 'file:///lake'}")
            object.__setattr__(self, "catalog", MappingProxyType(dict(self.catalog)))
        else:
            if self.table:
                raise SpecError("table", self.table, f"is only for an iceberg source, not {self.kind}")
            if self.catalog:
                raise SpecError("catalog", dict(self.catalog), f"is only for an iceberg source, not {self.kind}")
        if self.kind == "sql":
            if not isinstance(self.query, str) or {m.group(1) or m.group(2) for m in _PARAM.finditer(self.query)} \
                    != {"start", "end"}:
                raise SpecError("query", self.query, "must use {start} and {end} (or $start and $end)")
        elif self.query:
            raise SpecError("query", self.query, f"is only for a sql source, not {self.kind}")
        if isinstance(self.splits, bool) or not isinstance(self.splits, int) or not 0 <= self.splits <= _MAX_SPLITS:
            raise SpecError("splits", self.splits, f"must be an integer from 1 to {_MAX_SPLITS} (0: the default)")
        if self.splits and self.kind != "sql":
            raise SpecError("splits", self.splits, f"is only for a sql source, not {self.kind}")
        if self.timestamp_column:
            check_field("timestamp_column", self.timestamp_column)
        if not isinstance(self.columns, Mapping):
            raise SpecError("columns", self.columns, "must map a needed column to a source field")
        for name, source in self.columns.items():
            check_field(f"columns.{name}", source)
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        if not isinstance(self.where, Mapping):
            raise SpecError("where", self.where, "must map a source field to the values kept")
        where: dict[str, tuple[Any, ...]] = {}
        for name, values in self.where.items():
            check_field(f"where.{name}", name)
            kept = tuple(values) if isinstance(values, list | tuple) else (values,)
            if not kept or not all(isinstance(v, str | int | float | bool) for v in kept):
                raise SpecError(f"where.{name}", values, "must be a value or a list of values (text or numbers)")
            where[name] = kept
        object.__setattr__(self, "where", MappingProxyType(where))

    def field_of(self, column: str) -> str:
        """The source field that gives ``column`` (itself when not mapped)."""
        return self.columns.get(column, column)

    @property
    def query_splits(self) -> int:
        """How many map tasks read a query's result (``splits``, else :data:`SQL_SPLITS`)."""
        return self.splits or SQL_SPLITS

    def sql_text(self) -> str:
        """The query with ``{start}`` / ``{end}`` as DuckDB's named parameters ``$start`` / ``$end``.

        >>> EventSource(kind="sql", query="SELECT * FROM t WHERE ts >= {start} AND ts < {end}").sql_text()
        'SELECT * FROM t WHERE ts >= $start AND ts < $end'
        """
        return _PARAM.sub(lambda m: f"${m.group(1) or m.group(2)}", self.query)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # MappingProxyType does not pickle; rebuild from the plain form (Ray ships specs to workers)
        return (EventSource.from_dict, (self.to_dict(),))

    @classmethod
    def from_dict(cls, data: Any, path: str = "source") -> EventSource:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, {"kind", "path", "layout", "format", "query", "timestamp_column",
                                       "timestamp_unit", "columns", "where", "splits", "table", "catalog"}, set())
        try:
            return cls(**{k: v for k, v in data.items() if v is not None})
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None
        except TypeError as err:
            raise SpecError(path, dict(data), str(err)) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back (empty fields left out)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("path", "layout", "format", "query", "table", "timestamp_column"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.timestamp_unit != "s":
            out["timestamp_unit"] = self.timestamp_unit
        if self.columns:
            out["columns"] = dict(self.columns)
        if self.where:
            out["where"] = {k: list(v) for k, v in self.where.items()}
        if self.splits:
            out["splits"] = self.splits
        if self.catalog:
            out["catalog"] = dict(self.catalog)
        return out
