"""``rayab experiments`` against a real server, and ``rayab serve`` end to end in its own process (its own local
Ray): admin over gRPC, Assign, then a graceful SIGTERM that commits the logged assignments."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import yaml

from rayab.cli.main import main
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import assignment_pb2_grpc
from rayab.rpc.client import open_channel
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.rpc.reference import HALF, expected_variant
from tests.rpc.servers import TOKEN, ServerThread, spec
from tests.waiting import wait_until


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
    capsys.readouterr()
    assert _cli(server, "update", "missing", "--targeting", '{"attr": "device"') == 2  # refused before any call
    assert "targeting" in capsys.readouterr().err
    monkeypatch.delenv("RAYAB_ADMIN_TOKEN")
    assert _cli(server, "archive", "missing") == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err


def test_experiments_owner_changed_by_and_history(server, workdir, capsys):
    path = workdir / "exp.yaml"
    path.write_text(yaml.safe_dump(spec("ctr_test", status="draft", rollout_pct=40, owner="ada@example.com")))
    assert _cli(server, "create", "--spec", str(path), "--changed-by", "ada") == 0
    assert _cli(server, "update", "ctr_test", "--owner", "search-team", "--rollout-pct", "60",
                "--changed-by", "bob@example.com") == 0
    capsys.readouterr()
    assert _cli(server, "--format", "json", "get", "ctr_test") == 0
    shown = json.loads(capsys.readouterr().out)["experiments"][0]
    assert (shown["owner"], shown["rollout_pct"], shown["version"]) == ("search-team", 60.0, 2)
    assert _cli(server, "update", "ctr_test", "--owner", "") == 0  # '' clears the owner; who is not recorded
    capsys.readouterr()
    assert _cli(server, "history", "ctr_test") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["version", "when", "(UTC)", "who"] and lines[-1] == "config version 3"
    rows = [line.split(None, 4) for line in lines[2:-1]]  # version, date, time, who, change
    assert [(r[0], r[3], r[4].strip()) for r in rows] == [
        ("3", "-", "update ctr_test: owner search-team -> -"),
        ("2", "bob@example.com", "update ctr_test: owner ada@example.com -> search-team, rollout_pct 40 -> 60"),
        ("1", "ada", "create ctr_test")]
    assert _cli(server, "--format", "json", "history", "ctr_test") == 0
    history = json.loads(capsys.readouterr().out)
    assert [c["changed_by"] for c in history["changes"]] == ["", "bob@example.com", "ada"]
    assert dt.datetime.fromisoformat(history["changes"][0]["committed_at"]).tzinfo is not None
    assert _cli(server, "update", "ctr_test", "--status", "running", "--changed-by", "carol") == 0
    capsys.readouterr()
    assert _cli(server, "--format", "json", "history", "ctr_test") == 0
    assert json.loads(capsys.readouterr().out)["changes"][0]["changed_by"] == "carol"


@pytest.mark.parametrize(("args", "code", "words"), [
    (["update", "ctr_test", "--owner", "x" * 129], 2, ["owner", "at most 128 characters"]),
    (["update", "ctr_test", "--owner", "ada", "--changed-by", "ada\nbob"], 2, ["changed_by", "one line"]),
    (["update", "ctr_test", "--changed-by", "ada"], 2, ["must change at least one of"]),  # nothing to change
    (["update", "ctr_test", "--owner", "ada"], 2, ["changes nothing"]),  # already the owner
    (["update", "missing", "--owner", "ada"], 3, ["NOT_FOUND", "missing"]),
    (["history", "missing"], 3, ["NOT_FOUND", "missing"]),
    (["history", "Bad Id"], 2, ["INVALID_ARGUMENT", "exp_id"]),
])
def test_owner_changed_by_and_history_errors_are_one_line_with_their_exit_code(server, workdir, capsys, args, code,
                                                                             words):
    path = workdir / "exp.yaml"
    path.write_text(yaml.safe_dump(spec("ctr_test", owner="ada")))
    assert _cli(server, "create", "--spec", str(path)) == 0
    capsys.readouterr()
    assert _cli(server, *args) == code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and not captured.out
    assert all(w in err for w in words), err
    assert _cli(server, "--format", "json", "history", "ctr_test") == 0  # nothing was recorded
    assert len(json.loads(capsys.readouterr().out)["changes"]) == 1


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


def _descendants(root: int) -> list[int]:
    """Pids of every process below ``root`` (from /proc: parent pids)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found.extend(children)
        frontier.extend(children)
    return found


