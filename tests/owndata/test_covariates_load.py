"""``rayab covariates load`` against a plain-Python reference: the covariate table holds, per unit, the value at
the metric's scale rounded half to even; repeats of one value are kept once, conflicting repeats and non-numbers are
quarantined and counted; a second load changes nothing; other metrics' covariates stay."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import pytest

from rayab.aggregate.covariates import covariate_table, write_covariates
from rayab.cli.main import main
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows, table_version
from rayab.storage.warehouse import Warehouse

ROWS = [("u1", "1.005"), ("u2", "2"), ("u2", "2.00"), ("u3", "x"), ("u4", "5"), ("u4", "6"), ("u5", "-1"),
        ("u6", "0.125"), ("", "3"), ("u7", ""), ("12345678901234567890", "7.5")]


def _setup(tmp: Path) -> tuple[str, str]:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    data["analysis_types"][0] = {**data["analysis_types"][0], "cuped": ["revenue", "clicks"]}
    warehouse = str(tmp / "wh")
    save_config(Warehouse.from_url(warehouse), Config.from_dict(data))
    path = tmp / "before.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit_id", "rev"])
        writer.writerows(ROWS)
    return warehouse, str(path)


def _reference() -> tuple[dict[str, int], int, int]:
    """Per unit x in cents, quarantined rows, repeated rows dropped (plain Python)."""
    values: dict[str, list[int | None]] = defaultdict(list)
    bad = 0
    for unit, text in ROWS:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if not unit or number is None or number < 0:
            bad += 1
            continue
        values[unit].append(int((number * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)))
    kept = {u: v[0] for u, v in values.items() if len(set(v)) == 1}
    conflicting = sum(len(v) for u, v in values.items() if len(set(v)) > 1)
    repeats = sum(len(v) - 1 for u, v in values.items() if len(set(v)) == 1)
    return {u: int(x) for u, x in kept.items() if x is not None}, bad + conflicting, repeats


def test_load_matches_the_reference_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, path = _setup(tmp_path)
    wh = Warehouse.from_url(warehouse)
    write_covariates(wh, "ranker_v2", covariate_table("ranker_v2", ["u1", "u9"], "clicks", [4, 2]))
    args = ["covariates", "load", path, "--exp", "ranker_v2", "--column", "rev", "--metric", "revenue",
            "--warehouse", warehouse, "--format", "json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    expected, quarantined, repeats = _reference()
    rows = read_rows(wh, "covariate", where={"exp_id": "ranker_v2"}).to_pylist()
    assert {r["unit_id"]: r["x"] for r in rows if r["metric"] == "revenue"} == expected
    assert expected["u1"] == 100 and expected["u6"] == 12 and expected["12345678901234567890"] == 750
    assert {r["unit_id"]: r["x"] for r in rows if r["metric"] == "clicks"} == {"u1": 4, "u9": 2}  # kept
    assert (summary["rows_quarantined"], summary["duplicate_rows"]) == (quarantined, repeats) == (6, 1)
    assert summary["values_rounded"] == 2 and summary["written"] is True
    reasons = summary["quarantine_reasons"]
    assert reasons["unit_id has several rows with different rev values"] == 2
    assert reasons["rev is negative"] == 1
    version = table_version(wh, "covariate")
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["written"] is False and table_version(wh, "covariate") == version


def test_a_metric_without_cuped_is_refused_naming_the_option(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, path = _setup(tmp_path)
    assert main(["covariates", "load", path, "--exp", "ranker_v2", "--column", "rev", "--metric", "impressions",
                 "--warehouse", warehouse]) == 2
    err = capsys.readouterr().err
    assert "--metric == 'impressions'" in err and "cuped: clicks, revenue" in err
    assert main(["covariates", "load", path, "--exp", "ranker_v2", "--column", "nope", "--metric", "revenue",
                 "--warehouse", warehouse]) == 2
    assert "--column == 'nope'" in capsys.readouterr().err
