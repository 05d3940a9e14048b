"""cluster.yaml (AWS) and cluster.local.yaml (on-prem) validated offline against Ray's own launcher schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return config


def _prepared(config: dict[str, Any]) -> dict[str, Any]:
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_aws_config_is_valid_and_autoscales_with_a_taskless_head() -> None:
    config = _prepared(_load("cluster.yaml"))
    assert config["provider"]["type"] == "aws"
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    workers = [t for name, t in config["available_node_types"].items() if name != config["head_node_type"]]
    assert len(workers) == 1 and 0 <= workers[0]["min_workers"] < workers[0]["max_workers"]
    for node in config["available_node_types"].values():
        assert node["node_config"]["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::")
    assert any("RAY_AUTH_MODE=token" in c for c in config["head_start_ray_commands"])
    assert any("--num-cpus=0" in c for c in config["head_start_ray_commands"])


def test_local_config_is_valid() -> None:
    config = _prepared(_load("cluster.local.yaml"))
    assert config["provider"]["type"] == "local"
    assert len(config["provider"]["worker_ips"]) == 3


def test_the_schema_check_catches_a_broken_config() -> None:
    broken = _load("cluster.yaml")
    broken["available_node_types"]["workers"]["max_workers"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        _prepared(broken)
    unknown = _load("cluster.yaml")
    unknown["max_worker"] = 3  # a typo of max_workers: the schema allows no unknown top-level keys
    with pytest.raises(jsonschema.ValidationError):
        _prepared(unknown)
