"""Quantile metrics in the config: parsing, round trip, and errors naming the field, the value and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from rayab.errors import SpecError
from rayab.model import AnalysisType, Config
from rayab.query.spec import Query
from rayab.simulate import latency_config


def _type(**metric: Any) -> dict[str, Any]:
    return {"name": "perf", "metrics": [{"name": "requests", "kind": "count"},
                                        {"name": "latency", "kind": "quantile", "column": "latency_ms", **metric}]}


def test_a_quantile_metric_reports_one_metric_per_level_and_round_trips() -> None:
    at = AnalysisType.from_dict(_type(quantiles=[0.5, 0.95, 0.999], relative_accuracy=0.02))
    assert at.metric_names == ("requests",)  # not an additive metric: no agg_<type> column
    assert at.quantile_outputs == ("latency_p50", "latency_p95", "latency_p99_9")
    assert at.quantile_output("latency_p95") == (at.quantile_metrics[0], 0.95)
    assert AnalysisType.from_dict(at.to_dict()) == at
    config = latency_config()
    assert Config.from_dict(config.to_dict()) == config
    assert Query("speed_v2", "2026-11-23T00", "2026-11-23T01").resolve(config.analysis_types[0]).metrics == (
        "units", "requests", "latency_p50", "latency_p90", "latency_p99")


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"quantiles": [0.5, 1.0]}, "analysis_type.metrics[1].quantiles[1]", "must be in (0, 1)"),
    ({"quantiles": []}, "analysis_type.metrics[1].quantiles", "non-empty list"),
    ({"quantiles": [0.9, 0.9]}, "analysis_type.metrics[1].quantiles[1]", "listed twice"),
    ({"quantiles": "p90"}, "analysis_type.metrics[1].quantiles", "non-empty list"),
    ({"relative_accuracy": 0.9}, "analysis_type.metrics[1].relative_accuracy", "must be in"),
    ({"min_value": 10.0, "max_value": 1.0}, "analysis_type.metrics[1].max_value", "above min_value"),
    ({"relative_accuracy": 0.0001, "min_value": 1e-300, "max_value": 1e300},
     "analysis_type.metrics[1].relative_accuracy", "at most 100,000"),
    ({"column": "latency-ms"}, "analysis_type.metrics[1].column", "column name"),
    ({"decimals": 2}, "analysis_type.metrics[1].decimals", "unknown field"),
    ({"allow_negative": "yes"}, "analysis_type.metrics[1].allow_negative", "true or false"),
])
def test_bad_quantile_metrics_name_the_field_value_and_rule(change: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(SpecError) as caught:
        AnalysisType.from_dict(_type(**change))
    assert caught.value.field == field and rule in caught.value.rule
    assert str(caught.value).startswith(f"{field} == ")


def test_names_of_quantiles_may_not_clash() -> None:
    data = _type()
    data["metrics"].insert(0, {"name": "latency_p90"})
    with pytest.raises(SpecError, match=r"quantile_metrics\[0\]\.name == 'latency_p90': clashes"):
        AnalysisType.from_dict(data)
    config = latency_config().to_dict()
    config["experiments"][0]["primary_kpi"] = "latency_p42"
    with pytest.raises(SpecError, match=r"primary_kpi == 'latency_p42': must be a metric of its analysis types"):
        Config.from_dict(config)


def test_interpolated_quantiles_stay_in_the_bucket_of_the_exact_one_and_leave_the_grid() -> None:
    import numpy as np

    from rayab.stats.poisson_weights import unit_keys
    from rayab.stats.quantile_sketch import QuantileSketches, SketchLayout, histogram_quantiles

    layout = SketchLayout(0.01)
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(4.8, 0.7, 5000), -rng.lognormal(1.0, 0.5, 300), np.zeros(50)])
    keys, inverse = np.unique(layout.keys(values), return_inverse=True)
    counts = np.bincount(inverse.reshape(-1))
    levels = np.linspace(0.001, 0.999, 97)
    got = histogram_quantiles(layout, keys, counts, levels, interpolate=True)
    exact = np.quantile(values, levels, method="inverted_cdf")
    assert (np.abs(got - exact) <= (layout.gamma - 1) * np.abs(exact) * (1 + 1e-12)).all()
    assert (layout.keys(got) == layout.keys(exact)).mean() > 0.95  # the same bucket but at a lower edge
    # two arms of one distribution: on the grid many replicate differences are exactly 0, interpolated almost none
    units = [f"u{i}" for i in range(4000)]
    k1, k2 = unit_keys("s", units)
    sample = rng.lognormal(4.8, 0.7, 4000)
    sketch = QuantileSketches.from_events(layout, sample, np.arange(4000) % 2, k1, k2, 2, 400)
    ties = {}
    for mode in (False, True):
        _, reps = sketch.quantiles([0.9], n_cells=2, interpolate=mode)
        ties[mode] = float((reps[0, 0] == reps[1, 0]).mean())
    assert ties[False] > 0.1 and ties[True] < 0.01, ties
