"""ResultsService on a real server on a loopback port, compared with the in-process engine."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlglot
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rayab.api.engine import ResultsEngine
from rayab.assignment import ConfigSnapshot
from rayab.guardrails.planning import metric_history, plan_from_history
from rayab.hourly.job import run_hour
from rayab.query.results import run_query
from rayab.query.spec import Query
from rayab.rpc._generated import results_pb2 as rpb
from rayab.rpc._generated import results_pb2_grpc as rpb_grpc
from rayab.rpc.client import open_channel
from rayab.rpc.server import ServerSettings, start_server
from rayab.rpc.snapshot import SnapshotHolder
from rayab.storage.specs import save_config
from tests.worlds import World, make_world

pytestmark = pytest.mark.usefixtures("ray_local")


class ResultsServer:
    """A server with only the results service (and health, reflection) on its own loop in a thread."""

    def __init__(self, engine: ResultsEngine) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        holder = SnapshotHolder(ConfigSnapshot(0, ()))
        self.running = self._run(start_server(ServerSettings(), holder, results=engine))
        self.channel = open_channel(f"127.0.0.1:{self.running.port}")
        self.stub = rpb_grpc.ResultsServiceStub(self.channel)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.channel.close()
        self._run(self.running.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, ResultsServer, ResultsEngine]]:
    world = make_world(tmp_path_factory.mktemp("results_rpc"), n_units=3000, n_hours=3)
    save_config(world.warehouse, world.config)
    for hour in world.hours[:2]:
        run_hour(world.config, hour, world.logs, world.warehouse)
    engine = ResultsEngine(world.warehouse)
    server = ResultsServer(engine)
    yield world, server, engine
    server.close()


def _request(**fields: Any) -> rpb.ResultsQuery:
    base = {"exp_id": "ranker_v2", "start_hour": "2026-11-23T00", "end_hour": "2026-11-23T02"}
    return rpb.ResultsQuery(**{**base, **fields})


def _results(**fields: Any) -> rpb.QueryResultsRequest:
    return rpb.QueryResultsRequest(query=_request(**fields))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_query_results_equal_the_in_process_engine(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    world, server, _ = served
    reply = server.stub.QueryResults(_results(metrics=["ctr", "revenue_per_unit"], projection=["platform"],
                                              where="country != 'JP'", correction=rpb.CORRECTION_HOLM))
    from rayab.query.filters import parse_filter

    expected = run_query(world.warehouse, world.analysis_type, world.config.experiment("ranker_v2"),
                         Query("ranker_v2", "2026-11-23T00", "2026-11-23T02", metrics=("ctr", "revenue_per_unit"),
                               projection=("platform",), where=parse_filter("country != 'JP'"), correction="holm"))
    assert len(reply.results) == len(expected) > 4
    for got, want in zip(reply.results, expected, strict=True):
        assert (got.metric, got.variant_id) == (want.metric, want.variant_id)
        assert [(s.dimension, s.value) for s in got.slice] == list(want.slice)
        for name in ("estimate", "ci_lower", "ci_upper", "rel_diff", "rel_ci_lower", "rel_ci_upper", "pvalue",
                     "adjusted_pvalue"):
            assert _same(getattr(got, name), getattr(want, name)), name
        assert got.units == want.units and got.n_replicates == world.analysis_type.n_replicates


def test_answers_are_cached_until_the_table_changes(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    world, server, engine = served
    request = _results(metrics=["clicks"], end_hour="2026-11-23T03")
    hits = engine.hits
    first = server.stub.QueryResults(request)
    again = server.stub.QueryResults(request)
    assert not first.cached and again.cached
    assert engine.hits == hits + 1
    assert list(again.results) == list(first.results)
    run_hour(world.config, world.hours[2], world.logs, world.warehouse)  # a new hour lands in the window
    fresh = server.stub.QueryResults(request)
    assert not fresh.cached
    assert fresh.results[0].estimate > first.results[0].estimate  # the third hour's clicks are counted now


def test_timeseries_has_one_row_per_hour_and_variant(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    _, server, _ = served
    reply = server.stub.Timeseries(rpb.TimeseriesRequest(query=_request(metrics=["clicks"])))
    ends = sorted({r.end_hour for r in reply.results})
    assert ends == ["2026-11-23T01", "2026-11-23T02"]
    control = [r for r in reply.results if r.variant_id == "control"]
    assert control[0].estimate <= control[1].estimate  # cumulative sums only grow
    whole = server.stub.QueryResults(_results(metrics=["clicks"]))
    assert control[-1].estimate == next(r.estimate for r in whole.results if r.variant_id == "control")


def test_health_power_and_sql(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    world, server, _ = served
    health = server.stub.Health(rpb.HealthRequest(exp_id="aa_check", start_hour="2026-11-23T00",
                                                  end_hour="2026-11-23T02", srm_by=["country"]))
    names = {c.name: c for c in health.checks}
    assert names["sample_ratio"].status == rpb.HEALTH_STATUS_OK
    assert health.status in (rpb.HEALTH_STATUS_OK, rpb.HEALTH_STATUS_WARN)
    assert health.status == max(c.status for c in health.checks)  # the enum's order is the order of worsening
    details = names["sample_ratio"].details
    assert "counts" in details and sum(details["counts"].values()) > 0
    power = server.stub.Power(rpb.PowerRequest(exp_id="aa_check", start_hour="2026-11-23T00",
                                               end_hour="2026-11-23T02", metrics=["ctr"], relative_mde=0.1))
    exp = world.config.experiment("aa_check")
    expected = plan_from_history(metric_history(world.warehouse, world.analysis_type, exp, "2026-11-23T00",
                                                "2026-11-23T02", ["ctr"]), relative_mde=0.1)
    assert power.n_per_arm == expected.plan.n_per_arm and power.binding_metric == "ctr"
    for dialect, number in (("duckdb", rpb.SQL_DIALECT_UNSPECIFIED), ("duckdb", rpb.SQL_DIALECT_DUCKDB),
                            ("trino", rpb.SQL_DIALECT_TRINO)):
        answer = server.stub.GenerateSql(rpb.GenerateSqlRequest(query=_request(metrics=["ctr"]), dialect=number))
        assert sqlglot.parse_one(answer.sql, read=dialect) is not None
        assert "agg_engagement" in answer.sql
        assert answer.dialect == (number or rpb.SQL_DIALECT_DUCKDB)


def test_enum_fields_reach_the_engine_as_its_strings(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    """method, correction and interval travel as enums and mean what rayab's strings mean."""
    world, server, _ = served
    reply = server.stub.QueryResults(_results(
        metrics=["ctr", "clicks"], method=rpb.INTERVAL_METHOD_NORMAL, correction=rpb.CORRECTION_BH,
        interval=rpb.INTERVAL_KIND_SEQUENTIAL, planned_units=3000))
    expected = run_query(world.warehouse, world.analysis_type, world.config.experiment("ranker_v2"),
                         Query("ranker_v2", "2026-11-23T00", "2026-11-23T02", metrics=("ctr", "clicks"),
                               method="normal", correction="bh", interval="sequential", planned_units=3000))
    assert len(reply.results) == len(expected) > 2
    for got, want in zip(reply.results, expected, strict=True):
        for name in ("ci_lower", "ci_upper", "rel_ci_lower", "rel_ci_upper", "adjusted_pvalue"):
            assert _same(getattr(got, name), getattr(want, name)), name
        assert got.interval == rpb.INTERVAL_KIND_SEQUENTIAL
    percentile = server.stub.QueryResults(_results(metrics=["ctr"])).results
    assert percentile[1].rel_ci_lower != reply.results[1].rel_ci_lower  # the enum changed the answer


