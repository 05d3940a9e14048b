"""A throwaway ``ray start --head`` for deployment tests: its own ports and temp dir, token auth on, and a stop that
ends only the processes of that head (``ray stop`` would also stop the test session's own Ray)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Head:
    dashboard: str
    token: str
    env: dict[str, str]


def _processes_of(temp_dir: str) -> set[int]:
    """PIDs whose command line names ``temp_dir``, plus their descendants (workers rename themselves)."""
    found: set[int] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if temp_dir.encode() in cmdline.read_bytes():
                found.add(int(cmdline.parent.name))
        except OSError:
            continue
    frontier = set(found)
    while frontier:
        children: set[int] = set()
        for pid in frontier:
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    children |= {int(c) for c in task.read_text().split()}
                except OSError:
                    continue
        frontier = children - found
        found |= frontier
    return found


def _stop(temp_dir: str) -> None:
    pids = _processes_of(temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.2)


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[Head]:
    """Start a head with token auth, yield how to reach it, stop exactly its processes."""
    # a short path: Ray's socket paths under it must stay below the 107-byte AF_UNIX limit
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")
    token = os.urandom(16).hex()
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    dashboard_port = free_port()
    command = [str(VENV_BIN / "ray"), "start", "--head", "--port", str(free_port()), "--dashboard-host", "127.0.0.1",
               "--dashboard-port", str(dashboard_port), "--temp-dir", temp_dir, "--num-cpus", str(num_cpus),
               "--include-dashboard=true", "--disable-usage-stats",
               # the session's own local Ray already holds the default agent ports (52365, ...): a second head
               # on them starts without a job agent ("No available agent to submit job")
               "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
               "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]
    try:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if started.returncode:
            raise RuntimeError(f"ray start failed: {started.stdout[-2000:]}{started.stderr[-2000:]}")
        yield Head(f"http://127.0.0.1:{dashboard_port}", token, env)
    finally:
        _stop(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
