"""Printing CUPED results (``rayab results --cuped``): the adjusted lift next to the unadjusted one.

>>> import math
>>> from rayab.query.cuped import CupedMetricResult
>>> r = CupedMetricResult("e", "clicks", "b", (), 900, "a", 0.5, 0.01, -0.02, 0.04, 0.05, -0.1, 0.2, 0.4,
...                       0.02, -0.05, 0.09, 0.1, -0.2, 0.4, 0.5, 0.3, 0.95, 200, 0, "")
>>> print(cuped_table([r]).splitlines()[0].split()[:4])
['metric', 'variant', 'slice', 'units']
"""

from __future__ import annotations

from collections.abc import Sequence

from rayab.cli.options import print_records
from rayab.query.cuped import CupedMetricResult
from rayab.report.formatting import format_number, format_pct, render_table

__all__ = ["cuped_table", "print_cuped"]


def cuped_table(results: Sequence[CupedMetricResult]) -> str:
    """One line per metric, variant and slice: theta, the adjusted difference and lift with intervals, the
    unadjusted ones, and the variance reduction of the difference (the quantity the p-value tests)."""
    level = f"{results[0].confidence_level:.0%}" if results else "95%"
    rows = [[r.metric, r.variant_id, ",".join(f"{k}={v}" for k, v in r.slice) or "all", r.units,
             format_number(r.theta), format_number(r.abs_diff),
             f"[{format_number(r.abs_ci_lower)}, {format_number(r.abs_ci_upper)}]", format_pct(r.rel_diff),
             f"[{format_pct(r.rel_ci_lower)}, {format_pct(r.rel_ci_upper)}]", format_number(r.raw_abs_diff),
             f"[{format_number(r.raw_abs_ci_lower)}, {format_number(r.raw_abs_ci_upper)}]", format_pct(r.raw_rel_diff),
             f"[{format_pct(r.raw_rel_ci_lower)}, {format_pct(r.raw_rel_ci_upper)}]",
             format_pct(r.variance_reduction, signed=False), format_number(r.pvalue, 3)] for r in results]
    return render_table(["metric", "variant", "slice", "units", "theta", "CUPED diff", f"{level} CI", "CUPED lift",
                         f"{level} CI", "raw diff", f"raw {level} CI", "raw lift", f"raw {level} CI",
                         "var. reduction (diff)", "p-value"], rows)


def print_cuped(results: Sequence[CupedMetricResult], fmt: str) -> None:
    """Print CUPED results as a table, JSON or CSV."""
    print_records(results, CupedMetricResult._fields, cuped_table(results) if fmt == "table" else "", fmt)
