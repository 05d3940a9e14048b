"""Shared fixtures: one local Ray per test session (2 CPUs), a moto S3 server on 127.0.0.1, small simulated data."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("RAY_DEDUP_LOGS", "0")

# property tests check values, not time: on a shared 2-core machine one example can take seconds, and hypothesis's
# default 200 ms deadline would fail a correct run (tests that set their own settings inherit this profile)
settings.register_profile("rayab", deadline=None)
settings.load_profile("rayab")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run only when asked for: ``-m slow`` (or any marker expression naming it) or
    ``RAYAB_SLOW=1``; otherwise they are reported as skipped, with the way to run them."""
    if os.environ.get("RAYAB_SLOW") == "1" or "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or RAYAB_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray with an explicit CPU count, shared by the whole session and shut down at its end."""

    import ray

    if not ray.is_initialized():
        # address="local": always a new instance of our own, never one another process started on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
    yield
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback, in its own process (delta-rs blocks the GIL of the calling process while
    it waits for S3, so an in-process threaded server would never answer); yields AWS-style storage options."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.2)
    yield {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture()
def s3_bucket(s3_server: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A fresh bucket for one test; returns its name."""
    import boto3

    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    client = boto3.client("s3", endpoint_url=s3_server["AWS_ENDPOINT_URL"], region_name=s3_server["AWS_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name)
    return str(name)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A temporary folder for logs and a warehouse."""
    return tmp_path


@pytest.fixture()
def world(workdir: Path):
    """A small simulated world: 1,500 units, 2 hours of logs, assignments in a local warehouse."""
    from tests.worlds import make_world

    return make_world(workdir)


# the published reference vectors of tests/reference, for every test folder
from tests.reference_fixtures import gbstats, gbstats_bayesian, r_values, spotify  # noqa: E402,F401
