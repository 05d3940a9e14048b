"""Charts as inline SVG (matplotlib, no JavaScript): a forest plot of lifts and cumulative lift over time.

>>> svg = forest_plot([("ctr", "treatment", 0.021, 0.007, 0.035)])
>>> svg.startswith("<svg") and "ctr" in svg
True
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG text only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["cumulative_plot", "forest_plot"]

_BLUE, _GREY, _RED, _GREEN = "#2f6db5", "#888888", "#c0392b", "#1e8449"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def forest_plot(rows: Sequence[tuple[str, str, float, float, float]], title: str = "Relative lift vs control") -> str:
    """One row per (metric, variant, rel_diff, ci_lower, ci_upper): the interval, the point, a line at zero."""
    shown = [r for r in rows if all(math.isfinite(v) for v in r[2:])]
    figure, axis = plt.subplots(figsize=(7.5, 0.5 * max(len(shown), 1) + 1.2))
    for y, (_, _, rel_diff, low, high) in enumerate(shown):
        colour = _GREEN if low > 0 else _RED if high < 0 else _BLUE
        axis.plot([low * 100, high * 100], [y, y], color=colour, linewidth=2.5)
        axis.plot([rel_diff * 100], [y], "o", color=colour, markersize=7)
    axis.axvline(0, color=_GREY, linestyle="--", linewidth=1)
    axis.set_yticks(range(len(shown)), [f"{m} · {v}" for m, v, *_ in shown])
    axis.invert_yaxis()
    axis.set_xlabel("lift (%)")
    axis.set_title(title, loc="left", fontsize=11)
    axis.grid(axis="x", alpha=0.3)
    return _svg(figure)


def cumulative_plot(hours: Sequence[str], rel_diff: Sequence[float], low: Sequence[float], high: Sequence[float],
                    title: str) -> str:
    """Cumulative relative lift as of every hour with its interval band."""
    figure, axis = plt.subplots(figsize=(7.5, 3.2))
    x = list(range(len(hours)))
    axis.fill_between(x, [v * 100 for v in low], [v * 100 for v in high], color=_BLUE, alpha=0.2, linewidth=0)
    axis.plot(x, [v * 100 for v in rel_diff], color=_BLUE, linewidth=2)
    axis.axhline(0, color=_GREY, linestyle="--", linewidth=1)
    step = max(1, len(hours) // 6)
    axis.set_xticks(x[::step], [h[5:] for h in hours[::step]], fontsize=8)
    axis.set_ylabel("cumulative lift (%)")
    axis.set_title(title, loc="left", fontsize=11)
    axis.grid(alpha=0.3)
    return _svg(figure)
