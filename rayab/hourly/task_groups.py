"""Which splits of an hour each map task reads: several at once, so a unit's events spread over many files collapse
to one (cell, unit) row per task instead of one per file.

A map task collapses everything it reads in one pass, so the fewer tasks an hour has, the fewer unit rows the
shards merge (each unit has at most one row per task and cell). Fewer tasks also mean less parallelism and more
memory per task, so :func:`group_splits` takes as few tasks as a byte budget per task allows, but never fewer than
the cluster's CPUs and always a multiple of them (no CPU waits on a last, lone task), and balances the tasks' bytes
(largest split first, into the lightest task). A split whose size is unknown (a query's slice) gets a task of its
own. Each task's splits keep their order in the plan, and the tasks are ordered by their first split, so the
grouping is a pure function of the plan, the CPU count and the budget.

Grouping never changes a result: the shards sum int64 values per (cell, unit), whatever task a row came from.

>>> group_splits([10, 10, 10, 10, 10, 10], cpus=2, task_bytes=100)
[[0, 2, 4], [1, 3, 5]]
>>> group_splits([10, 10, 10, 10, 10, 10], cpus=2, task_bytes=25)
[[0, 4], [1, 5], [2], [3]]
>>> group_splits([50, None, 10, 10], cpus=1, task_bytes=100)
[[0, 2, 3], [1]]
"""

from __future__ import annotations

from collections.abc import Sequence

from rayab.storage.sources import SourcePart

__all__ = ["TASK_BYTES", "group_splits", "split_sizes"]

TASK_BYTES = 128 * 2**20
"""Input bytes (as stored, compressed) one map task reads at most, unless a split alone is bigger. With the
benchmark's Parquet (about 19 bytes per event) that is about 6.7M events; a worker's private peak measured 1.65 GB
(10M-event hour, tasks of 4 files) and 1.79 GB (30M) at S = 2 (``scripts/bench_memory.py``)."""


def split_sizes(splits: Sequence[SourcePart]) -> list[int | None]:
    """Each split's share of its file's stored bytes (a file cut into row-group ranges shares its size evenly), or
    None for a split that is not a file (a query's slice)."""
    parts_of: dict[str, int] = {}
    for s in splits:
        if s.split is not None:
            parts_of[s.split.file.path] = parts_of.get(s.split.file.path, 0) + 1
    return [None if s.split is None else max(1, s.split.file.size // parts_of[s.split.file.path]) for s in splits]


def group_splits(sizes: Sequence[int | None], cpus: int, task_bytes: int = TASK_BYTES) -> list[list[int]]:
    """The indices of the splits each map task reads (see the module's docstring)."""
    alone = [[i] for i, size in enumerate(sizes) if size is None]
    known = [(i, int(size)) for i, size in enumerate(sizes) if size is not None]
    if not known:
        return alone
    cpus = max(1, cpus)
    total = sum(size for _, size in known)
    n_tasks = max(-(-total // max(1, task_bytes)), 1)
    n_tasks = min(len(known), -(-n_tasks // cpus) * cpus)
    loads = [0] * n_tasks
    groups: list[list[int]] = [[] for _ in range(n_tasks)]
    for i, size in sorted(known, key=lambda item: (-item[1], item[0])):
        task = min(range(n_tasks), key=lambda t: (loads[t], t))
        loads[task] += size
        groups[task].append(i)
    return sorted([sorted(g) for g in groups] + alone)
