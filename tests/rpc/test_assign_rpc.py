"""AssignmentService on a real server (loopback, ephemeral port, generated stubs): answers against the independent
reference, batch = single, every error code, deadlines, health and reflection."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb
from tests.rpc.reference import HALF, expected_variant
from tests.rpc.servers import ServerThread, code_of, metadata, spec

RUNNING = epb.EXPERIMENT_STATUS_RUNNING


@pytest.fixture()
def server(workdir):
    server = ServerThread(workdir / "wh")
    create = server.admin.CreateExperiment
    create(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ctr_test", rollout_pct=40))), metadata=metadata())
    targeted = spec("tv_only", targeting={"all": [{"attr": "device", "eq": "tv"},
                                                  {"attr": "app_version", "version_gte": "5.2"}]})
    create(epb.CreateExperimentRequest(spec_json=json.dumps(targeted)), metadata=metadata())
    create(epb.CreateExperimentRequest(spec_json=json.dumps(spec("later", status="draft"))), metadata=metadata())
    create(epb.CreateExperimentRequest(spec_json=json.dumps(spec("ended"))), metadata=metadata())
    server.admin.UpdateExperiment(epb.UpdateExperimentRequest(exp_id="ended", status=epb.EXPERIMENT_STATUS_STOPPED),
                                  metadata=metadata())
    yield server
    server.close()


def _request(unit_id: str, exp_ids=(), session_id: str = "", **attributes) -> apb.AssignRequest:
    request = apb.AssignRequest(unit_id=unit_id, exp_ids=list(exp_ids), session_id=session_id)
    for name, value in attributes.items():
        target = request.attributes[name]
        if isinstance(value, str):
            target.string_value = value
        elif isinstance(value, float):
            target.double_value = value
        else:
            target.int_value = value
    return request


def test_assign_matches_the_reference_with_parameters_and_version(server):
    counts = {"control": 0, "treatment": 0, None: 0}
    for i in range(400):
        unit = f"user-{i}"
        response = server.stub.Assign(_request(unit, ["ctr_test"]))
        assert response.config_version == server.holder.version == 5
        (answer,) = response.assignments
        expected = expected_variant("ctr_test", unit, HALF, 40)
        counts[expected] += 1
        assert (answer.variant_id or None) == expected
        if expected is None:
            assert answer.reason == apb.REASON_OUTSIDE_ROLLOUT and not answer.parameters and not answer.in_experiment
        else:
            assert answer.reason == apb.REASON_ASSIGNED and answer.in_experiment
            assert answer.parameters["ranker"].string_value == ("v1" if expected == "control" else "v2")
            assert answer.parameters["depth"].int_value == (10 if expected == "control" else 20)
    assert min(counts.values()) > 40  # the reference itself splits: the comparison is not vacuous


def test_assign_without_exp_ids_answers_every_running_experiment(server):
    response = server.stub.Assign(_request("alice", device="tv", app_version="5.10"))
    assert [a.exp_id for a in response.assignments] == ["ctr_test", "tv_only"]
    targeted = response.assignments[1]
    assert targeted.variant_id == expected_variant("tv_only", "alice", HALF, 100)
    other = server.stub.Assign(_request("alice", ["tv_only"], device="tv", app_version="5.1"))
    assert other.assignments[0].reason == apb.REASON_NOT_TARGETED and not other.assignments[0].variant_id


def test_batch_assign_equals_single_assign(server):
    units = [f"u{i}" for i in range(5_000)]
    request = apb.BatchAssignRequest(unit_ids=units, exp_ids=["ctr_test", "tv_only"])
    request.shared_attributes["device"].string_value = "tv"
    request.shared_attributes["app_version"].string_value = "6.0"
    for i in range(len(units)):
        own = request.attributes.add()
        if i % 3 == 0:
            own.values["device"].string_value = "phone"  # overrides the shared value
    response = server.stub.BatchAssign(request)
    assert response.config_version == 5
    columns = {c.exp_id: c for c in response.experiments}
    assert list(columns) == ["ctr_test", "tv_only"]
    for exp_id, rollout in (("ctr_test", 40), ("tv_only", 100)):
        column = columns[exp_id]
        names = [v.variant_id for v in column.variants]
        assert names == ["control", "treatment"] and column.variants[1].parameters["ranker"].string_value == "v2"
        assert len(column.variant_index) == len(column.reasons) == len(units)
        for i, unit in enumerate(units):
            got = names[column.variant_index[i]] if column.variant_index[i] >= 0 else None
            targeted = exp_id == "ctr_test" or i % 3 != 0
            assert got == (expected_variant(exp_id, unit, HALF, rollout) if targeted else None), (exp_id, unit)
            if not targeted:
                assert column.reasons[i] == apb.REASON_NOT_TARGETED


@pytest.mark.parametrize(("request_", "field"), [
    (apb.AssignRequest(unit_id=""), "unit_id"),
    (apb.AssignRequest(unit_id="x" * 300), "unit_id"),
    (apb.AssignRequest(unit_id="alice", exp_ids=[""]), "exp_ids[0]"),
])
def test_malformed_assign_is_invalid_argument_naming_the_field(server, request_, field):
    code, details = code_of(lambda: server.stub.Assign(request_))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(f"{field} == ")


def test_malformed_attributes_are_invalid_argument(server):
    request = _request("alice", age=float("nan"))
    code, details = code_of(lambda: server.stub.Assign(request))
    assert (code, details.split(" ==")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "attributes.age")
    empty = apb.AssignRequest(unit_id="alice")
    empty.attributes["country"].SetInParent()  # present, but no value set
    code, details = code_of(lambda: server.stub.Assign(empty))
    assert (code, details.split(" ==")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "attributes.country")


def test_batch_errors_name_the_index_in_the_whole_batch(server):
    units = [f"u{i}" for i in range(5_000)]
    units[4_321] = ""
    code, details = code_of(lambda: server.stub.BatchAssign(apb.BatchAssignRequest(unit_ids=units)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("unit_ids[4321] == ''")
    code, details = code_of(lambda: server.stub.BatchAssign(
        apb.BatchAssignRequest(unit_ids=["a", "b"], session_ids=["s"])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("session_ids ==")


def test_unknown_experiment_is_not_found_and_inactive_ones_failed_precondition(server):
    code, details = code_of(lambda: server.stub.Assign(_request("alice", ["nope"])))
    assert code == grpc.StatusCode.NOT_FOUND and "'nope'" in details
    for exp_id, status in (("ended", "stopped"), ("later", "draft")):
        code, details = code_of(lambda exp_id=exp_id: server.stub.Assign(_request("alice", [exp_id])))  # type: ignore[misc]
        assert code == grpc.StatusCode.FAILED_PRECONDITION and f"'{exp_id}' is {status}" in details


def test_tiny_deadline_on_a_large_batch_stops_the_server_work(server):
    units = [f"u{i}" for i in range(300_000)]
    request = apb.BatchAssignRequest(unit_ids=units, exp_ids=["ctr_test"])
    code, _ = code_of(lambda: server.stub.BatchAssign(request, timeout=0.3))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 10
    while server.running.assignments.batches_stopped == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    service = server.running.assignments
    assert service.batches_stopped == 1
    time.sleep(0.5)  # had it kept going, it would still be counting units now
    assert service.batch_units_done < len(units)
    status = server.stub.GetServingStatus(apb.GetServingStatusRequest())
    assert status.batches_stopped == 1 and status.batch_requests == 1


def test_health_checking_reports_each_service(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for name in ("", "rayab.v1.AssignmentService", "rayab.v1.ExperimentService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == \
            health_pb2.HealthCheckResponse.SERVING
    code, _ = code_of(lambda: health.Check(health_pb2.HealthCheckRequest(service="nope.Service")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_services_and_serves_their_descriptors(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    (listed,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in listed.list_services_response.service}
    assert {"rayab.v1.AssignmentService", "rayab.v1.ExperimentService", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    ask = reflection_pb2.ServerReflectionRequest(file_containing_symbol="rayab.v1.AssignmentService")
    (answer,) = stub.ServerReflectionInfo(iter([ask]))
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]
    assignment = next(f for f in files if f.name == "rayab/v1/assignment.proto")
    (service,) = assignment.service
    assert [m.name for m in service.method] == ["Assign", "BatchAssign", "GetServingStatus", "WatchConfig",
                                               "LogExposures"]


def test_reflection_v1_lists_services_and_describes_itself(server):
    """Tools that speak only grpc.reflection.v1 (current grpcurl, Postman) see the same services as v1alpha ones."""
    from rayab.rpc.reflection import V1_SERVICE, v1_messages

    request_class, response_class = v1_messages()
    call = server.channel.stream_stream(f"/{V1_SERVICE}/ServerReflectionInfo",
                                        request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
    (listed,) = call(iter([request_class(list_services="")]))
    v1_names = {s.name for s in listed.list_services_response.service}
    alpha = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    (alpha_listed,) = alpha.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    assert v1_names == {s.name for s in alpha_listed.list_services_response.service}
    assert {"rayab.v1.AssignmentService", "rayab.v1.ExperimentService", V1_SERVICE,
            "grpc.reflection.v1alpha.ServerReflection"} <= v1_names
    (answer,) = call(iter([request_class(file_containing_symbol=V1_SERVICE)]))
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]
    (v1_file,) = [f for f in files if f.package == "grpc.reflection.v1"]
    assert v1_file.service[0].method[0].input_type == ".grpc.reflection.v1.ServerReflectionRequest"
    (missing,) = call(iter([request_class(file_containing_symbol="rayab.v1.Nope")]))
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_first_assignments_are_recorded_once(server):
    for _ in range(3):
        server.stub.Assign(_request("alice", ["ctr_test", "tv_only"], device="tv", app_version="6"))
    rows = server.recorder.drain()
    expected = [(e, "alice", expected_variant(e, "alice", HALF, r)) for e, r in (("ctr_test", 40), ("tv_only", 100))]
    assert [r[:3] for r in rows] == [x for x in expected if x[2] is not None]
