"""One server actor per node on a real 2-node Ray cluster (run in its own process: a test must not start a
second Ray in the pytest process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.rpc.reference import HALF, expected_variant

ROOT = Path(__file__).resolve().parents[2]


def test_one_server_per_node(workdir):
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "serving" / "multinode_serve.py"),
                           str(workdir / "wh")], capture_output=True, text=True, timeout=240, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["cluster_nodes"] == summary["servers"] == 2
    assert len(set(summary["nodes"])) == 2  # pinned one per node
    assert summary["answers"] == [expected_variant("mn_test", "alice", HALF, 100)] * 2
