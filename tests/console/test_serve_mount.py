"""The console inside a serving deployment (the server actors of ``rayab serve --console-port``) on the session's
Ray: the page is served next to gRPC, a results query made by the console is a cache hit for ResultsService (one
engine), and a rollout raised through the console's form is the config version every gRPC server then serves."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import END, START

pytest.importorskip("uvicorn", reason="the console extra is not installed")

TOKEN = "serve-console-token"


@pytest.fixture()
def deployment(ray_local: None, console_world: Path, tmp_path: Path) -> Iterator[Any]:
    import ray

    from rayab.console.mount import console_launcher
    from rayab.rpc.server import ServerSettings
    from rayab.serving.servers import server_statuses, start_servers, stop_servers
    from rayab.storage.warehouse import Warehouse

    shutil.copytree(console_world, tmp_path / "wh")
    warehouse = Warehouse.from_url(str(tmp_path / "wh"))
    settings = ServerSettings(admin_token=TOKEN, read_token="r34d")
    started = start_servers(warehouse, console_launcher(settings, warehouse, 0), servers=1,
                            prefix=f"c{uuid.uuid4().hex[:8]}")
    status = server_statuses(started)[0]
    started.console_url = f"http://127.0.0.1:{status['console_port']}"  # type: ignore[attr-defined]
    yield started
    stop_servers(started)
    ray.kill(started.config, no_restart=True)
    ray.kill(started.logger, no_restart=True)


def _get(url: str, token: str = "r34d") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _post(url: str, fields: dict[str, str]) -> tuple[int, str]:
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"authorization": "Bearer r34d"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:  # follows the 303 to the page (a GET)
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_console_next_to_grpc_shares_the_engine_and_the_admin_path(deployment: Any) -> None:
    from rayab.rpc._generated import experiments_pb2 as epb
    from rayab.rpc._generated import experiments_pb2_grpc, results_pb2_grpc
    from rayab.rpc._generated import results_pb2 as rpb
    from rayab.rpc.auth import bearer_metadata
    from rayab.rpc.client import open_channel

    url = deployment.console_url
    assert _get(f"{url}/healthz", token="") == (200, "ok")
    assert _get(f"{url}/experiments/ranker_v2", token="")[0] == 401  # the deployment's read token guards reads
    status, page = _get(f"{url}/experiments/ranker_v2?start={START}&end={END}")
    assert status == 200 and 'id="verdict">treatment wins on ctr (+' in page
    channel = open_channel(deployment.addresses[0])
    try:
        results = results_pb2_grpc.ResultsServiceStub(channel)
        query = rpb.ResultsQuery(exp_id="ranker_v2", analysis_type="engagement", start_hour=START, end_hour=END)
        reply = results.QueryResults(rpb.QueryResultsRequest(query=query), metadata=bearer_metadata("r34d"))
        assert reply.cached  # the console's query filled the cache ResultsService reads
        admin = experiments_pb2_grpc.ExperimentServiceStub(channel)
        before = admin.GetExperiment(epb.GetExperimentRequest(exp_id="aa_check"), metadata=bearer_metadata("r34d"))
        assert before.experiment.rollout_pct == 100.0
        refused = _post(f"{url}/experiments/aa_check/rollout",
                        {"rollout_pct": "20", "token": "r34d", "changed_by": "ops"})
        assert refused[0] == 401  # the read token is not the admin token
        for pct in ("20", "60"):  # lower, then raise: through the config actor, like ExperimentService
            status, page = _post(f"{url}/experiments/aa_check/rollout",
                                 {"rollout_pct": pct, "token": TOKEN, "changed_by": "ops@example.com",
                                  "expected_version": ""})
            assert status == 200 and f"rollout set to {pct}% (config version" in page
        deadline = time.monotonic() + 30
        while True:  # the raise reaches the gRPC server through the config actor's push
            after = admin.GetExperiment(epb.GetExperimentRequest(exp_id="aa_check"), metadata=bearer_metadata("r34d"))
            if after.experiment.rollout_pct == 60.0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (after.experiment.rollout_pct, after.config_version) == (60.0, before.config_version + 2)
        page = _get(f"{url}/experiments/aa_check")[1]
        assert "ops@example.com" in page and "rollout_pct 20 -&gt; 60" in page
    finally:
        channel.close()
