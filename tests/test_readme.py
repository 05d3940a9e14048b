"""Every `rayab` command of the README's walkthrough runs, as written, in a fresh folder."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from rayab.cli.main import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def _walkthrough_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Walkthrough"):text.index("## Concepts")]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return block.splitlines()  # type: ignore[no-any-return]


def _walkthrough_commands() -> list[str]:
    return [line for line in _walkthrough_block() if line.startswith("rayab ")]


def test_the_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    first_block = lines[lines.index("```bash") + 1:lines.index("```bash") + 3]
    assert first_block[0].startswith("bash scripts/demo.sh")
    assert first_block[1].startswith("bash scripts/test.sh")
    assert "bash scripts/test.sh" in (README.parent / ".ci" / "run").read_text()


def test_every_command_of_the_readme_parses() -> None:
    text = README.read_text(encoding="utf-8")
    commands = [line.strip() for line in re.findall(r"^\s*(rayab [^\n]+)$", text, flags=re.M)]
    commands += re.findall(r" -- (rayab [^\n]+)$", text, flags=re.M)  # what `ray job submit` runs
    assert len(commands) >= 10
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])  # raises SystemExit on an unknown flag


def test_the_walkthrough_puts_rayab_on_the_path_first() -> None:
    # after `bash scripts/demo.sh` only .venv/bin/rayab exists: the walkthrough must activate .venv before `rayab`
    steps = [line for line in _walkthrough_block() if line and not line.startswith("#")]
    assert steps[0] == "source .venv/bin/activate"
    assert all(line.startswith("rayab ") for line in steps[1:])
    # the first demo already filled ./rayab-warehouse: the second one must say it replaces it
    assert steps[1].startswith("rayab demo") and "--overwrite" in shlex.split(steps[1])
    demo_sh = (README.parent / "scripts" / "demo.sh").read_text()
    assert ".venv/bin/rayab demo" in demo_sh and "bash scripts/install.sh" in demo_sh


def _hours_in(warehouse: Path, table: str) -> set[str]:
    from rayab.storage.tables import read_rows
    from rayab.storage.warehouse import Warehouse

    rows = read_rows(Warehouse.from_url(warehouse), table)
    return set(rows.column("hour").to_pylist()) if rows.num_rows else set()


@pytest.mark.usefixtures("ray_local")
def test_the_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    # what `bash scripts/demo.sh` leaves behind, smaller: a longer simulation in the same default folders
    assert main(["demo", "--units", "3000", "--hours", "8", "--no-progress"]) == 0
    capsys.readouterr()
    commands = _walkthrough_commands()
    assert commands[0].startswith("rayab demo")
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "demo":
            argv.append("--no-progress")
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, f"{command}\n{out.out[-2000:]}\n{out.err[-2000:]}"
    assert (tmp_path / "report.html").stat().st_size > 10_000
    # one warehouse, holding the walkthrough's 6 hours only: nothing of the first demo's hours 06-07 is left
    hours = {f"2026-11-23T{h:02d}" for h in range(6)}
    assert _hours_in(tmp_path / "rayab-warehouse", "agg_engagement") == hours
    assert {p.name for p in (tmp_path / "rayab-logs" / "date=2026-11-23").iterdir()} == \
        {f"hour={h:02d}" for h in range(6)}


@pytest.mark.slow
def test_the_walkthrough_block_runs_in_bash_in_a_fresh_copy(tmp_path: Path) -> None:
    """The block exactly as the README shows it, in bash, in a fresh copy of the tracked files.

    The copy's ``.venv`` is this checkout's (a link: the copy's code is the same), and the first demo is
    ``scripts/demo.sh``'s command at a smaller size, so the test does not reinstall the environment it runs in.
    """
    root = README.parent
    if not (root / ".venv" / "bin" / "rayab").exists():
        pytest.skip("needs the .venv that scripts/install.sh creates")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    clone = tmp_path / "clone"
    for name in filter(None, files.decode().split("\0")):
        if (root / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, clone / name)
    (clone / ".venv").symlink_to(root / ".venv")
    first = ".venv/bin/rayab demo --units 3000 --hours 8 --no-progress"
    script = "set -euo pipefail\n" + first + "\n" + "\n".join(_walkthrough_block()) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no rayab on it: the block must activate .venv itself
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + "\n---\n" + done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    assert (clone / "report.html").stat().st_size > 10_000
    assert _hours_in(clone / "rayab-warehouse", "agg_engagement") == {f"2026-11-23T{h:02d}" for h in range(6)}
