"""The Python SDK (rayab.client) against a real server on loopback: it imports no Ray, pyarrow or numba; it assigns
exactly as the server does (the shared vectors, then random units over experiments with targeting, layers,
sessions and GrowthBook mode); it follows WatchConfig through a rollout raise and a server restart; and it logs
exactly the exposures it was told to, bounded and counted."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rayab.assignment.snapshot_json import from_document
from rayab.client import Client
from rayab.errors import NotFoundError, PreconditionError, StorageError, ValidationError
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc.server import ServerSettings
from tests.rpc.reference import HALF, expected_variant
from tests.rpc.servers import TOKEN, ServerThread, metadata, spec

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "sdk" / "vectors" / "assignment_vectors.json").read_text(encoding="utf-8"))
SDK_KEY = "test-sdk-key"
REASONS = {apb.REASON_ASSIGNED: "assigned", apb.REASON_SHIPPED: "shipped", apb.REASON_MISSING_ID: "missing_id",
           apb.REASON_NOT_TARGETED: "not_targeted", apb.REASON_OUTSIDE_LAYER_SLICE: "outside_layer_slice",
           apb.REASON_OUTSIDE_ROLLOUT: "outside_rollout"}


def _settings(**fields: Any) -> ServerSettings:
    return ServerSettings(**{"admin_token": TOKEN, "sdk_key": SDK_KEY, "watch_heartbeat_s": 0.5, **fields})


@pytest.fixture()
def server(workdir):
    server = ServerThread(workdir / "wh", _settings())
    server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp", rollout_pct=10))),
                                  metadata=metadata())
    yield server
    server.close()


def _vectors_server(workdir: Path, snapshot: str = "base", version: int = 5) -> ServerThread:
    """A server answering from one of the vectors' snapshots (targeting, layers, sessions, GrowthBook mode)."""
    server = ServerThread(workdir / "wh", _settings())
    document = {**VECTORS["snapshots"][snapshot], "config_version": version}
    assert server.holder.install(from_document(document))
    return server


def test_importing_and_using_the_sdk_loads_no_ray_pyarrow_numba_or_grpc():
    code = """
import json, sys
from rayab.client import Client
document = json.load(open(sys.argv[1]))["snapshots"]["base"]
client = Client.from_snapshot(document, exposures="never")
client.assign("alice", {"country": "FR", "app_version": "5.10"})
client.assign_batch(["a", "b"])
client.assign_column("checkout", ["a", "b"])
client.get_parameter("alice", {}, "ranker", "v1")
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "sdk/vectors/assignment_vectors.json")],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=120).stdout
    loaded = set(json.loads(out))
    assert "rayab" in loaded and "numpy" in loaded
    assert loaded.isdisjoint({"ray", "pyarrow", "numba", "grpc", "google", "deltalake", "scipy", "duckdb"})


def test_the_client_passes_every_vector_case_with_merged_parameters():
    clients = {name: Client.from_snapshot(document, exposures="never")
               for name, document in VECTORS["snapshots"].items()}
    for case in VECTORS["cases"]:
        client = clients[case["snapshot"]]
        decision = client.assign(case["unit_id"], case["attributes"], case["exp_ids"], case["session_id"])
        got = [{"exp_id": a.exp_id, "variant_id": a.variant_id, "parameters": dict(a.parameters),
                "in_experiment": a.in_experiment, "reason": a.reason} for a in decision.assignments]
        assert got == case["assignments"], case
        assert decision.parameters == case["parameters"]
        for name, value in case["parameters"].items():
            assert client.get_parameter(case["unit_id"], case["attributes"], name, "default",
                                        case["session_id"]) == value if case["exp_ids"] is None else True
    for error in VECTORS["errors"]:
        kind = {"invalid_argument": ValidationError, "failed_precondition": PreconditionError,
                "not_found": NotFoundError}[error["error"]]
        with pytest.raises(kind) as info:
            clients[error["snapshot"]].assign(error["unit_id"], error["attributes"], error["exp_ids"],
                                              error["session_id"])
        if error.get("field"):
            assert getattr(info.value, "field", "").startswith(error["field"]), error


def _random_requests(n: int, seed: int) -> tuple[list[str], list[str | None], list[dict[str, Any]]]:
    rng = random.Random(seed)
    values: dict[str, list[Any]] = {
        "country": ["FR", "DE", "ES", "US", 7], "app_version": ["5.2", "5.10.1", "5.1.9", "6.0.0", 6],
        "age": [15, 17, 18, 31, 64.5], "premium": [True, False], "platform": ["ios", "android", "web"]}
    units = [f"u{rng.getrandbits(48):x}" if rng.random() > 0.02 else "" for _ in range(n)]
    sessions = [f"s{rng.getrandbits(32):x}" if rng.random() > 0.3 or not u else None for u in units]
    attributes = [{k: rng.choice(v) for k, v in values.items() if rng.random() < 0.7} for _ in range(n)]
    return units, sessions, attributes


@pytest.mark.parametrize("n", [10_000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_the_sdk_assigns_exactly_as_the_server(workdir, n):
    """Random units (some only a session), sessions and attributes over the vectors' snapshot after a rollout
    raise (targeting, layers, session and hybrid consistency, GrowthBook mode, a shipped experiment): the SDK,
    following WatchConfig, and the server's BatchAssign give every unit the same variant and reason."""
    server = _vectors_server(workdir, "rollout_raised")
    try:
        with Client(f"127.0.0.1:{server.port}", SDK_KEY, exposures="never") as client:
            assert client.config_version == 5
            units, sessions, attributes = _random_requests(n, 20261201)
            mismatches, compared = 0, 0
            for start in range(0, n, 5_000):
                stop = start + 5_000
                request = apb.BatchAssignRequest(unit_ids=units[start:stop],
                                                 session_ids=[s or "" for s in sessions[start:stop]],
                                                 log_exposure=False)
                for a in attributes[start:stop]:
                    entry = request.attributes.add()
                    for name, value in a.items():
                        field = {str: "string_value", bool: "bool_value", int: "int_value",
                                 float: "double_value"}[type(value)]
                        setattr(entry.values[name], field, value)
                reply = server.stub.BatchAssign(request)
                assert reply.config_version == 5
                decisions = client.assign_batch(units[start:stop], attributes[start:stop], None,
                                                sessions[start:stop])
                for column in reply.experiments:
                    names = [v.variant_id for v in column.variants]
                    for i, (index, reason) in enumerate(zip(column.variant_index, column.reasons, strict=True)):
                        mine = next(a for a in decisions[i].assignments if a.exp_id == column.exp_id)
                        compared += 1
                        mismatches += (mine.variant_id != (names[index] if index >= 0 else None)
                                       or mine.reason != REASONS[reason])
            assert compared == n * len(reply.experiments) and mismatches == 0
            # the per-unit and columnar forms agree with the batch on the layered, targeted experiments
            for exp_id in ("home_b", "home_c", "checkout"):
                ids = [u for u in units[:2_000] if u]
                column, variants = client.assign_column(exp_id, ids, {"country": "FR", "app_version": "5.10.1"})
                singles = [client.assign(u, {"country": "FR", "app_version": "5.10.1"}, [exp_id]).assignments[0]
                           for u in ids]
                assert [variants[i] if i >= 0 else None for i in column.tolist()] == [a.variant_id for a in singles]
    finally:
        server.close()


