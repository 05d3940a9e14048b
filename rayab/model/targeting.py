"""Targeting rules: which units are eligible for an experiment, decided on request attributes before hashing.

A rule is a frozen tree parsed from a JSON-ready mapping::

    rule      := {}                                  everyone (only as the whole targeting)
               | {"all": [rule, ...]}                every sub-rule holds (at least one sub-rule)
               | {"any": [rule, ...]}                some sub-rule holds (at least one sub-rule)
               | {"not": rule}                       the sub-rule does not hold
               | {"attr": NAME, OPERATOR: VALUE}     a condition on one attribute, exactly one operator

    OPERATOR  := eq | ne                     VALUE a string, number or boolean
               | in | not_in                 VALUE a non-empty list of strings, of numbers or of booleans
               | lt | lte | gt | gte         VALUE a number
               | version_eq | version_ne | version_lt | version_lte | version_gt | version_gte
                                             VALUE a version such as "5.2", "v5.10.1" or "6.0.0-beta.2"

How a condition compares (evaluation lives in :mod:`rayab.assignment.targeting`):

- The **rule value fixes the type**; the attribute is read as that type. A string condition matches string
  attributes (an integer attribute is read as its decimal text); a number condition matches numbers and
  strings that parse as finite numbers (``"21"`` is 21); a boolean condition matches booleans and the strings
  ``"true"`` / ``"false"`` (any case); a version condition matches strings that parse as versions and
  integers (``5`` is ``5.0``). Strings compare case-sensitively.
- A **missing attribute, or one that cannot be read as the condition's type, makes the condition false**, for
  every operator, ``ne`` and ``not_in`` included. To also admit units without the attribute, write
  ``{"not": {"attr": "country", "in": ["FR"]}}`` instead of ``not_in``.
- Versions compare numerically component by component (``5.10 > 5.9``), missing components count as zero
  (``5.2 == 5.2.0``), a leading ``v`` and build metadata after ``+`` are ignored, and a pre-release sorts
  before its release (``6.0.0-beta < 6.0.0``; pre-release identifiers compare as in Semantic Versioning 2.0).

Invalid rules raise :class:`~rayab.errors.SpecError` naming the path of the offending field:

>>> rule = parse_targeting({"all": [{"attr": "country", "in": ["FR", "DE"]}, {"attr": "device", "eq": "tv"},
...                                 {"attr": "app_version", "version_gte": "5.2"}]})
>>> rule.to_dict()["all"][0]
{'attr': 'country', 'in': ['FR', 'DE']}
>>> parse_targeting(rule.to_dict()) == rule
True
>>> parse_targeting({"all": [{"attr": "country", "eq": "FR"}, {"attr": "country", "in": ["FR", 3]}]})
Traceback (most recent call last):
...
rayab.errors.SpecError: targeting.all[1].in == ['FR', 3]: must all be strings, all numbers or all booleans
>>> version_key("5.10") > version_key("5.9"), version_key("v5.2") == version_key("5.2.0+build7")
(True, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from rayab.errors import SpecError
from rayab.model.validation import check_column

__all__ = [
    "MATCH_ALL",
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Not",
    "Operator",
    "TargetingRule",
    "ValueKind",
    "VersionKey",
    "parse_targeting",
    "version_key",
]

Operator = Literal[
    "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte",
    "version_eq", "version_ne", "version_lt", "version_lte", "version_gt", "version_gte",
]
OPERATORS: tuple[Operator, ...] = (
    "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte",
    "version_eq", "version_ne", "version_lt", "version_lte", "version_gt", "version_gte",
)
ValueKind = Literal["str", "num", "bool", "version"]
ScalarValue: TypeAlias = str | int | float | bool
# A version's sort key: release numbers without trailing zeros, 1 for a release (0 for a pre-release), then
# the pre-release identifiers as (0, number) or (1, text): numeric identifiers sort before alphanumeric ones.
VersionKey: TypeAlias = tuple[tuple[int, ...], int, tuple[tuple[int, int | str], ...]]

MAX_DEPTH = 16
MAX_LIST_VALUES = 10_000
MAX_TEXT_LENGTH = 1024
_VERSION = re.compile(
    r"[vV]?(?P<release>\d{1,9}(?:\.\d{1,9}){0,7})(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?")


def version_key(text: str) -> VersionKey | None:
    """The sort key of a version string, or None when ``text`` is not a version.

    >>> version_key("5.2.0"), version_key("6.0-rc.1")
    (((5, 2), 1, ()), ((6,), 0, ((1, 'rc'), (0, 1))))
    >>> version_key("5..2") is None, version_key("") is None
    (True, True)
    """
    match = _VERSION.fullmatch(text) if len(text) <= 128 else None
    if match is None:
        return None
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    if match["pre"] is None:
        return tuple(release), 1, ()
    pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in match["pre"].split("."))
    return tuple(release), 0, pre


def _value_kind(value: Any) -> ValueKind | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num" if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH:
        return "str"
    return None


@dataclass(frozen=True)
class Condition:
    """``attr OPERATOR value``; ``value`` is a tuple for ``in`` / ``not_in``.

    >>> Condition("app_version", "version_gte", "5.2").kind
    'version'
    >>> Condition("age", "gte", "18")
    Traceback (most recent call last):
    ...
    rayab.errors.SpecError: gte == '18': must be a finite number
    """

    attr: str
    op: Operator
    value: ScalarValue | tuple[ScalarValue, ...]
    kind: ValueKind = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_column("attr", self.attr)
        if self.op not in OPERATORS:
            raise SpecError("op", self.op, f"must be one of {', '.join(OPERATORS)}")
        object.__setattr__(self, "kind", _check_operand(self.op, self.value))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form :func:`parse_targeting` reads back."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"attr": self.attr, self.op: value}


def _check_operand(op: Operator, value: Any) -> ValueKind:
    """The kind of value a condition compares, or SpecError naming the operator."""
    if op in ("in", "not_in"):
        return _check_list(op, value)
    if op.startswith("version_"):
        if not isinstance(value, str) or version_key(value) is None:
            raise SpecError(op, value, "must be a version such as '5.2' or '6.0.0-beta.1'")
        return "version"
    if op in ("lt", "lte", "gt", "gte"):
        if _value_kind(value) != "num":
            raise SpecError(op, value, "must be a finite number")
        return "num"
    kind = _value_kind(value)
    if kind is None:
        rule = f"must be a string (at most {MAX_TEXT_LENGTH} characters), a finite number or a boolean"
        raise SpecError(op, value, rule)
    return kind


def _check_list(op: Operator, value: Any) -> ValueKind:
    if not isinstance(value, tuple) or not 1 <= len(value) <= MAX_LIST_VALUES:
        raise SpecError(op, value, f"must be a list of 1 to {MAX_LIST_VALUES} values")
    kinds = {_value_kind(v) for v in value}
    if len(kinds) != 1 or None in kinds:
        raise SpecError(op, list(value), "must all be strings, all numbers or all booleans")
    kind = kinds.pop()
    assert kind is not None
    return kind


@dataclass(frozen=True)
class AllOf:
    """Every sub-rule holds; with no sub-rule (only as :data:`MATCH_ALL`), everyone matches."""

    rules: tuple[TargetingRule, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{}`` for :data:`MATCH_ALL`, else ``{"all": [...]}``."""
        return {"all": [r.to_dict() for r in self.rules]} if self.rules else {}


