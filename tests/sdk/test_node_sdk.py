"""The Node SDK (``sdk/node``) passes its own tests, which read the same vectors file as the Python ones, and
assigns 100,000 random requests exactly as the Python engine does, and follows a live server's WatchConfig (when the
optional @grpc/grpc-js is installed, as `npm ci` does).

Runs ``node`` directly (Node's built-in test runner; the evaluator has no dependencies, so nothing is installed)
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
from tests.rpc.reference import HALF, expected_variant

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
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    # every line but the server (it runs until stopped), the benchmark (minutes) and npm (the test above)
    skipped = ("npm ", "rayab serve", "bench_sdk.py")
    lines = [line for block in blocks for line in block.splitlines()
             if line and not any(word in line for word in skipped)]
    assert len(lines) == 4, lines
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=repo, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("ranker_v2: ") == 2 and result.stdout.count("ranker = v") == 2  # Python and Node
    assert "batch: " in result.stdout and "config version" in result.stdout
    document = json.loads((repo / "build" / "snapshot.json").read_text(encoding="utf-8"))
    assert document["format"] == "rayab.assignment-snapshot" and document["experiments"]


def test_node_follows_watch_config_and_assigns_as_the_server(tmp_path: Path, workdir: Path) -> None:
    """The Node SDK on a live server's WatchConfig stream (``@rayab/sdk/watch``, needing the optional
    @grpc/grpc-js): it receives the snapshot, then a rollout raise committed while it waits, assigns random
    requests exactly as the Python engine does at that version, and the exposures it logs (every third unit's)
    reach the server's assignment log, exactly those."""
    node = _node()
    if not (PACKAGE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("@grpc/grpc-js is not installed in sdk/node (npm ci installs it): WatchConfig is not checked here")
    from rayab.rpc._generated import experiments_pb2 as epb
    from rayab.rpc.server import ServerSettings
    from tests.rpc.servers import TOKEN, ServerThread, metadata, spec

    server = ServerThread(workdir / "wh", ServerSettings(admin_token=TOKEN, sdk_key="node-key"))
    try:
        targeted = spec("ramp", rollout_pct=10, targeting={"attr": "country", "in": ["FR", "DE"]},
                        layer="home", layer_pct=[0, 60])
        server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(targeted)),
                                      metadata=metadata())
        rng = random.Random(7)
        units = [f"u{rng.getrandbits(40):x}" for _ in range(3_000)]
        attributes = [{"country": rng.choice(["FR", "DE", "US"])} for _ in units]
        requests = tmp_path / "requests.json"
        requests.write_text(json.dumps({"unit_ids": units, "attributes": attributes}))
        out = tmp_path / "answers.json"
        process = subprocess.Popen([node, str(PACKAGE / "bin" / "watch-assign.js"), f"127.0.0.1:{server.port}",
                                    "node-key", str(requests), "2", str(out), "3"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None
        assert "config version 1" in process.stdout.readline()  # it follows the stream: now raise the rollout
        server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=70), metadata=metadata())
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-2000:]
        answers = json.loads(out.read_text())
        assert answers["config_version"] == 2
        rows = Assigner(server.holder.current.assigner.snapshot).assign_batch(units, attributes)
        assert answers["variants"] == [[a.variant_id for a in row] for row in rows]
        assert answers["reasons"] == [[a.reason for a in row] for row in rows]
        assert {r for row in answers["reasons"] for r in row} == {"assigned", "not_targeted", "outside_layer_slice",
                                                                  "outside_rollout"}
        exposed = sorted((a.exp_id, units[i], a.variant_id) for i, row in enumerate(rows) if i % 3 == 0
                         for a in row if a.in_experiment)
        logged = sorted((e, u, v) for e, u, v, _ in server.recorder.drain())
        assert logged == exposed and answers["exposures_sent"] == len(exposed) > 50
        assert answers["exposures_dropped"] == 0
    finally:
        server.close()


@pytest.mark.parametrize("mode", ["on_use", "never"])
def test_node_logs_exposures_on_use_in_the_background_or_never(tmp_path: Path, workdir: Path, mode: str) -> None:
    """Node reading a parameter through its watch handle: in ``on_use`` mode the experiment that served it is
    logged once per unit (a second read adds nothing) and the background flusher delivers those exposures to the
    server before close; in ``never`` mode nothing is sent, even when asked explicitly, and those requests are
    counted."""
    node = _node()
    if not (PACKAGE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("@grpc/grpc-js is not installed in sdk/node (npm ci installs it): WatchConfig is not checked here")
    from rayab.rpc._generated import experiments_pb2 as epb
    from rayab.rpc.server import ServerSettings
    from tests.rpc.servers import TOKEN, ServerThread, metadata, spec

    server = ServerThread(workdir / "wh", ServerSettings(admin_token=TOKEN, sdk_key="node-key"))
    try:
        server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp", rollout_pct=40))),
                                      metadata=metadata())
        units = [f"user-{i}" for i in range(600)]
        requests = tmp_path / "requests.json"
        requests.write_text(json.dumps({"unit_ids": units}))
        out = tmp_path / "answers.json"
        done = subprocess.run([node, str(PACKAGE / "bin" / "watch-assign.js"), f"127.0.0.1:{server.port}", "node-key",
                               str(requests), "1", str(out), "2", mode, "ranker"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        answers = json.loads(out.read_text())
        read = units[::2]
        expected = {u: expected_variant("ramp", u, HALF, 40) for u in read}
        ranker = {"control": "v1", "treatment": "v2", None: None}
        assert answers["parameters"] == [ranker[expected[u]] for u in read]
        exposed = sorted(("ramp", u, v) for u, v in expected.items() if v is not None)
        assert 80 < len(exposed) < 160
        logged = sorted((e, u, v) for e, u, v, _ in server.recorder.drain())
        if mode == "on_use":
            assert logged == exposed
            assert answers["exposures_logged"] == answers["sent_before_close"] == len(exposed)  # the flusher's
        else:
            assert logged == [] and answers["exposures_sent"] == answers["exposures_logged"] == 0
            assert answers["exposures_skipped"] == len(exposed)  # the explicit requests of measured units
    finally:
        server.close()
