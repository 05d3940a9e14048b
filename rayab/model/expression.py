"""Metric expressions: arithmetic over additive metrics and constants, parsed without ``eval``.

Grammar (usual precedence, left associative)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := "-" factor | NUMBER | NAME | "(" expr ")"

Composed metrics are evaluated **per replicate** on summed arrays, so ``clicks / impressions`` is a ratio of sums,
never a mean of per-hour ratios. Division by zero gives NaN; the query layer counts those replicates.

>>> expr = parse_expression("1000 * revenue / impressions")
>>> sorted(referenced_names(expr))
['impressions', 'revenue']
>>> import numpy as np
>>> float(evaluate(expr, {"revenue": np.array(2.0), "impressions": np.array(400.0)}))
5.0
>>> parse_expression("clicks / / impressions")
Traceback (most recent call last):
...
rayab.errors.ExpressionError: expression == 'clicks / / impressions': expected a number, a name or '(' at position 9
  clicks / / impressions
           ^
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from rayab.errors import ExpressionError

__all__ = ["BinaryOp", "Constant", "Expression", "Negate", "Reference", "evaluate", "parse_expression",
           "referenced_names",
           "substitute"]

Operator = Literal["+", "-", "*", "/"]


@dataclass(frozen=True)
class Constant:
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Reference:
    """The name of an additive metric (or of another composed metric)."""

    name: str


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    operand: Expression


@dataclass(frozen=True)
class BinaryOp:
    """``left op right``."""

    op: Operator
    left: Expression
    right: Expression


Expression = Constant | Reference | Negate | BinaryOp

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()]))")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(text, start, f"unexpected character {text[start]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index]

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expr(self) -> Expression:
        node = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            node = BinaryOp(op, node, self.term())  # type: ignore[arg-type]
        return node

    def term(self) -> Expression:
        node = self.factor()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()[1]
            node = BinaryOp(op, node, self.factor())  # type: ignore[arg-type]
        return node

    def factor(self) -> Expression:
        kind, value, pos = self.take()
        if kind == "number":
            return Constant(float(value))
        if kind == "name":
            return Reference(value)
        if kind == "op" and value == "-":
            return Negate(self.factor())
        if kind == "op" and value == "(":
            node = self.expr()
            kind, value, pos = self.take()
            if value != ")":
                raise ExpressionError(self.text, pos, "expected ')'")
            return node
        raise ExpressionError(self.text, pos, "expected a number, a name or '('")


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an expression tree; raises :class:`ExpressionError` pointing at the bad token."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(str(text), 0, "must be a non-empty expression")
    parser = _Parser(text)
    node = parser.expr()
    kind, value, pos = parser.peek()
    if kind != "end":
        raise ExpressionError(text, pos, f"unexpected {value!r}")
    return node


def substitute(node: Expression, definitions: Mapping[str, Expression]) -> Expression:
    """Replace references to defined names by their (already expanded) expressions."""
    if isinstance(node, Reference):
        return definitions.get(node.name, node)
    if isinstance(node, Negate):
        return Negate(substitute(node.operand, definitions))
    if isinstance(node, BinaryOp):
        return BinaryOp(node.op, substitute(node.left, definitions), substitute(node.right, definitions))
    return node


def referenced_names(node: Expression) -> set[str]:
    """The metric names an expression reads."""
    if isinstance(node, Reference):
        return {node.name}
    if isinstance(node, Negate):
        return referenced_names(node.operand)
    if isinstance(node, BinaryOp):
        return referenced_names(node.left) | referenced_names(node.right)
    return set()


FloatArray = npt.NDArray[np.float64]


def evaluate(node: Expression, values: Mapping[str, FloatArray]) -> FloatArray:
    """Evaluate elementwise over arrays (one entry per replicate); x / 0 is NaN, never inf."""
    if isinstance(node, Constant):
        return np.asarray(node.value, dtype=np.float64)
    if isinstance(node, Reference):
        return np.asarray(values[node.name], dtype=np.float64)
    if isinstance(node, Negate):
        return -evaluate(node.operand, values)
    left, right = evaluate(node.left, values), evaluate(node.right, values)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(left, right)
    return np.where(right == 0, np.nan, out)
