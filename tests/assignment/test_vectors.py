"""The language-neutral vectors (``sdk/vectors/assignment_vectors.json``) are exactly what the engine produces.

Every SDK test suite reads the same file, so this is what keeps the Node SDK (and any later one) honest: if the
Python engine changed, the file would no longer match it here, and regenerating the file makes the other
suites fail until they follow. The md5 buckets are also checked against plain ``hashlib`` arithmetic, and the
rollout raise in the file against the coverage-monotone promise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rayab.assignment.allocation import variant_ranges
from rayab.assignment.engine import Assigner
from rayab.assignment.growthbook import gb_hash
from rayab.assignment.hashing import bucket
from rayab.assignment.plan import ExperimentPlan
from rayab.assignment.snapshot_json import from_document, to_document
from rayab.assignment.targeting import matches
from rayab.errors import NotFoundError, PreconditionError, ValidationError
from rayab.model.targeting import OPERATORS, parse_targeting

VECTORS_PATH = Path(__file__).resolve().parents[2] / "sdk" / "vectors" / "assignment_vectors.json"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def assigners(vectors: dict[str, Any]) -> dict[str, Assigner]:
    return {name: Assigner(from_document(doc)) for name, doc in vectors["snapshots"].items()}


def _request(case: Mapping[str, Any]) -> tuple[Any, ...]:
    return case["unit_id"], case["attributes"], case["exp_ids"], case["session_id"]


def test_the_file_is_what_the_generator_writes() -> None:
    from scripts.gen_assignment_vectors import build_vectors, render

    assert VECTORS_PATH.read_text(encoding="utf-8") == render(build_vectors()), \
        "run: .venv/bin/python scripts/gen_assignment_vectors.py"


def test_md5_buckets_equal_plain_hashlib_arithmetic(vectors: dict[str, Any]) -> None:
    for case in vectors["md5_bucket"]:
        digest = hashlib.md5((case["salt"] + ":" + case["unit_id"]).encode("utf-8")).digest()
        reference = (int.from_bytes(digest[:8], "big") >> 11) / 2**53
        assert case["bucket"] == reference == bucket(case["salt"], case["unit_id"])
        assert 0.0 <= case["bucket"] < 1.0
    assert len({c["bucket"] for c in vectors["md5_bucket"]}) == len(vectors["md5_bucket"])


def test_growthbook_positions_and_ranges(vectors: dict[str, Any]) -> None:
    for case in vectors["growthbook_hash"]:
        assert gb_hash(case["seed"], case["value"], case["version"]) == case["position"]
    for case in vectors["ranges"]:
        weights = [w / 100.0 for w in case["traffic_pct"]]
        assert [list(r) for r in variant_ranges(weights, case["rollout_pct"] / 100.0)] == case["ranges"]


def test_targeting_cases_and_their_coverage(vectors: dict[str, Any]) -> None:
    outcomes: dict[str, set[bool]] = {op: set() for op in OPERATORS}
    for case in vectors["targeting"]:
        assert matches(parse_targeting(case["rule"]), case["attributes"]) is case["matches"], case
        for op in OPERATORS:
            if op in case["rule"]:
                outcomes[op].add(case["matches"])
    assert all(seen == {True, False} for seen in outcomes.values()), outcomes


def test_every_case_is_what_the_engine_answers(vectors: dict[str, Any], assigners: dict[str, Assigner]) -> None:
    for case in vectors["cases"]:
        assigner = assigners[case["snapshot"]]
        answer = assigner.assign(*_request(case))
        got = [{"exp_id": a.exp_id, "variant_id": a.variant_id, "parameters": dict(a.parameters),
                "in_experiment": a.in_experiment, "reason": a.reason} for a in answer]
        assert got == case["assignments"], case["unit_id"][:40]
        merged: dict[str, Any] = {}
        for a in answer:
            for name, value in a.parameters.items():
                merged.setdefault(name, value)
        assert merged == case["parameters"]
        for experiment in assigner.snapshot.experiments:
            plan = ExperimentPlan.from_experiment(experiment)
            hash_id = plan.hash_id(case["unit_id"], case["session_id"])
            if plan.serving != "active" or not hash_id:
                assert experiment.exp_id not in case["positions"]
                continue
            expected = case["positions"][experiment.exp_id]
            assert plan.position(hash_id) == expected["bucket"]
            assert (plan.layer_position(hash_id) if plan.layer_slice else None) == expected.get("layer")


def test_every_error_case_is_rejected_the_same_way(vectors: dict[str, Any], assigners: dict[str, Assigner]) -> None:
    kinds = {ValidationError: "invalid_argument", NotFoundError: "not_found", PreconditionError: "failed_precondition"}
    for case in vectors["errors"]:
        with pytest.raises(tuple(kinds)) as caught:
            assigners[case["snapshot"]].assign(*_request(case))
        kind = next(v for k, v in kinds.items() if isinstance(caught.value, k))
        assert (kind, getattr(caught.value, "field", None)) == (case["error"], case["field"])


def test_the_snapshots_are_canonical_documents(vectors: dict[str, Any]) -> None:
    for document in vectors["snapshots"].values():
        assert to_document(from_document(document)) == document


def test_the_rollout_raise_in_the_file_only_adds_units(vectors: dict[str, Any]) -> None:
    by_request: dict[tuple[str, str, str], dict[str, Any]] = {}
    for case in vectors["cases"]:
        key = json.dumps([case["unit_id"], case["session_id"], case["exp_ids"], case["attributes"]])
        for a in case["assignments"]:
            by_request[(key, case["snapshot"], a["exp_id"])] = a
    kept = added = 0
    for (key, snapshot, exp_id), before in by_request.items():
        if snapshot != "base":
            continue
        after = by_request[(key, "rollout_raised", exp_id)]
        if before["reason"] == "assigned":
            assert after["variant_id"] == before["variant_id"], (key, exp_id)
            kept += 1
        elif before["reason"] == "outside_rollout" and after["reason"] == "assigned":
            added += 1
    assert kept > 300 and added > 50, (kept, added)


def test_the_cases_cover_the_edges(vectors: dict[str, Any]) -> None:
    cases = vectors["cases"]
    reasons = {a["reason"] for c in cases for a in c["assignments"]}
    assert reasons == {"assigned", "shipped", "missing_id", "not_targeted", "outside_layer_slice", "outside_rollout"}
    ids = [c["unit_id"] for c in cases]
    assert any(len(u) == 256 and not u.isascii() for u in ids) and any(ord(ch) > 0xFFFF for u in ids for ch in u)
    assert "" in ids and any(c["exp_ids"] == [] for c in cases)
    modes = {(e["hash_mode"], e["hash_version"]) for d in vectors["snapshots"].values() for e in d["experiments"]}
    assert modes == {("rayab", 1), ("growthbook", 1), ("growthbook", 2)}
    layers = [e["layer"] for e in vectors["snapshots"]["base"]["experiments"]]
    assert layers.count("home") >= 3


def test_rules_equal_in_python_but_of_other_types_compile_apart() -> None:
    # True == 1 and hash(True) == hash(1): a cache keyed by equality would serve one rule's predicate for the other
    from rayab.assignment.targeting import compile_rule
    from rayab.model.targeting import Condition

    as_number, as_bool = Condition("c", "eq", 1), Condition("c", "eq", True)
    assert compile_rule(as_number)({"c": 1}) is True
    assert compile_rule(as_bool)({"c": True}) is True
    assert compile_rule(as_bool)({"c": 1}) == compile_rule(as_bool)({"c": 1})  # stable, whatever ran first
    assert compile_rule(as_bool) is not compile_rule(as_number)
