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
import threading
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


def _kb(status: str, field: str) -> float:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _roles() -> dict[int, tuple[str, str]]:
    """``{pid: (role, status text)}`` of the task workers and the reducer of the Ray this script started (its
    descendants): other Ray sessions on the same machine are not counted."""
    out: dict[int, tuple[str, str]] = {}
    for pid in descendants(os.getpid(), _parents()):
        status = Path(f"/proc/{pid}/status")
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ReducerActor" in cmdline:
            out[pid] = ("reducer", text)
        elif b"default_worker" in cmdline or cmdline.startswith(b"ray::"):
            out[pid] = ("worker", text)
    return out


class PrivatePeaks:
    """Samples the private resident memory (``RssAnon``) of the workers and the reducer every ``interval`` s in a
    thread, keeping the largest per role. ``VmHWM`` also counts the pages of Ray's shared-memory object store a
    process has touched (a reducer that reads S partials zero-copy maps S of them), which the store reuses; the
    private peak is the memory the process itself holds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peaks = {"worker": 0.0, "reducer": 0.0, "machine": 0.0}
        self._base = machine_used_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for role, text in _roles().values():
                self.peaks[role] = max(self.peaks[role], _kb(text, "RssAnon"))
            self.peaks["machine"] = max(self.peaks["machine"], machine_used_mb() - self._base)
            self._stop.wait(self.interval)

    def __enter__(self) -> PrivatePeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def machine_used_mb(meminfo: str | None = None) -> float:
    """Memory in use on the machine, MB: ``MemTotal - MemAvailable`` (processes, the object store's shared memory,
    everything but reclaimable cache): what must fit the machine.

    >>> machine_used_mb("MemTotal:  4096 kB\nMemFree: 1 kB\nMemAvailable:  1024 kB\n")
    3.0
    """
    text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    return (_kb(text, "MemTotal") - _kb(text, "MemAvailable"))


def ray_peaks() -> dict[str, float]:
    """Peak RSS (``VmHWM``) in MB: the largest task worker's and the reducer's."""
    workers, reducer = 0.0, 0.0
    for role, text in _roles().values():
        if role == "reducer":
            reducer = max(reducer, _hwm_mb(text))
        else:
            workers = max(workers, _hwm_mb(text))
    return {"worker_mb": workers, "reducer_mb": reducer}


def measure(data: Prepared, n_replicates: int, n_shards: int, partial_mb: float | None = None) -> dict[str, Any]:
    """One run of the hour in a fresh Ray, and the peaks (``partial_mb``: the job's ``max_partial_bytes``)."""
    import ray

    start_ray(2)
    try:
        from rayab.aggregate.partial_ranges import PARTIAL_BYTES, partial_bytes
        from rayab.aggregate.partials import metric_columns
        from rayab.hourly.job import run_hour

        config = load_test_config(data.n_experiments, n_replicates=n_replicates)
        budget = PARTIAL_BYTES if partial_mb is None else int(partial_mb * 2**20)
        with PrivatePeaks() as private:
            (summary,) = run_hour(config, HOUR, data.logs, data.warehouse, n_shards=n_shards,
                                  max_partial_bytes=budget)
        peaks = {**ray_peaks(), "worker_private_mb": private.peaks["worker"],
                 "reducer_private_mb": private.peaks["reducer"], "machine_mb": private.peaks["machine"]}
    finally:
        ray.shutdown()
    return {"events": summary.rows_read, "cells": summary.cells, "shards": n_shards, "B": n_replicates,
            "experiments": data.n_experiments, "shipped_mb": summary.work["partial_bytes"] / n_shards / 2**20,
            "partial_mb": partial_bytes(summary.cells, len(metric_columns(config.analysis_types[0])),
                                        n_replicates) / 2**20,
            "seconds": float(summary.seconds.get("total", 0.0)),
            "commit_s": float(summary.seconds.get("commit", 0.0)), **peaks}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 3_000_000, 10_000_000],
                        help="events per hour of the growing hours (none: only the shard runs)")
    parser.add_argument("--units-per-event", type=float, default=0.09)
    parser.add_argument("--files-per-million", type=float, default=0.8, help="files per million events (min 1)")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--shards", type=int, nargs="*", default=[2, 4, 8],
                        help="shard counts of the many-experiment runs (none: only the growing hours)")
    parser.add_argument("--events-per-shard", type=int, default=0,
                        help="the growing hours' S: events / this, at least 2 (0: S = 2 for every size)")
    parser.add_argument("--many-experiments", type=int, default=1000)
    parser.add_argument("--many-events", type=int, default=3_000_000)
    parser.add_argument("--partial-mb", type=float, default=None,
                        help="the job's max_partial_bytes in MiB (default: the job's; a huge value: whole partials)")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    rows = []
    for size in args.sizes:
        data = Prepared(Path(args.data), size, int(size * args.units_per_event),
                        max(1, round(size / 1e6 * args.files_per_million)))
        n_shards = max(2, -(-size // args.events_per_shard)) if args.events_per_shard else 2
        rows.append(("hour size", measure(data, args.replicates, n_shards, args.partial_mb)))
        print(rows[-1], flush=True)
    if not args.shards:
        _table(rows)
        return
    many = Prepared(Path(args.data), args.many_events, int(args.many_events * args.units_per_event),
                    max(1, round(args.many_events / 1e6 * args.files_per_million)), args.many_experiments)
    for shards in args.shards:
        rows.append(("shards", measure(many, args.replicates, shards, args.partial_mb)))
        print(rows[-1], flush=True)
    _table(rows)


def _table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(f"load average after: {load_average()}")
    print("\npeak RSS (VmHWM, counts the object-store pages a process touched), peak private RSS (RssAnon), and the "
          "machine's peak use above its use before the run (MemTotal - MemAvailable: processes and object store)")
    print("partial MB: one whole partial of the hour's cells; shipped MB: what a shard sent, its "
          "partial or (over max_partial_bytes) its merged rows")
    print(f"{'varied':>9} {'events':>11} {'exps':>5} {'cells':>6} {'B':>4} {'S':>3} {'partial MB':>10} "
          f"{'shipped MB':>10} {'worker MB':>9} {'private':>7} {'reducer MB':>10} {'private':>7} {'machine MB':>10} "
          f"{'total s':>7} {'commit s':>8} {'ms/exp':>6}")
    for varied, r in rows:
        print(f"{varied:>9} {r['events']:>11,} {r['experiments']:>5} {r['cells']:>6} {r['B']:>4} {r['shards']:>3} "
              f"{r['partial_mb']:>10.0f} {r['shipped_mb']:>10.0f} {r['worker_mb']:>9.0f} "
              f"{r['worker_private_mb']:>7.0f} {r['reducer_mb']:>10.0f} {r['reducer_private_mb']:>7.0f} "
              f"{r['machine_mb']:>10.0f} {r['seconds']:>7.1f} {r['commit_s']:>8.2f} "
              f"{1000 * r['commit_s'] / max(r['experiments'], 1):>6.2f}")


if __name__ == "__main__":
    main()
