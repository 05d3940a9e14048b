"""Wiring one ``grpc.aio`` server: the assignment and admin services, health checking, reflection, TLS.

Generic gRPC tooling works from the server alone: the standard health service (``grpc.health.v1.Health``) reports
SERVING for ``""`` and each rayab service, and server reflection (``grpc.reflection.v1`` and ``v1alpha``,
:mod:`rayab.rpc.reflection`) lists every service with its descriptors.

>>> import asyncio
>>> from rayab.assignment import ConfigSnapshot
>>> async def main():
...     running = await start_server(ServerSettings(), SnapshotHolder(ConfigSnapshot(0, ())))
...     bound = running.port > 0
...     await running.stop(0)
...     return bound
>>> asyncio.run(main())
True
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rayab.api.engine import ResultsEngine
from rayab.assignment import ConfigSnapshot
from rayab.errors import ValidationError
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc as apb_grpc
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc._generated import experiments_pb2_grpc as epb_grpc
from rayab.rpc._generated import results_pb2 as rpb
from rayab.rpc._generated import results_pb2_grpc as rpb_grpc
from rayab.rpc.assignment_service import AssignmentService
from rayab.rpc.auth import AdminToken, ReadAccess, SdkAccess
from rayab.rpc.experiment_service import ExperimentAdmin, ExperimentService
from rayab.rpc.reflection import enable_reflection
from rayab.rpc.results_service import ResultsService
from rayab.rpc.snapshot import SnapshotHolder
from rayab.serving.assignment_recorder import AssignmentRecorder
from rayab.storage.warehouse import Warehouse

__all__ = [
    "ASSIGNMENT_SERVICE",
    "EXPERIMENT_SERVICE",
    "RESULTS_SERVICE",
    "RunningServer",
    "ServerSettings",
    "ServingEndpoint",
    "launch_endpoint",
    "launcher",
    "start_server",
]

ASSIGNMENT_SERVICE: str = apb.DESCRIPTOR.services_by_name["AssignmentService"].full_name
EXPERIMENT_SERVICE: str = epb.DESCRIPTOR.services_by_name["ExperimentService"].full_name
RESULTS_SERVICE: str = rpb.DESCRIPTOR.services_by_name["ResultsService"].full_name


@dataclass(frozen=True)
class ServerSettings:
    """Where and how a serving process listens.

    ``port`` 0 picks a free port. TLS is on when ``tls_cert_file`` and ``tls_key_file`` (PEM) are both given.
    Without ``admin_token`` the admin service refuses every mutation; with ``read_token`` the experiment and
    results reads need it (or the admin token), without it they are open but never show salts. ``sdk_key`` is the
    key SDKs present to ``WatchConfig`` (the snapshot with its salts) and ``LogExposures``; without it only the
    admin token may; ``watch_heartbeat_s`` is how often a quiet ``WatchConfig`` stream sends a heartbeat. ``reuse_port``
    lets several servers of one deployment share a port on one host (the kernel spreads connections); it is off
    by default so that a server left over from another deployment makes the bind fail instead of silently taking
    half the connections.
    """

    host: str = "127.0.0.1"
    port: int = 0
    admin_token: str | None = None
    read_token: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    max_message_bytes: int = 64 * 2**20
    batch_chunk: int = 2_000
    server_id: str = ""
    reuse_port: bool = False
    sdk_key: str | None = None
    watch_heartbeat_s: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValidationError("port", self.port, "must be an integer in [0, 65535]")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValidationError("tls_key_file" if self.tls_key_file is None else "tls_cert_file", None,
                                  "TLS needs both a certificate and a key file")
        for field, path in (("tls_cert_file", self.tls_cert_file), ("tls_key_file", self.tls_key_file)):
            if path is not None and not Path(path).is_file():
                raise ValidationError(field, path, "must be a readable PEM file")
        if self.batch_chunk < 1:
            raise ValidationError("batch_chunk", self.batch_chunk, "must be at least 1")
        if not 0 < self.watch_heartbeat_s <= 3600:
            raise ValidationError("watch_heartbeat_s", self.watch_heartbeat_s, "must be in (0, 3600] seconds")

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS."""
        return self.tls_cert_file is not None

    def credentials(self) -> grpc.ServerCredentials:
        """The TLS server credentials from the PEM files."""
        assert self.tls_cert_file is not None and self.tls_key_file is not None
        key = Path(self.tls_key_file).read_bytes()
        cert = Path(self.tls_cert_file).read_bytes()
        return grpc.ssl_server_credentials([(key, cert)])


