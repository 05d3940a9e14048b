"""gRPC assignment speed on loopback: concurrent clients against a real server, compared with the in-process engine
measured in the same run.

Unary ``Assign`` (one targeted experiment per call) from ``--clients`` client processes with ``--concurrency``
calls in flight each, and ``BatchAssign`` of ``--batch`` units from one client; prints req/s (units/s for batches),
p50 and p99 latency and the ratio to ``Assigner.assign`` / ``assign_batch`` called in this process, as medians
over ``--runs`` runs. The server runs either in a bare process (``--server process``: the gRPC server and a
static snapshot, first assignments drained and discarded) or as the production deployment (``--server actor``: a
local Ray with the config actor, the assignment logger committing to a temporary warehouse, and one server
actor), or all of these and ``ceiling``: a bare ``grpc.aio`` server whose handlers return empty answers, which
is what gRPC in Python costs per call on this machine whatever the handler does.

Usage: ``python scripts/bench_assign.py [--server all] [--seconds 3] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rayab.assignment import Assigner, ConfigSnapshot
from rayab.model.experiment import Experiment

UNITS = 20_000
ATTRIBUTES = {"country": "FR", "device": "tv", "app_version": "5.10.1"}


def experiments() -> list[Experiment]:
    """One targeted two-variant experiment at a 50% rollout, plus a two-experiment layer."""
    variants = [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1"}},
                {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]
    base = {"name": "bench", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z", "variants": variants}
    targeting = {"all": [{"attr": "country", "in": ["FR", "DE", "US"]}, {"attr": "app_version", "version_gte": "5.2"}]}
    return [Experiment.from_dict({**base, "exp_id": "ctr_test", "rollout_pct": 50, "targeting": targeting}),
            Experiment.from_dict({**base, "exp_id": "home_a", "layer": "home", "layer_pct": [0, 50]}),
            Experiment.from_dict({**base, "exp_id": "home_b", "layer": "home", "layer_pct": [50, 100]})]


def unit_ids() -> list[str]:
    return [f"user-{i:08d}" for i in range(UNITS)]


# --- servers -------------------------------------------------------------------------------------------------------

def _serve_process(ports: Any) -> None:
    from rayab.rpc.server import ServerSettings, start_server
    from rayab.rpc.snapshot import SnapshotHolder
    from rayab.serving.assignment_recorder import AssignmentRecorder

    async def main() -> None:
        recorder = AssignmentRecorder()
        running = await start_server(ServerSettings(), SnapshotHolder(ConfigSnapshot(1, tuple(experiments()))),
                                     recorder=recorder)
        ports.put(running.port)
        while True:  # the same buffering work as a real server, without a logger to ship to
            await asyncio.sleep(0.5)
            recorder.drain()

    asyncio.run(main())


def _serve_ceiling(ports: Any) -> None:
    import grpc

    from rayab.rpc._generated import assignment_pb2 as apb
    from rayab.rpc._generated import assignment_pb2_grpc

    class Empty(assignment_pb2_grpc.AssignmentServiceServicer):
        async def Assign(self, request: Any, context: Any) -> Any:
            return apb.AssignResponse(config_version=1)

        async def BatchAssign(self, request: Any, context: Any) -> Any:
            return apb.BatchAssignResponse(config_version=1)

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 2**28)])
        assignment_pb2_grpc.add_AssignmentServiceServicer_to_server(Empty(), server)
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


@contextmanager
def process_server(target: Callable[[Any], None]) -> Iterator[tuple[str, int]]:
    """A server alone in a bare process."""
    context = mp.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=target, args=(ports,), daemon=True)
    process.start()
    try:
        yield f"127.0.0.1:{ports.get(timeout=60)}", int(process.pid or 0)
    finally:
        process.terminate()
        process.join()


@contextmanager
def actor_server() -> Iterator[tuple[str, int]]:
    """The deployment: local Ray (2 CPUs), config actor, assignment logger and one server actor."""
    import logging

    import ray

    from rayab.lifecycle.config_store import ConfigStore
    from rayab.rpc.server import ServerSettings, launcher
    from rayab.serving.servers import start_servers, stop_servers
    from rayab.storage.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse.from_url(folder)
        store = ConfigStore(warehouse)
        for experiment in experiments():
            store.create(experiment.to_dict())
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        try:
            deployment = start_servers(warehouse, launcher(ServerSettings()), servers=1, prefix="bench")
            yield deployment.addresses[0], ray.get(deployment.servers[0].status.remote())["pid"]
            stop_servers(deployment)
        finally:
            ray.shutdown()


# --- clients -------------------------------------------------------------------------------------------------------

def _unary_client(target: str, concurrency: int, seconds: float, seed: int, out: Any) -> None:
    import grpc

    from rayab.rpc._generated import assignment_pb2 as apb
    from rayab.rpc._generated import assignment_pb2_grpc

    requests = []
    for unit in unit_ids()[seed::7][:2_000]:
        request = apb.AssignRequest(unit_id=unit, exp_ids=["ctr_test"])
        for name, value in ATTRIBUTES.items():
            request.attributes[name].string_value = value
        requests.append(request)

    async def main() -> list[float]:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
            await stub.Assign(requests[0])
            latencies: list[float] = []
            start = time.perf_counter()
            end = start + seconds

            async def worker(k: int) -> None:
                i = k
                while time.perf_counter() < end:
                    began = time.perf_counter()
                    await stub.Assign(requests[i % len(requests)])
                    latencies.append(time.perf_counter() - began)
                    i += concurrency

            await asyncio.gather(*(worker(k) for k in range(concurrency)))
            return latencies

    latencies = asyncio.run(main())
    out.put((latencies, time.process_time()))


def _batch_client(target: str, batch: int, exp_ids: list[str], seconds: float, out: Any) -> None:
    import grpc

    from rayab.rpc._generated import assignment_pb2 as apb
    from rayab.rpc._generated import assignment_pb2_grpc

    request = apb.BatchAssignRequest(unit_ids=(unit_ids() * (1 + batch // UNITS))[:batch], exp_ids=exp_ids)
    for name, value in ATTRIBUTES.items():
        request.shared_attributes[name].string_value = value
    options = [("grpc.max_receive_message_length", 2**28), ("grpc.max_send_message_length", 2**28)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        stub.BatchAssign(request)
        latencies = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            began = time.perf_counter()
            stub.BatchAssign(request)
            latencies.append(time.perf_counter() - began)
    out.put((latencies, time.process_time()))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(target: Callable[..., None], args_per_client: list[tuple[Any, ...]]) -> tuple[list[float], float]:
    """Run client processes at once; returns every call latency and the clients' CPU seconds."""
    context = mp.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=target, args=(*args, out)) for args in args_per_client]
    for process in processes:
        process.start()
    answers = [out.get(timeout=300) for _ in processes]
    for process in processes:
        process.join()
    return [x for latencies, _ in answers for x in latencies], sum(cpu for _, cpu in answers)


