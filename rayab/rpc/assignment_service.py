"""``rayab.v1.AssignmentService``: answers from the local snapshot, never from an actor or another process.

Each call reads ``holder.current`` once, so all its answers come from one config version. ``BatchAssign`` works
in chunks and checks between them whether the deadline passed or the client went away; if so it stops and
counts the call in ``batches_stopped`` instead of finishing work nobody will read. First assignments go to an
:class:`~rayab.serving.assignment_recorder.AssignmentRecorder` (a bounded local buffer) and never make a request wait,
unless the request says ``log_exposure: false`` (unset means true, as before the field existed).

``WatchConfig`` streams the SDK snapshot document: the current version at once when the client's
``known_version`` is older, then each newer version installed in this process; a heartbeat (no document) every
``heartbeat_s`` seconds without a new version lets a client tell a quiet stream from a dead one. ``LogExposures``
takes the exposures an SDK decided and records them through the same recorder; each is checked against the
current version (known experiment and variant, a unit id that could be hashed, a time not in the future), and
refused ones are counted and the first reason returned, never failing the rest. Both need the SDK key
(:class:`~rayab.rpc.auth.SdkAccess`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc

from rayab.assignment import Assignment
from rayab.assignment.request import MAX_ID_LENGTH
from rayab.errors import PreconditionError, RayabError, ValidationError
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc as apb_grpc
from rayab.rpc.auth import AdminToken, SdkAccess
from rayab.rpc.convert import REASONS, Attribute, attributes_from_proto
from rayab.rpc.snapshot import ServedConfig, SnapshotHolder
from rayab.rpc.status import abort_with, guarded
from rayab.serving.assignment_recorder import AssignmentRecorder

__all__ = ["AssignmentService"]

_INDEXED_FIELD = re.compile(r"(\w+)\[(\d+)\](.*)", re.DOTALL)
_FUTURE_US = 3_600 * 1_000_000  # an exposure more than an hour ahead of the server's clock is refused


class AssignmentService(apb_grpc.AssignmentServiceServicer):
    """The assignment servicer of one serving process."""

    def __init__(self, holder: SnapshotHolder, recorder: AssignmentRecorder | None = None, server_id: str = "",
                 batch_chunk: int = 2_000, sdk_access: SdkAccess | None = None, heartbeat_s: float = 10.0) -> None:
        self.holder = holder
        self.recorder = recorder
        self.server_id = server_id
        self.batch_chunk = batch_chunk
        self.sdk_access = sdk_access or SdkAccess(AdminToken(None))
        self.heartbeat_s = heartbeat_s
        self.watchers = 0
        self.exposures_accepted = 0
        self.closing = False
        self.assign_requests = 0
        self.batch_requests = 0
        self.batches_stopped = 0
        self.batch_units_done = 0

    @guarded
    async def Assign(self, request: apb.AssignRequest, context: Any) -> apb.AssignResponse:
        served = self.holder.current  # read once: the whole answer comes from this version
        self.assign_requests += 1
        attributes = attributes_from_proto(request.attributes) if request.attributes else None
        results = served.assigner.assign(request.unit_id, attributes, list(request.exp_ids) or None,
                                         request.session_id or None)
        if self.recorder is not None and _logs(request):
            self._record(results, request.unit_id or request.session_id, time.time_ns() // 1000)
        response = apb.AssignResponse(config_version=served.version)
        response.assignments.extend([served.assignment_message(a) for a in results])
        return response

    @guarded
    async def BatchAssign(self, request: apb.BatchAssignRequest, context: Any) -> apb.BatchAssignResponse:
        served = self.holder.current
        self.batch_requests += 1
        unit_ids = list(request.unit_ids)
        sessions = _sessions(request.session_ids, len(unit_ids))
        attributes = _batch_attributes(request, len(unit_ids))
        exp_ids = list(request.exp_ids) or None
        columns: dict[str, tuple[list[int], list[int]]] = {}
        at_us = time.time_ns() // 1000
        recorder = self.recorder if _logs(request) else None
        try:
            for start in range(0, len(unit_ids), self.batch_chunk):
                await self._stop_if_late(context)
                stop = start + self.batch_chunk
                rows = _assign_chunk(served, unit_ids[start:stop], attributes and attributes[start:stop], exp_ids,
                                     sessions and sessions[start:stop], start)
                self._collect(served, rows, columns)
                if recorder is not None:
                    ids = [u or s or "" for u, s in zip(unit_ids[start:stop], (sessions or unit_ids)[start:stop],
                                                        strict=True)]
                    recorder.record_many([(a.exp_id, unit_id, a.variant_id or "", at_us)
                                               for unit_id, row in zip(ids, rows, strict=True)
                                               for a in row if a.in_experiment])
                self.batch_units_done += len(rows)
                await asyncio.sleep(0)  # let other calls (and cancellation) in between chunks
        except asyncio.CancelledError:  # gRPC cancels the handler when the deadline passes or the client leaves
            self.batches_stopped += 1
            raise
        return _batch_response(served, columns)

    async def GetServingStatus(self, request: apb.GetServingStatusRequest,
                               context: Any) -> apb.GetServingStatusResponse:
        recorder = self.recorder
        return apb.GetServingStatusResponse(
            server_id=self.server_id, config_version=self.holder.version, assign_requests=self.assign_requests,
            batch_requests=self.batch_requests, assignments_logged=recorder.recorded if recorder else 0,
            assignments_dropped=recorder.dropped if recorder else 0, batches_stopped=self.batches_stopped,
            config_watchers=self.watchers, exposures_accepted=self.exposures_accepted)

    async def WatchConfig(self, request: apb.WatchConfigRequest,
                          context: Any) -> AsyncIterator[apb.WatchConfigResponse]:
        try:
            self.sdk_access.check(context.invocation_metadata())
            if request.known_version < 0:
                raise ValidationError("known_version", request.known_version, "must be 0 (none) or a config version")
        except RayabError as error:
            await abort_with(context, error)
        known = request.known_version
        self.watchers += 1
        try:
            while True:
                served = await self.holder.next_version(known, self.heartbeat_s, lambda: self.closing)
                if self.closing:  # set by close_watches, which wakes every waiting stream
                    return
                if served is None:
                    yield apb.WatchConfigResponse(config_version=known)  # a heartbeat
                    continue
                known = served.version
                yield apb.WatchConfigResponse(config_version=known, snapshot_json=served.document_json())
        finally:
            self.watchers -= 1

    async def LogExposures(self, request_iterator: AsyncIterator[apb.LogExposuresRequest],
                           context: Any) -> apb.LogExposuresResponse:
        try:
            self.sdk_access.check(context.invocation_metadata())
            if self.recorder is None:
                raise PreconditionError("this server logs no assignments (it has no assignment recorder)")
        except RayabError as error:
            await abort_with(context, error)
        recorder = self.recorder
        assert recorder is not None
        response = apb.LogExposuresResponse()
        offset = 0
        async for request in request_iterator:
            rows, errors = _exposure_rows(self.holder.current, request.exposures, offset, time.time_ns() // 1000)
            offset += len(request.exposures)
            dropped = recorder.record_many(rows)
            response.accepted += len(rows) - dropped
            response.dropped += dropped
            response.rejected += len(errors)
            if errors and not response.first_error:
                response.first_error = errors[0]
            self.exposures_accepted += len(rows) - dropped
        return response

    def close_watches(self) -> None:
        """End every WatchConfig stream (with OK): a stopping server does not wait for streams that never end."""
        self.closing = True
        self.holder.wake()

    async def _stop_if_late(self, context: Any) -> None:
        remaining = context.time_remaining()
        if context.cancelled() or (remaining is not None and remaining <= 0):
            self.batches_stopped += 1
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded: BatchAssign stopped")

    def _record(self, results: Sequence[Assignment], unit_id: str, at_us: int) -> None:
        assert self.recorder is not None
        self.recorder.record_many([(a.exp_id, unit_id, a.variant_id or "", at_us) for a in results if a.in_experiment])

    @staticmethod
    def _collect(served: ServedConfig, rows: list[list[Assignment]],
                 columns: dict[str, tuple[list[int], list[int]]]) -> None:
        if not rows:
            return
        for j, first in enumerate(rows[0]):
            index_of = served.variants(first.exp_id)[1]
            indexes, reasons = columns.setdefault(first.exp_id, ([], []))
            for row in rows:
                assignment = row[j]
                variant = assignment.variant_id
                indexes.append(-1 if variant is None else index_of[variant])
                reasons.append(REASONS[assignment.reason])


def _logs(request: apb.AssignRequest | apb.BatchAssignRequest) -> bool:
    """Whether a request's first assignments are logged: ``log_exposure`` unset (as in clients older than the
    field) or true."""
    return not request.HasField("log_exposure") or request.log_exposure


def _exposure_rows(served: ServedConfig, exposures: Sequence[apb.Exposure], offset: int,
                   now_us: int) -> tuple[list[tuple[str, str, str, int]], list[str]]:
    """The log rows of valid exposures, and one reason per refused one (naming its index in the whole stream)."""
    rows: list[tuple[str, str, str, int]] = []
    errors: list[str] = []
    variants: dict[str, tuple[str, ...] | None] = {}
    for i, exposure in enumerate(exposures, offset):
        exp_id, unit_id, variant_id = exposure.exp_id, exposure.unit_id, exposure.variant_id
        if exp_id not in variants:
            variants[exp_id] = served.variant_ids(exp_id)
        known = variants[exp_id]
        at_us = exposure.exposed_at_us or now_us
        if known is None:
            error = ValidationError(f"exposures[{i}].exp_id", exp_id,
                                    f"is not an experiment of config version {served.version}")
        elif variant_id not in known:
            error = ValidationError(f"exposures[{i}].variant_id", variant_id,
                                    f"is not a variant of {exp_id} ({', '.join(known)})")
        elif not unit_id or len(unit_id) > MAX_ID_LENGTH:
            error = ValidationError(f"exposures[{i}].unit_id", unit_id,
                                    f"must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        elif at_us < 0 or at_us > now_us + _FUTURE_US:
            error = ValidationError(f"exposures[{i}].exposed_at_us", exposure.exposed_at_us,
                                    "must be microseconds since the epoch, at most an hour ahead of the server")
        else:
            rows.append((exp_id, unit_id, variant_id, at_us))
            continue
        errors.append(str(error))
    return rows, errors


def _sessions(session_ids: Sequence[str], n: int) -> list[str | None] | None:
    if not session_ids:
        return None
    if len(session_ids) != n:
        raise ValidationError("session_ids", f"<{len(session_ids)} entries>",
                              f"must be empty or have one entry per unit id ({n})")
    return [s or None for s in session_ids]


def _batch_attributes(request: apb.BatchAssignRequest, n: int) -> list[Mapping[str, Attribute]] | None:
    shared = attributes_from_proto(request.shared_attributes, "shared_attributes")
    if not request.attributes:
        return [shared] * n if shared else None
    if len(request.attributes) != n:
        raise ValidationError("attributes", f"<{len(request.attributes)} entries>",
                              f"must be empty or have one entry per unit id ({n})")
    return [{**shared, **attributes_from_proto(a.values, f"attributes[{i}]")} if a.values else shared
            for i, a in enumerate(request.attributes)]


def _assign_chunk(served: ServedConfig, unit_ids: list[str], attributes: Sequence[Mapping[str, Attribute]] | None,
                  exp_ids: list[str] | None, sessions: Sequence[str | None] | None,
                  offset: int) -> list[list[Assignment]]:
    """One chunk of a batch; a validation error names the index in the whole batch, not in the chunk."""
    try:
        return served.assigner.assign_batch(unit_ids, attributes, exp_ids, sessions)
    except ValidationError as err:
        match = _INDEXED_FIELD.fullmatch(err.field)
        if match is None or offset == 0:
            raise
        name, index, rest = match.groups()
        raise ValidationError(f"{name}[{int(index) + offset}]{rest}", err.value, err.rule) from None


def _batch_response(served: ServedConfig, columns: dict[str, tuple[list[int], list[int]]]) -> apb.BatchAssignResponse:
    response = apb.BatchAssignResponse(config_version=served.version)
    for exp_id, (indexes, reasons) in columns.items():
        column = response.experiments.add(exp_id=exp_id)
        column.variants.extend(served.variants(exp_id)[0])
        column.variant_index.extend(indexes)
        column.reasons.extend(reasons)
    return response
