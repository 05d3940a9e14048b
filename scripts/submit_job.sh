#!/usr/bin/env bash
# Submit one hourly run to a Ray cluster with `ray job submit`.
#
#   RAY_ADDRESS=http://127.0.0.1:8265 bash scripts/submit_job.sh --hour 2026-11-24T10 --logs s3://logs/events \
#       --warehouse s3://bucket/rayab
#
# Every argument goes to `rayab run-hour`. Token authentication (Ray 2.59+ turns it on for local clusters): the client
# sends the token only when RAY_AUTH_MODE=token, and reads it from RAY_AUTH_TOKEN, or from the file named by
# RAY_AUTH_TOKEN_PATH, or from ~/.ray/auth_token. The job's `rayab` is the one on the PATH that `ray start` saw.
set -euo pipefail
cd "$(dirname "$0")/.."
RAY_BIN="${RAY_BIN:-.venv/bin/ray}"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
exec "$RAY_BIN" job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" -- rayab run-hour "$@"
