"""Targeting rule specs: parsing, validation errors that name the field path, round trips, version keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayab.errors import SpecError
from rayab.model.experiment import Experiment
from rayab.model.targeting import (
    MATCH_ALL,
    OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    Not,
    parse_targeting,
    version_key,
)

EXAMPLE = {"all": [
    {"attr": "country", "in": ["FR", "DE"]},
    {"any": [{"attr": "device", "eq": "tv"}, {"not": {"attr": "platform", "ne": "web"}}]},
    {"attr": "app_version", "version_gte": "5.2"},
    {"attr": "age", "gte": 18},
    {"attr": "premium", "eq": True},
]}


def test_the_example_parses_into_a_typed_tree() -> None:
    rule = parse_targeting(EXAMPLE)
    assert isinstance(rule, AllOf)
    country, either, version, age, premium = rule.rules
    assert country == Condition("country", "in", ("FR", "DE"))
    assert isinstance(either, AnyOf) and isinstance(either.rules[1], Not)
    assert (version.kind, age.kind, premium.kind) == ("version", "num", "bool")  # type: ignore[union-attr]


def test_round_trip() -> None:
    rule = parse_targeting(EXAMPLE)
    assert rule.to_dict() == EXAMPLE
    assert parse_targeting(rule.to_dict()) == rule


def test_empty_is_everyone() -> None:
    assert parse_targeting({}) is MATCH_ALL
    assert parse_targeting(None) is MATCH_ALL
    assert MATCH_ALL.to_dict() == {}


@pytest.mark.parametrize(("data", "field", "rule_words"), [
    ({"all": [{"attr": "country", "eq": "FR"}, {"attr": "country", "in": ["FR", 3]}]}, "targeting.all[1].in",
     "must all be strings, all numbers or all booleans"),
    ({"all": [{"attr": "country", "in": []}]}, "targeting.all[0].in", "list of 1 to"),
    ({"all": [{"attr": "country", "in": "FR"}]}, "targeting.all[0].in", "list of 1 to"),
    ({"any": [{"attr": "age", "gte": "18"}]}, "targeting.any[0].gte", "finite number"),
    ({"any": [{"attr": "age", "lt": True}]}, "targeting.any[0].lt", "finite number"),
    ({"attr": "age", "gt": float("nan")}, "targeting.gt", "finite number"),
    ({"attr": "app_version", "version_gte": "5..2"}, "targeting.version_gte", "must be a version"),
    ({"attr": "app_version", "version_lt": 5}, "targeting.version_lt", "must be a version"),
    ({"attr": "country", "contains": "F"}, "targeting.contains", "unknown operator"),
    ({"attr": "country"}, "targeting", "exactly one operator, found none"),
    ({"attr": "country", "eq": "FR", "ne": "DE"}, "targeting", "exactly one operator, found eq, ne"),
    ({"attr": "1country", "eq": "FR"}, "targeting.attr", "column name"),
    ({"attr": "country", "eq": None}, "targeting.eq", "a string"),
    ({"attr": "country", "eq": ["FR"]}, "targeting.eq", "a string"),
    ({"all": []}, "targeting.all", "non-empty list"),
    ({"all": {"attr": "country", "eq": "FR"}}, "targeting.all", "non-empty list"),
    ({"not": {}}, "targeting.not", "non-empty mapping"),
    ({"none": []}, "targeting.none", "unknown key"),
    ({"all": [{"attr": "x", "eq": 1}], "any": [{"attr": "x", "eq": 1}]}, "targeting", "exactly one of"),
    ({"all": [{"all": [{"not": "x"}]}]}, "targeting.all[0].all[0].not", "non-empty mapping"),
    (["country"], "targeting", "non-empty mapping"),
])
def test_invalid_rules_name_the_field_path(data: Any, field: str, rule_words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_targeting(data)
    assert info.value.field == field
    assert rule_words in info.value.rule


def test_error_message_names_field_value_and_rule() -> None:
    with pytest.raises(SpecError, match=r"^targeting\.all\[1\]\.in == \['FR', 3\]: must all be strings"):
        parse_targeting({"all": [{"attr": "country", "eq": "FR"}, {"attr": "country", "in": ["FR", 3]}]})


def test_nesting_depth_is_bounded() -> None:
    rule: dict[str, Any] = {"attr": "x", "eq": 1}
    for _ in range(40):
        rule = {"not": rule}
    with pytest.raises(SpecError, match="nest at most"):
        parse_targeting(rule)


def test_every_operator_round_trips() -> None:
    values = {"in": ["a", "b"], "not_in": [1, 2.5], "lt": 3, "lte": 3.5, "gt": -1, "gte": 0, "eq": False,
              "ne": "x"}
    for op in OPERATORS:
        value = values.get(op, "1.2.3-rc.1")
        rule = parse_targeting({"attr": "a", op: value})
        assert rule.to_dict() == {"attr": "a", op: value}


def test_experiment_parses_targeting_and_prefixes_the_path() -> None:
    base = {"exp_id": "e", "name": "E", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
            "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]}
    exp = Experiment.from_dict({**base, "targeting": EXAMPLE})
    assert exp.targeting == parse_targeting(EXAMPLE)
    assert exp.to_dict()["targeting"] == EXAMPLE
    assert Experiment.from_dict(exp.to_dict()) == exp
    assert Experiment.from_dict(base).targeting is MATCH_ALL
    with pytest.raises(SpecError) as info:
        Experiment.from_dict({**base, "targeting": {"all": [{"attr": "age", "gte": "x"}]}})
    assert info.value.field == "experiment.targeting.all[0].gte"


# Version edge cases: (smaller, larger) pairs and equal pairs.
ORDERED_VERSIONS = [
    ("5.9", "5.10"), ("5.2", "5.2.1"), ("5.2.9", "5.10.0"), ("1", "1.0.1"), ("0.9.99", "1.0"), ("9", "10"),
    ("6.0.0-beta", "6.0.0"), ("6.0.0-alpha", "6.0.0-beta"), ("1.0.0-alpha", "1.0.0-alpha.1"),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-beta.2", "1.0.0-beta.11"), ("1.0.0-rc.1", "1.0.0"),
    ("1.0.0-2", "1.0.0-10"), ("1.0.0-9", "1.0.0-a"), ("5.2-rc", "5.2.0"), ("4.99999", "5"),
]
EQUAL_VERSIONS = [("5.2", "5.2.0"), ("5", "5.0.0.0"), ("v5.2", "5.2"), ("V5.2", "5.2"), ("5.2+build.7", "5.2"),
                  ("05.02", "5.2"), ("5.2.0-rc.1+x", "5.2-rc.1")]
INVALID_VERSIONS = ["", "5.", ".5", "5..2", "a.b", "5.2-", "5.2+", "5.2 ", " 5.2", "5,2", "-1", "5.2-rc..1",
                    "1.2.3.4.5.6.7.8.9", "v", "5.2.x"]


@pytest.mark.parametrize(("smaller", "larger"), ORDERED_VERSIONS)
def test_version_order(smaller: str, larger: str) -> None:
    low, high = version_key(smaller), version_key(larger)
    assert low is not None and high is not None
    assert low < high


@pytest.mark.parametrize(("first", "second"), EQUAL_VERSIONS)
def test_version_equality(first: str, second: str) -> None:
    assert version_key(first) == version_key(second) is not None


@pytest.mark.parametrize("text", INVALID_VERSIONS)
def test_invalid_versions(text: str) -> None:
    assert version_key(text) is None


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=6), st.lists(st.integers(0, 10_000), min_size=1,
                                                                            max_size=6))
def test_release_versions_order_like_zero_padded_integer_tuples(a: list[int], b: list[int]) -> None:
    width = max(len(a), len(b))
    padded_a, padded_b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    key_a, key_b = version_key(".".join(map(str, a))), version_key(".".join(map(str, b)))
    assert key_a is not None and key_b is not None
    assert (key_a < key_b) == (padded_a < padded_b)
    assert (key_a == key_b) == (padded_a == padded_b)
