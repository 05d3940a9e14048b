#!/usr/bin/env bash
# ruff and mypy over the package, tests and scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check rayab tests scripts
.venv/bin/mypy rayab
