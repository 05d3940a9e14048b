"""User errors end with their documented exit code and one line naming the field, never a traceback.

Each case runs ``rayab`` as a real subprocess (what a shell or a scheduler sees); none of them needs Ray.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rayab.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "engagement.yaml"
WINDOW = ["--exp", "ranker_v2", "--start", "2026-11-23T00", "--end", "2026-11-23T03"]


def _rayab(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rayab.cli.main", *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(("argv", "code", "field"), [
    # a --config file that does not exist: not found (3), the message names --config and the path
    (["results", *WINDOW, "--config", "missing.yaml"], 3, "--config 'missing.yaml'"),
    pytest.param(["health", *WINDOW, "--config", "missing.yaml"], 3, "--config 'missing.yaml'",
                 marks=pytest.mark.slow),
    # another suffix used to be parsed as YAML text: invalid input (2)
    (["power", *WINDOW, "--config", "experiments.txt", "--mde", "0.05"], 2, "--config == 'experiments.txt'"),
    # an unbalanced quote in --where used to escape as a sqlglot TokenError traceback
    (["results", *WINDOW, "--config", str(CONFIG), "--where", "country = 'US"], 2, "filter == \"country = 'US\""),
    pytest.param(["sql", *WINDOW, "--config", str(CONFIG), "--metric", "ctr", "--where", "platform IN ('ios'"], 2,
                 "filter == \"platform IN ('ios'\"", marks=pytest.mark.slow),
])
def test_user_errors_exit_with_their_code_and_one_line(tmp_path: Path, argv: list[str], code: int,
                                                        field: str) -> None:
    done = _rayab(tmp_path, *argv)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rayab: ") and field in lines[0], lines[0]


def test_a_folder_as_config_and_a_file_as_warehouse_end_in_one_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # a folder where a --config file is expected, a file where the warehouse folder should be: one line each
    (tmp_path / "dir.yaml").mkdir()
    assert main(["results", *WINDOW, "--config", str(tmp_path / "dir.yaml")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config" in err
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    assert main(["results", *WINDOW, "--config", str(CONFIG), "--warehouse", str(blocked / "wh")]) in (3, 4)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rayab: ")
