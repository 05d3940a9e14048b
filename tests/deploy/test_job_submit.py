"""``ray job submit -- rayab run-hour`` against ``ray start --head`` with token authentication on.

The client sends the token only with ``RAY_AUTH_MODE=token`` and reads it from ``RAY_AUTH_TOKEN`` or the file named
by ``RAY_AUTH_TOKEN_PATH`` (default ``~/.ray/auth_token``); a wrong token is refused. The job runs the ``rayab`` on
the PATH that ``ray start`` saw and commits the hour exactly as the in-process job does.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from tests.deploy.ray_head import ray_head
from tests.worlds import assignments_in_hour, make_world, reference_cells

REPO = Path(__file__).resolve().parents[2]


def _submit(env: dict[str, str], address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Submit through scripts/submit_job.sh; while the head's job agent is still starting (slow on a busy machine)
    the server answers "No available agent", so that answer is retried for up to two minutes."""
    deadline = time.monotonic() + 120
    while True:
        done = subprocess.run(["bash", str(REPO / "scripts" / "submit_job.sh"), *args],
                              env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=300)
        if "No available agent" not in done.stdout + done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(3)


@pytest.mark.slow
def test_ray_job_submit_runs_an_hour_on_a_token_protected_head(workdir: Path) -> None:
    world = make_world(workdir / "world", n_units=500, n_hours=1)
    save_config(world.warehouse, world.config)
    hour = world.hours[0]
    job_args = ("--hour", hour, "--logs", world.logs, "--warehouse", world.warehouse.url, "--shards", "2")
    with ray_head() as head:
        client = {k: v for k, v in head.env.items() if k != "RAY_AUTH_TOKEN"}
        token_file = workdir / "token"
        token_file.write_text(head.token)
        os.chmod(token_file, 0o600)

        refused = _submit({**client, "RAY_AUTH_TOKEN": "0" * 32}, head.dashboard, *job_args)
        assert refused.returncode != 0
        assert "token is invalid" in refused.stderr + refused.stdout

        done = _submit({**client, "RAY_AUTH_TOKEN_PATH": str(token_file)}, head.dashboard, *job_args)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"engagement {hour}: 1 files, {world.events[hour].num_rows} rows read" in done.stdout
        assert "succeeded" in done.stdout + done.stderr
    expected = reference_cells(world, world.events[hour], assignments_in_hour(world, hour))
    rows = read_rows(world.warehouse, "agg_engagement").to_pylist()
    assert len(rows) == len(expected)
    for row in rows:
        want = expected[(row["exp_id"], row["variant_id"], row["country"], row["platform"])]
        assert row["clicks"] == want["clicks"]
        np.testing.assert_array_equal(row["clicks_reps"], want["clicks_reps"])
