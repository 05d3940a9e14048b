"""The hourly job on Ray: read and validate -> collapse -> shuffle by unit -> shard partials -> reducer commit.

Thin Ray edges around the pure steps of :mod:`rayab.aggregate.validate`, :mod:`rayab.aggregate.unit_rows`,
:mod:`rayab.aggregate.shards` and :mod:`rayab.aggregate.partials`::

    map_task (one task per group of splits, a split being a file or a row-group range of a big file; the groups
              fill a byte budget, at least one per CPU: rayab.hourly.task_groups; S+2 returns: S pieces of
              (cell, unit) rows carrying the unit ids, quarantined rows, per-split stats)
    units_task (first assignments of the hour -> the ``units`` metric, as S pieces)
        -> shard_task (S tasks: merge the pieces by (cell, unit), md5 once per merged row, fused weights-and-sums
                       kernel per cell)
        -> ReducerActor.commit_hour (one retryable call with every partial: merged as they arrive, commit)

An hour whose partials would pass ``max_partial_bytes`` each (thousands of experiments, large B) is summed range by
range instead: its shards ship their merged rows, and the reducer has ranges of experiments summed from them by
streaming range tasks, one range in memory at a time (:mod:`rayab.hourly.range_sums`).

A map task collapses its events to (cell, unit) rows in one compiled pass over the unit ids' bytes and routes each
row by a 64-bit hash of the id, so every row of a unit meets in one shard; the shard merges them and only then
computes the bootstrap keys (md5 under the experiment's salt), once per (cell, unit) of the hour rather than once per
file split. A map task collapses all its splits' events together, so a unit whose events are spread over many files
ships one row per task, not one per file. The events themselves stay in the map task (validated, as a table) for
whatever needs them per event.

Before anything is launched the hour's input is checked: an hour with no file to read (a wrong ``--logs``, logs
that have not arrived) or whose files hold no row fails with :class:`~rayab.errors.MissingInputError` and commits
nothing, unless ``allow_empty`` says the empty hour is real; files that are not read are listed (``ignored_files``
in the summary and the manifest). The map and shard tasks report exact totals of ``|value|``, and the hour is refused
before the commit when its sums could wrap int64 (:mod:`rayab.aggregate.sum_bounds`).

Tasks are retried when a worker or node dies (lost outputs are rebuilt from lineage). The reducer gets all partials
in one call, so a restarted actor simply redoes the whole commit. A commit replaces the hour's partitions of
``agg_<type>`` (every experiment at once: one file per experiment, built one at a time from the running total and
written in parallel, then one Delta commit; :mod:`rayab.storage.partition_writes`) and of ``_quarantine``
atomically, then appends a manifest row: an hour is complete when its manifest row exists and names the
``commit_id`` its rows carry (:mod:`rayab.storage.commits`), and re-running it gives the same bytes of data.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import rayab
from rayab.aggregate.cell_sums import CellSums, CellSumsBuilder
from rayab.aggregate.conversions import event_hits, merge_hits, refresh_conversions
from rayab.aggregate.covariates import Covariates, load_covariates
from rayab.aggregate.join import join_assignments
from rayab.aggregate.partial_ranges import PARTIAL_BYTES, experiment_cells
from rayab.aggregate.partials import hour_table, metric_columns
from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.sketches import HourSketches, event_sketches
from rayab.aggregate.sum_bounds import abs_totals, add_totals, check_hour_totals
from rayab.aggregate.summary import HourSummary, ProgressFn, StageProgress, summary_dict
from rayab.aggregate.unit_rows import (
    UnitIdRows,
    UnitRows,
    assignment_keys,
    assignment_unit_ids,
    event_unit_ids,
    quarantined_unit_ids,
)
from rayab.aggregate.validate import Population, required_columns, validate_events_counted
from rayab.errors import InputDataError, MissingInputError, StorageError
from rayab.hourly.range_sums import RangePlan, hour_sums_by_experiment, range_plan
from rayab.hourly.task_groups import TASK_BYTES, group_splits, split_sizes
from rayab.model import AnalysisType, Config, Experiment, ExperimentStatus
from rayab.model.hours import parse_hour
from rayab.storage.commits import COMMIT_ID, commit_digest, with_commit_id
from rayab.storage.logs import FORMATS_READ, LogFile, LogListing
from rayab.storage.partition_writes import write_partitions
from rayab.storage.schemas import (
    ASSIGNMENT_TABLE,
    MANIFEST,
    MANIFEST_TABLE,
    PARTITIONS,
    QUARANTINE,
    QUARANTINE_TABLE,
    hits_table,
    sketch_table,
)
from rayab.storage.sources import HourInput, SourcePart, default_source, plan_hour, query_slices, read_part
from rayab.storage.tables import append_rows, partition_bytes, read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["HourSummary", "JobOptions", "ReducerActor", "experiments_for_hour", "hour_input", "new_reducer",
           "run_hour", "summary_dict"]


@dataclass(frozen=True)
class JobOptions:
    """How an hour is read: the input mode and the reading knobs shared by every task."""

    population: Population = "log"
    skip_corrupt: bool = False
    logs_storage_options: Mapping[str, str] | None = None
    allow_empty: bool = False
    map_task_bytes: int = TASK_BYTES  # input bytes one map task reads at most (rayab.hourly.task_groups)
    max_partial_bytes: int = PARTIAL_BYTES  # a bigger partial is summed range by range (rayab.hourly.range_sums)


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


def _dictionary_columns(analysis_type: AnalysisType) -> list[str]:
    # low-cardinality key columns decode straight to dictionary codes; the unit column would only grow a big one
    return ["exp_id", "variant_id", *analysis_type.dimensions]


def _text_columns(analysis_type: AnalysisType) -> list[str]:
    # ids and dimensions stay text when read from CSV ("007" is not 7); metric columns get their inferred types
    return [analysis_type.unit_column, "exp_id", "variant_id", *analysis_type.dimensions]


@ray.remote(max_retries=3)
def query_task(part: SourcePart, analysis_type: AnalysisType, options: JobOptions) -> Any:
    """A query source's hour, run once for all its parts: ``part.n_splits`` slices (one return each) that the map
    tasks read instead of running the query again (:func:`rayab.storage.sources.query_slices`). A failing query
    returns its :class:`InputDataError` in every slice's place, so each map task reports it as it would its own
    read (refused, or skipped with ``skip_corrupt``)."""
    try:
        slices: list[Any] = query_slices(part, required_columns(analysis_type, options.population),
                                         analysis_type.unit_column)
    except InputDataError as err:
        slices = [err] * max(part.n_splits, 1)
    return slices if len(slices) > 1 else slices[0]


def _query_reads(splits: Sequence[SourcePart], at: AnalysisType, options: JobOptions) -> list[Any]:
    """Per split, the ref of its pre-read slice (the parts of a query read by several tasks: one query task runs
    it for all of them), or None (files, tables, a query read by one task)."""
    reads: list[Any] = [None] * len(splits)
    first = next((i for i, s in enumerate(splits) if s.source.kind == "sql" and s.n_splits > 1), None)
    if first is None:
        return reads
    n = splits[first].n_splits
    refs: Any = query_task.options(num_returns=n).remote(splits[first], at, options)
    for i, split in enumerate(splits):
        if split.source.kind == "sql" and split.n_splits == n:
            reads[i] = refs[split.split_index]
    return reads


@ray.remote(max_retries=3)
def map_task(splits: list[SourcePart], analysis_type: AnalysisType, salts: dict[str, str],
             variants: dict[str, list[str]], n_shards: int, hour: str, options: JobOptions,
             assignments: pa.Table | None, *prereads: pa.Table | InputDataError | None) -> list[Any]:
    """Read and validate each of ``splits`` (:mod:`rayab.hourly.task_groups` chose them), collapse all their events
    together to (cell, unit) rows on the unit ids, split the rows by shard. Returns S pieces, the quarantined rows,
    and a list of per-split stats (the first also carries the task's ``work``); with quantile metrics one more
    return follows: the task's sketches (:func:`~rayab.aggregate.sketches.event_sketches`, the only use of the
    salts here); with conversion metrics another: its hits (:func:`~rayab.aggregate.conversions.event_hits`).
    ``prereads`` has one entry per split: its slice of a query run once for the hour, or None.

    Experiments travel as their salts and variant ids only: thousands of full specs per task would cost more than
    the split itself. The bootstrap keys of the sums are not computed here but in the shards, once per (cell, unit)
    of the hour."""
    out = _map_task(splits, analysis_type, variants, n_shards, hour, options, assignments,
                    list(prereads) or [None] * len(splits))
    if _keeps_events(analysis_type):
        valid = out.pop()
        if analysis_type.quantile_metrics:
            out.append(event_sketches(valid, analysis_type, salts))
        if analysis_type.conversion_metrics:
            out.append(event_hits(valid, analysis_type))
    return out


def _keeps_events(analysis_type: AnalysisType) -> bool:
    """Whether the map tasks keep their valid events for per-event work (quantile sketches, conversion hits)."""
    return bool(analysis_type.quantile_metrics or analysis_type.conversion_metrics)


def _extra_returns(analysis_type: AnalysisType) -> int:
    return int(bool(analysis_type.quantile_metrics)) + int(bool(analysis_type.conversion_metrics))


_SKIPPED_STATS = {"rows": 0, "unmatched": 0, "abs": [], "rounded": 0, "outside": 0, "filtered": 0}


def _read_split(split: SourcePart, analysis_type: AnalysisType, variants: dict[str, list[str]], hour: str,
                options: JobOptions, assignments: pa.Table | None,
                preread: pa.Table | InputDataError | None) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """One split's valid events (joined to assignments in that mode), quarantined rows and stats; a split that
    cannot be read raises, or with ``skip_corrupt`` is skipped (no rows, its stats say why)."""
    try:
        if isinstance(preread, InputDataError):
            raise preread
        read = read_part(split, required_columns(analysis_type, options.population), analysis_type.unit_column,
                         options.logs_storage_options, _dictionary_columns(analysis_type),
                         _text_columns(analysis_type), preread)
    except InputDataError as err:
        if not options.skip_corrupt:
            raise
        return pa.table({}), QUARANTINE.empty_table(), {**_SKIPPED_STATS, "skipped": str(err)}
    table = read.table
    valid, quarantined, rounded = validate_events_counted(table, analysis_type, variants, split.label, hour,
                                                          options.population)
    unmatched = 0
    if options.population == "assignment" and valid.num_rows:
        valid, unmatched = join_assignments(valid, assignments if assignments is not None else pa.table({}))
    # exact sum |value| of the events per metric: bounds every sum the hour makes of them (rayab.aggregate.sum_bounds)
    totals = abs_totals(np.column_stack([np.asarray(valid.column(m), np.int64) for m in analysis_type.metric_names])
                        if valid.num_rows and analysis_type.metric_names else np.zeros((0, 0), np.int64))
    stats = {"rows": table.num_rows, "skipped": "", "unmatched": unmatched, "abs": totals, "rounded": rounded,
             "outside": read.rows_outside_hour, "filtered": read.rows_filtered,
             "quarantined_units": quarantined_unit_ids(table, quarantined.column("row_index"),
                                                       analysis_type.unit_column)}
    return valid, quarantined, stats


def _concat_events(tables: Sequence[pa.Table]) -> pa.Table:
    """The valid events of a map task's splits as one table. Splits of different formats can type a column apart
    (a dictionary from Parquet, plain text from CSV, int32 against int64): such columns are unified first.

    >>> a = pa.table({"v": pa.array(["x"]).dictionary_encode(), "n": pa.array([1], pa.int32())})
    >>> _concat_events([a, pa.table({"v": ["y"], "n": [2]})]).to_pydict()
    {'v': ['x', 'y'], 'n': [1, 2]}
    """
    if len(tables) <= 1:
        return tables[0] if tables else pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        plain = [pa.table({name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
                           for name, col in zip(t.column_names, t.columns, strict=True)}) for t in tables]
        return pa.concat_tables(plain, promote_options="permissive")


def _map_task(splits: Sequence[SourcePart], analysis_type: AnalysisType, variants: dict[str, list[str]],
              n_shards: int, hour: str, options: JobOptions, assignments: pa.Table | None,
              prereads: Sequence[pa.Table | InputDataError | None]) -> list[Any]:
    """:func:`map_task`'s work; with quantile or conversion metrics the valid rows come last."""
    cpu = time.process_time()
    valid_tables, quarantines, stats = [], [], []
    for split, preread in zip(splits, prereads, strict=True):
        valid, quarantined, split_stats = _read_split(split, analysis_type, variants, hour, options, assignments,
                                                      preread)
        if valid.num_rows:
            valid_tables.append(valid)
        quarantines.append(quarantined)
        stats.append(split_stats)
    valid = _concat_events(valid_tables)
    del valid_tables
    pieces = (event_unit_ids(valid, analysis_type, n_shards) if valid.num_rows else
              [UnitIdRows.empty(len(metric_columns(analysis_type))) for _ in range(n_shards)])
    stats[0]["work"] = _work(pieces, cpu, sum(s["rows"] for s in stats))
    quarantine = quarantines[0] if len(quarantines) == 1 else pa.concat_tables(quarantines)
    return [*pieces, quarantine, stats, *([valid] if _keeps_events(analysis_type) else [])]


