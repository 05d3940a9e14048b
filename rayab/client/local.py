"""The Python SDK: assignments evaluated in-process by the server's own engine, from a followed config snapshot.

A :class:`Client` holds one compiled snapshot (an :class:`~rayab.assignment.Assigner` built from the SDK document
of :mod:`rayab.assignment.snapshot_json`: the code the server runs, not a copy) and swaps it atomically when a
newer version arrives, so an answer never mixes two versions. Connected to a server (``target``) it follows
``WatchConfig`` and keeps serving its last snapshot while the stream is broken; built from a document
(:meth:`Client.from_snapshot`) it never talks to anyone unless given an exposure sink.

>>> from rayab.assignment import ConfigSnapshot
>>> from rayab.assignment.snapshot_json import to_document
>>> from rayab.model.experiment import Experiment
>>> exp = Experiment.from_dict({"exp_id": "ranker_v2", "name": "ranker", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1"}},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> client = Client.from_snapshot(to_document(ConfigSnapshot(3, (exp,))), exposures="never")
>>> decision = client.assign("alice", {"country": "FR"})
>>> decision.variant("ranker_v2"), decision.get("ranker", "v0"), decision.config_version
('control', 'v1', 3)
>>> client.get_parameter("bob", {}, "ranker", "v0"), client.get_parameter("bob", {}, "depth", 10)
('v2', 10)
>>> [d.variant("ranker_v2") for d in client.assign_batch(["alice", "bob"])]
['control', 'treatment']
>>> indexes, variants = client.assign_column("ranker_v2", ["alice", "bob"])
>>> [variants[i] for i in indexes.tolist()]
['control', 'treatment']
>>> client.close()["exposures_sent"]
0
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from rayab.assignment import Assigner, Assignment
from rayab.assignment.snapshot_json import from_document, loads
from rayab.client.exposures import ExposureMode, ExposureSink, FileSink, check_mode
from rayab.errors import PreconditionError, RayabError, ValidationError
from rayab.serving.assignment_recorder import AssignmentRecorder

__all__ = ["Client", "Decision"]

log = logging.getLogger(__name__)
Attributes = Mapping[str, str | int | float | bool]
_MISSING: Any = object()


class _Config:
    """One compiled version: the engine, and the served experiments that define each parameter."""

    __slots__ = ("assigner", "by_parameter", "version")

    def __init__(self, assigner: Assigner) -> None:
        self.assigner = assigner
        self.version = assigner.version
        by_parameter: dict[str, list[str]] = {}
        for plan in assigner.served:
            for name in dict.fromkeys(n for p in plan.parameters for n in p):
                by_parameter.setdefault(name, []).append(plan.exp_id)
        # each parameter's experiments compiled, in config order
        self.by_parameter = {name: assigner.deciders(exp_ids) for name, exp_ids in by_parameter.items()}


class Decision:
    """What one unit sees under one config version: its assignments (config order) and merged parameters.

    Reading it through :meth:`get` or :meth:`variant` logs the exposures in ``on_use`` mode; ``assignments``
    and ``parameters`` are the raw answer and never log.
    """

    __slots__ = ("_client", "assignments", "config_version", "unit_id")

    def __init__(self, client: Client, unit_id: str, assignments: list[Assignment], config_version: int) -> None:
        self._client = client
        self.unit_id = unit_id
        self.assignments = assignments
        self.config_version = config_version

    @property
    def parameters(self) -> dict[str, Any]:
        """Merged over the assignments in order: the first one carrying a name wins (no exposure logged)."""
        merged: dict[str, Any] = {}
        for assignment in self.assignments:
            for name, value in assignment.parameters.items():
                merged.setdefault(name, value)
        return merged

    def get(self, name: str, default: Any = None) -> Any:
        """The parameter ``name``, or ``default`` when no experiment serves it to this unit; in ``on_use`` mode,
        logs the exposure of the experiment that served it."""
        for assignment in self.assignments:
            if name in assignment.parameters:
                self._client._used(self.unit_id, assignment)
                return assignment.parameters[name]
        return default

    def variant(self, exp_id: str) -> str | None:
        """The unit's variant in ``exp_id`` (None: none, or the experiment was not decided); logs the exposure
        in ``on_use`` mode."""
        for assignment in self.assignments:
            if assignment.exp_id == exp_id:
                self._client._used(self.unit_id, assignment)
                return assignment.variant_id
        return None

    def log_exposure(self, exp_id: str | None = None) -> int:
        """Log the exposure in ``exp_id`` (every measured experiment when None), in ``on_use`` or ``explicit``
        mode; returns how many were buffered (0 for a duplicate or a unit in no experiment)."""
        return sum(self._client._log(self.unit_id, a) for a in self.assignments
                   if exp_id is None or a.exp_id == exp_id)

    def __repr__(self) -> str:
        pairs = ", ".join(f"{a.exp_id}={a.variant_id}" for a in self.assignments)
        return f"Decision({self.unit_id!r}, v{self.config_version}: {pairs})"


class Client:
    """In-process assignment with caller-controlled exposure logging.

    ``Client(target, sdk_key)`` connects to a ``rayab serve`` address, follows ``WatchConfig`` (waiting up to
    ``wait_s`` seconds for the first snapshot; ``RayabError`` if none came) and sends exposures with
    ``LogExposures``. ``exposures`` is ``"on_use"``, ``"explicit"`` or ``"never"``
    (:mod:`rayab.client.exposures`); ``exposure_file`` appends them to a JSON-lines file instead of the server.
    At most ``max_pending`` exposures wait for the sink; past that, new ones are dropped and counted
    (:meth:`stats`). :meth:`close` (or leaving a ``with`` block, or the interpreter's exit) sends what is left.
    ``on_update(version)`` is called after each new snapshot is installed (on the stream's thread).
    """

    def __init__(self, target: str | None = None, sdk_key: str | None = None, *, snapshot: Any = None,
                 exposures: ExposureMode = "on_use", exposure_file: str | None = None,
                 sink: ExposureSink | None = None, tls_ca_file: str | None = None, server_name: str | None = None,
                 wait_s: float = 10.0, flush_interval_s: float = 1.0, max_pending: int = 100_000,
                 close_timeout_s: float = 10.0, on_update: Callable[[int], None] | None = None) -> None:
        self.exposure_mode = check_mode(exposures)
        self._on_use = self.exposure_mode == "on_use"
        if target is None and snapshot is None:
            raise ValidationError("target", None, "give a server address (host:port) or a snapshot document")
        if target is not None and not sdk_key:
            raise ValidationError("sdk_key", sdk_key, "a client following a server needs its SDK key")
        self._config: _Config | None = None
        self._on_update = on_update
        self._changed = threading.Condition()
        self._recorder = AssignmentRecorder(max_rows=max_pending)
        self._flush_interval_s = flush_interval_s
        self._close_timeout_s = close_timeout_s
        self._counts = {"exposures_sent": 0, "exposures_rejected": 0, "exposures_dropped_by_server": 0,
                        "exposures_skipped": 0, "send_failures": 0}
        self._last_refusal = ""
        self._closed = False
        self._wake = threading.Event()
        self._watcher: Any = None
        if snapshot is not None:
            self.install(snapshot)
        if sink is None and exposure_file is not None:
            sink = FileSink(exposure_file)
        if target is not None:
            from rayab.rpc.sdk_transport import ConfigWatcher, ExposureSender  # gRPC only when talking to a server

            assert sdk_key is not None
            if sink is None and self.exposure_mode != "never":
                sink = ExposureSender(target, sdk_key, tls_ca_file, server_name)
            self._watcher = ConfigWatcher(target, sdk_key, self._install_text, self.config_version or 0,
                                          tls_ca_file, server_name)
            self._watcher.start()
        self._sink = sink
        self._flusher: threading.Thread | None = None
        if sink is not None and self.exposure_mode != "never":
            self._flusher = threading.Thread(target=self._flush_forever, name="rayab-exposures", daemon=True)
            self._flusher.start()
        atexit.register(self.close)
        if target is not None and self._config is None and not self.wait_for_version(1, wait_s):
            error = self._watcher.last_error or "no answer"
            self.close()
            raise PreconditionError(f"no config snapshot from {target} within {wait_s:g} s: {error}")

    @classmethod
    def from_snapshot(cls, snapshot: Any, **options: Any) -> Client:
        """A client on a fixed snapshot document (a mapping or its JSON text), e.g. exported to a file."""
        return cls(snapshot=snapshot, **options)

    # -- the config -------------------------------------------------------------------------------------------

    @property
    def config_version(self) -> int | None:
        """The version being served (None before the first snapshot)."""
        config = self._config
        return None if config is None else config.version

    def install(self, snapshot: Any) -> bool:
        """Serve ``snapshot`` (a document mapping or its JSON text) if it is newer; a document that does not
        validate raises :class:`~rayab.errors.SpecError` and leaves the current one serving."""
        parsed = loads(snapshot) if isinstance(snapshot, str | bytes) else from_document(snapshot)
        config = _Config(Assigner(parsed))
        with self._changed:
            if self._config is not None and config.version <= self._config.version:
                return False
            self._config = config
            self._changed.notify_all()
        if self._on_update is not None:
            self._on_update(config.version)
        return True

    def _install_text(self, text: str) -> int | None:
        self.install(text)
        return self.config_version

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        """Wait until the served version is at least ``version``; returns whether it is."""
        with self._changed:
            return self._changed.wait_for(lambda: (self.config_version or 0) >= version, timeout_s)

    def _current(self) -> _Config:
        config = self._config
        if config is None:
            raise PreconditionError("the client has no config snapshot yet")
        return config

    # -- assignments ------------------------------------------------------------------------------------------

    def assign(self, unit_id: str, attributes: Attributes | None = None, exp_ids: Sequence[str] | None = None,
               session_id: str | None = None) -> Decision:
        """The unit's assignments in the requested experiments (every served one when ``exp_ids`` is None)."""
        config = self._config
        if config is None:
            config = self._current()  # raises
        return Decision(self, unit_id, config.assigner.assign(unit_id, attributes, exp_ids, session_id),
                        config.version)

    def assign_batch(self, unit_ids: Sequence[str], attributes: Sequence[Attributes | None] | None = None,
                     exp_ids: Sequence[str] | None = None,
                     session_ids: Sequence[str | None] | None = None) -> list[Decision]:
        """:meth:`assign` for many units (one :class:`Decision` each, in order), hashed in vectorised passes."""
        config = self._current()
        rows = config.assigner.assign_batch(unit_ids, attributes, exp_ids, session_ids)
        return [Decision(self, u, row, config.version) for u, row in zip(unit_ids, rows, strict=True)]

    def assign_column(self, exp_id: str, unit_ids: Sequence[str], attributes: Attributes | None = None,
                      ) -> tuple[npt.NDArray[np.int16], tuple[str, ...]]:
        """One experiment for many units sharing ``attributes``, as a column: each unit's index into the
        returned variant ids, -1 for none (the fastest form; logs nothing, see :meth:`log_exposures`)."""
        return self._current().assigner.variant_column(exp_id, unit_ids, attributes)

    def get_parameter(self, unit_id: str, attributes: Attributes | None, name: str, default: Any = None,
                      session_id: str | None = None) -> Any:
        """The parameter ``name`` this unit sees, or ``default``; evaluates only the served experiments that define
        it, in config order, and in ``on_use`` mode logs the exposure of the one that served it."""
        config = self._config
        if config is None:
            config = self._current()  # raises
        checked = config.assigner.check_request(unit_id, attributes, session_id)
        for decide in config.by_parameter.get(name, ()):
            assignment = decide(unit_id, session_id, checked)
            parameters = assignment.parameters
            if name in parameters:
                if self._on_use:
                    self._log(unit_id, assignment)
                return parameters[name]
        return default

    # -- exposures --------------------------------------------------------------------------------------------

    def log_exposures(self, exp_id: str, unit_ids: Sequence[str], variant_ids: Sequence[str]) -> int:
        """Log exposures decided in bulk (e.g. from :meth:`assign_column`); returns how many were buffered."""
        if self.exposure_mode == "never":
            self._counts["exposures_skipped"] += len(unit_ids)
            return 0
        at_us = time.time_ns() // 1000
        rows = [(exp_id, u, v, at_us) for u, v in zip(unit_ids, variant_ids, strict=True)]
        before = self._recorder.recorded
        self._recorder.record_many(rows)
        self._nudge()
        return self._recorder.recorded - before

    def _used(self, unit_id: str, assignment: Assignment) -> None:
        if self._on_use:
            self._log(unit_id, assignment)

    def _log(self, unit_id: str, assignment: Assignment) -> int:
        if not assignment.in_experiment:
            return 0
        if self.exposure_mode == "never":
            self._counts["exposures_skipped"] += 1
            return 0
        assert assignment.variant_id is not None
        before = self._recorder.recorded
        self._recorder.record(assignment.exp_id, unit_id, assignment.variant_id, time.time_ns() // 1000)
        self._nudge()
        return self._recorder.recorded - before

    def _nudge(self) -> None:
        if self._recorder.pending() >= 5_000:
            self._wake.set()

    def _flush_forever(self) -> None:
        delay = self._flush_interval_s
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._is_closed():
                return
            delay = self._flush_interval_s if self._send_pending() else min(delay * 2, 30.0)

    def _is_closed(self) -> bool:
        return self._closed

    def _send_pending(self) -> bool:
        """Send what waits; False (rows kept) when the sink failed."""
        rows = self._recorder.drain()
        if not rows or self._sink is None:
            return True
        try:
            accepted, rejected, dropped, refusal = self._sink.send(rows)
        except RayabError as err:
            self._recorder.restore(rows)  # kept, up to the buffer's bound; the rest is counted as dropped
            self._counts["send_failures"] += 1
            log.info("exposures not sent, will retry: %s", err)
            return False
        self._counts["exposures_sent"] += accepted
        self._counts["exposures_rejected"] += rejected
        self._counts["exposures_dropped_by_server"] += dropped
        if refusal:
            self._last_refusal = refusal
            log.warning("the server refused %d exposures: %s", rejected, refusal)
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send every buffered exposure now, retrying until ``timeout_s``; returns whether none is left."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while self._recorder.pending():
            if self._send_pending():
                continue
            if time.monotonic() + delay > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return True

    def stats(self) -> dict[str, Any]:
        """Counters: exposures buffered, sent, waiting, dropped (buffer full while the sink was unreachable, or
        by the server), refused; the config version and the stream's state."""
        watcher = self._watcher
        return {
            "config_version": self.config_version, "exposure_mode": self.exposure_mode,
            "exposures_logged": self._recorder.recorded, "exposures_pending": self._recorder.pending(),
            "exposures_dropped": self._recorder.dropped, **self._counts, "last_refusal": self._last_refusal,
            "stream_connected": bool(watcher and watcher.connected), "stream_breaks": watcher.breaks if watcher else 0,
            "stream_error": watcher.last_error if watcher else "",
        }

    def close(self) -> dict[str, Any]:
        """Stop following, send every buffered exposure (retrying up to ``close_timeout_s``), release the
        channels; returns :meth:`stats`, whose ``exposures_dropped`` counts what could not be delivered."""
        if self._closed:
            return self.stats()
        self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=self._close_timeout_s)
        if self._watcher is not None:
            self._watcher.close()
        if self._sink is not None and self.exposure_mode != "never" and not self.flush(self._close_timeout_s):
            lost = self._recorder.drain()
            self._recorder.dropped += len(lost)
            log.warning("%d exposures could not be delivered before close and are dropped", len(lost))
        if self._sink is not None:
            self._sink.close()
        stats = self.stats()
        if stats["exposures_dropped"]:
            log.warning("%d exposures were dropped (the buffer was full or the sink unreachable)",
                        stats["exposures_dropped"])
        return stats

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

