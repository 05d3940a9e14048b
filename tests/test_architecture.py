"""The dependency rules of the package, read from the code's own imports (the README's "Architecture" section).

Each rule fails with the file and the import that breaks it, so a change that crosses a boundary is caught here
rather than in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rayab"

# Lowest first: a package may import only packages listed before it (and itself).
LAYERS = (
    "_lazy", "errors", "model", "stats", "assignment", "storage", "aggregate", "lifecycle", "simulate", "query",
    "guardrails", "api", "runtime", "hourly", "serving", "rpc", "client", "report", "console", "cli",
)
# Third-party packages that only some packages may import.
ONLY_IN = {
    "ray": {"runtime", "hourly", "serving"},
    "grpc": {"rpc"},
    "grpc_health": {"rpc"},
    "grpc_reflection": {"rpc"},
    "google.protobuf": {"rpc"},
    "deltalake": {"storage"},
    "pyiceberg": {"storage"},
}
# Table access goes through rayab.storage, which alone spells table names.
# Crossings still being removed, each "path: what" (none left): the tests fail on any other, and on one of these
# that is gone.
KNOWN: set[str] = set()
TABLE_FUNCTIONS = {"read_rows", "replace_partitions", "append_rows", "partition_bytes", "table_version",
                   "open_table", "list_partition_files"}


def _package(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_generated" in path.parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "rayab":
                for alias in node.names:
                    yield node.lineno, f"rayab.{alias.name}"


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def _unknown(found: list[str]) -> list[str]:
    """The crossings in ``found`` (``path:line: what``) that :data:`KNOWN` does not list."""
    return [f for f in found if _without_line(f) not in KNOWN]


def _without_line(finding: str) -> str:
    where, what = finding.split(": ", 1)
    return f"{where.rsplit(':', 1)[0]}: {what}"


def test_every_package_is_placed() -> None:
    packages = {_package(path) for path, _ in _sources()} - {"__init__"}
    assert packages <= set(LAYERS), f"packages without a layer: {sorted(packages - set(LAYERS))}"


def test_packages_import_only_lower_packages() -> None:
    rank = {package: i for i, package in enumerate(LAYERS)}
    bad = []
    for path, tree in _sources():
        package = _package(path)
        if package == "__init__":
            continue
        for line, module in _imports(tree):
            parts = module.split(".")
            if parts[0] != "rayab" or len(parts) < 2 or parts[1] in {"__version__", package}:
                continue
            target = parts[1]
            if target in rank and rank[target] > rank[package]:
                bad.append(f"{_where(path, line)}: {package} imports {module}")
    assert _unknown(bad) == []


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_library_only_in_its_packages(library: str) -> None:
    bad = []
    for path, tree in _sources():
        package = _package(path)
        for line, module in _imports(tree):
            if (module == library or module.startswith(library + ".")) and package not in ONLY_IN[library]:
                bad.append(f"{_where(path, line)}: {package} imports {module}")
    assert _unknown(bad) == []


def test_only_storage_spells_table_names() -> None:
    bad = []
    for path, tree in _sources():
        if _package(path) == "storage":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in TABLE_FUNCTIONS and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str):
                bad.append(f"{_where(path, node.lineno)}: {name}(..., {node.args[1].value!r})")
    assert _unknown(bad) == []


def _all_findings() -> set[str]:
    found: set[str] = set()
    rank = {package: i for i, package in enumerate(LAYERS)}
    for path, tree in _sources():
        package = _package(path)
        where = str(path.relative_to(ROOT))
        for _, module in _imports(tree):
            parts = module.split(".")
            if parts[0] == "rayab" and len(parts) > 1 and rank.get(parts[1], -1) > rank.get(package, len(LAYERS)):
                found.add(f"{where}: {package} imports {module}")
            for library, packages in ONLY_IN.items():
                if (module == library or module.startswith(library + ".")) and package not in packages:
                    found.add(f"{where}: {package} imports {module}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in TABLE_FUNCTIONS and isinstance(node.args[1].value, str):
                    found.add(f"{where}: {name}(..., {node.args[1].value!r})")
    return found


def test_known_crossings_still_exist() -> None:
    """A crossing that was removed leaves :data:`KNOWN`, so the list only shrinks."""
    assert sorted(KNOWN - _all_findings()) == []


def test_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checks above are not vacuous: an upward import and a table literal are both seen."""
    tree = ast.parse("from rayab.cli.main import main\nread_rows(w, 'assignment')\n")
    assert ("rayab.cli.main" in {m for _, m in _imports(tree)})
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls and isinstance(calls[0].args[1], ast.Constant)
