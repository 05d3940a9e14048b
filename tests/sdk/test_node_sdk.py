"""The Node SDK (``sdk/node``) passes its own tests, which read the same vectors file as the Python ones.

Runs ``node --test`` (Node's built-in runner; the package has no dependencies, so nothing is installed) and
fails with Node's report when any vector fails; skipped, saying why, where Node 20 or later is not on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sdk" / "node"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on the PATH: the Node SDK's vectors are not checked here (CI runs them)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"node {version} is older than 20, which the SDK's test runner needs")
    return node


def test_the_node_sdk_passes_every_vector() -> None:
    result = subprocess.run([_node(), "--test", "--test-reporter=tap", "test/"], cwd=PACKAGE, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass " in result.stdout
    passed = int(result.stdout.split("# pass ")[1].split()[0])
    assert passed >= 8, result.stdout[-2000:]
