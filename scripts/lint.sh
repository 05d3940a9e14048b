#!/usr/bin/env bash
# ruff and mypy over the package, tests and scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check rayab tests scripts
.venv/bin/mypy  # the package, tests and scripts: see [tool.mypy] files in pyproject.toml
