"""Serving processes: Ray actors that each run a ``grpc.aio`` server on their own port, one per node.

A :class:`ServerActor` loads the current snapshot from the config actor, starts the gRPC server (assignment and
admin services, health, reflection) on the actor's event loop, and keeps two background tasks there: one
long-polls the config actor and installs every new version (:func:`follow_config`), the other ships first
assignments to the assignment logger (:class:`~rayab.serving.assignment_logger.LogShipper`). No request ever
waits on either: requests read the local snapshot.

Why actors rather than plain processes: measured with ``scripts/bench_assign.py`` on 2 shared cores, a server
costs the same CPU per Assign in an actor as in a bare process (440 to 480 us, against 360 to 380 us for a bare
``grpc.aio`` server with empty handlers; the rayab handler itself is about 26 us). What differs is the machine
around it: with Ray up, its own processes (raylet, GCS, agents) and the logger share the 2 cores, and the actor
deployment served 1,300 to 2,000 Assign/s where the bare process served 1,200 to 2,700 (medians of 3 to 5 runs,
load average 4 to 7 from other work). A plain process would still need a Ray connection (a driver, with the same
background threads) to follow the config actor, so it would not escape that cost; actors are placed one per node,
found by name and stopped by Ray. They are not restarted behind our back (``max_restarts=0``): ``rayab serve``
owns them and supervises them (:func:`check_servers`, :func:`supervise`): a server whose process died is
replaced by a new one with the same settings (same port, same node when it is alive), which loads the current
config before it listens. While a server is down its address refuses connections, so a gRPC health check there
fails (UNAVAILABLE) rather than reporting SERVING; a server being stopped reports NOT_SERVING.
More servers than nodes (``servers=N`` with a fixed port) share the port on a node through
``SO_REUSEPORT``, and the kernel spreads connections over them.

This module never imports the gRPC edge (:mod:`rayab.rpc`, above it): the caller hands
:func:`start_servers` a :data:`Launcher` (``rayab.rpc.server.launcher(settings)``) that each server actor
calls to start its server, and drives the result through the small :class:`Endpoint` interface.

:func:`start_servers` starts the config actor, the logger and the servers; :func:`stop_servers` stops the servers
gracefully (calls in flight finish, buffered assignments reach the logger) and closes the logger (its buffer is
committed), so a graceful shutdown loses nothing; a server that died meanwhile is reported as such, not raised.
What a killed server had buffered and not yet shipped (at most the shipper's interval, 0.5 s) is lost: those
units are recorded again on their next call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rayab.assignment import ConfigSnapshot
from rayab.errors import PreconditionError
from rayab.serving.assignment_logger import AssignmentLogger, LogShipper
from rayab.serving.assignment_recorder import AssignmentRecorder
from rayab.serving.config_actor import CONFIG_ACTOR, NAMESPACE, ActorAdmin, config_actor
from rayab.storage.warehouse import Warehouse

__all__ = [
    "ASSIGNMENT_LOGGER",
    "Deployment",
    "Endpoint",
    "Launcher",
    "ServerActor",
    "ServerPlan",
    "check_servers",
    "follow_config",
    "server_statuses",
    "start_servers",
    "stop_servers",
    "supervise",
]

ASSIGNMENT_LOGGER = "rayab-assignment-logger"
log = logging.getLogger(__name__)


class Endpoint(Protocol):
    """A started server as its host process sees it (:class:`rayab.rpc.server.ServingEndpoint`)."""

    @property
    def port(self) -> int: ...

    @property
    def version(self) -> int: ...

    def install(self, snapshot: ConfigSnapshot) -> bool: ...

    def counters(self) -> dict[str, int]: ...

    async def stop(self, grace_s: float) -> None: ...


# (snapshot, admin, recorder, **setting overrides) -> a started endpoint; rayab.rpc.server.launcher(settings)
# makes one. Passed in from above (the CLI) so that this package never imports the gRPC edge.
Launcher = Callable[..., Awaitable[Endpoint]]


async def follow_config(holder: Endpoint, actor: Any, poll_s: float = 10.0, retry_s: float = 0.2) -> None:
    """Install every new config version from ``actor`` into ``holder``, forever (cancel to stop).

    While the actor is down (restarting), the holder keeps serving the version it has, and the poll is retried.
    """
    while True:
        try:
            payload = await actor.wait_for_version.remote(holder.version, poll_s)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # RayActorError, ActorUnavailableError, ...: the actor is restarting
            log.info("config actor unavailable, retrying: %s", type(err).__name__)
            await asyncio.sleep(retry_s)
            continue
        if payload is not None:
            snapshot = await asyncio.to_thread(ConfigSnapshot.from_dict, payload)
            holder.install(snapshot)


@ray.remote(num_cpus=0, max_restarts=0)
class ServerActor:
    """One serving process: a gRPC server on the actor's event loop, following the config actor."""

    def __init__(self, launch: Launcher, overrides: dict[str, Any], config_name: str = CONFIG_ACTOR,
                 namespace: str = NAMESPACE, logger_name: str | None = ASSIGNMENT_LOGGER) -> None:
        self._launch = launch
        self._overrides = overrides
        self._names: tuple[str, str, str | None] = (config_name, namespace, logger_name)
        self._endpoint: Endpoint | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._shipper: LogShipper | None = None

    async def start(self, overrides: dict[str, Any] | None = None) -> int:
        """Start serving (with other setting ``overrides`` than the constructor's, e.g. as a spare taking a dead
        server's place); returns the bound port."""
        if overrides is not None:
            self._overrides = overrides
        config_name, namespace, logger_name = self._names
        actor: Any = ray.get_actor(config_name, namespace=namespace)
        snapshot = ConfigSnapshot.from_dict(await actor.snapshot.remote())
        recorder: AssignmentRecorder | None = None
        if logger_name is not None:
            recorder = AssignmentRecorder()
            self._shipper = LogShipper(recorder, ray.get_actor(logger_name, namespace=namespace))
        self._endpoint = endpoint = await self._launch(snapshot, ActorAdmin(actor), recorder, **self._overrides)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(follow_config(endpoint, actor))]
        if self._shipper is not None:
            self._tasks.append(loop.create_task(self._shipper.run()))
        return endpoint.port

    async def status(self) -> dict[str, Any]:
        """Counters of this server (the same as the GetServingStatus call), its port, node and process."""
        assert self._endpoint is not None, "start() first"
        return {**self._endpoint.counters(), "port": self._endpoint.port, "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(),
                "shipped": self._shipper.shipped if self._shipper else 0}

    async def stop(self, grace_s: float = 5.0) -> dict[str, Any]:
        """Finish calls in flight, stop following, hand every buffered assignment to the logger."""
        assert self._endpoint is not None, "start() first"
        await self._endpoint.stop(grace_s)
        for task in self._tasks:
            task.cancel()
        if self._shipper is not None:
            await self._shipper.drain()
        return await self.status()


