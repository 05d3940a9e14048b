#!/usr/bin/env bash
# The hourly schedule around `ray job submit`: run the hour that just ended, then backfill the last day's late hours.
#
#   crontab:   15 * * * *  RAY_ADDRESS=http://ray-head:8265 /opt/rayab/deploy/schedule/hourly.sh >> /var/log/rayab.log 2>&1
#
# `rayab backfill` compares each hour's input listing (paths and sizes) with its manifest and re-runs only the hours
# that were never completed or whose files changed, so running it every hour costs a listing when nothing is late.
# LOGS, WAREHOUSE and LOOKBACK_HOURS (default 24) come from the environment; HOUR overrides the hour (YYYY-MM-DDTHH).
# DRY_RUN=1 prints the two commands instead of submitting them.
set -euo pipefail
LOGS="${LOGS:-s3://logs/events}"
WAREHOUSE="${WAREHOUSE:-s3://warehouse/rayab}"
LOOKBACK_HOURS="${LOOKBACK_HOURS:-24}"
HOUR="${HOUR:-$(date -u -d '1 hour ago' +%Y-%m-%dT%H)}"
FROM="$(date -u -d "${HOUR/T/ }:00 ${LOOKBACK_HOURS} hours ago" +%Y-%m-%dT%H)"
SUBMIT=(ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --)
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '%s\n' "$*"; else "$@"; fi
}
# exit code 5 (no input yet) is not a failure of the schedule: the backfill picks the hour up when its logs arrive
run "${SUBMIT[@]}" rayab run-hour --hour "$HOUR" --logs "$LOGS" --warehouse "$WAREHOUSE" || [[ $? == 5 ]]
run "${SUBMIT[@]}" rayab backfill --start "$FROM" --end "$HOUR" --logs "$LOGS" --warehouse "$WAREHOUSE"
