"""End to end in a real browser: `rayab console` as a subprocess on a free loopback port, driven by Debian's
headless Chromium through Playwright. Screenshots go to ``<tmp>/screenshots``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayab.cli.main import main
from rayab.report.formatting import format_pct
from tests.console.conftest import END, START

CHROMIUM = os.environ.get("RAYAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "browser-test-token"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console_url(console_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``rayab console`` on a private copy of the world (the rollout test changes it)."""
    warehouse = tmp_path_factory.mktemp("browser") / "wh"
    shutil.copytree(console_world, warehouse)
    port = _free_port()
    env = {**os.environ, "RAYAB_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "rayab.cli.main", "console", "--warehouse", str(warehouse),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"rayab console did not start: {out}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def _cli(capsys: pytest.CaptureFixture[str], warehouse: str, *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["results", "--warehouse", warehouse, "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_catalogue_lists_the_experiments(page: Any, console_url: str, shots: Path) -> None:
    page.goto(console_url + "/")
    page.wait_for_selector("body[data-catalogue-loaded='1']")
    ids = page.locator("#catalogue tr[data-exp]").evaluate_all("rows => rows.map(r => r.dataset.exp)")
    assert sorted(ids) == ["aa_check", "ranker_v2"]
    lift = page.locator("tr[data-exp='ranker_v2'] td[data-field='rel_diff'] span").inner_text()
    assert lift.startswith("treatment +")
    page.screenshot(path=str(shots / "catalogue.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "catalogue-phone.png"), full_page=True)


def test_planted_lift_is_significant_and_the_aa_is_not(page: Any, console_url: str, shots: Path) -> None:
    page.goto(console_url + "/experiments/ranker_v2")
    page.wait_for_selector("body[data-charts-drawn='1']")
    assert page.locator("#verdict").inner_text().startswith("treatment wins on ctr (+")
    row = page.locator("table[data-metric='ctr'] tr[data-variant='treatment']")
    assert row.get_attribute("class") == "tone-good"
    assert page.locator("#lift-chart canvas").count() == 1 and page.locator("#units-chart canvas").count() == 1
    # hovering the chart shows the values of that hour in the legend
    over = page.locator("#lift-chart .u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] * 0.95, "y": box["height"] / 2})
    page.wait_for_function("() => /%/.test(document.querySelector('#lift-chart .u-legend').innerText)")
    legend = page.locator("#lift-chart .u-legend").inner_text()
    assert re.search(r"[+-]\d+\.\d\d%", legend), legend
    page.screenshot(path=str(shots / "ranker_v2.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "ranker_v2-phone.png"), full_page=True)

    page.goto(console_url + "/experiments/aa_check")
    assert page.locator("#verdict").inner_text().startswith("no detectable effect yet on ctr")
    assert page.locator("table[data-metric='ctr'] tr[data-variant='b']").get_attribute("class") == "tone-neutral"
    page.screenshot(path=str(shots / "aa_check.png"), full_page=True)


def test_a_slice_changes_the_numbers_to_the_cli_s(page: Any, console_url: str, console_world: Path,
                                                 capsys: pytest.CaptureFixture[str], shots: Path) -> None:
    page.goto(console_url + "/experiments/ranker_v2")
    page.select_option("#metric", ["ctr"])
    page.check("input[name='by'][value='country']")
    page.click("#apply")
    page.wait_for_selector("table[data-metric='ctr'] tr[data-slice^='country=']")
    assert "by=country" in page.url
    expected = _cli(capsys, str(console_world), "--exp", "ranker_v2", "--start", START, "--end", END,
                    "--metric", "ctr", "--by", "country")
    for r in (r for r in expected if r["variant_id"] == "treatment"):
        slice_text = ",".join(f"{k}={v}" for k, v in r["slice"].items())
        row = page.locator(f"table[data-metric='ctr'] tr[data-slice='{slice_text}'][data-variant='treatment']")
        assert row.locator("[data-field='rel_diff']").inner_text() == format_pct(r["rel_diff"])
        assert row.locator("[data-field='rel_ci']").inner_text() == (
            f"[{format_pct(r['rel_ci_lower'])}, {format_pct(r['rel_ci_upper'])}]")
    page.click("#sql summary")
    page.wait_for_selector("#sql[data-loaded='1']")
    assert "QUANTILE_CONT" in page.locator("#sql").inner_text()
    page.screenshot(path=str(shots / "ranker_v2-by-country.png"), full_page=True)


def test_rollout_raise_through_the_form_is_visible(page: Any, console_url: str, shots: Path) -> None:
    page.goto(console_url + "/experiments/aa_check")
    page.fill("#changed_by", "ada@example.com")
    page.fill("#rollout_pct", "250")
    page.fill("#token", TOKEN)
    page.click("#set-rollout")
    assert "rollout_pct == 250" in page.locator("#admin-error").inner_text()
    assert page.locator("#changed_by").input_value() == "ada@example.com"  # remembered in this browser
    page.fill("#rollout_pct", "100")
    page.fill("#token", "wrong")
    page.click("#set-rollout")
    assert "not the admin token" in page.locator("#admin-error").inner_text()
    for pct in ("40", "60"):  # lower it, then raise it: the raise is what the page shows afterwards
        page.fill("#rollout_pct", pct)
        page.fill("#token", TOKEN)
        page.click("#set-rollout")
        page.wait_for_selector(".notice")
        assert page.locator(".notice").inner_text().startswith(f"rollout set to {pct}% (config version")
    page.goto(console_url + "/experiments/aa_check")
    assert page.locator("#rollout-now").inner_text() == "60%"
    history = page.locator("#history tbody tr")
    assert history.count() >= 2 and "rollout_pct 40 -> 60" in history.first.inner_text()
    assert "ada@example.com" in history.first.inner_text()
    page.screenshot(path=str(shots / "aa_check-after-rollout.png"), full_page=True)


def test_create_from_the_form_with_the_keyboard(page: Any, console_url: str, shots: Path) -> None:
    """A new experiment typed in the form, moving between labelled fields with the keyboard only; a bad split
    gets the admin API's message, the fixed one is created and shows its owner and planned sample."""
    page.goto(console_url + "/")
    page.click("text=New experiment")
    page.wait_for_selector("#create")
    for field_id in ("changed_by", "token", "spec_yaml", "exp_id", "name", "owner", "primary_kpi", "start_time"):
        label = page.locator(f"label[for='{field_id}']")
        assert label.count() == 1 and label.inner_text().strip(), field_id  # every field has a label
    page.focus("#exp_id")
    page.keyboard.type("search_boost")
    page.keyboard.press("Tab")
    page.keyboard.type("Search boost")
    page.keyboard.press("Tab")
    page.keyboard.type("search-team@example.com")
    assert page.evaluate("document.activeElement.id") == "owner"
    page.fill("#start_time", "2026-11-23T00:00")
    page.fill("#planned_new", "40000")
    page.fill("#variant_id_1", "control")
    page.fill("#traffic_pct_1", "50")
    page.fill("#variant_id_2", "boosted")
    page.fill("#traffic_pct_2", "40")
    page.fill("#changed_by", "ada@example.com")
    page.fill("#token", TOKEN)
    page.click("#create-button")
    error = page.locator("#admin-error").inner_text()
    assert error == "spec.variants[*].traffic_pct == [50.0, 40.0]: must sum to 100 (sums to 90)"
    page.screenshot(path=str(shots / "new-experiment-error.png"), full_page=True)
    page.fill("#traffic_pct_2", "50")
    page.fill("#token", TOKEN)
    page.focus("#create-button")
    page.keyboard.press("Enter")
    page.wait_for_selector(".notice")
    assert page.locator(".notice").inner_text().startswith("created search_boost as draft")
    assert page.locator("#owner").inner_text() == "search-team@example.com"
    page.screenshot(path=str(shots / "search_boost-created.png"), full_page=True)


def test_phone_width_pages_fit_and_planned_progress(page: Any, console_url: str, shots: Path) -> None:
    page.goto(console_url + "/experiments/ranker_v2")
    page.fill("#changed_by", "ada@example.com")
    page.fill("#token", TOKEN)
    page.fill("#edit_planned", "20000")
    page.click("#save-edit")
    page.wait_for_selector(".notice")
    assert re.match(r"treatment wins on ctr", page.locator("#verdict").inner_text())
    assert page.locator("#progress-bar").get_attribute("max") == "20000"
    page.wait_for_selector("body[data-charts-drawn='1']")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(console_url + "/experiments/ranker_v2")
    page.wait_for_selector("body[data-charts-drawn='1']")
    # nothing wider than the phone: the page does not scroll sideways (wide tables scroll inside their box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(shots / "ranker_v2-phone-planned.png"), full_page=True)
    page.goto(console_url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    # keyboard: the skip link is the first stop and takes focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_report_file_draws_its_charts_offline(page: Any, console_world: Path, shots: Path) -> None:
    out = shots / "report-ranker_v2.html"
    assert main(["report", "--warehouse", str(console_world), "--exp", "ranker_v2", "--start", START, "--end", END,
                 "--out", str(out)]) == 0
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else
               route.continue_())  # offline: any request but the file itself fails
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-charts-drawn='1']")
    assert page.locator("#lift-chart canvas").count() == 1
    assert page.locator("#verdict").inner_text().startswith("treatment wins on ctr (+")
    assert not page.locator("#sql").evaluate("d => d.open")  # the SQL is collapsed
    page.screenshot(path=str(shots / "report.png"), full_page=True)
