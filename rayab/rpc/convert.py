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

Enums map to rayab's string values here and nowhere else; ``_UNSPECIFIED`` (0) is "not given" (the default):

>>> from rayab.rpc._generated import results_pb2 as rpb
>>> METHODS[rpb.INTERVAL_METHOD_BASIC], METHODS[rpb.INTERVAL_METHOD_UNSPECIFIED]
('basic', '')
>>> HEALTH_STATUSES["no_data"] == rpb.HEALTH_STATUS_NO_DATA
True
>>> struct_to_python(python_to_struct({"attr": "age", "gte": 31, "tags": [1.5, None]})) == {
...     "attr": "age", "gte": 31, "tags": [1.5, None]}
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.protobuf import struct_pb2

from rayab.assignment import AssignmentReason
from rayab.errors import ValidationError
from rayab.model.experiment import Experiment, ExperimentStatus, ParameterValue
from rayab.rpc._generated import assignment_pb2 as apb
from rayab.rpc._generated import experiments_pb2 as epb
from rayab.rpc._generated import results_pb2 as rpb

if TYPE_CHECKING:
    from rayab.storage.specs import ConfigChange

__all__ = [
    "BAYESIAN_PATHS",
    "BAYESIAN_PATH_OF_NAME",
    "CORRECTIONS",
    "DIALECTS",
    "DIALECT_OF_NAME",
    "HEALTH_STATUSES",
    "INTERVALS",
    "INTERVAL_KINDS",
    "METHODS",
    "REASONS",
    "SECRET_FIELDS",
    "STATUSES",
    "attributes_from_proto",
    "change_to_proto",
    "enum_value",
    "experiment_to_proto",
    "parameter_value",
    "python_to_struct",
    "query_fields",
    "set_parameter",
    "status_from_proto",
    "struct_to_python",
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
# proto enum value -> rayab's string ("" = not given: the request's default applies)
METHODS: Mapping[int, str] = {
    rpb.INTERVAL_METHOD_UNSPECIFIED: "", rpb.INTERVAL_METHOD_PERCENTILE: "percentile",
    rpb.INTERVAL_METHOD_BASIC: "basic", rpb.INTERVAL_METHOD_NORMAL: "normal"}
CORRECTIONS: Mapping[int, str] = {
    rpb.CORRECTION_UNSPECIFIED: "", rpb.CORRECTION_NONE: "", rpb.CORRECTION_BONFERRONI: "bonferroni",
    rpb.CORRECTION_HOLM: "holm", rpb.CORRECTION_HOCHBERG: "hochberg", rpb.CORRECTION_SIDAK: "sidak",
    rpb.CORRECTION_HOLM_SIDAK: "holm-sidak", rpb.CORRECTION_BH: "bh", rpb.CORRECTION_BY: "by"}
INTERVALS: Mapping[int, str] = {
    rpb.INTERVAL_KIND_UNSPECIFIED: "", rpb.INTERVAL_KIND_FIXED: "fixed",
    rpb.INTERVAL_KIND_SEQUENTIAL: "sequential"}
BAYESIAN_PATHS: Mapping[int, str] = {
    rpb.BAYESIAN_PATH_UNSPECIFIED: "", rpb.BAYESIAN_PATH_BOOTSTRAP: "bootstrap", rpb.BAYESIAN_PATH_NORMAL: "normal"}
DIALECTS: Mapping[int, str] = {
    rpb.SQL_DIALECT_UNSPECIFIED: "duckdb", rpb.SQL_DIALECT_DUCKDB: "duckdb", rpb.SQL_DIALECT_TRINO: "trino"}
# rayab's string -> proto enum value (answers)
HEALTH_STATUSES: Mapping[str, rpb.HealthStatus] = {
    "ok": rpb.HEALTH_STATUS_OK, "warn": rpb.HEALTH_STATUS_WARN, "no_data": rpb.HEALTH_STATUS_NO_DATA,
    "fail": rpb.HEALTH_STATUS_FAIL}
INTERVAL_KINDS: Mapping[str, rpb.IntervalKind] = {
    "fixed": rpb.INTERVAL_KIND_FIXED, "sequential": rpb.INTERVAL_KIND_SEQUENTIAL}
BAYESIAN_PATH_OF_NAME: Mapping[str, rpb.BayesianPath] = {
    "bootstrap": rpb.BAYESIAN_PATH_BOOTSTRAP, "normal": rpb.BAYESIAN_PATH_NORMAL}
DIALECT_OF_NAME: Mapping[str, rpb.SqlDialect] = {"duckdb": rpb.SQL_DIALECT_DUCKDB, "trino": rpb.SQL_DIALECT_TRINO}


def enum_value(table: Mapping[int, str], number: int, field: str) -> str:
    """rayab's string for a request's enum ``number``; a number this server does not know raises
    :class:`ValidationError` naming ``field``.

    >>> enum_value(METHODS, 3, "query.method")
    'normal'
    >>> enum_value(METHODS, 9, "query.method")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: query.method == 9: must be one of 0, 1, 2, 3
    """
    if number not in table:
        raise ValidationError(field, number, f"must be one of {', '.join(str(n) for n in sorted(table))}")
    return table[number]


def query_fields(query: rpb.ResultsQuery, field: str = "query") -> dict[str, Any]:
    """The fields of a ``ResultsQuery`` as a plain mapping of rayab values (lists for repeated fields, "" for
    an enum left UNSPECIFIED)."""
    return {"exp_id": query.exp_id, "analysis_type": query.analysis_type, "start_hour": query.start_hour,
            "end_hour": query.end_hour, "metrics": list(query.metrics), "projection": list(query.projection),
            "where": query.where, "confidence_level": query.confidence_level,
            "method": enum_value(METHODS, query.method, f"{field}.method"),
            "correction": enum_value(CORRECTIONS, query.correction, f"{field}.correction"),
            "correct_across_slices": query.correct_across_slices,
            "interval": enum_value(INTERVALS, query.interval, f"{field}.interval"),
            "planned_units": query.planned_units,
            "bayesian": enum_value(BAYESIAN_PATHS, query.bayesian, f"{field}.bayesian")}


def _plain(value: Any) -> Any:
    """``value`` as JSON-like data: NaN and infinities become None, tuples lists, unknown objects their text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        return None if not math.isfinite(number) else value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    return _plain(item()) if callable(item) else str(value)


def python_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """A ``google.protobuf.Struct`` holding ``value`` (see :func:`_plain` for what cannot be a JSON value)."""
    message = struct_pb2.Struct()
    message.update(_plain(value))
    return message


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def struct_to_python(message: struct_pb2.Struct) -> dict[str, Any]:
    """The mapping a ``Struct`` holds; a Struct stores every number as a double, so whole numbers come back as
    integers (a targeting rule compares 31 and 31.0 alike)."""
    from google.protobuf.json_format import MessageToDict

    return _whole(MessageToDict(message))  # type: ignore[no-any-return]


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


def parameter_value(message: apb.ParameterValue) -> ParameterValue:
    """The Python value of a parameter message (None for null or unset).

    >>> parameter_value(apb.ParameterValue(int_value=20))
    20
    """
    kind = message.WhichOneof("kind")
    return None if kind in (None, "null_value") else getattr(message, kind)


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
        version=experiment.version, targeting=python_to_struct(spec["targeting"]),
        spec_json=json.dumps(spec, sort_keys=True), owner=experiment.owner, description=experiment.description,
        planned_units=experiment.planned_units)
    for variant in experiment.variants:
        added = message.variants.add(variant_id=variant.variant_id, traffic_pct=variant.traffic_pct)
        for name, value in variant.parameters.items():
            set_parameter(added.parameters[name], value)
    return message


def change_to_proto(change: ConfigChange) -> epb.ConfigChange:
    """One committed config version of an experiment's history.

    >>> from datetime import UTC, datetime
    >>> from rayab.storage.specs import ConfigChange
    >>> row = ConfigChange(3, datetime(2026, 11, 24, 10, 5, tzinfo=UTC), "update e: rollout_pct 40 -> 60", "ada",
    ...                    ("e",))
    >>> message = change_to_proto(row)
    >>> message.config_version, message.committed_at.ToJsonString(), message.change, list(message.exp_ids)
    (3, '2026-11-24T10:05:00Z', 'update e: rollout_pct 40 -> 60', ['e'])
    """
    message = epb.ConfigChange(config_version=change.version, change=change.change, changed_by=change.changed_by,
                               exp_ids=list(change.exp_ids))
    message.committed_at.FromDatetime(change.committed_at)
    return message
