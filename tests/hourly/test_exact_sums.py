"""Metric sums never wrap int64: a value too large to be summed exactly is quarantined, and an hour whose total could
wrap (times the largest bootstrap weight) fails before anything is stored. Tested at the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.sum_bounds import INT64_MAX, MAX_ROW_VALUE, SumOverflowError, abs_totals
from rayab.errors import InputDataError
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.stats.poisson_weights import MAX_WEIGHT, weights_for
from rayab.storage.logs import write_log_file
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"
B = 8


def _config() -> Config:
    config = demo_config("2026-11-23T00:00:00Z")
    at = {**config.analysis_types[0].to_dict(), "n_replicates": B}
    return Config.from_dict({**config.to_dict(), "analysis_types": [at]})


def _rows(impressions: list[int]) -> pa.Table:
    n = len(impressions)
    return pa.table({"unit_id": [f"u{i}" for i in range(n)], "exp_id": ["ranker_v2"] * n,
                     "variant_id": ["control"] * n, "country": ["US"] * n, "platform": ["web"] * n,
                     "impressions": pa.array(impressions, pa.int64()), "clicks": [1] * n, "revenue": [0.5] * n})


def _run(tmp: Path, table: pa.Table, name: str = "logs") -> tuple[Any, Warehouse]:
    logs = str(tmp / name)
    write_log_file(logs, HOUR, "part-0.parquet", table)
    warehouse = Warehouse.from_url(tmp / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse, n_shards=2)
    return summary, warehouse


def _cell(warehouse: Warehouse) -> dict[str, Any]:
    rows: list[dict[str, Any]] = read_rows(warehouse, "agg_engagement", where={"hour": HOUR}).to_pylist()
    assert len(rows) == 1
    return rows[0]


def test_values_that_cannot_be_summed_exactly_are_quarantined(workdir: Path) -> None:
    # the old code accepted 4 rows of 2**62 - 1 and stored a cell sum of 27 (the exact sum modulo 2**64, plus 30)
    summary, warehouse = _run(workdir, _rows([2**62 - 1] * 4 + [10, 20]))
    assert summary.rows_quarantined == 4
    reasons = {r["reason"] for r in read_rows(warehouse, "_quarantine").to_pylist()}
    assert reasons == {f"impressions is too large to be summed exactly (above {MAX_ROW_VALUE} at the metric's "
                       "integer scale)"}
    assert _cell(warehouse)["impressions"] == 30


def test_one_value_at_the_row_bound_is_summed_exactly_and_one_above_is_quarantined(workdir: Path) -> None:
    assert MAX_ROW_VALUE == INT64_MAX // 12 == 768614336404564650
    summary, warehouse = _run(workdir, _rows([MAX_ROW_VALUE, 0, MAX_ROW_VALUE + 1]))
    assert summary.rows_quarantined == 1
    cell = _cell(warehouse)
    assert cell["impressions"] == MAX_ROW_VALUE
    # the replicate sums are exact too: w(u0, b) * MAX_ROW_VALUE, with weights up to 12, by plain Python
    salt = _config().experiment("ranker_v2").bootstrap_salt
    weights = weights_for(salt, ["u0"], B)[0].tolist()
    assert cell["impressions_reps"] == [int(w) * MAX_ROW_VALUE for w in weights]
    assert all(r <= INT64_MAX for r in cell["impressions_reps"])


def test_an_hour_whose_total_could_wrap_fails_and_keeps_what_was_committed(workdir: Path) -> None:
    _, warehouse = _run(workdir, _rows([5, 7]))
    before = _cell(warehouse)
    # two values at the row bound: alone each is fine, together 12 x their sum exceeds int64
    with pytest.raises(SumOverflowError) as err:
        _run(workdir, _rows([MAX_ROW_VALUE, MAX_ROW_VALUE]), name="big")
    assert isinstance(err.value, InputDataError)
    assert (f"the values of impressions add up to {2 * MAX_ROW_VALUE} in absolute value; times the largest "
            f"bootstrap weight ({MAX_WEIGHT}) that exceeds int64") in str(err.value)
    assert _cell(warehouse) == before
    assert read_rows(warehouse, "_manifest").num_rows == 1
    # just below the bound, the hour commits with the exact total
    write_log_file(str(workdir / "ok2"), HOUR, "p.parquet", _rows([MAX_ROW_VALUE - 3, 3]))
    run_hour(_config(), HOUR, str(workdir / "ok2"), warehouse)
    assert _cell(warehouse)["impressions"] == MAX_ROW_VALUE


def test_abs_totals_are_exact_where_int64_sums_wrap() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(-2**62, 2**62, size=(5000, 3), dtype=np.int64)
    values[0, 0] = -2**63
    expected = [sum(abs(int(v)) for v in values[:, m]) for m in range(3)]
    assert abs_totals(values) == expected
    assert expected[1] > INT64_MAX  # the plain int64 sum would have wrapped
