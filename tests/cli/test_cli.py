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
    assert {r["slice"]["platform"] for r in rows} == {"web", "ios", "android", "tv"}
    assert all(r["ci_lower"] <= r["estimate"] <= r["ci_upper"] for r in rows)
    assert main([*args, "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.strip().splitlines()
    assert csv_lines[0].startswith("exp_id,metric,variant_id,platform,n_events")
    assert len(csv_lines) == 1 + len(rows)


def _strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_with_null_for_missing_numbers(demo_dirs: tuple[str, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, _ = demo_dirs
    assert main(["results", "--warehouse", warehouse, "--exp", "ranker_v2", "--start", "2026-11-23T00",
                 "--end", "2026-11-23T03", "--metric", "ctr", "--format", "json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text
    rows = _strict_json(text)
    assert isinstance(rows, list)
    control = next(r for r in rows if r["variant_id"] == "control")
    # control is not compared with itself: no lift, no p-value, and those are null (they were NaN)
    assert control["rel_diff"] is None and control["pvalue"] is None and control["adjusted_pvalue"] is None
    assert control["slice"] == {} and isinstance(control["estimate"], float)
    for argv in (["health", "--exp", "aa_check"], ["power", "--exp", "aa_check", "--mde", "0.05"],
                 ["results", "--exp", "aa_check", "--cumulative", "--sequential"]):
        main([*argv, "--warehouse", warehouse, "--start", "2026-11-23T00", "--end", "2026-11-23T03",
              "--format", "json"])
        text = capsys.readouterr().out
        assert "NaN" not in text and "Infinity" not in text
        _strict_json(text)


def test_csv_has_one_column_per_dimension(demo_dirs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    warehouse, _ = demo_dirs
    assert main(["results", "--warehouse", warehouse, "--exp", "ranker_v2", "--start", "2026-11-23T00",
                 "--end", "2026-11-23T03", "--metric", "ctr", "--by", "platform", "--by", "country",
                 "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert "slice" not in rows[0]
    assert list(rows[0])[3:5] == ["platform", "country"]
    assert {r["platform"] for r in rows} == {"web", "ios", "android", "tv"}
    assert all(r["country"] and "[" not in r["country"] for r in rows)
    control = next(r for r in rows if r["variant_id"] == "control")
    assert control["pvalue"] == "" and float(control["estimate"]) > 0


def test_results_table_marks_primary_kpi_significance_and_totals(demo_dirs: tuple[str, str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, _ = demo_dirs
    assert main(["results", "--warehouse", warehouse, "--exp", "ranker_v2", "--start", "2026-11-23T00",
                 "--end", "2026-11-23T03", "--correction", "holm"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[-4:] == ["p-value", "normal", "p", "adj."] or "adj. p" in lines[0]
    assert lines[0].rstrip().endswith("sig")
    # the primary KPI (ctr) comes first, marked
    assert lines[2].split()[1:3] == ["ctr", "[primary]"]
    assert "after holm correction" in out and "primary KPI (ranker_v2: ctr)" in out
    assert "units" in out and "traffic share" in out


def test_the_demo_refuses_a_warehouse_of_another_run(demo_dirs: tuple[str, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    warehouse, logs = demo_dirs
    before = sorted(p.name for p in Path(warehouse).iterdir())
    assert main(["demo", "--units", "3000", "--hours", "2", "--warehouse", warehouse, "--logs", logs,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--warehouse" in err and "--overwrite" in err and err.count("\n") == 1
    assert sorted(p.name for p in Path(warehouse).iterdir()) == before
    assert Path(logs, "date=2026-11-23", "hour=02").is_dir()


def test_demo_dirs_same_run_allowed_other_refused_overwrite_clears(tmp_path: Path) -> None:
    from rayab.cli.demo import prepare_demo_dirs
    from rayab.errors import ValidationError
    from rayab.storage.warehouse import Warehouse

    warehouse, logs = Warehouse.from_url(tmp_path / "wh"), str(tmp_path / "logs")
    settings = {"units": 10, "hours": 1, "seed": 7, "files_per_hour": 2, "logs": logs}
    prepare_demo_dirs(warehouse, logs, settings, overwrite=False)  # empty: fine
    (tmp_path / "wh" / "agg_engagement").mkdir()
    (tmp_path / "logs" / "date=2026-11-23").mkdir(parents=True)
    prepare_demo_dirs(warehouse, logs, settings, overwrite=False)  # the same run again: fine
    with pytest.raises(ValidationError, match="--warehouse"):
        prepare_demo_dirs(warehouse, logs, {**settings, "units": 11}, overwrite=False)
    (tmp_path / "wh" / "_demo.json").unlink()
    (tmp_path / "wh" / "agg_engagement").rmdir()
    with pytest.raises(ValidationError, match="--logs"):
        prepare_demo_dirs(warehouse, logs, settings, overwrite=False)  # logs of an unknown run
    (tmp_path / "wh" / "assignment").mkdir()
    (tmp_path / "logs" / "keep.txt").write_text("not a log hour")
    prepare_demo_dirs(warehouse, logs, {**settings, "units": 11}, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == ["_demo.json"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["keep.txt"]


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
    # a window before the first assignment: SRM has 0/0 units, which is no data, never a pass
    assert main(["health", "--warehouse", warehouse, "--exp", "aa_check", "--start", "2026-11-22T00",
                 "--end", "2026-11-22T03", "--format", "json"]) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["sample_ratio"]["status"] == "no_data"
    assert checks["sample_ratio"]["details"]["counts"] == {"a": 0, "b": 0}
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
