"""Validation of assignment request fields; each failure raises :class:`~rayab.errors.ValidationError` naming
the field (the gRPC edge maps it to ``INVALID_ARGUMENT``).

>>> check_attributes({"country": "FR", "age": 31, "premium": True})
{'country': 'FR', 'age': 31, 'premium': True}
>>> check_attributes({"age": float("nan")})
Traceback (most recent call last):
...
rayab.errors.ValidationError: attributes.age == nan: must be a finite number
>>> check_ids("", None)
Traceback (most recent call last):
...
rayab.errors.ValidationError: unit_id == '': must be non-empty unless a session_id is given
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rayab.assignment.targeting import Attributes
from rayab.errors import ValidationError

__all__ = ["MAX_ATTRIBUTES", "MAX_ID_LENGTH", "check_attributes", "check_exp_ids", "check_ids"]

MAX_ID_LENGTH = 256
MAX_ATTRIBUTES = 256
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTE_TEXT = 1024
_EMPTY: Attributes = {}


def check_ids(unit_id: Any, session_id: Any, field: str = "unit_id", session_field: str = "session_id") -> None:
    """A unit id and an optional session id: strings of at most 256 characters, not both empty."""
    if not isinstance(unit_id, str) or len(unit_id) > MAX_ID_LENGTH:
        raise ValidationError(field, unit_id, f"must be a string of at most {MAX_ID_LENGTH} characters")
    if session_id is not None and (not isinstance(session_id, str) or len(session_id) > MAX_ID_LENGTH):
        raise ValidationError(session_field, session_id,
                              f"must be None or a string of at most {MAX_ID_LENGTH} characters")
    if not unit_id and not session_id:
        raise ValidationError(field, unit_id, "must be non-empty unless a session_id is given")
    for name, value in ((field, unit_id), (session_field, session_id)):
        if value and not value.isascii() and not _is_utf8(value):
            raise ValidationError(name, value, "must be valid Unicode text (a lone surrogate cannot be hashed)")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_attributes(attributes: Any, field: str = "attributes") -> Attributes:
    """Attribute name -> string, finite number or boolean; None is no attributes."""
    if attributes is None:
        return _EMPTY
    if type(attributes) is dict and len(attributes) <= MAX_ATTRIBUTES:
        # The common request, text attributes of sensible sizes, in one pass without a call per attribute;
        # anything else is checked (and named) below.
        for name, value in attributes.items():
            if type(value) is not str or type(name) is not str or not 0 < len(name) <= MAX_ATTRIBUTE_NAME \
                    or len(value) > MAX_ATTRIBUTE_TEXT:
                break
        else:
            return attributes
    if not isinstance(attributes, Mapping):
        raise ValidationError(field, attributes, "must be a mapping of attribute name to value")
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationError(field, f"<{len(attributes)} attributes>", f"must have at most {MAX_ATTRIBUTES}")
    for name, value in attributes.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ATTRIBUTE_NAME:
            raise ValidationError(field, name, f"names must be strings of 1 to {MAX_ATTRIBUTE_NAME} characters")
        if type(value) is str:  # the common case first: one type check
            if len(value) > MAX_ATTRIBUTE_TEXT:
                raise ValidationError(f"{field}.{name}", value[:32] + "...",
                                      f"must be at most {MAX_ATTRIBUTE_TEXT} characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError(f"{field}.{name}", value, "must be a finite number")
        elif not isinstance(value, str | int):  # bool is an int
            raise ValidationError(f"{field}.{name}", value, "must be a string, a finite number or a boolean")
    return attributes


def check_exp_ids(exp_ids: Any) -> Sequence[str] | None:
    """None (every served experiment) or a list of experiment ids.

    >>> check_exp_ids("ctr_test")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: exp_ids == 'ctr_test': must be a list of experiment ids, not one string
    """
    if exp_ids is None:
        return None
    if isinstance(exp_ids, str) or not isinstance(exp_ids, Sequence):
        rule = "must be a list of experiment ids, not one string" if isinstance(exp_ids, str) else \
            "must be a list of experiment ids"
        raise ValidationError("exp_ids", exp_ids, rule)
    for i, exp_id in enumerate(exp_ids):
        if not isinstance(exp_id, str) or not 0 < len(exp_id) <= MAX_ID_LENGTH:
            raise ValidationError(f"exp_ids[{i}]", exp_id, "must be a non-empty string")
    return exp_ids
