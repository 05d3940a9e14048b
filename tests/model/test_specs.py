"""Spec validation: every invalid spec names the field, the value and the rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rayab.errors import ExpressionError, SpecError
from rayab.model import AnalysisType, Config, Experiment, load_config, parse_expression
from rayab.model.hours import hours_between, parse_hour
from rayab.simulate import demo_config


def _exp(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "exp_id": "ranker_v2", "name": "Ranker", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
        "variants": [{"variant_id": "control", "traffic_pct": 50}, {"variant_id": "treatment", "traffic_pct": 50}],
    }
    spec.update(changes)
    return spec


@pytest.mark.parametrize(("changes", "field", "rule"), [
    ({"exp_id": "../../etc/passwd"}, "experiment.exp_id", "must match"),
    ({"exp_id": "Upper"}, "experiment.exp_id", "must match"),
    ({"exp_id": "x" * 65}, "experiment.exp_id", "must match"),
    ({"variants": [{"variant_id": "a", "traffic_pct": 60}, {"variant_id": "b", "traffic_pct": 30}]},
     "experiment.variants[*].traffic_pct", "must sum to 100"),
    ({"variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "a", "traffic_pct": 50}]},
     "experiment.variants[1].variant_id", "duplicate variant id"),
    ({"variants": [{"variant_id": "a", "traffic_pct": 100}]}, "experiment.variants", "at least 2"),
    ({"variants": [{"variant_id": "a", "traffic_pct": 150}, {"variant_id": "b", "traffic_pct": -50}]},
     "experiment.variants[0].traffic_pct", "must be in [0, 100]"),
    ({"unit": "COOKIE"}, "experiment.unit", "must be one of PROFILE, ACCOUNT, DEVICE"),
    ({"rollout_pct": 120}, "experiment.rollout_pct", "must be in [0, 100]"),
    ({"end_time": "2026-11-23T00:00:00Z"}, "experiment.end_time", "must be after start_time"),
    ({"start_time": "yesterday"}, "experiment.start_time", "ISO-8601"),
    ({"assignment_salt": "s", "bootstrap_salt": "s"}, "experiment.bootstrap_salt", "must differ"),
    ({"control": "nope"}, "experiment.control", "must be one of the variant ids"),
    ({"colour": "red"}, "experiment.colour", "unknown field"),
])
def test_invalid_experiment_names_field_value_and_rule(changes: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(SpecError) as info:
        Experiment.from_dict(_exp(**changes))
    assert info.value.field == field
    assert rule in info.value.rule
    assert field in str(info.value)


def test_valid_experiment_defaults() -> None:
    exp = Experiment.from_dict(_exp(rollout_pct=5))
    assert exp.control_id == "control"
    assert exp.coverage == pytest.approx(0.05)
    assert exp.assignment_salt == "ranker_v2" and exp.bootstrap_salt == "ranker_v2:bootstrap"
    assert exp.start_time.tzinfo is not None
    assert Experiment.from_dict(exp.to_dict()) == exp


@pytest.mark.parametrize(("spec", "field", "rule"), [
    ({"name": "Bad-Name", "metrics": [{"name": "c"}]}, "analysis_type.name", "must match"),
    ({"name": "x", "metrics": []}, "analysis_type.metrics", "at least one"),
    ({"name": "x", "metrics": [{"name": "c"}, {"name": "c"}]}, "analysis_type.metrics[1].name", "duplicate"),
    ({"name": "x", "metrics": [{"name": "units"}]}, "analysis_type.metrics[0].name", "reserved"),
    ({"name": "x", "metrics": [{"name": "c", "decimals": 12}]}, "analysis_type.metrics[0].decimals",
     "must be in [0, 9]"),
    ({"name": "x", "metrics": [{"name": "c", "kind": "max"}]}, "analysis_type.metrics[0].kind", "one of sum, count"),
    ({"name": "x", "metrics": [{"name": "c"}], "composed": {"r": "c / d"}}, "analysis_type.composed.r",
     "unknown metric 'd'"),
    ({"name": "x", "metrics": [{"name": "c"}], "composed": {"r": "c / (c"}}, "analysis_type.composed.r",
     "expected ')'"),
    ({"name": "x", "metrics": [{"name": "c"}], "dimensions": ["c"]}, "analysis_type.dimensions[0]", "duplicates"),
    ({"name": "x", "metrics": [{"name": "c"}], "n_replicates": 0}, "analysis_type.n_replicates",
     "must be in [1, 10000]"),
])
def test_invalid_analysis_type(spec: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(SpecError) as info:
        AnalysisType.from_dict(spec)
    assert info.value.field == field
    assert rule in info.value.rule


def test_config_cross_checks() -> None:
    base = demo_config().to_dict()
    base["experiments"][0]["primary_kpi"] = "dwell_time"
    with pytest.raises(SpecError, match="primary_kpi"):
        Config.from_dict(base)
    base = demo_config().to_dict()
    base["experiments"][0]["analysis_types"] = ["missing"]
    with pytest.raises(SpecError, match="unknown analysis type"):
        Config.from_dict(base)


def test_yaml_and_json_files_load_the_same(tmp_path: Path) -> None:
    import yaml

    data = demo_config().to_dict()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "c.json").write_text(json.dumps(data))
    assert load_config(tmp_path / "c.yaml") == load_config(tmp_path / "c.json") == demo_config()


def test_expression_errors_point_at_the_token() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("clicks * $impressions")
    assert info.value.position == 9
    assert "unexpected character '$'" in str(info.value)
    with pytest.raises(ExpressionError, match=r"unexpected '\)'"):
        parse_expression("clicks)")


def test_expression_precedence_matches_python() -> None:
    import numpy as np

    from rayab.model import evaluate

    values = {"a": np.array(7.0), "b": np.array(2.0), "c": np.array(3.0)}
    for text, expected in [("a - b - c", 2.0), ("a / b / c", 7 / 2 / 3), ("a + b * c", 13.0),
                           ("-(a - b) * c", -15.0), ("2 * a / (b + c)", 2.8), ("1e3 * a / b", 3500.0)]:
        assert float(evaluate(parse_expression(text), values)) == pytest.approx(expected)
    assert np.isnan(evaluate(parse_expression("a / (b - b)"), values))


def test_hours() -> None:
    assert len(hours_between("2026-11-24T00", "2026-11-25T00")) == 24
    with pytest.raises(SpecError.__mro__[1], match="hour"):
        parse_hour("2026-13-01T00")
