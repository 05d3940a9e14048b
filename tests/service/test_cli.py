"""``rayab experiments`` against a real server, and ``rayab serve`` end to end in its own process (its own local
Ray): admin over gRPC, Assign, then a graceful SIGTERM that commits the logged assignments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from rayab.cli.main import main
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc
from rayab.rpc.client import open_channel
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.service.reference import HALF, expected_variant
from tests.service.servers import TOKEN, ServerThread, spec


@pytest.fixture()
def server(workdir, monkeypatch):
    monkeypatch.setenv("RAYAB_ADMIN_TOKEN", TOKEN)
    server = ServerThread(workdir / "wh")
    yield server
    server.close()


def _cli(server, *args):
    return main(["experiments", "--target", f"127.0.0.1:{server.port}", *args])


def test_experiments_commands(server, workdir, capsys):
    path = workdir / "exp.yaml"
    path.write_text(yaml.safe_dump(spec("ctr_test", status="draft", rollout_pct=5)))
    assert _cli(server, "create", "--spec", str(path)) == 0
    assert "config version 1" in capsys.readouterr().out
    assert _cli(server, "update", "ctr_test", "--status", "running", "--rollout-pct", "25") == 0
    capsys.readouterr()
    assert _cli(server, "--format", "json", "get", "ctr_test") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config_version"] == 2
    assert (shown["experiments"][0]["status"], shown["experiments"][0]["rollout_pct"]) == ("running", 25.0)
    assert _cli(server, "update", "ctr_test", "--targeting", '{"attr": "device", "eq": "tv"}') == 0
    assert _cli(server, "ship", "ctr_test", "treatment") == 0
    assert _cli(server, "archive", "ctr_test") == 0
    capsys.readouterr()
    assert _cli(server, "list") == 0
    out = capsys.readouterr().out
    assert "ctr_test" in out and "archived" in out and "config version 5" in out


def test_experiments_errors_keep_the_exit_codes(server, monkeypatch, capsys):
    assert _cli(server, "get", "missing") == 3
    assert "NOT_FOUND" in capsys.readouterr().err
    assert _cli(server, "get", "Bad Id") == 2
    monkeypatch.delenv("RAYAB_ADMIN_TOKEN")
    assert _cli(server, "archive", "missing") == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err


def _read_until(process, marker, timeout=120.0):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return line, lines
    process.kill()
    raise AssertionError(f"never printed {marker!r}: {lines}")


def test_serve_end_to_end_with_graceful_stop(workdir):
    warehouse = workdir / "wh"
    env = {**os.environ, "RAYAB_ADMIN_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "rayab.cli.main", "serve", "--warehouse", str(warehouse), "--port", "0",
         "--num-cpus", "1", "--namespace", "cli-test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line, _ = _read_until(process, "listening on")
        target = line.split()[2]
        path = workdir / "exp.json"
        path.write_text(json.dumps(spec("e2e_test")))
        created = subprocess.run([sys.executable, "-m", "rayab.cli.main", "experiments", "--target", target,
                                  "create", "--spec", str(path)], env=env, capture_output=True, text=True)
        assert created.returncode == 0, created.stderr
        stub = assignment_pb2_grpc.AssignmentServiceStub(open_channel(target))
        deadline = time.monotonic() + 20
        while stub.GetServingStatus(apb.GetServingStatusRequest()).config_version < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        units = [f"u{i}" for i in range(200)]
        for unit in units:
            answer = stub.Assign(apb.AssignRequest(unit_id=unit)).assignments[0]
            assert answer.variant_id == expected_variant("e2e_test", unit, HALF, 100)
        process.send_signal(signal.SIGTERM)
        _read_until(process, "first assignments logged")
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    rows = read_rows(Warehouse.from_url(warehouse), "assignment").to_pylist()
    assert sorted((r["unit_id"], r["variant_id"]) for r in rows) == sorted(
        (u, expected_variant("e2e_test", u, HALF, 100)) for u in units)
