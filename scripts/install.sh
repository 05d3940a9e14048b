#!/usr/bin/env bash
# Create .venv (if missing) and install rayab with its development extras into it, at the versions CI tests
# (scripts/constraints.txt pins Ray inside the range pyproject.toml declares).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]" -c scripts/constraints.txt
# compile the hourly job's numba kernels into their cache now, not in the first hour's tasks
.venv/bin/python -m rayab.aggregate.warm
