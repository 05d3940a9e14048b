"""Experiment and analysis-type specs persisted in the warehouse: the ``experiment`` and ``variant`` tables of the
data model (one row per experiment / variant and config version) and ``_analysis_type`` (specs as JSON).

The serving config is versioned in ``_config_version``: one row per version with every experiment as JSON, so
a restarted config actor reloads exactly what was served, and any past version can be read back.

>>> import tempfile
>>> from rayab.simulate import demo_config
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> save_config(wh, demo_config())
>>> [e.exp_id for e in load_saved_config(wh).experiments]
['aa_check', 'ranker_v2']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from rayab.errors import ConflictError, NotFoundError, StorageError
from rayab.model import AnalysisType, Config, Experiment
from rayab.storage.delta_reads import delta_rows
from rayab.storage.schemas import EXPERIMENT, VARIANT
from rayab.storage.tables import append_rows, read_rows, table_version
from rayab.storage.warehouse import Warehouse

__all__ = [
    "CONFIG_VERSION_TABLE",
    "ConfigChange",
    "append_experiments",
    "load_analysis_types",
    "load_config_history",
    "load_config_version",
    "load_latest_config_version",
    "load_saved_config",
    "load_saved_experiments",
    "save_config",
    "save_config_version",
    "sync_experiment_tables",
]

_ANALYSIS_TYPE = pa.schema([("name", pa.string()), ("version", pa.int64()), ("spec", pa.string())])


def save_config(warehouse: Warehouse, config: Config) -> None:
    """Append the config's experiments, variants and analysis types (each row carries its version)."""
    experiments, variants = _experiment_rows(config.experiments)
    types = pa.Table.from_pylist([{"name": a.name, "version": 1, "spec": json.dumps(a.to_dict(), sort_keys=True)}
                                  for a in config.analysis_types], schema=_ANALYSIS_TYPE)
    append_rows(warehouse, "_analysis_type", types)
    append_rows(warehouse, "experiment", experiments)
    append_rows(warehouse, "variant", variants)


def _experiment_rows(exps: Sequence[Experiment]) -> tuple[pa.Table, pa.Table]:
    """Rows of the ``experiment`` and ``variant`` tables for ``exps``."""
    experiments = pa.Table.from_pylist([{
        "exp_id": e.exp_id, "name": e.name, "start_time": e.start_time, "end_time": e.end_time,
        "unit": e.unit.value, "primary_kpi": e.primary_kpi, "status": e.status.value, "layer": e.layer,
        "version": e.version, "spec": json.dumps(e.to_dict(), sort_keys=True),
    } for e in exps], schema=EXPERIMENT)
    variants = pa.Table.from_pylist([{
        "exp_id": e.exp_id, "variant_id": v.variant_id, "traffic_pct": v.traffic_pct,
        "parameters": json.dumps(dict(v.parameters), sort_keys=True), "version": e.version,
    } for e in exps for v in e.variants], schema=VARIANT)
    return experiments, variants


def _latest(table: pa.Table, key: str) -> list[str]:
    latest: dict[str, tuple[int, int, str]] = {}
    for i, (k, version, spec) in enumerate(zip(table.column(key).to_pylist(), table.column("version").to_pylist(),
                                              table.column("spec").to_pylist(), strict=True)):
        if k not in latest or (version, i) >= latest[k][:2]:
            latest[k] = (version, i, spec)
    return [latest[k][2] for k in sorted(latest)]


def load_saved_config(warehouse: Warehouse) -> Config:
    """The latest version of every saved experiment and analysis type."""
    types = read_rows(warehouse, "_analysis_type")
    if types.num_rows == 0:
        raise NotFoundError(f"no saved config in warehouse {warehouse.url}: run `rayab demo` or pass --config")
    exps = read_rows(warehouse, "experiment")
    return Config(
        analysis_types=tuple(AnalysisType.from_dict(json.loads(s)) for s in _latest(types, "name")),
        experiments=tuple(Experiment.from_dict(json.loads(s)) for s in _latest(exps, "exp_id"))
        if exps.num_rows else (),
    )


