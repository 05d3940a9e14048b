"""The SDK snapshot document: defaults resolved, a lossless round trip for assignment, strict reading."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from rayab.assignment.engine import Assigner, ConfigSnapshot
from rayab.assignment.snapshot_json import FORMAT, SCHEMA_VERSION, dumps, from_document, loads, to_document
from rayab.errors import SpecError
from rayab.model.experiment import Experiment

ExperimentFactory = Callable[..., Experiment]


@pytest.fixture()
def snapshot(experiment: ExperimentFactory) -> ConfigSnapshot:
    """Every assignment feature: layers, targeting, consistency modes, GrowthBook mode, a shipped variant."""
    return ConfigSnapshot(12, (
        experiment("plain", (34, 33, 33), rollout_pct=40),
        experiment("layer_a", layer="home", layer_pct=[0, 40], targeting={"attr": "country", "in": ["FR", "DE"]}),
        experiment("layer_b", layer="home", layer_pct=[40, 100], rollout_pct=70),
        experiment("sess", consistency="session", assignment_salt="custom:ü"),
        experiment("hyb", consistency="hybrid", targeting={"not": {"attr": "age", "lt": 18}}),
        experiment("gb", (10, 90), hash_mode="growthbook", hash_version=2, layer="ns", layer_pct=[20, 80]),
        experiment("done", status="stopped", shipped_variant="v1"),
        experiment("draft", status="draft"),
    ))


def test_defaults_are_resolved_and_only_assignment_fields_remain(snapshot: ConfigSnapshot) -> None:
    document = to_document(snapshot)
    assert (document["format"], document["schema_version"], document["config_version"]) == (FORMAT, 1, 12)
    plain = document["experiments"][0]
    assert plain["assignment_salt"] == "plain" and plain["layer"] == "plain" and plain["layer_pct"] == [0.0, 100.0]
    assert plain["variants"][1] == {"variant_id": "v1", "traffic_pct": 33.0, "parameters": {"arm": 1}}
    assert "bootstrap_salt" not in plain and "name" not in plain and "guardrails" not in plain
    assert document["experiments"][3]["assignment_salt"] == "custom:ü"
    assert document["experiments"][1]["targeting"] == {"attr": "country", "in": ["FR", "DE"]}
    assert [e["exp_id"] for e in document["experiments"]] == [e.exp_id for e in snapshot.experiments]


def test_the_round_trip_through_json_text_assigns_every_unit_identically(snapshot: ConfigSnapshot) -> None:
    text = dumps(snapshot)
    again = loads(text.encode("utf-8"))
    assert dumps(again) == text
    assert to_document(from_document(json.loads(text))) == to_document(snapshot)
    before, after = Assigner(snapshot), Assigner(again)
    countries = ["FR", "DE", "US"]
    attributes: list[dict[str, Any]] = [{"country": countries[i % 3], "age": i % 40} for i in range(5000)]
    units = [f"u{i}" if i % 7 else "" for i in range(5000)]
    sessions = [f"s{i // 3}" for i in range(5000)]
    left = before.assign_batch(units, attributes, session_ids=sessions)
    right = after.assign_batch(units, attributes, session_ids=sessions)
    assert left == right
    reasons = {a.reason for row in left for a in row}
    assert reasons == {"assigned", "shipped", "missing_id", "not_targeted", "outside_layer_slice", "outside_rollout"}


@pytest.mark.parametrize(("change", "field"), [
    ({"format": "rayab.config"}, "snapshot.format"),
    ({"schema_version": 2}, "snapshot.schema_version"),
    ({"schema_version": True}, "snapshot.schema_version"),
    ({"config_version": -1}, "snapshot.config_version"),
    ({"config_version": "7"}, "snapshot.config_version"),
    ({"experiments": {}}, "snapshot.experiments"),
    ({"extra": 1}, "snapshot.extra"),
])
def test_a_document_of_another_format_or_version_is_refused(snapshot: ConfigSnapshot, change: dict[str, Any],
                                                             field: str) -> None:
    with pytest.raises(SpecError) as caught:
        from_document({**to_document(snapshot), **change})
    assert caught.value.field == field


def test_experiment_errors_name_the_path_inside_the_document(snapshot: ConfigSnapshot) -> None:
    document = to_document(snapshot)
    document["experiments"][2]["layer_pct"] = [30, 100]  # overlaps layer_a [0, 40)
    with pytest.raises(SpecError, match=r"overlaps experiment layer_a") as caught:
        from_document(document)
    assert caught.value.field == "snapshot.experiments[2].layer_pct"
    document = to_document(snapshot)
    del document["experiments"][0]["assignment_salt"]
    with pytest.raises(SpecError) as caught:
        from_document(document)
    assert caught.value.field == "snapshot.experiments[0].assignment_salt"
    document = to_document(snapshot)
    document["experiments"][1]["bootstrap_salt"] = "x"
    with pytest.raises(SpecError) as caught:
        from_document(document)
    assert caught.value.field == "snapshot.experiments[1].bootstrap_salt"
    with pytest.raises(SpecError, match="not valid JSON"):
        loads("{not json")


def test_schema_version_is_one() -> None:
    assert SCHEMA_VERSION == 1
    assert json.loads(dumps(ConfigSnapshot(0, ()))) == {"format": FORMAT, "schema_version": 1, "config_version": 0,
                                                         "experiments": []}
