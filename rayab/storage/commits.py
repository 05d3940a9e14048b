"""Which commit wrote each hour: the ``commit_id`` every partition carries, checked against the manifest row.

The hourly reducer commits three tables one after the other (``agg_<type>``, ``_quarantine``, ``_manifest``), and
Delta makes each commit atomic but not the three together: a driver killed between them leaves one hour's data next
to another run's manifest row. So every row of ``agg_<type>`` and ``_quarantine`` carries a ``commit_id`` and the
manifest row names the ``commit_id`` it describes. The id is a digest of what the commit holds (data, quarantined
rows and the manifest's input counts), so re-running an hour on the same inputs writes byte-identical files, and a
run that read anything else has another id.

:func:`hour_mismatches` compares the three per hour; a reader (results, health, backfill) treats an hour whose data
and manifest disagree as not committed: it names the hour instead of mixing one run's rows with another's counts.

>>> import pyarrow as pa
>>> a = commit_digest([pa.table({"x": [1, 2]})], {"rows_read": 2})
>>> a == commit_digest([pa.table({"x": [1, 2]})], {"rows_read": 2}), a == commit_digest([pa.table({"x": [1, 3]})],
...                                                                                        {"rows_read": 2})
(True, False)
>>> len(a)
32
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from rayab.errors import StorageError
from rayab.storage.delta_reads import delta_rows
from rayab.storage.tables import sql_predicate
from rayab.storage.warehouse import Warehouse

__all__ = ["COMMIT_ID", "HourMismatch", "check_readable", "commit_digest", "hour_mismatches",
           "latest_manifest_rows", "partition_commit_ids", "side_table_mismatches", "with_commit_id"]

COMMIT_ID = "commit_id"


def commit_digest(tables: Iterable[pa.Table], counts: Mapping[str, Any]) -> str:
    """A 128-bit hex digest of ``tables`` (schema and values, Arrow IPC) and ``counts`` (JSON, sorted keys).

    ``tables`` may be a generator: each table is serialised, hashed and dropped before the next is made, so a
    commit of thousands of experiment partitions is digested one partition at a time."""
    digest = hashlib.sha256()
    for table in tables:
        sink = pa.BufferOutputStream()
        combined = table.combine_chunks()
        with pa.ipc.new_stream(sink, combined.schema) as writer:
            writer.write_table(combined)
        digest.update(memoryview(sink.getvalue()))  # the IPC buffer itself, not a copy of it
    digest.update(json.dumps(dict(counts), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def with_commit_id(table: pa.Table, commit_id: str) -> pa.Table:
    """``table`` with a first column ``commit_id`` (replaced if present) holding ``commit_id`` on every row.

    First, so that Delta's file statistics (kept for the leading columns) hold it: readers then learn a file's
    commit from the log alone, without opening the file.
    """
    if COMMIT_ID in table.column_names:
        table = table.drop_columns([COMMIT_ID])
    return table.add_column(0, COMMIT_ID, pa.array([commit_id] * table.num_rows, pa.string()))


def _matching(actions: pa.Table, where: Mapping[str, str | Sequence[str]]) -> pa.Table:
    keep = None
    for column, value in where.items():
        values = actions.column(f"partition.{column}")
        match = (pc.equal(values, value) if isinstance(value, str)
                 else pc.is_in(values, value_set=pa.array(list(value), pa.string())))
        keep = match if keep is None else pc.and_(keep, match)
    return actions.filter(keep) if keep is not None else actions


def partition_commit_ids(warehouse: Warehouse, table: str, where: Mapping[str, str | Sequence[str]],
                         by: str = "hour") -> dict[str, set[str | None]]:
    """The distinct ``commit_id`` values of the current rows matching ``where``, per value of ``by``.

    Rows written before commit ids existed read as ``None``; an hour with no rows is absent from the result.
    The ids come from the Delta log's per-file statistics (min = max = the id); only files without them (the
    column outside the indexed ones, e.g. in a table that gained it later) are opened, and only that column read.
    """
    try:
        delta = DeltaTable(warehouse.table_uri(table), storage_options=warehouse.delta_options())
    except TableNotFoundError:
        return {}
    try:
        return _commit_ids(delta, where, by)
    except Exception as err:  # delta-rs raises several unrelated types; one boundary translates them all
        raise StorageError(f"cannot read the commit ids of {table} ({sql_predicate(where)}): {err}") from err


def _commit_ids(delta: DeltaTable, where: Mapping[str, str | Sequence[str]], by: str) -> dict[str, set[str | None]]:
    actions = pa.table(delta.get_add_actions(flatten=True))
    out: dict[str, set[str | None]] = {}
    if actions.num_rows == 0:
        return out
    actions = _matching(actions, where)
    has_column = COMMIT_ID in {f.name for f in delta.schema().fields}
    stats = f"min.{COMMIT_ID}" in actions.column_names and f"max.{COMMIT_ID}" in actions.column_names
    nulls = f"null_count.{COMMIT_ID}" in actions.column_names
    unknown: set[str] = set()
    for row in actions.to_pylist():
        if not row["num_records"]:
            continue
        key = row[f"partition.{by}"]
        low, high = (row[f"min.{COMMIT_ID}"], row[f"max.{COMMIT_ID}"]) if stats else (None, None)
        if not has_column or (nulls and row[f"null_count.{COMMIT_ID}"] == row["num_records"]):
            out.setdefault(key, set()).add(None)
        elif low is not None and low == high and (not nulls or row[f"null_count.{COMMIT_ID}"] == 0):
            out.setdefault(key, set()).add(low)
        else:
            unknown.add(key)
    if unknown:
        filters = [(c, "=", v) if isinstance(v, str) else (c, "in", list(v)) for c, v in where.items()]
        filters.append((by, "in", sorted(unknown)))
        rows = delta_rows(delta, filters, [by, COMMIT_ID])
        for pair in rows.group_by([by, COMMIT_ID], use_threads=False).aggregate([]).to_pylist():
            out.setdefault(pair[by], set()).add(pair[COMMIT_ID])
    return out


def latest_manifest_rows(warehouse: Warehouse, analysis_type: str,
                         hours: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The newest ``_manifest`` row of every hour of ``analysis_type`` (only ``hours`` when given)."""
    try:
        delta = DeltaTable(warehouse.table_uri("_manifest"), storage_options=warehouse.delta_options())
    except TableNotFoundError:
        return {}
    try:
        rows = delta_rows(delta)
    except Exception as err:
        raise StorageError(f"cannot read table _manifest at {warehouse.table_uri('_manifest')}: {err}") from err
    keep = pc.equal(rows.column("analysis_type"), analysis_type)
    if hours is not None:
        keep = pc.and_(keep, pc.is_in(rows.column("hour"), value_set=pa.array(list(hours), pa.string())))
    latest: dict[str, dict[str, Any]] = {}
    for row in rows.filter(keep).to_pylist():
        previous = latest.get(row["hour"])
        if previous is None or row["committed_at"] >= previous["committed_at"]:
            latest[row["hour"]] = row
    return latest


