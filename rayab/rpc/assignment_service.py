"""``rayab.v1.AssignmentService``: answers from the local snapshot, never from an actor or another process.

Each call reads ``holder.current`` once, so all its answers come from one config version. ``BatchAssign`` works
in chunks and checks between them whether the deadline passed or the client went away; if so it stops and
counts the call in ``batches_stopped`` instead of finishing work nobody will read. First assignments go to an
:class:`~rayab.serving.assignment_recorder.AssignmentRecorder` (a bounded local buffer) and never make a request wait.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from rayab.assignment import Assignment
from rayab.errors import ValidationError
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc as apb_grpc
from rayab.rpc.convert import REASONS, Attribute, attributes_from_proto
from rayab.rpc.snapshot import ServedConfig, SnapshotHolder
from rayab.rpc.status import guarded
from rayab.serving.assignment_recorder import AssignmentRecorder

__all__ = ["AssignmentService"]

_INDEXED_FIELD = re.compile(r"(\w+)\[(\d+)\](.*)", re.DOTALL)


class AssignmentService(apb_grpc.AssignmentServiceServicer):
    """The assignment servicer of one serving process."""

    def __init__(self, holder: SnapshotHolder, recorder: AssignmentRecorder | None = None, server_id: str = "",
                 batch_chunk: int = 2_000) -> None:
        self.holder = holder
        self.recorder = recorder
        self.server_id = server_id
        self.batch_chunk = batch_chunk
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
        if self.recorder is not None:
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
        try:
            for start in range(0, len(unit_ids), self.batch_chunk):
                await self._stop_if_late(context)
                stop = start + self.batch_chunk
                rows = _assign_chunk(served, unit_ids[start:stop], attributes and attributes[start:stop], exp_ids,
                                     sessions and sessions[start:stop], start)
                self._collect(served, rows, columns)
                if self.recorder is not None:
                    ids = [u or s or "" for u, s in zip(unit_ids[start:stop], (sessions or unit_ids)[start:stop],
                                                        strict=True)]
                    self.recorder.record_many([(a.exp_id, unit_id, a.variant_id or "", at_us)
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
            assignments_dropped=recorder.dropped if recorder else 0, batches_stopped=self.batches_stopped)

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
