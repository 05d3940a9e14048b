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


def test_a_long_value_is_shown_as_a_bounded_prefix_and_its_length() -> None:
    from rayab.errors import MAX_MESSAGE, NotFoundError, PreconditionError

    error = SpecError("spec.name", "n" * 10_000, "must be a non-empty string of at most 1024 characters")
    text = str(error)
    assert text == ("spec.name == '" + "n" * 59 + "... (10000 characters): must be a non-empty string of at most "
                    "1024 characters")
    assert error.value == "n" * 10_000  # the error keeps the whole value for code that inspects it
    assert str(ValidationError("x" * 5_000, 1, "is unknown")).startswith("x" * 120 + "... (5000 characters) == 1")
    # any rayab error's text is bounded, whatever the message was built from
    for long in (NotFoundError(f"experiment {'e' * 20_000!r} does not exist"), PreconditionError("p" * 9_999)):
        assert len(str(long)) < MAX_MESSAGE + 40 and str(long).endswith(" characters)")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == text


def test_a_long_expression_is_shown_as_a_window_around_the_position() -> None:
    expression = "a + " * 3_000 + "* b"
    try:
        parse_expression(expression)
    except ExpressionError as error:
        text = str(error)
        lines = text.split("\n")
        assert error.position == 12_000 and len(text) < 400
        assert lines[0].startswith("expression == 'a + a + ") and "(12003 characters)" in lines[0]
        window, pointer = lines[1][2:], lines[2][2:]
        assert window.startswith("...") and window[len(pointer) - 1] == "*"  # the caret points at the bad token
    else:
        raise AssertionError("the expression parsed")
