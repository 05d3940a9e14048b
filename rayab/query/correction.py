"""Multiple-testing correction of results: one family per slice (metrics x variants), or one across all slices.

Each comparison with control that has a p-value joins the family of its window end (every look of a time series is
its own family) and of its slice, unless ``across_slices``; control rows and comparisons without a p-value (an
error) are left out and keep ``adjusted_pvalue = NaN``. Results come back in the order they came in.

>>> from rayab.query.compare import MetricResult
>>> def row(metric, variant, p):
...     return MetricResult("e", metric, variant, (), 0, 0, 0.0, 0.0, 0.0, "c", *[0.0] * 6, p, 0.95, 10, 0, "")
>>> rows = [row("ctr", "c", float("nan")), row("ctr", "t", 0.01), row("rpm", "t", 0.04)]
>>> [round(r.adjusted_pvalue, 3) for r in correct_pvalues(rows, "holm")]
[nan, 0.02, 0.04]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from rayab.query.compare import MetricResult
from rayab.stats.multiplicity import PvalueAdjustment, adjust_pvalues

__all__ = ["correct_pvalues"]


def correct_pvalues(results: Sequence[MetricResult], method: PvalueAdjustment,
                    across_slices: bool = False) -> list[MetricResult]:
    """``results`` with ``adjusted_pvalue`` and ``correction`` set, in the same order."""
    families: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(results):
        if r.variant_id != r.control_id and math.isfinite(r.pvalue):
            families[(r.end_hour, () if across_slices else r.slice)].append(i)
    out = [r._replace(correction=method) for r in results]
    for members in families.values():
        adjusted = adjust_pvalues([results[i].pvalue for i in members], method).pvalues
        for i, p in zip(members, adjusted, strict=True):
            out[i] = out[i]._replace(adjusted_pvalue=p)
    return out
