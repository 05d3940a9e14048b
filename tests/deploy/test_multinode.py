"""The hourly job on several nodes: placement, per-node work, and the same bytes as on one node.

The cluster (a task-less head and three one-CPU workers of ``ray.cluster_utils.Cluster``, with ports of their own)
runs in a subprocess, ``tests/deploy/multinode_check.py``: the test session keeps its own local Ray.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_no_stage_funnels_through_one_node_and_the_result_is_the_one_node_result(workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(REPO / "tests" / "deploy" / "multinode_check.py"), str(workdir)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "OK"
    assert sum(line.startswith("worker ") for line in lines) == 3
