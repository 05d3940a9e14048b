"""What the console's admin forms send, turned into the admin API's arguments: no web framework, no rules.

Every rule (status changes, validation of the spec, version numbers) is the config store's
(:class:`~rayab.lifecycle.config_store.ConfigStore`): this module only reads a form or a YAML text into the spec
mapping or the keyword arguments the admin API takes, so a spec typed in the form, pasted as YAML or sent as
``spec_json`` over gRPC gets the same validation messages (``spec.variants[*].traffic_pct == [50.0, 40.0]: must
sum to 100 (sums to 90)``).

>>> spec_from_yaml("exp_id: e\\nname: E\\nprimary_kpi: ctr")["exp_id"]
'e'
>>> spec_from_form({"exp_id": "e", "name": "E", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00",
...                 "variant_id": ["control", "treatment", ""], "traffic_pct": ["50", "50", ""]})["variants"]
[{'variant_id': 'control', 'traffic_pct': 50.0}, {'variant_id': 'treatment', 'traffic_pct': 50.0}]
>>> changed_by({"changed_by": "  Ada "}), described({"owner": "ada@example.com", "planned_units": "6000"})
('Ada', {'owner': 'ada@example.com', 'planned_units': 6000})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from rayab.errors import ValidationError

__all__ = ["EDIT_FIELDS", "changed_by", "described", "spec_from_form", "spec_from_yaml", "variant_rows"]

EDIT_FIELDS = ("name", "owner", "description", "planned_units")
_FORM_TEXT = ("exp_id", "name", "owner", "description", "primary_kpi", "status", "layer", "unit", "control")


def _one(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _many(form: Mapping[str, Any], key: str) -> list[str]:
    value = form.get(key, [])
    values = value if isinstance(value, list) else [value]
    return [v.strip() if isinstance(v, str) else "" for v in values]


def changed_by(form: Mapping[str, Any]) -> str:
    """Who makes the change (required in the console: it is what the history shows).

    >>> changed_by({})
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: changed_by == '': is required: your name or address, recorded in the history
    """
    who = _one(form, "changed_by")
    if not who:
        raise ValidationError("changed_by", who, "is required: your name or address, recorded in the history")
    return who


def _count(text: str, field: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise ValidationError(field, text[:40], "must be a whole number of units (0: no plan)") from None
    return value


def described(form: Mapping[str, Any]) -> dict[str, Any]:
    """The descriptive fields the edit form sends (an absent field is kept; an empty owner or description clears
    it; an empty planned sample is 0, no plan)."""
    out: dict[str, Any] = {}
    for key in EDIT_FIELDS:
        if key not in form:
            continue
        text = _one(form, key)
        out[key] = _count(text or "0", key) if key == "planned_units" else text
    return out


def spec_from_yaml(text: str) -> dict[str, Any]:
    """One experiment's spec from YAML (or JSON) text, as ``rayab experiments create`` reads a file.

    >>> spec_from_yaml("- a\\n- b")
    Traceback (most recent call last):
    ...
    rayab.errors.ValidationError: spec == '- a\\n- b': must hold one experiment (a mapping of its fields)
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError("spec", text[:60], f"is not valid YAML/JSON: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise ValidationError("spec", text[:60], "must hold one experiment (a mapping of its fields)")
    return data


def _time(text: str) -> str:
    """A ``datetime-local`` value (no zone, minutes) as UTC ISO 8601; anything else is left to the spec's check."""
    if len(text) == 16 and text[10] == "T":
        return f"{text}:00Z"
    return text


def spec_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """A spec from the form's fields: text fields, ``start_time`` / ``end_time`` (UTC), variant rows
    (``variant_id`` and ``traffic_pct`` lists; empty rows are skipped), ``rollout_pct`` and ``planned_units``."""
    spec: dict[str, Any] = {k: _one(form, k) for k in _FORM_TEXT if _one(form, k)}
    for key in ("start_time", "end_time"):
        if _one(form, key):
            spec[key] = _time(_one(form, key))
    ids, shares = _many(form, "variant_id"), _many(form, "traffic_pct")
    variants = []
    for variant_id, share in zip(ids, shares + [""] * (len(ids) - len(shares)), strict=False):
        if not variant_id and not share:
            continue
        try:
            pct: Any = float(share)
        except ValueError:
            pct = share  # the spec's own check names the field and the rule
        variants.append({"variant_id": variant_id, "traffic_pct": pct})
    spec["variants"] = variants
    for key, kind in (("rollout_pct", float), ("planned_units", int)):
        text = _one(form, key)
        if text:
            try:
                spec[key] = kind(text)
            except ValueError:
                spec[key] = text
    return spec


def variant_rows(spec: Mapping[str, Any], rows: int = 3) -> Sequence[tuple[str, str]]:
    """The variant rows to show in the create form again after an error (at least ``rows``)."""
    shown = [(str(v.get("variant_id", "")), str(v.get("traffic_pct", ""))) for v in spec.get("variants", [])
             if isinstance(v, Mapping)]
    return shown + [("", "")] * max(0, rows - len(shown))
