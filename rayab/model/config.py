"""A whole configuration: analysis types and experiments, loaded from YAML or JSON and cross-checked.

>>> config = Config.from_dict({
...     "analysis_types": [{"name": "engagement", "metrics": [{"name": "clicks"}]}],
...     "experiments": [{"exp_id": "e1", "name": "E1", "primary_kpi": "clicks",
...                      "start_time": "2026-11-24T00:00:00Z", "analysis_types": ["engagement"],
...                      "variants": [{"variant_id": "a", "traffic_pct": 50},
...                                   {"variant_id": "b", "traffic_pct": 50}]}]})
>>> config.experiment("e1").name, [a.name for a in config.analysis_types_of("e1")]
('E1', ['engagement'])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rayab.errors import NotFoundError, SpecError
from rayab.model.analysis import UNITS_METRIC, AnalysisType
from rayab.model.experiment import Experiment
from rayab.model.validation import check_keys

__all__ = ["Config", "load_config"]


@dataclass(frozen=True)
class Config:
    """Analysis types and experiments; every experiment names analysis types that exist."""

    analysis_types: tuple[AnalysisType, ...]
    experiments: tuple[Experiment, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "analysis_types", tuple(self.analysis_types))
        object.__setattr__(self, "experiments", tuple(self.experiments))
        types = {a.name for a in self.analysis_types}
        if len(types) != len(self.analysis_types):
            raise SpecError("analysis_types[*].name", [a.name for a in self.analysis_types], "must be unique")
        by_id: dict[str, Experiment] = {}
        for i, exp in enumerate(self.experiments):
            if exp.exp_id in by_id:
                raise SpecError(f"experiments[{i}].exp_id", exp.exp_id, "duplicate experiment id")
            by_id[exp.exp_id] = exp
        # an index, not a field: lookups by id stay O(1) with thousands of experiments
        object.__setattr__(self, "_by_id", by_id)
        for i, exp in enumerate(self.experiments):
            for name in exp.analysis_types or tuple(types):
                if name not in types:
                    raise SpecError(f"experiments[{i}].analysis_types", name,
                                    f"unknown analysis type; known: {sorted(types)}")
            kpis = {UNITS_METRIC} | {n for a in self.analysis_types_of(exp.exp_id) for n in
                                     (*a.metric_names, *a.composed, *a.quantile_outputs)}
            if exp.primary_kpi not in kpis:
                raise SpecError(f"experiments[{i}].primary_kpi", exp.primary_kpi,
                                f"must be a metric of its analysis types: {sorted(kpis)}")
            for j, guardrail in enumerate(exp.guardrails):
                if guardrail.metric not in kpis:
                    raise SpecError(f"experiments[{i}].guardrails[{j}].metric", guardrail.metric,
                                    f"must be a metric of its analysis types: {sorted(kpis)}")

    def experiment(self, exp_id: str) -> Experiment:
        """The experiment with this id."""
        found: Experiment | None = self.__dict__["_by_id"].get(exp_id)
        if found is not None:
            return found
        raise NotFoundError(f"experiment {exp_id!r} not found; known: {[e.exp_id for e in self.experiments]}")

    def analysis_type(self, name: str) -> AnalysisType:
        """The analysis type with this name."""
        for at in self.analysis_types:
            if at.name == name:
                return at
        raise NotFoundError(f"analysis type {name!r} not found; known: {[a.name for a in self.analysis_types]}")

    def analysis_types_of(self, exp_id: str) -> tuple[AnalysisType, ...]:
        """The analysis types an experiment is measured with (all of them when it names none)."""
        exp = self.experiment(exp_id)
        if not exp.analysis_types:
            return self.analysis_types
        return tuple(self.analysis_type(n) for n in exp.analysis_types)

    @classmethod
    def from_dict(cls, data: Any) -> Config:
        """Build from a mapping with ``analysis_types`` and ``experiments`` lists."""
        data = check_keys("config", data, {"analysis_types", "experiments"}, {"analysis_types"})
        types, exps = data["analysis_types"], data.get("experiments") or []
        for key, value in (("analysis_types", types), ("experiments", exps)):
            if not isinstance(value, list):
                raise SpecError(key, value, "must be a list")
        return cls(
            analysis_types=tuple(AnalysisType.from_dict(a, f"analysis_types[{i}]") for i, a in enumerate(types)),
            experiments=tuple(Experiment.from_dict(e, f"experiments[{i}]") for i, e in enumerate(exps)),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"analysis_types": [a.to_dict() for a in self.analysis_types],
                "experiments": [e.to_dict() for e in self.experiments]}


def load_config(source: str | Path | Mapping[str, Any]) -> Config:
    """Load a config from a ``.yaml``/``.yml``/``.json`` file, a YAML/JSON string, or a mapping."""
    if isinstance(source, Mapping):
        return Config.from_dict(source)
    path = Path(source)
    text = path.read_text(encoding="utf-8") if path.suffix in {".yaml", ".yml", ".json"} else str(source)
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise SpecError("config", str(source), f"is not valid YAML/JSON: {err}") from None
    return Config.from_dict(data)