def test_bayesian_readouts_travel_with_their_path(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    """chance to beat control, risks and the credible interval of rel_diff are the engine's, for either path."""
    world, server, _ = served
    exp = world.config.experiment("ranker_v2")
    for number, path in ((rpb.BAYESIAN_PATH_UNSPECIFIED, "bootstrap"), (rpb.BAYESIAN_PATH_NORMAL, "normal")):
        reply = server.stub.QueryResults(_results(metrics=["ctr", "revenue_per_unit"], bayesian=number))
        expected = run_query(world.warehouse, world.analysis_type, exp,
                             Query("ranker_v2", "2026-11-23T00", "2026-11-23T02",
                                   metrics=("ctr", "revenue_per_unit"), bayesian=path))  # type: ignore[arg-type]
        assert len(reply.results) == len(expected) == 4
        for got, want in zip(reply.results, expected, strict=True):
            for name in ("chance_to_beat_control", "risk_control", "risk_variant", "rel_cred_lower",
                         "rel_cred_upper"):
                assert _same(getattr(got, name), getattr(want, name)), name
            assert got.bayesian == rpb.BayesianPath.Value(f"BAYESIAN_PATH_{path.upper()}")
        treatment = [r for r in reply.results if r.variant_id != r.control_id]
        assert all(0.0 <= r.chance_to_beat_control <= 1.0 and r.rel_cred_lower < r.rel_cred_upper for r in treatment)
    with pytest.raises(grpc.RpcError) as info:
        server.stub.QueryResults(_results(bayesian=7))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "query.bayesian" in (info.value.details() or "")


@pytest.mark.parametrize(("call", "code", "text"), [
    (lambda s: s.QueryResults(_results(exp_id="nope")), grpc.StatusCode.NOT_FOUND, "nope"),
    (lambda s: s.QueryResults(_results(metrics=["dwell"])), grpc.StatusCode.INVALID_ARGUMENT, "dwell"),
    (lambda s: s.QueryResults(_results(where="country = ")), grpc.StatusCode.INVALID_ARGUMENT, "where"),
    (lambda s: s.QueryResults(_results(start_hour="yesterday")), grpc.StatusCode.INVALID_ARGUMENT, "start_hour"),
    (lambda s: s.GenerateSql(rpb.GenerateSqlRequest(query=_request(), dialect=9)), grpc.StatusCode.INVALID_ARGUMENT,  # type: ignore[arg-type]
     "dialect"),
    (lambda s: s.QueryResults(_results(method=7)), grpc.StatusCode.INVALID_ARGUMENT, "query.method"),
    (lambda s: s.Timeseries(rpb.TimeseriesRequest(query=_request(correction=42))), grpc.StatusCode.INVALID_ARGUMENT,
     "query.correction"),
    (lambda s: s.QueryResults(_results(), timeout=1e-6), grpc.StatusCode.DEADLINE_EXCEEDED, ""),
])
def test_errors_have_the_right_status(served: tuple[World, ResultsServer, ResultsEngine], call: Any,
                                      code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(served[1].stub)
    assert info.value.code() == code
    assert text in (info.value.details() or "")


def test_health_and_reflection_know_the_service(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    channel = served[1].channel
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="rayab.v1.ResultsService"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    (listed,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    assert "rayab.v1.ResultsService" in {s.name for s in listed.list_services_response.service}


def test_the_proto_files_alone_define_the_api(tmp_path: Path) -> None:
    """A client in another language needs only protos/ (and the well-known types every protoc ships)."""
    import grpc_tools
    from grpc_tools import protoc

    root = Path(__file__).resolve().parents[2] / "protos"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(["protoc", f"-I{root}", f"-I{well_known}", f"--descriptor_set_out={tmp_path / 'set.pb'}",
                        *(str(p) for p in sorted((root / "rayab/v1").glob("*.proto")))])
    assert code == 0 and (tmp_path / "set.pb").stat().st_size > 0


def test_a_node_client_calls_it_from_the_proto_files(served: tuple[World, ResultsServer, ResultsEngine],
                                                     tmp_path: Path) -> None:
    """examples/node/results_client.js (@grpc/grpc-js + proto-loader) against the real server."""
    import shutil
    import subprocess

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js is not installed")
    root = Path(__file__).resolve().parents[2]
    for name in ("package.json", "results_client.js"):
        shutil.copy(root / "examples" / "node" / name, tmp_path / name)
    installed = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"npm could not install @grpc/grpc-js: {installed.stderr[-300:]}")
    port = served[1].running.port
    run = subprocess.run([node, "results_client.js", f"127.0.0.1:{port}", "ranker_v2", "2026-11-23T00",
                          "2026-11-23T02", "ctr"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin:/usr/local/bin", "RAYAB_PROTOS": str(root / "protos")},
                         check=True)
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    expected = served[1].stub.QueryResults(_results(metrics=["ctr"])).results
    assert [(r["variant_id"], r["estimate"]) for r in rows] == [(r.variant_id, r.estimate) for r in expected]
    missing = subprocess.run([node, "results_client.js", f"127.0.0.1:{port}", "nope", "2026-11-23T00",
                              "2026-11-23T02"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin:/usr/local/bin", "RAYAB_PROTOS": str(root / "protos")})
    assert missing.returncode == 2 and missing.stderr.startswith("NOT_FOUND")


def test_served_by_the_deployed_server_actors(served: tuple[World, ResultsServer, ResultsEngine]) -> None:
    """`rayab serve`'s deployment (config actor, logger, server actor) answers ResultsService too."""
    import uuid

    import ray

    from rayab.rpc.server import launcher
    from rayab.serving.servers import start_servers, stop_servers

    world = served[0]
    deployment = start_servers(world.warehouse, launcher(ServerSettings(), world.warehouse), servers=1,
                               prefix=f"r{uuid.uuid4().hex[:8]}")
    try:
        channel = open_channel(deployment.addresses[0])
        reply = rpb_grpc.ResultsServiceStub(channel).QueryResults(_results(metrics=["ctr"]))
        direct = served[1].stub.QueryResults(_results(metrics=["ctr"]))
        assert [(r.variant_id, r.estimate, r.ci_lower) for r in reply.results] == \
            [(r.variant_id, r.estimate, r.ci_lower) for r in direct.results]
        channel.close()
        stop_servers(deployment)
    finally:
        for actor in (*deployment.servers, deployment.config, deployment.logger):
            ray.kill(actor, no_restart=True)
