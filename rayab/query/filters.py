"""Filters on dimensions: ``=``, ``!=``, ``IN``, ``NOT IN``, ``AND``, ``OR``, as small typed values.

A filter is built in code (:class:`Equals`, :class:`In`, :class:`And`, :class:`Or`), read from a JSON-ready mapping
(:func:`filter_from_dict`) or parsed from text (:func:`parse_filter`). :func:`check_filter` validates it against an
analysis type with errors that name the field. The same value is applied to Arrow rows (:func:`filter_mask`) and
compiled to a sqlglot condition (:mod:`rayab.query.sql_parts`), so the in-process engine and the generated SQL
select the same rows. Dimension values are strings, so every value is a string.

>>> f = parse_filter("country IN ('US', 'BR') AND platform != 'tv'")
>>> f.terms
(In(dimension='country', values=('US', 'BR'), negated=False), Equals(dimension='platform', value='tv', negated=True))
>>> filter_from_dict(filter_to_dict(f)) == f
True
>>> import pyarrow as pa
>>> rows = pa.table({"country": ["US", "US", "DE"], "platform": ["web", "tv", "web"]})
>>> filter_mask(f, rows).to_pylist()
[True, False, False]
>>> parse_filter("country = US")
Traceback (most recent call last):
...
rayab.errors.ValidationError: filter == 'country = US': the value US must be a quoted string, e.g. 'US'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from rayab.errors import ValidationError
from rayab.model import AnalysisType

__all__ = ["And", "Equals", "Filter", "In", "Or", "check_filter", "filter_dimensions", "filter_from_dict",
           "filter_mask", "filter_to_dict", "parse_filter"]


@dataclass(frozen=True)
class Equals:
    """``dimension = value`` (or ``!=`` when ``negated``)."""

    dimension: str
    value: str
    negated: bool = False


@dataclass(frozen=True)
class In:
    """``dimension IN (values...)`` (or ``NOT IN`` when ``negated``)."""

    dimension: str
    values: tuple[str, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True)
class And:
    """Every term holds."""

    terms: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.terms))


@dataclass(frozen=True)
class Or:
    """At least one term holds."""

    terms: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.terms))


Filter = Equals | In | And | Or


def check_filter(node: Any, analysis_type: AnalysisType, field: str = "filter") -> Filter:
    """``node`` if it is a well-formed filter over ``analysis_type``'s dimensions; else a field-named error."""
    if isinstance(node, (And, Or)):
        key = "and" if isinstance(node, And) else "or"
        if not node.terms:
            raise ValidationError(f"{field}.{key}", [], "must hold at least one term")
        for i, term in enumerate(node.terms):
            check_filter(term, analysis_type, f"{field}.{key}[{i}]")
        return node
    if not isinstance(node, (Equals, In)):
        raise ValidationError(field, node, "must be Equals, In, And or Or")
    if node.dimension not in analysis_type.dimensions:
        raise ValidationError(f"{field}.dimension", node.dimension,
                              f"must be a dimension of {analysis_type.name}: {list(analysis_type.dimensions)}")
    if not isinstance(node.negated, bool):
        raise ValidationError(f"{field}.negated", node.negated, "must be true or false")
    if isinstance(node, In) and not node.values:
        raise ValidationError(f"{field}.values", [], "must list at least one value")
    values: tuple[Any, ...] = (node.value,) if isinstance(node, Equals) else node.values
    for i, value in enumerate(values):
        if not isinstance(value, str):  # the dataclasses do not check types; JSON input may hold numbers
            where = f"{field}.value" if isinstance(node, Equals) else f"{field}.values[{i}]"
            raise ValidationError(where, value, "must be a string (dimension values are strings)")
    return node


def filter_dimensions(node: Filter | None) -> set[str]:
    """The dimensions a filter reads."""
    if node is None:
        return set()
    if isinstance(node, (And, Or)):
        return set().union(*(filter_dimensions(t) for t in node.terms))
    return {node.dimension}