# --- versioned config snapshots: the serving config, one row per version ----------------------------------------

_CONFIG_VERSION = pa.schema([
    ("version", pa.int64()), ("committed_at", pa.timestamp("us", tz="UTC")), ("change", pa.string()),
    ("spec", pa.string()), ("changed_by", pa.string()), ("exp_ids", pa.list_(pa.string())),
])
CONFIG_VERSION_TABLE = "_config_version"


def save_config_version(warehouse: Warehouse, version: int, experiments: Sequence[Experiment], change: str,
                        base: int | None = None, changed_by: str = "", changed: Sequence[str] = ()) -> int:
    """Commit config ``version`` (every experiment, as JSON) to ``_config_version`` in one append; returns the
    table's Delta version after the commit.

    This row is the commit point of a config change: the version exists once it is written. The ``experiment``
    and ``variant`` tables are a projection written after it (:func:`append_experiments`), and
    :func:`sync_experiment_tables` repairs them if that second write failed.

    With ``base`` (the table's Delta version the writer read, -1 for no table) the commit is optimistic: it is
    written as the very next Delta version or not at all, so a writer that missed another writer's commit is
    refused with :class:`~rayab.errors.ConflictError` instead of committing a second row with the same number.

    The row records who made the change (``changed_by``, free text) and the ids of the experiments it ``changed``:
    the history of an experiment (:func:`load_config_history`). A table written before those columns existed gains
    them (older rows read as empty).
    """
    spec = json.dumps({"version": version, "experiments": [e.to_dict() for e in experiments]}, sort_keys=True)
    row = pa.Table.from_pylist([{"version": version, "committed_at": datetime.now(UTC), "change": change,
                                 "spec": spec, "changed_by": changed_by, "exp_ids": list(changed)}],
                               schema=_CONFIG_VERSION)
    if base is None:
        append_rows(warehouse, CONFIG_VERSION_TABLE, row)
        return table_version(warehouse, CONFIG_VERSION_TABLE)
    uri, options = warehouse.table_uri(CONFIG_VERSION_TABLE), warehouse.delta_options()
    try:
        if base < 0:  # the first commit creates the table; a concurrent creator makes it fail
            target: DeltaTable | str = uri
            if DeltaTable.is_deltatable(uri, storage_options=options):
                raise CommitFailedError("the table was created meanwhile")
        else:
            target = DeltaTable(uri, version=base, storage_options=options)
        write_deltalake(target, row, mode="append", storage_options=options if base < 0 else None,
                        commit_properties=CommitProperties(max_commit_retries=0), schema_mode="merge")
    except (CommitFailedError, TableNotFoundError) as err:
        raise ConflictError(f"config version {version} was not committed: another writer committed to "
                            f"{CONFIG_VERSION_TABLE} after table version {base} ({err})") from None
    except Exception as err:  # delta-rs raises several unrelated types
        raise StorageError(f"cannot write table {CONFIG_VERSION_TABLE} at {uri}: {err}") from err
    return base + 1


def load_latest_config_version(warehouse: Warehouse) -> tuple[dict[str, Any] | None, int]:
    """The latest snapshot mapping (None if none was ever committed) and the Delta version of ``_config_version``
    it was read at (-1: no table), read from one table state, as :func:`save_config_version` needs for ``base``."""
    uri, options = warehouse.table_uri(CONFIG_VERSION_TABLE), warehouse.delta_options()
    try:
        delta = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None, -1
    try:
        table = delta_rows(delta, columns=["version", "spec"])
    except Exception as err:
        raise StorageError(f"cannot read table {CONFIG_VERSION_TABLE} at {uri}: {err}") from err
    at = int(delta.version())
    if table.num_rows == 0:
        return None, at
    versions = table.column("version").to_pylist()
    spec: str = table.column("spec")[versions.index(max(versions))].as_py()
    loaded: dict[str, Any] = json.loads(spec)
    return loaded, at