@dataclass
class RunningServer:
    """A started server, its bound port and its services."""

    server: grpc.aio.Server
    port: int
    assignments: AssignmentService
    health: health.aio.HealthServicer

    async def stop(self, grace: float | None = 5.0) -> None:
        """Report NOT_SERVING, end the WatchConfig streams, then stop, letting calls in flight finish within
        ``grace`` seconds."""
        self.assignments.close_watches()
        for name in ("", ASSIGNMENT_SERVICE, EXPERIMENT_SERVICE, RESULTS_SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)


async def start_server(settings: ServerSettings, holder: SnapshotHolder, admin: ExperimentAdmin | None = None,
                       recorder: AssignmentRecorder | None = None,
                       results: ResultsEngine | None = None) -> RunningServer:
    """Start a server on the running event loop; the admin service is added only when ``admin`` is given, the
    results service only when ``results`` is."""
    options = [("grpc.max_receive_message_length", settings.max_message_bytes),
               ("grpc.max_send_message_length", settings.max_message_bytes),
               ("grpc.so_reuseport", int(settings.reuse_port))]
    server = grpc.aio.server(options=options)
    token = AdminToken(settings.admin_token)
    sdk = SdkAccess(token, settings.sdk_key, settings.read_token)
    assignments = AssignmentService(holder, recorder, settings.server_id, settings.batch_chunk, sdk,
                                    settings.watch_heartbeat_s)
    apb_grpc.add_AssignmentServiceServicer_to_server(assignments, server)  # type: ignore[no-untyped-call]
    names = [ASSIGNMENT_SERVICE]
    reads = ReadAccess(token, settings.read_token)
    if admin is not None:
        epb_grpc.add_ExperimentServiceServicer_to_server(  # type: ignore[no-untyped-call]
            ExperimentService(admin, token, reads), server)
        names.append(EXPERIMENT_SERVICE)
    if results is not None:
        rpb_grpc.add_ResultsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            ResultsService(results, reads), server)
        names.append(RESULTS_SERVICE)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection([*names, health.SERVICE_NAME], server)
    address = f"{settings.host}:{settings.port}"
    try:
        port = (server.add_secure_port(address, settings.credentials()) if settings.tls
                else server.add_insecure_port(address))
    except RuntimeError as err:
        raise ValidationError("port", settings.port, f"cannot listen on {address}: {err}") from None
    await server.start()
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, assignments, health_servicer)


class ServingEndpoint:
    """A started server and the snapshot holder it answers from: what a hosting process (e.g. the Ray server
    actor of :mod:`rayab.serving.servers`) drives without knowing about gRPC."""

    def __init__(self, running: RunningServer, holder: SnapshotHolder) -> None:
        self._running = running
        self._holder = holder

    @property
    def port(self) -> int:
        """The bound port."""
        return self._running.port

    @property
    def version(self) -> int:
        """The config version being served."""
        return self._holder.version

    def install(self, snapshot: ConfigSnapshot) -> bool:
        """Serve ``snapshot`` from now on if it is newer."""
        return self._holder.install(snapshot)

    def counters(self) -> dict[str, int]:
        """Requests served, first assignments recorded and dropped."""
        service = self._running.assignments
        recorder = service.recorder
        return {"config_version": self.version, "assign_requests": service.assign_requests,
                "batch_requests": service.batch_requests, "batches_stopped": service.batches_stopped,
                "logged": recorder.recorded if recorder else 0, "dropped": recorder.dropped if recorder else 0,
                "watchers": service.watchers, "exposures_accepted": service.exposures_accepted}

    async def stop(self, grace_s: float) -> None:
        """Stop gracefully (see :meth:`RunningServer.stop`)."""
        await self._running.stop(grace_s)


async def launch_endpoint(settings: ServerSettings, results_warehouse: Warehouse | None, snapshot: ConfigSnapshot,
                          admin: ExperimentAdmin | None, recorder: AssignmentRecorder | None,
                          results_engine: ResultsEngine | None = None, **overrides: Any) -> ServingEndpoint:
    """Start a server answering from ``snapshot``; ``overrides`` replace settings fields (e.g. ``server_id``).

    With ``results_warehouse`` the server also answers ``ResultsService`` from that warehouse, each process with
    its own cache of recent answers (``results_engine``, to share an engine and its cache with another door of the
    same process, such as the console).
    """
    settings = replace(settings, **overrides)
    holder = SnapshotHolder(snapshot)
    results = results_engine or (ResultsEngine(results_warehouse) if results_warehouse is not None else None)
    return ServingEndpoint(await start_server(settings, holder, admin, recorder, results), holder)


def launcher(settings: ServerSettings, results_warehouse: Warehouse | None = None,
             ) -> functools.partial[Coroutine[Any, Any, ServingEndpoint]]:
    """:func:`launch_endpoint` with ``settings`` (and the results warehouse) bound: what
    :func:`rayab.serving.servers.start_servers` takes (it pickles by reference, so each server process imports
    this module itself)."""
    return functools.partial(launch_endpoint, settings, results_warehouse)
