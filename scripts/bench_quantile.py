"""What a quantile metric costs the hourly job: bytes per cell-hour and job time, with and without it.

One simulated hour of page loads (:func:`rayab.simulate.simulate_latency`: ``--units`` units, about
``--events`` events per unit, 10% of them without a latency) is aggregated by the real Ray job twice per B: with the
analysis type ``perf`` of :func:`rayab.simulate.latency_config` (``requests`` and ``latency`` p50 / p90 / p99) and
with the same analysis type without the quantile metric. Printed per run: the median job time over ``--repeat``
runs, the bytes committed (``agg_perf`` and, with the metric, ``qsk_perf``) per cell, and the sketch's rows (buckets)
per cell. Ray is started first (its start-up is not timed).

    .venv/bin/python scripts/bench_quantile.py                  # B = 100 and 1000, 100,000 units
    .venv/bin/python scripts/bench_quantile.py --units 20000    # a quick look
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import ray

from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import latency_config, simulate_latency
from rayab.storage.logs import write_log_file
from rayab.storage.schemas import ASSIGNMENT_TABLE, sketch_table
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

HOUR = "2026-11-23T00"


def _config(b: int, with_quantile: bool) -> Config:
    data = latency_config(b).to_dict()
    if not with_quantile:
        for at in data["analysis_types"]:
            at["metrics"] = [m for m in at["metrics"] if m.get("kind") != "quantile"]
        for e in data["experiments"]:
            e["primary_kpi"], e["guardrails"] = "requests", []
    return Config.from_dict(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--events", type=float, default=10.0, help="events per unit in the hour")
    parser.add_argument("--b", type=int, action="append", help="B (repeatable; default 100 and 1000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args(argv)
    world = simulate_latency(args.units, [HOUR], seed=7, events_per_hour=args.events)
    events = world.events[HOUR]
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    print(f"{events.num_rows:,} events from {args.units:,} units, 4 files, S = {args.shards}")
    print(f"{'B':>5} {'quantile':>8} {'job s':>7} {'cells':>5} {'bytes/cell':>11} {'buckets/cell':>12}  stages (s)")
    with tempfile.TemporaryDirectory(prefix="rayab-bench-quantile-") as root:
        logs = f"{root}/logs"
        step = -(-events.num_rows // 4)
        for i in range(4):
            write_log_file(logs, HOUR, f"part-{i}.parquet", events.slice(i * step, step))
        for b in args.b or [100, 1000]:
            for with_quantile in (False, True):
                config = _config(b, with_quantile)
                times, summary = [], None
                for run in range(args.repeat + 1):  # the first run warms up the workers
                    warehouse = Warehouse.from_url(Path(root) / f"wh-{b}-{with_quantile}-{run}")
                    replace_partitions(warehouse, ASSIGNMENT_TABLE, world.assignments, ["exp_id", "date"],
                                       {"exp_id": ["speed_v2"]})
                    (summary,) = run_hour(config, HOUR, logs, warehouse, n_shards=args.shards)
                    if run:
                        times.append(summary.seconds["total"])
                assert summary is not None
                buckets = read_rows(warehouse, sketch_table(config.analysis_types[0])).num_rows if with_quantile else 0
                stages = " ".join(f"{k}={v}" for k, v in summary.seconds.items() if k != "total")
                print(f"{b:>5} {'yes' if with_quantile else 'no':>8} {statistics.median(times):>7.2f} "
                      f"{summary.cells:>5} {summary.bytes_written / summary.cells:>11,.0f} "
                      f"{buckets / summary.cells:>12.1f}  {stages}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
