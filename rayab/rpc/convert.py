"""Conversions between protobuf messages and rayab's Python values.

Request fields are checked here only for what protobuf cannot express (an attribute with no value set); the
assignment engine checks the rest and names the field.

>>> from rayab.rpc._generated import assignment_pb2 as pb
>>> request = pb.AssignRequest(unit_id="alice")
>>> request.attributes["country"].string_value = "FR"
>>> request.attributes["age"].int_value = 31
>>> sorted(attributes_from_proto(request.attributes).items())
[('age', 31), ('country', 'FR')]
>>> message = pb.ParameterValue()
>>> set_parameter(message, 2.5)
>>> message.double_value
2.5
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rayab.assignment import AssignmentReason
from rayab.errors import ValidationError
from rayab.model.experiment import Experiment, ExperimentStatus, ParameterValue
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb

__all__ = [
    "REASONS",
    "SECRET_FIELDS",
    "STATUSES",
    "attributes_from_proto",
    "experiment_to_proto",
    "set_parameter",
    "status_from_proto",
]

Attribute = str | int | float | bool

REASONS: Mapping[AssignmentReason, int] = {
    "assigned": apb.REASON_ASSIGNED,
    "shipped": apb.REASON_SHIPPED,
    "missing_id": apb.REASON_MISSING_ID,
    "not_targeted": apb.REASON_NOT_TARGETED,
    "outside_layer_slice": apb.REASON_OUTSIDE_LAYER_SLICE,
    "outside_rollout": apb.REASON_OUTSIDE_ROLLOUT,
}
STATUSES: Mapping[ExperimentStatus, int] = {
    ExperimentStatus.DRAFT: epb.EXPERIMENT_STATUS_DRAFT,
    ExperimentStatus.RUNNING: epb.EXPERIMENT_STATUS_RUNNING,
    ExperimentStatus.STOPPED: epb.EXPERIMENT_STATUS_STOPPED,
    ExperimentStatus.ARCHIVED: epb.EXPERIMENT_STATUS_ARCHIVED,
}
_STATUS_OF_PROTO = {number: status for status, number in STATUSES.items()}


def attributes_from_proto(values: Mapping[str, apb.AttributeValue], field: str = "attributes") -> dict[str, Attribute]:
    """Attribute name -> value; an entry with no value set raises :class:`ValidationError` naming it."""
    out: dict[str, Attribute] = {}
    for name, value in values.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise ValidationError(f"{field}.{name}", None,
                                  "must set one of string_value, int_value, double_value, bool_value")
        out[name] = getattr(value, kind)
    return out


def set_parameter(message: apb.ParameterValue, value: ParameterValue) -> None:
    """Write one parameter value into ``message`` (bool before int: a bool is an int in Python)."""
    if value is None:
        message.null_value = 0
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        message.int_value = value
    elif isinstance(value, float):
        message.double_value = value
    else:
        message.string_value = value


def status_from_proto(number: int, field: str = "status") -> ExperimentStatus | None:
    """The status a proto enum value stands for; UNSPECIFIED is None."""
    if number == epb.EXPERIMENT_STATUS_UNSPECIFIED:
        return None
    status = _STATUS_OF_PROTO.get(number)
    if status is None:
        raise ValidationError(field, number, f"must be one of {sorted(_STATUS_OF_PROTO)} (or 0 for unchanged)")
    return status


SECRET_FIELDS = ("assignment_salt", "bootstrap_salt")


def experiment_to_proto(experiment: Experiment, secrets: bool = False) -> epb.Experiment:
    """The admin view of an experiment: summary fields plus the spec as JSON, its salts (:data:`SECRET_FIELDS`)
    only with ``secrets`` (for callers holding the admin token: a salt lets anyone compute every unit's variant)."""
    spec: dict[str, Any] = experiment.to_dict()
    if not secrets:
        for name in SECRET_FIELDS:
            spec.pop(name, None)
    message = epb.Experiment(
        exp_id=experiment.exp_id, name=experiment.name, status=STATUSES[experiment.status],  # type: ignore[arg-type]
        rollout_pct=experiment.rollout_pct, layer=experiment.layer, shipped_variant=experiment.shipped_variant,
        version=experiment.version, targeting_json=json.dumps(spec["targeting"], sort_keys=True),
        spec_json=json.dumps(spec, sort_keys=True))
    for variant in experiment.variants:
        message.variants.add(variant_id=variant.variant_id, traffic_pct=variant.traffic_pct,
                             parameters_json=json.dumps(dict(variant.parameters), sort_keys=True))
    return message