@dataclass(frozen=True)
class HourMismatch:
    """An hour whose committed data and newest manifest row come from different commits."""

    analysis_type: str
    hour: str
    reason: str


def _short(ids: Iterable[str | None]) -> str:
    return ", ".join(sorted("none" if i is None else i[:12] for i in ids))


def _expect(table: str, ids: set[str | None], rows_in_manifest: int | None, commit_id: str | None) -> str:
    """Why the ids of ``table``'s partition disagree with the manifest ('' if they agree)."""
    if commit_id is None:  # a manifest row written before commit ids: only data of a newer run is a mismatch
        newer = {i for i in ids if i is not None}
        return f"{table} holds rows of commit {_short(newer)}, newer than the manifest row" if newer else ""
    if not rows_in_manifest:
        return f"{table} holds rows of commit {_short(ids)}, the manifest row counts none" if ids else ""
    if ids != {commit_id}:
        found = _short(ids) if ids else "no rows"
        return f"{table} holds {found}, the manifest row names commit {commit_id[:12]}"
    return ""


def hour_mismatches(warehouse: Warehouse, analysis_type: str, data_table: str, hours: Sequence[str],
                    manifests: Mapping[str, Mapping[str, Any]] | None = None,
                    include_quarantine: bool = True) -> list[HourMismatch]:
    """Hours of ``hours`` whose ``data_table`` (and ``_quarantine``) rows disagree with their newest manifest row.

    An hour with data but no manifest row at all (a first run killed before its manifest) is a mismatch too;
    an hour with neither is simply not committed (completeness reports it).
    """
    if not hours:
        return []
    manifests = latest_manifest_rows(warehouse, analysis_type, hours) if manifests is None else manifests
    data = partition_commit_ids(warehouse, data_table, {"hour": list(hours)})
    quarantine = (partition_commit_ids(warehouse, "_quarantine", {"analysis_type": analysis_type,
                                                                   "hour": list(hours)})
                  if include_quarantine else {})
    out = []
    for hour in hours:
        manifest = manifests.get(hour)
        if manifest is None:
            found = data.get(hour, set()) | quarantine.get(hour, set())
            if found:
                out.append(HourMismatch(analysis_type, hour, f"rows of commit {_short(found)} and no manifest row"))
            continue
        commit_id = manifest.get(COMMIT_ID)
        reasons = [_expect(data_table, data.get(hour, set()), manifest.get("cells"), commit_id)]
        if include_quarantine:
            reasons.append(_expect("_quarantine", quarantine.get(hour, set()), manifest.get("rows_quarantined"),
                                   commit_id))
        reason = "; ".join(r for r in reasons if r)
        if reason:
            out.append(HourMismatch(analysis_type, hour, reason))
    return out


