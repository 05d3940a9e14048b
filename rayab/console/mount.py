"""The console inside ``rayab serve``: each server process answers HTTP on the console port next to its gRPC port.

:func:`console_launcher` is the :data:`~rayab.serving.servers.Launcher` ``rayab serve --console-port`` hands the
server actors instead of :func:`rayab.rpc.server.launcher`. In each server process it starts the gRPC server as
usual, then the console (uvicorn) on the same event loop, with

- the same :class:`~rayab.api.engine.ResultsEngine`, so the console and ``ResultsService`` share one cache;
- the same admin path (the config actor, through :class:`~rayab.serving.config_actor.ActorAdmin`), so a rollout
  set in the console is the next config version every server installs, as if it came through
  ``ExperimentService``;
- the same tokens: the admin token for changes, and the read token (when the deployment has one) for every page;
  and the same TLS certificate (``https``) when the gRPC server has one.

Stopping the server stops the console first (requests in flight finish), then the gRPC server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Coroutine, Generator
from typing import Any

import uvicorn

from rayab.api.engine import ResultsEngine
from rayab.assignment import ConfigSnapshot
from rayab.console.app import create_app
from rayab.errors import ValidationError
from rayab.rpc.experiment_service import ExperimentAdmin
from rayab.rpc.server import ServerSettings, ServingEndpoint, launch_endpoint
from rayab.serving.assignment_recorder import AssignmentRecorder
from rayab.storage.warehouse import Warehouse

__all__ = ["ConsoleEndpoint", "console_launcher", "launch_with_console"]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn on a loop it does not own: the hosting process keeps its own signal handling."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValidationError("console_port", port, f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ConsoleEndpoint:
    """A gRPC endpoint with the console next to it; what the server actor drives (:class:`Endpoint`)."""

    def __init__(self, grpc_endpoint: ServingEndpoint, server: _EmbeddedServer, task: asyncio.Task[None],
                 console_port: int) -> None:
        self._grpc = grpc_endpoint
        self._server = server
        self._task = task
        self.console_port = console_port

    @property
    def port(self) -> int:
        """The gRPC port."""
        return self._grpc.port

    @property
    def version(self) -> int:
        """The config version being served."""
        return self._grpc.version

    def install(self, snapshot: ConfigSnapshot) -> bool:
        """Serve ``snapshot`` from now on if it is newer."""
        return self._grpc.install(snapshot)

    def counters(self) -> dict[str, int]:
        """The gRPC server's counters and the console's port."""
        return {**self._grpc.counters(), "console_port": self.console_port}

    async def stop(self, grace_s: float) -> None:
        """Stop the console (requests in flight finish within ``grace_s``), then the gRPC server."""
        self._server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        if not self._task.done():
            self._server.force_exit = True
            self._task.cancel()
        await self._grpc.stop(grace_s)


async def launch_with_console(settings: ServerSettings, warehouse: Warehouse, console_port: int,
                              snapshot: ConfigSnapshot, admin: ExperimentAdmin | None,
                              recorder: AssignmentRecorder | None, **overrides: Any) -> ConsoleEndpoint:
    """Start the gRPC server (with the results service on ``warehouse``) and the console on ``console_port`` (0:
    any free port), sharing one results engine and ``admin``."""
    engine = ResultsEngine(warehouse)
    grpc_endpoint = await launch_endpoint(settings, warehouse, snapshot, admin, recorder, results_engine=engine,
                                          **overrides)
    reuse = bool(overrides.get("reuse_port", settings.reuse_port))
    try:
        sock = _bind(settings.host, console_port, reuse)
    except ValidationError:
        await grpc_endpoint.stop(0)
        raise
    app = create_app(warehouse, settings.admin_token, engine=engine, admin=admin, read_token=settings.read_token)
    server = _EmbeddedServer(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                            ssl_certfile=settings.tls_cert_file, ssl_keyfile=settings.tls_key_file))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise ValidationError("console_port", console_port, "the console stopped while starting")
        await asyncio.sleep(0.01)
    return ConsoleEndpoint(grpc_endpoint, server, task, int(sock.getsockname()[1]))


def console_launcher(settings: ServerSettings, warehouse: Warehouse, console_port: int,
                     ) -> functools.partial[Coroutine[Any, Any, ConsoleEndpoint]]:
    """:func:`launch_with_console` with its settings bound: what :func:`rayab.serving.servers.start_servers`
    takes."""
    return functools.partial(launch_with_console, settings, warehouse, console_port)
