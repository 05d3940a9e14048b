"""Pure assignment: salted hashing, coverage-monotone ranges. No Ray or pyarrow on this path."""

from __future__ import annotations

from rayab.assignment.allocation import assign_variant, choose_variant, variant_ranges
from rayab.assignment.hashing import bucket, buckets

__all__ = ["assign_variant", "bucket", "buckets", "choose_variant", "variant_ranges"]
