"""Run by tests/deploy/test_multinode.py in its own process: an hour on a ``ray.cluster_utils.Cluster`` of a
task-less head and three worker nodes; checks where the work ran and that the result is the one-node result.

Every map and shard task reports the node it ran on (``HourSummary.work``). The check: no map or shard task runs on
the head (it has no CPU), every worker node runs map tasks and shard tasks, none takes more than ``MAX_SHARE`` of
the events or of the unit rows (no stage funnels through one node), the reducer (which commits) sits on the
head, and the committed partition equals a one-node run's bit for bit.

Usage: python tests/deploy/multinode_check.py ROOT   (prints the per-node table and OK, exits non-zero otherwise)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from rayab.hourly.job import new_reducer, run_hour
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse
from tests.worlds import make_world

ORDER = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]
N_WORKERS = 3
MAX_SHARE = 0.6


def _problems(work: dict[str, dict[str, float]], head: str, reducer_node: str) -> list[str]:
    problems = []
    if head in work and (work[head]["map_tasks"] or work[head]["shard_tasks"]):
        problems.append("the head ran map or shard tasks")
    workers = {n: w for n, w in work.items() if n != head}
    if len(workers) != N_WORKERS:
        problems.append(f"work ran on {len(workers)} worker nodes, not {N_WORKERS}")
    for key in ("events", "shard_rows"):
        total = sum(w[key] for w in workers.values())
        top = max((w[key] for w in workers.values()), default=0)
        if not total or top > MAX_SHARE * total:
            problems.append(f"one node took {top} of {total} {key}")
    if any(not w["map_tasks"] or not w["shard_tasks"] for w in workers.values()):
        problems.append("a worker node ran no map task or no shard task")
    if reducer_node != head:
        problems.append("the reducer is not on the head")
    return problems


def main(root: Path) -> int:
    world = make_world(root / "world", n_units=6000, n_hours=1, files_per_hour=12)
    hour = world.hours[0]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(N_WORKERS):
        cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        head = ray.get_runtime_context().get_node_id()
        reducer = new_reducer()
        reducer_node = ray.get(reducer.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
        (summary,) = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=6, reducer=reducer)
    finally:
        ray.shutdown()
        cluster.shutdown()
    work = summary.work["nodes"]
    for node, w in sorted(work.items()):
        print(f"{'head' if node == head else 'worker'} {node[:8]}: {w}", flush=True)
    ray.init(address="local", num_cpus=2, logging_level=logging.WARNING, log_to_driver=False,
             include_dashboard=False)
    try:
        one_node = Warehouse.from_url(root / "one-node-wh")
        replace_partitions(one_node, "assignment", world.assignments, ["exp_id", "date"],
                           {"exp_id": [e.exp_id for e in world.config.experiments]})
        run_hour(world.config, hour, world.logs, one_node, n_shards=2)
    finally:
        ray.shutdown()
    problems = _problems(work, head, reducer_node)
    got = read_rows(world.warehouse, "agg_engagement").drop_columns(["commit_id"]).sort_by(ORDER)
    want = read_rows(one_node, "agg_engagement").drop_columns(["commit_id"]).sort_by(ORDER)
    if got.num_rows == 0 or not got.equals(want):
        problems.append("the partition differs from the one-node run's")
    for problem in problems:
        print(problem, flush=True)
    if problems:
        return 1
    print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
