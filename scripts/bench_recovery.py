"""Time to recovery of a killed gRPC server actor under load: ``python scripts/bench_recovery.py [--trials 3]``.

Starts its own local Ray and one supervised server (with an idle spare, as ``rayab serve`` runs it, unless
``--no-spare``) (:func:`rayab.serving.servers.supervise`) on a fixed loopback
port, keeps ``--threads`` client threads calling Assign, then ``kill -9``s the server's process ``--trials`` times.
For each kill it prints the time from the kill to the first answered Assign (what clients see), the supervisor's
own restart time, and the failed calls meanwhile; then the load average of the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import statistics
import tempfile
import threading
import time

import grpc
import ray

from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc, experiments_pb2_grpc
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc.auth import bearer_metadata
from rayab.rpc.client import open_channel
from rayab.rpc.server import ServerSettings, launcher
from rayab.serving.servers import start_servers, stop_servers, supervise
from rayab.storage.warehouse import Warehouse

TOKEN = "bench-token"
SPEC = {"exp_id": "ramp", "name": "ramp", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
        "variants": [{"variant_id": "control", "traffic_pct": 50}, {"variant_id": "treatment", "traffic_pct": 50}]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Load:
    """Client threads calling Assign until stopped, each answer and failure with its time."""

    def __init__(self, address: str, threads: int) -> None:
        self.ok: list[float] = []
        self.failed: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(address, i), daemon=True) for i in range(threads)]

    def _run(self, address: str, seed: int) -> None:
        stub = assignment_pb2_grpc.AssignmentServiceStub(open_channel(address))
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                stub.Assign(apb.AssignRequest(unit_id=f"u{seed}-{i}", exp_ids=["ramp"]), timeout=2)
                self.ok.append(time.monotonic())
            except grpc.RpcError:
                self.failed.append(time.monotonic())
                time.sleep(0.01)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-spare", action="store_true", help="replace by starting a new process (no spare)")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    warehouse = Warehouse.from_url(tempfile.mkdtemp(prefix="rayab-recovery-"))
    deployment = start_servers(warehouse, launcher(ServerSettings(port=_free_port(), admin_token=TOKEN)),
                               servers=1, namespace="bench-recovery", spares=not args.no_spare)
    address = deployment.addresses[0]
    admin = experiments_pb2_grpc.ExperimentServiceStub(open_channel(address))
    admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(SPEC)), metadata=bearer_metadata(TOKEN))
    stop = threading.Event()
    restarts: list[str] = []
    supervisor = threading.Thread(target=supervise, args=(deployment, stop), daemon=True,
                                  kwargs={"interval_s": 0.5, "report": restarts.append})
    supervisor.start()
    load = Load(address, args.threads)
    load.start()
    recoveries = []
    try:
        for trial in range(args.trials):
            time.sleep(3.0)
            for spare in deployment.spares.values():  # the steady state: the spare's process is up
                ray.get(spare.__ray_ready__.remote())
            before = len(load.ok)
            pid = ray.get(deployment.servers[0].status.remote())["pid"]
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            deadline = killed + 120
            while not any(t > killed + 0.05 for t in load.ok[before:]) and time.monotonic() < deadline:
                time.sleep(0.01)
            back = min((t for t in load.ok[before:] if t > killed + 0.05), default=float("nan"))
            failed = sum(1 for t in load.failed if killed <= t <= back)
            recoveries.append(back - killed)
            time.sleep(0.5)
            print(f"trial {trial + 1}: answered again {back - killed:.2f} s after kill -9 ({failed} failed calls); "
                  f"supervisor: {restarts[-1] if restarts else 'no report yet'}", flush=True)
    finally:
        load.stop()
        stop.set()
        supervisor.join(timeout=30)
        stop_servers(deployment)
        ray.kill(deployment.config, no_restart=True)
        ray.kill(deployment.logger, no_restart=True)
        ray.shutdown()
    load1, load5, _ = os.getloadavg()
    print(f"time to recovery: median {statistics.median(recoveries):.2f} s, max {max(recoveries):.2f} s over "
          f"{len(recoveries)} kills, {args.threads} client threads; load average {load1:.1f} (1 min), "
          f"{load5:.1f} (5 min) on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
