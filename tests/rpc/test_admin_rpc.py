"""ExperimentService on a real server: bearer-token auth, the life cycle of an experiment with a config version per
change persisted to the warehouse, error codes, and TLS with a certificate made in the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import grpc
import pytest

from rayab.lifecycle.config_store import ConfigStore
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc.server import ServerSettings
from rayab.storage.specs import load_config_version
from rayab.storage.tables import read_rows
from tests.rpc.reference import HALF, expected_variant
from tests.rpc.servers import ServerThread, code_of, metadata, spec

S = epb


@pytest.fixture()
def server(workdir):
    server = ServerThread(workdir / "wh")
    yield server
    server.close()


def _create(server, **fields):
    body = spec(fields.pop("exp_id", "ctr_test"), **fields)
    return server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(body)), metadata=metadata())


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_mutations_need_the_admin_token(server, token):
    meta = None if token is None else metadata(token)
    body = json.dumps(spec("ctr_test"))
    calls = [
        lambda: server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=body), metadata=meta),
        lambda: server.admin.UpdateExperiment(S.UpdateExperimentRequest(exp_id="x", rollout_pct=5), metadata=meta),
        lambda: server.admin.ShipVariant(S.ShipVariantRequest(exp_id="x", variant_id="a"), metadata=meta),
        lambda: server.admin.ArchiveExperiment(S.ArchiveExperimentRequest(exp_id="x"), metadata=meta),
    ]
    for call in calls:
        code, details = code_of(call)
        assert code == grpc.StatusCode.UNAUTHENTICATED and details.startswith("authorization")
    assert server.store.version == 0  # nothing was changed
    assert server.admin.ListExperiments(S.ListExperimentsRequest()).config_version == 0  # reads need no token


def test_a_server_without_admin_token_refuses_mutations(workdir):
    server = ServerThread(workdir / "wh", ServerSettings())
    try:
        code, details = code_of(lambda: _create(server))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "no admin token" in details
    finally:
        server.close()


def test_life_cycle_each_change_is_a_persisted_version(server):
    reply = _create(server, status="draft", rollout_pct=10)
    assert (reply.config_version, reply.experiment.version) == (1, 1)
    assert reply.experiment.status == S.EXPERIMENT_STATUS_DRAFT
    assert json.loads(reply.experiment.spec_json)["variants"][1]["parameters"] == {"ranker": "v2", "depth": 20}
    update = S.UpdateExperimentRequest(exp_id="ctr_test", status=S.EXPERIMENT_STATUS_RUNNING, expected_version=1)
    assert server.admin.UpdateExperiment(update, metadata=metadata()).config_version == 2
    parameters = reply.experiment.variants[1].parameters
    assert (parameters["ranker"].string_value, parameters["depth"].int_value) == ("v2", 20)
    assert parameters["depth"].WhichOneof("kind") == "int_value"  # typed: an integer stays an integer
    ramp = S.UpdateExperimentRequest(exp_id="ctr_test", rollout_pct=50)
    ramp.targeting.update({"attr": "device", "eq": "tv"})
    reply = server.admin.UpdateExperiment(ramp, metadata=metadata())
    assert (reply.config_version, reply.experiment.rollout_pct, reply.experiment.version) == (3, 50.0, 3)
    assert dict(reply.experiment.targeting) == {"attr": "device", "eq": "tv"}
    assert server.holder.version == 3  # the local server serves what was committed
    shipped = server.admin.ShipVariant(S.ShipVariantRequest(exp_id="ctr_test", variant_id="treatment"),
                                       metadata=metadata())
    assert (shipped.experiment.status, shipped.experiment.shipped_variant) == (S.EXPERIMENT_STATUS_STOPPED, "treatment")
    answer = server.stub.Assign(apb.AssignRequest(unit_id="anyone")).assignments[0]
    assert (answer.variant_id, answer.reason, answer.in_experiment) == ("treatment", apb.REASON_SHIPPED, False)
    assert answer.parameters["ranker"].string_value == "v2"
    archived = server.admin.ArchiveExperiment(S.ArchiveExperimentRequest(exp_id="ctr_test"), metadata=metadata())
    assert (archived.config_version, archived.experiment.version) == (5, 5)
    assert not server.stub.Assign(apb.AssignRequest(unit_id="anyone")).assignments
    # persisted: every version, and the experiment/variant tables have one row per experiment version
    versions = sorted(read_rows(server.warehouse, "_config_version").column("version").to_pylist())
    assert versions == [1, 2, 3, 4, 5]
    assert load_config_version(server.warehouse, 3)["experiments"][0]["rollout_pct"] == 50.0  # type: ignore[index]
    rows = read_rows(server.warehouse, "experiment").to_pylist()
    assert [(r["version"], r["status"]) for r in sorted(rows, key=lambda r: r["version"])] == [
        (1, "draft"), (2, "running"), (3, "running"), (4, "stopped"), (5, "archived")]
    assert read_rows(server.warehouse, "variant").num_rows == 10
    reloaded = ConfigStore(server.warehouse)  # what a restarted config actor would load
    assert reloaded.snapshot == server.store.snapshot


def test_get_and_list(server):
    _create(server, exp_id="a_test", status="draft")
    _create(server, exp_id="b_test")
    assert server.admin.GetExperiment(S.GetExperimentRequest(exp_id="b_test")).experiment.exp_id == "b_test"
    listed = server.admin.ListExperiments(S.ListExperimentsRequest(status=S.EXPERIMENT_STATUS_DRAFT))
    assert [e.exp_id for e in listed.experiments] == ["a_test"] and listed.config_version == 2
    assert len(server.admin.ListExperiments(S.ListExperimentsRequest()).experiments) == 2


def test_ramp_up_only_adds_units(server):
    _create(server, rollout_pct=5)
    units = [f"u{i}" for i in range(2_000)]
    seen: dict[str, str] = {}
    for rollout in (5, 20, 60, 100):
        if rollout != 5:
            server.admin.UpdateExperiment(S.UpdateExperimentRequest(exp_id="ctr_test", rollout_pct=rollout),
                                          metadata=metadata())
        response = server.stub.BatchAssign(apb.BatchAssignRequest(unit_ids=units, exp_ids=["ctr_test"]))
        column = response.experiments[0]
        names = [v.variant_id for v in column.variants]
        for unit, index in zip(units, column.variant_index, strict=True):
            got = names[index] if index >= 0 else None
            assert got == expected_variant("ctr_test", unit, HALF, rollout)
            if unit in seen:
                assert got == seen[unit]  # nobody moves
            elif got is not None:
                seen[unit] = got
    assert len(seen) == 2_000


@pytest.mark.parametrize(("body", "field"), [
    ('{"exp_id": "x"', "spec_json"),
    ("[1, 2]", "spec_json"),
    (json.dumps(spec("x", variants=[{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 40}])),
     "spec.variants[*].traffic_pct"),
    (json.dumps(spec("Bad Id")), "spec.exp_id"),
    (json.dumps({**spec("x"), "colour": "red"}), "spec.colour"),
])
def test_bad_specs_are_invalid_argument_naming_the_field(server, body, field):
    code, details = code_of(lambda: server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=body),
                                                                   metadata=metadata()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(f"{field} == "), details


def test_layer_overlap_is_rejected_naming_the_slice(server):
    _create(server, exp_id="home_a", layer="home", layer_pct=[0, 50])
    code, details = code_of(lambda: _create(server, exp_id="home_b", layer="home", layer_pct=[40, 100]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "layer_pct" in details and "home_a" in details
    assert server.store.version == 1


def test_state_errors_are_failed_precondition_and_unknown_ids_not_found(server):
    _create(server)
    code, _ = code_of(lambda: _create(server))
    assert code == grpc.StatusCode.FAILED_PRECONDITION  # already exists
    mutations = [
        S.UpdateExperimentRequest(exp_id="ctr_test", status=S.EXPERIMENT_STATUS_DRAFT),  # running -> draft
        S.UpdateExperimentRequest(exp_id="ctr_test", rollout_pct=5, expected_version=7),  # stale version
    ]
    for request in mutations:
        code, _ = code_of(lambda request=request: server.admin.UpdateExperiment(request, metadata=metadata()))  # type: ignore[misc]
        assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, details = code_of(lambda: server.admin.ArchiveExperiment(S.ArchiveExperimentRequest(exp_id="ctr_test"),
                                                                    metadata=metadata()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "stop it before archiving" in details
    code, details = code_of(lambda: server.admin.ShipVariant(
        S.ShipVariantRequest(exp_id="ctr_test", variant_id="nope"), metadata=metadata()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("variant_id == 'nope'")
    code, _ = code_of(lambda: server.admin.GetExperiment(S.GetExperimentRequest(exp_id="missing")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = code_of(lambda: server.admin.GetExperiment(S.GetExperimentRequest(exp_id="../etc")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("exp_id ==")
    code, details = code_of(lambda: server.admin.UpdateExperiment(S.UpdateExperimentRequest(exp_id="ctr_test"),
                                                                   metadata=metadata()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at least one" in details
    assert server.store.version == 1


def _self_signed(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_tls_is_a_setting(workdir):
    cert, key = _self_signed(workdir)
    settings = ServerSettings(admin_token="t", tls_cert_file=cert, tls_key_file=key)
    server = ServerThread(workdir / "wh", settings, tls_ca=cert)
    try:
        assert server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(spec("e1"))),
                                             metadata=metadata("t")).config_version == 1
        assert server.stub.Assign(apb.AssignRequest(unit_id="alice")).config_version == 1
        plain = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        from rayab.rpc._generated import assignment_pb2_grpc

        code, _ = code_of(lambda: assignment_pb2_grpc.AssignmentServiceStub(plain).Assign(
            apb.AssignRequest(unit_id="alice"), timeout=3))
        assert code == grpc.StatusCode.UNAVAILABLE  # a plaintext client cannot talk to a TLS server
        plain.close()
    finally:
        server.close()


def test_tls_settings_are_checked(workdir):
    from rayab.errors import ValidationError

    with pytest.raises(ValidationError, match="tls_key_file"):
        ServerSettings(tls_cert_file=str(workdir))
    with pytest.raises(ValidationError, match="tls_cert_file == "):
        ServerSettings(tls_cert_file=str(workdir / "missing.pem"), tls_key_file=str(workdir / "missing.key"))


def test_a_10000_character_value_is_invalid_argument_with_a_bounded_message(server):
    """A long value used to be repeated in full: the status did not fit in the headers (RESOURCE_EXHAUSTED)."""
    long = "n" * 10_000
    code, details = code_of(lambda: _create(server, name=long))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("spec.name == 'nnnn") and "(10000 characters)" in details and len(details) < 300
    code, details = code_of(lambda: server.admin.GetExperiment(S.GetExperimentRequest(exp_id=long)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "(10000 characters)" in details and len(details) < 300
    code, details = code_of(lambda: server.stub.Assign(apb.AssignRequest(unit_id="u1", exp_ids=[long])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and len(details) < 1_100


def test_reads_without_the_admin_token_never_show_the_salts(server):
    _create(server, assignment_salt="secret-assignment-salt", bootstrap_salt="secret-bootstrap-salt")
    for meta in (None, metadata("not-a-token")):
        got = server.admin.GetExperiment(S.GetExperimentRequest(exp_id="ctr_test"), metadata=meta).experiment
        listed = server.admin.ListExperiments(S.ListExperimentsRequest(), metadata=meta).experiments[0]
        for message in (got, listed):
            assert "secret" not in str(message)
            shown = json.loads(message.spec_json)
            assert "assignment_salt" not in shown and "bootstrap_salt" not in shown
            assert shown["exp_id"] == "ctr_test" and len(shown["variants"]) == 2
    admin = json.loads(server.admin.GetExperiment(S.GetExperimentRequest(exp_id="ctr_test"),
                                                  metadata=metadata()).experiment.spec_json)
    assert (admin["assignment_salt"], admin["bootstrap_salt"]) == ("secret-assignment-salt", "secret-bootstrap-salt")


def test_a_read_token_guards_experiment_and_results_reads(workdir):
    from rayab.api.engine import ResultsEngine
    from rayab.rpc._generated import results_pb2 as rpb
    from rayab.rpc._generated import results_pb2_grpc

    server = ServerThread(workdir / "wh", ServerSettings(admin_token="admin-t", read_token="read-t"),
                         results=True)
    try:
        server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(spec("ctr_test"))),
                                      metadata=metadata("admin-t"))
        get = server.admin.GetExperiment
        request = S.GetExperimentRequest(exp_id="ctr_test")
        for meta in (None, metadata("wrong")):
            assert code_of(lambda meta=meta: get(request, metadata=meta))[0] == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[misc]
            assert code_of(lambda meta=meta: server.admin.ListExperiments(  # type: ignore[misc]
                S.ListExperimentsRequest(), metadata=meta))[0] == grpc.StatusCode.UNAUTHENTICATED
        reader = json.loads(get(request, metadata=metadata("read-t")).experiment.spec_json)
        assert "assignment_salt" not in reader and reader["exp_id"] == "ctr_test"
        assert json.loads(get(request, metadata=metadata("admin-t")).experiment.spec_json)["assignment_salt"] == \
            "ctr_test"
        # the read token reads, it does not write
        code, _ = code_of(lambda: server.admin.ArchiveExperiment(S.ArchiveExperimentRequest(exp_id="ctr_test"),
                                                                 metadata=metadata("read-t")))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        results = results_pb2_grpc.ResultsServiceStub(server.channel)
        query = rpb.QueryResultsRequest(query=rpb.ResultsQuery(exp_id="ctr_test", analysis_type="search"))
        assert code_of(lambda: results.QueryResults(query))[0] == grpc.StatusCode.UNAUTHENTICATED
        for token in ("read-t", "admin-t"):  # past the token check: the warehouse has no such analysis type
            code, _ = code_of(lambda token=token: results.QueryResults(query, metadata=metadata(token)))  # type: ignore[misc]
            assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OK)
        assert ResultsEngine  # type: ignore[truthy-function]  # the engine behind the service is the real one (ServerThread(results=True))
        assert server.stub.Assign(apb.AssignRequest(unit_id="u1")).assignments[0].variant_id  # assignment: open
    finally:
        server.close()


def test_descriptive_fields_and_who_travel_over_grpc(server):
    from rayab.storage.specs import load_config_history

    body = spec("ctr_test", owner="ada@example.com", description="Ranker v3")
    reply = server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(body), changed_by="ada"),
                                          metadata=metadata())
    assert (reply.experiment.owner, reply.experiment.description, reply.experiment.planned_units) == (
        "ada@example.com", "Ranker v3", 0)
    edit = S.UpdateExperimentRequest(exp_id="ctr_test", owner="search-team", planned_units=12_000,
                                     changed_by="bob")
    edited = server.admin.UpdateExperiment(edit, metadata=metadata()).experiment
    assert (edited.owner, edited.description, edited.planned_units, edited.version) == (
        "search-team", "Ranker v3", 12_000, 2)
    assert json.loads(edited.spec_json)["planned_units"] == 12_000
    shipped = S.ShipVariantRequest(exp_id="ctr_test", variant_id="treatment", changed_by="carol")
    server.admin.ShipVariant(shipped, metadata=metadata())
    server.admin.ArchiveExperiment(S.ArchiveExperimentRequest(exp_id="ctr_test", changed_by="dan"),
                                   metadata=metadata())
    assert [(h.version, h.changed_by) for h in load_config_history(server.warehouse, "ctr_test")] == [
        (4, "dan"), (3, "carol"), (2, "bob"), (1, "ada")]
    code, details = code_of(lambda: server.admin.UpdateExperiment(
        S.UpdateExperimentRequest(exp_id="ctr_test", owner="x"), metadata=metadata()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "archived" in details


def test_the_history_of_an_experiment_over_grpc(workdir):
    # a real loopback server with a read token: every change, newest first, with who, when and old -> new values
    server = ServerThread(workdir / "wh", ServerSettings(admin_token="admin-t", read_token="read-t"))
    try:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = spec("ctr_test", status="draft", rollout_pct=40, owner="ada@example.com")
        server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(body), changed_by="ada"),
                                      metadata=metadata("admin-t"))
        server.admin.CreateExperiment(S.CreateExperimentRequest(spec_json=json.dumps(spec("other_test"))),
                                      metadata=metadata("admin-t"))
        server.admin.UpdateExperiment(S.UpdateExperimentRequest(
            exp_id="ctr_test", rollout_pct=60, status=S.EXPERIMENT_STATUS_RUNNING, changed_by="bob"),
            metadata=metadata("admin-t"))
        server.admin.UpdateExperiment(S.UpdateExperimentRequest(exp_id="ctr_test", owner="search-team"),
                                      metadata=metadata("admin-t"))
        request = S.GetExperimentHistoryRequest(exp_id="ctr_test")
        reply = server.admin.GetExperimentHistory(request, metadata=metadata("read-t"))
        assert reply.config_version == 4
        assert [(c.config_version, c.changed_by, list(c.exp_ids)) for c in reply.changes] == [
            (4, "", ["ctr_test"]), (3, "bob", ["ctr_test"]), (1, "ada", ["ctr_test"])]  # version 2: other_test
        assert reply.changes[0].change == "update ctr_test: owner ada@example.com -> search-team"
        assert reply.changes[1].change == "update ctr_test: rollout_pct 40 -> 60, status draft -> running"
        assert reply.changes[2].change == "create ctr_test"
        after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        stamps = [c.committed_at.ToDatetime(tzinfo=dt.UTC) for c in reply.changes]
        assert all(before <= t <= after for t in stamps) and stamps == sorted(stamps, reverse=True)
        # the same rows as the warehouse's history, which the console lists
        from rayab.storage.specs import load_config_history
        assert [(h.version, h.change, h.changed_by) for h in load_config_history(server.warehouse, "ctr_test")] == [
            (c.config_version, c.change, c.changed_by) for c in reply.changes]
        assert code_of(lambda: server.admin.GetExperimentHistory(request))[0] == grpc.StatusCode.UNAUTHENTICATED
        code, details = code_of(lambda: server.admin.GetExperimentHistory(
            S.GetExperimentHistoryRequest(exp_id="missing"), metadata=metadata("read-t")))
        assert code == grpc.StatusCode.NOT_FOUND and "missing" in details
        code, details = code_of(lambda: server.admin.GetExperimentHistory(
            S.GetExperimentHistoryRequest(exp_id="Bad Id"), metadata=metadata("read-t")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "exp_id" in details
    finally:
        server.close()
