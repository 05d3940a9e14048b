"""Pure assignment: salted hashing, coverage-monotone ranges, layers, targeting, consistency modes and the
:class:`Assigner` engine. No Ray, pyarrow or grpc on this path: it runs on every request.
"""

from __future__ import annotations

from rayab.assignment.allocation import (
    assign_variant,
    choose_variant,
    experiment_ranges,
    unit_position,
    variant_ranges,
)
from rayab.assignment.engine import Assigner, ConfigSnapshot
from rayab.assignment.hashing import bucket, buckets
from rayab.assignment.layers import check_layers, in_layer_slice, layer_position, layer_salt
from rayab.assignment.plan import Assignment, AssignmentReason, ExperimentPlan
from rayab.assignment.targeting import compile_rule, matches

__all__ = [
    "Assigner",
    "Assignment",
    "AssignmentReason",
    "ConfigSnapshot",
    "ExperimentPlan",
    "assign_variant",
    "bucket",
    "buckets",
    "check_layers",
    "choose_variant",
    "compile_rule",
    "experiment_ranges",
    "in_layer_slice",
    "layer_position",
    "layer_salt",
    "matches",
    "unit_position",
    "variant_ranges",
]
