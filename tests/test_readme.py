"""Every `rayab` command of the README's walkthrough runs, as written, in a fresh folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rayab.cli.main import build_parser, main

pytestmark = pytest.mark.usefixtures("ray_local")

README = Path(__file__).resolve().parents[1] / "README.md"


def _walkthrough_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Walkthrough"):text.index("## Concepts")]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.startswith("rayab ")]


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


def test_the_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
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
    assert (tmp_path / "rayab-warehouse" / "agg_engagement").is_dir()
