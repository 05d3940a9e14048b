"""Evaluation of targeting rules: truth tables of the combinators, every operator, missing attributes,
reading attributes as the condition's type, and agreement with a straightforward reference interpreter."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.assignment.targeting import compile_rule, matches, read_as
from rayab.model.targeting import MATCH_ALL, parse_targeting, version_key

A = {"attr": "a", "eq": "yes"}
B = {"attr": "b", "eq": "yes"}


def attrs_for(a: bool, b: bool) -> dict[str, str]:
    return {"a": "yes" if a else "no", "b": "yes" if b else "no"}


@pytest.mark.parametrize(("a", "b"), list(itertools.product([False, True], repeat=2)))
def test_combinator_truth_tables(a: bool, b: bool) -> None:
    attributes = attrs_for(a, b)
    assert matches(parse_targeting({"all": [A, B]}), attributes) is (a and b)
    assert matches(parse_targeting({"any": [A, B]}), attributes) is (a or b)
    assert matches(parse_targeting({"not": A}), attributes) is (not a)
    assert matches(parse_targeting({"all": [A, {"not": B}]}), attributes) is (a and not b)
    assert matches(parse_targeting({"not": {"any": [A, B]}}), attributes) is (not (a or b))
    assert matches(parse_targeting({"all": [A]}), attributes) is a
    assert matches(parse_targeting({"any": [B]}), attributes) is b


def test_empty_rule_matches_everyone() -> None:
    assert matches(MATCH_ALL, {}) is True
    assert matches(MATCH_ALL, {"country": "FR"}) is True


# (rule, attribute value, expected); "MISSING" leaves the attribute out.
OPERATOR_TABLE: list[tuple[dict[str, Any], Any, bool]] = [
    ({"eq": "FR"}, "FR", True), ({"eq": "FR"}, "fr", False), ({"eq": "FR"}, "MISSING", False),
    ({"ne": "FR"}, "DE", True), ({"ne": "FR"}, "FR", False), ({"ne": "FR"}, "MISSING", False),
    ({"in": ["FR", "DE"]}, "DE", True), ({"in": ["FR", "DE"]}, "US", False), ({"in": ["FR"]}, "MISSING", False),
    ({"not_in": ["FR", "DE"]}, "US", True), ({"not_in": ["FR", "DE"]}, "FR", False),
    ({"not_in": ["FR"]}, "MISSING", False),
    ({"lt": 18}, 17, True), ({"lt": 18}, 18, False), ({"lte": 18}, 18, True), ({"lte": 18}, 18.5, False),
    ({"gt": 18}, 19, True), ({"gt": 18}, 18, False), ({"gte": 18}, 18, True), ({"gte": 18}, 17.99, False),
    ({"gte": 18}, "MISSING", False), ({"lt": 0.5}, 0.25, True),
    ({"eq": 3}, 3.0, True), ({"in": [1, 2]}, 2.0, True), ({"in": [1, 2]}, 3, False),
    ({"eq": True}, True, True), ({"eq": True}, False, False), ({"eq": False}, False, True),
    ({"version_gte": "5.2"}, "5.10", True), ({"version_gte": "5.2"}, "5.1.9", False),
    ({"version_gte": "5.2"}, "5.2.0", True), ({"version_gt": "5.2"}, "5.2.0", False),
    ({"version_lt": "6.0"}, "6.0.0-beta", True), ({"version_lte": "6.0"}, "6", True),
    ({"version_eq": "5.2"}, "v5.2.0", True), ({"version_ne": "5.2"}, "5.3", True),
    ({"version_ne": "5.2"}, "5.2", False), ({"version_gte": "5.2"}, "MISSING", False),
]

# Reading an attribute as the condition's type; values that cannot be read make the condition false.
COERCION_TABLE: list[tuple[dict[str, Any], Any, bool]] = [
    ({"gte": 18}, "21", True), ({"gte": 18}, "17", False), ({"gte": 18}, "abc", False), ({"gte": 18}, True, False),
    ({"gte": 18}, "nan", False), ({"gte": 18}, "inf", False),
    ({"eq": "7"}, 7, True), ({"eq": "7"}, 7.0, False), ({"eq": "true"}, True, False),
    ({"eq": True}, "TRUE", True), ({"eq": True}, "false", False), ({"eq": True}, 1, False),
    ({"eq": False}, "no", False),
    ({"version_gte": "5"}, 6, True), ({"version_gte": "5"}, 5.5, False), ({"version_gte": "5"}, "five", False),
    ({"version_gte": "5"}, True, False),
    ({"ne": "FR"}, 3.5, False), ({"not_in": [1, 2]}, "x", False), ({"not_in": [1, 2]}, "3", True),
]


@pytest.mark.parametrize(("condition", "value", "expected"), OPERATOR_TABLE + COERCION_TABLE)
def test_operator_table(condition: dict[str, Any], value: Any, expected: bool) -> None:
    rule = parse_targeting({"attr": "x", **condition})
    attributes = {} if value == "MISSING" else {"x": value, "other": "FR"}
    assert matches(rule, attributes) is expected


def test_not_admits_missing_attributes_where_not_in_does_not() -> None:
    assert matches(parse_targeting({"attr": "country", "not_in": ["FR"]}), {}) is False
    assert matches(parse_targeting({"not": {"attr": "country", "in": ["FR"]}}), {}) is True


def test_compiled_predicates_are_cached_per_rule() -> None:
    rule = parse_targeting({"attr": "country", "eq": "FR"})
    assert compile_rule(rule) is compile_rule(parse_targeting({"attr": "country", "eq": "FR"}))


def test_read_as() -> None:
    assert read_as("num", "1e3") == 1000.0
    assert read_as("str", True) is None
    assert read_as("version", "5.2") == version_key("5.2")


# A reference interpreter written straight from the documented semantics, to compare on random rules.
def reference(rule: dict[str, Any], attributes: dict[str, Any]) -> bool:
    if not rule:
        return True
    if "all" in rule:
        return all(reference(r, attributes) for r in rule["all"])
    if "any" in rule:
        return any(reference(r, attributes) for r in rule["any"])
    if "not" in rule:
        return not reference(rule["not"], attributes)
    (op, operand), = ((k, v) for k, v in rule.items() if k != "attr")
    if rule["attr"] not in attributes:
        return False
    value = float(attributes[rule["attr"]])  # the random attributes below are plain numbers
    if op == "in":
        return value in [float(v) for v in operand]
    if op == "not_in":
        return value not in [float(v) for v in operand]
    return bool({"eq": value == operand, "ne": value != operand, "lt": value < operand, "lte": value <= operand,
            "gt": value > operand, "gte": value >= operand}[op])


names = st.sampled_from(["a", "b", "c"])
numbers = st.integers(-3, 3)
conditions = st.one_of(
    st.builds(lambda n, op, v: {"attr": n, op: v}, names,
              st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]), numbers),
    st.builds(lambda n, op, vs: {"attr": n, op: vs}, names, st.sampled_from(["in", "not_in"]),
              st.lists(numbers, min_size=1, max_size=4)),
)
rules = st.recursive(conditions, lambda inner: st.one_of(
    st.builds(lambda rs: {"all": rs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda rs: {"any": rs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda r: {"not": r}, inner),
), max_leaves=8)
attribute_maps = st.dictionaries(names, st.one_of(numbers, numbers.map(float)), max_size=3)


@given(rules, attribute_maps)
def test_matches_agrees_with_the_reference_interpreter(rule: dict[str, Any], attributes: dict[str, Any]) -> None:
    assert matches(parse_targeting(rule), attributes) is reference(rule, attributes)