@dataclass(frozen=True)
class AnyOf:
    """At least one sub-rule holds."""

    rules: tuple[TargetingRule, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"any": [...]}``."""
        return {"any": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True)
class Not:
    """The sub-rule does not hold."""

    rule: TargetingRule

    def to_dict(self) -> dict[str, Any]:
        """``{"not": {...}}``."""
        return {"not": self.rule.to_dict()}


TargetingRule: TypeAlias = Condition | AllOf | AnyOf | Not
MATCH_ALL = AllOf(())
"""The empty rule: every unit is eligible."""


def parse_targeting(data: Any, path: str = "targeting") -> TargetingRule:
    """A rule from its mapping form (an already parsed rule is returned as is); ``{}`` or None is everyone.

    >>> parse_targeting({}) is MATCH_ALL
    True
    >>> parse_targeting({"not": {"attr": "device", "eq": "tv", "ne": "pc"}})
    Traceback (most recent call last):
    ...
    rayab.errors.SpecError: targeting.not == {'attr': 'device', 'eq': 'tv', 'ne': 'pc'}: must have exactly \
one operator, found eq, ne
    """
    if isinstance(data, Condition | AllOf | AnyOf | Not):
        return data
    if data is None or (isinstance(data, Mapping) and not data):
        return MATCH_ALL
    return _parse_rule(data, path, 0)


def _parse_rule(data: Any, path: str, depth: int) -> TargetingRule:
    if depth > MAX_DEPTH:
        raise SpecError(path, "...", f"rules nest at most {MAX_DEPTH} levels deep")
    if not isinstance(data, Mapping) or not data:
        raise SpecError(path, data, "must be a non-empty mapping: {all: [...]}, {any: [...]}, {not: {...}} "
                                    "or {attr: NAME, OPERATOR: VALUE}")
    if "attr" in data:
        return _parse_condition(data, path)
    if len(data) != 1:
        raise SpecError(path, dict(data), "must have exactly one of all, any, not (or be a condition)")
    (key, value), = data.items()
    if key == "not":
        return Not(_parse_rule(value, f"{path}.not", depth + 1))
    if key in ("all", "any"):
        rules = _parse_list(value, f"{path}.{key}", depth)
        return AllOf(rules) if key == "all" else AnyOf(rules)
    raise SpecError(f"{path}.{key}", value, "unknown key; allowed: all, any, not, attr")


def _parse_list(value: Any, path: str, depth: int) -> tuple[TargetingRule, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise SpecError(path, value, "must be a non-empty list of rules")
    return tuple(_parse_rule(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _parse_condition(data: Mapping[str, Any], path: str) -> Condition:
    keys = [k for k in data if k != "attr"]
    unknown = [k for k in keys if k not in OPERATORS]
    if unknown:
        allowed = ", ".join(OPERATORS)
        raise SpecError(f"{path}.{unknown[0]}", data[unknown[0]], f"unknown operator; allowed: {allowed}")
    if len(keys) != 1:
        found = ", ".join(keys) or "none"
        raise SpecError(path, dict(data), f"must have exactly one operator, found {found}")
    op = cast(Operator, keys[0])
    value = data[op]
    if op in ("in", "not_in") and isinstance(value, Sequence) and not isinstance(value, str):
        value = tuple(value)
    try:
        return Condition(data["attr"], op, value)
    except SpecError as err:
        raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None
