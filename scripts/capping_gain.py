"""What capping buys on the simulator's skewed revenue: CI width and A/A coverage, capped against uncapped.

The simulator (:mod:`rayab.simulate`) gives units a log-normal event rate and revenue per click, so revenue is
skewed across units (the script prints the share of the top 1%). The script simulates a pre-period day and a window
of ``--days`` days for ``--units`` units, derives the cap from the pre-period (the ``--quantile`` of positive
unit-hour totals, :func:`rayab.aggregate.caps.quantile_cap`, frozen before the window), clips every unit-hour total
of the window as the hourly job does (:func:`rayab.aggregate.shards.capped_values`), then runs ``--splits`` A/A
experiments: each a fresh random 50/50 split of the window's units with a unit-level Poisson bootstrap (B =
``--replicates``) of revenue per unit. It prints, for each metric, the mean width of the 95% interval of
``rel_diff`` and the share of A/A intervals that hold 0 at 90% and 95%, and saves a figure with ``--figure``.

    .venv/bin/python scripts/capping_gain.py --units 10000 --days 7 --splits 300 --replicates 200 \\
        --quantile 0.99 0.95 0.9 --figure docs/capping_gain.png
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rayab.aggregate.caps import quantile_cap
from rayab.aggregate.shards import capped_values
from rayab.model import AnalysisType, Metric
from rayab.simulate import UnitPopulation, demo_config, hour_offsets, simulate_hour

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def unit_hour_cents(population: UnitPopulation, hours: Sequence[str], seed: int) -> tuple[I64, I64]:
    """``(unit index, revenue cents)`` per unit-hour with events, of the A/A experiment's events."""
    config = demo_config(f"{hours[0]}:00:00Z")
    experiment = config.experiment("aa_check")
    index = {u: i for i, u in enumerate(population.unit_ids.tolist())}
    units, cents = [], []
    for hour in hours:
        events = simulate_hour(population, [experiment], {}, hour, seed)
        unit = np.fromiter((index[u] for u in events.column("unit_id").to_pylist()), np.int64, events.num_rows)
        value = np.rint(np.asarray(events.column("revenue")) * 100).astype(np.int64)
        distinct, inverse = np.unique(unit, return_inverse=True)
        units.append(distinct)
        cents.append(np.bincount(inverse, weights=value, minlength=len(distinct)).astype(np.int64))
    return np.concatenate(units), np.concatenate(cents)


def aa_intervals(totals: F64, splits: int, n_replicates: int, seed: int) -> list[dict[str, F64]]:
    """Per metric (a column of ``totals``, one row per unit) and A/A split: the rel_diff estimate of revenue per
    unit and its 90% / 95% percentile intervals. Every metric sees the same splits and bootstrap weights."""
    rng = np.random.default_rng(seed)
    n, k = totals.shape
    names = ("estimate", "low90", "high90", "low95", "high95")
    out: list[dict[str, list[float]]] = [{name: [] for name in names} for _ in range(k)]
    for _ in range(splits):
        arm = rng.random(n) < 0.5
        w = rng.poisson(1.0, (n, n_replicates)).astype(np.float64)
        arms = []
        for mask in (~arm, arm):
            y, wa = totals[mask], w[mask]
            arms.append((y.sum(axis=0) / np.count_nonzero(mask), (y.T @ wa) / wa.sum(axis=0)))  # (k,), (k, B)
        (c, c_reps), (t, t_reps) = arms
        rel = t_reps / c_reps - 1.0
        for j in range(k):
            out[j]["estimate"].append(float(t[j] / c[j] - 1.0))
            for level, name in ((0.90, "90"), (0.95, "95")):
                low, high = np.quantile(rel[j], [(1 - level) / 2, (1 + level) / 2])
                out[j][f"low{name}"].append(float(low))
                out[j][f"high{name}"].append(float(high))
    return [{name: np.asarray(v) for name, v in metric.items()} for metric in out]


