"""The SDK's side of the wire: following ``WatchConfig`` and sending exposures with ``LogExposures``.

:class:`ConfigWatcher` keeps one ``WatchConfig`` stream open on a background thread and hands every snapshot
document it receives to a callback. When the stream breaks (the server restarts, the network drops, or nothing,
not even a heartbeat, came for ``stale_s`` seconds) it reconnects with exponential backoff and jitter, asking for
versions newer than the one it holds, so the callback's owner keeps serving its last snapshot meanwhile and
misses nothing once back. :class:`ExposureSender` sends a batch of exposures in one client-streaming call.

Only :mod:`rayab.client` uses this module, and only when it talks to a server; nothing here evaluates
assignments.

>>> watcher = ConfigWatcher("127.0.0.1:1", "key", lambda text: None)  # connecting is lazy: nothing is sent yet
>>> watcher.version
0
>>> watcher.close()
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from rayab.errors import RayabError
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc as apb_grpc
from rayab.rpc.auth import bearer_metadata
from rayab.rpc.client import open_channel

__all__ = ["ConfigWatcher", "ExposureSender", "SendFailed"]

log = logging.getLogger(__name__)
# exp_id, unit_id, variant_id, exposed_at_us
ExposureRow = tuple[str, str, str, int]


class SendFailed(RayabError):
    """The exposures could not be delivered (the server is unreachable or refused the call); keep them."""


class ConfigWatcher:
    """Follows ``WatchConfig`` on a daemon thread; ``on_document(json_text)`` returns the version it installed
    (or None when it kept the current one, e.g. an older or invalid document)."""

    def __init__(self, target: str, sdk_key: str, on_document: Callable[[str], int | None], known_version: int = 0,
                 tls_ca_file: str | None = None, server_name: str | None = None, backoff_s: float = 0.1,
                 max_backoff_s: float = 5.0, stale_s: float = 35.0) -> None:
        self._channel = open_channel(target, tls_ca_file, server_name)
        self._stub = apb_grpc.AssignmentServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = bearer_metadata(sdk_key)
        self._on_document = on_document
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._stale_s = stale_s
        self._stop = threading.Event()
        self._call: Any = None
        self._last_message = time.monotonic()
        self._thread: threading.Thread | None = None
        self.version = known_version
        self.connects = 0
        self.breaks = 0
        self.last_error = ""
        self.connected = False

    def start(self) -> None:
        """Start following (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rayab-config-watch", daemon=True)
            self._thread.start()
            threading.Thread(target=self._watchdog, name="rayab-config-watchdog", daemon=True).start()

    def close(self) -> None:
        """Stop following and close the channel."""
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._channel.close()

    def _run(self) -> None:
        delay = self._backoff_s
        while not self._stop.is_set():
            try:
                self._follow()
                delay = self._backoff_s if self.connected else delay
            except grpc.RpcError as err:
                if self._stop.is_set():
                    break
                self.last_error = f"{err.code().name}: {err.details()}"
                if self.connected:  # it was working: start backing off from the beginning
                    delay = self._backoff_s
                log.info("config stream broke (%s); reconnecting in %.2f s", self.last_error, delay)
            finally:
                if self.connected:
                    self.breaks += 1
                self.connected = False
                self._call = None
            if self._stop.wait(delay * random.uniform(0.5, 1.0)):  # jitter: 100 clients do not reconnect at once
                break
            delay = min(delay * 2, self._max_backoff_s)

    def _follow(self) -> None:
        call = self._stub.WatchConfig(apb.WatchConfigRequest(known_version=self.version), metadata=self._metadata)
        self._call = call
        self._last_message = time.monotonic()
        if self._stop.is_set():
            call.cancel()
        for response in call:
            self._last_message = time.monotonic()
            if not self.connected:
                self.connected = True
                self.connects += 1
            if not response.snapshot_json:
                continue  # a heartbeat
            try:
                installed = self._on_document(response.snapshot_json)
            except RayabError as err:  # an invalid document: keep serving the current one
                self.last_error = f"config version {response.config_version} refused: {err}"
                log.warning("%s", self.last_error)
                installed = None
            if installed is not None:
                self.version = max(self.version, installed)

    def _watchdog(self) -> None:
        while not self._stop.wait(min(1.0, self._stale_s / 4)):
            call = self._call
            if call is not None and time.monotonic() - self._last_message > self._stale_s:
                self.last_error = f"no message for {self._stale_s:g} s"
                call.cancel()  # _run reconnects


class ExposureSender:
    """Sends exposures with ``LogExposures``: one call per :meth:`send`, ``chunk`` exposures per message."""

    def __init__(self, target: str, sdk_key: str, tls_ca_file: str | None = None, server_name: str | None = None,
                 timeout_s: float = 10.0, chunk: int = 5_000) -> None:
        self._channel = open_channel(target, tls_ca_file, server_name)
        self._stub = apb_grpc.AssignmentServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = bearer_metadata(sdk_key)
        self._timeout_s = timeout_s
        self._chunk = chunk

    def send(self, rows: Sequence[ExposureRow]) -> tuple[int, int, int, str]:
        """Deliver ``rows``; returns (accepted, rejected, dropped by the server, first refusal), raises
        :class:`SendFailed` when the call fails (nothing can be assumed delivered)."""
        chunk = self._chunk

        def requests() -> Any:
            for start in range(0, len(rows), chunk):
                message = apb.LogExposuresRequest()
                message.exposures.extend(
                    apb.Exposure(exp_id=e, unit_id=u, variant_id=v, exposed_at_us=t)
                    for e, u, v, t in rows[start:start + chunk])
                yield message

        try:
            reply = self._stub.LogExposures(requests(), metadata=self._metadata, timeout=self._timeout_s)
        except grpc.RpcError as err:
            raise SendFailed(f"LogExposures failed: {err.code().name}: {err.details()}") from None
        return reply.accepted, reply.rejected, reply.dropped, reply.first_error

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
