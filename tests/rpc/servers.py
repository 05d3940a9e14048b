"""Test helpers: a real rayab gRPC server on a loopback port, run on its own event loop in a background thread,
and experiment specs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc

from rayab.api.engine import ResultsEngine
from rayab.lifecycle.config_store import ConfigStore, LocalAdmin
from rayab.rpc._generated import assignment_pb2_grpc, experiments_pb2_grpc
from rayab.rpc.client import open_channel
from rayab.rpc.server import RunningServer, ServerSettings, start_server
from rayab.rpc.snapshot import SnapshotHolder
from rayab.serving.assignment_recorder import AssignmentRecorder
from rayab.storage.warehouse import Warehouse

TOKEN = "test-admin-token"


def spec(exp_id: str, **fields: Any) -> dict[str, Any]:
    """A valid two-variant experiment spec; ``fields`` override."""
    base: dict[str, Any] = {
        "exp_id": exp_id, "name": exp_id, "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
        "variants": [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1", "depth": 10}},
                     {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2", "depth": 20}}]}
    return {**base, **fields}


class ServerThread:
    """A server with a local admin over a warehouse; ``stub``/``admin`` are blocking stubs to it."""

    def __init__(self, warehouse_root: Path, settings: ServerSettings | None = None,
                 tls_ca: str | None = None, recorder: AssignmentRecorder | None = None,
                 results: bool = False) -> None:
        self.warehouse = Warehouse.from_url(warehouse_root)
        self.store = ConfigStore(self.warehouse)
        self.holder = SnapshotHolder(self.store.snapshot)
        self.recorder = recorder or AssignmentRecorder()
        self.settings = settings or ServerSettings(admin_token=TOKEN)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        admin = LocalAdmin(self.store, self.holder.install)  # type: ignore[arg-type]
        engine = ResultsEngine(self.warehouse) if results else None
        self.running: RunningServer = self.run(start_server(self.settings, self.holder, admin, self.recorder,
                                                            engine))
        self.port = self.running.port
        self.channel = open_channel(f"127.0.0.1:{self.port}", tls_ca, "localhost" if tls_ca else None)
        self.stub = assignment_pb2_grpc.AssignmentServiceStub(self.channel)
        self.admin = experiments_pb2_grpc.ExperimentServiceStub(self.channel)

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def call_soon(self, function: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(function)

    def close(self) -> None:
        self.channel.close()
        self.run(self.running.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def metadata(token: str = TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def code_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and details of a call that must fail."""
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), err.details()
    raise AssertionError("the call succeeded")
