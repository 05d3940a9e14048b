"""The Poisson bootstrap weights and replicate sums as DuckDB SQL: the reference another engine can run.

The queries reproduce :mod:`rayab.stats.poisson_weights` bit for bit with nothing but md5, integer arithmetic and
comparisons: ``k1``/``k2`` are the first two big-endian 32-bit words of ``md5(salt || ':' || unit_id)`` (DuckDB's
``md5`` returns hex, so they are parsed from hex digits 1-8 and 9-16), fmix32 runs in UBIGINT with every product
reduced mod 2**32 (a product of two values below 2**32 always fits in 64 bits), and the weight counts the
thresholds at or below the hash.

Values are bound, never formatted into the text: the salt is ``$salt`` and the number of replicates
``$n_replicates``. Table and column names cannot be bound, so they are checked to be plain identifiers and quoted.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE units AS SELECT * FROM (VALUES ('alice'), ('bob')) t(unit_id)")
>>> rows = con.execute(weights_sql("units"), {"salt": "salt", "n_replicates": 8}).fetchall()
>>> [w for unit, b, w in rows if unit == "bob"]
[0, 0, 0, 1, 2, 0, 1, 0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rayab.stats.poisson_weights import POISSON_THRESHOLDS

__all__ = ["replicate_sums_sql", "weights_sql"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MOD = 4294967296  # 2**32


def _quote(name: str) -> str:
    """A checked, double-quoted identifier (names cannot be bound as parameters)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _weighted_rows(table: str, unit_column: str, extra_columns: Sequence[str]) -> str:
    """CTEs ending in ``weighted(unit_id, b, w, <extra columns>)`` for every row of ``table`` and b < B."""
    extras = "".join(f", {_quote(c)}" for c in extra_columns)
    weight = " + ".join(f"(h >= {t})::INTEGER" for t in POISSON_THRESHOLDS)
    return f"""
WITH hashed AS (
    SELECT {_quote(unit_column)} AS unit_id{extras},
           md5($salt || ':' || {_quote(unit_column)}) AS hex
    FROM {_quote(table)}
), keys AS (
    SELECT unit_id{extras},
           ('0x' || substr(hex, 1, 8))::UBIGINT AS k1,
           ('0x' || substr(hex, 9, 8))::UBIGINT AS k2
    FROM hashed
), x0 AS (
    SELECT unit_id{extras}, r.b::UBIGINT AS b,
           (k2 + r.b::UBIGINT * (k1 | 1)) % {_MOD} AS h
    FROM keys CROSS JOIN range(0, $n_replicates) AS r(b)
), x1 AS (SELECT unit_id{extras}, b, (xor(h, h >> 16) * 2246822507) % {_MOD} AS h FROM x0
), x2 AS (SELECT unit_id{extras}, b, (xor(h, h >> 13) * 3266489909) % {_MOD} AS h FROM x1
), x3 AS (SELECT unit_id{extras}, b, xor(h, h >> 16) AS h FROM x2
), weighted AS (SELECT unit_id{extras}, b, {weight} AS w FROM x3)
"""


def weights_sql(table: str, unit_column: str = "unit_id") -> str:
    """SQL listing ``(unit_id, b, w)`` for every unit of ``table`` and ``b < $n_replicates`` under ``$salt``."""
    return _weighted_rows(table, unit_column, ()) + "SELECT unit_id, b, w FROM weighted ORDER BY unit_id, b"


def replicate_sums_sql(table: str, cell_column: str, metric_columns: Sequence[str],
                       unit_column: str = "unit_id") -> str:
    """SQL of the replicate sums of unit-level rows: one row per ``(cell, b)`` with, for each metric ``i``,
    ``raw_i = sum(y_i)`` (the same in every b) and ``rep_i = sum(w * y_i)``, as BIGINT; ordered by cell, b."""
    if not metric_columns:
        raise ValueError("at least one metric column is needed")
    columns = [cell_column, *metric_columns]
    sums = ",\n       ".join(
        f"sum({_quote(m)})::BIGINT AS raw_{i}, sum(w * {_quote(m)})::BIGINT AS rep_{i}"
        for i, m in enumerate(metric_columns))
    return (_weighted_rows(table, unit_column, columns)
            + f"SELECT {_quote(cell_column)} AS cell, b,\n       {sums}\n"
            + "FROM weighted GROUP BY ALL ORDER BY cell, b")
