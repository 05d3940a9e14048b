"""Compile every kernel the hourly job runs, once, so that the first hour after an install does not pay for it
(and the threaded md5 that large assignment columns use).

The compiled kernels (:mod:`rayab.aggregate.grouping`, :mod:`rayab.stats.unit_hash`, :mod:`rayab.stats.kernels`)
are cached by numba next to their source (``cache=True``): a process that finds the cache loads a kernel in
milliseconds instead of compiling it for seconds. :func:`warm_kernels` runs the map and shard steps on a tiny hour,
with the argument types the job itself passes (read-only Arrow buffers in the map tasks, int32 and int64 metric
values), so every signature is in the cache. ``scripts/install.sh`` runs it after installing
(``python -m rayab.aggregate.warm``).

>>> warm_kernels() >= 0.0
True
"""

from __future__ import annotations

import time

import pyarrow as pa

from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.unit_rows import assignment_unit_ids, event_unit_ids
from rayab.assignment.hashing import COMPILED_FROM, bucket_columns
from rayab.model import AnalysisType, Metric

__all__ = ["warm_kernels"]


def warm_kernels() -> float:
    """Run the job's compiled steps on a tiny hour (compiling or loading them); the seconds it took."""
    started = time.perf_counter()
    at = AnalysisType("warm", (Metric("clicks"),), n_replicates=4)
    firsts = pa.table({"exp_id": ["e"], "variant_id": ["a"], "unit_id": ["u1"]})
    for big in (False, True):  # metric values that fit int32 take the kernel's 32-bit multiply path
        valid = pa.table({"exp_id": ["e", "e", "e"], "variant_id": ["a", "b", "a"], "unit_id": ["u1", "u2", "u1"],
                          "clicks": [1, 2**40 if big else 2, 3]})
        pieces = [*event_unit_ids(valid, at, 2), *assignment_unit_ids(firsts, at, 2)]
        for shard in (0, 1):
            shard_partial_ids(pieces[shard::2], at, {"e": "salt"})
    # the threaded md5 of large assignment columns (rayab.assignment.hashing.bucket_columns)
    bucket_columns(("warm",), [f"u{i}" for i in range(COMPILED_FROM)], compiled=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"rayab: hourly-job kernels ready in {warm_kernels():.1f} s")
