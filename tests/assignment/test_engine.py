"""The Assigner: request validation, errors, statuses, shipped defaults, parameters, consistency modes,
config versions and batch equivalence."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rayab.assignment as assignment_package
from rayab.assignment.allocation import assign_variant
from rayab.assignment.engine import Assigner, ConfigSnapshot
from rayab.errors import NotFoundError, PreconditionError, SpecError, ValidationError
from rayab.model.experiment import Experiment

ExperimentFactory = Callable[..., Experiment]


@pytest.fixture
def assigner(experiment: ExperimentFactory) -> Assigner:
    return Assigner.from_experiments([
        experiment("running"),
        experiment("draft", status="draft"),
        experiment("stopped", status="stopped"),
        experiment("archived", status="archived", shipped_variant="v1"),
        experiment("shipped", status="stopped", shipped_variant="v1"),
        experiment("targeted", targeting={"attr": "country", "in": ["FR", "DE"]}),
    ], version=42)


def test_served_experiments_in_config_order(assigner: Assigner) -> None:
    assert [a.exp_id for a in assigner.assign("alice", {"country": "FR"})] == ["running", "shipped", "targeted"]


def test_an_assignment_carries_variant_parameters_and_version(assigner: Assigner,
                                                              experiment: ExperimentFactory) -> None:
    (a,) = assigner.assign("alice", {}, ["running"])
    assert a.variant_id == assign_variant(experiment("running"), "alice")
    assert a.variant_id is not None and a.parameters == {"arm": int(a.variant_id[1:])}
    assert (a.config_version, a.in_experiment, a.reason) == (42, True, "assigned")
    with pytest.raises(TypeError):
        a.parameters["arm"] = 5  # type: ignore[index]


def test_a_shipped_experiment_serves_its_variant_to_everyone(assigner: Assigner) -> None:
    for unit_id in ("alice", "bob", "carol"):
        (a,) = assigner.assign(unit_id, {}, ["shipped"])
        assert (a.variant_id, dict(a.parameters), a.in_experiment, a.reason) == ("v1", {"arm": 1}, False, "shipped")


@pytest.mark.parametrize("exp_id", ["draft", "stopped", "archived"])
def test_asking_for_an_experiment_that_serves_nothing_is_a_precondition_error(assigner: Assigner,
                                                                             exp_id: str) -> None:
    with pytest.raises(PreconditionError, match=f"experiment '{exp_id}' is"):
        assigner.assign("alice", {}, [exp_id])


def test_unknown_experiment_is_not_found(assigner: Assigner) -> None:
    with pytest.raises(NotFoundError, match="'nope' is not in config version 42"):
        assigner.assign("alice", {}, ["running", "nope"])


def test_targeting_decides_eligibility(assigner: Assigner) -> None:
    assert assigner.assign("alice", {"country": "FR"}, ["targeted"])[0].in_experiment
    (a,) = assigner.assign("alice", {"country": "US"}, ["targeted"])
    assert (a.variant_id, dict(a.parameters), a.in_experiment, a.reason) == (None, {}, False, "not_targeted")
    assert assigner.assign("alice", {}, ["targeted"])[0].reason == "not_targeted"


def test_outside_rollout(experiment: ExperimentFactory) -> None:
    assigner = Assigner.from_experiments([experiment("ramp", rollout_pct=0)])
    assert {a.reason for u in ("a", "b", "c") for a in assigner.assign(u, {})} == {"outside_rollout"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"unit_id": 7}, "unit_id"),
    ({"unit_id": "x" * 257}, "unit_id"),
    ({"unit_id": ""}, "unit_id"),
    ({"session_id": 3}, "session_id"),
    ({"attributes": ["country"]}, "attributes"),
    ({"attributes": {"country": ["FR"]}}, "attributes.country"),
    ({"attributes": {"age": float("inf")}}, "attributes.age"),
    ({"attributes": {"note": "x" * 2000}}, "attributes.note"),
    ({"attributes": {"": "x"}}, "attributes"),
    ({"attributes": {1: "x"}}, "attributes"),
    ({"exp_ids": "running"}, "exp_ids"),
    ({"exp_ids": ["running", 3]}, "exp_ids[1]"),
    ({"exp_ids": ["running", ""]}, "exp_ids[1]"),
    ({"exp_ids": ["running", ["x"]]}, "exp_ids[1]"),  # unhashable: not a look-up error
    ({"exp_ids": ("running", 3)}, "exp_ids[1]"),
])
def test_invalid_requests_name_the_field(assigner: Assigner, kwargs: dict[str, Any], field: str) -> None:
    request: dict[str, Any] = {"unit_id": "alice", "attributes": {}, **kwargs}
    with pytest.raises(ValidationError) as info:
        assigner.assign(**request)
    assert info.value.field == field


def test_batch_validation_names_the_entry(assigner: Assigner) -> None:
    with pytest.raises(ValidationError) as info:
        assigner.assign_batch(["a", "b", 3])  # type: ignore[list-item]
    assert info.value.field == "unit_ids[2]"
    with pytest.raises(ValidationError) as info:
        assigner.assign_batch(["a", "b"], [{}, {"x": None}])  # type: ignore[dict-item]
    assert info.value.field == "attributes[1].x"
    with pytest.raises(ValidationError) as info:
        assigner.assign_batch(["a", "b"], [{}])
    assert info.value.field == "attributes"
    with pytest.raises(ValidationError) as info:
        assigner.assign_batch("ab")
    assert info.value.field == "unit_ids"


def test_session_consistency_hashes_the_session(experiment: ExperimentFactory) -> None:
    assigner = Assigner.from_experiments([experiment("by_session", consistency="session")])
    by_session = {assigner.assign(f"user-{i}", {}, session_id="s-1")[0].variant_id for i in range(50)}
    assert len(by_session) == 1
    variants = {assigner.assign("alice", {}, session_id=f"s-{i}")[0].variant_id for i in range(50)}
    assert variants == {"v0", "v1"}
    assert assigner.assign("alice", {})[0].reason == "missing_id"
    assert assigner.assign("", {}, session_id="s-1")[0].in_experiment


def test_hybrid_consistency_prefers_the_unit_id(experiment: ExperimentFactory) -> None:
    strict = Assigner.from_experiments([experiment("exp")])
    session = Assigner.from_experiments([experiment("exp", consistency="session")])
    hybrid = Assigner.from_experiments([experiment("exp", consistency="hybrid")])
    for i in range(200):
        unit, sess = f"user-{i}", f"session-{i * 7}"
        assert hybrid.assign(unit, {}, session_id=sess) == strict.assign(unit, {}, session_id=sess)
        assert hybrid.assign("", {}, session_id=sess) == session.assign("", {}, session_id=sess)


def test_strict_consistency_ignores_the_session(experiment: ExperimentFactory) -> None:
    assigner = Assigner.from_experiments([experiment("exp")])
    assert {assigner.assign("alice", {}, session_id=f"s{i}")[0].variant_id for i in range(30)} == {
        assigner.assign("alice", {})[0].variant_id}
    assert assigner.assign("", {}, session_id="s1")[0].reason == "missing_id"


def test_typed_parameters_are_served_as_given(experiment: ExperimentFactory) -> None:
    exp = Experiment.from_dict({
        "exp_id": "params", "name": "p", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
        "variants": [{"variant_id": "a", "traffic_pct": 100,
                      "parameters": {"ranker": "v2", "limit": 20, "boost": 1.5, "enabled": True, "color": None}},
                     {"variant_id": "b", "traffic_pct": 0}]})
    (a,) = Assigner.from_experiments([exp]).assign("alice", {})
    assert dict(a.parameters) == {"ranker": "v2", "limit": 20, "boost": 1.5, "enabled": True, "color": None}
    assert [type(v) for v in a.parameters.values()] == [str, int, float, bool, type(None)]


def test_experiment_field_rules(experiment: ExperimentFactory) -> None:
    with pytest.raises(SpecError, match="only a stopped or archived experiment ships"):
        experiment("e", shipped_variant="v1")
    with pytest.raises(SpecError, match="must be one of the variant ids"):
        experiment("e", status="stopped", shipped_variant="v9")
    with pytest.raises(SpecError, match="only hash_mode growthbook has hash versions"):
        experiment("e", hash_version=2)
    with pytest.raises(SpecError) as info:
        experiment("e", hash_mode="growthbook", hash_version=3)
    assert info.value.field == "experiment.hash_version"
    with pytest.raises(SpecError) as info:
        experiment("e", consistency="sticky")
    assert info.value.field == "experiment.consistency"


def test_new_experiment_fields_round_trip(experiment: ExperimentFactory) -> None:
    exp = experiment("e", layer="home", layer_pct=[10, 35.5], consistency="hybrid", hash_mode="growthbook",
                     hash_version=2, status="stopped", shipped_variant="v0",
                     targeting={"any": [{"attr": "device", "eq": "tv"}, {"attr": "age", "gte": 18}]})
    data = exp.to_dict()
    assert (data["layer_pct"], data["consistency"], data["hash_mode"], data["hash_version"],
            data["shipped_variant"]) == ([10.0, 35.5], "hybrid", "growthbook", 2, "v0")
    assert Experiment.from_dict(data) == exp
    defaults = experiment("d")
    assert (defaults.layer, defaults.layer_pct, defaults.consistency, defaults.hash_mode, defaults.shipped) == (
        "d", (0.0, 100.0), "strict", "rayab", None)


def test_snapshot_rules(experiment: ExperimentFactory) -> None:
    with pytest.raises(SpecError) as info:
        ConfigSnapshot(1, (experiment("a"), experiment("a")))
    assert info.value.field == "experiments[1].exp_id"
    with pytest.raises(SpecError) as info:
        ConfigSnapshot(1, (experiment("a"), experiment("b", assignment_salt="a")))
    assert info.value.field == "experiments[1].assignment_salt"
    with pytest.raises(SpecError) as info:
        ConfigSnapshot(-1, ())
    assert info.value.field == "version"
    snapshot = ConfigSnapshot(3, (experiment("a", layer="home", layer_pct=[0, 50]),
                                  experiment("b", layer="home", layer_pct=[50, 100])))
    assert ConfigSnapshot.from_dict(snapshot.to_dict()) == snapshot
    with pytest.raises(SpecError) as info:
        ConfigSnapshot.from_dict({"version": 1, "experiments": [experiment("a").to_dict(),
                                                                {**experiment("b").to_dict(), "layer": "a"}]})
    assert info.value.field == "snapshot.experiments[1].layer_pct"


def test_each_assigner_answers_from_one_version(experiment: ExperimentFactory) -> None:
    old = Assigner.from_experiments([experiment("e", rollout_pct=10)], version=1)
    new = Assigner.from_experiments([experiment("e", rollout_pct=100)], version=2)
    assert {a.config_version for u in ("a", "b") for a in old.assign(u, {})} == {1}
    assert {a.config_version for u in ("a", "b") for a in new.assign(u, {})} == {2}
    assert new.version == 2 and new.snapshot.experiments[0].rollout_pct == 100


def mixed_experiments(experiment: ExperimentFactory) -> list[Experiment]:
    return [
        experiment("plain", (20, 30, 50), rollout_pct=60),
        experiment("targeted", targeting={"all": [{"attr": "country", "in": ["FR", "DE"]},
                                                  {"attr": "version", "version_gte": "5.2"}]}),
        experiment("home_a", layer="home", layer_pct=[0, 30]),
        experiment("home_b", layer="home", layer_pct=[30, 80], rollout_pct=50),
        experiment("gb", hash_mode="growthbook", hash_version=2, rollout_pct=70),
        experiment("gb_ns", hash_mode="growthbook", layer="ns", layer_pct=[20, 70]),
        experiment("by_session", consistency="session", layer="sess", layer_pct=[0, 50]),
        experiment("hybrid", consistency="hybrid"),
        experiment("shipped", status="stopped", shipped_variant="v1"),
    ]


def test_batch_equals_one_by_one_on_many_units(experiment: ExperimentFactory) -> None:
    assigner = Assigner.from_experiments(mixed_experiments(experiment), version=9)
    unit_ids = [f"u{i}" if i % 13 else "" for i in range(3_000)]
    sessions = [None if i % 5 == 0 else f"s{i // 3}" for i in range(3_000)]
    for i in range(0, 3_000, 65):
        sessions[i] = "s-fallback"  # keep every request valid: no unit id needs a session id
    attributes = [{"country": ["FR", "DE", "US"][i % 3], "version": f"5.{i % 12}"} for i in range(3_000)]
    batch = assigner.assign_batch(unit_ids, attributes, session_ids=sessions)
    assert batch == [assigner.assign(u, a, session_id=s) for u, a, s in zip(unit_ids, attributes, sessions,
                                                                           strict=True)]
    reasons = {a.reason for row in batch for a in row}
    assert reasons == {"assigned", "shipped", "missing_id", "not_targeted", "outside_layer_slice",
                       "outside_rollout"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.sampled_from(["FR", "DE", "US"]),
                          st.one_of(st.none(), st.text(min_size=1, max_size=5))), max_size=40),
       st.lists(st.sampled_from(["plain", "targeted", "home_a", "home_b", "gb", "gb_ns", "by_session", "hybrid",
                                 "shipped"]), min_size=1, max_size=4))
def test_batch_equals_one_by_one(experiment: ExperimentFactory, requests: list[tuple[str, str, str | None]],
                                 exp_ids: list[str]) -> None:
    assigner = Assigner.from_experiments(mixed_experiments(experiment))
    unit_ids = [u for u, _, _ in requests]
    attributes = [{"country": c, "version": "5.4"} for _, c, _ in requests]
    sessions = [s for _, _, s in requests]
    batch = assigner.assign_batch(unit_ids, attributes, exp_ids, sessions)
    assert batch == [assigner.assign(u, a, exp_ids, s) for u, a, s in zip(unit_ids, attributes, sessions,
                                                                          strict=True)]


def test_public_api_is_sorted_and_exported() -> None:
    names = assignment_package.__all__
    assert names == sorted(names)
    assert all(hasattr(assignment_package, name) for name in names)


def test_the_request_path_imports_no_ray_pyarrow_or_grpc() -> None:
    code = ("import sys, rayab.assignment, rayab.assignment.engine; "
            "print(sorted(m for m in ('ray', 'pyarrow', 'grpc') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("field", ["unit_id", "session_id"])
def test_an_id_with_a_lone_surrogate_is_invalid_input_not_a_crash(assigner: Assigner, field: str) -> None:
    # "a\ud800b" has no UTF-8 encoding: it cannot be hashed, so it is refused like any other bad id
    ids: dict[str, str] = {"unit_id": "u1", "session_id": "s1", field: "a\ud800b"}
    with pytest.raises(ValidationError) as err:
        assigner.assign(ids["unit_id"], session_id=ids["session_id"])
    assert err.value.field == field
    assert "lone surrogate cannot be hashed" in err.value.rule


def _reference_position(salt: str, hash_id: str) -> float:
    digest = hashlib.md5(f"{salt}:{hash_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2**53


def test_the_compiled_request_path_answers_as_the_specification(experiment: ExperimentFactory) -> None:
    """Every step of the compiled decider against a reference written from the module docstrings: uneven and
    zero-traffic variants at a partial rollout, a layer slice, targeting on text and versions, session ids."""
    layered = experiment("layered", weights=(30, 0, 50, 20), rollout_pct=70, layer="home", layer_pct=[20, 80],
                         targeting={"all": [{"attr": "country", "in": ["FR", "DE"]},
                                            {"attr": "app_version", "version_gte": "5.2"}]})
    session = experiment("session", consistency="session", rollout_pct=90)
    assigner = Assigner.from_experiments([layered, session], version=9)
    rng = random.Random(14)
    countries, versions = ["FR", "DE", "US"], ["5.1.9", "5.2", "5.10.1", "6"]
    for i in range(5_000):
        unit_id, session_id = f"u{rng.getrandbits(40):x}", (f"s{i}" if i % 3 else None)
        attributes = {"country": rng.choice(countries), "app_version": rng.choice(versions)}
        got = {a.exp_id: (a.variant_id, a.reason) for a in assigner.assign(unit_id, attributes, None, session_id)}
        targeted = attributes["country"] != "US" and attributes["app_version"] != "5.1.9"
        layer_position = _reference_position("home:layer", unit_id)
        where = _reference_position("layered", unit_id)
        bounds = [(0.0, 0.21, "v0"), (0.3, 0.3, "v1"), (0.3, 0.3 + 0.35, "v2"), (0.8, 0.8 + 0.14, "v3")]
        variant = next((v for low, high, v in bounds if low <= where < high), None)
        expected: tuple[str | None, str]
        if not targeted:
            expected = (None, "not_targeted")
        elif not 0.2 <= layer_position < 0.8:
            expected = (None, "outside_layer_slice")
        else:
            expected = (variant, "assigned" if variant else "outside_rollout")
        assert got["layered"] == expected, (unit_id, got)
        if session_id is None:
            assert got["session"] == (None, "missing_id")
        else:
            position = _reference_position("session", session_id)
            variant = "v0" if position < 0.45 else "v1" if 0.5 <= position < 0.95 else None
            assert got["session"] == (variant, "assigned" if variant else "outside_rollout")


def test_an_answer_is_built_once_per_version_not_per_request(experiment: ExperimentFactory) -> None:
    """The request path hands out the answers compiled with the version (no per-request construction)."""
    assigner = Assigner.from_experiments([experiment("a"), experiment("b", rollout_pct=10)], version=3)
    first, second = assigner.assign("alice", {}), assigner.assign("alice", {})
    assert all(x is y for x, y in zip(first, second, strict=True))
    assert [a.config_version for a in first] == [3, 3]
    (decide,) = assigner.deciders(["b"])
    assert decide("alice", None, {}) is second[1]


@pytest.mark.parametrize("compiled", [None, True, False])
def test_the_column_form_decides_as_one_by_one(experiment: ExperimentFactory, compiled: bool | None) -> None:
    """A layered, partially rolled-out experiment over more ids than the compiled threshold, with non-ASCII ids:
    the column (compiled md5, hashlib, or the default choice) gives each unit the variant of assign."""
    if compiled:
        pytest.importorskip("numba")
    layered = experiment("layered", weights=(30, 0, 50, 20), rollout_pct=70, layer="home", layer_pct=[20, 80])
    assigner = Assigner.from_experiments([layered])
    ids = [f"user-{i}" if i % 7 else f"usér-{i}-水" for i in range(5_000)]
    column, variants = assigner.variant_column("layered", ids, {}, compiled)
    got = [variants[i] if i >= 0 else None for i in column.tolist()]
    assert got == [assigner.assign(u, {}, ["layered"])[0].variant_id for u in ids]
    assert set(got) == {None, "v0", "v2", "v3"}


@pytest.mark.parametrize(("ids", "field"), [
    (["a", "b", 3], "unit_ids[2]"),
    (["a", "", "c"], "unit_ids[1]"),
    (["a", "x" * 257], "unit_ids[1]"),
    (["a", "\ud800"], "unit_ids[1]"),
    (["é", "é" * 257], "unit_ids[1]"),
])
def test_column_validation_names_the_entry(assigner: Assigner, ids: list[Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        assigner.variant_column("running", ids)
    assert info.value.field == field


def test_a_column_of_long_multibyte_ids_within_the_character_limit_is_valid(assigner: Assigner) -> None:
    ids = ["é" * 256, "a\0b", "水"]  # 512 bytes but 256 characters; a NUL inside an id
    column, variants = assigner.variant_column("running", ids)
    assert [variants[i] for i in column.tolist()] == [assigner.assign(u, {}, ["running"])[0].variant_id for u in ids]
