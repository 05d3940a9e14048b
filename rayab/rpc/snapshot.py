"""The config a serving process answers from: one immutable version at a time, swapped atomically.

A :class:`ServedConfig` is an :class:`~rayab.assignment.Assigner` plus the protobuf answers it can give, built
once per version and reused by every request. A :class:`SnapshotHolder` points at the current one; a request
reads ``holder.current`` **once** and answers everything from that object, so it never mixes two versions
even if a new version is installed while it runs (replacing one attribute is atomic in Python).

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

import threading
from collections.abc import Sequence

from rayab.assignment import Assigner, Assignment, ConfigSnapshot
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc.convert import REASONS, set_parameter

__all__ = ["ServedConfig", "SnapshotHolder"]


class ServedConfig:
    """One config version and its cached protobuf answers."""

    __slots__ = ("_lock", "_messages", "_variants", "assigner", "version")

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self.assigner = Assigner(snapshot)
        self.version = snapshot.version
        self._messages: dict[tuple[str, str | None, str], apb.Assignment] = {}
        self._variants: dict[str, tuple[list[apb.Variant], dict[str, int]]] = {}
        self._lock = threading.Lock()

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
        return True