def _server_actor_pids(root: int) -> list[int]:
    pids = []
    for pid in _descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if command.startswith("ray::ServerActor"):
            pids.append(pid)
    return pids


def _listening(pids: list[int], port: int) -> int:
    """The one of ``pids`` that listens on TCP ``port`` (its socket inode is in /proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return pid
    raise AssertionError(f"none of {pids} listens on port {port}")


def test_serve_end_to_end_with_graceful_stop(workdir):
    """On a warehouse whose ``assignment`` table has the demo's extra columns, ``rayab serve`` used to exit 4 on a
    normal stop (the logger rewrote the table with 5 columns), and a killed server actor was never replaced."""
    import pyarrow as pa

    from rayab.storage.tables import replace_partitions

    warehouse = workdir / "wh"
    demo = pa.table({"exp_id": ["e2e_test"], "date": ["2026-11-24"], "unit_id": ["old-unit"],
                     "variant_id": ["control"], "assigned_at": pa.array([dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)],
                                                                        pa.timestamp("us", tz="UTC")),
                     "country": ["FR"], "platform": ["ios"]})
    replace_partitions(Warehouse.from_url(warehouse), "assignment", demo, ["exp_id", "date"],
                       {"exp_id": ["e2e_test"]})
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
        wait_until(lambda: stub.GetServingStatus(apb.GetServingStatusRequest()).config_version >= 1, 20,
                   "the experiment reaching the server")
        units = [f"u{i}" for i in range(200)]
        for unit in units[:100]:
            answer = stub.Assign(apb.AssignRequest(unit_id=unit)).assignments[0]
            assert answer.variant_id == expected_variant("e2e_test", unit, HALF, 100)
        # kill -9 the serving process: rayab serve replaces it on the same address
        wait_until(lambda: len(_server_actor_pids(process.pid)) >= 2, 60, "the server actor and its spare",
                   interval=0.2)
        # the first 100 first assignments reach the logger (shipped every 0.5 s) before the server dies
        wait_until(lambda: stub.GetServingStatus(apb.GetServingStatusRequest()).assignments_logged >= 100, 30,
                   "100 first assignments handed to the logger")
        os.kill(_listening(_server_actor_pids(process.pid), int(target.rsplit(":", 1)[1])), signal.SIGKILL)
        replaced, _ = _read_until(process, "died; replaced, listening on")
        assert f"listening on {target}" in replaced
        deadline = time.monotonic() + 30
        while True:
            try:
                stub.GetServingStatus(apb.GetServingStatusRequest(), timeout=2)
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "the replaced server did not answer"
                time.sleep(0.1)
        for unit in units[100:]:
            answer = stub.Assign(apb.AssignRequest(unit_id=unit)).assignments[0]
            assert answer.variant_id == expected_variant("e2e_test", unit, HALF, 100)
        process.send_signal(signal.SIGTERM)
        counters, _ = _read_until(process, "first assignments logged")
        assert counters.strip().endswith("100 first assignments logged, 0 dropped")  # the replacement's
        closed, _ = _read_until(process, "logger closed")
        assert "1 servers replaced" in closed
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
        if process.stdout:
            process.stdout.close()
    rows = read_rows(Warehouse.from_url(warehouse), "assignment").to_pylist()
    got = {r["unit_id"]: (r["variant_id"], r["country"], r["platform"]) for r in rows}
    assert got.pop("old-unit") == ("control", "FR", "ios")  # the demo's columns are kept
    assert got == {u: (expected_variant("e2e_test", u, HALF, 100), None, None) for u in units}