class ConfigChange(NamedTuple):
    """One committed config version as the history shows it: when, by whom, what, and which experiments."""

    version: int
    committed_at: datetime
    change: str
    changed_by: str
    exp_ids: tuple[str, ...]


def load_config_history(warehouse: Warehouse, exp_id: str | None = None) -> list[ConfigChange]:
    """The committed config versions, newest first (only those that changed ``exp_id`` when given).

    A version committed before the ``exp_ids`` column existed is attributed by its ``change`` text
    (``"update ranker_v2: ..."``); the seed version lists every experiment it seeded.
    """
    table = read_rows(warehouse, CONFIG_VERSION_TABLE)
    if table.num_rows == 0:
        return []
    names = set(table.column_names)
    n = table.num_rows
    by = table.column("changed_by").to_pylist() if "changed_by" in names else [None] * n
    ids = table.column("exp_ids").to_pylist() if "exp_ids" in names else [None] * n
    out = []
    for version, at, change, who, changed in zip(table.column("version").to_pylist(),
                                                 table.column("committed_at").to_pylist(),
                                                 table.column("change").to_pylist(), by, ids, strict=True):
        if not changed:
            words = change.replace(":", " ").split()
            changed = words[1:2] if len(words) > 1 and words[0] in _CHANGE_VERBS else []
        if exp_id is None or exp_id in changed:
            out.append(ConfigChange(int(version), at, change, who or "", tuple(changed)))
    return sorted(out, key=lambda c: c.version, reverse=True)


_CHANGE_VERBS = {"create", "update", "ship", "archive", "edit"}


def load_config_version(warehouse: Warehouse, version: int | None = None) -> dict[str, Any] | None:
    """The snapshot mapping ``{"version", "experiments"}`` of ``version`` (default: the latest), or None when
    no version was ever committed."""
    table = read_rows(warehouse, CONFIG_VERSION_TABLE, columns=["version", "spec"])
    if table.num_rows == 0:
        return None
    versions = table.column("version").to_pylist()
    wanted = max(versions) if version is None else version
    if wanted not in versions:
        raise NotFoundError(f"config version {wanted} was never committed; latest is {max(versions)}")
    spec: str = table.column("spec")[versions.index(wanted)].as_py()
    loaded: dict[str, Any] = json.loads(spec)
    return loaded


def sync_experiment_tables(warehouse: Warehouse, experiments: Sequence[Experiment]) -> list[str]:
    """Append to ``experiment``/``variant`` every experiment whose version there is older than in
    ``experiments``; returns the ids appended."""
    saved = read_rows(warehouse, "experiment", columns=["exp_id", "version"])
    latest: dict[str, int] = {}
    if saved.num_rows:
        for exp_id, version in zip(saved.column("exp_id").to_pylist(), saved.column("version").to_pylist(),
                                   strict=True):
            latest[exp_id] = max(version, latest.get(exp_id, 0))
    stale = [e for e in experiments if latest.get(e.exp_id, 0) < e.version]
    append_experiments(warehouse, stale)
    return [e.exp_id for e in stale]


def load_analysis_types(warehouse: Warehouse) -> tuple[AnalysisType, ...]:
    """The latest version of every saved analysis type (none when no config was ever saved)."""
    types = read_rows(warehouse, "_analysis_type")
    if types.num_rows == 0:
        return ()
    return tuple(AnalysisType.from_dict(json.loads(s)) for s in _latest(types, "name"))


def load_saved_experiments(warehouse: Warehouse) -> tuple[Experiment, ...]:
    """The latest version of every experiment in the ``experiment`` table, by id."""
    exps = read_rows(warehouse, "experiment")
    return tuple(Experiment.from_dict(json.loads(s)) for s in _latest(exps, "exp_id")) if exps.num_rows else ()


def append_experiments(warehouse: Warehouse, experiments: Sequence[Experiment]) -> None:
    """Append one row per experiment to ``experiment`` and one per variant to ``variant``."""
    if experiments:
        experiments_rows, variant_rows = _experiment_rows(experiments)
        append_rows(warehouse, "experiment", experiments_rows)
        append_rows(warehouse, "variant", variant_rows)
