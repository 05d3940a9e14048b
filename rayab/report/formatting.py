"""Number formatting and plain-text tables, shared by the CLI, the HTML report and the console.

>>> print(render_table(["a", "bb"], [["x", 1.5], ["yy", None]]))
a   bb
--  ---
x   1.5
yy  -
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["format_number", "format_pct", "jsonable", "render_table", "to_json"]


def format_number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; None / NaN as ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        # counts and large sums read better whole than in scientific notation
        return f"{value:.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"
    return str(value)


def format_pct(value: float | None, signed: bool = True) -> str:
    """A fraction as a percentage, ``-`` for NaN."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.2f}%"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the headers."""
    cells = [[format_number(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None, numpy scalars as Python numbers, tuples as lists.

    >>> jsonable({"p": float("nan"), "n": np.int64(3), "ci": (1.5, float("inf"))})
    {'p': None, 'n': 3, 'ci': [1.5, None]}
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    return str(value)


def to_json(value: Any) -> str:
    """Strict JSON (RFC 8259: no NaN or Infinity, which ``JSON.parse`` rejects): missing numbers are ``null``.

    >>> to_json([{"pvalue": float("nan")}])
    '[\\n {\\n  "pvalue": null\\n }\\n]'
    """
    return json.dumps(jsonable(value), indent=1, allow_nan=False)
