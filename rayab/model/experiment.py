"""Experiment and variant specs: frozen, validated at construction.

>>> exp = Experiment.from_dict({
...     "exp_id": "ctr_test", "name": "New ranker", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> exp.control.variant_id, exp.coverage, exp.bootstrap_salt
('control', 1.0, 'ctr_test:bootstrap')
>>> Experiment.from_dict({"exp_id": "x", "name": "x", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 40}]})
Traceback (most recent call last):
...
rayab.errors.SpecError: experiment.variants[*].traffic_pct == [50.0, 40.0]: must sum to 100 (sums to 90)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from rayab.errors import SpecError
from rayab.model.validation import (
    check_choice,
    check_identifier,
    check_int,
    check_keys,
    check_number,
    check_text,
    parse_time,
)

__all__ = ["Experiment", "ExperimentStatus", "Unit", "Variant"]


class Unit(StrEnum):
    """What is randomised: a profile, an account or a device."""

    PROFILE = "PROFILE"
    ACCOUNT = "ACCOUNT"
    DEVICE = "DEVICE"


class ExperimentStatus(StrEnum):
    """Life cycle of an experiment."""

    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"
    ARCHIVED = "archived"


ParameterValue = str | int | float | bool | None


def _check_parameters(field_name: str, value: Any) -> Mapping[str, ParameterValue]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise SpecError(field_name, value, "must be a mapping of parameter name to value")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SpecError(field_name, key, "parameter names must be non-empty strings")
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise SpecError(f"{field_name}.{key}", item, "must be a string, number, boolean or null")
        if isinstance(item, float) and not math.isfinite(item):
            raise SpecError(f"{field_name}.{key}", item, "must be finite")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Variant:
    """One arm: its id, its share of the experiment's traffic (percent) and the parameters it serves."""

    variant_id: str
    traffic_pct: float
    parameters: Mapping[str, ParameterValue] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        check_identifier("variant_id", self.variant_id)
        object.__setattr__(self, "traffic_pct", check_number("traffic_pct", self.traffic_pct, 0, 100))
        object.__setattr__(self, "parameters", _check_parameters("parameters", self.parameters))

    @classmethod
    def from_dict(cls, data: Any, path: str = "variant") -> Variant:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, {"variant_id", "traffic_pct", "parameters"}, {"variant_id", "traffic_pct"})
        try:
            return cls(data["variant_id"], data["traffic_pct"], data.get("parameters") or {})
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"variant_id": self.variant_id, "traffic_pct": self.traffic_pct, "parameters": dict(self.parameters)}


_EXPERIMENT_FIELDS = {
    "exp_id", "name", "start_time", "end_time", "unit", "primary_kpi", "status", "variants", "control",
    "rollout_pct", "assignment_salt", "bootstrap_salt", "layer", "targeting", "version", "analysis_types",
}


