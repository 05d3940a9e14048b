"""WatchConfig, LogExposures and Assign's log_exposure on a real server (loopback, generated stubs): who may watch,
what the stream sends and when, resuming from a known version, exposures checked one by one, and log_exposure
false writing nothing."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import grpc
import pytest

from rayab.assignment.snapshot_json import loads
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc.server import ServerSettings
from tests.rpc.servers import TOKEN, ServerThread, code_of, metadata, spec

SDK_KEY = "test-sdk-key"
READ = "test-read-token"


@pytest.fixture()
def server(workdir):
    settings = ServerSettings(admin_token=TOKEN, read_token=READ, sdk_key=SDK_KEY, watch_heartbeat_s=0.3)
    server = ServerThread(workdir / "wh", settings)
    server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(
        spec("ramp", rollout_pct=10, assignment_salt="s3cret-salt"))), metadata=metadata())
    yield server
    server.close()


def _stream(server, known: int = 0, token: str = SDK_KEY):
    """The WatchConfig call and a queue its messages arrive on, read by a thread."""
    call = server.stub.WatchConfig(apb.WatchConfigRequest(known_version=known), metadata=metadata(token))
    messages: queue.Queue[apb.WatchConfigResponse | grpc.RpcError] = queue.Queue()

    def read() -> None:
        try:
            for message in call:
                messages.put(message)
        except grpc.RpcError as err:
            messages.put(err)

    threading.Thread(target=read, daemon=True).start()
    return call, messages


def _next_snapshot(messages, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        message = messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        assert not isinstance(message, grpc.RpcError), message
        if message.snapshot_json:
            return message


def test_the_stream_starts_with_the_snapshot_then_sends_each_commit(server):
    call, messages = _stream(server)
    first = _next_snapshot(messages)
    assert first.config_version == server.holder.version == 1
    document = json.loads(first.snapshot_json)
    assert document["format"] == "rayab.assignment-snapshot" and document["config_version"] == 1
    (experiment,) = document["experiments"]
    assert (experiment["assignment_salt"], experiment["rollout_pct"]) == ("s3cret-salt", 10)
    assert loads(first.snapshot_json).version == 1  # the SDK reader accepts it
    for rollout, version in ((25, 2), (60, 3)):
        server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=rollout),
                                      metadata=metadata())
        message = _next_snapshot(messages)
        assert message.config_version == version
        assert json.loads(message.snapshot_json)["experiments"][0]["rollout_pct"] == rollout
    call.cancel()


def test_a_quiet_stream_sends_heartbeats_carrying_the_clients_version(server):
    call, messages = _stream(server)
    _next_snapshot(messages)
    heartbeats = [messages.get(timeout=5) for _ in range(2)]
    assert all(isinstance(h, apb.WatchConfigResponse) and not h.snapshot_json and h.config_version == 1
               for h in heartbeats)
    call.cancel()


def test_a_client_resumes_from_its_version(server):
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=20), metadata=metadata())
    # behind: the current snapshot at once
    call, messages = _stream(server, known=1)
    assert _next_snapshot(messages).config_version == 2
    call.cancel()
    # current: nothing but heartbeats until the next commit, which then comes first
    call, messages = _stream(server, known=2)
    with pytest.raises(queue.Empty):
        _next_snapshot(messages, timeout=1.0)
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=30), metadata=metadata())
    assert _next_snapshot(messages).config_version == 3
    call.cancel()


@pytest.mark.parametrize(("token", "code"), [
    (None, grpc.StatusCode.UNAUTHENTICATED),
    ("wrong", grpc.StatusCode.UNAUTHENTICATED),
    (READ, grpc.StatusCode.PERMISSION_DENIED),
])
def test_only_the_sdk_key_or_the_admin_token_sees_the_salts(server, token, code):
    kwargs = {} if token is None else {"metadata": metadata(token)}
    got, details = code_of(lambda: next(iter(server.stub.WatchConfig(apb.WatchConfigRequest(), **kwargs))))
    assert got == code and "s3cret-salt" not in details
    got, _ = code_of(lambda: server.stub.LogExposures(iter([apb.LogExposuresRequest()]), **kwargs))
    assert got == code
    admin = next(iter(server.stub.WatchConfig(apb.WatchConfigRequest(), metadata=metadata(TOKEN))))
    assert admin.config_version == 1 and "s3cret-salt" in admin.snapshot_json


def test_a_negative_version_is_invalid(server):
    got, details = code_of(lambda: next(iter(server.stub.WatchConfig(apb.WatchConfigRequest(known_version=-1),
                                                                      metadata=metadata(SDK_KEY)))))
    assert got == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("known_version == -1")


def test_stopping_the_server_ends_the_streams_at_once(workdir):
    server = ServerThread(workdir / "wh", ServerSettings(admin_token=TOKEN, sdk_key=SDK_KEY))
    server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp"))),
                                  metadata=metadata())
    _, messages = _stream(server)
    _next_snapshot(messages)
    started = time.monotonic()
    server.run(server.running.stop(5.0))
    assert time.monotonic() - started < 2.0  # not the 5 s grace: the stream was ended, not waited for
    server.loop.call_soon_threadsafe(server.loop.stop)
    server.channel.close()


def _exposures(*rows) -> apb.LogExposuresRequest:
    return apb.LogExposuresRequest(exposures=[apb.Exposure(exp_id=e, unit_id=u, variant_id=v, exposed_at_us=t)
                                              for e, u, v, t in rows])


def test_log_exposures_records_valid_ones_and_names_the_first_refusal(server):
    now = time.time_ns() // 1000
    batches = [
        _exposures(("ramp", "alice", "treatment", now - 5), ("ramp", "bob", "control", 0)),
        _exposures(("ramp", "carol", "nope", now), ("gone", "dave", "control", now),
                   ("ramp", "erin", "control", now + 7_200_000_000), ("ramp", "", "control", now),
                   ("ramp", "alice", "treatment", now)),  # alice again: stored once
    ]
    reply = server.stub.LogExposures(iter(batches), metadata=metadata(SDK_KEY))
    assert (reply.accepted, reply.rejected, reply.dropped) == (3, 4, 0)
    assert reply.first_error.startswith("exposures[2].variant_id == 'nope': is not a variant of ramp")
    rows = server.recorder.drain()
    assert [(e, u, v) for e, u, v, _ in rows] == [("ramp", "alice", "treatment"), ("ramp", "bob", "control")]
    assert rows[0][3] == now - 5 and abs(rows[1][3] - now) < 60_000_000  # 0: the server's time
    status = server.stub.GetServingStatus(apb.GetServingStatusRequest())
    assert status.exposures_accepted == 3


def test_log_exposures_reports_what_a_full_server_buffer_dropped(workdir):
    from rayab.serving.assignment_recorder import AssignmentRecorder

    server = ServerThread(workdir / "wh", ServerSettings(admin_token=TOKEN, sdk_key=SDK_KEY),
                          recorder=AssignmentRecorder(max_rows=3))
    try:
        server.admin.CreateExperiment(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ramp"))),
                                      metadata=metadata())
        rows = [("ramp", f"u{i}", "control", 0) for i in range(5)]
        reply = server.stub.LogExposures(iter([_exposures(*rows)]), metadata=metadata(SDK_KEY))
        assert (reply.accepted, reply.dropped) == (3, 2)
        server.recorder.drain()
        again = server.stub.LogExposures(iter([_exposures(*rows[3:])]), metadata=metadata(SDK_KEY))
        assert (again.accepted, again.dropped) == (2, 0)  # dropped ones are not taken for duplicates later
    finally:
        server.close()


def test_log_exposure_false_writes_nothing_and_unset_keeps_logging(server):
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ramp", rollout_pct=100), metadata=metadata())
    units = [f"user-{i}" for i in range(50)]
    for unit in units:
        server.stub.Assign(apb.AssignRequest(unit_id=unit, exp_ids=["ramp"], log_exposure=False))
    server.stub.BatchAssign(apb.BatchAssignRequest(unit_ids=units, exp_ids=["ramp"], log_exposure=False))
    assert server.recorder.pending() == 0 and server.recorder.recorded == 0
    server.stub.Assign(apb.AssignRequest(unit_id="user-1", exp_ids=["ramp"]))  # unset: logged, as before
    server.stub.Assign(apb.AssignRequest(unit_id="user-2", exp_ids=["ramp"], log_exposure=True))
    server.stub.BatchAssign(apb.BatchAssignRequest(unit_ids=units[10:13], exp_ids=["ramp"]))
    assert sorted(u for _, u, _, _ in server.recorder.drain()) == ["user-1", "user-10", "user-11", "user-12",
                                                                   "user-2"]