def test_the_column_form_matches_the_independent_reference(server):
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=40), metadata=metadata())
    with Client(f"127.0.0.1:{server.port}", SDK_KEY, exposures="never") as client:
        assert client.wait_for_version(2, 10)
        units = [f"user-{i}" for i in range(20_000)]
        column, variants = client.assign_column("ramp", units)
        got = [variants[i] if i >= 0 else None for i in column.tolist()]
        assert got == [expected_variant("ramp", u, HALF, 40) for u in units]
        assert 0.37 < sum(g is not None for g in got) / len(got) < 0.43


def test_a_rollout_raise_reaches_the_sdk_and_only_adds_units(server):
    with Client(f"127.0.0.1:{server.port}", SDK_KEY, exposures="never") as client:
        units = [f"user-{i}" for i in range(5_000)]
        before = {u: client.assign(u).variant("ramp") for u in units}
        started = time.monotonic()
        reply = server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=50),
                                              metadata=metadata())
        assert client.wait_for_version(reply.config_version, 10)
        elapsed = time.monotonic() - started
        after = {u: client.assign(u).variant("ramp") for u in units}
        assert elapsed < 2.0, elapsed  # scripts/bench_sdk.py measures the distribution; 2 s is a loaded machine's
        assert all(after[u] == v for u, v in before.items() if v is not None)  # nobody changed variant
        assert sum(v is not None for v in after.values()) > 2 * sum(v is not None for v in before.values())
        assert after == {u: expected_variant("ramp", u, HALF, 50) for u in units}


