"""An hour's inputs tell the truth: a wrong or empty ``--logs`` never replaces a committed hour, every file under the
hour is read or listed as ignored, and a wrongly typed JSON value costs its row, not the hour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayab.cli.main import main
from rayab.errors import MissingInputError
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.logs import FORMATS_READ, hour_folder, scan_log_files, write_log_file
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"


def _config() -> Config:
    config = demo_config("2026-11-23T00:00:00Z")
    at = {**config.analysis_types[0].to_dict(), "n_replicates": 8}
    return Config.from_dict({**config.to_dict(), "analysis_types": [at]})


def _rows(n: int = 6, start: int = 0, clicks: int = 1) -> dict[str, list[Any]]:
    return {"unit_id": [f"u{i}" for i in range(start, start + n)], "exp_id": ["ranker_v2"] * n,
            "variant_id": ["control", "treatment"] * (n // 2), "country": ["US"] * n, "platform": ["web"] * n,
            "impressions": [3] * n, "clicks": [clicks] * n, "revenue": [0.25] * n}


def _totals(warehouse: Warehouse) -> dict[str, int]:
    agg = read_rows(warehouse, "agg_engagement", where={"hour": HOUR})
    return {name: int(np.sum(agg.column(name))) for name in ("n_events", "impressions", "clicks", "revenue")}


def _manifests(warehouse: Warehouse) -> list[dict[str, Any]]:
    return sorted(read_rows(warehouse, "_manifest").to_pylist(), key=lambda m: m["committed_at"])


@pytest.fixture()
def committed(workdir: Path) -> tuple[str, Warehouse]:
    logs = str(workdir / "logs")
    write_log_file(logs, HOUR, "part-0.parquet", pa.table(_rows()))
    warehouse = Warehouse.from_url(workdir / "wh")
    run_hour(_config(), HOUR, logs, warehouse)
    assert _totals(warehouse) == {"n_events": 6, "impressions": 18, "clicks": 6, "revenue": 150}
    return logs, warehouse


# --- item 1: a wrong, missing or empty --logs path never replaces a committed hour ---------------------------------

def test_a_missing_logs_path_fails_naming_it_and_keeps_the_committed_hour(committed: tuple[str, Warehouse],
                                                                        workdir: Path) -> None:
    _, warehouse = committed
    wrong = str(workdir / "no-such-logs")
    with pytest.raises(MissingInputError) as err:
        run_hour(_config(), HOUR, wrong, warehouse)
    text = str(err.value)
    assert f"{hour_folder(wrong, HOUR)} does not exist" in text and "--allow-empty" in text
    assert ".parquet, .jsonl, .json, .ndjson" in text
    assert _totals(warehouse) == {"n_events": 6, "impressions": 18, "clicks": 6, "revenue": 150}
    assert len(_manifests(warehouse)) == 1


def test_an_hour_whose_files_hold_no_row_fails_and_keeps_the_committed_hour(committed: tuple[str, Warehouse],
                                                                           workdir: Path) -> None:
    _, warehouse = committed
    empty = str(workdir / "empty-logs")
    write_log_file(empty, HOUR, "part-0.parquet", pa.table(_rows()).slice(0, 0))
    with pytest.raises(MissingInputError, match=r"its 1 input files at .* hold no row"):
        run_hour(_config(), HOUR, empty, warehouse)
    assert _totals(warehouse)["n_events"] == 6 and len(_manifests(warehouse)) == 1


def test_allow_empty_commits_the_empty_hour_and_says_so_in_the_manifest(committed: tuple[str, Warehouse],
                                                                      workdir: Path) -> None:
    _, warehouse = committed
    (summary,) = run_hour(_config(), HOUR, str(workdir / "none"), warehouse, allow_empty=True)
    assert (summary.files, summary.rows_read, summary.cells) == (0, 0, 0)
    assert read_rows(warehouse, "agg_engagement", where={"hour": HOUR}).num_rows == 0
    latest = _manifests(warehouse)[-1]
    assert latest["allow_empty"] is True and latest["input_files"] == []
    assert _manifests(warehouse)[0]["allow_empty"] is False


def test_cli_exits_5_with_one_line_naming_the_path(committed: tuple[str, Warehouse], workdir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, warehouse = committed
    config = workdir / "config.json"
    config.write_text(json.dumps(_config().to_dict()))
    wrong = str(workdir / "typo")
    argv = ["run-hour", "--hour", HOUR, "--logs", wrong, "--warehouse", str(workdir / "wh"), "--config",
            str(config), "--quiet"]
    assert main(argv) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rayab: no input: hour 2026-11-23T05 of engagement not committed")
    assert hour_folder(wrong, HOUR) in err and "Traceback" not in err
    assert _totals(warehouse)["n_events"] == 6
    assert main([*argv, "--allow-empty"]) == 0
    assert _manifests(warehouse)[-1]["allow_empty"] is True


# --- item 2: every file under the hour is read or listed as ignored ------------------------------------------------

def _mixed_hour(logs: str) -> Path:
    folder = Path(hour_folder(logs, HOUR))
    write_log_file(logs, HOUR, "part-0.parquet", pa.table(_rows(6, 0)))
    (folder / "region=eu").mkdir(parents=True)
    pq.write_table(pa.table(_rows(4, 100)), folder / "part-1.PARQUET")
    pq.write_table(pa.table(_rows(2, 200)), folder / "region=eu" / "part-2.parquet")
    (folder / "extra.txt").write_text("unit_id,clicks\nu9,1\n")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_bytes(b"crc")
    (folder / "_temporary").mkdir()
    pq.write_table(pa.table(_rows(2, 300)), folder / "_temporary" / "part-3.parquet")
    return folder


def test_every_file_under_the_hour_is_read_or_listed_as_ignored(workdir: Path) -> None:
    logs = str(workdir / "logs")
    folder = _mixed_hour(logs)
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse)
    # part-0 (6 rows), part-1.PARQUET (4) and region=eu/part-2.parquet (2) are read: suffixes in any case, sub-folders
    assert summary.files == 3 and summary.rows_read == 12
    assert _totals(warehouse) == {"n_events": 12, "impressions": 36, "clicks": 12, "revenue": 300}
    assert summary.ignored_files == {
        f"{folder}/.part-0.parquet.crc": "hidden or marker file",
        f"{folder}/_SUCCESS": "hidden or marker file",
        f"{folder}/_temporary/part-3.parquet": "in a hidden or marker folder",
        f"{folder}/extra.txt": f"not a log format (read: {FORMATS_READ})",
    }
    assert "4 files ignored" in summary.line() and "extra.txt" in summary.line()
    (manifest,) = _manifests(warehouse)
    assert manifest["ignored_files"] == sorted(summary.ignored_files)
    assert sorted(p.rsplit("/", 1)[1] for p in manifest["input_files"]) == ["part-0.parquet", "part-1.PARQUET",
                                                                           "part-2.parquet"]


def test_a_template_lists_the_files_of_its_folder_that_it_does_not_match(workdir: Path) -> None:
    folder = workdir / "t" / "dt=2026-11-23" / "h=05"
    folder.mkdir(parents=True)
    with open(folder / "a.jsonl", "w", encoding="utf-8") as out:
        for row in pa.table(_rows()).to_pylist():
            out.write(json.dumps(row) + "\n")
    pq.write_table(pa.table(_rows(2, 50)), folder / "b.parquet")
    listing = scan_log_files(str(workdir / "t" / "dt={date}" / "h={hour}" / "*.jsonl"), HOUR)
    assert [f.path for f in listing.files] == [f"{folder}/a.jsonl"]
    assert [(f.path, f.reason) for f in listing.ignored] == [(f"{folder}/b.parquet",
                                                              "does not match the logs pattern")]


# --- item 6: JSON lines, one wrongly typed value quarantines its row ------------------------------------------------

def _jsonl(logs: str, lines: list[str]) -> None:
    folder = Path(hour_folder(logs, HOUR))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_json_lines_with_wrongly_typed_values_quarantine_those_rows_only(workdir: Path) -> None:
    good = pa.table(_rows(60)).to_pylist()
    lines = [json.dumps(r) for r in good]
    for i in range(0, 40):  # 40 rows say "many"
        lines[i] = json.dumps({**good[i], "clicks": "many"})
    lines.append('{"unit_id": "u999", "exp_id": "ranker_v2", "clicks": ')  # a truncated line
    lines.append('["not", "an", "object"]')
    logs = str(workdir / "logs")
    _jsonl(logs, lines)
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse)
    assert summary.rows_read == 62 and summary.rows_quarantined == 42
    quarantine = sorted(read_rows(warehouse, "_quarantine").to_pylist(), key=lambda r: r["row_index"])
    assert [r["row_index"] for r in quarantine] == [*range(40), 60, 61]
    assert {r["reason"] for r in quarantine[:40]} == {"clicks is not a number (column type string)"}
    assert quarantine[40]["reason"].startswith("not a JSON object: Expecting value")
    assert "u999" in quarantine[40]["reason"]
    assert quarantine[41]["reason"].startswith("not a JSON object: a JSON list")
    assert json.loads(quarantine[0]["row"])["clicks"] == "many"
    assert _totals(warehouse) == {"n_events": 20, "impressions": 60, "clicks": 20, "revenue": 500}
    assert sum(summary.quarantine_reasons.values()) == 42


def test_json_numbers_mixed_with_text_or_floats_keep_every_digit(workdir: Path) -> None:
    rows = pa.table(_rows(4)).to_pylist()
    rows[0]["impressions"] = 2**53 + 1  # an integer a float would turn into 2**53
    rows[1]["impressions"] = 2.0        # the float that made Arrow read the column as double
    rows[2]["revenue"] = "0.10"         # text: parsed exactly, 10 cents
    rows[3]["revenue"] = 0.3
    logs = str(workdir / "logs")
    _jsonl(logs, [json.dumps(r) for r in rows])
    warehouse = Warehouse.from_url(workdir / "wh")
    (summary,) = run_hour(_config(), HOUR, logs, warehouse)
    assert summary.rows_quarantined == 0
    assert _totals(warehouse) == {"n_events": 4, "impressions": 2**53 + 1 + 2 + 3 + 3, "clicks": 4,
                                  "revenue": 25 + 25 + 10 + 30}
