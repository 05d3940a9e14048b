"""The wire enums and rayab's strings agree in rayab/rpc/convert.py, and the .proto files pass ``buf lint``."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest

from rayab.errors import ValidationError
from rayab.guardrails.health import HealthCheck, Status, worst_status
from rayab.query.spec import BayesianPath, CIMethod, Correction
from rayab.rpc import convert
from rayab.rpc._generated import results_pb2 as rpb

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("enum", "table", "allowed"), [
    (rpb.IntervalMethod, convert.METHODS, set(get_args(CIMethod))),
    (rpb.Correction, convert.CORRECTIONS, set(get_args(Correction))),
    (rpb.IntervalKind, convert.INTERVALS, {"fixed", "sequential"}),
    (rpb.SqlDialect, convert.DIALECTS, {"duckdb", "trino"}),
    (rpb.BayesianPath, convert.BAYESIAN_PATHS, set(get_args(BayesianPath))),
])
def test_every_request_enum_value_maps_to_a_rayab_string(enum: Any, table: dict[int, str], allowed: set[str]) -> None:
    """A value added to the .proto without a mapping fails here; "" is only the UNSPECIFIED default."""
    assert set(table) == set(enum.values())
    assert {v for v in table.values() if v} == allowed  # each maps to a rayab value, and each is reachable


def test_every_answer_string_has_its_enum_value() -> None:
    assert set(convert.HEALTH_STATUSES) == set(get_args(Status))
    assert set(convert.HEALTH_STATUSES.values()) == set(rpb.HealthStatus.values()) - {rpb.HEALTH_STATUS_UNSPECIFIED}
    assert set(convert.INTERVAL_KINDS.values()) == set(rpb.IntervalKind.values()) - {rpb.INTERVAL_KIND_UNSPECIFIED}
    # the enum's numeric order is rayab's order of worsening, so max() over the wire means worst_status
    checks = [HealthCheck(name, status, "", {}) for name, status in (("a", "warn"), ("b", "no_data"), ("c", "ok"))]  # type: ignore[arg-type]
    assert convert.HEALTH_STATUSES[worst_status(checks)] == max(convert.HEALTH_STATUSES[c.status] for c in checks)


def test_an_unknown_enum_number_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        convert.query_fields(rpb.ResultsQuery(exp_id="e", correction=99))  # type: ignore[arg-type]
    assert info.value.field == "query.correction"


def test_structs_keep_json_values_and_drop_what_json_cannot_hold() -> None:
    value = {"attr": "age", "gte": 31, "ratio": 0.5, "missing": math.nan, "flags": [True, None, "x"], "n": {"k": 2}}
    back = convert.struct_to_python(convert.python_to_struct(value))
    assert back == {**value, "missing": None}
    assert isinstance(back["gte"], int) and isinstance(back["ratio"], float)


def test_buf_lint_finds_nothing() -> None:
    """CI runs the same check (.ci/run); here when a buf binary is at hand ($RAYAB_BUF or on PATH)."""
    buf = os.environ.get("RAYAB_BUF") or shutil.which("buf")
    if buf is None:
        pytest.skip("buf is not installed (npm install @bufbuild/buf, then RAYAB_BUF=<path to bin/buf>)")
    run = subprocess.run([buf, "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, "")
