"""``rayab results`` with filters, corrections and time series, in process on the session's aggregated world."""

from __future__ import annotations

import json

import pytest

from rayab.cli.main import main
from rayab.query.filters import parse_filter
from rayab.query.results import cumulative_results, run_query
from rayab.query.spec import Query
from tests.worlds import World

START, END = "2026-11-23T00", "2026-11-23T03"


@pytest.fixture()
def saved(agg_world: World) -> World:
    from rayab.storage.specs import save_config

    save_config(agg_world.warehouse, agg_world.config)
    return agg_world


def _args(world: World, *extra: str) -> list[str]:
    return ["results", "--warehouse", world.warehouse.url, "--exp", "ranker_v2", "--start", START, "--end", END,
            "--metric", "ctr", "--metric", "rpm", *extra]


def test_filter_and_correction_reach_the_engine(saved: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(saved, "--by", "country", "--where", "platform != 'tv'", "--correction", "bh",
                      "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    query = Query("ranker_v2", START, END, metrics=("ctr", "rpm"), projection=("country",),
                  where=parse_filter("platform != 'tv'"), correction="bh")
    expected = run_query(saved.warehouse, saved.analysis_type, saved.config.experiment("ranker_v2"), query)
    assert [(r["metric"], r["variant_id"], r["estimate"], r["correction"]) for r in rows] == \
        [(r.metric, r.variant_id, r.estimate, "bh") for r in expected]
    adjusted = [r["adjusted_pvalue"] for r in rows if r["variant_id"] == "treatment"]
    assert adjusted == [r.adjusted_pvalue for r in expected if r.variant_id == "treatment"]


def test_bayesian_readouts_in_the_table_and_json(saved: World, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` carries the readout of the chosen path; the table has the chance-to-beat column."""
    assert main(_args(saved, "--bayesian", "normal", "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = run_query(saved.warehouse, saved.analysis_type, saved.config.experiment("ranker_v2"),
                         Query("ranker_v2", START, END, metrics=("ctr", "rpm"), bayesian="normal"))
    fields = ("chance_to_beat_control", "risk_control", "risk_variant", "rel_cred_lower", "rel_cred_upper")
    treated = [r for r in expected if r.variant_id == "treatment"]
    assert [[row[f] for f in fields] for row in rows if row["variant_id"] == "treatment"] == \
        [[getattr(r, f) for f in fields] for r in treated]
    assert {row["bayesian"] for row in rows} == {"normal"}
    assert all(row["chance_to_beat_control"] is None for row in rows if row["variant_id"] == "control")
    assert main(_args(saved, "--bayesian", "normal")) == 0
    table = capsys.readouterr().out
    assert "P(beat)" in table.splitlines()[0]
    assert f"{treated[0].chance_to_beat_control * 100:.2f}%" in table
    assert "P(beat): chance to beat control (normal posterior" in table


def test_cumulative_sequential_series(saved: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(saved, "--cumulative", "--sequential", "--planned-units", "2000")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "always-valid 95% CI" in lines[0]
    ends = ("2026-11-23T01", "2026-11-23T02", END)
    table = lines[2:lines.index("")]  # notes follow a blank line
    # ctr is the primary KPI: listed first and marked
    assert [line.split()[:3] for line in table if "[primary]" in line] == [[end, "ctr", "[primary]"] for end in ends
                                                                          for _ in range(2)]
    assert [line.replace(" [primary]", "").split()[:3] for line in table] == [
        [end, metric, variant] for metric in ("ctr", "rpm") for end in ends for variant in ("control", "treatment")]
    assert any("running minimum" in line for line in lines)
    query = Query("ranker_v2", START, END, metrics=("ctr", "rpm"), interval="sequential", planned_units=2000)
    series = cumulative_results(saved.warehouse, saved.analysis_type, saved.config.experiment("ranker_v2"), query)
    assert len(series) == len(table)


@pytest.mark.parametrize(("extra", "message"), [
    (("--where", "browser = 'x'"), "where.dimension == 'browser'"),
    (("--where", "country > 'x'"), "only =, !=, IN"),
    (("--by", "country", "--by", "country"), "projection[1]"),
])
def test_bad_input_exits_2_and_names_the_field(saved: World, capsys: pytest.CaptureFixture[str],
                                               extra: tuple[str, ...], message: str) -> None:
    assert main(_args(saved, *extra)) == 2
    assert message in capsys.readouterr().err
