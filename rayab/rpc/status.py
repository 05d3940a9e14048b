"""The one place where rayab's exception tree becomes gRPC status codes.

==========================  =====================  ===================================================
error                       status code            when
==========================  =====================  ===================================================
ValidationError             INVALID_ARGUMENT       a request field or spec breaks a rule (names it)
NotFoundError               NOT_FOUND              an unknown experiment
ConflictError               ABORTED                a config change based on a stale version (retry)
PreconditionError           FAILED_PRECONDITION    a stopped experiment, a forbidden status change
Unauthenticated             UNAUTHENTICATED        an admin mutation without the right bearer token
PermissionDenied            PERMISSION_DENIED      a valid token that may not do this (the read token on WatchConfig)
StorageError                UNAVAILABLE            the warehouse failed; retrying later may succeed
InputDataError              DATA_LOSS              unreadable input data
any other RayabError        INTERNAL
==========================  =====================  ===================================================

>>> from rayab.errors import ValidationError
>>> code, message = status_of(ValidationError("unit_id", "", "must be non-empty"))
>>> code.name, message
('INVALID_ARGUMENT', "unit_id == '': must be non-empty")
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from rayab.errors import (
    ConflictError,
    InputDataError,
    NotFoundError,
    PreconditionError,
    RayabError,
    StorageError,
    ValidationError,
)

__all__ = ["PermissionDenied", "Unauthenticated", "abort_with", "guarded", "status_of"]

_S = TypeVar("_S")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class Unauthenticated(RayabError):
    """A call that needs credentials came without valid ones."""


class PermissionDenied(RayabError):
    """A call came with a valid token that does not allow it."""


# Checked in order: the first matching class decides (subclasses before their bases).
_CODES: tuple[tuple[type[RayabError], grpc.StatusCode], ...] = (
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (ConflictError, grpc.StatusCode.ABORTED),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (StorageError, grpc.StatusCode.UNAVAILABLE),
    (InputDataError, grpc.StatusCode.DATA_LOSS),
)


def status_of(error: RayabError) -> tuple[grpc.StatusCode, str]:
    """The status code and message a rayab error is sent back with."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code, str(error)
    return grpc.StatusCode.INTERNAL, str(error)


async def abort_with(context: grpc.aio.ServicerContext, error: RayabError) -> None:
    """End the call with the status of ``error`` (raises, as ``context.abort`` does)."""
    code, message = status_of(error)
    await context.abort(code, message)


def guarded(method: Callable[[_S, _Req, Any], Awaitable[_Resp]]) -> Callable[[_S, _Req, Any], Awaitable[_Resp]]:
    """Decorate a servicer method so that any :class:`RayabError` it raises ends the call with its status."""

    @functools.wraps(method)
    async def call(self: _S, request: _Req, context: Any) -> _Resp:
        try:
            return await method(self, request, context)
        except RayabError as error:
            await abort_with(context, error)
            raise  # abort raises; this only satisfies the type checker

    return call
