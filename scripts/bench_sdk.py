"""In-process assignment with the Python SDK (rayab.client) against the remote Assign, in the same run.

Prints, as medians over ``--runs`` runs:

- ``one``: one unit in one experiment while 100 are configured (``client.assign(unit, attrs, [exp])``), p50 and
  p99 per call, and the same request as a unary ``Assign`` to a server on loopback (a separate process, the same
  100 experiments, ``log_exposure`` false): the ratio is remote / local;
- ``all``: one unit in all 100 experiments (100 hashes and targeting checks);
- ``column``: vectorised assignments per second for one experiment with a layer (two md5s an id:
  ``client.assign_column`` over ``--units`` ids, after one call that loads the compiled md5), against
  ``BatchAssign`` of the same ids, and the same column hashed by hashlib (the light install, without numba);
- ``memory``: bytes of Python heap per 1,000 compiled experiments (tracemalloc around building a client on a
  1,000-experiment snapshot);
- ``propagation``: ``--clients`` SDK clients following ``WatchConfig`` from one server; each raise of an
  experiment's rollout through the admin API (a committed config version) is timed from the admin call's return
  to each client's install of the new version (p50, p99, max over clients x ``--raises``).

With ``--ray`` the propagation is measured on the production deployment instead: a local Ray with the config
actor (which commits to a temporary warehouse) and one server actor that long-polls it, so a change crosses the
config actor, the server actor and the stream.

Usage: ``python scripts/bench_sdk.py [--runs 3] [--clients 100] [--raises 5] [--ray]``; ``uptime`` is printed
with the figures, which depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from rayab.assignment import Assigner, ConfigSnapshot
from rayab.assignment.hashing import COMPILED_FROM
from rayab.assignment.snapshot_json import to_document
from rayab.client import Client
from rayab.model.experiment import Experiment

SDK_KEY = "bench-sdk-key"
ADMIN = "bench-admin"
ATTRIBUTES = {"country": "FR", "app_version": "5.10.1", "platform": "ios"}


def experiments(n: int) -> tuple[Experiment, ...]:
    """``n`` experiments as a busy service has them: targeted ones, layers of four, rollouts below 100%."""
    out = []
    for i in range(n):
        spec: dict[str, Any] = {
            "exp_id": f"exp_{i:04d}", "name": f"exp {i}", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
            "rollout_pct": 50 + i % 50,
            "variants": [{"variant_id": "control", "traffic_pct": 50, "parameters": {f"p{i}": "a", "shared": i}},
                         {"variant_id": "treatment", "traffic_pct": 50, "parameters": {f"p{i}": "b", "shared": -i}}]}
        if i % 3 == 0:
            spec["targeting"] = {"all": [{"attr": "country", "in": ["FR", "DE", "US"]},
                                         {"attr": "app_version", "version_gte": "5.2"}]}
        if i % 4 < 2:
            spec["layer"], spec["layer_pct"] = f"layer_{i // 4}", [50 * (i % 4), 50 * (i % 4) + 50]
        out.append(Experiment.from_dict(spec))
    return tuple(out)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_calls(call: Any, units: list[str], repeat: int = 1) -> tuple[float, float]:
    """p50 and p99 of ``call(unit)`` in microseconds."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(repeat):
        for unit in units:
            start = clock()
            call(unit)
            samples.append((clock() - start) / 1e3)
    return _percentiles(samples)


# --- the server process ---------------------------------------------------------------------------------------------

def serve(folder: str) -> None:
    """Two servers in this process: one answering from the 100-experiment snapshot (remote Assign), one over a
    config store with an admin (propagation); writes their ports to ``folder/ports.json``, runs until killed."""
    from rayab.lifecycle.config_store import ConfigStore, LocalAdmin
    from rayab.rpc.server import ServerSettings, start_server
    from rayab.rpc.snapshot import SnapshotHolder
    from rayab.serving.assignment_recorder import AssignmentRecorder
    from rayab.storage.warehouse import Warehouse

    async def main() -> None:
        settings = ServerSettings(admin_token=ADMIN, sdk_key=SDK_KEY)
        static = await start_server(settings, SnapshotHolder(ConfigSnapshot(1, experiments(100))),
                                    recorder=AssignmentRecorder())
        store = ConfigStore(Warehouse.from_url(Path(folder) / "wh"))
        holder = SnapshotHolder(store.snapshot)
        admin = LocalAdmin(store, holder.install)  # type: ignore[arg-type]
        live = await start_server(settings, holder, admin, AssignmentRecorder())
        (Path(folder) / "ports.json").write_text(json.dumps([static.port, live.port]))
        while True:
            await asyncio.sleep(3600)

    asyncio.run(main())