def _work(pieces: Sequence[UnitIdRows], cpu_started: float, events: int) -> dict[str, Any]:
    """Where a map task ran and what it cost, read and shipped: node, CPU seconds, events, unit rows and bytes."""
    return {"node": ray.get_runtime_context().get_node_id(), "cpu_s": time.process_time() - cpu_started,
            "events": events, "unit_rows": sum(p.num_rows for p in pieces), "bytes": sum(p.nbytes for p in pieces)}


@ray.remote(max_retries=3)
def units_task(first_assignments: pa.Table, analysis_type: AnalysisType,
               n_shards: int) -> list[UnitIdRows] | UnitIdRows:
    """The ``units`` metric of the hour (each unit first assigned in it counts once), as S pieces (S returns)."""
    pieces = assignment_unit_ids(first_assignments, analysis_type, n_shards)
    return pieces if n_shards > 1 else pieces[0]


@ray.remote(max_retries=3)
def shard_task(analysis_type: AnalysisType, salts: dict[str, str], covariates: Covariates | None,
               assigned_keys: dict[str, Any] | None, shard: tuple[int, int], split_stats: list[Any],
               max_partial_bytes: int, *pieces: UnitIdRows) -> tuple[CellSums | UnitRows, dict[str, Any]]:
    """One shard's partial from the pieces every map task routed to it, and its counts: the exact
    ``sum |value|`` of the unit rows it summed per metric column (the driver checks them before the commit), the
    events of units never assigned (log mode), rows merged and kept, and the units routed here all of whose events
    of the hour were quarantined (``split_stats``: the refs of the map tasks' stats, which carry the unit ids of
    their quarantined rows; the pieces already wait for the same tasks). A partial bigger than
    ``max_partial_bytes`` is not built: the shard returns its merged rows and its cells per experiment
    (``exp_cells``), and the reducer sums the hour range by range (:mod:`rayab.hourly.range_sums`)."""
    cpu = time.process_time()
    stats: list[list[dict[str, Any]]] = ray.get(split_stats)
    quarantined = [s["quarantined_units"] for task in stats for s in task if len(s.get("quarantined_units", ()))]
    result = shard_partial_ids(pieces, analysis_type, salts, covariates, assigned_keys, quarantined, shard,
                               max_partial_bytes)
    counts = {"abs": result.abs_totals, "unmatched": result.unmatched, "rows_in": result.rows_in,
              "rows_out": result.rows_out, "node": ray.get_runtime_context().get_node_id(),
              "cpu_s": time.process_time() - cpu, "partial_bytes": result.shipped.nbytes,
              "units_quarantined": result.units_quarantined}
    if result.rows is not None:
        counts["exp_cells"] = experiment_cells(result.rows.cells)
    return result.shipped, counts


