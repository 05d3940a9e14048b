"""What decides the hourly job's cost at scale, measured here, and the cluster it implies for a given load.

Measured on warm local Ray runs of hours made by :mod:`bench_data` (the job reports its own work per task, see
``HourSummary.work``):

* per stage, events (map: read, validate, collapse) or unit rows (shards: merge, md5, weights and sums) per CPU
  second, from the CPU time of each task;
* bytes shuffled per input event and per (cell, unit) row shipped from the map tasks to the shards;
* bytes of a shard's partial per cell x B, and the object store's peak during the run (sampled);
* the reducer's and the commit's cost per experiment partition, from two runs with few and many experiments.

From these, the model: CPU seconds per event = map + shard cost; cores = events per hour x that / the hour's
compute budget (``--budget-minutes`` of each hour, default 20, so a late or re-run hour fits too); the reducer
and the commit run on the head and cost per experiment partition; the price per billion events from
``--core-hour-usd`` (default 0.0425: a 16-vCPU compute instance on demand, about 0.68 USD/h, per vCPU).

    .venv/bin/python scripts/bench_scaling.py --data /tmp/rayab-bench                       # 10M events
    .venv/bin/python scripts/bench_scaling.py --data /tmp/rayab-bench --quick               # 1M events
    .venv/bin/python scripts/bench_scaling.py --data /tmp/rayab-bench --events-per-second 6e6

>>> model(1e-6, 2e-6, 0.01, 6e6, 1000, 20, 0.0425)["cores"]
54
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: scripts.* below

from rayab.simulate import load_test_config
from scripts.bench_data import HOUR
from scripts.bench_pipeline import Prepared, load_average, start_ray


def _plasma_used_bytes() -> int:
    """Bytes the object store holds now (the raylet's own count)."""
    from ray._private import internal_api

    summary: Any = internal_api.memory_summary
    text = str(summary(stats_only=True))
    for line in text.splitlines():
        if "Plasma memory usage" in line:
            return int(float(line.split("Plasma memory usage")[1].split("MiB")[0]) * 2**20)
    return 0


def run_once(data: Prepared, n_replicates: int, n_shards: int, reducer: Any) -> dict[str, Any]:
    """One warm run; the job's own work report plus the store's peak."""
    from rayab.hourly.job import run_hour

    config = load_test_config(data.n_experiments, n_replicates=n_replicates)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a sample lost while Ray is busy is not an error
                peak = max(peak, _plasma_used_bytes())
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        (summary,) = run_hour(config, HOUR, data.logs, data.warehouse, n_shards=n_shards, reducer=reducer)
    finally:
        stop.set()
        sampler.join()
    nodes = summary.work["nodes"].values()
    return {"seconds": time.perf_counter() - started, "events": summary.rows_read, "cells": summary.cells,
            "B": n_replicates, "shards": n_shards, "exps": data.n_experiments,
            "map_cpu_s": sum(n["map_cpu_s"] for n in nodes), "shard_cpu_s": sum(n["shard_cpu_s"] for n in nodes),
            "unit_rows": summary.work["unit_rows_shuffled"], "merged_rows": summary.work["unit_rows_merged"],
            "bytes_shuffled": summary.work["bytes_shuffled"], "partial_bytes": summary.work["partial_bytes"],
            "commit_s": summary.work["commit_s"], "store_peak": peak, "stages": summary.seconds}


def model(map_cpu_per_event: float, shard_cpu_per_event: float, commit_s_per_partition: float,
          events_per_second: float, n_experiments: int, budget_minutes: float,
          core_hour_usd: float) -> dict[str, Any]:
    """Cores for ``events_per_second`` if each hour's compute fits in ``budget_minutes``, and the price."""
    events_per_hour = events_per_second * 3600
    cpu_s = events_per_hour * (map_cpu_per_event + shard_cpu_per_event)
    cores = math.ceil(round(cpu_s / (budget_minutes * 60), 6))
    core_hours_per_hour = cpu_s / 3600  # what is paid if cores are released when the hour is done
    return {"events_per_hour": events_per_hour, "cpu_s_per_hour": cpu_s, "cores": cores,
            "commit_s": commit_s_per_partition * n_experiments,
            "usd_per_hour": core_hours_per_hour * core_hour_usd,
            "usd_per_billion_events": core_hours_per_hour * core_hour_usd / (events_per_hour / 1e9)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--quick", action="store_true", help="1M events from 90k units")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=900_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--many-experiments", type=int, default=200, help="the run giving the per-partition cost")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events-per-second", type=float, default=6e6)
    parser.add_argument("--experiments-at-scale", type=int, default=1000)
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--core-hour-usd", type=float, default=0.0425)
    args = parser.parse_args(argv)
    n_events, n_units = (1_000_000, 90_000) if args.quick else (args.events, args.units)
    few = Prepared(Path(args.data), n_events, n_units, args.files)
    many = Prepared(Path(args.data), n_events, n_units, args.files, args.many_experiments)

    import ray

    load_before = load_average()
    start_ray(2)
    from rayab.hourly.job import new_reducer

    try:
        reducer = new_reducer()
        runs: dict[str, list[dict[str, Any]]] = {"few": [], "many": []}
        for name, data in (("few", few), ("many", many)):
            run_once(data, args.replicates, args.shards, reducer)  # warm-up
            runs[name] = [run_once(data, args.replicates, args.shards, reducer) for _ in range(args.repeat)]
    finally:
        ray.shutdown()

    def med(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    r0 = runs["few"][0]
    events = r0["events"]
    map_cpu, shard_cpu = med("few", "map_cpu_s") / events, med("few", "shard_cpu_s") / events
    commit_few, commit_many = med("few", "commit_s"), med("many", "commit_s")
    per_partition = max(commit_many - commit_few, 0.0) / max(args.many_experiments - 2, 1)
    print(f"measured on {events:,} events, B = {args.replicates}, S = {args.shards}, median of {args.repeat} warm "
          f"runs; load average before {load_before}, after {load_average()}")
    print(f"  map stage (read, validate, collapse): {1 / map_cpu / 1e6:.2f} M events/s per core")
    rows_rate = med("few", "merged_rows") / med("few", "shard_cpu_s")
    print(f"  shard stage (merge, md5, weights and sums): {rows_rate / 1e6:.2f} M unit rows/s per core = "
          f"{1 / shard_cpu / 1e6:.2f} M events/s per core")
    print(f"  shuffle: {med('few', 'bytes_shuffled') / events:.1f} bytes per event, "
          f"{med('few', 'bytes_shuffled') / med('few', 'unit_rows'):.1f} bytes per unit row shipped; "
          f"{med('few', 'unit_rows') / events:.3f} unit rows shipped and {med('few', 'merged_rows') / events:.3f} "
          "merged per event")
    cells_b = r0["cells"] * args.replicates * args.shards
    print(f"  partials: {med('few', 'partial_bytes') / cells_b:.1f} bytes per cell x B per shard "
          f"({r0['cells']} cells); object store peak {med('few', 'store_peak') / 2**20:.0f} MiB "
          f"({med('many', 'store_peak') / 2**20:.0f} MiB with {args.many_experiments} experiments)")
    print(f"  reducer + commit: {commit_few:.2f} s with 2 experiments, {commit_many:.2f} s with "
          f"{args.many_experiments} ({runs['many'][0]['cells']} cells): {per_partition * 1000:.1f} ms per experiment "
          "partition")
    m = model(map_cpu, shard_cpu, per_partition, args.events_per_second, args.experiments_at_scale,
              args.budget_minutes, args.core_hour_usd)
    print(f"\nat {args.events_per_second / 1e6:g}M events/s ({m['events_per_hour'] / 1e9:.1f} billion events per "
          f"hour), {args.experiments_at_scale} experiments:")
    print(f"  {m['cpu_s_per_hour'] / 3600:,.0f} core-hours per hour of events; {m['cores']:,} cores to finish each "
          f"hour in {args.budget_minutes:g} minutes; reducer + commit about {m['commit_s']:.0f} s on the head")
    print(f"  {m['usd_per_billion_events']:.3f} USD per billion events (cores released after each hour, "
          f"{args.core_hour_usd} USD per core-hour); {m['usd_per_hour']:.2f} USD per hour")


if __name__ == "__main__":
    main()