def side_table_mismatches(warehouse: Warehouse, analysis_type: str, table: str, hours: Sequence[str],
                          manifests: Mapping[str, Mapping[str, Any]] | None = None) -> list[HourMismatch]:
    """Hours whose rows in a table written beside ``agg_<type>`` under the same commit id (``qsk_<type>``,
    ``cvh_<type>``) carry another commit id than the hour's newest manifest row names. Such a table may have no
    rows in an hour that has cells (no percentile observation, no qualifying event), so only rows of another
    commit are a mismatch."""
    if not hours:
        return []
    manifests = latest_manifest_rows(warehouse, analysis_type, hours) if manifests is None else manifests
    out = []
    for hour, ids in sorted(partition_commit_ids(warehouse, table, {"hour": list(hours)}).items()):
        manifest = manifests.get(hour)
        commit_id = manifest.get(COMMIT_ID) if manifest is not None else None
        if manifest is None and ids:
            out.append(HourMismatch(analysis_type, hour, f"{table} holds rows of commit {_short(ids)} and there is "
                                    "no manifest row"))
        elif commit_id is not None and ids and ids != {commit_id}:
            out.append(HourMismatch(analysis_type, hour, f"{table} holds {_short(ids)}, the manifest row names "
                                    f"commit {commit_id[:12]}"))
    return out


def check_readable(warehouse: Warehouse, analysis_type: str, table: str, exp_id: str, hours: Sequence[str]) -> None:
    """Raise :class:`StorageError` naming every hour of ``hours`` whose rows of ``exp_id`` in ``table`` belong to
    another commit than the hour's newest manifest row (the reader's guard: results never mix two runs).

    Rows without a ``commit_id`` (written before commit ids, or by hand) are accepted when the manifest row has
    none either, or there is no manifest row.
    """
    if not hours:
        return
    data = partition_commit_ids(warehouse, table, {"exp_id": exp_id, "hour": list(hours)})
    if not data:
        return
    manifests = latest_manifest_rows(warehouse, analysis_type, sorted(data))
    bad = []
    for hour, ids in sorted(data.items()):
        manifest = manifests.get(hour)
        if manifest is None:
            newer = {i for i in ids if i is not None}
            reason = f"rows of commit {_short(newer)} and no manifest row" if newer else ""
        else:
            reason = _expect(table, ids, manifest.get("cells"), manifest.get(COMMIT_ID))
        if reason:
            bad.append(f"{hour} ({reason})")
    if bad:
        raise StorageError(f"{len(bad)} hours of {table} for {exp_id} were left half-committed by an interrupted "
                           f"run: {'; '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}; re-run them with "
                           "`rayab backfill` (it re-runs such hours) before reading them")
