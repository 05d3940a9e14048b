"""Packaging facts: one version, and the package data the wheel must carry."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import rayab

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