@dataclass(frozen=True)
class ServerPlan:
    """How to (re)start one server actor: its setting overrides and the node it belongs on."""

    overrides: dict[str, Any]
    node_id: str
    node_address: str
    soft: bool


@dataclass
class Deployment:
    """What :func:`start_servers` started: the actors and the addresses clients use, and how to restart them."""

    config: Any
    logger: Any
    servers: list[Any] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    launch: Launcher | None = None
    plans: list[ServerPlan] = field(default_factory=list)
    names: tuple[str, str, str] = (CONFIG_ACTOR, NAMESPACE, ASSIGNMENT_LOGGER)
    host: str = "127.0.0.1"
    replaced: int = 0
    spares: dict[str, Any] = field(default_factory=dict)  # node id -> a started but idle server actor

    def config_version(self) -> int:
        """The config version the deployment's config actor holds now."""
        return int(ray.get(self.config.version.remote()))


def _start_server(deployment: Deployment, plan: ServerPlan, soft: bool | None = None) -> Any:
    config_name, namespace, logger_name = deployment.names
    strategy = NodeAffinitySchedulingStrategy(plan.node_id, soft=plan.soft if soft is None else soft)
    return ServerActor.options(  # type: ignore[attr-defined]
        namespace=namespace, scheduling_strategy=strategy).remote(
        deployment.launch, plan.overrides, config_name, namespace, logger_name)


def _address(deployment: Deployment, plan: ServerPlan, port: int) -> str:
    anywhere = deployment.host in ("0.0.0.0", "[::]", "::")
    return f"{plan.node_address if anywhere else deployment.host}:{port}"


def start_servers(warehouse: Warehouse, launch: Launcher, host: str = "127.0.0.1", servers: int | None = None,
                  namespace: str = NAMESPACE, prefix: str = "rayab", logger_options: dict[str, Any] | None = None,
                  spares: bool = False) -> Deployment:
    """Start (or join) the config actor and the logger, then ``servers`` server actors (default: one per alive
    node, each pinned to its node), each starting its server with ``launch`` (e.g.
    ``rayab.rpc.server.launcher(settings)``; ``host`` is where those settings listen). Returns once every
    server listens.

    With ``spares``, one idle server actor per node is started too: its process is up and has imported
    everything, so replacing a dead server costs only loading the config and binding the port (starting a new
    process is most of a replacement's time on a busy machine: 7 to 40 s measured at load average 20 on 2 cores).
    """
    config = config_actor(warehouse, f"{prefix}-config", namespace)
    logger = AssignmentLogger.options(  # type: ignore[attr-defined]
        name=f"{prefix}-assignment-logger", namespace=namespace, lifetime="detached",
        get_if_exists=True).remote(warehouse, **(logger_options or {}))
    joined = ray.get(config.warehouse_url.remote())  # also waits until the config is loaded
    if joined != warehouse.url:
        raise PreconditionError(f"config actor {prefix}-config in namespace {namespace} already serves warehouse "
                                f"{joined}, not {warehouse.url}; use another namespace or stop it first")
    deployment = Deployment(config, logger, launch=launch, host=host,
                            names=(f"{prefix}-config", namespace, f"{prefix}-assignment-logger"))
    nodes = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
    count = servers or len(nodes)
    for i in range(count):
        node = nodes[i % len(nodes)]
        # more servers than nodes share the port of a node on purpose
        overrides = {"server_id": f"{prefix}-server-{i}", "reuse_port": count > len(nodes)}
        plan = ServerPlan(overrides, node["NodeID"], node["NodeManagerAddress"], soft=servers is not None)
        deployment.plans.append(plan)
        deployment.servers.append(_start_server(deployment, plan))
    ports = ray.get([s.start.remote() for s in deployment.servers])
    deployment.addresses = [_address(deployment, plan, port) for plan, port in zip(deployment.plans, ports,
                                                                                       strict=True)]
    if spares:
        for plan in deployment.plans:
            if plan.node_id not in deployment.spares:
                deployment.spares[plan.node_id] = _start_server(deployment, plan, soft=True)
    return deployment


