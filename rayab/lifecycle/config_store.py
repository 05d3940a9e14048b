"""The experiment config as a sequence of committed versions: the rules of every admin change.

A :class:`ConfigStore` holds the latest :class:`~rayab.assignment.ConfigSnapshot` and turns each change into the
next version: it builds the changed experiment (validated like any spec), cross-checks the whole snapshot
(unique ids and salts, layer slices), commits it to the warehouse (``_config_version``, then the ``experiment``
and ``variant`` tables) and only then makes it current. A store built on the same warehouse later, e.g. by a
restarted config actor, starts from the same latest version.

A commit is optimistic: it lands only if no other writer committed since this store read the config (two
``rayab serve`` deployments in two Ray namespaces may share a warehouse). A stale store is refused with
:class:`~rayab.errors.ConflictError` (ABORTED over gRPC), reloads the latest version, and the caller retries the
change on it, so neither writer's change is lost. :meth:`ConfigStore.refresh` picks up other writers' commits.

Status changes: ``draft -> running``, ``draft -> stopped``, ``running -> stopped``; shipping a variant stops a
running (or stopped, not yet shipped) experiment; archiving takes a draft or stopped one; rollout and targeting
change only while draft or running; the descriptive fields (name, owner, description, planned sample) in any status
but archived. Anything else raises :class:`~rayab.errors.PreconditionError`. Changing
variant weights is not an update: it moves units between variants, so it must be a new experiment (a new phase
with a new salt).

>>> import tempfile
>>> from rayab.storage.warehouse import Warehouse
>>> store = ConfigStore(Warehouse.from_url(tempfile.mkdtemp()))
>>> exp, version = store.create({"exp_id": "ctr_test", "name": "ctr", "primary_kpi": "ctr", "status": "draft",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]})
>>> version, exp.version, exp.status.value
(1, 1, 'draft')
>>> exp, version = store.update("ctr_test", status=ExperimentStatus.RUNNING, rollout_pct=5.0)
>>> version, exp.version, exp.status.value, exp.rollout_pct
(2, 2, 'running', 5.0)
>>> store.archive("ctr_test")
Traceback (most recent call last):
...
rayab.errors.PreconditionError: experiment 'ctr_test' is running: stop it before archiving
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rayab.assignment import ConfigSnapshot
from rayab.errors import ConflictError, NotFoundError, PreconditionError, SpecError, ValidationError
from rayab.model import Config
from rayab.model.experiment import Experiment, ExperimentStatus
from rayab.model.validation import check_identifier, check_text
from rayab.storage.specs import (
    ConfigChange,
    append_experiments,
    load_analysis_types,
    load_config_history,
    load_latest_config_version,
    load_saved_experiments,
    save_config_version,
    sync_experiment_tables,
)
from rayab.storage.warehouse import Warehouse

__all__ = ["ConfigStore", "LocalAdmin"]

Versioned = tuple[Experiment, int]
_S = ExperimentStatus
_STATUS_CHANGES = {(_S.DRAFT, _S.RUNNING), (_S.DRAFT, _S.STOPPED), (_S.RUNNING, _S.STOPPED)}


class ConfigStore:
    """The latest committed config version of a warehouse, and the changes that make the next one."""

    def __init__(self, warehouse: Warehouse, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.warehouse = warehouse
        self._clock = clock
        self._analysis_types = load_analysis_types(warehouse)
        self.snapshot = ConfigSnapshot(0, ())
        self._base = -1  # the Delta version of _config_version this snapshot was read at or committed as
        if self.refresh():
            sync_experiment_tables(warehouse, self.snapshot.experiments)  # repair a half-done last change
            return
        seeded = load_saved_experiments(warehouse)
        if seeded:  # experiments saved from a YAML config (e.g. by the demo) become version 1
            # another writer may seed (or commit) first: _commit then reloads its version
            with contextlib.suppress(ConflictError):
                self._commit(seeded, "seed from the experiment table", ())

    def refresh(self) -> bool:
        """Load the latest committed version if another writer committed one; returns whether it changed."""
        payload, base = load_latest_config_version(self.warehouse)
        if base == self._base:
            return False
        self._base = base
        if payload is None:
            return False
        snapshot = ConfigSnapshot.from_dict(payload)
        changed = snapshot.version != self.snapshot.version
        self.snapshot = snapshot
        return changed

    @property
    def version(self) -> int:
        """The latest committed version (0: nothing committed yet)."""
        return self.snapshot.version

    def get(self, exp_id: str) -> Versioned:
        """An experiment and the version holding it."""
        return self._find(exp_id), self.version

    def list(self, status: ExperimentStatus | None = None) -> tuple[list[Experiment], int]:
        """Every experiment (or those in ``status``), in creation order."""
        return [e for e in self.snapshot.experiments if status is None or e.status == status], self.version

    def history(self, exp_id: str) -> tuple[Sequence[ConfigChange], int]:
        """The committed config versions that changed ``exp_id``, newest first (as the warehouse holds them, so
        with the changes of other writers), and the latest version this store knows."""
        self._find(exp_id)
        return load_config_history(self.warehouse, exp_id), self.version

    def create(self, spec: Mapping[str, Any], changed_by: str = "") -> Versioned:
        """Add an experiment from its spec mapping (its version starts at 1); ``changed_by`` (who) is recorded
        with the config version, as by every change."""
        if not isinstance(spec, Mapping):
            raise ValidationError("spec", spec, "must be a mapping")
        experiment = Experiment.from_dict({**spec, "version": 1}, "spec")
        if any(e.exp_id == experiment.exp_id for e in self.snapshot.experiments):
            raise PreconditionError(f"experiment {experiment.exp_id!r} already exists; update it instead")
        if self._analysis_types:  # the hourly job must be able to measure it
            try:
                Config(self._analysis_types, (experiment,))
            except SpecError as err:
                raise SpecError(err.field.replace("experiments[0]", "spec", 1), err.value, err.rule) from None
        return self._apply(experiment, f"create {experiment.exp_id}", new=True, changed_by=changed_by)

    def update(self, exp_id: str, *, status: ExperimentStatus | None = None, rollout_pct: float | None = None,
               targeting: Mapping[str, Any] | None = None, expected_version: int | None = None,
               name: str | None = None, owner: str | None = None, description: str | None = None,
               planned_units: int | None = None, changed_by: str = "") -> Versioned:
        """Change status, rollout, targeting or the descriptive fields (None keeps a field)."""
        current = self._current(exp_id, expected_version)
        described = {k: v for k, v in (("name", name), ("owner", owner), ("description", description),
                                       ("planned_units", planned_units)) if v is not None}
        if status is None and rollout_pct is None and targeting is None and not described:
            raise ValidationError("update", exp_id, "must change at least one of status, rollout_pct, targeting, "
                                  "name, owner, description, planned_units")
        if status == _S.ARCHIVED:
            return self.archive(exp_id, expected_version, changed_by)
        changes: dict[str, Any] = {}
        if described:
            if current.status == _S.ARCHIVED:
                raise PreconditionError(f"experiment {exp_id!r} is archived: it cannot be edited")
            changes.update({k: v for k, v in described.items() if getattr(current, k) != v})
        if rollout_pct is not None or targeting is not None:
            if current.status not in (_S.DRAFT, _S.RUNNING):
                raise PreconditionError(f"experiment {exp_id!r} is {current.status}: rollout and targeting "
                                        "change only while draft or running")
            changes.update({"rollout_pct": rollout_pct} if rollout_pct is not None else {})
            changes.update({"targeting": targeting} if targeting is not None else {})
        if status is not None and status != current.status:
            if (current.status, status) not in _STATUS_CHANGES:
                raise PreconditionError(f"experiment {exp_id!r} cannot go from {current.status} to {status}")
            changes.update(self._status_fields(current, status))
        if not changes:
            raise ValidationError("update", exp_id, "changes nothing: every value given is the current one")
        return self._apply(_changed(current, changes), f"update {exp_id}: {_describe(current, changes)}",
                           changed_by=changed_by)

    def ship(self, exp_id: str, variant_id: str, expected_version: int | None = None,
             changed_by: str = "") -> Versioned:
        """Stop the experiment and serve ``variant_id``'s parameters to everyone."""
        current = self._current(exp_id, expected_version)
        known = [v.variant_id for v in current.variants]
        if variant_id not in known:
            raise ValidationError("variant_id", variant_id, f"must be one of the variant ids {known}")
        if current.shipped_variant or current.status not in (_S.RUNNING, _S.STOPPED):
            state = f"shipped {current.shipped_variant}" if current.shipped_variant else str(current.status)
            raise PreconditionError(f"experiment {exp_id!r} is {state}: only a running or stopped experiment "
                                    "that has not shipped can ship a variant")
        changes = {**self._status_fields(current, _S.STOPPED), "shipped_variant": variant_id}
        return self._apply(_changed(current, changes), f"ship {exp_id}: {variant_id}", changed_by=changed_by)

    def archive(self, exp_id: str, expected_version: int | None = None, changed_by: str = "") -> Versioned:
        """Retire a draft or stopped experiment."""
        current = self._current(exp_id, expected_version)
        if current.status == _S.RUNNING:
            raise PreconditionError(f"experiment {exp_id!r} is running: stop it before archiving")
        if current.status == _S.ARCHIVED:
            raise PreconditionError(f"experiment {exp_id!r} is already archived")
        return self._apply(_changed(current, {"status": _S.ARCHIVED.value}), f"archive {exp_id}",
                           changed_by=changed_by)

    def _status_fields(self, current: Experiment, status: ExperimentStatus) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": status.value}
        now = self._clock()
        if status == _S.STOPPED and now > current.start_time and (current.end_time is None or current.end_time > now):
            fields["end_time"] = now.isoformat()
        return fields

    def _find(self, exp_id: str) -> Experiment:
        check_identifier("exp_id", exp_id)
        for experiment in self.snapshot.experiments:
            if experiment.exp_id == exp_id:
                return experiment
        raise NotFoundError(f"experiment {exp_id!r} does not exist (config version {self.version})")

    def _current(self, exp_id: str, expected_version: int | None) -> Experiment:
        experiment = self._find(exp_id)
        if expected_version is not None and expected_version != experiment.version:
            raise PreconditionError(f"experiment {exp_id!r} is at version {experiment.version}, not "
                                    f"{expected_version}: it changed meanwhile; read it again")
        return experiment

    def _apply(self, experiment: Experiment, change: str, new: bool = False, changed_by: str = "") -> Versioned:
        experiments = [*self.snapshot.experiments, experiment] if new else [
            experiment if e.exp_id == experiment.exp_id else e for e in self.snapshot.experiments]
        self._commit(tuple(experiments), change, (experiment,), changed_by)
        return experiment, self.version

    def _commit(self, experiments: tuple[Experiment, ...], change: str, changed: tuple[Experiment, ...],
                changed_by: str = "") -> None:
        snapshot = ConfigSnapshot(self.version + 1, experiments)  # cross-checks before anything is written
        who = check_text("changed_by", changed_by, max_length=128, allow_empty=True)
        try:
            self._base = save_config_version(self.warehouse, snapshot.version, snapshot.experiments, change,
                                             base=self._base, changed_by=who,
                                             changed=[e.exp_id for e in changed] or [e.exp_id for e in experiments])
        except ConflictError:
            stale = self.version
            self.refresh()
            raise ConflictError(f"config version {stale} is stale: another writer committed version {self.version} "
                                f"to this warehouse meanwhile; nothing was written ({change}); this writer now has "
                                f"version {self.version}: read it and retry the change") from None
        self.snapshot = snapshot
        append_experiments(self.warehouse, changed)


