"""The SQL as a BI dataset: no trailing ``;``, named parameters that give the same rows when bound, readable
quantile literals, and DDL (run in DuckDB) whose column comments say what a stored integer means."""

from __future__ import annotations

import json

import duckdb
import pytest
import sqlglot

from rayab.cli.main import main
from rayab.query.filters import parse_filter
from rayab.query.results import run_query
from rayab.query.spec import Query
from rayab.query.sql import results_sql
from rayab.query.sql_parts import Parameters, table_source
from rayab.query.sql_run import duckdb_source, run_duckdb
from rayab.storage.specs import save_config
from tests.query.test_sql import END, START, assert_sql_matches
from tests.worlds import World


def _query() -> Query:
    return Query("ranker_v2", START, END, metrics=("ctr", "clicks"), projection=("platform",),
                 where=parse_filter("country IN ('US', 'BR') AND platform != 'tv'"))


@pytest.mark.parametrize("quantiles", ["aggregate", "window"])
def test_named_parameters_bound_in_duckdb_give_the_literal_rows(agg_world: World, quantiles: str) -> None:
    at, exp_ = agg_world.analysis_type, agg_world.config.experiment("ranker_v2")
    query = _query()
    params = Parameters()
    text = results_sql(at, exp_, query, "duckdb", duckdb_source(agg_world.warehouse, at, query), quantiles,  # type: ignore[arg-type]
                       parameters=params, style="dollar")
    assert params.values == {"exp_id": "ranker_v2", "start_hour": START, "end_hour": END, "slice_country": "US",
                             "slice_country_2": "BR", "slice_platform": "tv"}
    # no user value is left as a literal: the experiment, hours and slice values are all parameters
    literals = {lit.this for lit in sqlglot.parse_one(text, read="duckdb").find_all(
        sqlglot.exp.Literal) if lit.is_string}
    assert not literals & {"ranker_v2", START, END, "US", "BR", "tv"}
    assert "0.025" in text and "0.025000000000000022" not in text and "0.975" in text
    with duckdb.connect() as con:
        rows = con.sql(text, params=params.values).to_arrow_table()
    literal_rows = run_duckdb(agg_world.warehouse, at, exp_, query, quantiles)  # type: ignore[arg-type]
    assert rows.to_pylist() == literal_rows.to_pylist()
    assert_sql_matches(rows, run_query(agg_world.warehouse, at, exp_, query))


def test_cli_sql_has_no_semicolon_and_prints_parameters(agg_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    save_config(agg_world.warehouse, agg_world.config)
    base = ["sql", "--warehouse", agg_world.warehouse.url, "--exp", "ranker_v2", "--start", START, "--end", END,
            "--metric", "ctr", "--where", "country = 'US'", "--dialect", "trino"]
    assert main(base) == 0
    text = capsys.readouterr().out
    assert not text.rstrip().endswith(";") and "'ranker_v2'" in text
    # wrapped as a subquery, as Superset / Metabase do, it still parses
    sqlglot.parse_one(f"SELECT * FROM ({text}) AS dataset LIMIT 10", read="trino")
    assert main([*base, "--semicolon"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(";")
    assert main([*base, "--parameters", "jinja"]) == 0
    text = capsys.readouterr().out
    assert "-- parameter exp_id = 'ranker_v2'" in text and "'{{ slice_country }}'" in text
    assert "'ranker_v2'" not in text.split("\n", 6)[-1]
    assert main([*base, "--parameters", "colon", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["parameters"] == {"exp_id": "ranker_v2", "start_hour": START, "end_hour": END,
                                     "slice_country": "US"}
    assert ":exp_id" in payload["sql"] and ":slice_country" in payload["sql"]


def test_ddl_runs_in_duckdb_with_comments_and_serves_the_sql(agg_world: World,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    save_config(agg_world.warehouse, agg_world.config)
    at, exp_ = agg_world.analysis_type, agg_world.config.experiment("ranker_v2")
    assert main(["sql", "--ddl", "duckdb", "--warehouse", agg_world.warehouse.url]) == 0
    ddl = capsys.readouterr().out
    query = _query()
    with duckdb.connect() as con:
        con.execute(ddl)
        comments = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                                    "WHERE table_name = 'agg_engagement'").fetchall())
        rows = con.sql(results_sql(at, exp_, query, "duckdb", table_source(at.table))).to_arrow_table()
    assert "divide by 100" in comments["revenue"] and "cents" in comments["revenue"]
    assert comments["clicks"].startswith("sum of clicks") and "integer" in comments["clicks"]
    assert "replicate" in comments["revenue_reps"] and "B = 64" in comments["revenue_reps"]
    assert rows.to_pylist() == run_duckdb(agg_world.warehouse, at, exp_, query).to_pylist()
    for dialect, first in (("trino", "CALL delta.system.register_table(schema_name => 'analytics'"),
                           ("athena", "CREATE EXTERNAL TABLE `analytics`.`agg_engagement`")):
        assert main(["sql", "--ddl", dialect, "--warehouse", agg_world.warehouse.url, "--table",
                     "analytics.agg_engagement", "--location", "s3://lake/wh/agg_engagement"]) == 0
        text = capsys.readouterr().out
        assert text.startswith(first) and "s3://lake/wh/agg_engagement" in text
        assert "revenue" in text and "divide by 100" in text
    comment_lines = [line for line in text.splitlines() if line.startswith("--")]
    assert len(comment_lines) == len(comments)
