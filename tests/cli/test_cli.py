"""The ``rayab`` command end to end, in process, on the session's Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rayab.cli.main import main

pytestmark = pytest.mark.usefixtures("ray_local")


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("demo")
    return str(root / "wh"), str(root / "logs")


def test_demo_prints_results_and_passes_its_checks(demo_dirs: tuple[str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, logs = demo_dirs
    code = main(["demo", "--units", "4000", "--hours", "3", "--warehouse", warehouse, "--logs", logs,
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "planted CTR lift +3.0% inside its CI: yes" in out
    lines = [line for line in out.splitlines() if line.startswith(("ranker_v2", "aa_check"))]
    assert len(lines) == 12  # 2 experiments x 2 variants x (units, ctr, revenue_per_unit)
    assert Path(logs, "date=2026-11-23", "hour=02").is_dir()


def test_results_as_json_and_csv(demo_dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, _ = demo_dirs
    args = ["results", "--warehouse", warehouse, "--exp", "ranker_v2", "--start", "2026-11-23T00",
            "--end", "2026-11-23T03", "--metric", "ctr", "--by", "platform"]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["variant_id"] for r in rows} == {"control", "treatment"}
    assert {r["slice"][0][1] for r in rows} == {"web", "ios", "android", "tv"}
    assert all(r["ci_lower"] <= r["estimate"] <= r["ci_upper"] for r in rows)
    assert main([*args, "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.strip().splitlines()
    assert csv_lines[0].startswith("exp_id,metric,variant_id,slice")
    assert len(csv_lines) == 1 + len(rows)


def test_run_hour_again_is_idempotent(demo_dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, logs = demo_dirs
    args = ["results", "--warehouse", warehouse, "--exp", "aa_check", "--start", "2026-11-23T00",
            "--end", "2026-11-23T03", "--format", "json"]
    main(args)
    before = capsys.readouterr().out
    assert main(["run-hour", "--warehouse", warehouse, "--logs", logs, "--hour", "2026-11-23T01"]) == 0
    assert "engagement 2026-11-23T01" in capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == before


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["results", "--exp", "aa_check", "--start", "2026-11-23 00:00", "--end", "2026-11-23T03"], 2,
     "start_hour == '2026-11-23 00:00'"),
    (["results", "--exp", "nope", "--start", "2026-11-23T00", "--end", "2026-11-23T03"], 3, "experiment 'nope'"),
    (["results", "--exp", "aa_check", "--start", "2026-11-23T00", "--end", "2026-11-23T03", "--metric", "x"], 2,
     "metrics[0] == 'x'"),
])
def test_errors_exit_with_codes_and_name_the_field(demo_dirs: tuple[str, str], capsys: pytest.CaptureFixture[str],
                                                   argv: list[str], code: int, message: str) -> None:
    assert main([*argv, "--warehouse", demo_dirs[0]]) == code
    assert message in capsys.readouterr().err


def test_empty_warehouse_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--warehouse", str(tmp_path), "--exp", "x", "--start", "2026-11-23T00",
                 "--end", "2026-11-23T01"]) == 3
    assert "rayab demo" in capsys.readouterr().err


def test_health_exits_zero_when_healthy_and_one_on_failure(demo_dirs: tuple[str, str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, _ = demo_dirs
    base = ["health", "--warehouse", warehouse, "--exp", "aa_check", "--start", "2026-11-23T00"]
    assert main([*base, "--end", "2026-11-23T03"]) == 0
    out = capsys.readouterr().out
    assert "sample_ratio" in out and "aa_check: OK" in out
    # two hours past the data: they were never committed, so completeness fails and the exit code says so
    assert main([*base, "--end", "2026-11-23T05", "--format", "json"]) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["data_completeness"]["status"] == "fail"
    assert checks["data_completeness"]["details"]["missing_hours"]["engagement"] == ["2026-11-23T03",
                                                                                    "2026-11-23T04"]


def test_power_plans_from_the_control_arm(demo_dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, _ = demo_dirs
    assert main(["power", "--warehouse", warehouse, "--exp", "aa_check", "--start", "2026-11-23T00",
                 "--end", "2026-11-23T03", "--metric", "ctr", "--metric", "revenue_per_unit", "--mde", "0.05",
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["plan"]["n_tests"] == 2
    assert result["plan"]["n_total"] == 2 * result["plan"]["n_per_arm"]
    assert {h["metric"] for h in result["histories"]} == {"ctr", "revenue_per_unit"}
