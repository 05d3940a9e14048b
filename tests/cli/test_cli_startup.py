"""The command starts fast: only the chosen subcommand's module is imported, and the table of commands that
``rayab --help`` prints without importing them says what each module registers."""

from __future__ import annotations

import argparse
import importlib
import resource
import subprocess
import sys

import pytest

from rayab.cli.main import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_matches_what_each_module_registers(name: str) -> None:
    module, help_text = COMMANDS[name]
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub)
    registered = {action.dest: action.help for action in sub._choices_actions}
    assert registered.get(name) == help_text, f"{module} registers {registered}"


def _imported_by(args: list[str]) -> set[str]:
    code = ("import sys\nfrom rayab.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    return set(done.stderr.strip().splitlines()[-1].split())


def test_help_imports_no_subcommand_and_no_heavy_library() -> None:
    modules = _imported_by(["--help"])
    assert not {m for m in modules if m.startswith("rayab.cli.") and m not in {"rayab.cli", "rayab.cli.main"}}
    assert not modules & {"ray", "numpy", "pyarrow", "scipy", "numba", "grpc", "deltalake", "duckdb"}


def test_a_subcommand_imports_only_its_own_module() -> None:
    modules = _imported_by(["sql", "--help"])
    cli_modules = {m for m in modules if m.startswith("rayab.cli.")}
    assert "rayab.cli.sql" in cli_modules and "rayab.cli.serve" not in cli_modules
    assert "ray" not in modules and "grpc" not in modules
    # generating SQL reads no table: the Delta reader, engines and the statistics stack stay unloaded
    assert not modules & {"deltalake", "duckdb", "numba", "scipy", "rayab.storage.commits"}


def test_help_runs_in_well_under_a_second_of_cpu() -> None:
    # CPU time, not wall time: the machine may be loaded; the target (under 1 s on a quiet machine) is measured
    # by scripts/bench_startup.py, this only guards against a heavy import creeping back in
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "rayab.cli.main", "--help"], capture_output=True, check=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert 0 < cpu < 1.0
