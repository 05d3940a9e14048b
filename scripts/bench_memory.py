"""Peak memory of the hourly job's processes: per worker as the hour grows, and the reducer's as shards grow.

Each configuration runs in a fresh local Ray (2 CPUs) so high-water marks start from zero; after one run of the
hour the script reads ``VmHWM`` (peak resident set) of every Ray worker process from ``/proc``: the reducer actor
(``ray::ReducerActor``) apart from the workers that ran map and shard tasks. Hours come from :mod:`bench_data`.

* growing hours (``--sizes``, events; 2 experiments): a worker's peak must not grow with the hour, since files are
  read as row-group splits of at most 64 MB and a shard holds only its share of the (cell, unit) rows;
* growing shard counts (``--shards``) on an hour of ``--many-experiments`` experiments: the reducer adds partials
  into one running total as they arrive, so its peak must not grow with S.

    .venv/bin/python scripts/bench_memory.py --data /tmp/rayab-bench
    .venv/bin/python scripts/bench_memory.py --data /tmp/rayab-bench --sizes 1000000 3000000 --shards 2 4

>>> _hwm_mb("VmRSS:\\t  10 kB\\nVmHWM:\\t  2048 kB\\n")
2.0
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: scripts.* below

from rayab.simulate import load_test_config
from scripts.bench_data import HOUR
from scripts.bench_pipeline import Prepared, load_average, start_ray


def _hwm_mb(status: str) -> float:
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _parents() -> dict[int, int]:
    """Parent pid of every process this user can see."""
    out: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(stat.parent.name)] = int(fields[1])
    return out


def descendants(pid: int, parents: dict[int, int]) -> set[int]:
    """``pid``'s children, their children, and so on.

    >>> sorted(descendants(1, {2: 1, 3: 2, 4: 9}))
    [2, 3]
    """
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier and child not in found}
        found |= frontier
    return found


def ray_peaks() -> dict[str, float]:
    """Peak RSS in MB: the largest task worker's and the reducer's, among the processes of the Ray this script
    started (its descendants): other Ray sessions on the same machine are not counted."""
    workers, reducer = 0.0, 0.0
    for pid in descendants(os.getpid(), _parents()):
        status = Path(f"/proc/{pid}/status")
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ReducerActor" in cmdline:
            reducer = max(reducer, _hwm_mb(text))
        elif b"default_worker" in cmdline or cmdline.startswith(b"ray::"):
            workers = max(workers, _hwm_mb(text))
    return {"worker_mb": workers, "reducer_mb": reducer}


def measure(data: Prepared, n_replicates: int, n_shards: int) -> dict[str, Any]:
    """One run of the hour in a fresh Ray, and the peaks."""
    import ray

    start_ray(2)
    try:
        from rayab.hourly.job import run_hour

        config = load_test_config(data.n_experiments, n_replicates=n_replicates)
        (summary,) = run_hour(config, HOUR, data.logs, data.warehouse, n_shards=n_shards)
        peaks = ray_peaks()
    finally:
        ray.shutdown()
    return {"events": summary.rows_read, "cells": summary.cells, "shards": n_shards, "B": n_replicates,
            "partial_mb": summary.work["partial_bytes"] / n_shards / 2**20, **peaks}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--units-per-event", type=float, default=0.09)
    parser.add_argument("--files-per-million", type=float, default=0.8, help="files per million events (min 1)")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--many-experiments", type=int, default=1000)
    parser.add_argument("--many-events", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    rows = []
    for size in args.sizes:
        data = Prepared(Path(args.data), size, int(size * args.units_per_event),
                        max(1, round(size / 1e6 * args.files_per_million)))
        rows.append(("hour size", measure(data, args.replicates, 2)))
        print(rows[-1], flush=True)
    many = Prepared(Path(args.data), args.many_events, int(args.many_events * args.units_per_event),
                    max(1, round(args.many_events / 1e6 * args.files_per_million)), args.many_experiments)
    for shards in args.shards:
        rows.append(("shards", measure(many, args.replicates, shards)))
        print(rows[-1], flush=True)
    print(f"load average after: {load_average()}")
    print(f"\n{'varied':>9} {'events':>11} {'cells':>6} {'B':>4} {'S':>3} {'partial MB':>10} {'worker MB':>9} "
          f"{'reducer MB':>10}")
    for varied, r in rows:
        print(f"{varied:>9} {r['events']:>11,} {r['cells']:>6} {r['B']:>4} {r['shards']:>3} {r['partial_mb']:>10.0f} "
              f"{r['worker_mb']:>9.0f} {r['reducer_mb']:>10.0f}")


if __name__ == "__main__":
    main()