def test_a_broken_stream_keeps_the_last_snapshot_and_resumes(workdir):
    server = ServerThread(workdir / "wh", _settings())
    server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp", rollout_pct=10))),
                                  metadata=metadata())
    port = server.port
    client = Client(f"127.0.0.1:{port}", SDK_KEY, exposures="never")
    try:
        assert client.config_version == 1
        server.close()
        time.sleep(0.5)
        assert client.assign("user-1").variant("ramp") == expected_variant("ramp", "user-1", HALF, 10)
        assert client.stats()["stream_breaks"] >= 1 and not client.stats()["stream_connected"]
        # a new server on the same address, with two more versions committed meanwhile (wait_for_ready: this
        # process's channels to the address share one connection, in reconnect backoff until it is back)
        server = ServerThread(workdir / "wh", _settings(port=port))
        for rollout in (30, 70):
            server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=rollout),
                                          metadata=metadata(), wait_for_ready=True, timeout=20)
        assert client.wait_for_version(3, 15), client.stats()
        assert client.assign("user-1").variant("ramp") == expected_variant("ramp", "user-1", HALF, 70)
    finally:
        client.close()
        server.close()


def test_a_client_without_a_valid_key_gets_a_clear_error(server):
    with pytest.raises(PreconditionError, match="UNAUTHENTICATED"):
        Client(f"127.0.0.1:{server.port}", "wrong", wait_s=1.5)
    with pytest.raises(ValidationError, match="sdk_key"):
        Client(f"127.0.0.1:{server.port}", None)
    with pytest.raises(ValidationError, match="exposures"):
        Client.from_snapshot(VECTORS["snapshots"]["base"], exposures="sometimes")


# -- exposures --------------------------------------------------------------------------------------------------


def _file_rows(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    return [(r["exp_id"], r["unit_id"], r["variant_id"]) for r in map(json.loads, path.read_text().splitlines())]


def _ramp_snapshot(rollout: float = 100) -> dict[str, Any]:
    from rayab.assignment import ConfigSnapshot
    from rayab.assignment.snapshot_json import to_document
    from rayab.model.experiment import Experiment

    experiments = (Experiment.from_dict(spec("ramp", rollout_pct=rollout)),
                   Experiment.from_dict(spec("other", variants=[
                       {"variant_id": "a", "traffic_pct": 50, "parameters": {"color": "red"}},
                       {"variant_id": "b", "traffic_pct": 50, "parameters": {"color": "blue"}}])))
    return to_document(ConfigSnapshot(1, experiments))


def test_on_use_logs_an_experiment_when_its_answer_is_used_once(tmp_path):
    path = tmp_path / "exposures.jsonl"
    with Client.from_snapshot(_ramp_snapshot(), exposure_file=str(path)) as client:
        decision = client.assign("alice")
        assert decision.parameters["ranker"] in ("v1", "v2")  # the raw answer: no exposure
        client.flush()
        assert _file_rows(path) == []
        ranker = decision.get("ranker")
        decision.get("ranker")
        client.get_parameter("alice", None, "ranker")  # same unit and experiment: deduplicated
        client.get_parameter("bob", None, "color")  # only the experiment serving "color"
        assert client.get_parameter("carol", None, "nothing", 7) == 7  # no experiment: nothing logged
        client.flush()
        variant = {"v1": "control", "v2": "treatment"}[ranker]
        assert _file_rows(path) == [("ramp", "alice", variant),
                                    ("other", "bob", client.assign("bob").assignments[1].variant_id or "")]
    assert client.stats()["exposures_sent"] == 2


def test_explicit_and_never_modes(tmp_path):
    path = tmp_path / "explicit.jsonl"
    with Client.from_snapshot(_ramp_snapshot(), exposures="explicit", exposure_file=str(path)) as client:
        decision = client.assign("alice")
        decision.get("ranker"), decision.variant("other")
        assert decision.log_exposure("other") == 1
        assert decision.log_exposure() == 1  # ramp now; other is a duplicate
        column, variants = client.assign_column("ramp", ["u1", "u2"])
        assert client.log_exposures("ramp", ["u1", "u2"], [variants[i] for i in column.tolist()]) == 2
    assert sorted(u for _, u, _ in _file_rows(path)) == ["alice", "alice", "u1", "u2"]
    path = tmp_path / "never.jsonl"
    with Client.from_snapshot(_ramp_snapshot(), exposures="never", exposure_file=str(path)) as client:
        decision = client.assign("alice")
        decision.get("ranker"), decision.log_exposure()
    assert not path.exists() and client.stats()["exposures_skipped"] == 2


def test_units_outside_the_rollout_are_not_exposures(tmp_path):
    path = tmp_path / "exposures.jsonl"
    with Client.from_snapshot(_ramp_snapshot(rollout=10), exposure_file=str(path)) as client:
        units = [f"user-{i}" for i in range(500)]
        for unit in units:
            client.assign(unit, exp_ids=["ramp"]).get("ranker")
    expected = [("ramp", u, v) for u in units if (v := expected_variant("ramp", u, HALF, 10)) is not None]
    assert _file_rows(path) == expected and 20 < len(expected) < 80


class _Outage:
    """A sink that fails until ``up`` is set, then keeps every row."""

    def __init__(self) -> None:
        self.up = False
        self.rows: list[tuple[str, str, str, int]] = []

    def send(self, rows):
        if not self.up:
            raise StorageError("the server is unreachable")
        self.rows.extend(rows)
        return len(rows), 0, 0, ""

    def close(self) -> None:
        pass


def test_a_full_buffer_during_an_outage_drops_and_counts_then_delivers_the_rest():
    sink = _Outage()
    client = Client.from_snapshot(_ramp_snapshot(), sink=sink, max_pending=10, flush_interval_s=0.05,
                                  close_timeout_s=0.5)
    for i in range(25):
        client.assign(f"user-{i}").get("ranker")
    time.sleep(0.3)  # the flusher tried (and failed) meanwhile
    stats = client.stats()
    assert (stats["exposures_pending"], stats["exposures_dropped"]) == (10, 15) and stats["send_failures"] >= 1
    sink.up = True
    assert client.flush(5)
    assert [u for _, u, _, _ in sink.rows] == [f"user-{i}" for i in range(10)]
    client.assign("user-99").get("ranker")
    sink.up = False
    final = client.close()  # the server stays away: the undelivered one is reported, not hidden
    assert (final["exposures_sent"], final["exposures_dropped"]) == (10, 16)


def test_close_delivers_every_exposure_to_the_server(server):
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=100), metadata=metadata())
    units = [f"user-{i}" for i in range(3_000)]
    with Client(f"127.0.0.1:{server.port}", SDK_KEY, flush_interval_s=60) as client:
        assert client.wait_for_version(2, 10)
        for unit in units:
            client.get_parameter(unit, None, "ranker")
    rows = server.recorder.drain()
    assert sorted((u, v) for _, u, v, _ in rows) == sorted((u, expected_variant("ramp", u, HALF, 100)) for u in units)
    assert client.stats()["exposures_sent"] == 3_000 and client.stats()["exposures_dropped"] == 0