def _shown(value: Any) -> str:
    text = value.value if isinstance(value, ExperimentStatus) else value
    if isinstance(text, float):
        text = f"{text:g}"
    text = str(text if text not in (None, "") else "-")
    return text if len(text) <= 40 else text[:39] + "…"


def _describe(current: Experiment, changes: Mapping[str, Any]) -> str:
    """The history's line for an update: every field with its old and new value (long values cut).

    >>> from rayab.simulate import demo_config
    >>> exp = demo_config().experiment("ranker_v2")
    >>> _describe(exp, {"rollout_pct": 5.0, "status": "stopped", "owner": "ada"})
    'owner ranking-team@example.com -> ada, rollout_pct 100 -> 5, status running -> stopped'
    """
    parts = []
    for key in sorted(changes):
        old: Any = current.targeting.to_dict() if key == "targeting" else getattr(current, key, None)
        if key == "end_time":
            old = current.end_time.isoformat() if current.end_time else None
        parts.append(f"{key} {_shown(old)} -> {_shown(changes[key])}")
    return ", ".join(parts)


def _changed(experiment: Experiment, changes: Mapping[str, Any]) -> Experiment:
    """``experiment`` with ``changes`` applied and its version bumped, validated like any spec."""
    spec = {**experiment.to_dict(), **changes, "version": experiment.version + 1}
    try:
        return Experiment.from_dict(spec, "update")
    except SpecError as err:
        raise SpecError(err.field.removeprefix("update."), err.value, err.rule) from None


