"""``rayab.v1.ExperimentService``: the admin API, a thin adapter over an :class:`ExperimentAdmin`.

The admin behind it (the config actor in production, :class:`rayab.lifecycle.config_store.LocalAdmin` in a single
process) owns the rules: status changes, shipping, archiving, version numbers and persistence. Mutations need
the admin bearer token (:mod:`rayab.rpc.auth`); reads need the read token if the server has one, and their
replies carry the experiments' salts only for a caller holding the admin token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rayab.errors import ValidationError
from rayab.model.experiment import Experiment, ExperimentStatus
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc._generated import experiments_pb2_grpc as epb_grpc
from rayab.rpc.auth import AdminToken, ReadAccess
from rayab.rpc.convert import change_to_proto, experiment_to_proto, status_from_proto, struct_to_python
from rayab.rpc.status import guarded

if TYPE_CHECKING:
    from rayab.storage.specs import ConfigChange

__all__ = ["ExperimentAdmin", "ExperimentService"]

Versioned = tuple[Experiment, int]


class ExperimentAdmin(Protocol):
    """Where experiments live; every method returns the experiment and the config version holding it."""

    async def create(self, spec: Mapping[str, Any], changed_by: str = "") -> Versioned: ...

    async def get(self, exp_id: str) -> Versioned: ...

    async def list(self, status: ExperimentStatus | None) -> tuple[list[Experiment], int]: ...

    async def update(self, exp_id: str, *, status: ExperimentStatus | None, rollout_pct: float | None,
                     targeting: Mapping[str, Any] | None, expected_version: int | None,
                     **described: Any) -> Versioned:
        """``described``: ``name``, ``owner``, ``description``, ``planned_units`` (None or absent: kept) and
        ``changed_by`` (who, recorded with the config version)."""
        ...

    async def ship(self, exp_id: str, variant_id: str, expected_version: int | None,
                   changed_by: str = "") -> Versioned: ...

    async def archive(self, exp_id: str, expected_version: int | None, changed_by: str = "") -> Versioned: ...

    async def history(self, exp_id: str) -> tuple[Sequence[ConfigChange], int]:
        """The committed config versions that changed ``exp_id``, newest first, and the latest version."""
        ...


def _json_object(field: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationError(field, text[:80], f"must be a JSON object ({err.msg} at position {err.pos})") from None
    if not isinstance(value, dict):
        raise ValidationError(field, text[:80], "must be a JSON object")
    return value


_Reply = TypeVar("_Reply", epb.CreateExperimentResponse, epb.GetExperimentResponse, epb.UpdateExperimentResponse,
                 epb.ShipVariantResponse, epb.ArchiveExperimentResponse)


def _reply(kind: type[_Reply], versioned: Versioned, secrets: bool = True) -> _Reply:
    experiment, version = versioned
    return kind(experiment=experiment_to_proto(experiment, secrets), config_version=version)


class ExperimentService(epb_grpc.ExperimentServiceServicer):
    """The admin servicer."""

    def __init__(self, admin: ExperimentAdmin, token: AdminToken, reads: ReadAccess | None = None) -> None:
        self.admin = admin
        self.token = token
        self.reads = reads or ReadAccess(token)

    @guarded
    async def CreateExperiment(self, request: epb.CreateExperimentRequest,
                               context: Any) -> epb.CreateExperimentResponse:
        self.token.check(context.invocation_metadata())
        spec = _json_object("spec_json", request.spec_json)
        return _reply(epb.CreateExperimentResponse, await self.admin.create(spec, request.changed_by))

    @guarded
    async def GetExperiment(self, request: epb.GetExperimentRequest, context: Any) -> epb.GetExperimentResponse:
        secrets = self.reads.check(context.invocation_metadata())
        return _reply(epb.GetExperimentResponse, await self.admin.get(request.exp_id), secrets)

    @guarded
    async def ListExperiments(self, request: epb.ListExperimentsRequest,
                              context: Any) -> epb.ListExperimentsResponse:
        secrets = self.reads.check(context.invocation_metadata())
        experiments, version = await self.admin.list(status_from_proto(request.status))
        return epb.ListExperimentsResponse(experiments=[experiment_to_proto(e, secrets) for e in experiments],
                                           config_version=version)

    @guarded
    async def UpdateExperiment(self, request: epb.UpdateExperimentRequest,
                               context: Any) -> epb.UpdateExperimentResponse:
        self.token.check(context.invocation_metadata())
        targeting = struct_to_python(request.targeting) if request.HasField("targeting") else None
        described = {name: getattr(request, name) for name in ("name", "owner", "description", "planned_units")
                     if request.HasField(name)}
        return _reply(epb.UpdateExperimentResponse, await self.admin.update(
            request.exp_id, status=status_from_proto(request.status),
            rollout_pct=request.rollout_pct if request.HasField("rollout_pct") else None,
            targeting=targeting, expected_version=request.expected_version or None,
            changed_by=request.changed_by, **described))

    @guarded
    async def ShipVariant(self, request: epb.ShipVariantRequest, context: Any) -> epb.ShipVariantResponse:
        self.token.check(context.invocation_metadata())
        shipped = await self.admin.ship(request.exp_id, request.variant_id, request.expected_version or None,
                                        request.changed_by)
        return _reply(epb.ShipVariantResponse, shipped)

    @guarded
    async def ArchiveExperiment(self, request: epb.ArchiveExperimentRequest,
                                context: Any) -> epb.ArchiveExperimentResponse:
        self.token.check(context.invocation_metadata())
        archived = await self.admin.archive(request.exp_id, request.expected_version or None, request.changed_by)
        return _reply(epb.ArchiveExperimentResponse, archived)

    @guarded
    async def GetExperimentHistory(self, request: epb.GetExperimentHistoryRequest,
                                   context: Any) -> epb.GetExperimentHistoryResponse:
        self.reads.check(context.invocation_metadata())
        changes, version = await self.admin.history(request.exp_id)
        return epb.GetExperimentHistoryResponse(changes=[change_to_proto(c) for c in changes],
                                                config_version=version)
