"""Power planning from stored replicates agrees with the unit-level variance computed on raw events."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.guardrails.planning import metric_history, plan_from_history
from rayab.hourly.job import run_hour
from rayab.stats.power import relative_power, sample_size
from tests.worlds import make_world

pytestmark = pytest.mark.usefixtures("ray_local")


def test_variance_from_replicates_matches_unit_level_variance(workdir: Path) -> None:
    world = make_world(workdir, n_units=6000, n_hours=2, n_replicates=600)
    for hour in world.hours:
        run_hour(world.config, hour, world.logs, world.warehouse)
    exp = world.config.experiment("aa_check")
    histories = metric_history(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                               ["revenue_per_unit", "ctr"])
    per_unit: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    events = pa.concat_tables(world.events.values())
    for row in events.to_pylist():
        if row["exp_id"] == "aa_check" and row["variant_id"] == "a":
            per_unit[row["unit_id"]] += [row["revenue"], row["clicks"], row["impressions"]]
    assigned = [r["unit_id"] for r in world.assignments.to_pylist() if r["exp_id"] == "aa_check"
                and r["variant_id"] == "a"]
    values = np.array([per_unit[u] if u in per_unit else np.zeros(3) for u in assigned])
    revenue, clicks, impressions = values.T
    rpu, ctr = histories
    assert rpu.n_units == len(assigned)
    assert rpu.mean == pytest.approx(revenue.mean(), rel=1e-9)
    # bootstrap variance over 600 replicates has a relative SE of about 6%: 25% is a 4-SE bound
    assert rpu.variance == pytest.approx(revenue.var(ddof=1), rel=0.25)
    ratio = clicks.sum() / impressions.sum()
    linearised = (clicks - ratio * impressions) / impressions.mean()
    assert ctr.mean == pytest.approx(ratio, rel=1e-9)
    assert ctr.variance == pytest.approx(linearised.var(ddof=1), rel=0.25)
    assert rpu.units_per_day == pytest.approx(12 * sum(1 for r in world.assignments.to_pylist()
                                                        if r["exp_id"] == "aa_check"), rel=1e-9)

    plan = plan_from_history(histories, relative_mde=0.05, n_arms=2, days=7)
    per_kpi = [sample_size(0.05 * h.mean, h.variance, alpha=0.05, n_tests=2).n_control for h in histories]
    assert plan.plan.n_per_arm == max(per_kpi)
    assert plan.plan.binding_metric == histories[int(np.argmax(per_kpi))].metric
    assert plan.plan.duration_days == int(np.ceil(plan.plan.n_total / rpu.units_per_day - 1e-9))
    # the MDE reached in 7 days is the effect whose required sample is the 7-day enrolment
    per_arm = rpu.units_per_day * 7 / 2
    for history, mde in zip(histories, plan.mde_after_days, strict=True):
        achieved = relative_power(mde, history.mean, history.variance, per_arm, alpha=0.025)
        assert achieved == pytest.approx(0.8, abs=2e-3)
