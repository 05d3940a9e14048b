"""The operators' schedule, checked offline: the KubeRay RayJob manifest against the RayJob fields of KubeRay's v1
CRD, and the commands of the cron script and the Airflow DAG against rayab's own argument parser (no cluster)."""

from __future__ import annotations

import ast
import copy
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rayab.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_POD_TEMPLATE = {"type": "object", "required": ["spec"], "properties": {
    "metadata": {"type": "object"},
    "spec": {"type": "object", "required": ["containers"], "properties": {
        "containers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "image"], "properties": {
                "name": {"type": "string"}, "image": {"type": "string"}, "env": {"type": "array"},
                "resources": {"type": "object", "additionalProperties": False, "properties": {
                    "requests": {"type": "object"}, "limits": {"type": "object"}}}}}},
        "serviceAccountName": {"type": "string"}}}}}
# The RayJob fields of KubeRay's v1 CRD (ray.io_rayjobs.yaml) that this manifest may use, with their types; unknown
# fields are refused, as the API server's structural schema prunes or rejects them.
RAYJOB_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"}, "kind": {"const": "RayJob"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "additionalProperties": False, "required": ["entrypoint", "rayClusterSpec"],
                 "properties": {
                     "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                     "backoffLimit": {"type": "integer", "minimum": 0},
                     "clusterSelector": _STR_MAP, "entrypoint": {"type": "string"},
                     "entrypointNumCpus": {"type": "number"}, "entrypointNumGpus": {"type": "number"},
                     "entrypointResources": {"type": "string"}, "jobId": {"type": "string"}, "metadata": _STR_MAP,
                     "runtimeEnvYAML": {"type": "string"}, "shutdownAfterJobFinishes": {"type": "boolean"},
                     "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]},
                     "submitterPodTemplate": {"type": "object"}, "suspend": {"type": "boolean"},
                     "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                     "rayClusterSpec": {
                         "type": "object", "additionalProperties": False, "required": ["headGroupSpec"],
                         "properties": {
                             "rayVersion": {"type": "string"}, "enableInTreeAutoscaling": {"type": "boolean"},
                             "autoscalerOptions": {"type": "object"},
                             "headGroupSpec": {"type": "object", "additionalProperties": False,
                                               "required": ["template"],
                                               "properties": {"rayStartParams": _STR_MAP,
                                                              "serviceType": {"type": "string"},
                                                              "template": _POD_TEMPLATE}},
                             "workerGroupSpecs": {"type": "array", "items": {
                                 "type": "object", "additionalProperties": False,
                                 "required": ["groupName", "template"],
                                 "properties": {"groupName": {"type": "string"},
                                                "replicas": {"type": "integer", "minimum": 0},
                                                "minReplicas": {"type": "integer", "minimum": 0},
                                                "maxReplicas": {"type": "integer", "minimum": 0},
                                                "rayStartParams": _STR_MAP, "template": _POD_TEMPLATE}}}}}}}}}


def _rayjob() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((DEPLOY / "kuberay" / "rayjob.yaml").read_text(encoding="utf-8"))
    return manifest


def _parses(command: str) -> Any:
    """The rayab command line of ``command`` (after ``--`` of ``ray job submit``, if any), parsed by rayab."""
    words = shlex.split(command)
    if "--" in words:
        words = words[words.index("--") + 1:]
    assert words[0] == "rayab", command
    return build_parser(words[1:]).parse_args(words[1:])


def test_rayjob_manifest_matches_the_crd_fields_and_runs_a_valid_hour() -> None:
    manifest = _rayjob()
    jsonschema.validate(manifest, RAYJOB_SCHEMA)
    spec = manifest["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["activeDeadlineSeconds"] < 3600
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # a taskless head
    for group in spec["rayClusterSpec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    args = _parses(spec["entrypoint"].replace("RAYAB_HOUR", "2026-11-24T10"))
    assert (args.command, args.hour, args.shards) == ("run-hour", "2026-11-24T10", 64)


def test_the_schema_refuses_a_misspelt_or_mistyped_field() -> None:
    typo = _rayjob()
    typo["spec"]["shutdownAfterJobFinish"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, RAYJOB_SCHEMA)
    wrong = copy.deepcopy(_rayjob())
    wrong["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, RAYJOB_SCHEMA)


def test_cron_script_runs_the_last_hour_then_backfills_the_day_before() -> None:
    env = {**os.environ, "DRY_RUN": "1", "HOUR": "2026-11-24T10", "RAY_ADDRESS": "http://head:8265"}
    out = subprocess.run(["bash", str(DEPLOY / "schedule" / "hourly.sh")], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert len(out) == 2 and all(line.startswith("ray job submit --address http://head:8265 -- ") for line in out)
    run, backfill = _parses(out[0]), _parses(out[1])
    assert (run.command, run.hour) == ("run-hour", "2026-11-24T10")
    assert (backfill.command, backfill.start, backfill.end) == ("backfill", "2026-11-23T10", "2026-11-24T10")


def _dag_commands() -> dict[str, str]:
    """The DAG file's task commands with its Jinja fields rendered as Airflow would for the 10:00 interval."""
    import jinja2

    source = (DEPLOY / "schedule" / "airflow_rayab_hourly.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    constants = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}
    commands = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator":
            kwargs = {k.arg: k.value for k in node.keywords}
            task_id = ast.literal_eval(kwargs["task_id"])
            template = "".join(constants[v.value.id] if isinstance(v, ast.FormattedValue)  # type: ignore[attr-defined]
                               else v.value for v in kwargs["bash_command"].values)  # type: ignore[attr-defined]
            commands[task_id] = template
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    context = {"var": {"value": {"RAY_ADDRESS": "http://head:8265", "RAYAB_LOGS": "s3://logs/events",
                                 "RAYAB_WAREHOUSE": "s3://wh/rayab"}},
               "data_interval_start": datetime(2026, 11, 24, 10, tzinfo=UTC),
               "macros": SimpleNamespace(timedelta=timedelta)}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return {task: env.from_string(t).render(context) for task, t in commands.items()}


def test_airflow_dag_submits_valid_commands() -> None:
    commands = _dag_commands()
    assert set(commands) == {"run_hour", "backfill_late_hours"}
    run = _parses(commands["run_hour"])
    assert (run.hour, run.logs, run.warehouse) == ("2026-11-24T10", "s3://logs/events", "s3://wh/rayab")
    backfill = _parses(commands["backfill_late_hours"])
    assert (backfill.start, backfill.end) == ("2026-11-23T10", "2026-11-24T10")
