"""The config a serving process answers from: one immutable version at a time, swapped atomically.

A :class:`ServedConfig` is an :class:`~rayab.assignment.Assigner` plus the protobuf answers it can give, built
once per version and reused by every request. A :class:`SnapshotHolder` points at the current one; a request
reads ``holder.current`` **once** and answers everything from that object, so it never mixes two versions
even if a new version is installed while it runs (replacing one attribute is atomic in Python).

``WatchConfig`` streams wait in :meth:`SnapshotHolder.next_version` for a version newer than the one their client
holds; :meth:`SnapshotHolder.install` wakes them (from any thread or event loop), and every stream sends the same
SDK document text, rendered once per version (:meth:`ServedConfig.document_json`).

>>> from rayab.assignment import ConfigSnapshot
>>> from rayab.model.experiment import Experiment
>>> exp = Experiment.from_dict({"exp_id": "ctr_test", "name": "ctr", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> holder = SnapshotHolder(ConfigSnapshot(1, (exp,)))
>>> served = holder.current
>>> holder.install(ConfigSnapshot(2, (exp,)))
True
>>> served.version, holder.current.version
(1, 2)
>>> holder.install(ConfigSnapshot(1, (exp,)))  # an older version never replaces a newer one
False
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence

from rayab.assignment import Assigner, Assignment, ConfigSnapshot
from rayab.assignment.snapshot_json import dumps
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc.convert import REASONS, set_parameter

__all__ = ["ServedConfig", "SnapshotHolder"]


class ServedConfig:
    """One config version and its cached protobuf answers."""

    __slots__ = ("_document", "_lock", "_messages", "_variants", "assigner", "version")

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self.assigner = Assigner(snapshot)
        self.version = snapshot.version
        self._messages: dict[tuple[str, str | None, str], apb.Assignment] = {}
        self._variants: dict[str, tuple[list[apb.Variant], dict[str, int]]] = {}
        self._lock = threading.Lock()
        self._document: str | None = None

    def document_json(self) -> str:
        """The SDK snapshot document of this version as JSON text (rendered once, shared by every stream)."""
        document = self._document
        if document is None:
            document = self._document = dumps(self.assigner.snapshot)
        return document

    def variant_ids(self, exp_id: str) -> tuple[str, ...] | None:
        """The variant ids of ``exp_id`` in this version (None if it is not in it)."""
        for experiment in self.assigner.snapshot.experiments:
            if experiment.exp_id == exp_id:
                return tuple(v.variant_id for v in experiment.variants)
        return None

    def assignment_message(self, assignment: Assignment) -> apb.Assignment:
        """The protobuf form of ``assignment`` (cached: all units with one outcome share one message)."""
        key = (assignment.exp_id, assignment.variant_id, assignment.reason)
        message = self._messages.get(key)
        if message is None:
            message = apb.Assignment(exp_id=assignment.exp_id, variant_id=assignment.variant_id or "",
                                     in_experiment=assignment.in_experiment,
                                     reason=REASONS[assignment.reason])  # type: ignore[arg-type]
            for name, value in assignment.parameters.items():
                set_parameter(message.parameters[name], value)
            with self._lock:
                self._messages[key] = message
        return message

    def variants(self, exp_id: str) -> tuple[Sequence[apb.Variant], dict[str, int]]:
        """An experiment's variants as protobuf messages and the index of each variant id."""
        cached = self._variants.get(exp_id)
        if cached is None:
            plan = self.assigner.snapshot.experiments
            experiment = next(e for e in plan if e.exp_id == exp_id)
            messages = []
            for variant in experiment.variants:
                message = apb.Variant(variant_id=variant.variant_id)
                for name, value in variant.parameters.items():
                    set_parameter(message.parameters[name], value)
                messages.append(message)
            cached = (messages, {v.variant_id: i for i, v in enumerate(experiment.variants)})
            with self._lock:
                self._variants[exp_id] = cached
        return cached


class SnapshotHolder:
    """The current :class:`ServedConfig` of a serving process; versions only move forward."""

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self.current = ServedConfig(snapshot)
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    @property
    def version(self) -> int:
        """The version being served."""
        return self.current.version

    def install(self, snapshot: ConfigSnapshot) -> bool:
        """Serve ``snapshot`` from now on if it is newer than the current one; returns whether it was."""
        if snapshot.version <= self.current.version:
            return False
        served = ServedConfig(snapshot)  # compiled before the swap: requests never wait for it
        with self._lock:
            if snapshot.version <= self.current.version:
                return False
            self.current = served
        self.wake()
        return True

    def wake(self) -> None:
        """Wake every :meth:`next_version` waiting now (a new version, or the server is closing)."""
        with self._lock:
            waiters, self._waiters = self._waiters, set()
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
                loop.call_soon_threadsafe(_resolve, future)

    async def next_version(self, after: int, timeout_s: float,
                           stopping: Callable[[], bool] | None = None) -> ServedConfig | None:
        """The served config as soon as its version is above ``after``; None after ``timeout_s`` seconds, when
        :meth:`wake` is called without a newer version, or at once when ``stopping()`` is true (checked under the
        lock that :meth:`wake` takes, so a stop that sets its flag and then wakes is never missed by a caller that
        was about to wait).

        >>> from rayab.assignment import ConfigSnapshot
        >>> holder = SnapshotHolder(ConfigSnapshot(4, ()))
        >>> asyncio.run(holder.next_version(3, 1.0)).version  # the client is behind: at once
        4
        >>> asyncio.run(holder.next_version(4, 0.01)) is None  # the client is current: wait for the next
        True
        """
        current = self.current
        if current.version > after:
            return current
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            if self.current.version > after:
                return self.current
            if stopping is not None and stopping():
                return None
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        current = self.current
        return current if current.version > after else None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
