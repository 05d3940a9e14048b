"""The Node SDK (``sdk/node``) passes its own tests, which read the same vectors file as the Python ones, and
assigns 100,000 random requests exactly as the Python engine does.

Runs ``node`` directly (Node's built-in test runner; the package has no dependencies, so nothing is installed)
and fails with Node's report when any vector fails; skipped, saying why, where Node 20 or later is not on the
PATH.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rayab.assignment.engine import Assigner
from rayab.assignment.snapshot_json import from_document

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


_SLOW = pytest.mark.skipif(not os.environ.get("RAYAB_SLOW"), reason="100,000 units: set RAYAB_SLOW=1 to run it")


@pytest.mark.parametrize("n", [10_000, pytest.param(100_000, marks=[pytest.mark.slow, _SLOW])])
def test_node_assigns_random_units_exactly_as_the_python_engine(tmp_path: Path, n: int) -> None:
    """Random units, sessions and attributes (every value kind the targeting reads) over the vectors' snapshot
    after a rollout raise: every variant and every reason equal, unit by unit (100,000 units with RAYAB_SLOW=1)."""
    node = _node()
    vectors = json.loads((PACKAGE.parent / "vectors" / "assignment_vectors.json").read_text(encoding="utf-8"))
    document = vectors["snapshots"]["rollout_raised"]
    rng = random.Random(20261201)
    values: dict[str, list[Any]] = {
        "country": ["FR", "DE", "ES", "US", "fr", 7],
        "app_version": ["5.2", "5.10.1", "5.1.9", "6.0.0-beta.1", "v7.0.0-beta.11", 6, "junk"],
        "premium": [True, False, "TRUE", "false", 1],
        "age": [12, 17, 18, 21, 30.5, 64.5, 65.5, "22", " 40 ", "x", "\u0662\u0661", "1_9"],
        "plan": ["free", "trial", "pro"],
        "beta": [True, False, "false", "yes"],
    }
    units = [("ü" if i % 11 == 0 else "") + f"u{rng.getrandbits(40):x}" if i % 50 else "" for i in range(n)]
    sessions = [f"s{rng.getrandbits(32):x}" if i % 3 == 0 or not units[i] else None for i in range(n)]
    attributes = [{k: rng.choice(v) for k, v in values.items() if rng.random() < 0.8} for _ in range(n)]
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps({"unit_ids": units, "session_ids": sessions, "attributes": attributes}))
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(document))
    out = tmp_path / "answers.json"
    result = subprocess.run([node, str(PACKAGE / "bin" / "assign-file.js"), str(snapshot), str(requests), str(out)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(out.read_text())
    rows = Assigner(from_document(document)).assign_batch(units, attributes, session_ids=sessions)
    assert answers["config_version"] == document["config_version"]
    assert answers["exp_ids"] == [a.exp_id for a in rows[0]]
    for i, row in enumerate(rows):
        assert answers["variants"][i] == [a.variant_id for a in row], (units[i], attributes[i])
        assert answers["reasons"][i] == [a.reason for a in row], (units[i], attributes[i])
    reasons = {r for row in answers["reasons"] for r in row}
    assert reasons == {"assigned", "shipped", "missing_id", "not_targeted", "outside_layer_slice", "outside_rollout"}


def test_the_readme_sdk_commands_run_as_written() -> None:
    """The "Assigning in your service" commands, from the repository root (npm test is the test above)."""
    _node()
    repo = PACKAGE.parents[1]
    text = (repo / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Assigning in your service"):text.index("## Running on a cluster")]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [line for line in block.splitlines() if line and "npm " not in line]
    assert len(lines) == 2
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=repo, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ranker_v2: " in result.stdout and "ranker = v" in result.stdout and "batch: " in result.stdout
    document = json.loads((repo / "build" / "snapshot.json").read_text(encoding="utf-8"))
    assert document["format"] == "rayab.assignment-snapshot" and document["experiments"]
