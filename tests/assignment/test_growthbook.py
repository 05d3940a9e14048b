"""GrowthBook compatibility: every case of the GrowthBook cross-SDK conformance subset, directly and through
the engine with ``hash_mode: growthbook``.

The cases are in ``tests/reference/growthbook_sdk_cases_subset.json`` (github.com/growthbook/growthbook-python
``tests/cases.json`` @ 5aa8806c, MIT licence, (c) 2021 GrowthBook).
"""

from __future__ import annotations

from typing import Any

import pytest

from rayab.assignment.engine import Assigner
from rayab.assignment.growthbook import (
    bucket_ranges,
    choose_variation,
    equal_weights,
    fnv1a32,
    gb_hash,
    in_namespace,
    run,
)
from rayab.model.experiment import Experiment


def test_every_hash_case(growthbook_cases: dict[str, Any]) -> None:
    for seed, value, version, expected in growthbook_cases["hash"]:
        got = gb_hash(seed, value, version)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(expected, abs=1e-12), (seed, value, version)


def test_every_bucket_range_case(growthbook_cases: dict[str, Any]) -> None:
    for name, (n, coverage, weights), expected in growthbook_cases["getBucketRange"]:
        got = bucket_ranges(n, coverage, weights)
        assert len(got) == len(expected), name
        for (start, end), (want_start, want_end) in zip(got, expected, strict=True):
            assert start == pytest.approx(want_start, abs=1e-9), name
            assert end == pytest.approx(want_end, abs=1e-9), name


def test_every_choose_variation_case(growthbook_cases: dict[str, Any]) -> None:
    for name, position, ranges, expected in growthbook_cases["chooseVariation"]:
        assert choose_variation(position, [tuple(r) for r in ranges]) == expected, name


def test_every_namespace_case(growthbook_cases: dict[str, Any]) -> None:
    for name, unit_id, (namespace_id, start, end), expected in growthbook_cases["inNamespace"]:
        assert in_namespace(unit_id, (namespace_id, start, end)) is expected, name


def test_every_equal_weights_case(growthbook_cases: dict[str, Any]) -> None:
    for n, expected in growthbook_cases["getEqualWeights"]:
        assert equal_weights(n) == pytest.approx(expected, abs=1e-8)


def test_every_run_case(growthbook_cases: dict[str, Any]) -> None:
    assert len(growthbook_cases["run"]) == 48
    for name, context, experiment, value, in_experiment, hash_used in growthbook_cases["run"]:
        result = run(experiment, context.get("attributes", {}))
        assert (result.value, result.in_experiment, result.hash_used) == (value, in_experiment, hash_used), name


def test_fnv1a32_known_vectors() -> None:
    # Published FNV-1a 32-bit test vectors.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv1a32_reads_utf16_code_units() -> None:
    def reference(units: list[int]) -> int:
        value = 0x811C9DC5
        for unit in units:
            value = ((value ^ unit) * 0x01000193) % 2**32
        return value

    assert fnv1a32("é") == reference([0xE9])
    assert fnv1a32("a😀") == reference([0x61, 0xD83D, 0xDE00])


def engine_experiment(case: dict[str, Any]) -> Experiment:
    """The rayab experiment a team moving from GrowthBook writes for a plain GrowthBook experiment."""
    variations = case["variations"]
    weights = case.get("weights") or equal_weights(len(variations))
    return Experiment.from_dict({
        "exp_id": case["key"], "name": case["key"], "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
        "assignment_salt": case.get("seed") or case["key"], "hash_mode": "growthbook",
        "hash_version": case.get("hashVersion") or 1, "rollout_pct": 100 * case.get("coverage", 1.0),
        "variants": [{"variant_id": f"v{i}", "traffic_pct": 100 * w, "parameters": {"index": i}}
                     for i, w in enumerate(weights)],
    })


def test_the_engine_in_growthbook_mode_reproduces_every_run_case_with_an_id(
        growthbook_cases: dict[str, Any]) -> None:
    checked = 0
    for name, context, case, _, in_experiment, _ in growthbook_cases["run"]:
        unit_id = context.get("attributes", {}).get(case.get("hashAttribute") or "id")
        if len(case["variations"]) < 2 or not unit_id:
            continue  # rayab rejects such requests or specs up front (ValidationError / SpecError)
        (assignment,) = Assigner.from_experiments([engine_experiment(case)]).assign(unit_id, {})
        expected = run(case, context["attributes"])
        assert assignment.in_experiment is in_experiment, name
        if in_experiment:
            assert assignment.variant_id == f"v{expected.variation_id}", name
            assert assignment.parameters == {"index": expected.variation_id}, name
        checked += 1
    assert checked == 43


def test_layers_in_growthbook_mode_are_namespaces(growthbook_cases: dict[str, Any]) -> None:
    for name, unit_id, (namespace_id, start, end), expected in growthbook_cases["inNamespace"]:
        exp = Experiment.from_dict({
            "exp_id": "ns_test", "name": "ns", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
            "hash_mode": "growthbook", "layer": namespace_id, "layer_pct": [100 * start, 100 * end],
            "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]})
        (assignment,) = Assigner.from_experiments([exp]).assign(unit_id, {})
        assert (assignment.reason != "outside_layer_slice") is expected, name
