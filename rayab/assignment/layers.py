"""Layers: experiments sharing a layer are mutually exclusive, experiments in different layers overlap.

A unit's **layer position** is a hash of the id it is assigned on, under the layer's own salt
(``md5(layer + ":layer" + ":" + id)`` read as in :func:`~rayab.assignment.hashing.bucket`; for
``hash_mode: growthbook``, GrowthBook's namespace hash with the layer name as namespace id). Each experiment of
a layer owns the slice ``[layer_pct[0], layer_pct[1])`` percent of that position, and a unit takes part only in
the experiment whose slice holds its position, so no unit is in two experiments of one layer. The layer salt
differs from every assignment salt, so the variant a unit gets inside its experiment is independent of which
slice it fell in; different layers have different salts, so their experiments overlap independently.

A unit in an experiment's slice that the experiment does not target (or does not roll out to) is in no
experiment of that layer: it is never handed to a neighbour, so raising a rollout or changing targeting never
moves units between experiments.

Only draft and running experiments hold a slice: stopping an experiment frees its slice for a successor (a
stopped experiment that shipped a variant serves it to everyone, outside any layer).

>>> from rayab.model.experiment import Experiment
>>> def exp(exp_id, pct):
...     return Experiment.from_dict({"exp_id": exp_id, "name": exp_id, "primary_kpi": "ctr", "layer": "home",
...         "start_time": "2026-11-24T00:00:00Z", "layer_pct": pct,
...         "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]})
>>> sorted(check_layers([exp("e1", [0, 50]), exp("e2", [50, 100])]))
['home']
>>> check_layers([exp("e1", [0, 50]), exp("e2", [40, 100])])
Traceback (most recent call last):
...
rayab.errors.SpecError: experiments[1].layer_pct == [40.0, 100.0]: overlaps experiment e1 [0, 50) in layer home
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from rayab.assignment.growthbook import gb_hash
from rayab.assignment.hashing import bucket
from rayab.errors import SpecError
from rayab.model.experiment import Experiment, ExperimentStatus

__all__ = ["check_layers", "holds_slice", "in_layer_slice", "layer_position", "layer_salt"]

_SLICE_HOLDERS = (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING)


def layer_salt(layer: str) -> str:
    """The md5 salt of a layer's position; it contains ``:``, so no default assignment salt equals it.

    >>> layer_salt("home")
    'home:layer'
    """
    return f"{layer}:layer"


def layer_position(experiment: Experiment, hash_id: str) -> float:
    """The position in [0, 1) of ``hash_id`` in the layer of ``experiment``."""
    if experiment.hash_mode == "growthbook":
        position = gb_hash("__" + experiment.layer, hash_id, 1)
        assert position is not None
        return position
    return bucket(layer_salt(experiment.layer), hash_id)


def in_layer_slice(experiment: Experiment, hash_id: str) -> bool:
    """Whether ``hash_id`` falls in the slice of its layer that ``experiment`` owns."""
    start, end = experiment.layer_pct
    return start / 100.0 <= layer_position(experiment, hash_id) < end / 100.0


def holds_slice(experiment: Experiment) -> bool:
    """Whether ``experiment`` occupies its layer slice (draft and running experiments do)."""
    return experiment.status in _SLICE_HOLDERS


def check_layers(experiments: Sequence[Experiment],
                 path: str = "experiments") -> dict[str, tuple[Experiment, ...]]:
    """The slice-holding experiments of each layer; SpecError when two slices of one layer overlap or the
    experiments of a layer disagree on ``hash_mode`` or ``consistency`` (their layer positions would differ)."""
    layers: dict[str, list[tuple[int, Experiment]]] = {}
    for i, experiment in enumerate(experiments):
        if holds_slice(experiment):
            layers.setdefault(experiment.layer, []).append((i, experiment))
    for members in layers.values():
        _check_members(members, path)
    return {name: tuple(e for _, e in members) for name, members in layers.items()}


def _check_members(members: list[tuple[int, Experiment]], path: str) -> None:
    first = members[0][1]
    for i, experiment in members[1:]:
        for attribute in ("hash_mode", "consistency"):
            if getattr(experiment, attribute) != getattr(first, attribute):
                raise SpecError(f"{path}[{i}].{attribute}", getattr(experiment, attribute),
                                f"must equal that of experiment {first.exp_id} ({getattr(first, attribute)}), "
                                f"which shares layer {experiment.layer}")
    ordered = sorted(members, key=lambda member: member[1].layer_pct)
    for (_, before), (i, after) in pairwise(ordered):
        if after.layer_pct[0] < before.layer_pct[1]:
            low, high = before.layer_pct
            raise SpecError(f"{path}[{i}].layer_pct", list(after.layer_pct),
                            f"overlaps experiment {before.exp_id} [{low:g}, {high:g}) in layer {after.layer}")
