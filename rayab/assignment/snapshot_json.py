"""The SDK snapshot document: one config version as the self-describing JSON that SDKs evaluate from.

A :class:`~rayab.assignment.engine.ConfigSnapshot` holds whole experiment specs; an SDK needs only what decides
an assignment. :func:`to_document` keeps exactly that, with every default resolved (the assignment salt, the
layer), so an SDK never re-derives a default:

.. code-block:: text

    {"format": "rayab.assignment-snapshot", "schema_version": 1, "config_version": 7,
     "experiments": [{"exp_id", "unit", "status", "variants": [{"variant_id", "traffic_pct", "parameters"}],
                      "rollout_pct", "assignment_salt", "layer", "layer_pct", "targeting", "consistency",
                      "hash_mode", "hash_version", "shipped_variant"}, ...]}

``targeting`` is the mapping form of :mod:`rayab.model.targeting`; experiments keep their config order (the
order of every answer). The evaluation rules are those of :mod:`rayab.assignment` (hash, ranges, layers,
targeting, consistency, serving); ``sdk/vectors/assignment_vectors.json`` pins them case by case.
:func:`from_document` reads a document back into a snapshot that assigns every unit exactly as the original
(fields that do not affect assignment, such as names and times, get neutral placeholders), and rejects a
document of another format or schema version with a :class:`~rayab.errors.SpecError` naming the field.

>>> from rayab.model.experiment import Experiment
>>> exp = Experiment.from_dict({"exp_id": "ctr_test", "name": "ctr", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z",
...     "variants": [{"variant_id": "control", "traffic_pct": 50},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> document = to_document(ConfigSnapshot(3, (exp,)))
>>> document["format"], document["schema_version"], document["config_version"]
('rayab.assignment-snapshot', 1, 3)
>>> document["experiments"][0]["assignment_salt"], document["experiments"][0]["layer"]
('ctr_test', 'ctr_test')
>>> to_document(from_document(document)) == document
True
>>> from_document({**document, "schema_version": 2})
Traceback (most recent call last):
...
rayab.errors.SpecError: snapshot.schema_version == 2: must be 1 (this reader knows schema version 1 only)
"""

from __future__ import annotations

import json
from typing import Any

from rayab.assignment.engine import ConfigSnapshot
from rayab.errors import SpecError
from rayab.model.analysis import UNITS_METRIC
from rayab.model.experiment import Experiment
from rayab.model.validation import check_int, check_keys

__all__ = [
    "EXPERIMENT_FIELDS", "FORMAT", "SCHEMA_VERSION", "dumps", "experiment_document", "from_document", "loads",
    "to_document",
]

FORMAT = "rayab.assignment-snapshot"
SCHEMA_VERSION = 1
EXPERIMENT_FIELDS = (
    "exp_id", "unit", "status", "variants", "rollout_pct", "assignment_salt", "layer", "layer_pct", "targeting",
    "consistency", "hash_mode", "hash_version", "shipped_variant",
)
_TOP_FIELDS = {"format", "schema_version", "config_version", "experiments"}
# Placeholders for the spec fields that never affect an assignment.
_PLACEHOLDER_START = "1970-01-01T00:00:00Z"


def experiment_document(experiment: Experiment) -> dict[str, Any]:
    """The assignment fields of one experiment, defaults resolved."""
    return {
        "exp_id": experiment.exp_id,
        "unit": experiment.unit.value,
        "status": experiment.status.value,
        "variants": [{"variant_id": v.variant_id, "traffic_pct": v.traffic_pct, "parameters": dict(v.parameters)}
                     for v in experiment.variants],
        "rollout_pct": experiment.rollout_pct,
        "assignment_salt": experiment.assignment_salt,
        "layer": experiment.layer,
        "layer_pct": list(experiment.layer_pct),
        "targeting": experiment.targeting.to_dict(),
        "consistency": experiment.consistency,
        "hash_mode": experiment.hash_mode,
        "hash_version": experiment.hash_version,
        "shipped_variant": experiment.shipped_variant,
    }


def to_document(snapshot: ConfigSnapshot) -> dict[str, Any]:
    """The SDK document of ``snapshot`` (JSON-ready; :func:`dumps` renders it)."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "config_version": snapshot.version,
        "experiments": [experiment_document(e) for e in snapshot.experiments],
    }


def _experiment(data: Any, path: str) -> Experiment:
    fields = check_keys(path, data, set(EXPERIMENT_FIELDS), set(EXPERIMENT_FIELDS))
    salt = fields["assignment_salt"]
    spec = {
        **fields,
        "name": fields["exp_id"],
        "primary_kpi": UNITS_METRIC,
        "start_time": _PLACEHOLDER_START,
        # always different from the assignment salt; weights are not an SDK's business
        "bootstrap_salt": f"{salt}:bootstrap" if isinstance(salt, str) else salt,
    }
    return Experiment.from_dict(spec, path)


def from_document(data: Any) -> ConfigSnapshot:
    """A snapshot that assigns exactly as the one :func:`to_document` rendered into ``data``."""
    data = check_keys("snapshot", data, _TOP_FIELDS, _TOP_FIELDS)
    if data["format"] != FORMAT:
        raise SpecError("snapshot.format", data["format"], f"must be {FORMAT!r}")
    if data["schema_version"] != SCHEMA_VERSION or isinstance(data["schema_version"], bool):
        raise SpecError("snapshot.schema_version", data["schema_version"],
                        f"must be {SCHEMA_VERSION} (this reader knows schema version {SCHEMA_VERSION} only)")
    raw = data["experiments"]
    if not isinstance(raw, list):
        raise SpecError("snapshot.experiments", raw, "must be a list")
    experiments = tuple(_experiment(e, f"snapshot.experiments[{i}]") for i, e in enumerate(raw))
    version = check_int("snapshot.config_version", data["config_version"], 0, 2**63 - 1)
    try:
        return ConfigSnapshot(version, experiments)
    except SpecError as err:
        raise SpecError(f"snapshot.{err.field}", err.value, err.rule) from None


def dumps(snapshot: ConfigSnapshot) -> str:
    """The document of ``snapshot`` as compact UTF-8 JSON text (key order as in :func:`to_document`).

    >>> dumps(ConfigSnapshot(0, ()))
    '{"format":"rayab.assignment-snapshot","schema_version":1,"config_version":0,"experiments":[]}'
    """
    return json.dumps(to_document(snapshot), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> ConfigSnapshot:
    """:func:`from_document` of JSON text; SpecError when the text is not JSON."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SpecError("snapshot", str(text[:64]), f"is not valid JSON: {err}") from None
    return from_document(data)
