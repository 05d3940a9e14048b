"""The ConfigActor: the one writer of the experiment config, and the source serving processes follow.

It is named, detached and restarted without limit; its constructor reloads the latest committed version from the
warehouse (:class:`~rayab.lifecycle.config_store.ConfigStore`), so a restarted actor serves exactly the config it
had. Admin changes run one at a time and each becomes a committed version before anyone sees it.

Serving processes **long-poll** it (:meth:`ConfigActor.wait_for_version`): a call returns as soon as a version
newer than the caller's exists, or ``None`` after a timeout, and the caller asks again. That is a push's delay
(a change reaches every server one round trip after its commit) with a poll's robustness: a server that missed
anything, or an actor that restarted and forgot its callers, needs no re-registration; the next call carries the
version the server has. Requests never call the actor: they are answered from the server's local snapshot.

Another deployment (another Ray namespace) may write the same warehouse: commits are optimistic
(:class:`~rayab.lifecycle.config_store.ConfigStore`), a stale change is refused with a
:class:`~rayab.errors.ConflictError`, and the actor looks for other writers' commits every ``refresh_s`` seconds,
so its servers follow them too.

Admin calls go through :class:`ActorAdmin`, which has the interface the gRPC admin service expects. Experiments
cross the process boundary as their spec mappings, and rayab errors as (class, attributes, message): neither
pickles as it is (an experiment holds read-only mapping proxies, and a ``ValidationError`` cannot be rebuilt
from its message alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from rayab.errors import RayabError, StorageError
from rayab.lifecycle.config_store import ConfigStore
from rayab.model.experiment import Experiment, ExperimentStatus
from rayab.storage.specs import ConfigChange
from rayab.storage.warehouse import Warehouse

__all__ = ["CONFIG_ACTOR", "NAMESPACE", "ActorAdmin", "ConfigActor", "config_actor"]

log = logging.getLogger(__name__)
CONFIG_ACTOR = "rayab-config"
NAMESPACE = "rayab"
Versioned = tuple[Experiment, int]
# what crosses the process boundary: ("ok", result) or ("error", (class, attributes, message))
Outcome = tuple[str, Any]


def _portable(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else repr(value)


def _failed(err: RayabError) -> Outcome:
    state = {k: _portable(v) for k, v in vars(err).items()}
    return "error", (type(err), state, str(err))


def _run(method: Any, *args: Any, **kwargs: Any) -> Outcome:
    """Call ``method``; a rayab error becomes data, an experiment its spec mapping."""
    try:
        result = method(*args, **kwargs)
    except RayabError as err:
        return _failed(err)
    first, version = result
    if isinstance(first, list):
        return "ok", ([e.to_dict() for e in first], version)
    return "ok", (first.to_dict(), version)


def _payload(outcome: Outcome) -> Any:
    """What an :data:`Outcome` carries, or the rayab error it carries, raised."""
    kind, payload = outcome
    if kind == "error":
        cls, state, message = payload
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        error.__dict__.update(state)
        raise error
    return payload


def _unpack(outcome: Outcome) -> Any:
    """The result an :data:`Outcome` stands for (experiments from their spec mappings), or its error, raised."""
    first, version = _payload(outcome)
    if isinstance(first, list):
        return [Experiment.from_dict(e) for e in first], version
    return Experiment.from_dict(first), version


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class ConfigActor:
    """Owns a :class:`ConfigStore`; an async actor so that long polls wait without holding a thread."""

    def __init__(self, warehouse: Warehouse, refresh_s: float = 2.0) -> None:
        self._store = ConfigStore(warehouse)
        self._refresh_s = refresh_s
        self._changed: asyncio.Condition | None = None
        self._lock: asyncio.Lock | None = None
        self._refresher: asyncio.Task[None] | None = None

    def _sync(self) -> tuple[asyncio.Condition, asyncio.Lock]:
        # created lazily: they must belong to the actor's event loop, which runs the async methods
        if self._changed is None or self._lock is None:
            self._changed, self._lock = asyncio.Condition(), asyncio.Lock()
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_periodically())
        return self._changed, self._lock

    async def refresh(self) -> int:
        """Load a version another writer committed, if any (waking the long polls); returns the latest version."""
        changed, lock = self._sync()
        async with lock:
            moved = await asyncio.to_thread(self._store.refresh)
        if moved:
            async with changed:
                changed.notify_all()
        return self._store.version

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except RayabError as err:  # the warehouse is unreachable for now: keep serving what we have
                log.warning("config refresh failed, will retry: %s", err)

    async def version(self) -> int:
        """The latest committed config version."""
        return self._store.version

    async def warehouse_url(self) -> str:
        """The warehouse this actor commits to."""
        return self._store.warehouse.url

    async def snapshot(self) -> dict[str, Any]:
        """The latest snapshot as a mapping (``ConfigSnapshot.from_dict`` reads it)."""
        return self._store.snapshot.to_dict()

    async def wait_for_version(self, after: int, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """The latest snapshot as soon as its version is above ``after``; None if none came within the timeout."""
        changed, _ = self._sync()
        async with changed:
            try:
                await asyncio.wait_for(changed.wait_for(lambda: self._store.version > after), timeout_s)
            except TimeoutError:
                return None
        return self._store.snapshot.to_dict()

    async def change(self, method: str, *args: Any, **kwargs: Any) -> Outcome:
        """Apply one admin change (``create``, ``update``, ``ship``, ``archive``), one at a time."""
        if method not in ("create", "update", "ship", "archive"):
            raise ValueError(f"unknown change {method!r}")
        changed, lock = self._sync()
        async with lock:
            # the warehouse write blocks: run it in a thread so that long polls keep being answered
            outcome = await asyncio.to_thread(_run, getattr(self._store, method), *args, **kwargs)
        async with changed:
            changed.notify_all()
        return outcome

    async def get(self, exp_id: str) -> Outcome:
        """One experiment and the version holding it."""
        return _run(self._store.get, exp_id)

    async def list(self, status: ExperimentStatus | None) -> Outcome:
        """Every experiment (or those in ``status``)."""
        return _run(self._store.list, status)

    async def history(self, exp_id: str) -> Outcome:
        """The committed config versions that changed ``exp_id``, newest first, and the latest version."""
        try:
            return "ok", await asyncio.to_thread(self._store.history, exp_id)
        except RayabError as err:
            return _failed(err)


def config_actor(warehouse: Warehouse, name: str = CONFIG_ACTOR, namespace: str = NAMESPACE) -> Any:
    """The running config actor called ``name``, started (detached) on ``warehouse`` if there is none."""
    return ConfigActor.options(  # type: ignore[attr-defined]
        name=name, namespace=namespace, lifetime="detached", get_if_exists=True).remote(warehouse)


class ActorAdmin:
    """The admin interface of :mod:`rayab.rpc.experiment_service`, forwarded to the config actor."""

    def __init__(self, actor: Any, retry_s: float = 10.0) -> None:
        self._actor = actor
        self.retry_s = retry_s

    async def _call(self, method: str, *args: Any, unpack: Any = _unpack, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        while True:
            try:
                outcome: Outcome = await getattr(self._actor, method).remote(*args, **kwargs)
                return unpack(outcome)
            except ActorUnavailableError as err:
                # Unreachable for now (e.g. restarted at a new address this process has not learnt yet): retried.
                # Every change is absolute (a status, a rollout, a variant), so running one twice changes nothing
                # more, and a second create or ship fails visibly; expected_version guards the rest.
                if loop.time() >= deadline:
                    raise StorageError(f"the config actor is unavailable (restarting?); retry: {err}") from None
                await asyncio.sleep(0.1)
            except RayActorError as err:
                raise StorageError(f"the config actor is unavailable (restarting?); retry: {err}") from None

    async def create(self, spec: Mapping[str, Any], changed_by: str = "") -> Versioned:
        result: Versioned = await self._call("change", "create", dict(spec), changed_by)
        return result

    async def get(self, exp_id: str) -> Versioned:
        result: Versioned = await self._call("get", exp_id)
        return result

    async def list(self, status: ExperimentStatus | None) -> tuple[list[Experiment], int]:
        result: tuple[list[Experiment], int] = await self._call("list", status)
        return result

    async def history(self, exp_id: str) -> tuple[Sequence[ConfigChange], int]:
        result: tuple[Sequence[ConfigChange], int] = await self._call("history", exp_id, unpack=_payload)
        return result

    async def update(self, exp_id: str, *, status: ExperimentStatus | None, rollout_pct: float | None,
                     targeting: Mapping[str, Any] | None, expected_version: int | None,
                     **described: Any) -> Versioned:
        """``described``: ``name``, ``owner``, ``description``, ``planned_units`` and ``changed_by``."""
        result: Versioned = await self._call(
            "change", "update", exp_id, status=status, rollout_pct=rollout_pct,
            targeting=None if targeting is None else dict(targeting), expected_version=expected_version,
            **described)
        return result

    async def ship(self, exp_id: str, variant_id: str, expected_version: int | None,
                   changed_by: str = "") -> Versioned:
        result: Versioned = await self._call("change", "ship", exp_id, variant_id, expected_version, changed_by)
        return result

    async def archive(self, exp_id: str, expected_version: int | None, changed_by: str = "") -> Versioned:
        result: Versioned = await self._call("change", "archive", exp_id, expected_version, changed_by)
        return result
