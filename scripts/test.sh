#!/usr/bin/env bash
# Install, then run the test suite and the doctests. Extra arguments go to pytest (e.g. -m slow, -k name).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export RAY_DEDUP_LOGS=0
set +e
.venv/bin/python -m pytest tests rayab --doctest-modules --ignore=rayab/rpc/_generated "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit $status
