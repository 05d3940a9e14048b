"""Power, MDE and sample size against R (pwr), statsmodels, GrowthBook and Spotify (G*Power) vectors."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from scipy import stats

from rayab.errors import ValidationError
from rayab.stats.power import (
    Kpi,
    chisquare_power,
    duration_days,
    minimum_detectable_effect,
    normal_power,
    plan_experiment,
    power_two_sample,
    relative_minimum_detectable_effect,
    relative_power,
    sample_size,
    t_power,
)


def _parse_pwr_call(call: str) -> dict[str, Any]:
    args = dict(re.findall(r"(\w+(?:\.\w+)?)=('[^']*'|[-\d.]+)", call))
    return {k: v.strip("'") for k, v in args.items()}


def test_r_pwr_t_test(r_values: dict[str, Any]) -> None:
    for case in r_values["r_pwr_t_test"]:
        args = _parse_pwr_call(case["R"])
        d, alpha = float(args["d"]), float(args["sig.level"])
        alternative = {"two.sided": "two-sided", "greater": "greater", "less": "less"}[args["alternative"]]
        if "n1" in args:
            n1, n2 = float(args["n1"]), float(args["n2"])
        elif args["type"] == "one.sample":
            n1, n2 = float(args["n"]), None
        else:
            n1 = n2 = float(args["n"])
        power = t_power(d, n1, n2, alpha=alpha, alternative=alternative)  # type: ignore[arg-type]
        assert power == pytest.approx(case["power"], rel=1e-9), case["R"]


def test_statsmodels_normal_ind_power(r_values: dict[str, Any]) -> None:
    for case in r_values["normal_ind_power"]:
        alternative = {"two-sided": "two-sided", "smaller": "less", "larger": "greater"}[case["alternative"]]
        nobs2 = None if case["ratio"] == 0 else case["nobs1"] * case["ratio"]
        power = normal_power(case["effect_size"], case["nobs1"], nobs2, alpha=case["alpha"],
                             alternative=alternative)  # type: ignore[arg-type]
        assert power == pytest.approx(case["power"], rel=1e-12)


def test_r_pwr_chisq_test(r_values: dict[str, Any]) -> None:
    case = r_values["chisquare_power"]
    assert chisquare_power(0.1, 5, 4, alpha=0.05) == pytest.approx(case["power"], rel=1e-10)


def test_gbstats_relative_power_and_mde(gbstats: dict[str, Any]) -> None:
    case = gbstats["power_frequentist"]["power"]
    n_per_arm = case["N_total"] / case["n_variations"]
    power = relative_power(case["effect_relative"], case["mean"], case["variance"], n_per_arm, alpha=case["alpha"])
    assert power == pytest.approx(case["expected"], abs=1e-5)
    mde_case = gbstats["power_frequentist"]["mde"]
    mde = relative_minimum_detectable_effect(mde_case["mean"], mde_case["variance"],
                                             mde_case["N_total"] / mde_case["n_variations"],
                                             alpha=mde_case["alpha"], power=mde_case["target_power"])
    assert mde == pytest.approx(mde_case["expected_relative_mde"], abs=1e-5)
    # at the MDE the power is the target, up to the neglected far tail
    assert relative_power(mde, mde_case["mean"], mde_case["variance"], n_per_arm) == pytest.approx(0.8, abs=1e-6)


def test_spotify_gpower_sample_sizes(spotify: dict[str, Any]) -> None:
    block = spotify["gpower_sample_size"]
    defaults = block["defaults"]
    for case in block["cases"]:
        variance = case["variance"] if case["kind"] == "continuous" else case["p"] * (1 - case["p"])
        n_arms = case.get("treatments", 2)
        allocation = case.get("allocation", [1 / n_arms] * n_arms)
        # control_vs_all: control against the smallest treatment; all_vs_all: the two smallest arms
        shares = sorted(allocation)[:2] if case.get("comparisons") == "all_vs_all" else [
            allocation[0], min(allocation[1:])]
        result = sample_size(case["abs_mde"], variance, alpha=case.get("alpha", defaults["alpha"]),
                             power=case.get("power", defaults["power"]), control_share=shares[0],
                             treatment_share=shares[1])
        rel = 0.015 if "note" in case else 0.005
        assert result.n_total == pytest.approx(case["n_total"], rel=rel), case


def test_spotify_power_calculation(spotify: dict[str, Any]) -> None:
    for case in spotify["power_calculation"]:
        power = power_two_sample(case["mde"], case["variance"], case["n1"], case["n2"], alpha=case["alpha"])
        assert power == pytest.approx(case["power"], rel=case["rtol"])
        if "rederived" in case:
            assert power == pytest.approx(case["rederived"], rel=1e-6)


def test_sample_size_mde_and_power_are_consistent() -> None:
    size = sample_size(0.5, 4.0, alpha=0.05, power=0.9, n_tests=3)
    mde = minimum_detectable_effect(4.0, size.n_control, size.n_treatment, alpha=0.05, power=0.9, n_tests=3)
    assert mde <= 0.5 < minimum_detectable_effect(4.0, size.n_control - 1, size.n_treatment - 1, alpha=0.05,
                                                  power=0.9, n_tests=3)
    power = power_two_sample(0.5, 4.0, size.n_control, size.n_treatment, alpha=0.05, n_tests=3)
    assert 0.9 <= power < 0.905


def test_power_matches_a_simulation() -> None:
    rng = np.random.default_rng(12)
    n, effect, sd = 200, 0.25, 1.0
    pvalues = [stats.ttest_ind(rng.normal(effect, sd, n), rng.normal(0, sd, n)).pvalue for _ in range(2000)]
    simulated = float(np.mean(np.array(pvalues) < 0.05))
    assert power_two_sample(effect, sd**2, n, n) == pytest.approx(simulated, abs=0.035)


def test_plan_uses_bonferroni_and_the_hardest_kpi() -> None:
    kpis = [Kpi("revenue", 0.5, 25.0), Kpi("conversion", 0.01, 0.09)]
    plan = plan_experiment(kpis, units_per_day=10_000, n_arms=3)
    assert plan.n_tests == 4
    assert plan.alpha_per_test == pytest.approx(0.0125)
    z = stats.norm.isf(0.0125 / 2) + stats.norm.ppf(0.8)
    expected = max(math.ceil(2 * v * (z / e) ** 2 - 1e-9) for _, e, v in kpis)
    assert plan.n_per_arm == expected
    assert plan.binding_metric == "conversion"  # 0.09 / 0.01^2 > 25 / 0.5^2
    assert plan.duration_days == math.ceil(3 * expected / 10_000)
    assert duration_days(10_000, 10_000) == 1


@pytest.mark.parametrize(("call", "field"), [
    (lambda: sample_size(0.0, 1.0), "effect"),
    (lambda: sample_size(1.0, -1.0), "variance"),
    (lambda: power_two_sample(1.0, 1.0, 10, 10, alpha=0.0), "alpha"),
    (lambda: power_two_sample(1.0, 1.0, 10, 10, n_tests=0), "n_tests"),
    (lambda: sample_size(1.0, 1.0, control_share=0.7, treatment_share=0.5), "treatment_share"),
    (lambda: duration_days(10, 0), "units_per_day"),
])
def test_invalid_arguments_name_the_field(call: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.field == field
