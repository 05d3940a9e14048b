"""An Airflow DAG for rayab's hourly job: one run per hour through ``ray job submit``, then a backfill of late hours.

Copy into the DAG folder; ``RAY_ADDRESS``, ``RAYAB_LOGS`` and ``RAYAB_WAREHOUSE`` are Airflow Variables. The run for
the interval ending at ``data_interval_end`` aggregates the hour that starts at ``data_interval_start``; ``catchup``
replays missed intervals after an outage, and the backfill task re-runs the hours of the last day whose input files
changed (``rayab backfill`` compares listings with manifests, so it re-runs nothing when nothing is late). Exit code 5
(the hour has no input yet) marks the run as skipped, not failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

SUBMIT = "ray job submit --address {{ var.value.RAY_ADDRESS }} -- "
PATHS = "--logs {{ var.value.RAYAB_LOGS }} --warehouse {{ var.value.RAYAB_WAREHOUSE }}"
HOUR = "{{ data_interval_start.strftime('%Y-%m-%dT%H') }}"
LOOKBACK = "{{ (data_interval_start - macros.timedelta(hours=24)).strftime('%Y-%m-%dT%H') }}"

with DAG(
    dag_id="rayab_hourly",
    schedule="15 * * * *",
    start_date=datetime(2026, 11, 1),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:
    run_hour = BashOperator(
        task_id="run_hour",
        bash_command=f"{SUBMIT}rayab run-hour --hour {HOUR} {PATHS}",
        skip_on_exit_code=5,
        env={"RAY_AUTH_MODE": "token"},
        append_env=True,
    )
    backfill = BashOperator(
        task_id="backfill_late_hours",
        bash_command=f"{SUBMIT}rayab backfill --start {LOOKBACK} --end {HOUR} {PATHS}",
        trigger_rule="all_done",
        env={"RAY_AUTH_MODE": "token"},
        append_env=True,
    )
    run_hour >> backfill
