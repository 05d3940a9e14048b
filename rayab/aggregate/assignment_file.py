"""Assignments made elsewhere, from a table a team already has: validated rows of the ``assignment`` table.

:func:`first_assignments_from` maps the columns (``unit_id``, ``variant_id``, ``assigned_at`` by default), checks
every row against the experiment and keeps the earliest row per unit. A row is quarantined, with its reason, when its
unit id is null or empty (or a float that is not an exact integer), its variant is not one of the experiment's, its
``exp_id`` (if the table has that column) is another experiment's, or its time is null, not a time, or outside the
experiment's run (before ``start_time``, at or after ``end_time``).

Rules of the conversions:

- unit ids of any scalar type become text exactly: integers keep every digit (``12345678901234567890`` stays so,
  never ``1.2e+19``), integral floats lose their ``.0``; variant ids and extra columns follow the same rule;
- times: Arrow timestamps and dates, or ISO 8601 text (``2026-11-24T10:00:00Z``, ``+02:00`` offsets,
  ``2026-11-24 10:00:00``); a time without a zone is UTC; numbers are not times (their unit would be a guess);
- every other column (``country``, ``household_id``) is kept as text, as the assignment-time dimensions the
  simulator writes; names must be plain identifiers holding scalars (others, such as a nested ``properties``
  object, are listed, not kept); ``keep`` names the kept columns instead (``()``: none).

The three columns are fields as an event source maps them (:func:`rayab.storage.sources.source_field`): a name, or a
dotted path into a nested object (``properties.variation_id`` of a Segment ``Experiment Viewed`` event, whether
the object is an Arrow struct or JSON text). The unit may list fields, ``userId,anonymousId``: each row takes the
first that is not null or empty. ``where`` keeps the rows whose fields hold one of the listed values
(``event: Experiment Viewed``, ``properties.experiment_id: checkout_v2``); the others are counted
(``rows_filtered``), not quarantined.

>>> from rayab.simulate import demo_config
>>> exp = demo_config("2026-11-23T00:00:00Z").experiment("aa_check")
>>> rows = pa.table({"unit_id": pa.array([12345678901234567890, 7, 7], pa.uint64()), "variant_id": ["a", "b", "zz"],
...                  "assigned_at": ["2026-11-23T05:00:00Z", "2026-11-23 04:00", "2026-11-23T01:00:00Z"]})
>>> loaded = first_assignments_from(rows, exp, "f.csv")
>>> loaded.rows.column("unit_id").to_pylist(), loaded.quarantined.column("reason").to_pylist()
(['12345678901234567890', '7'], ["variant_id == 'zz': unknown variant of aa_check (known: a, b)"])
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.validate import Reasons
from rayab.errors import ValidationError
from rayab.model import Experiment
from rayab.storage.schemas import ASSIGNMENT

__all__ = ["LOAD_QUARANTINE", "AssignmentColumns", "LoadedAssignments", "first_assignments_from",
           "parse_times", "quarantine_rows", "scalar_text"]

# quarantined rows of a load (kept in the warehouse by rayab.storage.loads)
LOAD_QUARANTINE = pa.schema([("exp_id", pa.string()), ("kind", pa.string()), ("source", pa.string()),
                             ("row_index", pa.int64()), ("reason", pa.string()), ("row", pa.string())])
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FLOAT_EXACT = 2.0**53
_TIME_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class AssignmentColumns:
    """Which input columns hold the unit, the variant and the time; ``variant_map`` renames variant values
    (e.g. ``{"0": "control", "1": "treatment"}``)."""

    unit: str = "unit_id"
    variant: str = "variant_id"
    time: str = "assigned_at"
    variant_map: Mapping[str, str] = field(default_factory=dict)
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keep: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LoadedAssignments:
    """The rows to merge (``assignment`` columns, then the kept extras as text), what was quarantined and counts."""

    rows: pa.Table
    quarantined: pa.Table
    rows_read: int
    duplicates: int
    units_with_several_variants: int
    extra_columns: tuple[str, ...]
    skipped_columns: tuple[str, ...]
    rows_filtered: int = 0

    def reasons(self) -> dict[str, int]:
        """Quarantined rows per reason, most frequent first."""
        counts = pc.value_counts(self.quarantined.column("reason")).to_pylist() if self.quarantined.num_rows else []
        return {c["values"]: int(c["counts"]) for c in sorted(counts, key=lambda c: (-c["counts"], c["values"]))}


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def scalar_text(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, npt.NDArray[np.bool_]]:
    """A column of scalars as exact text, and which non-null values have no exact text (non-integral floats,
    floats beyond 2**53, where the digits written are already gone).

    >>> text, inexact = scalar_text(pa.chunked_array([pa.array([3.0, 2.5, None])]))
    >>> text.to_pylist(), inexact.tolist()
    (['3', None, None], [False, True, False])
    """
    column = _plain(column)
    none = np.zeros(len(column), bool)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string()), none
    if pa.types.is_floating(column.type):
        values = np.asarray(pc.fill_null(column.cast(pa.float64()), 0.5), np.float64)
        with np.errstate(invalid="ignore"):
            exact = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= _FLOAT_EXACT)
        valid = np.asarray(column.is_valid(), bool)
        ints = pa.array(np.where(exact, values, 0).astype(np.int64)).cast(pa.string())
        text = pc.if_else(pa.array(exact & valid), ints, pa.nulls(len(column), pa.string()))
        return pa.chunked_array([text]), valid & ~exact
    if pa.types.is_decimal(column.type):
        values = column.to_pylist()
        exact_text = [None if v is None else format(v.normalize(), "f") if v == v.to_integral_value() else None
                      for v in values]
        inexact = np.array([v is not None and t is None for v, t in zip(values, exact_text, strict=True)], bool)
        return pa.chunked_array([pa.array(exact_text, pa.string())]), inexact
    return pc.cast(column, pa.string(), safe=False), none


def parse_times(column: pa.ChunkedArray) -> tuple[pa.Array, list[str | None]]:
    """Times as ``timestamp[us, UTC]`` and, per row, why it is not a time (``None``: it is).

    >>> times, why = parse_times(pa.chunked_array([pa.array(["2026-11-24T10:00:00+01:00", "soon", None])]))
    >>> [t.isoformat() if t else None for t in times.to_pylist()], why
    (['2026-11-24T09:00:00+00:00', None, None], [None, 'is not an ISO 8601 time', 'is null'])
    """
    column = _plain(column)
    n = len(column)
    nulls: list[str | None] = ["is null" if isnull else None for isnull in np.asarray(column.is_null(), bool)]
    if pa.types.is_timestamp(column.type):
        typed = column.type
        if typed.tz is None:
            column = column.cast(pa.timestamp(typed.unit)).cast(pa.timestamp(typed.unit, tz="UTC"))
        return pc.cast(column, _TIME_TYPE, safe=False).combine_chunks(), nulls  # nanoseconds: truncated
    if pa.types.is_date(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("us")), _TIME_TYPE).combine_chunks(), nulls
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        why = f"is a {column.type} value, not a time (write ISO 8601, e.g. 2026-11-24T10:00:00Z)"
        return pa.nulls(n, _TIME_TYPE), [w or why for w in nulls]
    encoded = column.combine_chunks().dictionary_encode()
    parsed: list[datetime | None] = []
    for text in encoded.dictionary.to_pylist():
        try:
            moment = datetime.fromisoformat(text.strip())
            parsed.append(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC))
        except (ValueError, OverflowError):
            parsed.append(None)
    distinct = pa.array(parsed, _TIME_TYPE)
    times = distinct.take(encoded.indices)
    why_not = [w if w is not None else ("is not an ISO 8601 time" if missing else None)
               for w, missing in zip(nulls, np.asarray(times.is_null(), bool), strict=True)]
    return times, why_not


def quarantine_rows(table: pa.Table, reasons: Reasons, exp_id: str, kind: str, source: str,
                    index: npt.NDArray[np.int64] | None = None) -> pa.Table:
    """The rows with a reason as :data:`LOAD_QUARANTINE` rows (the original row as JSON); ``index`` gives the row
    of ``table`` that each row of ``reasons`` is (when some rows were left out before validation)."""
    bad = np.flatnonzero(reasons.bad)
    at = bad if index is None else index[bad]
    rows = table.take(pa.array(at, pa.int64())).to_pylist() if len(at) else []
    texts = np.array(reasons.texts, dtype=object)
    return pa.table({
        "exp_id": pa.array([exp_id] * len(bad), pa.string()), "kind": pa.array([kind] * len(bad), pa.string()),
        "source": pa.array([source] * len(bad), pa.string()), "row_index": pa.array(at, pa.int64()),
        "reason": pa.array(texts[reasons.codes[bad]].tolist(), pa.string()),
        "row": pa.array([json.dumps(r, default=str, sort_keys=True) for r in rows], pa.string()),
    }, schema=LOAD_QUARANTINE)


def _field_column(table: pa.Table, option: str, name: str, source: str) -> pa.ChunkedArray:
    from rayab.storage.sources import source_field

    column = source_field(table, name)
    if column is None or ("." in name and name not in table.column_names and len(column) > 0
                          and column.null_count == len(column)):  # a path into JSON text that no row holds
        raise ValidationError(f"--{option}", name, f"is not a field of {source} (columns: "
                              f"{', '.join(table.column_names[:20])}; nested fields as properties.name)")
    return column


def _unit_text(table: pa.Table, spec: str, source: str) -> tuple[pa.ChunkedArray, npt.NDArray[np.bool_]]:
    """The unit as exact text, from the first field of ``spec`` (``userId,anonymousId``) not null or empty."""
    names = [n.strip() for n in spec.split(",") if n.strip()] or [spec]
    pairs = [scalar_text(_field_column(table, "unit-column", n, source)) for n in names]
    if len(pairs) == 1:
        return pairs[0]
    chosen = np.full(table.num_rows, len(pairs) - 1, np.int64)
    for i in range(len(pairs) - 2, -1, -1):
        text, inexact = pairs[i]
        present = np.asarray(pc.fill_null(pc.greater(pc.utf8_length(text), 0), False), bool) | inexact
        chosen[present] = i
    texts = np.array([t.to_pylist() for t, _ in pairs], dtype=object)
    flags = np.array([f for _, f in pairs], bool)
    rows = np.arange(table.num_rows)
    return pa.chunked_array([pa.array(texts[chosen, rows].tolist(), pa.string())]), flags[chosen, rows]


def _flag_texts(reasons: Reasons, mask: npt.NDArray[np.bool_], texts: Sequence[str | None], prefix: str) -> None:
    """Give each row in ``mask`` its own text (``prefix`` + text), one code per distinct text."""
    distinct = sorted({t for t, m in zip(texts, mask, strict=True) if m and t is not None})
    if not distinct:
        return
    code = {t: i for i, t in enumerate(distinct)}
    codes = np.array([code.get(t, 0) if t is not None else 0 for t in texts], np.int64)
    reasons.flag_values(mask & np.array([t is not None for t in texts], bool), codes,
                        [f"{prefix}{t}" for t in distinct])


def first_assignments_from(table: pa.Table, experiment: Experiment, source: str,
                           columns: AssignmentColumns | None = None) -> LoadedAssignments:
    """Validate ``table`` against ``experiment`` and keep the earliest row per unit (ties: the smaller variant id).
    """
    from rayab.storage.sources import where_keeps

    columns = columns or AssignmentColumns()
    original = table
    index: npt.NDArray[np.int64] | None = None
    if columns.where:
        keep = where_keeps(table, columns.where, "--where")
        if not keep.all():
            index = np.flatnonzero(keep).astype(np.int64)
            table = table.filter(pa.array(keep))
    units, inexact = _unit_text(table, columns.unit, source)
    variant_column = _field_column(table, "variant-column", columns.variant, source)
    time_column = _field_column(table, "time-column", columns.time, source)
    reasons = Reasons(table.num_rows)
    reasons.flag(inexact, f"{columns.unit} is a float that is not an exact integer: write ids as text or integers")
    empty = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(units), 0), True), bool)
    reasons.flag(empty, f"{columns.unit} is null or empty")
    if "exp_id" in table.column_names and columns.unit != "exp_id":
        exp_text, _ = scalar_text(table.column("exp_id"))
        other = np.asarray(pc.fill_null(pc.not_equal(exp_text, experiment.exp_id), True), bool)
        reasons.flag(other, f"exp_id is not {experiment.exp_id} (the experiment loaded)")
    variants, _ = scalar_text(variant_column)
    if columns.variant_map:
        variants = pa.chunked_array([pa.array([columns.variant_map.get(v, v) if v is not None else None
                                               for v in variants.to_pylist()], pa.string())])
    known = [v.variant_id for v in experiment.variants]
    variant_values = variants.to_pylist()
    missing_variant = np.array([v is None or v == "" for v in variant_values], bool)
    reasons.flag(missing_variant, f"{columns.variant} is null or empty")
    unknown = [None if v is None or v in known else f"{v[:64]!r}: unknown variant of {experiment.exp_id} "
               f"(known: {', '.join(known)})" for v in variant_values]
    _flag_texts(reasons, np.ones(table.num_rows, bool), unknown, f"{columns.variant} == ")
    times, why = parse_times(time_column)
    _flag_texts(reasons, np.ones(table.num_rows, bool), why, f"{columns.time} ")
    stamps = np.asarray(pc.fill_null(pc.cast(times, pa.int64()), 0), np.int64)
    start = int(experiment.start_time.timestamp() * 1_000_000)
    present = np.asarray(times.is_valid(), bool)
    reasons.flag(present & (stamps < start),
                 f"{columns.time} is before the experiment's start_time {experiment.start_time.isoformat()}")
    if experiment.end_time is not None:
        end = int(experiment.end_time.timestamp() * 1_000_000)
        reasons.flag(present & (stamps >= end),
                     f"{columns.time} is at or after the experiment's end_time {experiment.end_time.isoformat()}")
    kept, skipped = _extra_columns(table, columns, source)
    good = pa.array(~reasons.bad)
    rows = pa.table({"exp_id": pa.array([experiment.exp_id] * table.num_rows, pa.string()),
                     "unit_id": units, "variant_id": variants, "assigned_at": times,
                     **{name: scalar_text(table.column(name))[0] for name in kept}}).filter(good)
    first, duplicates, mixed = _earliest(rows)
    quarantined = quarantine_rows(original, reasons, experiment.exp_id, "assignments", source, index)
    return LoadedAssignments(first, quarantined, original.num_rows, duplicates, mixed, kept, skipped,
                             original.num_rows - table.num_rows)


def _nested(column: pa.ChunkedArray) -> bool:
    """Whether a column holds objects or lists (an Arrow nested type, or JSON text of one)."""
    kind = _plain(column).type
    if pa.types.is_nested(kind):
        return True
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return False
    starts = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(_plain(column)), 0, 1)
    return bool(pc.any(pc.is_in(starts, pa.array(["{", "["]))).as_py())


def _extra_columns(table: pa.Table, columns: AssignmentColumns,
                   source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    fields = [*columns.unit.split(","), columns.variant, columns.time, *columns.where]
    used = {"exp_id", *(f.strip() for f in fields), *(f.strip().split(".")[0] for f in fields)}
    extras = [c for c in table.column_names if c not in used]
    if columns.keep is not None:
        for name in columns.keep:
            if name not in table.column_names or name in used or not _IDENTIFIER.match(name) \
                    or name in set(ASSIGNMENT.names):
                raise ValidationError("--keep-columns", name, f"is not a column of {source} left to keep (columns: "
                                      f"{', '.join(extras[:20]) or 'none'})")
        return tuple(columns.keep), tuple(c for c in extras if c not in columns.keep)
    kept = tuple(c for c in extras if _IDENTIFIER.match(c) and c not in set(ASSIGNMENT.names)
                 and not _nested(table.column(c)))
    return kept, tuple(c for c in extras if c not in kept)


def _earliest(rows: pa.Table) -> tuple[pa.Table, int, int]:
    """The earliest row per unit (sorted by unit), the rows dropped, and the units seen with several variants."""
    if rows.num_rows == 0:
        empty = rows.append_column("date", pa.array([], pa.string()))
        return empty.select([*ASSIGNMENT.names, *rows.column_names[4:]]), 0, 0
    ordered = rows.sort_by([("unit_id", "ascending"), ("assigned_at", "ascending"), ("variant_id", "ascending")])
    unit = np.asarray(ordered.column("unit_id").to_pylist(), dtype=object)
    first = np.ones(len(unit), bool)
    first[1:] = unit[1:] != unit[:-1]
    variant = np.asarray(ordered.column("variant_id").to_pylist(), dtype=object)
    group = np.cumsum(first) - 1
    differs = variant != variant[np.flatnonzero(first)[group]]
    mixed = len(np.unique(group[differs]))
    kept = ordered.filter(pa.array(first))
    date = pc.strftime(kept.column("assigned_at"), format="%Y-%m-%d", locale="C")
    out = kept.append_column("date", date)
    out = out.select([*ASSIGNMENT.names, *rows.column_names[4:]])
    return out, int(len(unit) - first.sum()), int(mixed)
