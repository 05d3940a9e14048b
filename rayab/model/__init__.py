"""Pure, frozen specs: experiments, variants, metrics, analysis types, metric expressions."""

from __future__ import annotations

from rayab.model.analysis import RESERVED_METRICS, UNITS_METRIC, AnalysisType, Metric, cuped_column
from rayab.model.config import Config, load_config
from rayab.model.conversion_metric import ConversionMetric
from rayab.model.experiment import Experiment, ExperimentStatus, Unit, Variant
from rayab.model.expression import Expression, evaluate, parse_expression, referenced_names
from rayab.model.quantile_metric import QuantileMetric

__all__ = [
    "RESERVED_METRICS",
    "UNITS_METRIC",
    "AnalysisType",
    "Config",
    "ConversionMetric",
    "Experiment",
    "ExperimentStatus",
    "Expression",
    "Metric",
    "QuantileMetric",
    "Unit",
    "Variant",
    "cuped_column",
    "evaluate",
    "load_config",
    "parse_expression",
    "referenced_names",
]
