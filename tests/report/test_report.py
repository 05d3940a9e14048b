"""The HTML report: the plain report's content (rayab.report.html, for a --config file), and the charts of
``rayab report`` (the console's page in one file, uPlot inlined) drawn by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rayab.cli.main import main
from rayab.hourly.job import run_hour
from rayab.report.html import build_report
from rayab.storage.specs import save_config
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")


@pytest.fixture(scope="module")
def report_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    world = make_world(tmp_path_factory.mktemp("report"), n_units=4000, n_hours=4)
    save_config(world.warehouse, world.config)
    for hour in world.hours:
        run_hour(world.config, hour, world.logs, world.warehouse)
    return world


def test_report_holds_every_section(report_world: World) -> None:
    text = build_report(report_world.warehouse, report_world.config, "ranker_v2", "2026-11-23T00",
                        "2026-11-23T04")
    assert text.startswith("<!doctype html>")
    assert text.count("<svg") == 2  # the forest plot and one cumulative chart (one treatment variant)
    for section in ("Lifts", "Results", "Health", "SQL"):
        assert f"<h2>{section}</h2>" in text
    assert "sample_ratio" in text and "data_completeness" in text
    assert "QUANTILE_CONT" in text  # the DuckDB SQL of the primary KPI, ready for a BI tool
    # every non-control metric of the results table appears as a forest-plot label
    for metric in ("ctr", "revenue_per_unit", "rpm"):
        assert f"{metric} · treatment" in text
    # the Bayesian readouts beside the frequentist ones, as the results compute them
    from rayab.query.results import experiment_results

    exp = report_world.config.experiment("ranker_v2")
    ctr = next(r for r in experiment_results(report_world.warehouse, report_world.analysis_type, exp,
                                             "2026-11-23T00", "2026-11-23T04", metrics=["ctr"])
               if r.variant_id == "treatment")
    assert "<th>P(beat)</th>" in text and "<th>lift credible interval</th>" in text
    assert f"<td>{ctr.chance_to_beat_control * 100:.2f}%</td>" in text
    assert f"[{ctr.rel_cred_lower * 100:+.2f}%, {ctr.rel_cred_upper * 100:+.2f}%]" in text
    # self-contained: no script, stylesheet, image or font fetched from anywhere
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text) is None
    assert "<script" not in text and "<link" not in text


def _pixels(png: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(png).convert("L"), dtype=np.float64)


def _screenshot(chromium: str, page: Path, out: Path, tmp: Path) -> None:
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp / 'profile'}", "--window-size=1100,3200", f"--screenshot={out}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)


def test_charts_are_drawn_in_a_real_browser(report_world: World, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (.ci/run installs it)")
    page = tmp_path / "report.html"
    assert main(["report", "--warehouse", report_world.warehouse.url, "--exp", "ranker_v2",
                 "--start", "2026-11-23T00", "--end", "2026-11-23T04", "--out", str(page)]) == 0
    text = page.read_text()
    assert '<script type="application/json" id="chart-data">' in text and "<link" not in text
    blank = tmp_path / "blank.html"
    # the same page without its scripts: the chart boxes stay, empty ("loading…"), the rest is identical
    blank.write_text(re.sub(r"<script>.*?</script>", "", text, flags=re.S))
    _screenshot(chromium, page, tmp_path / "report.png", tmp_path)
    _screenshot(chromium, blank, tmp_path / "blank.png", tmp_path)
    drawn, empty = _pixels(tmp_path / "report.png"), _pixels(tmp_path / "blank.png")
    assert drawn.shape == empty.shape
    # the charts put ink (lines, bands, labels) where the emptied page is white: a large share of pixels differ
    changed = float((np.abs(drawn - empty) > 40).mean())
    assert changed > 0.005, changed
    assert float((empty < 200).mean()) > 0.005  # and the emptied page still shows its text
