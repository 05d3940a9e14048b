"""Filters: parsing, validation with field names, Arrow masks against plain Python, SQL that DuckDB runs the same."""

from __future__ import annotations

import itertools
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from rayab.errors import ValidationError
from rayab.model import AnalysisType, Metric
from rayab.query.filters import (
    And,
    Equals,
    Filter,
    In,
    Or,
    check_filter,
    filter_from_dict,
    filter_mask,
    filter_to_dict,
    parse_filter,
)
from rayab.query.sql_parts import filter_sql

AT = AnalysisType("t", (Metric("clicks"),), dimensions=("country", "platform"))
COUNTRIES = ["US", "BR", "x' OR '1'='1", "(none)"]
PLATFORMS = ["web", "ios", "tv"]
ROWS = pa.table({"country": [c for c, _ in itertools.product(COUNTRIES, PLATFORMS)],
                 "platform": [p for _, p in itertools.product(COUNTRIES, PLATFORMS)]})


def _python(node: Filter, row: dict[str, str]) -> bool:
    """The meaning of a filter, written independently of the Arrow and SQL versions."""
    if isinstance(node, And):
        return all(_python(t, row) for t in node.terms)
    if isinstance(node, Or):
        return any(_python(t, row) for t in node.terms)
    if isinstance(node, Equals):
        return (row[node.dimension] == node.value) != node.negated
    return (row[node.dimension] in node.values) != node.negated


def _leaf() -> st.SearchStrategy[Filter]:
    country = st.sampled_from([*COUNTRIES, "DE"])
    platform = st.sampled_from([*PLATFORMS, "android"])
    return st.one_of(
        st.builds(Equals, st.just("country"), country, st.booleans()),
        st.builds(Equals, st.just("platform"), platform, st.booleans()),
        st.builds(In, st.just("country"), st.lists(country, min_size=1, max_size=3).map(tuple), st.booleans()),
        st.builds(In, st.just("platform"), st.lists(platform, min_size=1, max_size=3).map(tuple), st.booleans()),
    )


FILTERS = st.recursive(_leaf(), lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda t: And(tuple(t))),
    st.lists(inner, min_size=1, max_size=3).map(lambda t: Or(tuple(t)))), max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(FILTERS)
def test_arrow_mask_and_duckdb_sql_select_the_rows_plain_python_selects(node: Filter) -> None:
    check_filter(node, AT)
    expected = [_python(node, row) for row in ROWS.to_pylist()]
    assert filter_mask(node, ROWS).to_pylist() == expected
    con = duckdb.connect()
    con.register("rows_", ROWS)
    query = exp.select("country", "platform").from_("rows_").where(filter_sql(node))
    selected = con.execute(query.sql("duckdb")).fetchall()
    assert sorted(selected) == sorted((r["country"], r["platform"]) for r, keep in zip(ROWS.to_pylist(), expected,
                                                                                       strict=True) if keep)
    assert filter_from_dict(filter_to_dict(node)) == node


def test_a_quote_in_a_value_stays_a_literal() -> None:
    value = "x' OR '1'='1"
    node = parse_filter("country = 'x'' OR ''1''=''1'")
    assert node == Equals("country", value)
    tree = filter_sql(node)
    assert isinstance(tree, exp.EQ) and isinstance(tree.expression, exp.Literal) and tree.expression.this == value
    for dialect in ("duckdb", "trino"):
        assert "'x'' OR ''1''=''1'" in tree.sql(dialect)
    con = duckdb.connect()
    con.register("rows_", ROWS)
    rows = con.execute(exp.select("country").distinct().from_("rows_").where(tree).sql("duckdb")).fetchall()
    assert rows == [(value,)]


@pytest.mark.parametrize(("text", "expected"), [
    ("country = 'US'", Equals("country", "US")),
    ("country <> 'US'", Equals("country", "US", negated=True)),
    ("platform NOT IN ('tv', 'web')", In("platform", ("tv", "web"), negated=True)),
    ("country = 'US' AND (platform = 'ios' OR platform = 'web') AND country != 'BR'",
     And((Equals("country", "US"), Or((Equals("platform", "ios"), Equals("platform", "web"))),
          Equals("country", "BR", negated=True)))),
])
def test_parse_filter(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("country > 'US'", "only =, !=, IN"), ("country = US", "must be a quoted string"),
    ("'US' = country", "expected a dimension name"), ("country IN (SELECT 1)", "only =, !=, IN"),
    ("country = 'US'; DROP TABLE t", "only =, !=, IN"), ("country =", "does not parse"), ("", "non-empty"),
    ("country = 1", "must be a quoted string"), ("lower(country) = 'us'", "expected a dimension name"),
])
def test_parse_errors_quote_the_filter(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        parse_filter(text)
    assert info.value.field == "filter"


@pytest.mark.parametrize(("node", "field"), [
    (Equals("browser", "x"), "filter.dimension"),
    (And((Equals("country", "US"), In("platform", ()))), "filter.and[1].values"),
    (Or((Equals("country", "US"), And((Equals("hour", "x"),)))), "filter.or[1].and[0].dimension"),
    (In("country", ("US", 3)), "filter.values[1]"),  # type: ignore[arg-type]
    (And(()), "filter.and"),
    ("country = 'US'", "filter"),
])
def test_validation_names_the_field(node: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_filter(node, AT)
    assert info.value.field == field


@pytest.mark.parametrize(("data", "field"), [
    ({"dimension": "country", "op": "~", "value": "x"}, "filter.op"),
    ({"dimension": "country", "op": "in", "value": "x"}, "filter"),
    ({"and": [{"dimension": "country", "op": "=", "value": "x"}, {"or": "x"}]}, "filter.and[1]"),
    ({"dimension": "country", "op": "in", "values": "US"}, "filter.values"),
    (["country"], "filter"),
])
def test_filter_from_dict_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        filter_from_dict(data)
    assert info.value.field == field
