"""Packaging facts: one version, the package data the wheel must carry, and the extras: a light core without the
cluster stack, Ray declared loosely and installed at the pinned version."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import rayab
from rayab.cli.extras import EXTRA_OF_MODULE

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("rayab") == rayab.__version__


def test_every_package_data_glob_matches_a_file() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    for package, globs in setuptools["package-data"].items():
        base = ROOT / package.replace(".", "/")
        for glob in globs:
            assert list(base.glob(glob)), f"package data {package}: {glob} matches nothing"


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def _names(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def test_the_base_install_is_the_light_core_and_each_optional_module_has_its_extra() -> None:
    project = _project()
    base = _names(project["dependencies"])
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    assert set(extras) >= {"cluster", "sql", "report", "console", "dev"}
    for module, (extra, distribution) in EXTRA_OF_MODULE.items():
        assert canonicalize_name(distribution) in extras[extra], f"{module}: {distribution} is not in [{extra}]"
        assert canonicalize_name(distribution) not in base, f"{distribution} is in the base install"
    # a gRPC client and an analyst need these, nothing of the cluster stack
    assert {"grpcio", "protobuf", "pyarrow", "numpy", "deltalake", "scipy", "sqlglot"} <= set(base)


def test_dev_installs_every_extra_but_the_benchmarks() -> None:
    dev = [Requirement(r) for r in _project()["optional-dependencies"]["dev"]]
    itself = [r for r in dev if r.name == "rayab"]
    assert len(itself) == 1 and itself[0].extras == {"cluster", "sql", "report", "console", "iceberg"}


def test_ray_is_declared_loosely_and_ci_installs_the_pinned_version() -> None:
    ray = _names(_project()["optional-dependencies"]["cluster"])["ray"]
    assert ray.extras == {"default"} and str(ray.specifier) == "<3,>=2.60"
    pins = [Requirement(line) for line in (ROOT / "scripts" / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    (pin,) = [p for p in pins if p.name == "ray"]
    (version,) = [s.version for s in pin.specifier if s.operator == "=="]
    assert version in ray.specifier  # the tested version lies inside the declared range
    assert importlib.metadata.version("ray") == version  # and it is the one this environment (CI's) runs
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert '-e ".[dev]" -c scripts/constraints.txt' in install
    assert "bash scripts/install.sh" in (ROOT / ".ci" / "run").read_text()


_WITHOUT_EXTRAS = """
import sys
for module in {modules!r}:
    sys.modules[module] = None  # as if the extra were not installed: importing it raises ModuleNotFoundError
{body}
"""


def _without_extras(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = _WITHOUT_EXTRAS.format(modules=sorted(EXTRA_OF_MODULE), body=body)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_the_python_api_and_the_grpc_clients_import_without_any_extra() -> None:
    done = _without_extras("import rayab.api.workspace, rayab.api.engine, rayab.rpc.client, rayab.query.results, "
                           "rayab.query.sql, rayab.guardrails.health, rayab.cli.main; print('ok')")
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


@pytest.mark.parametrize(("argv", "extra", "module"), [
    (["backfill", "--start", "2026-11-23T00", "--end", "2026-11-23T01", "--logs", "nowhere"], "cluster", "ray"),
    (["serve", "--warehouse", "nowhere"], "cluster", "grpc_health"),  # the server's health service comes first
])
def test_a_command_that_needs_a_missing_extra_says_which_in_one_line(argv: list[str], extra: str,
                                                                     module: str, tmp_path: Path) -> None:
    done = _without_extras("from rayab.cli.main import main\nsys.exit(main(sys.argv[1:]))", *argv)
    assert done.returncode == 1
    line = f"rayab: needs the '{extra}' extra ({module} is not installed): pip install 'rayab[{extra}]'\n"
    assert done.stderr == line
