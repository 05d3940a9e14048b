"""Writes the language-neutral assignment vectors, ``sdk/vectors/assignment_vectors.json``, from the Python engine.

Every SDK (Python, Node, and any later one) must reproduce each value of the file; the Python test
``tests/assignment/test_vectors.py`` fails when the committed file no longer equals what the engine produces.
Regenerate after a deliberate change of the assignment spec (which also needs a new ``schema_version`` of the
snapshot document if an SDK would evaluate an old document differently):

    .venv/bin/python scripts/gen_assignment_vectors.py          # rewrite the file
    .venv/bin/python scripts/gen_assignment_vectors.py --check  # exit 1 if the file differs

Sections: ``md5_bucket`` and ``growthbook_hash`` (raw positions), ``ranges`` (coverage-monotone variant ranges),
``targeting`` (one rule, one attribute map, matches or not: every operator against every kind of attribute),
``snapshots`` (SDK snapshot documents, :mod:`rayab.assignment.snapshot_json`), ``cases`` (a request against a
snapshot: every assignment, the merged parameters, the hash positions) and ``errors`` (requests an SDK must
reject, with the error kind and the field).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rayab.assignment.allocation import variant_ranges
from rayab.assignment.engine import Assigner
from rayab.assignment.growthbook import gb_hash
from rayab.assignment.hashing import bucket
from rayab.assignment.plan import Assignment, ExperimentPlan
from rayab.assignment.snapshot_json import from_document, to_document
from rayab.assignment.targeting import matches
from rayab.errors import NotFoundError, PreconditionError, ValidationError
from rayab.model.experiment import Experiment
from rayab.model.targeting import parse_targeting

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "sdk" / "vectors" / "assignment_vectors.json"
FORMAT = "rayab.assignment-vectors"
SCHEMA_VERSION = 1

RULES = {
    "md5_bucket": "n = first 8 bytes of md5(utf8(salt + ':' + unit_id)) as big-endian uint64; "
                  "bucket = (n >> 11) / 2**53",
    "growthbook_hash": "fnv1a32 over UTF-16 code units; version 1: fnv1a32(value + seed) % 1000 / 1000; "
                       "version 2: fnv1a32(decimal(fnv1a32(seed + value))) % 10000 / 10000",
    "ranges": "variant i owns [s_i, s_i + (rollout_pct / 100) * (traffic_pct_i / 100)), "
              "s_i = sum of traffic_pct_j / 100 for j < i, summed left to right in float64",
    "layer": "position = bucket(layer + ':layer', id) (growthbook: gb_hash('__' + layer, id, 1)); "
             "in the slice when layer_pct[0] / 100 <= position < layer_pct[1] / 100; "
             "a slice of [0, 100] is not hashed",
    "steps": "shipped (stopped with shipped_variant), missing_id, not_targeted, outside_layer_slice, "
             "outside_rollout, assigned; only assigned and shipped carry parameters",
    "serving": "without exp_ids: running experiments and stopped ones with a shipped variant, in config order",
    "parameters": "merged over the answer in its order: the first assignment that carries a parameter wins",
    "numbers": "attributes are JSON numbers; an integral number is an integer (reads as its decimal text for a "
               "string or version condition), any other is a float",
}

# ---------------------------------------------------------------- snapshots


def _variants(ids_weights: Sequence[tuple[str, float]], parameters: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [{"variant_id": v, "traffic_pct": w, "parameters": dict(p)}
            for (v, w), p in zip(ids_weights, parameters, strict=True)]


def base_experiments() -> list[dict[str, Any]]:
    """The experiments of the first snapshot: every assignment feature at least once."""
    two = (("control", 50), ("treatment", 50))
    return [
        {"exp_id": "checkout", "variants": _variants(
            (("control", 34), ("blue", 33), ("red", 33)),
            ({"button_color": "green", "discount": 0, "ratio": 0.25, "express": None},
             {"button_color": "blue", "discount": 5, "ratio": 0.5, "express": True},
             {"button_color": "red", "discount": 10, "ratio": 0.75, "express": False}))},
        {"exp_id": "ranker", "rollout_pct": 10, "unit": "ACCOUNT",
         "targeting": {"all": [{"attr": "country", "in": ["FR", "DE", "ES"]},
                               {"attr": "app_version", "version_gte": "5.2"}]},
         "variants": _variants(two, ({"ranker": "v1"}, {"ranker": "v2", "ranker_depth": 3}))},
        {"exp_id": "home_a", "layer": "home", "layer_pct": [0, 30], "targeting": {"attr": "premium", "eq": True},
         "variants": _variants(two, ({"hero": "a0"}, {"hero": "a1"}))},
        {"exp_id": "home_b", "layer": "home", "layer_pct": [30, 65], "rollout_pct": 50,
         "variants": _variants((("control", 20), ("treatment", 80)), ({"hero": "b0"}, {"hero": "b1"}))},
        {"exp_id": "home_draft", "status": "draft", "layer": "home", "layer_pct": [65, 70],
         "variants": _variants(two, ({"hero": "d0"}, {"hero": "d1"}))},
        {"exp_id": "home_c", "layer": "home", "layer_pct": [70, 100],
         "targeting": {"any": [{"attr": "age", "gte": 18}, {"not": {"attr": "country", "eq": "US"}}]},
         "variants": _variants((("control", 25), ("t1", 25), ("t2", 50)),
                               ({"hero": "c0"}, {"hero": "c1"}, {"hero": "c2", "hero_size": 1.5}))},
        {"exp_id": "session_exp", "consistency": "session",
         "variants": _variants(two, ({"banner": "off"}, {"banner": "on"}))},
        {"exp_id": "hybrid_exp", "consistency": "hybrid", "assignment_salt": "hybrid-2026:phase2:ü",
         "variants": _variants(two, ({"tips": False}, {"tips": True}))},
        {"exp_id": "gb_v1", "hash_mode": "growthbook", "hash_version": 1, "layer": "gb_ns", "layer_pct": [0, 50],
         "rollout_pct": 60, "variants": _variants(two, ({"gb": "v1-c"}, {"gb": "v1-t"}))},
        {"exp_id": "gb_v2", "hash_mode": "growthbook", "hash_version": 2, "layer": "gb_ns",
         "layer_pct": [50, 100], "variants": _variants((("control", 10), ("treatment", 90)),
                                                       ({"gb": "v2-c"}, {"gb": "v2-t"}))},
        {"exp_id": "gb_solo", "hash_mode": "growthbook", "hash_version": 2, "assignment_salt": "gb-solo-seed",
         "targeting": {"attr": "beta", "ne": False},
         "variants": _variants((("a", 33.3), ("b", 33.3), ("c", 33.4)), ({"gb3": 0}, {"gb3": 1}, {"gb3": 2}))},
        {"exp_id": "shipped_exp", "status": "stopped", "shipped_variant": "treatment",
         "variants": _variants(two, ({"checkout_flow": "old"}, {"checkout_flow": "new", "button_color": "black"}))},
        {"exp_id": "stopped_plain", "status": "stopped",
         "variants": _variants(two, ({"legacy": 1}, {"legacy": 2}))},
        {"exp_id": "archived_exp", "status": "archived",
         "variants": _variants(two, ({"old": 1}, {"old": 2}))},
        {"exp_id": "dark", "rollout_pct": 0, "variants": _variants(two, ({"dark": 0}, {"dark": 1}))},
        {"exp_id": "age_gate", "rollout_pct": 72.5,
         "targeting": {"all": [{"attr": "age", "gte": 21}, {"attr": "age", "lt": 65.5},
                               {"not": {"attr": "plan", "in": ["free", "trial"]}},
                               {"attr": "app_version", "version_lt": "7.0.0-beta.2"}]},
         "variants": _variants(two, ({"limit": 10}, {"limit": 25}))},
    ]


def _experiment(spec: Mapping[str, Any]) -> Experiment:
    data = {"name": spec["exp_id"], "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z", **spec}
    return Experiment.from_dict(data)


def _with(experiments: list[dict[str, Any]], exp_id: str, **changes: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(experiments)
    for spec in out:
        if spec["exp_id"] == exp_id:
            spec.update(changes)
    return out


def snapshot_specs() -> list[tuple[str, int, list[dict[str, Any]]]]:
    """(name, config version, experiments): the base config, a rollout raise, then a stop with a ship."""
    base = base_experiments()
    raised = _with(_with(_with(base, "ranker", rollout_pct=60), "home_b", rollout_pct=100), "gb_v1",
                   rollout_pct=100)
    raised = _with(raised, "dark", rollout_pct=1)
    shipped = _with(_with(raised, "home_a", status="stopped", shipped_variant="treatment"), "ranker",
                    rollout_pct=100)
    return [("base", 41, base), ("rollout_raised", 42, raised), ("home_a_shipped", 43, shipped)]


# ---------------------------------------------------------------- requests

UNICODE_IDS = [
    "ünïcødé", "用户-42", "😀-emoji", "e\u0301", "\u00e9", "ǅ", "مرحبا", "a\u0000b", "line\nbreak\ttab",
    "\ufeffbom", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬁ", "Ω\u2126", " padded ",
]
LONG_IDS = ["x" * 256, "😀" * 256, "é" * 255 + "z", "k" * 200 + "用" * 56]
ATTRIBUTE_POOL: list[dict[str, Any]] = [
    {},
    {"country": "FR", "app_version": "5.2", "premium": True, "age": 30},
    {"country": "DE", "app_version": "5.10.1", "premium": False, "age": 17, "plan": "pro"},
    {"country": "ES", "app_version": "5.1.9", "age": "21", "plan": "free"},
    {"country": "US", "app_version": "6.0.0-beta.1", "premium": "TRUE", "age": 64.5, "beta": True},
    {"country": "FR", "app_version": "v7.0.0-beta.11", "age": 65.5, "beta": "false"},
    {"country": "US", "age": 12, "beta": False},
    {"country": "fr", "app_version": 6, "premium": True, "age": 45, "plan": "trial"},
    {"country": "DE", "app_version": "5.2.0+build7", "premium": "true", "age": " 22 "},
    {"country": "IT", "app_version": "not-a-version", "age": "1_000", "beta": "yes"},
]


def requests() -> list[dict[str, Any]]:
    """Every request of the cases: plain ids, sessions, unicode and maximal ids, explicit experiment lists."""
    out: list[dict[str, Any]] = []
    for i in range(120):
        session = f"s-{i // 2}" if i % 3 == 0 else None
        out.append({"unit_id": f"user-{i}", "session_id": session, "attributes": ATTRIBUTE_POOL[i % 10],
                    "exp_ids": None})
    for i, unit_id in enumerate(UNICODE_IDS + LONG_IDS):
        out.append({"unit_id": unit_id, "session_id": "σ-" + unit_id[:8] if i % 2 else None,
                    "attributes": ATTRIBUTE_POOL[(i + 1) % 10], "exp_ids": None})
    for i in range(6):  # no unit id: strict experiments have no id to hash, session and hybrid use the session
        out.append({"unit_id": "", "session_id": f"anon-{i}", "attributes": ATTRIBUTE_POOL[i], "exp_ids": None})
    for i, exp_ids in enumerate([["ranker"], ["home_c", "checkout"], ["shipped_exp", "gb_v2", "gb_v1"], [],
                                 ["checkout", "checkout"]]):
        out.append({"unit_id": f"picked-{i}", "session_id": None, "attributes": ATTRIBUTE_POOL[i + 1],
                    "exp_ids": exp_ids})
    return out


def error_requests() -> list[dict[str, Any]]:
    """Requests an SDK must reject (the expected kind and field come from the engine)."""
    plain: dict[str, Any] = {"session_id": None, "attributes": {}, "exp_ids": None}
    return [
        {**plain, "unit_id": "x" * 257},
        {**plain, "unit_id": "😀" * 257},
        {**plain, "unit_id": ""},
        {**plain, "unit_id": "u", "session_id": "s" * 257},
        {**plain, "unit_id": "u", "attributes": {"n" * 65: 1}},
        {**plain, "unit_id": "u", "attributes": {"": 1}},
        {**plain, "unit_id": "u", "attributes": {"note": "t" * 1025}},
        {**plain, "unit_id": "u", "attributes": {"country": None}},
        {**plain, "unit_id": "u", "attributes": {"country": ["FR"]}},
        {**plain, "unit_id": "u", "attributes": {"country": {"code": "FR"}}},
        {**plain, "unit_id": "u", "attributes": {f"a{i}": i for i in range(257)}},
        {**plain, "unit_id": "u", "exp_ids": "ranker"},
        {**plain, "unit_id": "u", "exp_ids": [""]},
        {**plain, "unit_id": "u", "exp_ids": ["no_such_experiment"]},
        {**plain, "unit_id": "u", "exp_ids": ["checkout", "home_draft"]},
        {**plain, "unit_id": "u", "exp_ids": ["stopped_plain"]},
        {**plain, "unit_id": "u", "exp_ids": ["archived_exp"]},
    ]


# ---------------------------------------------------------------- targeting

CONDITIONS: list[dict[str, Any]] = [
    {"attr": "v", "eq": "FR"}, {"attr": "v", "eq": ""}, {"attr": "v", "eq": 21}, {"attr": "v", "eq": 21.5},
    {"attr": "v", "eq": True}, {"attr": "v", "eq": False}, {"attr": "v", "eq": "21"},
    {"attr": "v", "ne": "FR"}, {"attr": "v", "ne": 21}, {"attr": "v", "ne": True},
    {"attr": "v", "in": ["FR", "DE"]}, {"attr": "v", "in": [1, 2.5, 21]}, {"attr": "v", "in": [True]},
    {"attr": "v", "in": ["5", "21"]},
    {"attr": "v", "not_in": ["FR", "DE"]}, {"attr": "v", "not_in": [21, -0.5]}, {"attr": "v", "not_in": [False]},
    {"attr": "v", "lt": 21}, {"attr": "v", "lte": 21}, {"attr": "v", "gt": 21}, {"attr": "v", "gte": 21},
    {"attr": "v", "lt": -0.5}, {"attr": "v", "gte": 0}, {"attr": "v", "gt": 10**15},
    {"attr": "v", "version_eq": "5.2"}, {"attr": "v", "version_ne": "5.2"}, {"attr": "v", "version_lt": "5.10"},
    {"attr": "v", "version_lte": "6.0.0-beta.2"}, {"attr": "v", "version_gt": "6.0.0-beta"},
    {"attr": "v", "version_gte": "v6.0.0+build.9"}, {"attr": "v", "version_eq": "1.0.0-rc.1"},
    {"attr": "v", "version_lt": "6.0.0-alpha.beta"}, {"attr": "v", "version_gte": "5"},
]
ATTRIBUTE_VALUES: list[Any] = [
    "FR", "fr", "DE", "", "21", " 21 ", "\u00a021\u3000", "\u200b21", "21\u001c", "\u008521", "\ufeff21", "21.0",
    "2_1", "2__1", "_21",
    "1e3", "21e0", "1E1_0", ".5", "5.", "-0.5", "+21", "inf", "-Infinity", "nan", "1e400", "0x15", "0b1", "abc",
    "TRUE", "false", "True ", "yes", "5", "5.2", "5.2.0", "5.10", "5.1.9", "v5.2.0", "V5.2", "5.2.0+build7",
    "6.0.0-beta.2", "6.0.0-beta.02", "6.0.0-beta.11", "6.0.0-beta", "6.0.0-alpha", "6.0.0-alpha.beta",
    "6.0.0-alpha.1", "6.0.0", "1.0.0-rc.1", "1.0.0-rc.1+b2", "1.0.0-RC.1", "5..2", "5.2.", "1.2.3.4.5.6.7.8",
    "1.2.3.4.5.6.7.8.9", "1234567890", "6.0.0-beta.99999999999999999999", "01.002", "ünï",
    "\u0662\u0661", "\uff12\uff11.5", "\U0001d7d0\U0001d7cf", "\u0665.\u0662",
    "\u0666.\u0660.\u0660-beta.2", "\u00b2\u00b9",
    21, 5, 0, -3, 1, 1000000000000000, 9007199254740993 - 1, 21.5, -0.5, 2.5, 0.1, True, False,
]
COMBINATIONS: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    ({}, [{}, {"v": 1}]),
    ({"not": {"attr": "v", "ne": "FR"}}, [{}, {"v": "FR"}, {"v": "DE"}, {"v": 3}]),
    ({"not": {"attr": "v", "in": ["FR"]}}, [{}, {"v": "FR"}, {"v": "DE"}]),
    ({"all": [{"attr": "a", "eq": 1}, {"attr": "b", "eq": "x"}]},
     [{}, {"a": 1}, {"a": 1, "b": "x"}, {"a": "1", "b": "x"}, {"a": 1, "b": "y"}]),
    ({"any": [{"attr": "a", "eq": 1}, {"attr": "b", "eq": "x"}]}, [{}, {"a": 1}, {"b": "x"}, {"a": 2, "b": "y"}]),
    ({"all": [{"any": [{"attr": "a", "gt": 5}, {"not": {"attr": "b", "version_gte": "2.0"}}]},
              {"not": {"all": [{"attr": "c", "eq": True}, {"attr": "d", "in": ["p", "q"]}]}}]},
     [{}, {"a": 6}, {"a": 6, "c": True, "d": "p"}, {"b": "2.1"}, {"b": "1.9", "c": "true", "d": "q"},
      {"a": "7", "c": False, "d": "p"}]),
    ({"not": {"not": {"not": {"attr": "a", "lte": 0}}}}, [{}, {"a": 0}, {"a": 0.5}, {"a": "-1"}]),
]


def targeting_cases() -> list[dict[str, Any]]:
    """Every condition against every attribute value (and missing), then nested combinations."""
    out = []
    for rule in CONDITIONS:
        parsed = parse_targeting(rule)
        attribute_sets: list[dict[str, Any]] = [{}] + [{"v": value} for value in ATTRIBUTE_VALUES]
        for attributes in attribute_sets:
            out.append({"rule": rule, "attributes": attributes, "matches": matches(parsed, attributes)})
    for rule, combined in COMBINATIONS:
        parsed = parse_targeting(rule)
        for attributes in combined:
            out.append({"rule": rule, "attributes": attributes, "matches": matches(parsed, attributes)})
    return out


# ---------------------------------------------------------------- evaluation


def _assignment(a: Assignment) -> dict[str, Any]:
    return {"exp_id": a.exp_id, "variant_id": a.variant_id, "parameters": dict(a.parameters),
            "in_experiment": a.in_experiment, "reason": a.reason}


def merged_parameters(assignments: Sequence[Assignment]) -> dict[str, Any]:
    """The parameters a unit sees: the first assignment (in answer order) carrying a name wins."""
    merged: dict[str, Any] = {}
    for a in assignments:
        for name, value in a.parameters.items():
            merged.setdefault(name, value)
    return merged


def positions(assigner: Assigner, unit_id: str, session_id: str | None) -> dict[str, dict[str, float]]:
    """Per running experiment, the position of the id it hashes (and its layer position when sliced)."""
    out = {}
    for experiment in assigner.snapshot.experiments:
        plan = ExperimentPlan.from_experiment(experiment)
        hash_id = plan.hash_id(unit_id, session_id)
        if plan.serving != "active" or not hash_id:
            continue
        entry = {"bucket": plan.position(hash_id)}
        if plan.layer_slice is not None:
            entry["layer"] = plan.layer_position(hash_id)
        out[experiment.exp_id] = entry
    return out


def evaluate_case(assigner: Assigner, request: Mapping[str, Any]) -> dict[str, Any]:
    """The expected outcome of one request: assignments, merged parameters, positions."""
    answer = assigner.assign(request["unit_id"], request["attributes"], request["exp_ids"], request["session_id"])
    return {"assignments": [_assignment(a) for a in answer], "parameters": merged_parameters(answer),
            "positions": positions(assigner, request["unit_id"], request["session_id"])}


def evaluate_error(assigner: Assigner, request: Mapping[str, Any]) -> dict[str, Any]:
    """The error kind (and field) the engine raises for a bad request."""
    try:
        assigner.assign(request["unit_id"], request["attributes"], request["exp_ids"], request["session_id"])
    except ValidationError as err:
        return {"error": "invalid_argument", "field": err.field}
    except NotFoundError:
        return {"error": "not_found", "field": None}
    except PreconditionError:
        return {"error": "failed_precondition", "field": None}
    raise AssertionError(f"request was not rejected: {str(request)[:200]}")


def _check_json_numbers(value: Any, path: str) -> None:
    """JSON cannot tell a reader with one number type that 21.0 is a float: integral float attributes, which
    Python reads differently from integers (a string condition reads 21 as "21" but rejects 21.0), stay out."""
    if isinstance(value, float) and value.is_integer():
        raise ValueError(f"{path}: integral float {value!r} would read as an integer in other languages")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_json_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_numbers(item, f"{path}[{i}]")


def build_vectors() -> dict[str, Any]:
    """The whole vectors document."""
    snapshots: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    ranges = []
    for name, version, specs in snapshot_specs():
        snapshot = from_document(to_document(Assigner.from_experiments([_experiment(s) for s in specs],
                                                                       version).snapshot))
        document = to_document(snapshot)
        snapshots[name] = document
        assigner = Assigner(snapshot)
        for request in requests():
            cases.append({"snapshot": name, **request, **evaluate_case(assigner, request)})
        if name == "base":
            for request in error_requests():
                errors.append({"snapshot": name, **request, **evaluate_error(assigner, request)})
        for experiment in snapshot.experiments:
            weights = [v.traffic_pct for v in experiment.variants]
            ranges.append({"traffic_pct": weights, "rollout_pct": experiment.rollout_pct,
                           "ranges": [list(r) for r in variant_ranges([w / 100.0 for w in weights],
                                                                      experiment.coverage)]})
    for weights, rollout in (([50.0, 50.0], 37.5), ([10.0, 20.0, 30.0, 40.0], 33.3), ([0.1, 99.9], 100.0),
                             ([33.3, 33.3, 33.4], 0.7), ([100.0 / 3, 100.0 / 3, 100.0 / 3], 99.99)):
        ranges.append({"traffic_pct": weights, "rollout_pct": rollout,
                       "ranges": [list(r) for r in variant_ranges([w / 100.0 for w in weights], rollout / 100.0)]})
    unique_ranges = {json.dumps(r, sort_keys=True): r for r in ranges}
    salts = ["ctr_test", "", "home:layer", "hybrid-2026:phase2:ü", "用户", "😀"]
    hash_ids = ["alice", "", "0", "user-1", *UNICODE_IDS, *LONG_IDS]
    md5_cases = [{"salt": s, "unit_id": u, "bucket": bucket(s, u)} for s in salts for u in hash_ids]
    gb_cases = [{"seed": s, "value": u, "version": v, "position": gb_hash(s, u, v)}
                for s in ["", "gb-solo-seed", "__gb_ns", "ünï", "😀"] for u in hash_ids for v in (1, 2)]
    vectors: dict[str, Any] = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION,
        "generated_by": "scripts/gen_assignment_vectors.py", "rules": RULES,
        "md5_bucket": md5_cases, "growthbook_hash": gb_cases, "ranges": list(unique_ranges.values()),
        "targeting": targeting_cases(), "snapshots": snapshots, "cases": cases, "errors": errors,
    }
    for section in ("targeting", "cases", "errors"):
        for i, entry in enumerate(vectors[section]):
            _check_json_numbers(entry["attributes"], f"{section}[{i}].attributes")
    return vectors


def render(vectors: Mapping[str, Any]) -> str:
    """The file's text: one line per entry of each list section, so a diff shows which case changed."""
    lines = ["{"]
    items = list(vectors.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if isinstance(value, list):
            lines.append(f" {json.dumps(key)}: [")
            rows = [json.dumps(v, ensure_ascii=False, allow_nan=False) for v in value]
            lines.extend(f"  {row}," for row in rows[:-1])
            lines.extend(f"  {row}" for row in rows[-1:])
            lines.append(f" ]{comma}")
        elif isinstance(value, dict) and key == "snapshots":
            lines.append(f" {json.dumps(key)}: {{")
            names = list(value)
            for j, name in enumerate(names):
                end = "," if j < len(names) - 1 else ""
                lines.append(f"  {json.dumps(name)}: {json.dumps(value[name], ensure_ascii=False)}{end}")
            lines.append(f" }}{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render(build_vectors())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} differs from what the engine produces: run scripts/gen_assignment_vectors.py",
                  file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
