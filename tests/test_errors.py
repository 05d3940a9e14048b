"""Errors keep field, value and rule across pickling (Ray ships them between processes)."""

from __future__ import annotations

import pickle

from rayab.errors import ExpressionError, SpecError, ValidationError
from rayab.model import parse_expression


def test_validation_errors_pickle_with_their_fields() -> None:
    for error in (ValidationError("unit_id", "", "must be non-empty"), SpecError("exp_id", "../x", "must match")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.field, copy.value, copy.rule, str(copy)) == (error.field, error.value, error.rule, str(error))


def test_expression_errors_pickle_with_their_position() -> None:
    try:
        parse_expression("clicks / / views")
    except ExpressionError as error:
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.position, copy.expression, str(copy)) == (error.position, error.expression, str(error))
    else:
        raise AssertionError("the expression parsed")
