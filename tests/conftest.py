"""Shared fixtures: one local Ray per test session (2 CPUs), a moto S3 server on 127.0.0.1, small simulated data."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray with an explicit CPU count, shared by the whole session and shut down at its end."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback; yields AWS-style storage options that reach it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    yield options
    server.stop()


@pytest.fixture()
def s3_bucket(s3_server: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A fresh bucket for one test; returns its name."""
    from rayab.storage.warehouse import filesystem_for

    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    fs = filesystem_for("s3://x", s3_server)
    if not fs.exists(name):
        fs.mkdir(name)
    return name


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A temporary folder for logs and a warehouse."""
    return tmp_path


@pytest.fixture()
def world(workdir: Path):  # type: ignore[no-untyped-def]
    """A small simulated world: 1,500 units, 2 hours of logs, assignments in a local warehouse."""
    from tests.pipeline.worlds import make_world

    return make_world(workdir)
