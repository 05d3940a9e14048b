"""A warehouse with a performance experiment to read percentile metrics from: ``speed_v2`` (analysis type ``perf``,
:func:`rayab.simulate.latency_config`) over 3 simulated hours of page loads (:func:`rayab.simulate.simulate_latency`:
a per-unit random effect, a heavy tail, 10% of events without a latency, a +5% planted shift of every quantile),
aggregated by the hourly Ray job (a local Ray with 2 CPUs).

    .venv/bin/python scripts/demo_quantile.py --warehouse ./rayab-perf-warehouse --logs ./rayab-perf-logs
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import ray

from rayab.hourly.job import run_hour
from rayab.simulate import latency_config, simulate_latency
from rayab.storage.logs import write_log_file
from rayab.storage.schemas import ASSIGNMENT_TABLE
from rayab.storage.specs import save_config
from rayab.storage.tables import replace_partitions
from rayab.storage.warehouse import Warehouse

HOURS = ("2026-11-23T00", "2026-11-23T01", "2026-11-23T02")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default="./rayab-perf-warehouse")
    parser.add_argument("--logs", default="./rayab-perf-logs")
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--shift", type=float, default=0.05)
    parser.add_argument("--b", type=int, default=200, help="bootstrap replicates B")
    args = parser.parse_args(argv)
    config = latency_config(args.b)
    world = simulate_latency(args.units, HOURS, seed=11, shift=args.shift)
    for hour, table in world.events.items():
        write_log_file(args.logs, hour, "part-0.parquet", table)
    warehouse = Warehouse.from_url(args.warehouse)
    save_config(warehouse, config)
    replace_partitions(warehouse, ASSIGNMENT_TABLE, world.assignments, ["exp_id", "date"], {"exp_id": ["speed_v2"]})
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        for hour in HOURS:
            (summary,) = run_hour(config, hour, args.logs, warehouse)
            print(summary.line())
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
