"""Checks shared by the spec classes; each raises :class:`~rayab.errors.SpecError` naming field, value and rule.

>>> check_identifier("exp_id", "ctr_test-1")
'ctr_test-1'
>>> check_identifier("exp_id", "../etc")
Traceback (most recent call last):
...
rayab.errors.SpecError: exp_id == '../etc': must match [a-z0-9_\\-]{1,64}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rayab.errors import SpecError

IDENTIFIER_PATTERN = r"[a-z0-9_\-]{1,64}"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
# Column and dimension names end up in SQL and Parquet schemas: keep them plain identifiers.
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_identifier(field: str, value: Any) -> str:
    """An id that may become a path segment: lower-case letters, digits, ``_`` and ``-``, 1 to 64 characters."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise SpecError(field, value, f"must match {IDENTIFIER_PATTERN}")
    return value


def check_column(field: str, value: Any) -> str:
    """A column or dimension name: a plain identifier (letters, digits, ``_``), 1 to 64 characters."""
    if not isinstance(value, str) or not _COLUMN.fullmatch(value):
        raise SpecError(field, value, "must be a column name matching [A-Za-z_][A-Za-z0-9_]{0,63}")
    return value


def check_number(field: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(field, value, "must be a finite number")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bracket = "(" if low_open else "["
        raise SpecError(field, value, f"must be in {bracket}{low:g}, {high:g}]")
    return float(value)


def check_int(field: str, value: Any, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, "must be an integer")
    if not low <= value <= high:
        raise SpecError(field, value, f"must be in [{low}, {high}]")
    return value


def check_text(field: str, value: Any, *, max_length: int = 1024, allow_empty: bool = False) -> str:
    """A string of at most ``max_length`` characters."""
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > max_length:
        rule = f"must be a {'' if allow_empty else 'non-empty '}string of at most {max_length} characters"
        raise SpecError(field, value, rule)
    return value


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive input, canonical output)."""
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
    raise SpecError(field, value, f"must be one of {', '.join(choices)}")


def parse_time(field: str, value: Any) -> datetime:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 string; naive values are taken as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise SpecError(field, value, "must be an ISO-8601 time such as 2026-11-24T10:00:00Z") from None
    if not isinstance(value, datetime):
        raise SpecError(field, value, "must be an ISO-8601 time such as 2026-11-24T10:00:00Z")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_keys(field: str, data: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    """A mapping whose keys are all ``allowed`` and include every ``required`` one."""
    if not isinstance(data, Mapping):
        raise SpecError(field, data, "must be a mapping")
    unknown = sorted(set(data) - allowed)
    if unknown:
        allowed_text = ", ".join(sorted(allowed))
        raise SpecError(f"{field}.{unknown[0]}", data[unknown[0]], f"unknown field; allowed: {allowed_text}")
    missing = sorted(required - set(data))
    if missing:
        raise SpecError(f"{field}.{missing[0]}", None, "is required")
    return data