def start_server_process(folder: str) -> tuple[subprocess.Popen[bytes], int, int]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", folder])
    path = Path(folder) / "ports.json"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the benchmark server did not start")
        time.sleep(0.1)
    static, live = json.loads(path.read_text())
    return process, static, live


# --- the measurements ------------------------------------------------------------------------------------------------

def local_figures(client: Client, units: list[str], column_units: list[str]) -> dict[str, float]:
    one_p50, one_p99 = time_calls(lambda u: client.assign(u, ATTRIBUTES, ["exp_0003"]), units, repeat=3)
    param_p50, param_p99 = time_calls(lambda u: client.get_parameter(u, ATTRIBUTES, "p3"), units, repeat=3)
    all_p50, all_p99 = time_calls(lambda u: client.assign(u, ATTRIBUTES), units[:2_000])
    client.assign_column("exp_0001", column_units[:COMPILED_FROM])  # loads the compiled md5 (once per process)
    started = time.perf_counter()
    client.assign_column("exp_0001", column_units)
    column_rate = len(column_units) / (time.perf_counter() - started)
    assigner = Assigner(ConfigSnapshot(1, experiments(100)))
    started = time.perf_counter()
    assigner.variant_column("exp_0001", column_units, compiled=False)
    hashlib_rate = len(column_units) / (time.perf_counter() - started)
    return {"one_p50": one_p50, "one_p99": one_p99, "param_p50": param_p50, "param_p99": param_p99,
            "all_p50": all_p50, "all_p99": all_p99, "column_per_s": column_rate, "hashlib_per_s": hashlib_rate}


def remote_figures(port: int, units: list[str], column_units: list[str]) -> dict[str, float]:
    from rayab.rpc._generated import assignment_pb2 as apb
    from rayab.rpc._generated import assignment_pb2_grpc
    from rayab.rpc.client import open_channel

    channel = open_channel(f"127.0.0.1:{port}")
    stub = assignment_pb2_grpc.AssignmentServiceStub(channel)

    def request(unit: str) -> Any:
        message = apb.AssignRequest(unit_id=unit, exp_ids=["exp_0003"], log_exposure=False)
        for name, value in ATTRIBUTES.items():
            message.attributes[name].string_value = value
        return message

    stub.Assign(request("warm-up"))
    p50, p99 = time_calls(lambda u: stub.Assign(request(u)), units[:3_000])
    started = time.perf_counter()
    for start in range(0, len(column_units), 50_000):
        stub.BatchAssign(apb.BatchAssignRequest(unit_ids=column_units[start:start + 50_000], exp_ids=["exp_0001"],
                                                log_exposure=False))
    batch_rate = len(column_units) / (time.perf_counter() - started)
    channel.close()
    return {"remote_one_p50": p50, "remote_one_p99": p99, "remote_batch_per_s": batch_rate}


def memory_per_thousand() -> float:
    document = to_document(ConfigSnapshot(1, experiments(1_000)))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    client = Client.from_snapshot(document, exposures="never")
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert client.config_version == 1
    return float(after - before)


