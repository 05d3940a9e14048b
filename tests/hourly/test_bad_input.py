"""Bad input, one case per test: bad rows are quarantined with their reason and counted in the manifest and the
summary; valid rows of the same file still count exactly; a corrupt file fails the hour naming the file unless
``skip_corrupt`` is set; an empty hour declared real (``allow_empty``) commits an empty partition. Nothing is
silently dropped."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from rayab.errors import InputDataError
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.logs import hour_folder, write_log_file
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"


def _config() -> Config:
    config = demo_config("2026-11-23T00:00:00Z")
    at = {**config.analysis_types[0].to_dict(), "n_replicates": 8}
    return Config.from_dict({**config.to_dict(), "analysis_types": [at]})


def _good_rows(n: int = 6) -> dict[str, list[Any]]:
    return {"unit_id": [f"u{i}" for i in range(n)], "exp_id": ["ranker_v2"] * n,
            "variant_id": ["control", "treatment"] * (n // 2), "country": ["US"] * n, "platform": ["web"] * n,
            "impressions": [3] * n, "clicks": [1] * n, "revenue": [0.25] * n}


def _run(tmp: Path, tables: list[pa.Table], **kwargs: Any) -> tuple[Any, Warehouse]:
    logs = str(tmp / "logs")
    for i, table in enumerate(tables):
        write_log_file(logs, HOUR, f"part-{i}.parquet", table)
    warehouse = Warehouse.from_url(tmp / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse, n_shards=2, **kwargs)
    return summary, warehouse


def _quarantine(warehouse: Warehouse) -> list[dict[str, Any]]:
    return sorted(read_rows(warehouse, "_quarantine", where={"hour": HOUR}).to_pylist(),
                  key=lambda r: (r["source_file"], r["row_index"]))


def _totals(warehouse: Warehouse) -> dict[str, int]:
    agg = read_rows(warehouse, "agg_engagement", where={"hour": HOUR})
    return {name: int(np.sum(agg.column(name))) for name in ("n_events", "impressions", "clicks", "revenue")}


def _check_counts(summary: Any, warehouse: Warehouse, rows_read: int, quarantined: int) -> None:
    (manifest,) = read_rows(warehouse, "_manifest").to_pylist()
    assert summary.rows_read == manifest["rows_read"] == rows_read
    assert summary.rows_quarantined == manifest["rows_quarantined"] == len(_quarantine(warehouse)) == quarantined
    assert sum(json.loads(manifest["quarantine_reasons"]).values()) == quarantined
    assert sum(summary.quarantine_reasons.values()) == quarantined


def test_missing_column_quarantines_every_row_of_that_file_only(workdir: Path) -> None:
    good = pa.table(_good_rows())
    summary, warehouse = _run(workdir, [good, good.drop_columns(["clicks"])])
    _check_counts(summary, warehouse, rows_read=12, quarantined=6)
    assert {r["reason"] for r in _quarantine(warehouse)} == {"missing column 'clicks'"}
    assert {r["source_file"].rsplit("/", 1)[1] for r in _quarantine(warehouse)} == {"part-1.parquet"}
    assert _totals(warehouse) == {"n_events": 6, "impressions": 18, "clicks": 6, "revenue": 150}


def test_wrong_type_is_quarantined_per_row_with_the_column_type(workdir: Path) -> None:
    rows = _good_rows()
    rows["clicks"] = ["1", "x", "2", None, "1", "1"]
    summary, warehouse = _run(workdir, [pa.table(rows)])
    _check_counts(summary, warehouse, rows_read=6, quarantined=2)
    reasons = [r["reason"] for r in _quarantine(warehouse)]
    assert reasons == ["clicks is not a number (column type string)"] * 2
    assert [r["row_index"] for r in _quarantine(warehouse)] == [1, 3]
    assert _totals(warehouse)["clicks"] == 5  # "1" + "2" + "1" + "1": numeric strings are parsed exactly


def test_null_and_empty_unit_ids_are_quarantined(workdir: Path) -> None:
    rows = _good_rows()
    rows["unit_id"][1] = ""
    rows["unit_id"][4] = None
    summary, warehouse = _run(workdir, [pa.table(rows)])
    _check_counts(summary, warehouse, rows_read=6, quarantined=2)
    assert [(r["row_index"], r["reason"]) for r in _quarantine(warehouse)] == [
        (1, "unit_id is null or empty"), (4, "unit_id is null or empty")]
    assert json.loads(_quarantine(warehouse)[0]["row"])["impressions"] == 3  # the original row is kept


@pytest.mark.parametrize(("value", "reason"), [
    (math.nan, "revenue is null or NaN"), (math.inf, "revenue is infinite"), (-1.5, "revenue is negative"),
    (None, "revenue is null or NaN")])
def test_bad_metric_values_are_quarantined(workdir: Path, value: float | None, reason: str) -> None:
    rows = _good_rows()
    rows["revenue"][2] = value
    summary, warehouse = _run(workdir, [pa.table(rows)])
    _check_counts(summary, warehouse, rows_read=6, quarantined=1)
    assert [(r["row_index"], r["reason"]) for r in _quarantine(warehouse)] == [(2, reason)]
    assert _totals(warehouse)["revenue"] == 125


def test_negative_values_pass_where_the_metric_allows_them(workdir: Path) -> None:
    config = demo_config("2026-11-23T00:00:00Z").to_dict()
    config["analysis_types"][0]["metrics"][2]["allow_negative"] = True
    rows = _good_rows()
    rows["revenue"][2] = -1.5
    logs = str(workdir / "logs")
    write_log_file(logs, HOUR, "p.parquet", pa.table(rows))
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(Config.from_dict(config), HOUR, logs, warehouse)
    assert summary.rows_quarantined == 0
    assert _totals(warehouse)["revenue"] == 5 * 25 - 150


def test_unknown_experiment_and_variant_ids_are_quarantined_with_the_value(workdir: Path) -> None:
    rows = _good_rows()
    rows["exp_id"][0] = "nope"
    rows["variant_id"][3] = "zz"
    rows["exp_id"][5] = None
    summary, warehouse = _run(workdir, [pa.table(rows)])
    _check_counts(summary, warehouse, rows_read=6, quarantined=3)
    assert [(r["row_index"], r["reason"]) for r in _quarantine(warehouse)] == [
        (0, "exp_id == 'nope': unknown or not running"), (3, "variant_id == 'zz': unknown variant of ranker_v2"),
        (5, "exp_id is null")]
    assert _totals(warehouse)["n_events"] == 3


def _corrupt(workdir: Path) -> str:
    write_log_file(str(workdir / "logs"), HOUR, "part-0.parquet", pa.table(_good_rows()))
    bad = Path(hour_folder(str(workdir / "logs"), HOUR)) / "part-1.parquet"
    bad.write_bytes(b"PAR1 this is not parquet at all")
    return str(bad)


def test_a_corrupt_file_fails_the_hour_naming_the_file_and_commits_nothing(workdir: Path) -> None:
    bad = _corrupt(workdir)
    warehouse = Warehouse.from_url(workdir / "wh")
    with pytest.raises(InputDataError, match=r"part-1\.parquet"):
        run_hour(_config(), HOUR, str(workdir / "logs"), warehouse)
    assert read_rows(warehouse, "_manifest").num_rows == 0
    assert read_rows(warehouse, "agg_engagement").num_rows == 0
    assert bad.endswith("part-1.parquet")


def test_skip_corrupt_records_the_file_and_keeps_the_rest(workdir: Path) -> None:
    bad = _corrupt(workdir)
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(_config(), HOUR, str(workdir / "logs"), warehouse, skip_corrupt=True)
    (manifest,) = read_rows(warehouse, "_manifest").to_pylist()
    assert summary.skipped_files == manifest["skipped_files"] == [bad]
    assert summary.rows_read == 6 and summary.files == 2
    assert _totals(warehouse)["n_events"] == 6


def test_an_empty_hour_declared_real_commits_an_empty_partition_and_a_manifest(workdir: Path) -> None:
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(_config(), HOUR, str(workdir / "logs"), warehouse, allow_empty=True)
    assert (summary.files, summary.rows_read, summary.cells) == (0, 0, 0)
    (manifest,) = read_rows(warehouse, "_manifest").to_pylist()
    assert manifest["hour"] == HOUR and manifest["input_files"] == []
    assert read_rows(warehouse, "agg_engagement", where={"hour": HOUR}).num_rows == 0


def test_an_empty_file_counts_as_zero_rows(workdir: Path) -> None:
    summary, warehouse = _run(workdir, [pa.table(_good_rows()).slice(0, 0), pa.table(_good_rows())])
    _check_counts(summary, warehouse, rows_read=6, quarantined=0)
