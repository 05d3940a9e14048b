"""Run by tests/deploy/test_node_death.py in its own process: a two-node ``ray.cluster_utils.Cluster``, the worker
node killed while the hour's map tasks run, then a clean run of the same hour; both partitions must be identical.

Usage: python tests/deploy/node_death_check.py ROOT   (prints OK and the summaries, exits non-zero otherwise)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from rayab.hourly.job import run_hour
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse
from tests.worlds import make_world

ORDER = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]


def main(root: Path) -> int:
    world = make_world(root / "world", n_units=20000, n_hours=1, files_per_hour=40)
    hour = world.hours[0]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
    cluster.wait_for_nodes()
    killed: list[str] = []

    def kill_worker_after_first_split(line: str) -> None:
        print(line, flush=True)
        if "read+validate+collapse" in line and not killed:
            cluster.remove_node(worker, allow_graceful=False)  # like a lost machine: no clean shutdown
            killed.append(line)

    try:
        (faulty,) = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=3,
                             progress=kill_worker_after_first_split)
        clean_wh = Warehouse.from_url(root / "clean-wh")
        replace_partitions(clean_wh, "assignment", world.assignments, ["exp_id", "date"],
                           {"exp_id": ["ranker_v2", "aa_check"]})
        (clean,) = run_hour(world.config, hour, world.logs, clean_wh, n_shards=3)
    finally:
        ray.shutdown()
        cluster.shutdown()
    if not killed:
        print("the worker node was never killed", flush=True)
        return 1
    got = read_rows(world.warehouse, "agg_engagement").sort_by(ORDER)
    want = read_rows(clean_wh, "agg_engagement").sort_by(ORDER)
    print(f"faulty: {faulty.line()}\nclean:  {clean.line()}", flush=True)
    if got.num_rows == 0 or not got.equals(want) or faulty.rows_read != world.events[hour].num_rows:
        print("the partitions differ", flush=True)
        return 1
    print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
