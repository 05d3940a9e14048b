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
    rel_diff = page.locator("tr[data-exp='ranker_v2'] td[data-field='rel_diff'] span").inner_text()
    assert rel_diff.startswith("treatment +")
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
    page.fill("#rollout_pct", "250")
    page.fill("#token-rollout", TOKEN)
    page.click("#rollout-form button")
    assert "rollout_pct == 250" in page.locator("#admin-error").inner_text()
    page.fill("#rollout_pct", "100")
    page.fill("#token-rollout", "wrong")
    page.click("#rollout-form button")
    assert "not the admin token" in page.locator("#admin-error").inner_text()
    for pct in ("40", "60"):  # lower it, then raise it: the raise is what the page shows afterwards
        page.fill("#rollout_pct", pct)
        page.fill("#token-rollout", TOKEN)
        page.click("#rollout-form button")
        page.wait_for_selector(".notice")
        assert page.locator(".notice").inner_text().startswith(f"rollout set to {pct}% (config version")
    page.goto(console_url + "/experiments/aa_check")
    assert page.locator("#rollout-now").inner_text() == "60%"
    page.screenshot(path=str(shots / "aa_check-after-rollout.png"), full_page=True)