def summary(ci: dict[str, F64]) -> dict[str, float]:
    """Mean 95% width, A/A coverage at 90% and 95% (share of intervals holding 0), and the estimate's spread."""
    return {"width95": float(np.mean(ci["high95"] - ci["low95"])),
            "cover90": float(np.mean((ci["low90"] <= 0) & (ci["high90"] >= 0))),
            "cover95": float(np.mean((ci["low95"] <= 0) & (ci["high95"] >= 0))),
            "sd": float(np.std(ci["estimate"], ddof=1))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--splits", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--quantile", type=float, nargs="+", default=[0.99, 0.95],
                        help="quantiles of the pre-period's unit-hour totals to cap at (one capped metric each)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--figure", default="")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    population = UnitPopulation.generate(args.units, seed=args.seed)
    pre_hours = hour_offsets("2026-11-22T00", 24)
    window_hours = hour_offsets("2026-11-23T00", 24 * args.days)
    _, pre = unit_hour_cents(population, pre_hours, args.seed)
    units, cents = unit_hour_cents(population, window_hours, args.seed)
    active = np.unique(units)
    position = np.searchsorted(active, units)
    raw = np.bincount(position, weights=cents, minlength=len(active)) / 100
    top = np.sort(raw)[::-1]
    print(f"{args.units} units, {len(active)} active over {args.days} days, {len(cents)} unit-hours; heavy tail: "
          f"the top 1% of units hold {top[: max(len(top) // 100, 1)].sum() / top.sum():.1%} of revenue")
    metrics = {"uncapped": raw}
    for q in args.quantile:
        cap = quantile_cap(pre, q, decimals=2)  # frozen from the pre-period, before the window is read
        at = AnalysisType("r", (Metric("revenue", decimals=2, cap=cap),), n_replicates=1)
        capped = capped_values(np.column_stack([np.zeros_like(cents), cents]), at)[:, 1]
        clipped = np.bincount(position, weights=capped, minlength=len(active)) / 100
        print(f"cap p{q * 100:g} = {cap:.2f} (of the pre-period's {int((pre > 0).sum())} positive unit-hour totals) "
              f"clips {float((cents > round(cap * 100)).mean()):.2%} of the window's unit-hours and "
              f"{1 - clipped.sum() / raw.sum():.2%} of its revenue")
        metrics[f"capped p{q * 100:g}"] = clipped
    intervals = aa_intervals(np.column_stack(list(metrics.values())), args.splits, args.replicates, args.seed + 1)
    rows = {name: summary(ci) for name, ci in zip(metrics, intervals, strict=True)}
    se = {level: math.sqrt(level * (1 - level) / args.splits) for level in (0.9, 0.95)}
    print(f"\nA/A over {args.splits} splits, B = {args.replicates}, revenue per unit, rel_diff "
          f"(coverage standard error {se[0.9]:.3f} at 90%, {se[0.95]:.3f} at 95%)")
    print(f"{'metric':<13} {'mean 95% CI width':>18} {'vs uncapped':>12} {'sd of rel_diff':>15} {'90% coverage':>13} "
          f"{'95% coverage':>13}")
    for name, row in rows.items():
        ratio = row["width95"] / rows["uncapped"]["width95"]
        print(f"{name:<13} {row['width95']:>18.4f} {ratio:>12.3f} {row['sd']:>15.4f} {row['cover90']:>13.3f} "
              f"{row['cover95']:>13.3f}")
    print("(a width ratio r means the capped metric reaches the uncapped one's precision with r^2 of the units)")
    print(f"{time.perf_counter() - started:.0f} s")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
        names = list(rows)
        colors = ["#999999", "#2e86c1", "#1e8449", "#b9770e"][: len(names)]
        axes[0].bar(names, [rows[n]["width95"] * 100 for n in names], color=colors)
        axes[0].set_ylabel("mean 95% CI width of rel_diff (points)")
        axes[0].set_title("CI width (caps frozen from the pre-period)")
        x = np.arange(2)
        step = 0.8 / len(names)
        for k, (name, color) in enumerate(zip(names, colors, strict=True)):
            axes[1].bar(x + step * k, [rows[name]["cover90"] * 100, rows[name]["cover95"] * 100], step * 0.95,
                        label=name, color=color)
        axes[1].axhline(90, color="k", lw=0.8, ls="--")
        axes[1].axhline(95, color="k", lw=0.8, ls=":")
        axes[1].set_xticks(x + step * (len(names) - 1) / 2, ["90% CI", "95% CI"])
        axes[1].set_ylim(80, 100)
        axes[1].set_ylabel("A/A coverage (%)")
        axes[1].set_title(f"A/A coverage over {args.splits} splits")
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
