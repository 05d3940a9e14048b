"""A worker node killed mid-job: the hour still completes, with output identical to a clean run.

The cluster runs in a subprocess (``tests/deploy/node_death_check.py``): the test session keeps its own local Ray.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_killing_the_worker_node_mid_job_gives_the_clean_result(workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(REPO / "tests" / "deploy" / "node_death_check.py"), str(workdir)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.strip().endswith("OK")
    assert "read+validate+collapse" in done.stdout
