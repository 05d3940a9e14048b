"""Every branch of the exception tree maps to its status code, in one place."""

from __future__ import annotations

import grpc
import pytest

from rayab.errors import (
    ExpressionError,
    InputDataError,
    NotFoundError,
    PreconditionError,
    RayabError,
    SpecError,
    StorageError,
    ValidationError,
)
from rayab.rpc.status import Unauthenticated, status_of


@pytest.mark.parametrize(("error", "code"), [
    (ValidationError("unit_id", "", "must be non-empty"), grpc.StatusCode.INVALID_ARGUMENT),
    (SpecError("variants[0].traffic_pct", 120, "must be in [0, 100]"), grpc.StatusCode.INVALID_ARGUMENT),
    (ExpressionError("a +", 3, "unexpected end"), grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError("experiment 'x'"), grpc.StatusCode.NOT_FOUND),
    (PreconditionError("stopped"), grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated("authorization: missing"), grpc.StatusCode.UNAUTHENTICATED),
    (StorageError("warehouse down"), grpc.StatusCode.UNAVAILABLE),
    (InputDataError("corrupt"), grpc.StatusCode.DATA_LOSS),
    (RayabError("other"), grpc.StatusCode.INTERNAL),
])
def test_status_of(error, code):
    assert status_of(error) == (code, str(error))


def test_validation_messages_name_the_field():
    _code, message = status_of(SpecError("spec.variants[1].traffic_pct", 120.0, "must be in [0, 100]"))
    assert message == "spec.variants[1].traffic_pct == 120.0: must be in [0, 100]"
