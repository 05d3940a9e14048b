"""Evaluation of targeting rules (:mod:`rayab.model.targeting`) on request attributes.

A rule is compiled once into a plain predicate (closures over pre-converted values), so evaluating it on the
request path costs a few dictionary look-ups. A **missing attribute, or one that cannot be read as the
condition's type, makes the condition false** for every operator (``ne`` and ``not_in`` included); wrap a
condition in ``not`` to admit units without the attribute.

>>> from rayab.model.targeting import parse_targeting
>>> rule = parse_targeting({"all": [{"attr": "country", "in": ["FR", "DE"]},
...                                 {"attr": "app_version", "version_gte": "5.2"}]})
>>> matches(rule, {"country": "FR", "app_version": "5.10"})
True
>>> matches(rule, {"country": "FR", "app_version": "5.1.9"}), matches(rule, {"country": "FR"})
(False, False)
>>> matches(parse_targeting({"attr": "country", "ne": "FR"}), {})
False
>>> matches(parse_targeting({"not": {"attr": "country", "eq": "FR"}}), {})
True
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeAlias

from rayab.model.targeting import AllOf, Condition, Not, TargetingRule, ValueKind, version_key

__all__ = ["AttributeValue", "Attributes", "Predicate", "compile_rule", "matches", "read_as"]

AttributeValue: TypeAlias = str | int | float | bool
Attributes: TypeAlias = Mapping[str, AttributeValue]
Predicate: TypeAlias = Callable[[Attributes], bool]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge,
    "eq": operator.eq, "ne": operator.ne,
}


def matches(rule: TargetingRule, attributes: Attributes) -> bool:
    """Whether ``attributes`` satisfy ``rule`` (a missing attribute never satisfies a condition)."""
    return compile_rule(rule)(attributes)


def compile_rule(rule: TargetingRule) -> Predicate:
    """A predicate equivalent to ``rule``; compiled predicates are cached by the rule's ``repr``, not its equality:
    ``eq: true`` and ``eq: 1`` are equal (and hash alike) in Python but are different rules.

    >>> from rayab.model.targeting import MATCH_ALL
    >>> compile_rule(MATCH_ALL)({})
    True
    """
    return _compile_rule(repr(rule), rule)


@lru_cache(maxsize=4096)
def _compile_rule(key: str, rule: TargetingRule) -> Predicate:
    if isinstance(rule, Condition):
        return _compile_condition(rule)
    if isinstance(rule, Not):
        inner = compile_rule(rule.rule)
        return lambda attributes: not inner(attributes)
    parts = tuple(compile_rule(r) for r in rule.rules)
    if len(parts) == 1:
        return parts[0]
    if isinstance(rule, AllOf):
        if not parts:
            return lambda attributes: True
        if len(parts) == 2:  # the usual pair (a country and a version, say) without a loop
            first, second = parts
            return lambda attributes: first(attributes) and second(attributes)

        def every(attributes: Attributes) -> bool:
            for part in parts:  # noqa: SIM110 - all() over a generator costs a frame per call
                if not part(attributes):
                    return False
            return True

        return every

    def some(attributes: Attributes) -> bool:
        for part in parts:  # noqa: SIM110 - as in every()
            if part(attributes):
                return True
        return False

    return some


def read_as(kind: ValueKind, value: Any) -> Any:
    """``value`` read as a ``kind`` operand, or None when it cannot be (the condition is then false).

    >>> read_as("num", "21"), read_as("bool", "TRUE"), read_as("str", 7), read_as("num", True)
    (21.0, True, '7', None)
    """
    if kind == "str":
        if isinstance(value, str):
            return value
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "num":
        return _read_number(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = value.lower() if isinstance(value, str) else None
        return {"true": True, "false": False}.get(lowered) if lowered is not None else None
    if isinstance(value, str):
        return _version_key(value)
    return _version_key(str(value)) if isinstance(value, int) and not isinstance(value, bool) else None


# Request attributes repeat (a handful of app versions): parsing each once takes a regex match off every request.
_version_key = lru_cache(maxsize=4096)(version_key)


def _read_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _operand(kind: ValueKind, value: Any) -> Any:
    """The rule's own value converted once, like an attribute of the same kind."""
    return read_as(kind, value)


def _text_reader(kind: ValueKind) -> Callable[[str], Any] | None:
    """How a ``str`` attribute is read as a ``kind`` operand in one call (None: as it is), as :func:`read_as`."""
    if kind == "str":
        return None
    if kind == "version":
        return _version_key
    return lambda value: read_as(kind, value)


def _compile_condition(rule: Condition) -> Predicate:
    # A valid attribute is never None, and read_as gives None for None: ``get`` without a default is enough.
    attr, kind = rule.attr, rule.kind
    read_text = _text_reader(kind)
    if rule.op in ("in", "not_in"):
        assert isinstance(rule.value, tuple)
        allowed = frozenset(_operand(kind, v) for v in rule.value)
        inside = rule.op == "in"

        def member(attributes: Attributes) -> bool:
            got = attributes.get(attr)
            if type(got) is str:
                value = got if read_text is None else read_text(got)
            else:
                value = None if got is None else read_as(kind, got)
            return value is not None and (value in allowed) == inside

        return member
    compare = _ORDER[rule.op.removeprefix("version_")]
    expected = _operand(kind, rule.value)

    def condition(attributes: Attributes) -> bool:
        got = attributes.get(attr)
        if type(got) is str:
            value = got if read_text is None else read_text(got)
        else:
            value = None if got is None else read_as(kind, got)
        return value is not None and compare(value, expected)

    return condition
