"""The one exception tree of rayab.

Every error rayab raises on purpose derives from :class:`RayabError`, so callers can catch the whole family, and the
gRPC edge (``rayab.rpc``) maps each branch to one status code in one place::

    RayabError
    ├── ValidationError          bad input: a spec, a request field, a query (-> INVALID_ARGUMENT)
    │   ├── SpecError            an experiment / metric / analysis-type spec breaks a rule
    │   └── ExpressionError      a metric expression does not parse (points at the token)
    ├── NotFoundError            an experiment, table, partition or hour that does not exist (-> NOT_FOUND)
    ├── PreconditionError        the object exists but is in the wrong state, e.g. stopped (-> FAILED_PRECONDITION)
    │   └── ConflictError        a write based on a stale version, refused: read again and retry (-> ABORTED)
    ├── InputDataError           raw event logs that cannot be read at all, e.g. a corrupt file (-> DATA_LOSS)
    │   └── MissingInputError    an hour with no input to read: wrong --logs path, logs not arrived, empty files
    └── StorageError             the warehouse failed to read or commit (-> UNAVAILABLE)

Validation errors carry the offending ``field``, the ``value`` and the ``rule`` it broke, and render as
``field == value: rule``:

>>> err = SpecError("variants[1].traffic_pct", 120.0, "must be in [0, 100]")
>>> str(err)
'variants[1].traffic_pct == 120.0: must be in [0, 100]'
>>> isinstance(err, ValueError)
True

A message never repeats unbounded input: a value is shown as a prefix of its ``repr`` and its length
(:func:`shown`), and every rayab error's text is cut at :data:`MAX_MESSAGE` characters, so that an error always
fits where it is sent (a gRPC status travels in HTTP/2 headers, 8 KiB by default) and a log line stays a line:

>>> str(ValidationError("name", "x" * 10_000, "must be short"))
"name == 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (10000 characters): must be short"
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_MESSAGE",
    "MAX_SHOWN",
    "ConflictError",
    "ExpressionError",
    "InputDataError",
    "MissingInputError",
    "NotFoundError",
    "PreconditionError",
    "RayabError",
    "SpecError",
    "StorageError",
    "ValidationError",
    "bounded",
    "shown",
]

MAX_SHOWN = 60  # characters of a value's repr shown in a message
MAX_MESSAGE = 1_000  # characters of any error message


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)``, or its first ``limit`` characters and the value's length when it is longer.

    >>> shown("alice")
    "'alice'"
    >>> shown("a" * 500, limit=8)
    "'aaaaaaa... (500 characters)"
    >>> shown(list(range(1000)), limit=8)
    '[0, 1, 2... (1000 items)'
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        size = f"{len(value)} characters"
    elif isinstance(value, bytes | bytearray):
        size = f"{len(value)} bytes"
    elif isinstance(value, list | tuple | dict | set | frozenset):
        size = f"{len(value)} items"
    else:
        size = f"{len(text)} characters shown by repr"
    return f"{text[:limit]}... ({size})"


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was.

    >>> bounded("abcdef", limit=3)
    'abc... (6 characters)'
    """
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class RayabError(Exception):
    """Base class of every error rayab raises on purpose; its text is bounded (:func:`bounded`)."""

    def __str__(self) -> str:
        return bounded(super().__str__())


class ValidationError(RayabError, ValueError):
    """A value breaks a rule; names the field, the value and the rule."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        self._init_args: tuple[Any, ...] = (field, value, rule)
        super().__init__(f"{bounded(str(field), 2 * MAX_SHOWN)} == {shown(value)}: {rule}")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # rebuilt from the constructor's arguments, so the error crosses Ray and process boundaries intact
        return (self.__class__, self._init_args)


class SpecError(ValidationError):
    """An experiment, metric or analysis-type spec is invalid."""


class ExpressionError(ValidationError):
    """A metric expression is invalid; ``position`` is the offset of the offending token."""

    def __init__(self, expression: str, position: int, rule: str) -> None:
        self.expression = expression
        self.position = position
        # a window of the expression around the position, so that a long expression stays readable and bounded
        start = max(0, min(position - MAX_SHOWN // 2, len(expression) - MAX_SHOWN))
        window = expression[start:start + MAX_SHOWN]
        lead, tail = ("..." if start else ""), ("..." if start + MAX_SHOWN < len(expression) else "")
        pointer = " " * (len(lead) + position - start) + "^"
        super().__init__("expression", expression,
                         f"{rule} at position {position}\n  {lead}{window}{tail}\n  {pointer}")
        self._init_args = (expression, position, rule)


class NotFoundError(RayabError, LookupError):
    """Something that was asked for does not exist."""


class PreconditionError(RayabError):
    """The object exists but its state forbids the operation."""


class ConflictError(PreconditionError):
    """A write was based on a version that another writer has replaced meanwhile; nothing was written."""


class InputDataError(RayabError):
    """Raw input cannot be read at all (as opposed to bad rows, which are quarantined)."""


class MissingInputError(InputDataError):
    """An hour has no input to read (no file, or files without a row); it is not committed unless told it is
    really empty, so a wrong path never replaces committed data with zeros."""


class StorageError(RayabError):
    """The warehouse could not be read or written."""