# --- measurements --------------------------------------------------------------------------------------------------

def in_process_rates(batch: int, seconds: float) -> dict[str, float]:
    """Calls/s of ``assign`` and units/s of ``assign_batch`` in this process, same requests as the clients."""
    assigner = Assigner(ConfigSnapshot(1, tuple(experiments())))
    units = unit_ids()
    rates = {}
    n, end = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        for unit in units[n % UNITS:n % UNITS + 500]:
            assigner.assign(unit, ATTRIBUTES, ["ctr_test"])
        n += 500
    rates["assign"] = n / (time.perf_counter() - start)
    chunk = (units * (1 + batch // UNITS))[:batch]
    for name, exp_ids in (("batch_one", ["ctr_test"]), ("batch_all", None)):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            rows = assigner.assign_batch(chunk, [ATTRIBUTES] * batch, exp_ids)
            n += sum(len(r) for r in rows)
        rates[name] = n / (time.perf_counter() - start)
    return rates


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def one_run(server: tuple[str, int], args: argparse.Namespace) -> dict[str, float]:
    """One run: in-process reference, unary load, batch load (one experiment, then all three)."""
    target, pid = server
    ref = in_process_rates(args.batch, 1.0)
    before = cpu_seconds(pid)
    unary, client_cpu = run_clients(_unary_client, [(target, args.concurrency, args.seconds, k)
                                                    for k in range(args.clients)])
    server_cpu = cpu_seconds(pid) - before
    # the server's CPU per call over the whole client run (a small warm-up included): its capacity per core
    result = {"assign_rps": len(unary) / args.seconds, "assign_p50_ms": percentile(unary, 0.5) * 1e3,
              "assign_p99_ms": percentile(unary, 0.99) * 1e3, "inproc_assign": ref["assign"],
              "server_us": server_cpu / len(unary) * 1e6, "client_us": client_cpu / len(unary) * 1e6}
    for name, exp_ids, per_unit in (("batch_one", ["ctr_test"], 1), ("batch_all", [], 3)):
        calls, _ = run_clients(_batch_client, [(target, args.batch, exp_ids, args.seconds)])
        result[f"{name}_ups"] = len(calls) * args.batch * per_unit / sum(calls)
        result[f"{name}_p50_ms"] = percentile(calls, 0.5) * 1e3
        result[f"{name}_p99_ms"] = percentile(calls, 0.99) * 1e3
        result[f"inproc_{name}"] = ref[name]
    return result


def report(mode: str, runs: list[dict[str, float]], args: argparse.Namespace) -> None:
    m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"\nserver: {mode}  (median of {len(runs)} runs; {args.clients} unary clients x {args.concurrency} "
          f"in flight; batches of {args.batch:,} units)")
    print(f"  Assign             {m['assign_rps']:>10,.0f} req/s   p50 {m['assign_p50_ms']:6.2f} ms   "
          f"p99 {m['assign_p99_ms']:6.2f} ms   in-process {m['inproc_assign']:>9,.0f}/s   "
          f"ratio {m['assign_rps'] / m['inproc_assign']:.3f}")
    print(f"    CPU per Assign: server {m['server_us']:.0f} us (one server core: {1e6 / m['server_us']:,.0f} req/s), "
          f"client {m['client_us']:.0f} us")
    for name, label in (("batch_one", "BatchAssign x1 exp"), ("batch_all", "BatchAssign x3 exp")):
        print(f"  {label} {m[f'{name}_ups']:>10,.0f} unit-assignments/s   p50 {m[f'{name}_p50_ms']:6.1f} ms   "
              f"p99 {m[f'{name}_p99_ms']:6.1f} ms   in-process {m[f'inproc_{name}']:>9,.0f}/s   "
              f"ratio {m[f'{name}_ups'] / m[f'inproc_{name}']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server", choices=["process", "actor", "ceiling", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1, help="unary client processes")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight per unary client")
    parser.add_argument("--batch", type=int, default=10_000, help="units per BatchAssign call")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; python {sys.version.split()[0]}")
    modes = ["ceiling", "process", "actor"] if args.server == "all" else [args.server]
    servers = {"ceiling": lambda: process_server(_serve_ceiling), "process": lambda: process_server(_serve_process),
               "actor": actor_server}
    for mode in modes:
        with servers[mode]() as target:
            runs = []
            for i in range(args.runs):
                runs.append(one_run(target, args))
                print(f"  {mode} run {i + 1}/{args.runs}: {runs[-1]['assign_rps']:,.0f} Assign req/s, "
                      f"{runs[-1]['batch_one_ups']:,.0f} batch units/s", flush=True)
            report(mode, runs, args)


if __name__ == "__main__":
    main()
