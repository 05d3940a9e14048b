"""The assignment engine: an immutable config snapshot compiled into an :class:`Assigner`.

A :class:`ConfigSnapshot` is a version number and the experiments of that version, cross-checked (unique ids,
unique assignment salts, layer slices that do not overlap). An :class:`Assigner` answers from exactly one
snapshot, so one answer never mixes two config versions; a new version means a new ``Assigner``.

``assign`` decides every requested experiment for one unit (see :mod:`rayab.assignment.plan` for the steps and
reasons). With ``exp_ids=None`` it answers for every running experiment and every stopped experiment that
shipped a variant, in config order; draft, archived and stopped experiments without a shipped variant are left
out. Asked by id, an unknown experiment raises :class:`~rayab.errors.NotFoundError` and one that serves nothing
(draft, archived, stopped without a shipped variant) raises :class:`~rayab.errors.PreconditionError`. Bad
request fields raise :class:`~rayab.errors.ValidationError` naming the field.

>>> from rayab.model.experiment import Experiment
>>> exp = Experiment.from_dict({"exp_id": "ctr_test", "name": "ctr", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1"}},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> assigner = Assigner(ConfigSnapshot(3, (exp,)))
>>> [(a.variant_id, dict(a.parameters), a.config_version) for a in assigner.assign("alice", {})]
[('treatment', {'ranker': 'v2'}, 3)]
>>> assigner.assign("alice", {}, exp_ids=["nope"])
Traceback (most recent call last):
...
rayab.errors.NotFoundError: experiment 'nope' is not in config version 3
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rayab.assignment.hashing import utf8_column
from rayab.assignment.layers import check_layers
from rayab.assignment.plan import Assignment, Decider, ExperimentPlan
from rayab.assignment.request import MAX_ID_LENGTH, check_attributes, check_exp_ids, check_ids
from rayab.errors import NotFoundError, PreconditionError, SpecError, ValidationError
from rayab.model.experiment import Experiment
from rayab.model.validation import check_int, check_keys

__all__ = ["Assigner", "Assignment", "ConfigSnapshot"]


@dataclass(frozen=True)
class ConfigSnapshot:
    """One version of the experiment config, cross-checked at construction."""

    version: int
    experiments: tuple[Experiment, ...]

    def __post_init__(self) -> None:
        check_int("version", self.version, 0, 2**63 - 1)
        experiments = tuple(self.experiments)
        object.__setattr__(self, "experiments", experiments)
        ids: dict[str, int] = {}
        salts: dict[str, str] = {}
        for i, experiment in enumerate(experiments):
            if not isinstance(experiment, Experiment):
                raise SpecError(f"experiments[{i}]", type(experiment).__name__, "must be an Experiment")
            if experiment.exp_id in ids:
                raise SpecError(f"experiments[{i}].exp_id", experiment.exp_id, "duplicate experiment id")
            if experiment.assignment_salt in salts:
                # Two experiments with one salt would split units identically: their variants would be correlated.
                raise SpecError(f"experiments[{i}].assignment_salt", experiment.assignment_salt,
                                f"must be unique; experiment {salts[experiment.assignment_salt]} uses it")
            ids[experiment.exp_id] = i
            salts[experiment.assignment_salt] = experiment.exp_id
        check_layers(experiments)

    @classmethod
    def from_dict(cls, data: Any) -> ConfigSnapshot:
        """Build from ``{"version": int, "experiments": [experiment mappings]}``."""
        data = check_keys("snapshot", data, {"version", "experiments"}, {"version", "experiments"})
        raw = data["experiments"]
        if not isinstance(raw, list):
            raise SpecError("snapshot.experiments", raw, "must be a list")
        experiments = tuple(Experiment.from_dict(e, f"snapshot.experiments[{i}]") for i, e in enumerate(raw))
        try:
            return cls(data["version"], experiments)
        except SpecError as err:
            raise SpecError(f"snapshot.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"version": self.version, "experiments": [e.to_dict() for e in self.experiments]}


class Assigner:
    """Assignments from one :class:`ConfigSnapshot`; safe to share between threads (it never changes)."""

    __slots__ = ("_deciders", "_plans", "_served", "_served_deciders", "_snapshot", "_version")

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self._snapshot = snapshot
        self._version = snapshot.version
        self._plans: Mapping[str, ExperimentPlan] = {
            e.exp_id: ExperimentPlan.from_experiment(e) for e in snapshot.experiments}
        self._served = tuple(p for p in self._plans.values() if p.serving != "inactive")
        # The request path: each served experiment compiled for this version (ExperimentPlan.decider).
        self._deciders: dict[str, Decider] = {p.exp_id: p.decider(self._version) for p in self._served}
        self._served_deciders = tuple(self._deciders.values())

    @classmethod
    def from_experiments(cls, experiments: Iterable[Experiment], version: int = 1) -> Assigner:
        """An assigner over ``experiments`` as config ``version``."""
        return cls(ConfigSnapshot(version, tuple(experiments)))

    @property
    def version(self) -> int:
        """The config version every answer carries."""
        return self._version

    @property
    def snapshot(self) -> ConfigSnapshot:
        """The snapshot this assigner answers from."""
        return self._snapshot

    @property
    def served(self) -> tuple[ExperimentPlan, ...]:
        """The compiled experiments answered when no ``exp_ids`` are given (running, or stopped with a shipped
        variant), in config order."""
        return self._served

    def variant_column(self, exp_id: str, unit_ids: Sequence[str],
                       attributes: Mapping[str, str | int | float | bool] | None = None,
                       compiled: bool | None = None) -> tuple[npt.NDArray[np.int16], tuple[str, ...]]:
        """One experiment for many units sharing ``attributes``: each unit's index into the variant ids (-1: no
        variant), and the variant ids. Decides as :meth:`assign_batch` does; unit ids must be non-empty (an
        experiment in ``session`` consistency, which hashes session ids, gives -1 to everyone). From
        :data:`~rayab.assignment.hashing.COMPILED_FROM` ids on, the md5s are computed by a compiled loop when numba
        is installed (the same bits; ``compiled`` forces it on or off, see
        :func:`~rayab.assignment.hashing.bucket_columns`).

        >>> from rayab.model.experiment import Experiment
        >>> exp = Experiment.from_dict({"exp_id": "e", "name": "e", "primary_kpi": "ctr",
        ...     "start_time": "2026-11-24T00:00:00Z", "variants": [{"variant_id": "a", "traffic_pct": 50},
        ...                                                      {"variant_id": "b", "traffic_pct": 50}]})
        >>> column, variants = Assigner(ConfigSnapshot(1, (exp,))).variant_column("e", ["alice", "bob"])
        >>> column.tolist(), variants
        ([1, 0], ('a', 'b'))
        """
        plan = self._plan(exp_id)
        n = _check_length("unit_ids", unit_ids, None)
        encoded = _checked_column(unit_ids)
        checked = check_attributes(attributes)
        if plan.experiment.consistency == "session":
            return np.full(n, -1, dtype=np.int16), plan.variant_ids
        return plan.variant_column(unit_ids, checked, compiled, encoded), plan.variant_ids

    def assign(self, unit_id: str, attributes: Mapping[str, str | int | float | bool] | None = None,
               exp_ids: Sequence[str] | None = None, session_id: str | None = None) -> list[Assignment]:
        """The assignment of one unit in each requested experiment (every served one when ``exp_ids`` is None)."""
        if type(unit_id) is not str or not 0 < len(unit_id) <= MAX_ID_LENGTH or session_id is not None \
                or not unit_id.isascii():
            check_ids(unit_id, session_id)  # as check_request, inline: this is the request path
        checked = check_attributes(attributes)
        if type(exp_ids) is list and len(exp_ids) == 1 and type(exp_ids[0]) is str:  # one experiment, by far
            decide = self._deciders.get(exp_ids[0])  # the most common request: no selection list
            if decide is not None:
                return [decide(unit_id, session_id, checked)]
        return [decide(unit_id, session_id, checked) for decide in self._deciders_of(exp_ids)]

    def deciders(self, exp_ids: Sequence[str] | None = None) -> tuple[Decider, ...]:
        """The compiled experiments (:meth:`ExperimentPlan.decider <rayab.assignment.plan.ExperimentPlan.decider>`)
        that :meth:`assign` runs for ``exp_ids``, for a caller that asks the same experiments many times: call
        each as ``decide(unit_id, session_id, attributes)`` on a request passed through :meth:`check_request`.

        >>> from rayab.model.experiment import Experiment
        >>> exp = Experiment.from_dict({"exp_id": "e", "name": "e", "primary_kpi": "ctr",
        ...     "start_time": "2026-11-24T00:00:00Z", "variants": [{"variant_id": "a", "traffic_pct": 50},
        ...                                                      {"variant_id": "b", "traffic_pct": 50}]})
        >>> assigner = Assigner(ConfigSnapshot(1, (exp,)))
        >>> (decide,) = assigner.deciders(["e"])
        >>> decide("bob", None, assigner.check_request("bob", {})) == assigner.assign("bob", {})[0]
        True
        """
        return tuple(self._deciders_of(exp_ids))

    def check_request(self, unit_id: str, attributes: Mapping[str, str | int | float | bool] | None,
                      session_id: str | None = None) -> Mapping[str, str | int | float | bool]:
        """The request's attributes once its fields are valid (:mod:`rayab.assignment.request`; ValidationError
        naming the field otherwise)."""
        if type(unit_id) is not str or not 0 < len(unit_id) <= MAX_ID_LENGTH or session_id is not None \
                or not unit_id.isascii():
            check_ids(unit_id, session_id)  # the common request (a short ASCII unit id) is valid as it stands
        return check_attributes(attributes)

    def assign_batch(self, unit_ids: Sequence[str],
                     attributes: Sequence[Mapping[str, str | int | float | bool] | None] | None = None,
                     exp_ids: Sequence[str] | None = None,
                     session_ids: Sequence[str | None] | None = None) -> list[list[Assignment]]:
        """:meth:`assign` for many units at once (one list per unit, in order), hashing per experiment in one
        vectorised pass. ``attributes`` and ``session_ids``, when given, have one entry per unit."""
        n = _check_length("unit_ids", unit_ids, None)
        sessions: Sequence[str | None] = [None] * n if session_ids is None else session_ids
        _check_length("session_ids", sessions, n)
        for i, (unit_id, session_id) in enumerate(zip(unit_ids, sessions, strict=True)):
            check_ids(unit_id, session_id, f"unit_ids[{i}]", f"session_ids[{i}]")
        raw = [None] * n if attributes is None else attributes
        _check_length("attributes", raw, n)
        checked = [check_attributes(a, f"attributes[{i}]") for i, a in enumerate(raw)]
        plans = self._select(exp_ids)
        columns = [plan.decide_many(unit_ids, sessions, checked, self._version) for plan in plans]
        return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in range(n)]

    def _deciders_of(self, exp_ids: Sequence[str] | None) -> Sequence[Decider]:
        if exp_ids is None:
            return self._served_deciders
        if type(exp_ids) is list or type(exp_ids) is tuple:
            get = self._deciders.get
            try:
                found = [get(exp_id) for exp_id in exp_ids]
            except TypeError:  # an unhashable entry: named below
                found = [None]
            if None not in found:  # every entry a served experiment's id, so a valid one
                return found  # type: ignore[return-value]
        return [self._deciders[plan.exp_id] for plan in self._select(exp_ids)]  # raises naming the bad entry

    def _select(self, exp_ids: Sequence[str] | None) -> Sequence[ExperimentPlan]:
        if check_exp_ids(exp_ids) is None:
            return self._served
        assert exp_ids is not None
        return [self._plan(exp_id) for exp_id in exp_ids]

    def _plan(self, exp_id: str) -> ExperimentPlan:
        plan = self._plans.get(exp_id)
        if plan is None:
            raise NotFoundError(f"experiment {exp_id!r} is not in config version {self._version}")
        if plan.serving == "inactive":
            status = plan.experiment.status.value
            raise PreconditionError(f"experiment {exp_id!r} is {status} and serves no assignment "
                                    "(only running experiments and stopped ones with a shipped variant do)")
        return plan


def _check_length(field: str, values: Any, expected: int | None) -> int:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationError(field, type(values).__name__, "must be a list")
    if expected is not None and len(values) != expected:
        raise ValidationError(field, f"<{len(values)} entries>", f"must have one entry per unit id ({expected})")
    return len(values)


def _checked_column(unit_ids: Sequence[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The ids' :func:`~rayab.assignment.hashing.utf8_column` once every id is a non-empty string of at most
    MAX_ID_LENGTH characters (checked on the byte offsets: a character is at least one byte); otherwise the
    failing id is found and named as :func:`check_ids` would."""
    try:
        encoded = utf8_column(unit_ids)
    except (TypeError, UnicodeEncodeError):
        encoded = None
    if encoded is not None:
        sizes = np.diff(encoded[1])
        if not len(sizes) or (int(sizes.min()) > 0 and int(sizes.max()) <= MAX_ID_LENGTH):
            return encoded
    for i, unit_id in enumerate(unit_ids):
        check_ids(unit_id, None, f"unit_ids[{i}]")
    assert encoded is not None  # every id passed: only multi-byte ids over MAX_ID_LENGTH bytes come here
    return encoded