@dataclass(frozen=True)
class Experiment:
    """An experiment spec.

    ``rollout_pct`` is the share of eligible units in the experiment at all (gradual rollout 1% -> 100%); each
    variant then gets ``traffic_pct`` percent of those. ``assignment_salt`` seeds the assignment hash and
    ``bootstrap_salt`` the Poisson bootstrap weights; they must differ so a variant's units do not all draw weights
    from one part of the distribution.
    """

    exp_id: str
    name: str
    start_time: datetime
    variants: tuple[Variant, ...]
    primary_kpi: str
    end_time: datetime | None = None
    unit: Unit = Unit.PROFILE
    status: ExperimentStatus = ExperimentStatus.RUNNING
    control_id: str = ""
    rollout_pct: float = 100.0
    assignment_salt: str = ""
    bootstrap_salt: str = ""
    layer: str = ""
    targeting: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    version: int = 1
    analysis_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_identifier("exp_id", self.exp_id)
        check_text("name", self.name, max_length=256)
        check_text("primary_kpi", self.primary_kpi, max_length=64)
        object.__setattr__(self, "start_time", parse_time("start_time", self.start_time))
        if self.end_time is not None:
            end = parse_time("end_time", self.end_time)
            if end <= self.start_time:
                raise SpecError("end_time", end.isoformat(), f"must be after start_time {self.start_time.isoformat()}")
            object.__setattr__(self, "end_time", end)
        object.__setattr__(self, "unit", Unit(check_choice("unit", self.unit, tuple(Unit))))
        status = check_choice("status", self.status, tuple(s.value for s in ExperimentStatus))
        object.__setattr__(self, "status", ExperimentStatus(status))
        self._check_variants()
        object.__setattr__(self, "rollout_pct", check_number("rollout_pct", self.rollout_pct, 0, 100))
        object.__setattr__(self, "assignment_salt", check_text(
            "assignment_salt", self.assignment_salt or self.exp_id, max_length=256))
        object.__setattr__(self, "bootstrap_salt", check_text(
            "bootstrap_salt", self.bootstrap_salt or f"{self.exp_id}:bootstrap", max_length=256))
        if self.bootstrap_salt == self.assignment_salt:
            raise SpecError("bootstrap_salt", self.bootstrap_salt, "must differ from assignment_salt")
        object.__setattr__(self, "layer", check_identifier("layer", self.layer or self.exp_id))
        if not isinstance(self.targeting, Mapping):
            raise SpecError("targeting", self.targeting, "must be a mapping")
        object.__setattr__(self, "targeting", MappingProxyType(dict(self.targeting)))
        check_int("version", self.version, 1, 2**31 - 1)
        object.__setattr__(self, "analysis_types", tuple(
            check_identifier(f"analysis_types[{i}]", a) for i, a in enumerate(self.analysis_types)))

    def _check_variants(self) -> None:
        variants = tuple(self.variants)
        if len(variants) < 2:
            raise SpecError("variants", [v.variant_id for v in variants], "must have at least 2 variants")
        seen: set[str] = set()
        for i, variant in enumerate(variants):
            if variant.variant_id in seen:
                raise SpecError(f"variants[{i}].variant_id", variant.variant_id, "duplicate variant id")
            seen.add(variant.variant_id)
        total = math.fsum(v.traffic_pct for v in variants)
        if abs(total - 100.0) > 1e-6:
            raise SpecError("variants[*].traffic_pct", [v.traffic_pct for v in variants],
                            f"must sum to 100 (sums to {total:g})")
        control = self.control_id or variants[0].variant_id
        if control not in seen:
            raise SpecError("control", control, f"must be one of the variant ids {sorted(seen)}")
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "control_id", control)

    @property
    def control(self) -> Variant:
        """The variant every other one is compared with."""
        return next(v for v in self.variants if v.variant_id == self.control_id)

    @property
    def coverage(self) -> float:
        """``rollout_pct`` as a fraction in [0, 1]."""
        return self.rollout_pct / 100.0

    def variant(self, variant_id: str) -> Variant:
        """The variant with this id; raises :class:`SpecError` naming the known ids otherwise."""
        for v in self.variants:
            if v.variant_id == variant_id:
                return v
        raise SpecError("variant_id", variant_id, f"unknown in experiment {self.exp_id}; known: "
                        f"{[v.variant_id for v in self.variants]}")

    @classmethod
    def from_dict(cls, data: Any, path: str = "experiment") -> Experiment:
        """Build from a mapping (YAML / JSON); errors name the field under ``path``."""
        data = check_keys(path, data, _EXPERIMENT_FIELDS, {"exp_id", "name", "start_time", "variants",
                                                           "primary_kpi"})
        raw_variants = data["variants"]
        if not isinstance(raw_variants, list):
            raise SpecError(f"{path}.variants", raw_variants, "must be a list")
        variants = tuple(Variant.from_dict(v, f"{path}.variants[{i}]") for i, v in enumerate(raw_variants))
        kwargs = {k: v for k, v in data.items() if k not in {"variants", "control", "analysis_types"}}
        try:
            return cls(variants=variants, control_id=data.get("control", ""),
                       analysis_types=tuple(data.get("analysis_types") or ()), **kwargs)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {
            "exp_id": self.exp_id, "name": self.name, "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None, "unit": self.unit.value,
            "primary_kpi": self.primary_kpi, "status": self.status.value,
            "variants": [v.to_dict() for v in self.variants], "control": self.control_id,
            "rollout_pct": self.rollout_pct, "assignment_salt": self.assignment_salt,
            "bootstrap_salt": self.bootstrap_salt, "layer": self.layer,
            "targeting": json.loads(json.dumps(dict(self.targeting))), "version": self.version,
            "analysis_types": list(self.analysis_types),
        }
