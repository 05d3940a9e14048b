"""One experiment compiled for the request path, and the :class:`Assignment` it decides.

A unit goes through these steps, in this order; the first that fails names the ``reason``:

1. ``shipped``: a stopped experiment with a shipped variant serves that variant's parameters to everyone
   (``in_experiment`` false: nobody is measured any more).
2. ``missing_id``: the id the experiment's ``consistency`` mode hashes is absent (``strict``: the unit id;
   ``session``: the session id; ``hybrid``: the unit id if non-empty, else the session id).
3. ``not_targeted``: the targeting rule does not hold on the request attributes.
4. ``outside_layer_slice``: the unit's layer position is outside the experiment's slice of its layer.
5. ``outside_rollout``: the unit's position is in none of the variant ranges at the current rollout.
6. ``assigned``: the variant whose range holds the position.

A unit that is not assigned gets no variant and **no parameters** (the client keeps its own defaults), except
in the ``shipped`` case.

>>> from rayab.model.experiment import Experiment
>>> exp = Experiment.from_dict({"exp_id": "ctr_test", "name": "ctr", "primary_kpi": "ctr",
...     "start_time": "2026-11-24T00:00:00Z", "targeting": {"attr": "country", "eq": "FR"},
...     "variants": [{"variant_id": "control", "traffic_pct": 50},
...                  {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]})
>>> plan = ExperimentPlan.from_experiment(exp)
>>> plan.decide("alice", None, {"country": "FR"}, 7)
Assignment(exp_id='ctr_test', variant_id='treatment', parameters=mappingproxy({'ranker': 'v2'}), \
config_version=7, in_experiment=True, reason='assigned')
>>> plan.decide("alice", None, {"country": "DE"}, 7).reason
'not_targeted'
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from rayab.assignment.allocation import experiment_ranges
from rayab.assignment.growthbook import gb_hash
from rayab.assignment.hashing import bucket_columns, buckets, digest_position, md5
from rayab.assignment.layers import layer_salt
from rayab.assignment.targeting import Attributes, Predicate, compile_rule
from rayab.model.experiment import Experiment, ExperimentStatus, ParameterValue
from rayab.model.targeting import MATCH_ALL

__all__ = ["Assignment", "AssignmentReason", "Decider", "ExperimentPlan", "Serving"]

AssignmentReason = Literal[
    "assigned", "shipped", "missing_id", "not_targeted", "outside_layer_slice", "outside_rollout"]
Serving = Literal["active", "shipped", "inactive"]
Parameters = Mapping[str, ParameterValue]
_NO_PARAMETERS: Parameters = MappingProxyType({})
_TWO_53 = float(2**53)
_first_u64 = struct.Struct(">Q").unpack_from  # the digest's first 8 bytes, big-endian, without a slice


class Assignment(NamedTuple):
    """What one unit sees in one experiment, under config version ``config_version``."""

    exp_id: str
    variant_id: str | None
    parameters: Parameters
    config_version: int
    in_experiment: bool
    reason: AssignmentReason


Decider = Callable[[str, "str | None", Attributes], "Assignment"]
"""``decider(unit_id, session_id, attributes)``: one experiment's :meth:`ExperimentPlan.decide` for one config
version, on an already validated request."""


def _serving(experiment: Experiment) -> Serving:
    if experiment.status == ExperimentStatus.RUNNING:
        return "active"
    if experiment.status == ExperimentStatus.STOPPED and experiment.shipped_variant:
        return "shipped"
    return "inactive"


@dataclass(frozen=True, slots=True)
class ExperimentPlan:
    """An experiment with everything the request path needs precomputed (ranges, salts, compiled targeting)."""

    experiment: Experiment
    serving: Serving
    predicate: Predicate | None
    layer_slice: tuple[float, float] | None
    ranges: tuple[tuple[float, float], ...]
    variant_ids: tuple[str, ...]
    parameters: tuple[Parameters, ...]
    assign_prefix: bytes
    layer_prefix: bytes

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> ExperimentPlan:
        """Compile ``experiment``; a slice covering the whole layer skips the layer hash."""
        start, end = experiment.layer_pct
        return cls(
            experiment=experiment,
            serving=_serving(experiment),
            predicate=None if experiment.targeting == MATCH_ALL else compile_rule(experiment.targeting),
            layer_slice=None if (start, end) == (0.0, 100.0) else (start / 100.0, end / 100.0),
            ranges=experiment_ranges(experiment),
            variant_ids=tuple(v.variant_id for v in experiment.variants),
            parameters=tuple(v.parameters for v in experiment.variants),
            assign_prefix=f"{experiment.assignment_salt}:".encode(),
            layer_prefix=f"{layer_salt(experiment.layer)}:".encode(),
        )

    @property
    def exp_id(self) -> str:
        """The experiment id."""
        return self.experiment.exp_id

    def hash_id(self, unit_id: str, session_id: str | None) -> str:
        """The id this experiment hashes ("" when the request lacks it)."""
        mode = self.experiment.consistency
        if mode == "strict":
            return unit_id
        if mode == "session":
            return session_id or ""
        return unit_id or session_id or ""

    def position(self, hash_id: str) -> float:
        """The id's position in [0, 1) for the variant ranges."""
        if self.experiment.hash_mode == "rayab":
            digest = md5(self.assign_prefix + hash_id.encode()).digest()
            return digest_position(digest)
        position = gb_hash(self.experiment.assignment_salt, hash_id, self.experiment.hash_version)
        assert position is not None
        return position

    def layer_position(self, hash_id: str) -> float:
        """The id's position in [0, 1) in the experiment's layer."""
        if self.experiment.hash_mode == "rayab":
            digest = md5(self.layer_prefix + hash_id.encode()).digest()
            return digest_position(digest)
        position = gb_hash("__" + self.experiment.layer, hash_id, 1)
        assert position is not None
        return position

    def decide(self, unit_id: str, session_id: str | None, attributes: Attributes,
               config_version: int) -> Assignment:
        """The assignment of one (already validated) request (a one-off :meth:`decider` call)."""
        return self.decider(config_version)(unit_id, session_id, attributes)

    def decider(self, config_version: int) -> Decider:
        """:meth:`decide` compiled for ``config_version``: every answer it can give is built here, once (one
        :class:`Assignment` per variant and per reason), and what does not depend on the unit is bound as a
        local (salted prefixes, the flattened range bounds, the targeting predicate, skipped when there is
        none), so a call is the steps of the module docstring and one or two md5 digests, with no allocation
        beyond the hashed bytes.

        >>> from rayab.model.experiment import Experiment
        >>> exp = Experiment.from_dict({"exp_id": "e", "name": "e", "primary_kpi": "ctr", "rollout_pct": 40,
        ...     "start_time": "2026-11-24T00:00:00Z", "variants": [{"variant_id": "a", "traffic_pct": 50},
        ...                                                      {"variant_id": "b", "traffic_pct": 50}]})
        >>> decide = ExperimentPlan.from_experiment(exp).decider(3)
        >>> [(a.variant_id, a.reason) for a in map(lambda u: decide(u, None, {}), ["alice", "bob", "carol"])]
        [('b', 'assigned'), (None, 'outside_rollout'), (None, 'outside_rollout')]
        >>> decide("alice", None, {}) is decide("alice", None, {})
        True
        """
        if self.serving == "shipped":
            shipped = self._shipped(config_version)
            return lambda unit_id, session_id, attributes: shipped
        missing = self._outside(config_version, "missing_id")
        not_targeted = self._outside(config_version, "not_targeted")
        outside_slice = self._outside(config_version, "outside_layer_slice")
        outside_rollout = self._outside(config_version, "outside_rollout")
        # The ranges are ascending and disjoint: bisect_right over their flattened bounds gives an odd slot
        # 2i + 1 exactly when a position lies in range i (the same rule as choose_variant and variant_column).
        bounds = tuple(bound for pair in self.ranges for bound in pair)
        by_slot: tuple[Assignment, ...] = (outside_rollout, *(
            answer for i in range(len(self.ranges)) for answer in (
                Assignment(self.exp_id, self.variant_ids[i], self.parameters[i], config_version, True, "assigned"),
                outside_rollout)))
        predicate = self.predicate
        strict = self.experiment.consistency == "strict"
        hash_id_of = self.hash_id
        low, high = self.layer_slice or (0.0, 1.0)
        layered = self.layer_slice is not None
        if self.experiment.hash_mode != "rayab":
            position, layer_position = self.position, self.layer_position

            def decide_growthbook(unit_id: str, session_id: str | None, attributes: Attributes) -> Assignment:
                hash_id = unit_id if strict else hash_id_of(unit_id, session_id)
                if not hash_id:
                    return missing
                if predicate is not None and not predicate(attributes):
                    return not_targeted
                if layered and not low <= layer_position(hash_id) < high:
                    return outside_slice
                return by_slot[bisect_right(bounds, position(hash_id))]

            return decide_growthbook
        prefix, layer_prefix, digest_of, first_u64 = self.assign_prefix, self.layer_prefix, md5, _first_u64

        def decide(unit_id: str, session_id: str | None, attributes: Attributes) -> Assignment:
            hash_id = unit_id if strict else hash_id_of(unit_id, session_id)
            if not hash_id:
                return missing
            if predicate is not None and not predicate(attributes):
                return not_targeted
            encoded = hash_id.encode()
            if layered and not low <= (first_u64(digest_of(layer_prefix + encoded).digest())[0] >> 11) / _TWO_53 \
                    < high:
                return outside_slice
            return by_slot[bisect_right(bounds, (first_u64(digest_of(prefix + encoded).digest())[0] >> 11) / _TWO_53)]

        return decide

    def decide_many(self, unit_ids: Sequence[str], session_ids: Sequence[str | None],
                    attributes: Sequence[Attributes], config_version: int) -> list[Assignment]:
        """:meth:`decide` for many requests, hashing the eligible ids in one vectorised pass."""
        if self.serving == "shipped":
            return [self._shipped(config_version)] * len(unit_ids)
        hash_ids = [self.hash_id(u, s) for u, s in zip(unit_ids, session_ids, strict=True)]
        results: list[Assignment | None] = [None] * len(hash_ids)
        eligible = []
        for i, hash_id in enumerate(hash_ids):
            reason = self._exclusion(hash_id, attributes[i])
            if reason is None:
                eligible.append(i)
            else:
                results[i] = self._outside(config_version, reason)
        eligible = self._filter_layer(eligible, hash_ids, results, config_version)
        positions = self._positions([hash_ids[i] for i in eligible])
        for i, position in zip(eligible, positions.tolist(), strict=True):
            results[i] = self._pick(position, config_version)
        return [r for r in results if r is not None]

    def variant_column(self, hash_ids: Sequence[str], attributes: Attributes, compiled: bool | None = None,
                       encoded: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None,
                       ) -> npt.NDArray[np.int16]:
        """For many non-empty ids sharing ``attributes``: each one's variant index (-1: no variant), the same
        decisions as :meth:`decide_many` in columnar form (one vectorised hash pass, no per-unit objects;
        ``compiled`` and ``encoded`` as in :func:`~rayab.assignment.hashing.bucket_columns`)."""
        n = len(hash_ids)
        if self.serving == "shipped":
            return np.full(n, self.variant_ids.index(self.experiment.shipped_variant or ""), dtype=np.int16)
        if self.predicate is not None and not self.predicate(attributes):
            return np.full(n, -1, dtype=np.int16)
        # the ranges are ascending and disjoint: an odd insertion point in their flattened bounds is inside one
        bounds = np.array([bound for pair in self.ranges for bound in pair], dtype=np.float64)
        if self.experiment.hash_mode != "rayab":
            positions = self._positions(list(hash_ids))
            layer = self._layer_positions(list(hash_ids)) if self.layer_slice is not None else None
        elif self.layer_slice is not None:  # both hashes over one encoding of the ids
            positions, layer = bucket_columns((self.experiment.assignment_salt, layer_salt(self.experiment.layer)),
                                              hash_ids, compiled, encoded)
        else:
            (positions,), layer = bucket_columns((self.experiment.assignment_salt,), hash_ids, compiled,
                                                 encoded), None
        slot = np.searchsorted(bounds, positions, side="right")
        column = np.where(slot % 2 == 1, (slot - 1) // 2, -1).astype(np.int16)
        if layer is not None and self.layer_slice is not None:
            low, high = self.layer_slice
            column[(layer < low) | (layer >= high)] = -1
        return column

    def _exclusion(self, hash_id: str, attributes: Attributes) -> AssignmentReason | None:
        """The reason a request is out before the layer check (which decide_many makes in one pass)."""
        if not hash_id:
            return "missing_id"
        if self.predicate is not None and not self.predicate(attributes):
            return "not_targeted"
        return None

    def _filter_layer(self, eligible: list[int], hash_ids: list[str], results: list[Assignment | None],
                      config_version: int) -> list[int]:
        if self.layer_slice is None or not eligible:
            return eligible
        low, high = self.layer_slice
        positions = self._layer_positions([hash_ids[i] for i in eligible]).tolist()
        kept = []
        for i, position in zip(eligible, positions, strict=True):
            if low <= position < high:
                kept.append(i)
            else:
                results[i] = self._outside(config_version, "outside_layer_slice")
        return kept

    def _positions(self, hash_ids: list[str]) -> npt.NDArray[np.float64]:
        if self.experiment.hash_mode == "rayab":
            return buckets(self.experiment.assignment_salt, hash_ids)
        return np.array([self.position(h) for h in hash_ids], dtype=np.float64)

    def _layer_positions(self, hash_ids: list[str]) -> npt.NDArray[np.float64]:
        if self.experiment.hash_mode == "rayab":
            return buckets(layer_salt(self.experiment.layer), hash_ids)
        return np.array([self.layer_position(h) for h in hash_ids], dtype=np.float64)

    def _pick(self, position: float, config_version: int) -> Assignment:
        for i, (low, high) in enumerate(self.ranges):
            if low <= position < high:
                return Assignment(self.experiment.exp_id, self.variant_ids[i], self.parameters[i],
                                  config_version, True, "assigned")
        return self._outside(config_version, "outside_rollout")

    def _outside(self, config_version: int, reason: AssignmentReason) -> Assignment:
        return Assignment(self.experiment.exp_id, None, _NO_PARAMETERS, config_version, False, reason)

    def _shipped(self, config_version: int) -> Assignment:
        variant = self.experiment.shipped
        assert variant is not None
        return Assignment(self.experiment.exp_id, variant.variant_id, variant.parameters, config_version,
                          False, "shipped")