@ray.remote(num_cpus=0, max_restarts=2, max_task_retries=5)
class ReducerActor:
    """Merges an hour's partials and commits them; gets everything in one call, so a retry after a restart
    starts from scratch and never commits half an hour.

    It needs no CPU (it waits on partials and writes), so :func:`run_hour` places it next to the driver, on the
    head node of a ``ray job submit`` (which schedules no tasks): a lost worker node does not take it along.

    ``commit_delay`` (seconds) waits before the first write: fault tests use it to kill the actor mid-commit.
    """

    def __init__(self, commit_delay: float = 0.0, pause_after: str = "", pause_marker: str = "") -> None:
        self.commit_delay = commit_delay
        self.pause_after = pause_after
        self.pause_marker = pause_marker

    def _fault_point(self, step: str) -> None:
        """Fault injection for tests: after the ``step`` commit, touch ``pause_marker`` and wait, so a test can
        kill the driver between two commits (set by ``RAYAB_FAULT_PAUSE_AFTER`` = ``agg`` or ``quarantine``)."""
        if self.pause_after != step:
            return
        if self.pause_marker:
            with open(self.pause_marker, "w", encoding="utf-8") as marker:
                marker.write(step)
        time.sleep(3600)

    @staticmethod
    def _merge_as_they_arrive(analysis_type: AnalysisType, partial_refs: list[Any]) -> CellSumsBuilder:
        """The sum of the shards' partials, folded in place into one running total in the order they finish: the
        reducer holds that total and one partial at a time, whatever the number of shards (the shards that
        shipped rows instead are left to the range tasks)."""
        builder = CellSumsBuilder(metric_columns(analysis_type), analysis_type.n_replicates)
        pending = list(partial_refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            part: CellSums = ray.get(done[0])
            # proven: run_hour checked the hour's totals (_check_totals) before asking for the commit
            builder.add_block(part.keys, part.n_events, part.raw, part.reps, proven=True)
            del part
        return builder

    def commit_hour(self, warehouse: Warehouse, analysis_type: AnalysisType, hour: str,
                    partial_refs: list[Any], quarantine_refs: list[Any],
                    manifest: dict[str, Any], sketch_refs: list[Any] | None = None,
                    hit_refs: list[Any] | None = None, plan: RangePlan | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        row_shards = set(plan.row_shards) if plan is not None else set()
        merged = self._merge_as_they_arrive(analysis_type, [r for i, r in enumerate(partial_refs)
                                                            if i not in row_shards])
        row_refs = [partial_refs[i] for i in sorted(row_shards)]
        key_names = ("exp_id", "variant_id", *analysis_type.dimensions)
        seen = {"cells": 0, "units": 0, "passes": 0}

        def experiment_tables() -> Iterator[pa.Table]:
            # the hour's rows one experiment (one partition) at a time, in key order: never all of them at once
            # (with a plan, computed again on every pass: the range tasks run once per pass)
            first_pass = not seen["passes"]
            seen["passes"] += 1
            empty = True
            for sums in hour_sums_by_experiment(merged, row_refs, plan, analysis_type, key_names):
                empty = False
                if first_pass:
                    seen["cells"] += len(sums.keys)
                    seen["units"] += int(sums.raw["units"].sum())
                yield hour_table(sums, hour, analysis_type)
            if empty:
                yield hour_table(merged.result(key_names), hour, analysis_type)

        quarantined = pa.concat_tables([q for q in ray.get(quarantine_refs) if q.num_rows] or
                                       [QUARANTINE.empty_table()])
        # Each table's commit is atomic, the three together are not: every row carries the id of the commit it
        # belongs to and the manifest row names it, so a crash between the commits is visible to every reader.
        sketches = _sketch_rows(analysis_type, hour, sketch_refs)
        hits = [merge_hits(ray.get(hit_refs), hour)] if analysis_type.conversion_metrics and hit_refs else []
        commit_id = commit_digest(chain(experiment_tables(), [quarantined, *sketches, *hits]),
                                  _content_counts(manifest))
        quarantined = with_commit_id(quarantined, commit_id)
        if self.commit_delay:
            time.sleep(self.commit_delay)
        # data first, manifest last: a crash in between leaves the hour without a matching manifest row. Every
        # experiment's partition is one file, written in parallel as the rows are built; one Delta commit swaps them
        write_partitions(warehouse, analysis_type.table, (with_commit_id(t, commit_id) for t in experiment_tables()),
                         ["exp_id", "hour"], {"hour": hour})
        for rows in sketches:  # quantile sketches, partitioned like agg_<type>, with the same commit id
            replace_partitions(warehouse, sketch_table(analysis_type), with_commit_id(rows, commit_id),
                               ["exp_id", "hour"], {"hour": hour})
        for rows in hits:  # the hour's qualifying units, then every experiment's conversion counts from all hours
            replace_partitions(warehouse, hits_table(analysis_type), with_commit_id(rows, commit_id),
                               ["exp_id", "hour"], {"hour": hour})
            refresh_conversions(warehouse, analysis_type, dict(zip(manifest["exp_ids"], manifest["bootstrap_salts"],
                                                                   strict=True)), hour)
        self._fault_point("agg")
        replace_partitions(warehouse, QUARANTINE_TABLE, quarantined, PARTITIONS["_quarantine"],
                           {"analysis_type": analysis_type.name, "hour": hour})
        self._fault_point("quarantine")
        written = partition_bytes(warehouse, analysis_type.table, {"hour": hour})
        if sketches:
            written += partition_bytes(warehouse, sketch_table(analysis_type), {"hour": hour})
        reasons = Counter(quarantined.column("reason").to_pylist())
        manifest = {**manifest, "rows_quarantined": quarantined.num_rows, "cells": seen["cells"],
                    "units": seen["units"],
                    "bytes_written": written, "quarantine_reasons": json.dumps(dict(reasons), sort_keys=True),
                    "committed_at": datetime.now(UTC), COMMIT_ID: commit_id}
        manifest["seconds"] = json.dumps({**json.loads(manifest["seconds"]),
                                          "commit": round(time.perf_counter() - started, 3)})
        append_rows(warehouse, MANIFEST_TABLE, pa.Table.from_pylist([manifest], schema=MANIFEST))
        return {**manifest, "committed_at": manifest["committed_at"].isoformat()}


def _sketch_rows(analysis_type: AnalysisType, hour: str, sketch_refs: list[Any] | None) -> list[pa.Table]:
    """The hour's ``qsk_<type>`` rows (one table, empty list without quantile metrics): every split's sketches
    summed, in the order of the splits (the sum is exact, so the order does not matter)."""
    if not analysis_type.quantile_metrics:
        return []
    parts: list[HourSketches] = ray.get(sketch_refs or [])
    merged = HourSketches.total([HourSketches.zero(analysis_type), *parts])
    return [merged.to_table(hour, analysis_type)]


# manifest fields that describe the run or how its input was laid out, not what it committed: left out of the
# commit id, so the same events give the same bytes whether they come in one file or three, from S3 or a local copy
# (and what the source says of itself: a query's text, a table's version, rows of other hours in a flat folder)
_NOT_CONTENT = frozenset({"run_id", "code_version", "seconds", "committed_at", "input_files", "input_sizes",
                          "input_source", "rows_outside_hour", "rows_filtered"})


def _content_counts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What of the manifest row goes into the commit id (skipped files by their number).

    >>> _content_counts({"run_id": "r1", "rows_read": 7, "input_files": ["/a/x.parquet"], "skipped_files": ["/b"]})
    {'rows_read': 7, 'skipped_files': 1}
    """
    return {k: len(v) if k == "skipped_files" and isinstance(v, list) else v for k, v in manifest.items()
            if k not in _NOT_CONTENT}


def new_reducer(commit_delay: float = 0.0, max_restarts: int = 2) -> Any:
    """A reducer on the driver's node (hard affinity: it needs no CPU, so a CPU-less head can host it, and it lives
    as long as the driver; with soft affinity Ray sometimes placed it on a worker node, whose loss then took it)."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor_class: Any = ReducerActor
    return actor_class.options(scheduling_strategy=here, max_restarts=max_restarts).remote(
        commit_delay, os.environ.get("RAYAB_FAULT_PAUSE_AFTER", ""), os.environ.get("RAYAB_FAULT_MARKER", ""))


def run_hour(
    config: Config,
    hour: str,
    logs_root: str | None,
    warehouse: Warehouse,
    *,
    analysis_types: Sequence[str] | None = None,
    n_shards: int = 2,
    skip_corrupt: bool = False,
    reducer: Any = None,
    logs_storage_options: Mapping[str, str] | None = None,
    population: Population = "log",
    progress: ProgressFn | None = None,
    allow_empty: bool = False,
    map_task_bytes: int = TASK_BYTES,
    max_partial_bytes: int = PARTIAL_BYTES,
) -> list[HourSummary]:
    """Aggregate one hour of logs for every (or the named) analysis type and commit it; Ray must be initialised.

    ``logs_root`` is a root (``.../date=YYYY-MM-DD/hour=HH/``) or a URL template with ``{date}`` and ``{hour}``,
    read for the analysis types without a ``source`` of their own (:mod:`rayab.model.source`); it may be ``None``
    when every analysis type run has one.
    ``population="assignment"`` joins unit-only events with the ``assignment`` table. ``progress`` receives one
    line per stage step (e.g. :func:`rayab.aggregate.summary.print_progress`).

    An hour with no file to read, or whose files hold no row, raises :class:`~rayab.errors.MissingInputError` and
    commits nothing unless ``allow_empty`` (the hour really had no events: it commits an empty partition).
    ``map_task_bytes`` bounds the input bytes one map task reads (:mod:`rayab.hourly.task_groups`), and
    ``max_partial_bytes`` the partial a shard builds whole (a bigger hour is summed range by range,
    :mod:`rayab.hourly.range_sums`); they change speed and memory, never the result.
    """
    parse_hour(hour)
    if n_shards < 1:
        from rayab.errors import ValidationError

        raise ValidationError("shards", n_shards, "must be at least 1")
    made: list[Any] = [reducer] if reducer is not None else []

    def reducer_now() -> Any:
        # made once, right after the first hour's tasks are submitted: those take the workers a fresh Ray has
        # started already, and the reducer's own worker starts while they run instead of holding one of them
        if not made:
            made.append(new_reducer())
        return made[0]

    options = JobOptions(population, skip_corrupt, logs_storage_options, allow_empty, map_task_bytes,
                         max_partial_bytes)
    summaries = []
    for at in config.analysis_types:
        if analysis_types is not None and at.name not in analysis_types:
            continue
        summaries.append(_run_analysis_hour(config, at, hour, logs_root, warehouse, n_shards, options, reducer_now,
                                            progress))
    return summaries


def _first_assignments(warehouse: Warehouse, exps: Sequence[Experiment], hour: str,
                       population: Population) -> tuple[pa.Table, pa.Table | None]:
    """Assignments first made in the hour (for ``units``), and every assignment made before its end: in join mode
    to join with, in log mode (only ``exp_id`` and ``unit_id``) to count the events of units never assigned."""
    start = parse_hour(hour)
    end = start + timedelta(hours=1)
    if not exps:
        return pa.table({}), None
    ids = [e.exp_id for e in exps]
    rows = read_rows(warehouse, ASSIGNMENT_TABLE, where={"exp_id": ids})
    if rows.num_rows == 0:
        return rows, rows
    at = rows.column("assigned_at")
    before_end = pc.less(at, pa.scalar(end, at.type))
    in_hour = pc.and_(pc.greater_equal(at, pa.scalar(start, at.type)), before_end)
    known = rows.filter(before_end)
    return rows.filter(in_hour), known if population == "assignment" else known.select(["exp_id", "unit_id"])


def _assigned_keys(plan: _Plan, options: JobOptions) -> dict[str, Any] | None:
    """Log mode: the sorted hash keys of every unit assigned by the end of the hour, per experiment."""
    if options.population != "log" or not plan.exps:
        return None
    if plan.joinable is None or plan.joinable.num_rows == 0:
        return {}
    return assignment_keys(plan.joinable, {e.exp_id: e.bootstrap_salt for e in plan.exps})


@dataclass(frozen=True)
class _Plan:
    """What one (analysis type, hour) reads: experiments, files and parts, first assignments."""

    exps: tuple[Experiment, ...]
    files: list[LogFile]
    splits: list[SourcePart]
    firsts: pa.Table
    joinable: pa.Table | None
    listing: LogListing
    source: dict[str, Any]


def hour_input(at: AnalysisType, hour: str, logs_root: str | None,
               storage_options: Mapping[str, str] | None = None) -> HourInput:
    """What the hour of ``at`` reads: its own ``source``, else the ``--logs`` files."""
    if at.source is not None:
        return plan_hour(at.source, hour, storage_options)
    if not logs_root:
        from rayab.errors import ValidationError

        raise ValidationError("logs", "", f"is required: analysis type {at.name} has no source in the config")
    return plan_hour(default_source(logs_root), hour, storage_options)


def _plan(config: Config, at: AnalysisType, hour: str, logs_root: str | None, warehouse: Warehouse,
          options: JobOptions) -> _Plan:
    exps = experiments_for_hour(config, at, hour)
    planned = hour_input(at, hour, logs_root, options.logs_storage_options)
    listing = planned.listing
    if not listing.files and not options.allow_empty:
        where = "check the source in the config" if at.source is not None else "check --logs"
        raise MissingInputError(f"hour {hour} of {at.name} not committed: no input file to read at "
                                f"{listing.describe()} (formats read: {FORMATS_READ}); {where}, or pass "
                                "--allow-empty if the hour really had no events")
    firsts, joinable = _first_assignments(warehouse, exps, hour, options.population)
    return _Plan(exps, listing.files, planned.parts, firsts, joinable, listing, planned.description)


def task_placements(count: int) -> list[Any]:
    """Where to run ``count`` tasks of one stage: on one node, Ray's default; on several, task ``i`` prefers the
    ``i``-th CPU slot of a list that deals each node's CPUs round-robin (soft affinity: anywhere if that node is
    gone). Ray reuses a leased worker for the next task of the same kind, so without a per-task placement the node
    whose workers start first takes most small tasks, even under ``SPREAD``."""
    nodes = [(n["NodeID"], int(n["Resources"].get("CPU", 0))) for n in ray.nodes()  # type: ignore[no-untyped-call]
             if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1]
    if len(nodes) <= 1:
        return ["DEFAULT"] * count
    slots = [node for k in range(max(c for _, c in nodes)) for node, cpus in sorted(nodes) if k < cpus]
    return [NodeAffinitySchedulingStrategy(slots[i % len(slots)], soft=True) for i in range(count)]


def _launch(plan: _Plan, at: AnalysisType, hour: str, n_shards: int, options: JobOptions, groups: list[list[int]],
            covariates: Covariates | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """Submit the map, units and shard tasks (map task ``t`` reads the splits ``groups[t]``); returns (map task
    returns, shard partial refs, shard totals refs). With quantile metrics each map task has one more return, its
    sketches (index ``n_shards + 2``)."""
    salts = ray.put({e.exp_id: e.bootstrap_salt for e in plan.exps})
    variants = ray.put({e.exp_id: [v.variant_id for v in e.variants] for e in plan.exps})
    keys = _assigned_keys(plan, options)
    assigned_keys = ray.put(keys) if keys is not None else None
    joinable = ray.put(plan.joinable) if plan.joinable is not None and options.population == "assignment" else None
    covs = ray.put(covariates) if covariates is not None else None  # shipped once per hour, shared by every task
    reads = _query_reads(plan.splits, at, options)
    map_places = task_placements(len(groups))
    maps: list[Any] = [map_task.options(num_returns=n_shards + 2 + _extra_returns(at),
                                        scheduling_strategy=place).remote(
        [plan.splits[i] for i in group], at, salts, variants, n_shards, hour, options, joinable,
        *[reads[i] for i in group])
        for group, place in zip(groups, map_places, strict=True)]
    unit_refs: Any = units_task.options(num_returns=n_shards).remote(plan.firsts, at, n_shards)
    units: list[Any] = list(unit_refs) if n_shards > 1 else [unit_refs]
    shard_places = task_placements(n_shards)
    split_stats = [m[n_shards + 1] for m in maps]
    shards = [shard_task.options(num_returns=2, scheduling_strategy=shard_places[s]).remote(
        at, salts, covs, assigned_keys, (s, n_shards), split_stats, options.max_partial_bytes,
        *[m[s] for m in maps], units[s])
        for s in range(n_shards)]
    return maps, [p for p, _ in shards], [t for _, t in shards]


def _manifest(plan: _Plan, at: AnalysisType, hour: str, run_id: str, stats: list[dict[str, Any]],
              options: JobOptions, seconds: dict[str, float], shard_unmatched: int = 0,
              units_quarantined: int = 0) -> dict[str, Any]:
    """The manifest row, less what the reducer adds (quarantine counts, cells, units, bytes, commit time);
    ``shard_unmatched`` counts the events of unassigned units the shards found (log mode)."""
    return {
        "analysis_type": at.name, "hour": hour, "run_id": run_id, "code_version": rayab.__version__,
        "n_replicates": at.n_replicates, "exp_ids": [e.exp_id for e in plan.exps],
        "bootstrap_salts": [e.bootstrap_salt for e in plan.exps], "input_files": [f.path for f in plan.files],
        "input_sizes": [f.size for f in plan.files], "rows_read": int(sum(s["rows"] for s in stats)),
        "rows_unmatched": int(sum(s["unmatched"] for s in stats)) + shard_unmatched, "population": options.population,
        "values_rounded": int(sum(s["rounded"] for s in stats)),
        "skipped_files": sorted({s.file_path for s, st in zip(plan.splits, stats, strict=True) if st["skipped"]}),
        "seconds": json.dumps(seconds),
        "input_source": json.dumps(plan.source, sort_keys=True, default=str),
        "rows_outside_hour": int(sum(s.get("outside", 0) for s in stats)),
        "rows_filtered": int(sum(s.get("filtered", 0) for s in stats)),
        "ignored_files": [f.path for f in plan.listing.ignored], "allow_empty": options.allow_empty,
        "units_quarantined": units_quarantined,
    }


def _run_analysis_hour(config: Config, at: AnalysisType, hour: str, logs_root: str | None, warehouse: Warehouse,
                       n_shards: int, options: JobOptions, reducer_of: Callable[[], Any],
                       progress: ProgressFn | None) -> HourSummary:
    clock = time.perf_counter()
    label = f"{at.name} {hour}"
    run_id = uuid.uuid4().hex
    plan = _plan(config, at, hour, logs_root, warehouse, options)
    covariates = load_covariates(warehouse, at, [e.exp_id for e in plan.exps]) if at.cuped else None
    groups = group_splits(split_sizes(plan.splits), _cluster_cpus(), options.map_task_bytes)
    seconds = {"plan": round(time.perf_counter() - clock, 3)}
    if progress:
        progress(f"[{label}] plan: {len(plan.files)} files, {len(plan.splits)} splits in {len(groups)} map tasks, "
                 f"{len(plan.exps)} "
                 f"experiments, {plan.firsts.num_rows} first assignments, S={n_shards}, B={at.n_replicates}")
    if progress and plan.listing.ignored:
        progress(f"[{label}] ignored {len(plan.listing.ignored)} files (formats read: {FORMATS_READ}): "
                 + ", ".join(f"{f.path} ({f.reason})" for f in plan.listing.ignored[:10]))
    maps, shards, shard_totals = _launch(plan, at, hour, n_shards, options, groups, covariates)
    reducer = reducer_of()
    stats = _wait_stats([m[n_shards + 1] for m in maps], groups, label, progress)
    seconds["read"] = round(time.perf_counter() - clock - sum(seconds.values()), 3)
    if not options.allow_empty and sum(s["rows"] for s in stats) == 0:
        raise MissingInputError(f"hour {hour} of {at.name} not committed: its {len(plan.files)} input files at "
                                f"{plan.listing.describe()} hold no row; pass --allow-empty if the hour really had "
                                "no events")
    _wait_shards(shards, label, progress)
    shard_counts: list[dict[str, Any]] = ray.get(shard_totals)
    _check_totals(at, hour, stats, shard_counts)
    seconds["shards"] = round(time.perf_counter() - clock - sum(seconds.values()), 3)
    manifest = _manifest(plan, at, hour, run_id, stats, options, seconds,
                         sum(int(c["unmatched"]) for c in shard_counts),
                         sum(int(c.get("units_quarantined", 0)) for c in shard_counts))
    sketch_refs = [m[n_shards + 2] for m in maps] if at.quantile_metrics else None
    hit_refs = ([m[n_shards + 2 + int(bool(at.quantile_metrics))] for m in maps] if at.conversion_metrics
                else None)
    plan_ranges = range_plan(shard_counts, len(metric_columns(at)), at.n_replicates, options.max_partial_bytes,
                             _cluster_cpus())
    if progress and plan_ranges is not None:
        progress(f"[{label}] summing {len(plan_ranges.bounds) + 1} ranges of experiments in "
                 f"{len(plan_ranges.task_ranges())} range tasks (the shards' partials would pass "
                 f"{options.max_partial_bytes / 2**20:.0f} MiB)")
    result = _commit(reducer, warehouse, at, hour, shards, [m[n_shards] for m in maps], manifest, sketch_refs,
                     hit_refs=hit_refs, plan=plan_ranges)
    summary = HourSummary(at.name, hour, run_id, len(plan.files), result["rows_read"], result["rows_quarantined"],
                          result["units"], result["cells"], result["bytes_written"], result["exp_ids"],
                          result["skipped_files"],
                          {**json.loads(result["seconds"]), "total": round(time.perf_counter() - clock, 3)},
                          result["rows_unmatched"], json.loads(result["quarantine_reasons"]),
                          {f.path: f.reason for f in plan.listing.ignored}, result["values_rounded"],
                          _work_summary(stats, shard_counts, result))
    if progress:
        progress(f"[{label}] committed: {summary.line()}")
    return summary


def _work_summary(stats: Sequence[Mapping[str, Any]], shard_counts: Sequence[Mapping[str, Any]],
                  result: Mapping[str, Any]) -> dict[str, Any]:
    """Per node: map tasks, events read, unit rows shipped and CPU seconds, shard tasks, unit rows merged and CPU
    seconds; and the hour's totals (what the scaling model of the README is computed from)."""
    nodes: dict[str, dict[str, float]] = {}
    zero = {"map_tasks": 0, "events": 0, "map_cpu_s": 0.0, "shard_tasks": 0, "shard_rows": 0, "shard_cpu_s": 0.0}
    for st in stats:
        work = st.get("work")
        if work:
            node = nodes.setdefault(work["node"], dict(zero))
            node["map_tasks"] += 1
            node["events"] += work["events"]
            node["map_cpu_s"] += work["cpu_s"]
    for counts in shard_counts:
        node = nodes.setdefault(counts["node"], dict(zero))
        node["shard_tasks"] += 1
        node["shard_rows"] += counts["rows_in"]
        node["shard_cpu_s"] += counts["cpu_s"]
    return {"nodes": nodes,
            "unit_rows_shuffled": int(sum(st["work"]["unit_rows"] for st in stats if st.get("work"))),
            "bytes_shuffled": int(sum(st["work"]["bytes"] for st in stats if st.get("work"))),
            "unit_rows_merged": int(sum(c["rows_out"] for c in shard_counts)),
            "partial_bytes": int(sum(c["partial_bytes"] for c in shard_counts)),
            "commit_s": float(json.loads(result["seconds"]).get("commit", 0.0))}


def _cluster_cpus() -> int:
    """The CPUs of the running Ray cluster (what the map tasks are grouped for)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]


def _wait_stats(refs: list[Any], groups: Sequence[Sequence[int]], label: str,
                progress: ProgressFn | None) -> list[dict[str, Any]]:
    """The map tasks' per-split stats in split order (task ``t`` read the splits ``groups[t]``), reporting progress
    as tasks finish; a failed split names its file."""
    bar = StageProgress("read+validate+collapse", len(refs), progress, label)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            try:
                bar.advance(rows=sum(s["rows"] for s in ray.get(ref)))
            except RayTaskError as err:
                cause = err.as_instanceof_cause()  # type: ignore[no-untyped-call]
                if isinstance(cause, InputDataError):
                    # the task's own message (naming the file), not the worker's traceback around it
                    original = getattr(err, "cause", None)
                    text = str(original) if isinstance(original, InputDataError) else str(cause)
                    raise InputDataError(f"hour not committed: {text}") from None
                raise
    stats: list[dict[str, Any]] = [{} for _ in range(sum(len(g) for g in groups))]
    for group, task_stats in zip(groups, ray.get(refs) if refs else [], strict=True):
        for i, split_stats in zip(group, task_stats, strict=True):
            stats[i] = split_stats
    return stats


def _check_totals(at: AnalysisType, hour: str, stats: list[dict[str, Any]],
                  shard_counts: list[dict[str, Any]]) -> None:
    """Refuse the hour if a sum could have wrapped int64: the events' totals bound the per-unit collapse of the map
    tasks, the unit rows' totals (CUPED columns included) every sum after it."""
    events: dict[str, int] = {}
    for st in stats:
        if st["abs"]:
            add_totals(events, at.metric_names, st["abs"])
    units: dict[str, int] = {}
    for counts in shard_counts:
        add_totals(units, metric_columns(at), counts["abs"])
    check_hour_totals({n: max(events.get(n, 0), units.get(n, 0)) for n in {*events, *units}}, hour, at.name)


def _wait_shards(refs: list[Any], label: str, progress: ProgressFn | None) -> None:
    bar = StageProgress("shards (weights and sums)", len(refs), progress, label)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        bar.advance(len(done))


def _commit(reducer: Any, warehouse: Warehouse, at: AnalysisType, hour: str, shards: list[Any],
            quarantine_refs: list[Any], manifest: dict[str, Any], sketch_refs: list[Any] | None = None,
            attempts: int = 4, hit_refs: list[Any] | None = None, plan: RangePlan | None = None) -> dict[str, Any]:
    """The reducer's commit; a reducer that is only unreachable for a while (its node died, it is restarting) gets
    the whole call again, a dead one fails the hour. A commit is all-or-nothing, so repeating it is safe."""
    for attempt in range(attempts):
        try:
            call = reducer.commit_hour.remote(warehouse, at, hour, shards, quarantine_refs, manifest, sketch_refs,
                                              hit_refs, plan)
            result: dict[str, Any] = ray.get(call)
            return result
        except ActorUnavailableError as err:
            if attempt == attempts - 1:
                raise StorageError(f"hour {hour} of {at.name} not committed: the reducer stayed unavailable "
                                   f"({str(err)[:300]}); re-run the hour") from None
            time.sleep(2.0 * (attempt + 1))
        except RayActorError as err:
            raise StorageError(f"hour {hour} of {at.name} not committed: the reducer died and was not restarted "
                               f"({type(err).__name__}: {str(err)[:300]}); re-run the hour") from None
    raise AssertionError("unreachable")
