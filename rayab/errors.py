"""The one exception tree of rayab.

Every error rayab raises on purpose derives from :class:`RayabError`, so callers can catch the whole family, and the
gRPC edge (``rayab.rpc``) maps each branch to one status code in one place::

    RayabError
    ├── ValidationError          bad input: a spec, a request field, a query (-> INVALID_ARGUMENT)
    │   ├── SpecError            an experiment / metric / analysis-type spec breaks a rule
    │   └── ExpressionError      a metric expression does not parse (points at the token)
    ├── NotFoundError            an experiment, table, partition or hour that does not exist (-> NOT_FOUND)
    ├── PreconditionError        the object exists but is in the wrong state, e.g. stopped (-> FAILED_PRECONDITION)
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
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ExpressionError",
    "InputDataError",
    "MissingInputError",
    "NotFoundError",
    "PreconditionError",
    "RayabError",
    "SpecError",
    "StorageError",
    "ValidationError",
]


class RayabError(Exception):
    """Base class of every error rayab raises on purpose."""


class ValidationError(RayabError, ValueError):
    """A value breaks a rule; names the field, the value and the rule."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        self._init_args: tuple[Any, ...] = (field, value, rule)
        super().__init__(f"{field} == {value!r}: {rule}")

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
        pointer = " " * position + "^"
        super().__init__("expression", expression, f"{rule} at position {position}\n  {expression}\n  {pointer}")
        self._init_args = (expression, position, rule)


class NotFoundError(RayabError, LookupError):
    """Something that was asked for does not exist."""


class PreconditionError(RayabError):
    """The object exists but its state forbids the operation."""


class InputDataError(RayabError):
    """Raw input cannot be read at all (as opposed to bad rows, which are quarantined)."""


class MissingInputError(InputDataError):
    """An hour has no input to read (no file, or files without a row); it is not committed unless told it is
    really empty, so a wrong path never replaces committed data with zeros."""


class StorageError(RayabError):
    """The warehouse could not be read or written."""
