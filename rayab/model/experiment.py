"""Experiment and variant specs: frozen, validated at construction.

>>> exp = Experiment.from_dict({
...     "exp_id": "ctr_test", "name": "New ranker", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> exp.control.variant_id, exp.coverage, exp.bootstrap_salt
('control', 1.0, 'ctr_test:bootstrap')
>>> Experiment.from_dict({"exp_id": "x", "name": "x", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 40}]})
Traceback (most recent call last):
...
rayab.errors.SpecError: experiment.variants[*].traffic_pct == [50.0, 40.0]: must sum to 100 (sums to 90)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, cast

from rayab.errors import SpecError
from rayab.model.guardrail import Guardrail
from rayab.model.targeting import MATCH_ALL, TargetingRule, parse_targeting
from rayab.model.validation import (
    check_choice,
    check_column,
    check_identifier,
    check_int,
    check_keys,
    check_number,
    check_text,
    parse_time,
)

__all__ = [
    "CONSISTENCY_MODES",
    "HASH_MODES",
    "Consistency",
    "Experiment",
    "ExperimentStatus",
    "HashMode",
    "Unit",
    "Variant",
]


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
Consistency = Literal["strict", "session", "hybrid"]
CONSISTENCY_MODES: tuple[Consistency, ...] = ("strict", "session", "hybrid")
HashMode = Literal["rayab", "growthbook"]
HASH_MODES: tuple[HashMode, ...] = ("rayab", "growthbook")


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
        data = check_keys(path, data, {"variant_id", "traffic_pct", "parameters"},
                          {"variant_id", "traffic_pct"})
        try:
            return cls(data["variant_id"], data["traffic_pct"], data.get("parameters") or {})
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"variant_id": self.variant_id, "traffic_pct": self.traffic_pct,
                "parameters": dict(self.parameters)}


_EXPERIMENT_FIELDS = {
    "exp_id", "name", "start_time", "end_time", "unit", "primary_kpi", "status", "variants", "control",
    "rollout_pct", "assignment_salt", "bootstrap_salt", "layer", "targeting", "version", "analysis_types",
    "layer_pct", "consistency", "hash_mode", "hash_version", "shipped_variant", "guardrails", "cluster_column",
    "owner", "description", "planned_units",
}


@dataclass(frozen=True)
class Experiment:
    """An experiment spec.

    ``rollout_pct`` is the share of eligible units in the experiment at all (gradual rollout 1% -> 100%);
    each variant then gets ``traffic_pct`` percent of those. ``assignment_salt`` seeds the assignment hash and
    ``bootstrap_salt`` the Poisson bootstrap weights; they must differ so a variant's units do not all draw
    weights from one part of the distribution.

    Assignment fields (see :mod:`rayab.assignment`):

    - ``targeting``: a :mod:`rayab.model.targeting` rule, given as a rule or as its mapping form (``{}`` is
      everyone); it decides eligibility before any hashing.
    - ``layer`` and ``layer_pct``: experiments sharing a ``layer`` are mutually exclusive; each owns the
      slice ``[layer_pct[0], layer_pct[1])`` percent of the layer's bucket space, and the slices of the draft
      and running experiments of one layer must not overlap (checked by
      :class:`rayab.assignment.engine.ConfigSnapshot`). The default layer is the experiment's own, the default
      slice all of it.
    - ``consistency``: which id is hashed. ``strict`` (default) the unit id, ``session`` the session id,
      ``hybrid`` the unit id when the request carries a non-empty one, else the session id.
    - ``hash_mode``: ``rayab`` (md5 bucket, :mod:`rayab.assignment.hashing`) or ``growthbook`` (GrowthBook's
      FNV-1a bucket with ``hash_version`` 1 or 2 and ``assignment_salt`` as the seed, the layer as namespace).
    - ``guardrails``: metrics the experiment must not harm (:class:`rayab.model.guardrail.Guardrail`), checked
      by ``rayab health``.
    - ``cluster_column``: when whole clusters were randomized (households, addresses), the assignment column naming
      them; an analysis type whose ``unit_column`` is another column gets intervals that are too narrow, and the
      loaders say so (:mod:`rayab.guardrails.clustering`). Empty (default): units were randomized one by one.
    - ``shipped_variant``: the variant a stopped experiment serves to everyone as the default (only a stopped
      or archived experiment may name one; an archived experiment serves nothing).

    Descriptive fields (they change no assignment): ``owner`` (who answers for the experiment, e.g. a name or a
    team's address, up to 128 characters), ``description`` (the hypothesis, up to 4,000 characters) and
    ``planned_units`` (the sample, units in all arms, that ``rayab power`` planned; 0: none), against which the
    console shows the progress of the experiment.

    >>> base = {"exp_id": "e", "name": "E", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z",
    ...         "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]}
    >>> exp = Experiment.from_dict({**base, "targeting": {"attr": "country", "in": ["FR"]}, "layer": "home",
    ...                             "layer_pct": [0, 25]})
    >>> type(exp.targeting).__name__, exp.layer_pct, Experiment.from_dict(exp.to_dict()) == exp
    ('Condition', (0.0, 25.0), True)
    >>> Experiment.from_dict({**base, "targeting": {"all": [{"attr": "country", "in": "FR"}]}})
    Traceback (most recent call last):
    ...
    rayab.errors.SpecError: experiment.targeting.all[0].in == 'FR': must be a list of 1 to 10000 values
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
    targeting: TargetingRule = MATCH_ALL
    version: int = 1
    analysis_types: tuple[str, ...] = ()
    layer_pct: tuple[float, float] = (0.0, 100.0)
    consistency: Consistency = "strict"
    hash_mode: HashMode = "rayab"
    hash_version: int = 1
    shipped_variant: str = ""
    guardrails: tuple[Guardrail, ...] = ()
    cluster_column: str = ""
    owner: str = ""
    description: str = ""
    planned_units: int = 0

    def __post_init__(self) -> None:
        check_identifier("exp_id", self.exp_id)
        check_text("name", self.name, max_length=256)
        check_text("primary_kpi", self.primary_kpi, max_length=64)
        object.__setattr__(self, "start_time", parse_time("start_time", self.start_time))
        if self.end_time is not None:
            end = parse_time("end_time", self.end_time)
            if end <= self.start_time:
                raise SpecError("end_time", end.isoformat(),
                                f"must be after start_time {self.start_time.isoformat()}")
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
        object.__setattr__(self, "targeting", parse_targeting(self.targeting, "targeting"))
        check_int("version", self.version, 1, 2**31 - 1)
        object.__setattr__(self, "analysis_types", tuple(
            check_identifier(f"analysis_types[{i}]", a) for i, a in enumerate(self.analysis_types)))
        self._check_assignment_fields()
        guardrails = tuple(self.guardrails)
        if len({g.metric for g in guardrails}) != len(guardrails):
            raise SpecError("guardrails", [g.metric for g in guardrails], "must name each metric once")
        object.__setattr__(self, "guardrails", guardrails)
        if self.cluster_column:
            check_column("cluster_column", self.cluster_column)
        object.__setattr__(self, "owner", check_text("owner", self.owner, max_length=128, allow_empty=True))
        object.__setattr__(self, "description", check_text("description", self.description, max_length=4000,
                                                           allow_empty=True))
        check_int("planned_units", self.planned_units, 0, 2**53)

    def _check_assignment_fields(self) -> None:
        """Layer slice, consistency, hash mode and shipped variant."""
        layer_pct = self.layer_pct
        if isinstance(layer_pct, str) or not isinstance(layer_pct, tuple | list) or len(layer_pct) != 2:
            raise SpecError("layer_pct", layer_pct, "must be a pair [start, end] of percentages")
        start = check_number("layer_pct[0]", layer_pct[0], 0, 100)
        end = check_number("layer_pct[1]", layer_pct[1], 0, 100)
        if start >= end:
            raise SpecError("layer_pct", [start, end], "must satisfy 0 <= start < end <= 100")
        object.__setattr__(self, "layer_pct", (start, end))
        object.__setattr__(self, "consistency", cast(Consistency, check_choice(
            "consistency", self.consistency, CONSISTENCY_MODES)))
        object.__setattr__(self, "hash_mode", cast(HashMode, check_choice(
            "hash_mode", self.hash_mode, HASH_MODES)))
        if self.hash_mode == "growthbook":
            check_int("hash_version", self.hash_version, 1, 2)
        elif self.hash_version != 1:
            raise SpecError("hash_version", self.hash_version,
                            "only hash_mode growthbook has hash versions; must be 1")
        if self.shipped_variant:
            known = [v.variant_id for v in self.variants]
            if self.shipped_variant not in known:
                raise SpecError("shipped_variant", self.shipped_variant,
                                f"must be one of the variant ids {known}")
            if self.status not in (ExperimentStatus.STOPPED, ExperimentStatus.ARCHIVED):
                rule = f"only a stopped or archived experiment ships a variant (status is {self.status})"
                raise SpecError("shipped_variant", self.shipped_variant, rule)

    @property
    def shipped(self) -> Variant | None:
        """The variant a stopped experiment serves to everyone, if it shipped one."""
        return self.variant(self.shipped_variant) if self.shipped_variant else None

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
        special = {"variants", "control", "analysis_types", "layer_pct", "guardrails"}
        kwargs = {k: v for k, v in data.items() if k not in special}
        if "layer_pct" in data:
            layer_pct = data["layer_pct"]
            kwargs["layer_pct"] = tuple(layer_pct) if isinstance(layer_pct, list | tuple) else layer_pct
        raw_guardrails = data.get("guardrails") or []
        if not isinstance(raw_guardrails, list):
            raise SpecError(f"{path}.guardrails", raw_guardrails, "must be a list")
        kwargs["guardrails"] = tuple(Guardrail.from_dict(g, f"{path}.guardrails[{i}]")
                                     for i, g in enumerate(raw_guardrails))
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
            "targeting": self.targeting.to_dict(), "version": self.version,
            "analysis_types": list(self.analysis_types), "layer_pct": list(self.layer_pct),
            "consistency": self.consistency, "hash_mode": self.hash_mode, "hash_version": self.hash_version,
            "shipped_variant": self.shipped_variant, "guardrails": [g.to_dict() for g in self.guardrails],
            **({"cluster_column": self.cluster_column} if self.cluster_column else {}),
            **({"owner": self.owner} if self.owner else {}),
            **({"description": self.description} if self.description else {}),
            **({"planned_units": self.planned_units} if self.planned_units else {}),
        }
