"""The weights and replicate sums computed in DuckDB SQL equal the numpy ones exactly."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from rayab.stats.poisson_weights import unit_keys, weights_for
from rayab.stats.replicate_sums import replicate_sums
from rayab.stats.weights_sql import replicate_sums_sql, weights_sql

SALT = "sql-salt-ü'; DROP TABLE units; --"  # a hostile salt: it is bound, so it is just data
B = 64


@pytest.fixture
def con():
    rng = np.random.default_rng(17)
    n = 300
    units = [f"unit-{i}-{'é' * (i % 3)}" for i in range(n)] + ["", "x" * 80]
    n = len(units)
    table = pa.table({
        "unit_id": units,
        "cell": rng.integers(0, 5, n),
        "clicks": rng.integers(0, 40, n),
        "revenue_micros": rng.integers(-(10**9), 10**12, n),
    })
    connection = duckdb.connect()
    connection.register("units_view", table)
    connection.execute("CREATE TABLE units AS SELECT * FROM units_view")
    yield connection, table
    connection.close()


def test_weights_match_numpy(con):
    connection, table = con
    rows = connection.execute(weights_sql("units"), {"salt": SALT, "n_replicates": B}).fetchall()
    units = table.column("unit_id").to_pylist()
    assert len(rows) == len(units) * B
    by_unit: dict[str, list[int]] = {}
    for unit, b, w in rows:
        by_unit.setdefault(unit, []).append(int(w))
        assert len(by_unit[unit]) == int(b) + 1  # rows come ordered by b
    expected = weights_for(SALT, units, B)
    assert [by_unit[u] for u in units] == expected.tolist()
    assert connection.execute("SELECT count(*) FROM units").fetchone() == (len(units),)


def test_keys_match_numpy(con):
    connection, table = con
    sql = weights_sql("units").split("), x0 AS")[0] + ") SELECT unit_id, k1, k2 FROM keys"
    got = {u: (int(a), int(b)) for u, a, b in connection.execute(sql, {"salt": SALT}).fetchall()}
    units = table.column("unit_id").to_pylist()
    k1, k2 = unit_keys(SALT, units)
    assert [got[u] for u in units] == list(zip(k1.tolist(), k2.tolist(), strict=True))


def test_replicate_sums_match_numpy(con):
    connection, table = con
    metrics = ["clicks", "revenue_micros"]
    rows = connection.execute(replicate_sums_sql("units", "cell", metrics),
                              {"salt": SALT, "n_replicates": B}).fetchall()
    n_cells = 5
    raw_sql = np.zeros((n_cells, 2), dtype=np.int64)
    reps_sql = np.zeros((n_cells, 2, B), dtype=np.int64)
    for cell, b, raw0, rep0, raw1, rep1 in rows:
        raw_sql[cell] = (raw0, raw1)
        reps_sql[cell, :, b] = (rep0, rep1)
    k1, k2 = unit_keys(SALT, table.column("unit_id").to_pylist())
    values = np.stack([table.column(m).to_numpy() for m in metrics], axis=1).astype(np.int64)
    raw, reps = replicate_sums(k1, k2, table.column("cell").to_numpy(), values, n_cells, B)
    np.testing.assert_array_equal(raw_sql, raw)
    np.testing.assert_array_equal(reps_sql, reps)


def test_identifiers_are_checked_and_values_never_formatted():
    with pytest.raises(ValueError, match="identifier"):
        weights_sql('units"; DROP TABLE x; --')
    with pytest.raises(ValueError, match="identifier"):
        replicate_sums_sql("units", "cell", ["a b"])
    with pytest.raises(ValueError, match="metric"):
        replicate_sums_sql("units", "cell", [])
    sql = replicate_sums_sql("units", "cell", ["clicks"])
    assert "$salt" in sql and "$n_replicates" in sql and SALT not in sql