def propagation(port: int, clients: int, raises: int) -> list[float]:
    """Seconds from each admin commit's return to each client's install of that version."""
    from rayab.rpc._generated import experiments_pb2 as epb
    from rayab.rpc._generated import experiments_pb2_grpc
    from rayab.rpc.auth import bearer_metadata
    from rayab.rpc.client import open_channel

    channel = open_channel(f"127.0.0.1:{port}")
    admin = experiments_pb2_grpc.ExperimentServiceStub(channel)
    spec = {"exp_id": "ramp", "name": "ramp", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
            "rollout_pct": 1,
            "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]}
    admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec)), metadata=bearer_metadata(ADMIN))
    arrivals: dict[int, list[float]] = {}
    lock = threading.Lock()

    def arrived(version: int) -> None:
        now = time.perf_counter()
        with lock:
            arrivals.setdefault(version, []).append(now)

    followers = [Client(f"127.0.0.1:{port}", SDK_KEY, exposures="never", on_update=arrived, wait_s=60)
                 for _ in range(clients)]
    delays: list[float] = []
    try:
        for k in range(raises):
            time.sleep(0.5)
            reply = admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=2 + k * 10),
                                           metadata=bearer_metadata(ADMIN))
            committed = time.perf_counter()
            version = reply.config_version
            deadline = time.monotonic() + 30
            while len(arrivals.get(version, [])) < clients and time.monotonic() < deadline:
                time.sleep(0.005)
            got = arrivals.get(version, [])
            delays += [max(t - committed, 0.0) for t in got] + [30.0] * (clients - len(got))
    finally:
        for follower in followers:
            follower.close()
        channel.close()
    return delays


def ray_propagation(folder: str, clients: int, raises: int) -> list[float]:
    """:func:`propagation` through a local Ray deployment (config actor, one server actor)."""
    import ray

    from rayab.rpc.server import ServerSettings, launcher
    from rayab.serving.servers import start_servers, stop_servers
    from rayab.storage.warehouse import Warehouse

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        deployment = start_servers(Warehouse.from_url(Path(folder) / "ray-wh"),
                                   launcher(ServerSettings(admin_token=ADMIN, sdk_key=SDK_KEY)), servers=1,
                                   prefix="bench")
        port = int(deployment.addresses[0].rsplit(":", 1)[1])
        try:
            return propagation(port, clients, raises)
        finally:
            stop_servers(deployment)
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--units", type=int, default=1_000_000, help="ids of the vectorised column form")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--raises", type=int, default=5)
    parser.add_argument("--ray", action="store_true", help="measure propagation through a Ray deployment")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print("load before:", os.getloadavg())
    client = Client.from_snapshot(to_document(ConfigSnapshot(1, experiments(100))), exposures="never")
    units = [f"user-{i:08d}" for i in range(10_000)]
    column_units = [f"user-{i:08d}" for i in range(args.units)]
    with tempfile.TemporaryDirectory() as folder:
        process, static_port, live_port = start_server_process(folder)
        try:
            runs = []
            for _ in range(args.runs):
                figures = local_figures(client, units, column_units)
                figures.update(remote_figures(static_port, units, column_units))
                figures["memory_per_1000"] = memory_per_thousand()
                runs.append(figures)
            if not args.ray:
                delays = propagation(live_port, args.clients, args.raises)
        finally:
            process.kill()
            process.wait()
        if args.ray:
            delays = ray_propagation(folder, args.clients, args.raises)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    p50, p99 = _percentiles(delays)
    print(f"one unit, one of 100 experiments: p50 {median['one_p50']:.1f} us, p99 {median['one_p99']:.1f} us "
          f"(remote Assign p50 {median['remote_one_p50']:.0f} us, p99 {median['remote_one_p99']:.0f} us: "
          f"{median['remote_one_p50'] / median['one_p50']:.0f}x slower at p50)")
    print(f"get_parameter, one of 100: p50 {median['param_p50']:.1f} us, p99 {median['param_p99']:.1f} us")
    print(f"one unit in all 100 experiments: p50 {median['all_p50']:.0f} us, p99 {median['all_p99']:.0f} us")
    print(f"vectorised column, one experiment: {median['column_per_s'] / 1e6:.2f}M assignments/s "
          f"(BatchAssign {median['remote_batch_per_s'] / 1e6:.2f}M/s: "
          f"{median['column_per_s'] / median['remote_batch_per_s']:.1f}x); without numba (hashlib) "
          f"{median['hashlib_per_s'] / 1e6:.2f}M/s")
    print(f"memory: {median['memory_per_1000'] / 2**20:.1f} MiB per 1,000 compiled experiments")
    where = "a Ray deployment" if args.ray else "one server"
    print(f"propagation through {where} to {args.clients} clients x {args.raises} raises: p50 {p50 * 1e3:.0f} ms, "
          f"p99 {p99 * 1e3:.0f} ms, max {max(delays) * 1e3:.0f} ms")
    print("load after:", os.getloadavg(), f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