def filter_mask(node: Filter, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """A boolean mask of the rows of ``table`` that pass ``node``."""
    if isinstance(node, (And, Or)):
        combine = pc.and_ if isinstance(node, And) else pc.or_
        masks = [filter_mask(t, table) for t in node.terms]
        out = masks[0]
        for mask in masks[1:]:
            out = combine(out, mask)
        return out
    column = table.column(node.dimension)
    if isinstance(node, Equals):
        hit = pc.equal(column, pa.scalar(node.value, pa.string()))
    else:
        hit = pc.is_in(column, value_set=pa.array(node.values, pa.string()))
    # dimension values are never null in the aggregate tables ("(none)" stands for a missing value)
    return pc.invert(hit) if node.negated else hit


def filter_to_dict(node: Filter) -> dict[str, Any]:
    """A JSON-ready form that :func:`filter_from_dict` reads back."""
    if isinstance(node, And):
        return {"and": [filter_to_dict(t) for t in node.terms]}
    if isinstance(node, Or):
        return {"or": [filter_to_dict(t) for t in node.terms]}
    if isinstance(node, Equals):
        return {"dimension": node.dimension, "op": "!=" if node.negated else "=", "value": node.value}
    return {"dimension": node.dimension, "op": "not in" if node.negated else "in", "values": list(node.values)}


_LEAF_KEYS = {"=": "value", "!=": "value", "in": "values", "not in": "values"}


def _leaf_from_dict(data: Mapping[str, Any], field: str) -> Filter:
    op = data.get("op")
    if op not in _LEAF_KEYS:
        raise ValidationError(f"{field}.op", op, f"must be one of {', '.join(_LEAF_KEYS)}")
    expected = {"dimension", "op", _LEAF_KEYS[op]}
    if set(data) != expected:
        raise ValidationError(field, dict(data), f"must have exactly the keys {sorted(expected)}")
    if not isinstance(data["dimension"], str):
        raise ValidationError(f"{field}.dimension", data["dimension"], "must be a string")
    if op in ("=", "!="):
        return Equals(data["dimension"], data["value"], negated=op == "!=")
    values = data["values"]
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ValidationError(f"{field}.values", values, "must be a list of strings")
    return In(data["dimension"], tuple(values), negated=op == "not in")


def filter_from_dict(data: Any, field: str = "filter") -> Filter:
    """Read ``{"and": [...]}``, ``{"or": [...]}`` or ``{"dimension": d, "op": "=", "value": v}`` (ops ``=``,
    ``!=``, ``in``, ``not in``; the last two take ``"values"``)."""
    if not isinstance(data, Mapping):
        raise ValidationError(field, data, "must be a mapping")
    for key, cls in (("and", And), ("or", Or)):
        if key in data:
            if len(data) != 1 or not isinstance(data[key], list):
                raise ValidationError(field, dict(data), f"must be {{{key!r}: [terms...]}} alone")
            return cls(tuple(filter_from_dict(t, f"{field}.{key}[{i}]") for i, t in enumerate(data[key])))
    return _leaf_from_dict(data, field)


def _literal(node: exp.Expr, text: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    shown = node.sql()
    raise ValidationError("filter", text, f"the value {shown} must be a quoted string, e.g. '{shown}'")


def _dimension(node: exp.Expr, text: str) -> str:
    if isinstance(node, exp.Column) and not node.table:
        return str(node.name)
    raise ValidationError("filter", text, f"expected a dimension name, found {node.sql()}")


def _from_sql(node: exp.Expr, text: str) -> Filter:
    if isinstance(node, exp.Paren):
        return _from_sql(node.this, text)
    if isinstance(node, (exp.And, exp.Or)):
        cls = And if isinstance(node, exp.And) else Or
        return cls((_from_sql(node.left, text), _from_sql(node.right, text)))
    if isinstance(node, (exp.EQ, exp.NEQ)):
        return Equals(_dimension(node.left, text), _literal(node.right, text), negated=isinstance(node, exp.NEQ))
    negated = isinstance(node, exp.Not) and isinstance(node.this, exp.In)
    member = node.this if negated else node
    if isinstance(member, exp.In) and not member.args.get("query") and not member.args.get("unnest"):
        values = tuple(_literal(v, text) for v in member.expressions)
        return In(_dimension(member.this, text), values, negated=negated)
    raise ValidationError("filter", text, f"only =, !=, IN, NOT IN, AND, OR and parentheses are allowed; "
                                          f"found {node.sql()}")


def _flatten(node: Filter) -> Filter:
    """``a AND (b AND c)`` as one ``And`` of three terms (parsing builds binary trees)."""
    if isinstance(node, (And, Or)):
        terms: list[Filter] = []
        for term in map(_flatten, node.terms):
            same = isinstance(term, And) if isinstance(node, And) else isinstance(term, Or)
            terms.extend(term.terms if same and isinstance(term, (And, Or)) else (term,))
        return type(node)(tuple(terms))
    return node


def parse_filter(text: str) -> Filter:
    """Parse ``dim = 'v'``, ``dim != 'v'``, ``dim IN ('a', 'b')``, ``dim NOT IN (...)`` joined by ``AND`` / ``OR``.

    Only those forms are accepted; the text is parsed into the typed filter, never passed on as SQL.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("filter", text, "must be a non-empty condition such as country = 'US'")
    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except ParseError as err:
        raise ValidationError("filter", text, f"does not parse: {err.errors[0]['description']}") from None
    except TokenError:
        # e.g. an unbalanced quote; sqlglot's own message repeats the whole text
        raise ValidationError("filter", text, "does not parse: a quote or bracket is not closed") from None
    return _flatten(_from_sql(tree, text))
