"""No data is its own status, never a pass: SRM on 0/0 units, a guardrail without an interval."""

from __future__ import annotations

from pathlib import Path

from rayab.guardrails.health import HealthCheck, HealthSettings, _sample_ratio, worst_status
from rayab.simulate import demo_config
from rayab.storage.warehouse import Warehouse


def _check(status: str) -> HealthCheck:
    return HealthCheck("c", status, "", {})  # type: ignore[arg-type]


def test_no_data_ranks_between_warn_and_fail() -> None:
    assert worst_status([_check("ok"), _check("no_data"), _check("warn")]) == "no_data"
    assert worst_status([_check("no_data"), _check("fail")]) == "fail"
    assert worst_status([_check("ok"), _check("warn")]) == "warn"


def test_srm_on_an_empty_assignment_table_is_no_data(tmp_path: Path) -> None:
    warehouse = Warehouse.from_url(tmp_path / "wh")
    exp = demo_config().experiment("ranker_v2")
    (srm,) = _sample_ratio(warehouse, exp, ["2026-11-23T00"], "2026-11-23T01", HealthSettings())
    # the chi-square test of 0/0 returns p = 1; that used to be reported as "ok"
    assert srm.status == "no_data"
    assert srm.details["counts"] == {"control": 0, "treatment": 0}
    assert srm.details["error"] == "no_units"
    assert "nothing to test" in srm.reason
