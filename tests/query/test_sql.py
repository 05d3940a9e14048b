"""Generated SQL: DuckDB runs it on the real partitions and agrees with the in-process engine to 1e-9; the Trino
SQL parses in sqlglot's Trino dialect with the same structure; user values stay literals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from rayab.cli.main import main
from rayab.errors import NotFoundError, ValidationError
from rayab.model import AnalysisType, Metric
from rayab.query.compare import MetricResult
from rayab.query.filters import Equals, parse_filter
from rayab.query.results import run_query
from rayab.query.spec import Query
from rayab.query.sql import CTE_NAMES, OUTPUT_COLUMNS, results_select, results_sql
from rayab.query.sql_run import run_duckdb
from rayab.simulate import demo_config
from tests.query.conftest import write_synthetic
from tests.worlds import World

START, END = "2026-11-23T00", "2026-11-23T03"
COMPARED = ("n_events", "units", "estimate", "ci_lower", "ci_upper", "abs_diff", "abs_ci_lower", "abs_ci_upper",
            "rel_diff", "rel_ci_lower", "rel_ci_upper", "pvalue", "n_replicates", "n_invalid", "error",
            "confidence_level", "control_id", "exp_id")


def assert_sql_matches(rows: pa.Table, results: list[MetricResult], skip: tuple[str, ...] = ()) -> None:
    """Every in-process result has its SQL row, equal to 1e-9 (NULL where the engine says NaN)."""
    by_key = {(r["metric"], r["variant_id"], *(r[d] for d in rows.column_names[3:rows.column_names.index(
        "n_events")])): r for r in rows.to_pylist()}
    assert len(by_key) == len(results) == rows.num_rows
    for result in results:
        row = by_key[(result.metric, result.variant_id, *(v for _, v in result.slice))]
        for name in COMPARED:
            if name in skip:
                continue
            ours, theirs = getattr(result, name), row[name]
            if isinstance(ours, float) and math.isnan(ours):
                assert theirs is None, (result.metric, result.variant_id, name, theirs)
            elif isinstance(ours, float):
                assert theirs == pytest.approx(ours, rel=1e-9, abs=1e-12), (result.metric, name)
            else:
                assert theirs == ours, (result.metric, result.variant_id, name)


CASES = [
    pytest.param({}, id="total"),
    pytest.param({"projection": ("country",), "method": "basic"}, id="by-country-basic"),
    pytest.param({"projection": ("platform", "country"), "confidence_level": 0.9}, id="crossed"),
    pytest.param({"projection": ("country",), "where": parse_filter("platform IN ('ios', 'web') AND country != 'JP'"),
                  "method": "normal"}, id="filtered-normal"),
    pytest.param({"projection": ("platform",), "max_invalid_fraction": 0.2}, id="lenient-invalid"),
]


@pytest.mark.parametrize("quantiles", ["aggregate", "window"])
@pytest.mark.parametrize("change", CASES)
def test_duckdb_sql_on_real_partitions_equals_the_engine(agg_world: World, change: dict[str, Any],
                                                         quantiles: str) -> None:
    exp_ = agg_world.config.experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr", "rpm", "revenue_per_unit", "clicks", "units"), **change)
    results = run_query(agg_world.warehouse, agg_world.analysis_type, exp_, query)
    rows = run_duckdb(agg_world.warehouse, agg_world.analysis_type, exp_, query, quantiles)  # type: ignore[arg-type]
    assert rows.column_names == ["exp_id", "metric", "variant_id", *query.projection, *OUTPUT_COLUMNS[3:]]
    assert_sql_matches(rows, results, skip=("pvalue",) if query.method == "normal" else ())
    if "projection" in change and len(change["projection"]) == 2:
        assert any(r.n_invalid for r in results)  # small crossed cells exercise the zero-denominator path


def test_a_quoted_filter_value_matches_only_itself(tmp_path: Path) -> None:
    at = AnalysisType("q", (Metric("clicks"), Metric("impressions")), dimensions=("country",), n_replicates=32,
                      composed={"ctr": "clicks / impressions"})
    value = "x' OR '1'='1"
    keys = [(v, c) for v in ("control", "treatment") for c in ("US", value, "BR")]
    warehouse = write_synthetic(tmp_path, at, "ranker_v2", [START], keys)
    exp_ = demo_config().experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr",), projection=("country",), where=Equals("country", value))
    rows = run_duckdb(warehouse, at, exp_, query)
    assert sorted(rows.column("country").to_pylist()) == [value, value]
    assert_sql_matches(rows, run_query(warehouse, at, exp_, query))
    text = results_sql(at, exp_, query, "trino")
    assert "'x'' OR ''1''=''1'" in text
    literals = {lit.this for lit in sqlglot.parse_one(text, read="trino").find_all(exp.Literal) if lit.is_string}
    assert value in literals and "1" not in literals


def test_engine_and_sql_read_an_s3_warehouse(s3_server: dict[str, str], s3_bucket: str) -> None:
    from rayab.storage.warehouse import Warehouse

    at = AnalysisType("s3q", (Metric("clicks"), Metric("impressions")), dimensions=("country",), n_replicates=16,
                      composed={"ctr": "clicks / impressions"})
    keys = [(v, c) for v in ("control", "treatment") for c in ("US", "BR")]
    warehouse = write_synthetic(Warehouse.from_url(f"s3://{s3_bucket}/wh", s3_server), at, "ranker_v2",
                                [START, "2026-11-23T01"], keys)
    exp_ = demo_config().experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr", "clicks"), projection=("country",))
    results = run_query(warehouse, at, exp_, query)
    assert {r.n_events for r in results} and all(r.n_replicates == 16 for r in results)
    assert_sql_matches(run_duckdb(warehouse, at, exp_, query), results)


def _structure(tree: exp.Expr) -> dict[str, Any]:
    return {"ctes": [cte.alias for cte in tree.find_all(exp.CTE)],
            "columns": [e.alias_or_name for e in tree.expressions]}


def test_trino_sql_parses_and_keeps_the_structure(agg_world: World) -> None:
    at, exp_ = agg_world.analysis_type, agg_world.config.experiment("ranker_v2")
    query = Query("ranker_v2", START, END, metrics=("ctr", "revenue_per_unit"), projection=("country", "platform"),
                  where=parse_filter("platform NOT IN ('tv')"))
    trino = sqlglot.parse_one(results_sql(at, exp_, query, "trino"), read="trino")
    duck = sqlglot.parse_one(results_sql(at, exp_, query, "duckdb"), read="duckdb")
    window = sqlglot.parse_one(results_sql(at, exp_, query, "duckdb", quantiles="window"), read="duckdb")
    assert _structure(trino) == _structure(window)
    assert _structure(trino)["ctes"] == list(CTE_NAMES)
    assert _structure(duck)["ctes"] == [n for n in CTE_NAMES if n != "ranked"]
    assert _structure(duck)["columns"] == _structure(trino)["columns"]
    unnest = trino.find(exp.Unnest)
    assert unnest is not None and unnest.args.get("offset") and len(unnest.expressions) == 4  # 4 arrays zipped
    functions = {f.sql_name().lower() for f in trino.find_all(exp.Func)}
    assert "approx_percentile" not in functions and "quantile_cont" not in str(trino).lower()
    assert results_select(at, exp_, query, "trino").sql("trino") == trino.sql("trino")


def test_sql_refuses_what_only_the_engine_computes(agg_world: World) -> None:
    at, exp_ = agg_world.analysis_type, agg_world.config.experiment("ranker_v2")
    for change, field in (({"interval": "sequential"}, "interval"), ({"correction": "holm"}, "correction"),
                          ({"metrics": ("nope",)}, "metrics[0]")):
        with pytest.raises(ValidationError) as info:
            results_sql(at, exp_, Query("ranker_v2", START, END, **change), "trino")
        assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        results_sql(at, exp_, Query("ranker_v2", START, END), "trino", quantiles="aggregate")
    assert info.value.field == "quantiles"
    with pytest.raises(NotFoundError):
        run_duckdb(agg_world.warehouse, at, exp_, Query("ranker_v2", "2026-12-01T00", "2026-12-01T02"))


def test_rayab_sql_prints_and_runs(agg_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rayab.storage.specs import save_config

    save_config(agg_world.warehouse, agg_world.config)
    base = ["sql", "--warehouse", agg_world.warehouse.url, "--exp", "ranker_v2", "--start", START, "--end", END,
            "--metric", "ctr", "--by", "platform", "--where", "country IN ('US', 'BR')"]
    assert main([*base, "--dialect", "trino", "--table", "analytics.agg_engagement"]) == 0
    printed = capsys.readouterr().out
    assert '"analytics"."agg_engagement"' in printed
    sqlglot.parse_one(printed.rstrip().rstrip(";"), read="trino")
    assert main([*base, "--run", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    query = Query("ranker_v2", START, END, metrics=("ctr",), projection=("platform",),
                  where=parse_filter("country IN ('US', 'BR')"))
    expected = run_query(agg_world.warehouse, agg_world.analysis_type, agg_world.config.experiment("ranker_v2"),
                         query)
    assert_sql_matches(pa.Table.from_pylist(rows), expected)
    assert main([*base, "--run", "--dialect", "trino"]) == 2
    assert "--run executes the DuckDB SQL" in capsys.readouterr().err
