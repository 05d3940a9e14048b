"""The hourly job on Ray: read and validate -> shuffle by unit hash -> shard partials -> reducer commit.

Thin Ray edges around the pure steps of :mod:`rayab.pipeline.validate`, :mod:`rayab.pipeline.shards` and
:mod:`rayab.pipeline.partials`::

    map_file (one task per input file, S+2 returns: S shard pieces, quarantined rows, file stats)
        -> shard_task (S tasks: unit collapse, Poisson weights, raw + replicate sums per cell)
    units_task (first assignments of the hour -> the ``units`` metric)
        -> ReducerActor.commit_hour (one retryable call with every partial: merge, commit)

A commit replaces the hour's partition of ``agg_<type>`` and of ``_quarantine`` atomically, then appends a manifest
row: an hour is complete when its manifest row exists. Re-running an hour gives the same bytes of data.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray

import rayab
from rayab.errors import InputDataError
from rayab.model import AnalysisType, Config, Experiment, ExperimentStatus
from rayab.model.hours import parse_hour
from rayab.pipeline.partials import Partial, metric_columns
from rayab.pipeline.shards import collapse_units, shard_partial, split_by_shard, units_partial
from rayab.pipeline.validate import validate_events
from rayab.storage.logs import list_log_files, read_log_file
from rayab.storage.schemas import MANIFEST, PARTITIONS, QUARANTINE
from rayab.storage.tables import append_rows, read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["HourSummary", "ReducerActor", "experiments_for_hour", "run_hour"]


@dataclass
class HourSummary:
    """What one committed (analysis type, hour) read, quarantined and wrote, and where the time went."""

    analysis_type: str
    hour: str
    run_id: str
    files: int
    rows_read: int
    rows_quarantined: int
    units: int
    cells: int
    bytes_written: int
    exp_ids: list[str]
    skipped_files: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        """A one-line human summary."""
        stages = " ".join(f"{k}={v:.2f}s" for k, v in self.seconds.items())
        return (f"{self.analysis_type} {self.hour}: {self.files} files, {self.rows_read} rows read, "
                f"{self.rows_quarantined} quarantined, {self.units} units, {self.cells} cells, "
                f"{self.bytes_written} bytes [{stages}]")


def experiments_for_hour(config: Config, analysis_type: AnalysisType, hour: str) -> tuple[Experiment, ...]:
    """Experiments measured with ``analysis_type`` whose run covers ``hour`` (running or stopped, not drafts)."""
    start = parse_hour(hour)
    out = []
    for exp in config.experiments:
        if exp.status not in (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED):
            continue
        if analysis_type.name not in {a.name for a in config.analysis_types_of(exp.exp_id)}:
            continue
        if exp.start_time < start + timedelta(hours=1) and (exp.end_time is None or exp.end_time > start):
            out.append(exp)
    return tuple(out)


def _empty_pieces(n_shards: int) -> list[pa.Table]:
    return [pa.table({}) for _ in range(n_shards)]


@ray.remote
def map_file(path: str, analysis_type: AnalysisType, experiments: list[dict[str, Any]], n_shards: int,
             hour: str, skip_corrupt: bool, storage_options: Mapping[str, str] | None) -> list[Any]:
    """Read and validate one file, collapse to units, split by shard. Returns S pieces, quarantine, stats."""
    exps = [Experiment.from_dict(e) for e in experiments]
    columns = [analysis_type.unit_column, "exp_id", "variant_id", *analysis_type.dimensions,
               *(m.column for m in analysis_type.metrics if m.kind == "sum")]
    try:
        table = read_log_file(path, columns, storage_options)
    except InputDataError as err:
        if not skip_corrupt:
            raise
        return [*_empty_pieces(n_shards), QUARANTINE.empty_table(), {"rows": 0, "skipped": str(err)}]
    valid, quarantined = validate_events(table, analysis_type, exps, path, hour)
    if valid.num_rows == 0:
        return [*_empty_pieces(n_shards), quarantined, {"rows": table.num_rows, "skipped": ""}]
    pieces = split_by_shard(collapse_units(valid, analysis_type), {e.exp_id: e.bootstrap_salt for e in exps},
                            n_shards)
    return [*pieces, quarantined, {"rows": table.num_rows, "skipped": ""}]


@ray.remote
def shard_task(analysis_type: AnalysisType, *pieces: pa.Table) -> Partial:
    """One shard's partial from the pieces every map task routed to it."""
    return shard_partial(pieces, analysis_type)


@ray.remote
def units_task(warehouse: Warehouse, analysis_type: AnalysisType, experiments: list[dict[str, Any]],
               hour: str) -> Partial:
    """The ``units`` metric of the hour from the ``assignment`` table (first assignments in the hour)."""
    exps = [Experiment.from_dict(e) for e in experiments]
    start = parse_hour(hour)
    rows = read_rows(warehouse, "assignment", where={"exp_id": [e.exp_id for e in exps],
                                                     "date": start.strftime("%Y-%m-%d")})
    if rows.num_rows:
        at = rows.column("assigned_at")
        in_hour = pc.and_(pc.greater_equal(at, pa.scalar(start, at.type)),
                          pc.less(at, pa.scalar(start + timedelta(hours=1), at.type)))
        rows = rows.filter(in_hour)
    return units_partial(rows, analysis_type, {e.exp_id: e.bootstrap_salt for e in exps})


