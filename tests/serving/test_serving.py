"""The deployed front on the session's local Ray: config actor, assignment logger and two server actors on loopback
ports. A bounded load test raises coverage twice and kills the config actor meanwhile; assignments logged by both
servers end up once each in the ``assignment`` table."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

import grpc
import pytest

from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc, experiments_pb2_grpc
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc.client import open_channel
from rayab.rpc.server import ServerSettings, launcher
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.rpc.reference import HALF, expected_variant
from tests.rpc.servers import TOKEN, metadata, spec
from tests.waiting import wait_until


@pytest.fixture()
def deployment(ray_local, workdir):
    import ray

    from rayab.serving.servers import start_servers, stop_servers

    warehouse = Warehouse.from_url(workdir / "wh")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    started = start_servers(warehouse, launcher(ServerSettings(admin_token=TOKEN)), servers=2, prefix=prefix,
                            logger_options={"flush_rows": 10_000, "flush_s": 0.5})
    channels = [open_channel(a) for a in started.addresses]
    started.stubs = [assignment_pb2_grpc.AssignmentServiceStub(c) for c in channels]  # type: ignore[attr-defined]
    started.admin = experiments_pb2_grpc.ExperimentServiceStub(channels[0])  # type: ignore[attr-defined]
    started.warehouse = warehouse  # type: ignore[attr-defined]
    started.prefix = prefix  # type: ignore[attr-defined]
    started.stop = lambda: stop_servers(started)  # type: ignore[attr-defined]
    yield started
    for channel in channels:
        channel.close()
    for actor in (*started.servers, started.config, started.logger):
        ray.kill(actor, no_restart=True)


def _update(deployment, rollout):
    request = epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=rollout)
    return deployment.admin.UpdateExperiment(request, metadata=metadata()).config_version


def _wait_for_version(stub, version, timeout=10.0):
    wait_until(lambda: stub.GetServingStatus(apb.GetServingStatusRequest()).config_version >= version, timeout,
               f"version {version} reaching the server", interval=0.02)


def _answers_at(load: Load, version: int) -> int:
    return sum(1 for a in list(load.answers) if a[1] == version)


class Load:
    """Client threads calling Assign on both servers until stopped; keeps every answer and every error."""

    def __init__(self, stubs, threads: int = 4) -> None:
        self.answers: list[tuple[float, int, str, str]] = []
        self.errors: list[grpc.RpcError] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(stubs[i % len(stubs)], i)) for i in range(threads)]

    def _run(self, stub, seed):
        rng = random.Random(seed)
        while not self._stop.is_set():
            unit = f"user-{rng.randrange(5_000)}"
            try:
                response = stub.Assign(apb.AssignRequest(unit_id=unit, exp_ids=["ramp"]), timeout=5)
            except grpc.RpcError as err:
                self.errors.append(err)
                time.sleep(0.01)  # a server that is down refuses at once: do not spin
                continue
            self.answers.append((time.monotonic(), response.config_version, unit, response.assignments[0].variant_id))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def test_load_while_raising_coverage_twice_and_killing_the_config_actor(deployment):
    import ray

    created = deployment.admin.CreateExperiment(
        epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp", rollout_pct=10))), metadata=metadata())
    assert created.config_version == 1
    for stub in deployment.stubs:
        _wait_for_version(stub, 1)
    rollout = {1: 10.0}
    with Load(deployment.stubs) as load:
        wait_until(lambda: _answers_at(load, 1) > 20, 30, "answers at version 1")
        rollout[_update(deployment, 30)] = 30.0
        wait_until(lambda: _answers_at(load, 2) > 20, 30, "answers at version 2")
        before = ray.get(deployment.config.snapshot.remote())
        ray.kill(deployment.config, no_restart=False)  # it restarts and reloads from the warehouse
        killed_at = time.monotonic()
        deadline = killed_at + 60
        while True:
            try:
                after = ray.get(deployment.config.snapshot.remote(), timeout=5)
                break
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                assert time.monotonic() < deadline, "the config actor did not come back"
                time.sleep(0.1)
        back_at = time.monotonic()
        assert after == before  # same config after the restart
        wait_until(lambda: len([a for a in load.answers if a[0] > back_at]) > 20, 30, "answers after the restart")
        rollout[_update(deployment, 70)] = 70.0
        for stub in deployment.stubs:
            _wait_for_version(stub, 3)
        wait_until(lambda: _answers_at(load, 3) > 20, 30, "answers at version 3")
    assert load.errors == []
    assert {v for _, v, _, _ in load.answers} == {1, 2, 3}
    # servers keep answering from their snapshot while the actor is down; a restart quicker than a second may fall
    # between two answers of a loaded machine, so the window looked at is at least a second long
    during_restart = [a for a in load.answers if killed_at <= a[0] <= max(back_at, killed_at + 1.0)]
    assert during_restart, f"serving stopped while the config actor was down ({back_at - killed_at:.2f} s)"
    first_variant: dict[str, str] = {}
    for _, version, unit, variant in load.answers:
        assert (variant or None) == expected_variant("ramp", unit, HALF, rollout[version]), (version, unit)
        if variant:
            assert first_variant.setdefault(unit, variant) == variant  # ramping never moves a unit
    assert len(load.answers) > 500


def test_assignments_logged_by_two_servers_end_up_once_each(deployment):
    deployment.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp"))),
                                      metadata=metadata())
    deployment.admin.CreateExperiment(
        epb.CreateExperimentRequest(spec_json=json.dumps(spec("half", rollout_pct=50))), metadata=metadata())
    for stub in deployment.stubs:
        _wait_for_version(stub, 2)
    units = [f"user-{i}" for i in range(1_500)]
    for stub in deployment.stubs:  # every unit asks both servers, in single and batch calls
        for unit in units[:300]:
            stub.Assign(apb.AssignRequest(unit_id=unit))
        stub.BatchAssign(apb.BatchAssignRequest(unit_ids=units))
    finals = deployment.stop()  # graceful: servers hand their buffers over, the logger commits its own
    assert sum(f["dropped"] for f in finals) == 0
    rows = read_rows(deployment.warehouse, "assignment").to_pylist()
    got = sorted((r["exp_id"], r["unit_id"], r["variant_id"]) for r in rows)
    expected = sorted((exp_id, unit, expected_variant(exp_id, unit, HALF, rollout))
                      for exp_id, rollout in (("ramp", 100), ("half", 50)) for unit in units
                      if expected_variant(exp_id, unit, HALF, rollout) is not None)
    assert got == expected  # each first assignment exactly once, none missing
    assert all(r["date"] == r["assigned_at"].strftime("%Y-%m-%d") for r in rows)


def test_admin_calls_to_a_dead_config_actor_are_unavailable(ray_local, workdir):
    import asyncio

    import ray

    from rayab.errors import StorageError
    from rayab.rpc.status import status_of
    from rayab.serving.config_actor import ActorAdmin, ConfigActor

    actor = ConfigActor.options(max_restarts=0).remote(Warehouse.from_url(workdir / "wh"))  # type: ignore[attr-defined]
    admin = ActorAdmin(actor)
    assert asyncio.run(admin.list(None)) == ([], 0)
    ray.kill(actor, no_restart=True)
    with pytest.raises(StorageError, match="config actor is unavailable") as caught:
        asyncio.run(admin.get("ctr_test"))
    assert status_of(caught.value)[0] == grpc.StatusCode.UNAVAILABLE


def test_actor_admin_brings_rayab_errors_back_as_they_were(ray_local, workdir):
    import asyncio

    import ray

    from rayab.errors import NotFoundError, SpecError
    from rayab.serving.config_actor import ActorAdmin, ConfigActor

    actor = ConfigActor.options(max_restarts=0).remote(Warehouse.from_url(workdir / "wh"))  # type: ignore[attr-defined]
    admin = ActorAdmin(actor)
    try:
        with pytest.raises(SpecError) as caught:
            asyncio.run(admin.create(spec("bad", variants=[{"variant_id": "a", "traffic_pct": 100}])))
        assert caught.value.field == "spec.variants" and str(caught.value).startswith("spec.variants == ")
        with pytest.raises(NotFoundError):
            asyncio.run(admin.get("missing"))
        experiment, version = asyncio.run(admin.create(spec("good")))
        assert (experiment.exp_id, version) == ("good", 1)
        assert dict(experiment.variant("treatment").parameters) == {"ranker": "v2", "depth": 20}
        # the history crosses the actor boundary as it was committed (who, what, when), newest first
        asyncio.run(admin.update("good", status=None, rollout_pct=30.0, targeting=None, expected_version=None,
                                 changed_by="ada"))
        changes, version = asyncio.run(admin.history("good"))
        assert version == 2
        assert [(c.version, c.changed_by, c.change) for c in changes] == [
            (2, "ada", "update good: rollout_pct 100 -> 30"), (1, "", "create good")]
        assert changes[0].committed_at >= changes[1].committed_at
        with pytest.raises(NotFoundError):
            asyncio.run(admin.history("missing"))
    finally:
        ray.kill(actor)


def test_joining_a_config_actor_of_another_warehouse_is_refused(deployment, workdir):
    from rayab.errors import PreconditionError
    from rayab.serving.servers import start_servers

    with pytest.raises(PreconditionError, match="already serves warehouse"):
        start_servers(Warehouse.from_url(workdir / "other"), launcher(ServerSettings()), servers=1,
                      prefix=deployment.prefix)


@pytest.mark.slow
def test_two_deployments_on_one_warehouse_lose_no_admin_change(ray_local, workdir):
    """Two `rayab serve --namespace` on one warehouse: each used to commit its own "version 2", and one of the two
    experiments was gone after a restart. A stale writer is now refused with ABORTED and nothing is lost."""
    import ray

    from rayab.lifecycle.config_store import ConfigStore
    from rayab.serving.servers import start_servers

    warehouse = Warehouse.from_url(workdir / "wh")
    deployments, channels = [], []
    try:
        for name in ("a", "b"):
            prefix = f"t{uuid.uuid4().hex[:8]}"
            deployments.append(start_servers(warehouse, launcher(ServerSettings(admin_token=TOKEN)), servers=1,
                                             namespace=f"ns-{name}-{prefix}", prefix=prefix))
            channels.append(open_channel(deployments[-1].addresses[0]))
        admins = [experiments_pb2_grpc.ExperimentServiceStub(c) for c in channels]

        def create(admin, exp_id):
            request = epb.CreateExperimentRequest(spec_json=json.dumps(spec(exp_id)))
            return admin.CreateExperiment(request, metadata=metadata()).config_version

        assert create(admins[0], "from_a") == 1
        with pytest.raises(grpc.RpcError) as refused:
            create(admins[1], "from_b")  # its writer is still at version 0
        assert refused.value.code() == grpc.StatusCode.ABORTED
        assert "another writer committed version 1" in refused.value.details()
        assert create(admins[1], "from_b") == 2  # the retry is based on version 1

        # both writers at once, each retrying what was refused, until every change is in
        created: dict[str, int] = {}
        aborted = [0]

        def write(admin, names):
            for exp_id in names:
                while True:
                    try:
                        created[exp_id] = create(admin, exp_id)
                        break
                    except grpc.RpcError as err:
                        assert err.code() == grpc.StatusCode.ABORTED, err.details()
                        aborted[0] += 1

        threads = [threading.Thread(target=write, args=(admins[i], [f"{n}_{i}" for n in "pqrs"])) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(created.values()) == list(range(3, 11))  # 8 changes, 8 distinct versions
        reloaded = ConfigStore(warehouse)  # what a restarted config actor loads
        assert reloaded.version == 10
        assert sorted(e.exp_id for e in reloaded.snapshot.experiments) == sorted(
            ["from_a", "from_b", *created])
        versions = read_rows(warehouse, "_config_version").column("version").to_pylist()
        assert sorted(versions) == list(range(1, 11))
        # each deployment's server follows the other writer's commits too
        for channel in channels:
            _wait_for_version(assignment_pb2_grpc.AssignmentServiceStub(channel), 10, timeout=20)
    finally:
        for channel in channels:
            channel.close()
        for deployment in deployments:
            for actor in (*deployment.servers, deployment.config, deployment.logger):
                ray.kill(actor, no_restart=True)


@pytest.mark.slow
def test_a_killed_server_is_replaced_on_its_port_under_load(ray_local, workdir):
    """kill -9 of a server actor used to leave its address dead for good while `rayab serve` looked alive."""
    import os
    import signal
    import socket

    import ray
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from rayab.serving.servers import start_servers, stop_servers, supervise

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefix = f"t{uuid.uuid4().hex[:8]}"
    deployment = start_servers(Warehouse.from_url(workdir / "wh"),
                               launcher(ServerSettings(port=port, admin_token=TOKEN)), servers=1, prefix=prefix,
                               spares=True)
    stop = threading.Event()
    reports: list[str] = []
    supervisor = threading.Thread(target=supervise, args=(deployment, stop),
                                  kwargs={"interval_s": 0.2, "report": reports.append})
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        admin = experiments_pb2_grpc.ExperimentServiceStub(channel)
        admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp"))), metadata=metadata())
        stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        _wait_for_version(stub, 1)
        supervisor.start()
        old_pid = ray.get(deployment.servers[0].status.remote())["pid"]
        ray.get([spare.__ray_ready__.remote() for spare in deployment.spares.values()])  # its process is up
        with Load([stub], threads=2) as load:
            wait_until(lambda: len(load.answers) > 20)
            os.kill(old_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            try:  # while it is down, the address never says SERVING
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                assert status != health_pb2.HealthCheckResponse.SERVING or time.monotonic() - killed_at > 0.5
            except grpc.RpcError as err:
                assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            wait_until(lambda: any(t > killed_at + 0.05 for t, *_ in load.answers[-50:]), timeout=90)
            back_at = min(t for t, *_ in load.answers if t > killed_at + 0.05)
            wait_until(lambda: len([a for a in load.answers if a[0] > back_at]) > 20)
        recovery = back_at - killed_at
        print(f"\ntime to recovery after kill -9 under load: {recovery:.2f} s ({len(load.errors)} failed calls; "
              f"load average {os.getloadavg()[0]:.1f}); {reports}")
        assert deployment.replaced == 1 and len(reports) == 1 and f"listening on 127.0.0.1:{port}" in reports[0]
        status = ray.get(deployment.servers[0].status.remote())
        assert status["pid"] != old_pid and status["port"] == port and status["config_version"] == 1
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        for _, version, unit, variant in load.answers:  # every answer, before and after, is the right one
            assert (version, variant) == (1, expected_variant("ramp", unit, HALF, 100))
        assert all(e.code() == grpc.StatusCode.UNAVAILABLE for e in load.errors)
    finally:
        stop.set()
        if supervisor.is_alive():
            supervisor.join(timeout=30)
        channel.close()
        finals = stop_servers(deployment)
        for actor in (*deployment.servers, deployment.config, deployment.logger):
            ray.kill(actor, no_restart=True)
    assert not deployment.spares  # stopped with the servers
    assert finals[0]["port"] == port and finals[0]["assign_requests"] > 20
