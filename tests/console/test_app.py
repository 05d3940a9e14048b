"""The console against a real warehouse through Starlette's TestClient: every number on a page is the one the
results engine (and so the CLI) gives for the same query, and admin changes go through the config store's rules."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from rayab.api.engine import ResultsEngine
from rayab.cli.main import main
from rayab.report.formatting import format_number, format_pct
from rayab.storage.warehouse import Warehouse
from tests.console.conftest import END, START

starlette = pytest.importorskip("starlette", reason="the console extra is not installed")
from starlette.testclient import TestClient  # noqa: E402

from rayab.console.app import create_app  # noqa: E402

TOKEN = "console-test-token"


@pytest.fixture(scope="module")
def client(console_world: Path) -> TestClient:
    return TestClient(create_app(Warehouse.from_url(str(console_world)), admin_token=TOKEN))


def _rows(html: str, metric: str) -> dict[tuple[str, str], dict[str, str]]:
    """The scorecard rows of ``metric``: (slice, variant) -> field -> text."""
    table = re.search(rf'<table class="score" data-metric="{metric}">(.*?)</table>', html, re.S)
    assert table, f"no scorecard table for {metric}"
    out = {}
    for m in re.finditer(r'<tr class="tone-(\w+)" data-slice="([^"]*)" data-variant="([^"]*)">(.*?)</tr>',
                         table.group(1), re.S):
        fields = {k: unescape(v.strip()) for k, v in re.findall(r'data-field="(\w+)"[^>]*>([^<]*)<', m.group(4))}
        out[(unescape(m.group(2)), m.group(3))] = {"tone": m.group(1), **fields}
    return out


def _cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_catalogue_lists_every_experiment_and_filters(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-exp="ranker_v2"' in page.text and 'data-exp="aa_check"' in page.text
    assert "2 of 2 experiments" in page.text
    found = client.get("/", params={"q": "ranker"}).text
    assert 'data-exp="ranker_v2"' in found and 'data-exp="aa_check"' not in found
    assert 'data-exp="' not in client.get("/", params={"status": "stopped"}).text


def test_catalogue_summary_equals_the_engine(client: TestClient, console_world: Path) -> None:
    summary = client.get("/experiments/ranker_v2/summary").json()
    engine = ResultsEngine(Warehouse.from_url(str(console_world)))
    results, _ = engine.results({"exp_id": "ranker_v2", "start_hour": START, "end_hour": END, "metrics": ["ctr"]})
    treatment = next(r for r in results if r.variant_id == "treatment")
    assert summary["rel_diff"] == (f"{format_pct(treatment.rel_diff)} [{format_pct(treatment.rel_ci_lower)}, "
                               f"{format_pct(treatment.rel_ci_upper)}]")
    assert summary["units"] == str(sum(r.units for r in results))
    assert summary["tone"] == "good" and summary["health"] in ("ok", "warn")
    assert client.get("/experiments/nope/summary").status_code == 404


def test_planted_lift_wins_and_aa_shows_no_effect(client: TestClient, capsys: pytest.CaptureFixture[str],
                                                  console_world: Path) -> None:
    page = client.get("/experiments/ranker_v2").text
    cli = _cli_json(capsys, "results", "--warehouse", str(console_world), "--exp", "ranker_v2", "--start", START,
                    "--end", END, "--metric", "ctr", "--format", "json")
    t = next(r for r in cli if r["variant_id"] == "treatment")
    lift = f"{format_pct(t['rel_diff'])} [{format_pct(t['rel_ci_lower'])}, {format_pct(t['rel_ci_upper'])}]"
    verdict = unescape(re.search(r'id="verdict">([^<]*)<', page).group(1))  # type: ignore[union-attr]
    assert verdict == f"treatment wins on ctr ({lift})"
    row = _rows(page, "ctr")[("all", "treatment")]
    assert row["tone"] == "good"
    assert row["rel_diff"] == format_pct(t["rel_diff"])
    assert row["rel_ci"] == f"[{format_pct(t['rel_ci_lower'])}, {format_pct(t['rel_ci_upper'])}]"
    assert row["estimate"] == format_number(t["estimate"])
    assert row["pvalue"] == format_number(t["pvalue"], 3)
    assert row["chance"] == format_pct(t["chance_to_beat_control"], signed=False)
    assert '<span class="tag">primary KPI</span>' in page
    # the primary KPI's group comes first
    assert page.index('data-metric="ctr"') < page.index('data-metric="revenue_per_unit"')

    aa = client.get("/experiments/aa_check").text
    verdict = unescape(re.search(r'id="verdict">([^<]*)<', aa).group(1))  # type: ignore[union-attr]
    assert verdict.startswith("no detectable effect yet on ctr (b ")
    assert _rows(aa, "ctr")[("all", "b")]["tone"] == "neutral"


def test_a_slice_shows_the_numbers_the_cli_prints(client: TestClient, capsys: pytest.CaptureFixture[str],
                                                  console_world: Path) -> None:
    page = client.get("/experiments/ranker_v2", params=[("metric", "ctr"), ("by", "platform"),
                                                         ("correction", "holm"), ("method", "basic")]).text
    cli = _cli_json(capsys, "results", "--warehouse", str(console_world), "--exp", "ranker_v2", "--start", START,
                    "--end", END, "--metric", "ctr", "--by", "platform", "--correction", "holm",
                    "--ci-method", "basic", "--format", "json")
    rows = _rows(page, "ctr")
    treated = [r for r in cli if r["variant_id"] == "treatment"]
    assert len(rows) == len(treated) > 1
    for r in treated:
        shown = rows[(",".join(f"{k}={v}" for k, v in r["slice"].items()), "treatment")]
        assert shown["rel_diff"] == format_pct(r["rel_diff"])
        assert shown["rel_ci"] == f"[{format_pct(r['rel_ci_lower'])}, {format_pct(r['rel_ci_upper'])}]"
        assert shown["pvalue"] == format_number(r["adjusted_pvalue"], 3)
    assert "p (holm)" in page


def test_composed_metric_typed_on_the_spot(client: TestClient, console_world: Path) -> None:
    page = client.get("/experiments/ranker_v2", params={"compose": "cpi = clicks / impressions"}).text
    engine = ResultsEngine(Warehouse.from_url(str(console_world)))
    results, _ = engine.results({"exp_id": "ranker_v2", "start_hour": START, "end_hour": END, "metrics": ["ctr"]})
    ctr = next(r for r in results if r.variant_id == "treatment")
    # cpi is ctr under another name: the same numbers
    assert _rows(page, "cpi")[("all", "treatment")]["rel_diff"] == format_pct(ctr.rel_diff)
    bad = client.get("/experiments/ranker_v2", params={"compose": "cpi = clicks / nope"})
    assert bad.status_code == 400
    assert "composed.cpi == &#39;clicks / nope&#39;: refers to unknown metric &#39;nope&#39;" in bad.text


def test_bad_view_names_the_field(client: TestClient) -> None:
    page = client.get("/experiments/ranker_v2", params={"where": "country ~ 'US'"})
    assert page.status_code == 400 and "where ==" in page.text
    page = client.get("/experiments/ranker_v2", params={"start": "yesterday"})
    assert page.status_code == 400 and "start == &#39;yesterday&#39;: must be an hour" in page.text
    assert client.get("/experiments/nope").status_code == 404


def test_chart_data_is_the_engine_time_series(client: TestClient, console_world: Path) -> None:
    page = client.get("/experiments/ranker_v2").text
    assert 'data-src="/experiments/ranker_v2/charts?"' in page
    data = client.get("/experiments/ranker_v2/charts").json()
    engine = ResultsEngine(Warehouse.from_url(str(console_world)))
    series, _ = engine.timeseries({"exp_id": "ranker_v2", "start_hour": START, "end_hour": END, "metrics": ["ctr"]})
    treated = [r for r in series if r.variant_id == "treatment"]
    assert data["rel_diff"]["hours"] == [r.end_hour for r in treated]
    assert data["rel_diff"]["variants"][0]["rel_diff"] == [round(r.rel_diff * 100, 4) for r in treated]
    assert data["rel_diff"]["variants"][0]["low"] == [round(r.rel_ci_lower * 100, 4) for r in treated]
    assert sum(data["units"]["units"]) > 0


def test_sql_panel_holds_both_dialects(client: TestClient, console_world: Path) -> None:
    page = client.get("/experiments/ranker_v2", params={"metric": "ctr"}).text
    assert 'data-src="/experiments/ranker_v2/sql?metric=ctr"' in page
    engine = ResultsEngine(Warehouse.from_url(str(console_world)))
    request = {"exp_id": "ranker_v2", "start_hour": START, "end_hour": END, "metrics": ["ctr"]}
    panel = client.get("/experiments/ranker_v2/sql", params={"metric": "ctr"}).json()
    assert panel["duckdb"] == engine.sql(request, "duckdb") and panel["trino"] == engine.sql(request, "trino")
    assert panel["note"] == ""
    corrected = client.get("/experiments/ranker_v2/sql", params={"metric": "ctr", "correction": "holm"}).json()
    assert corrected["duckdb"] == panel["duckdb"] and "before the correction" in corrected["note"]
    assert client.get("/experiments/ranker_v2/charts", params={"start": "nope"}).status_code == 400


def test_share_url_reproduces_the_view(client: TestClient) -> None:
    page = client.get("/experiments/ranker_v2", params=[("by", "country"), ("metric", "ctr")]).text
    share = unescape(re.search(r'id="share" readonly value="([^"]*)"', page).group(1))  # type: ignore
    assert share == "/experiments/ranker_v2?by=country&metric=ctr"
    assert _rows(client.get(share).text, "ctr") == _rows(page, "ctr")


def test_rollout_and_stop_follow_the_admin_rules(writable_world: Path) -> None:
    client = TestClient(create_app(Warehouse.from_url(str(writable_world)), admin_token=TOKEN))
    no_token = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50"})
    assert no_token.status_code == 401 and "authorization: missing" in no_token.text
    wrong = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "token": "nope"})
    assert wrong.status_code == 401 and "not the admin token" in wrong.text
    nobody = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "token": TOKEN})
    assert nobody.status_code == 400 and "changed_by == '': is required" in unescape(nobody.text)
    too_big = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "150", "token": TOKEN,
                                                                  "changed_by": "ada"})
    assert too_big.status_code == 400 and "rollout_pct == 150" in too_big.text
    done = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "token": TOKEN,
                                                               "changed_by": "ada"}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "rollout set to 50% (config version 2)" in page and '<strong id="rollout-now">50%</strong>' in page
    # the same change seen by the config store any other reader builds
    from rayab.lifecycle.config_store import ConfigStore

    assert ConfigStore(Warehouse.from_url(str(writable_world))).get("ranker_v2")[0].rollout_pct == 50.0
    stale = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "60", "token": TOKEN,
                                                                "expected_version": "1", "changed_by": "ada"})
    assert stale.status_code == 409 and "it changed meanwhile" in stale.text
    stopped = client.post("/experiments/ranker_v2/stop", headers={"authorization": f"Bearer {TOKEN}"},
                          data={"changed_by": "bob"})
    assert stopped.status_code == 200 and "experiment stopped" in stopped.text
    again = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "70", "token": TOKEN,
                                                                "changed_by": "ada"})
    assert again.status_code == 409 and "rollout and targeting change only while draft or running" in again.text


def test_read_only_console_refuses_changes(console_world: Path) -> None:
    client = TestClient(create_app(Warehouse.from_url(str(console_world)), admin_token=None))
    refused = client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "token": "x"})
    assert refused.status_code == 401 and "mutations are disabled" in refused.text


def test_static_assets_ship_with_the_package(client: TestClient) -> None:
    js = client.get("/static/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    page = client.get("/experiments/ranker_v2").text
    assert re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page) is None  # nothing fetched from elsewhere


def test_console_command_rejects_a_bad_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["console", "--warehouse", str(tmp_path), "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "rayab: invalid input: port == 70000: must be in [1, 65535]"
