"""The reducer's side of hours too big for whole partials (:mod:`rayab.aggregate.partial_ranges`).

Shards whose partial would pass the budget ship their merged unit rows and report their cells per experiment; the
driver cuts the hour's experiments into ranges from those counts (:func:`range_plan`) and the reducer has each
range summed from every such shard's rows by a few streaming range tasks (:func:`range_sums_task`, one yield per
range, at most two ahead of the reducer), adding the whole partials of the other shards where a range has them.
The reducer then holds one range at a time, the object store at most a few, whatever the hour's size.

>>> plan = range_plan([{"rows_in": 3}, {"exp_cells": {"a": 2, "b": 2, "c": 1}}], n_metrics=1, n_replicates=0,
...                   budget=32, cpus=2)
>>> plan.row_shards, plan.bounds, plan.task_ranges()
((1,), ('b', 'c'), [[(None, 'b'), ('b', 'c')], [('c', None)]])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from rayab.aggregate.cell_sums import CellSums, CellSumsBuilder, first_key_spans
from rayab.aggregate.partial_ranges import partial_bytes, plan_ranges, range_rows, ranges_of
from rayab.aggregate.shards import partial_from_unit_rows
from rayab.aggregate.unit_rows import UnitRows
from rayab.model import AnalysisType

__all__ = ["RangePlan", "by_first_key", "hour_sums_by_experiment", "range_plan", "range_sums_task"]

AHEAD = 2
"""Ranges a range task may compute ahead of the reducer (streaming back-pressure)."""


@dataclass(frozen=True)
class RangePlan:
    """Which shards shipped rows (their index among the hour's shards), where the ranges start, and how many
    range tasks sum them (consecutive ranges each)."""

    row_shards: tuple[int, ...]
    bounds: tuple[str, ...]
    tasks: int

    def task_ranges(self) -> list[list[tuple[str | None, str | None]]]:
        """The ranges of each range task, in order."""
        ranges = ranges_of(self.bounds)
        per_task = -(-len(ranges) // self.tasks)
        return [ranges[i:i + per_task] for i in range(0, len(ranges), per_task)]


def range_plan(shard_counts: Sequence[Mapping[str, Any]], n_metrics: int, n_replicates: int, budget: int,
               cpus: int) -> RangePlan | None:
    """The plan of an hour from its shards' counts (``exp_cells`` marks a shard that shipped rows); ``None`` when
    every shard shipped its whole partial."""
    rows = tuple(i for i, counts in enumerate(shard_counts) if "exp_cells" in counts)
    if not rows:
        return None
    bounds = plan_ranges([shard_counts[i]["exp_cells"] for i in rows],
                         partial_bytes(1, n_metrics, n_replicates), budget)
    return RangePlan(rows, tuple(bounds), max(1, min(cpus, len(bounds) + 1)))


@ray.remote(max_retries=3)
def range_sums_task(analysis_type: AnalysisType, ranges: list[tuple[str | None, str | None]],
                    *parts: UnitRows) -> Iterator[CellSums]:
    """One partial per range, from every row-shipping shard's rows (a streaming generator: each range is stored
    as it is made, so the task holds one at a time)."""
    for lo, hi in ranges:
        yield partial_from_unit_rows(range_rows(parts, lo, hi), analysis_type)


def by_first_key(sums: CellSums) -> Iterator[CellSums]:
    """``sums`` (keys sorted) in pieces, one per first key, in order.

    >>> s = CellSums(("exp_id", "variant_id"), (("a", "x"), ("a", "y"), ("b", "x")), np.array([1, 2, 3]),
    ...              {"m": np.array([1, 2, 3])}, {"m": np.zeros((3, 1), np.int64)})
    >>> [(p.keys, p.n_events.tolist()) for p in by_first_key(s)]
    [((('a', 'x'), ('a', 'y')), [1, 2]), ((('b', 'x'),), [3])]
    """
    for start, end in first_key_spans(sums.keys):
        yield sums.take(np.arange(start, end), sums.keys[start:end])


def _joined(ranged: Iterator[CellSums], whole: Iterator[CellSums]) -> Iterator[CellSums]:
    """Two sorted streams of per-experiment sums as one, an experiment in both added."""
    a, b = next(ranged, None), next(whole, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.keys[0][0] < b.keys[0][0]):
            assert a is not None
            yield a
            a = next(ranged, None)
        elif a is None or b.keys[0][0] < a.keys[0][0]:
            yield b
            b = next(whole, None)
        else:
            yield a + b
            a, b = next(ranged, None), next(whole, None)


def hour_sums_by_experiment(builder: CellSumsBuilder, row_refs: Sequence[Any], plan: RangePlan | None,
                            analysis_type: AnalysisType, key_names: Sequence[str]) -> Iterator[CellSums]:
    """The hour's sums one experiment at a time, in order: the ``builder``'s (the whole partials folded) alone, or
    with ``plan``, each range of the rows ``row_refs`` refer to summed by range tasks, the builder's cells of the
    range added. Each call computes the ranges again (they are deterministic), so holding nothing between calls."""
    if plan is None:
        yield from builder.results_by_first_key(key_names)
        return
    chunks = plan.task_ranges()
    task: Any = range_sums_task
    streams = [task.options(_generator_backpressure_num_objects=AHEAD).remote(analysis_type, chunk, *row_refs)
               for chunk in chunks]
    for chunk, stream in zip(chunks, streams, strict=True):
        for lo, hi in chunk:
            sums: CellSums = ray.get(next(stream))  # keyed like the hour (partial_from_unit_rows' key names)
            yield from _joined(by_first_key(sums), builder.results_by_first_key(key_names, lo, hi))
            del sums