def server_statuses(deployment: Deployment) -> list[dict[str, Any]]:
    """Each server's :meth:`ServerActor.status` (counters, port, and ``console_port`` when it serves the console),
    in the order of :attr:`Deployment.addresses`."""
    statuses: list[dict[str, Any]] = ray.get([s.status.remote() for s in deployment.servers])
    return statuses


def _replace(deployment: Deployment, plan: ServerPlan, port: int) -> tuple[Any, int]:
    """A started server for ``plan`` on ``port``: the node's spare if there is one (then a new spare is started),
    else a new actor."""
    overrides = {**plan.overrides, "port": port}  # the same address, even when the settings said "any port"
    spare = deployment.spares.pop(plan.node_id, None)
    if spare is not None:
        try:
            bound: int = ray.get(spare.start.remote(overrides))
        except RayActorError:
            log.warning("the spare server died too; starting a new one")
        else:
            deployment.spares[plan.node_id] = _start_server(deployment, plan, soft=True)
            return spare, bound
    server = _start_server(deployment, plan, soft=True)  # soft: its node may be the one that died
    return server, ray.get(server.start.remote(overrides))


def _dead(refs: list[Any], timeout_s: float) -> list[int]:
    """Indices of the calls in ``refs`` that failed because their actor died (a slow answer is not death)."""
    ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    dead = []
    for i, ref in enumerate(refs):
        try:
            ray.get(ref, timeout=0)
        except RayActorError:
            dead.append(i)
        except Exception:  # still running, or a transient failure: look again next time
            pass
    return dead


def check_servers(deployment: Deployment, timeout_s: float = 2.0) -> list[tuple[int, str, float]]:
    """Replace every server whose process died; returns ``(index, address, seconds to restart)`` for each.

    A replacement keeps its predecessor's settings (and port; its node when that node is still alive), loads
    the current config and listens before this returns.
    """
    dead = _dead([s.status.remote() for s in deployment.servers], timeout_s)
    events = []
    for i in dead:
        started = time.monotonic()
        plan = deployment.plans[i]
        server, port = _replace(deployment, plan, int(deployment.addresses[i].rsplit(":", 1)[1]))
        deployment.servers[i] = server
        deployment.addresses[i] = _address(deployment, plan, port)
        deployment.replaced += 1
        events.append((i, deployment.addresses[i], time.monotonic() - started))
        log.warning("server %d died; replaced at %s in %.2f s", i, deployment.addresses[i], events[-1][2])
    return events


def supervise(deployment: Deployment, stop: threading.Event, interval_s: float = 0.5,
              report: Callable[[str], None] | None = None) -> None:
    """Check the servers every ``interval_s`` seconds (:func:`check_servers`) until ``stop`` is set; ``report``
    gets one line per replacement."""
    while not stop.wait(interval_s):
        try:
            events = check_servers(deployment)
        except Exception as err:  # e.g. the replacement could not start yet: try again
            log.warning("could not replace a server, will retry: %s", err)
            continue
        for i, address, seconds in events:
            if report is not None:
                report(f"server {i} died; replaced, listening on {address} after {seconds:.2f} s")


def stop_servers(deployment: Deployment, grace_s: float = 5.0) -> list[dict[str, Any]]:
    """Stop the servers gracefully, then flush and close the logger; returns each server's final counters (a
    server that died meanwhile has ``{"port", "dead": True}`` and zero counters)."""
    refs = [s.stop.remote(grace_s) for s in deployment.servers]
    final: list[dict[str, Any]] = []
    for ref, address in zip(refs, deployment.addresses, strict=True):
        try:
            final.append(ray.get(ref))
        except RayActorError:
            port = int(address.rsplit(":", 1)[1])
            final.append({"port": port, "dead": True, "assign_requests": 0, "batch_requests": 0, "logged": 0,
                          "dropped": 0, "shipped": 0})
    ray.get(deployment.logger.close.remote())
    for server in (*deployment.servers, *deployment.spares.values()):
        ray.kill(server)
    deployment.spares.clear()
    return final
