"""Pure numpy/scipy statistics: Poisson bootstrap weights, replicate sums, intervals and tests."""

from __future__ import annotations

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
    ExperimentPlan,
    Kpi,
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
    "ExperimentPlan",
    "Kpi",
    "MultipleTestResult",
    "QuantileSketches",
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
