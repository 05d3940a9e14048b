"""Pure numpy/scipy statistics: Poisson bootstrap weights, replicate sums, intervals and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayab.stats.bayesian import (
        ArmSums,
        BayesianReadout,
        binomial_readout,
        bootstrap_readout,
        bootstrap_readouts,
        gaussian_readout,
        normal_readout,
        normal_readouts,
    )
    from rayab.stats.bootstrap import QUANTILE_METHOD, BootstrapInterval, bootstrap_interval, bootstrap_pvalue
    from rayab.stats.multiplicity import MultipleTestResult, adjust_pvalues
    from rayab.stats.poisson_weights import MAX_WEIGHT, POISSON_THRESHOLDS, poisson_weights, unit_keys, weights_for
    from rayab.stats.power import (
        Kpi,
        SamplePlan,
        SampleSize,
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
    from rayab.stats.quantile_sketch import QuantileSketches, SketchLayout, histogram_quantiles
    from rayab.stats.replicate_sums import replicate_sums
    from rayab.stats.sequential import ConfidenceSequence, confidence_sequence, mixture_rho
    from rayab.stats.srm import (
        DEFAULT_SRM_THRESHOLD,
        SequentialSrmResult,
        SrmResult,
        sequential_srm_test,
        srm_test,
    )

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "MAX_WEIGHT",
    "POISSON_THRESHOLDS",
    "QUANTILE_METHOD",
    "ArmSums",
    "BayesianReadout",
    "BootstrapInterval",
    "ConfidenceSequence",
    "Kpi",
    "MultipleTestResult",
    "QuantileSketches",
    "SamplePlan",
    "SampleSize",
    "SequentialSrmResult",
    "SketchLayout",
    "SrmResult",
    "adjust_pvalues",
    "binomial_readout",
    "bootstrap_interval",
    "bootstrap_pvalue",
    "bootstrap_readout",
    "bootstrap_readouts",
    "chisquare_power",
    "confidence_sequence",
    "duration_days",
    "gaussian_readout",
    "histogram_quantiles",
    "minimum_detectable_effect",
    "mixture_rho",
    "normal_power",
    "normal_readout",
    "normal_readouts",
    "plan_experiment",
    "poisson_weights",
    "power_two_sample",
    "relative_minimum_detectable_effect",
    "relative_power",
    "replicate_sums",
    "sample_size",
    "sequential_srm_test",
    "srm_test",
    "t_power",
    "unit_keys",
    "weights_for",
]

# name -> module: each is imported on first use, so importing one light module of this package (a type, a
# validator) does not load numba, scipy or the rest of the package
_LAZY = {
    "ArmSums": "rayab.stats.bayesian",
    "BayesianReadout": "rayab.stats.bayesian",
    "BootstrapInterval": "rayab.stats.bootstrap",
    "ConfidenceSequence": "rayab.stats.sequential",
    "DEFAULT_SRM_THRESHOLD": "rayab.stats.srm",
    "SamplePlan": "rayab.stats.power",
    "Kpi": "rayab.stats.power",
    "MAX_WEIGHT": "rayab.stats.poisson_weights",
    "MultipleTestResult": "rayab.stats.multiplicity",
    "POISSON_THRESHOLDS": "rayab.stats.poisson_weights",
    "QUANTILE_METHOD": "rayab.stats.bootstrap",
    "QuantileSketches": "rayab.stats.quantile_sketch",
    "SampleSize": "rayab.stats.power",
    "SequentialSrmResult": "rayab.stats.srm",
    "SketchLayout": "rayab.stats.quantile_sketch",
    "SrmResult": "rayab.stats.srm",
    "adjust_pvalues": "rayab.stats.multiplicity",
    "binomial_readout": "rayab.stats.bayesian",
    "bootstrap_interval": "rayab.stats.bootstrap",
    "bootstrap_pvalue": "rayab.stats.bootstrap",
    "bootstrap_readout": "rayab.stats.bayesian",
    "bootstrap_readouts": "rayab.stats.bayesian",
    "chisquare_power": "rayab.stats.power",
    "confidence_sequence": "rayab.stats.sequential",
    "duration_days": "rayab.stats.power",
    "gaussian_readout": "rayab.stats.bayesian",
    "histogram_quantiles": "rayab.stats.quantile_sketch",
    "minimum_detectable_effect": "rayab.stats.power",
    "mixture_rho": "rayab.stats.sequential",
    "normal_power": "rayab.stats.power",
    "normal_readout": "rayab.stats.bayesian",
    "normal_readouts": "rayab.stats.bayesian",
    "plan_experiment": "rayab.stats.power",
    "poisson_weights": "rayab.stats.poisson_weights",
    "power_two_sample": "rayab.stats.power",
    "relative_minimum_detectable_effect": "rayab.stats.power",
    "relative_power": "rayab.stats.power",
    "replicate_sums": "rayab.stats.replicate_sums",
    "sample_size": "rayab.stats.power",
    "sequential_srm_test": "rayab.stats.srm",
    "srm_test": "rayab.stats.srm",
    "t_power": "rayab.stats.power",
    "unit_keys": "rayab.stats.poisson_weights",
    "weights_for": "rayab.stats.poisson_weights",
}


def __getattr__(name: str) -> Any:
    from rayab._lazy import load_lazy

    return load_lazy(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
