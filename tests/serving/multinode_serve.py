"""Run by test_multinode.py in its own process: a 2-node ``ray.cluster_utils.Cluster``, ``start_servers`` with the
default of one server per node, one Assign on each, then a graceful stop; prints a JSON summary."""

from __future__ import annotations

import json
import logging
import sys

import ray
from ray.cluster_utils import Cluster

from rayab.lifecycle.config_store import ConfigStore
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc
from rayab.rpc.client import open_channel
from rayab.rpc.server import ServerSettings, launcher
from rayab.serving.servers import start_servers, stop_servers
from rayab.storage.warehouse import Warehouse
from tests.rpc.servers import spec


def main(warehouse_root: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
    warehouse = Warehouse.from_url(warehouse_root)
    ConfigStore(warehouse).create(spec("mn_test"))
    deployment = start_servers(warehouse, launcher(ServerSettings(port=0)), prefix="mn")
    answers = []
    for address in deployment.addresses:
        stub = assignment_pb2_grpc.AssignmentServiceStub(open_channel(address))
        answers.append(stub.Assign(apb.AssignRequest(unit_id="alice")).assignments[0].variant_id)
    nodes = [s["node_id"] for s in ray.get([server.status.remote() for server in deployment.servers])]
    stop_servers(deployment)
    print(json.dumps({"servers": len(deployment.servers), "nodes": nodes, "answers": answers,
                      "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]])}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
