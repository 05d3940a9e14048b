"""Operate through the console (create from YAML or the form, edit, start, ship, archive) with the admin API's
rules and messages, the history of every change, the catalogue's new fields and filters, progress toward the
planned sample, the CUPED toggle, the read token and ``rayab report``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from rayab.cli.main import main
from rayab.errors import RayabError
from rayab.lifecycle.config_store import ConfigStore
from rayab.storage.specs import load_config_history
from rayab.storage.warehouse import Warehouse
from tests.console.conftest import END, START

starlette = pytest.importorskip("starlette", reason="the console extra is not installed")
from starlette.testclient import TestClient  # noqa: E402

from rayab.console.app import create_app  # noqa: E402

TOKEN = "operate-test-token"
WHO = {"token": TOKEN, "changed_by": "ada@example.com"}
SPEC = """exp_id: search_boost
name: Search boost
owner: search-team@example.com
description: Does boosting fresh results raise the click-through rate?
primary_kpi: ctr
status: draft
start_time: 2026-11-23T00:00:00Z
planned_units: 40000
variants:
  - {variant_id: control, traffic_pct: 50}
  - {variant_id: boosted, traffic_pct: 50}
"""


def _client(world: Path, read_token: str | None = None) -> TestClient:
    return TestClient(create_app(Warehouse.from_url(str(world)), admin_token=TOKEN, read_token=read_token))


def _admin_error(text: str) -> str:
    found = re.search(r'id="admin-error">([^<]*)<', text)
    assert found, "no admin error on the page"
    return unescape(found.group(1))


def _grpc_create_error(world: Path, spec: Mapping[str, Any]) -> str:
    """What the admin path (the config store behind ExperimentService) says of ``spec``."""
    try:
        ConfigStore(Warehouse.from_url(str(world))).create(spec)
    except RayabError as err:
        return str(err)
    raise AssertionError("the spec was accepted")


def test_create_from_yaml_and_form_with_the_admin_api_messages(writable_world: Path) -> None:
    client = _client(writable_world)
    assert 'id="spec_yaml"' in client.get("/new").text
    # the same bad spec, pasted as YAML and typed in the form, gets the admin path's message word for word
    bad: dict[str, Any] = {
        "exp_id": "bad_split", "name": "B", "primary_kpi": "ctr", "start_time": "2026-11-23T00:00:00Z",
        "variants": [{"variant_id": "a", "traffic_pct": 50.0}, {"variant_id": "b", "traffic_pct": 40.0}]}
    expected = _grpc_create_error(writable_world, bad)
    assert expected == "spec.variants[*].traffic_pct == [50.0, 40.0]: must sum to 100 (sums to 90)"
    from_yaml = client.post("/new", data={**WHO, "spec_yaml": json.dumps(bad)})
    assert from_yaml.status_code == 400 and _admin_error(from_yaml.text) == expected
    form = {**WHO, "exp_id": "bad_split", "name": "B", "primary_kpi": "ctr", "start_time": "2026-11-23T00:00",
            "variant_id": ["a", "b", ""], "traffic_pct": ["50", "40", ""]}
    from_form = client.post("/new", data=form)
    assert from_form.status_code == 400 and _admin_error(from_form.text) == expected
    assert 'value="40.0"' in from_form.text  # what was typed is shown again
    unknown_kpi = client.post("/new", data={**form, "primary_kpi": "ctr_typo", "traffic_pct": ["50", "50", ""]})
    assert _admin_error(unknown_kpi.text) == _grpc_create_error(
        writable_world, {**bad, "primary_kpi": "ctr_typo", "variants": [
            {"variant_id": "a", "traffic_pct": 50.0}, {"variant_id": "b", "traffic_pct": 50.0}]})
    assert client.post("/new", data={**form, "token": "nope"}).status_code == 401
    assert client.post("/new", data={"token": TOKEN, "spec_yaml": SPEC}).status_code == 400  # who is required

    created = client.post("/new", data={**WHO, "spec_yaml": SPEC}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"].startswith("/experiments/search_boost?")
    page = client.get(created.headers["location"]).text
    assert "created search_boost as draft (config version" in unescape(page)
    assert 'id="owner">search-team@example.com<' in page and "boosting fresh results" in page
    exp = ConfigStore(Warehouse.from_url(str(writable_world))).get("search_boost")[0]
    assert (exp.owner, exp.planned_units, str(exp.status)) == ("search-team@example.com", 40_000, "draft")
    # the form path creates too
    ok = client.post("/new", data={**form, "exp_id": "form_made", "traffic_pct": ["50", "50", ""], "layer": "home"},
                     follow_redirects=False)
    assert ok.status_code == 303
    made = ConfigStore(Warehouse.from_url(str(writable_world))).get("form_made")[0]
    assert ([v.variant_id for v in made.variants], made.layer, made.start_time.isoformat()) == (
        ["a", "b"], "home", "2026-11-23T00:00:00+00:00")


def test_edit_start_ship_archive_and_the_history(writable_world: Path) -> None:
    client = _client(writable_world)
    client.post("/new", data={**WHO, "spec_yaml": SPEC})
    base = "/experiments/search_boost"
    edit = client.post(f"{base}/edit", data={**WHO, "changed_by": "bob", "name": "Search boost",
                                             "owner": "search@example.com", "description": "Fresh first",
                                             "planned_units": "50,000"}, follow_redirects=False)
    assert edit.status_code == 303
    bad = client.post(f"{base}/edit", data={**WHO, "planned_units": "lots"})
    assert bad.status_code == 400 and _admin_error(bad.text) == (
        "planned_units == 'lots': must be a whole number of units (0: no plan)")
    ship_draft = client.post(f"{base}/ship", data={**WHO, "variant_id": "boosted"})
    assert ship_draft.status_code == 409 and "only a running or stopped experiment" in _admin_error(ship_draft.text)
    assert client.post(f"{base}/start", data=WHO, follow_redirects=False).status_code == 303
    archive_running = client.post(f"{base}/archive", data=WHO)
    assert archive_running.status_code == 409 and "stop it before archiving" in _admin_error(archive_running.text)
    shipped = client.post(f"{base}/ship", data={**WHO, "changed_by": "carol", "variant_id": "boosted"},
                          follow_redirects=False)
    assert shipped.status_code == 303
    assert "shipped boosted" in unescape(client.get(shipped.headers["location"]).text)
    assert client.post(f"{base}/archive", data={**WHO, "changed_by": "dan"}, follow_redirects=False).status_code == 303
    exp = ConfigStore(Warehouse.from_url(str(writable_world))).get("search_boost")[0]
    assert (exp.owner, exp.description, exp.planned_units, exp.shipped_variant, str(exp.status)) == (
        "search@example.com", "Fresh first", 50_000, "boosted", "archived")
    history = load_config_history(Warehouse.from_url(str(writable_world)), "search_boost")
    assert [h.changed_by for h in history] == ["dan", "carol", "ada@example.com", "bob", "ada@example.com"]
    page = client.get(base).text
    rows = re.findall(r'<tr data-version="(\d+)"><td class="num">\d+</td><td>([^<]*)</td>\s*<td>([^<]*)</td>'
                      r'<td>([^<]*)</td></tr>', page)
    assert [(int(v), who) for v, _, who, _ in rows] == [(h.version, h.changed_by) for h in history]
    assert [unescape(c) for *_, c in rows] == [h.change for h in history]
    assert rows[0][1] == history[0].committed_at.strftime("%Y-%m-%d %H:%M:%S")
    assert "Archived: it serves nothing" in page and 'id="edit-form"' not in page


def test_catalogue_owner_description_and_layer_filter(writable_world: Path) -> None:
    client = _client(writable_world)
    client.post("/new", data={**WHO, "spec_yaml": SPEC.replace("status: draft", "status: draft\nlayer: search")})
    page = client.get("/").text
    assert "search-team@example.com" in page and "Does boosting fresh results" in page
    layered = client.get("/", params={"layer": "search"}).text
    assert 'data-exp="search_boost"' in layered and 'data-exp="ranker_v2"' not in layered
    assert '<option value="search" selected>' in layered
    by_owner = client.get("/", params={"q": "SEARCH-TEAM"}).text
    assert 'data-exp="search_boost"' in by_owner and 'data-exp="aa_check"' not in by_owner


def test_progress_toward_the_planned_sample(writable_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = _client(writable_world)
    capsys.readouterr()
    assert main(["results", "--warehouse", str(writable_world), "--exp", "aa_check", "--start", START, "--end", END,
                 "--metric", "ctr", "--format", "json"]) == 0
    units = sum(r["units"] for r in json.loads(capsys.readouterr().out))
    planned = 2 * units + 7  # not yet reached: a bit under half
    client.post("/experiments/aa_check/edit", data={**WHO, "planned_units": str(planned)})
    page = unescape(client.get("/experiments/aa_check").text)
    share = f"{units / planned:.0%}"
    verdict = re.search(r'id="verdict">([^<]*)<', page).group(1)  # type: ignore[union-attr]
    assert verdict.startswith(f"no detectable effect yet on ctr: {share} of the planned sample "
                              f"({units:,} of {planned:,} units)")
    assert f'<progress id="progress-bar" max="{planned}" value="{units}">' in page
    charts = client.get("/experiments/aa_check/charts").json()
    assert charts["units"]["planned"] == planned and charts["units"]["cumulative"][-1] == sum(charts["units"]["units"])


def test_cuped_toggle_without_cuped_metrics_says_why(writable_world: Path) -> None:
    page = unescape(_client(writable_world).get("/experiments/ranker_v2", params={"cuped": "on"}).text)
    assert "CUPED is off: analysis type engagement adjusts no metric" in page
    assert 'id="cuped-toggle" name="cuped" value="on" checked' in page and 'id="cuped"' not in page


def test_read_token_guards_every_page(writable_world: Path) -> None:
    client = _client(writable_world, read_token="r34d")
    assert client.get("/healthz").text == "ok" and client.get("/static/console.css").status_code == 200
    redirected = client.get("/experiments/ranker_v2", headers={"accept": "text/html"}, follow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["location"] == "/login?next=%2Fexperiments%2Franker_v2"
    assert client.get("/experiments/ranker_v2/summary").status_code == 401
    assert client.get("/", headers={"authorization": "Bearer r34d"}).status_code == 200
    wrong = client.post("/login", data={"token": "nope", "next": "/"})
    assert wrong.status_code == 401 and "neither the read token nor the admin token" in wrong.text
    signed = client.post("/login", data={"token": "r34d", "next": "/experiments/ranker_v2"}, follow_redirects=False)
    assert signed.status_code == 303 and "httponly" in signed.headers["set-cookie"].lower()
    assert client.get("/experiments/ranker_v2").status_code == 200  # the cookie now carries the token
    # the read token does not allow changes; the admin token signed in does, without typing it again
    assert client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "changed_by": "x"}
                       ).status_code == 401
    client.post("/login", data={"token": TOKEN, "next": "/"})
    assert client.post("/experiments/ranker_v2/rollout", data={"rollout_pct": "50", "changed_by": "x"},
                       follow_redirects=False).status_code == 303


def test_report_is_the_console_page_in_one_file(console_world: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--warehouse", str(console_world), "--exp", "ranker_v2", "--start", START, "--end", END,
                 "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    page = _client(console_world).get("/experiments/ranker_v2", params={"start": START, "end": END}).text

    def section(html: str, start: str, end: str) -> str:
        return html[html.index(start):html.index(end)]

    # the same verdict and scorecard markup as the console's page for the same window
    assert section(text, '<section aria-labelledby="verdict-h">', '<section aria-labelledby="ts-h">') == section(
        page, '<section aria-labelledby="verdict-h">', '<section aria-labelledby="ts-h">')
    assert "<link" not in text and 'src="' not in text and "fetch(" in text  # nothing to load: all inline
    assert '<details id="sql">' in text and "QUANTILE_CONT" in text
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text,
                                re.S).group(1))  # type: ignore[union-attr]
    charts = _client(console_world).get("/experiments/ranker_v2/charts", params={"start": START, "end": END}).json()
    assert data == charts


def test_power_says_which_planned_units_to_set(console_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["power", "--warehouse", str(console_world), "--exp", "aa_check", "--start", START, "--end", END,
                 "--mde", "0.1", "--format", "json"]) == 0
    total = json.loads(capsys.readouterr().out)["plan"]["n_total"]
    assert main(["power", "--warehouse", str(console_world), "--exp", "aa_check", "--start", START, "--end", END,
                 "--mde", "0.1"]) == 0
    assert f"set planned_units: {total} in the experiment's spec" in capsys.readouterr().out