class LocalAdmin:
    """The admin API over a :class:`ConfigStore` in this process (one change at a time); ``on_change`` is called
    with every new snapshot, e.g. to install it in a local server."""

    def __init__(self, store: ConfigStore, on_change: Callable[[ConfigSnapshot], None] | None = None) -> None:
        self.store = store
        self._on_change = on_change
        self._lock = asyncio.Lock()

    async def _change(self, method: Callable[..., Versioned], *args: Any, **kwargs: Any) -> Versioned:
        async with self._lock:
            result = await asyncio.to_thread(method, *args, **kwargs)
        if self._on_change is not None:
            self._on_change(self.store.snapshot)
        return result

    async def create(self, spec: Mapping[str, Any], changed_by: str = "") -> Versioned:
        return await self._change(self.store.create, spec, changed_by)

    async def get(self, exp_id: str) -> Versioned:
        return self.store.get(exp_id)

    async def list(self, status: ExperimentStatus | None) -> tuple[list[Experiment], int]:
        return self.store.list(status)

    async def history(self, exp_id: str) -> tuple[Sequence[ConfigChange], int]:
        return await asyncio.to_thread(self.store.history, exp_id)

    async def update(self, exp_id: str, *, status: ExperimentStatus | None, rollout_pct: float | None,
                     targeting: Mapping[str, Any] | None, expected_version: int | None,
                     **described: Any) -> Versioned:
        """``described``: ``name``, ``owner``, ``description``, ``planned_units`` and ``changed_by``."""
        return await self._change(self.store.update, exp_id, status=status, rollout_pct=rollout_pct,
                                  targeting=targeting, expected_version=expected_version, **described)

    async def ship(self, exp_id: str, variant_id: str, expected_version: int | None,
                   changed_by: str = "") -> Versioned:
        return await self._change(self.store.ship, exp_id, variant_id, expected_version, changed_by)

    async def archive(self, exp_id: str, expected_version: int | None, changed_by: str = "") -> Versioned:
        return await self._change(self.store.archive, exp_id, expected_version, changed_by)