@ray.remote(max_restarts=2, max_task_retries=2)
class ReducerActor:
    """Merges an hour's partials and commits them; gets everything in one call, so a retry after a restart
    starts from scratch and never commits half an hour."""

    def commit_hour(self, warehouse: Warehouse, analysis_type: AnalysisType, hour: str,
                    partial_refs: list[Any], quarantine_refs: list[Any],
                    manifest: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        partials: list[Partial] = ray.get(partial_refs)
        key_names = ("exp_id", "variant_id", *analysis_type.dimensions)
        zero = Partial.zero(key_names, metric_columns(analysis_type), analysis_type.n_replicates)
        merged = functools.reduce(lambda a, b: a + b, partials, zero)
        table = merged.to_table(hour, analysis_type)
        quarantined = pa.concat_tables([q for q in ray.get(quarantine_refs) if q.num_rows] or
                                       [QUARANTINE.empty_table()])
        replace_partitions(warehouse, "_quarantine", quarantined, PARTITIONS["_quarantine"],
                           {"analysis_type": analysis_type.name, "hour": hour})
        replace_partitions(warehouse, analysis_type.table, table, ["exp_id", "hour"], {"hour": hour})
        units_col = metric_columns(analysis_type).index("units")
        manifest = {**manifest, "rows_quarantined": quarantined.num_rows, "cells": len(merged.keys),
                    "units": int(merged.raw[:, units_col].sum()) if len(merged.keys) else 0,
                    "committed_at": datetime.now(UTC)}
        manifest["seconds"] = json.dumps({**json.loads(manifest["seconds"]),
                                          "commit": round(time.perf_counter() - started, 3)})
        append_rows(warehouse, "_manifest", pa.Table.from_pylist([manifest], schema=MANIFEST))
        return {**manifest, "bytes_written": table.nbytes, "committed_at": manifest["committed_at"].isoformat()}


def run_hour(
    config: Config,
    hour: str,
    logs_root: str,
    warehouse: Warehouse,
    *,
    analysis_types: Sequence[str] | None = None,
    n_shards: int = 2,
    skip_corrupt: bool = False,
    reducer: Any = None,
    logs_storage_options: Mapping[str, str] | None = None,
) -> list[HourSummary]:
    """Aggregate one hour of logs for every (or the named) analysis type and commit it; Ray must be initialised."""
    parse_hour(hour)
    reducer = reducer or ReducerActor.remote()  # type: ignore[attr-defined]
    summaries = []
    for at in config.analysis_types:
        if analysis_types is not None and at.name not in analysis_types:
            continue
        summaries.append(_run_analysis_hour(config, at, hour, logs_root, warehouse, n_shards, skip_corrupt,
                                            reducer, logs_storage_options))
    return summaries


def _run_analysis_hour(config: Config, at: AnalysisType, hour: str, logs_root: str, warehouse: Warehouse,
                       n_shards: int, skip_corrupt: bool, reducer: Any,
                       logs_options: Mapping[str, str] | None) -> HourSummary:
    clock = time.perf_counter()
    run_id = uuid.uuid4().hex
    exps = experiments_for_hour(config, at, hour)
    exp_dicts = [e.to_dict() for e in exps]
    files = list_log_files(logs_root, hour, logs_options)
    maps: list[Any] = [map_file.options(num_returns=n_shards + 2).remote(
        f.path, at, exp_dicts, n_shards, hour, skip_corrupt, logs_options) for f in files]
    shards = [shard_task.remote(at, *[m[s] for m in maps]) for s in range(n_shards)]
    units = units_task.remote(warehouse, at, exp_dicts, hour)
    stats: list[dict[str, Any]] = ray.get([m[n_shards + 1] for m in maps])
    read_seconds = time.perf_counter() - clock
    ray.wait(shards, num_returns=len(shards))
    shard_seconds = time.perf_counter() - clock - read_seconds
    manifest = {
        "analysis_type": at.name, "hour": hour, "run_id": run_id, "code_version": rayab.__version__,
        "n_replicates": at.n_replicates, "exp_ids": [e.exp_id for e in exps],
        "bootstrap_salts": [e.bootstrap_salt for e in exps], "input_files": [f.path for f in files],
        "input_sizes": [f.size for f in files], "rows_read": int(sum(s["rows"] for s in stats)),
        "skipped_files": [f.path for f, s in zip(files, stats, strict=True) if s["skipped"]],
        "seconds": json.dumps({"read": round(read_seconds, 3), "shards": round(shard_seconds, 3)}),
    }
    result: dict[str, Any] = ray.get(reducer.commit_hour.remote(warehouse, at, hour, [*shards, units],
                                                [m[n_shards] for m in maps], manifest))
    seconds = {**json.loads(result["seconds"]), "total": round(time.perf_counter() - clock, 3)}
    return HourSummary(at.name, hour, run_id, len(files), result["rows_read"], result["rows_quarantined"],
                       result["units"], result["cells"], result["bytes_written"], result["exp_ids"],
                       result["skipped_files"], seconds)


def summary_dict(summary: HourSummary) -> dict[str, Any]:
    """A JSON-ready form of a summary."""
    return asdict(summary)