def test_exposures_land_in_the_assignment_table_of_a_deployment(ray_local, workdir):
    """The deployed path: server actors on Ray with the SDK key, the SDK's exposures through LogExposures, the
    recorder, the logger and its commit; after a clean shutdown the table holds exactly the exposed units."""
    import uuid

    import ray

    from rayab.rpc.server import launcher
    from rayab.serving.servers import start_servers, stop_servers
    from rayab.storage.assignments import read_assignments
    from rayab.storage.warehouse import Warehouse

    warehouse = Warehouse.from_url(workdir / "wh")
    deployment = start_servers(warehouse, launcher(_settings()), servers=1, prefix=f"t{uuid.uuid4().hex[:8]}",
                               logger_options={"flush_rows": 100_000, "flush_s": 60})
    try:
        from rayab.rpc._generated import experiments_pb2_grpc
        from rayab.rpc.client import open_channel

        channel = open_channel(deployment.addresses[0])
        admin = experiments_pb2_grpc.ExperimentServiceStub(channel)
        admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp", rollout_pct=30))),
                               metadata=metadata())
        exposed = [f"user-{i}" for i in range(0, 2_000, 2)]  # half the units use the parameter
        with Client(deployment.addresses[0], SDK_KEY) as client:
            assert client.wait_for_version(1, 20)
            for i in range(2_000):
                decision = client.assign(f"user-{i}", exp_ids=["ramp"])
                if i % 2 == 0:
                    decision.get("ranker")
        # remote assignments that must not be logged
        from rayab.rpc._generated import assignment_pb2_grpc

        stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        stub.BatchAssign(apb.BatchAssignRequest(unit_ids=[f"user-{i}" for i in range(1, 2_000, 2)],
                                                exp_ids=["ramp"], log_exposure=False))
        channel.close()
        stop_servers(deployment)
        table = read_assignments(warehouse, "ramp")
        got = sorted(zip(table.column("unit_id").to_pylist(), table.column("variant_id").to_pylist(), strict=True))
        expected = sorted((u, v) for u in exposed if (v := expected_variant("ramp", u, HALF, 30)) is not None)
        assert got == expected and 200 < len(expected) < 400
    finally:
        for actor in (*deployment.servers, deployment.config, deployment.logger):
            ray.kill(actor, no_restart=True)


def test_the_sdk_key_comes_from_the_environment_for_rayab_serve(monkeypatch, tmp_path):
    from rayab.cli.serve import sdk_key

    monkeypatch.setenv("RAYAB_SDK_KEY", "from-env")
    assert sdk_key(None) == "from-env"
    (tmp_path / "key").write_text("from-file\n")
    assert sdk_key(str(tmp_path / "key")) == "from-file"
    with pytest.raises(ValidationError, match="sdk_key_file"):
        sdk_key(str(tmp_path / "missing"))



