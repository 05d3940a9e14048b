"""Results over a window, checked against a direct numpy computation over the raw events with the same weights."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from rayab.errors import NotFoundError, ValidationError
from rayab.pipeline.job import run_hour
from rayab.query.results import experiment_results
from rayab.stats.bootstrap import QUANTILE_METHOD
from rayab.stats.poisson_weights import weights_for
from tests.pipeline.worlds import World

pytestmark = pytest.mark.usefixtures("ray_local")


def _direct(world: World, exp_id: str) -> dict[str, dict[str, np.ndarray]]:
    """Per variant: raw totals and replicate totals of clicks, impressions, revenue, units, from raw rows."""
    exp = world.config.experiment(exp_id)
    b = world.analysis_type.n_replicates
    per_unit: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(4))
    events = pa.concat_tables(world.events.values())
    for row in events.filter(pa.compute.equal(events.column("exp_id"), exp_id)).to_pylist():
        per_unit[(row["variant_id"], row["unit_id"])] += [row["clicks"], row["impressions"], row["revenue"], 0]
    for row in world.assignments.to_pylist():
        if row["exp_id"] == exp_id:
            per_unit[(row["variant_id"], row["unit_id"])][3] = 1
    out: dict[str, dict[str, np.ndarray]] = {}
    for (variant, unit), values in per_unit.items():
        w = weights_for(exp.bootstrap_salt, [unit], b)[0].astype(float)
        entry = out.setdefault(variant, {"raw": np.zeros(4), "reps": np.zeros((4, b))})
        entry["raw"] += values
        entry["reps"] += values[:, None] * w[None, :]
    return out


@pytest.fixture()
def aggregated(world: World) -> World:
    for hour in world.hours:
        run_hour(world.config, hour, world.logs, world.warehouse, n_shards=2)
    return world


def test_ctr_and_revenue_per_unit_match_numpy_on_raw_events(aggregated: World) -> None:
    world = aggregated
    exp = world.config.experiment("ranker_v2")
    results = experiment_results(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                                 metrics=["ctr", "revenue_per_unit"], confidence_level=0.9)
    direct = _direct(world, "ranker_v2")
    by_key = {(r.metric, r.variant_id): r for r in results}
    q = [0.05, 0.95]
    for variant in ("control", "treatment"):
        raw, reps = direct[variant]["raw"], direct[variant]["reps"]
        ctr = by_key[("ctr", variant)]
        assert ctr.estimate == pytest.approx(raw[0] / raw[1], rel=1e-12)
        np.testing.assert_allclose([ctr.ci_lower, ctr.ci_upper],
                                   np.quantile(reps[0] / reps[1], q, method=QUANTILE_METHOD), rtol=1e-9)
        rpu = by_key[("revenue_per_unit", variant)]
        assert rpu.units == raw[3]
        assert rpu.estimate == pytest.approx(raw[2] / raw[3], rel=1e-9)
        np.testing.assert_allclose([rpu.ci_lower, rpu.ci_upper],
                                   np.quantile(reps[2] / reps[3], q, method=QUANTILE_METHOD), rtol=1e-9)
    c, t = direct["control"]["reps"], direct["treatment"]["reps"]
    treatment = by_key[("ctr", "treatment")]
    lift = (t[0] / t[1]) / (c[0] / c[1]) - 1
    np.testing.assert_allclose([treatment.rel_ci_lower, treatment.rel_ci_upper],
                               np.quantile(lift, q, method=QUANTILE_METHOD), rtol=1e-9)
    diff = t[0] / t[1] - c[0] / c[1]
    np.testing.assert_allclose([treatment.abs_ci_lower, treatment.abs_ci_upper],
                               np.quantile(diff, q, method=QUANTILE_METHOD), rtol=1e-9)
    assert np.isnan(by_key[("ctr", "control")].rel_diff)


def test_projection_slices_sum_to_the_total(aggregated: World) -> None:
    world = aggregated
    exp = world.config.experiment("aa_check")
    total = experiment_results(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                               metrics=["clicks"])
    sliced = experiment_results(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                                metrics=["clicks"], projection=["country"])
    assert {r.slice[0][0] for r in sliced} == {"country"}
    for variant in ("a", "b"):
        whole = next(r for r in total if r.variant_id == variant)
        assert sum(r.estimate for r in sliced if r.variant_id == variant) == pytest.approx(whole.estimate)


def test_bad_queries_name_the_field(aggregated: World) -> None:
    world = aggregated
    exp = world.config.experiment("aa_check")
    with pytest.raises(ValidationError) as info:
        experiment_results(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                           metrics=["dwell"])
    assert info.value.field == "metrics[0]"
    with pytest.raises(ValidationError, match="projection"):
        experiment_results(world.warehouse, world.analysis_type, exp, world.hours[0], "2026-11-23T02",
                           projection=["browser"])
    with pytest.raises(NotFoundError):
        experiment_results(world.warehouse, world.analysis_type, exp, "2026-12-01T00", "2026-12-01T02")
