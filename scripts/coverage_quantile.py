"""Statistical truth for quantile metrics: do the intervals of a p90 difference keep their promise on clustered,
heavy-tailed latency?

Each replication draws fresh units (``--units`` per arm). Unit ``u`` has a random effect ``z_u ~ N(0, unit_sd)`` shared
by all its ``1 + Poisson(events - 1)`` events; an event's latency is ``median exp(z_u + N(0, event_sd))``, times
``1 + Lomax(1.5)`` for 5% of the events (the heavy tail), times ``1 + shift`` in the treatment. Scaling moves every
quantile by the same factor, so the true p90 difference is ``shift * p90_control``, with ``p90_control`` the p90 of
the events' marginal distribution, computed once from 20M simulated events.

The intervals come from the real code: md5 unit keys under a fresh salt, the Poisson(1) weights, the sketch of
:mod:`rayab.stats.quantile_sketch` (1% buckets) and the comparison of :func:`rayab.query.compare.compare_values`
(percentile bootstrap). Printed per design (A/A and the planted shift):

1. coverage of the 90% and 95% intervals of the p90 difference (PASS within 1.5 points of nominal);
2. the same data with every event its own bootstrap unit (an unclustered, event-level bootstrap): under-covers;
3. the outer confidence interval of Deng, Knoblich and Lu (2018) on the raw events, with the cluster correction
   (the variance of the empirical CDF at the quantile by the delta method over units), as the width reference:
   its coverage and the ratio of the bootstrap's mean width to it.

    .venv/bin/python scripts/coverage_quantile.py                       # the full run (2,000 replications)
    .venv/bin/python scripts/coverage_quantile.py --replications 200    # a quick look
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from rayab.aggregate.cell_sums import CellSums
from rayab.model import Experiment, Variant
from rayab.model.hours import parse_hour
from rayab.query.compare import compare_values
from rayab.query.spec import Query
from rayab.stats.quantile_sketch import QuantileSketches, SketchLayout
from rayab.stats.unit_hash import unit_keys

F64 = npt.NDArray[np.float64]
args_representative = False  # --representative: read bucket representatives (no interpolation), for comparison
LEVELS = (0.9, 0.95)
Q = 0.9
START = "2026-01-01T00"


@dataclass(frozen=True)
class Design:
    units_per_arm: int = 1000
    events_per_unit: float = 10.0
    unit_sd: float = 0.6
    event_sd: float = 0.5
    median_ms: float = 120.0
    slow_share: float = 0.05


def simulate_arm(rng: np.random.Generator, design: Design, n_units: int, shift: float) -> tuple[F64, npt.NDArray[
        np.int64]]:
    """Latencies and the unit (0..n-1) of each event."""
    counts = 1 + rng.poisson(design.events_per_unit - 1.0, n_units)
    unit = np.repeat(np.arange(n_units), counts)
    effect = rng.normal(0.0, design.unit_sd, n_units)
    latency = design.median_ms * np.exp(effect[unit] + rng.normal(0.0, design.event_sd, len(unit)))
    slow = rng.random(len(unit)) < design.slow_share
    latency[slow] *= 1.0 + rng.pareto(1.5, int(slow.sum()))
    return latency * (1.0 + shift), unit


def true_p90(design: Design, n_events: int = 20_000_000, seed: int = 12345) -> float:
    """The p90 of the events' marginal distribution (events per unit do not depend on its effect)."""
    rng = np.random.default_rng(seed)
    n_units = int(n_events / design.events_per_unit)
    values, _ = simulate_arm(rng, design, n_units, 0.0)
    return float(np.quantile(values, Q))


def _experiment() -> Experiment:
    return Experiment("perf", "perf", parse_hour(START), (Variant("control", 50.0), Variant("treatment", 50.0)),
                      "units")


def bootstrap_diff(values: Sequence[F64], ids: Sequence[list[str]], salt: str, b: int,
                   layout: SketchLayout) -> list[tuple[float, float, float]]:
    """``(estimate, low, high)`` of the p90 difference treatment - control at each level of :data:`LEVELS`;
    ``ids`` names the bootstrap unit of every event (the unit itself, or the event for the unclustered one)."""
    k1, k2 = unit_keys(salt, [u for arm in ids for u in arm])
    cells = np.concatenate([np.full(len(v), i, np.int64) for i, v in enumerate(values)])
    sketch = QuantileSketches.from_events(layout, np.concatenate(values), cells, k1, k2, 2, b)
    est, reps = sketch.quantiles([Q], n_cells=2, interpolate=not args_representative)
    units = np.array([len(set(arm)) for arm in ids], np.int64)
    sums = CellSums(("variant_id",), (("control",), ("treatment",)), units, {"units": units},
                      {"units": np.zeros((2, b), np.int64)}, (START,))
    out = []
    for level in LEVELS:
        query = Query("perf", START, "2026-01-01T01", metrics=("latency_p90",), confidence_level=level)
        (_, treatment) = compare_values(sums, _experiment(), "latency_p90", query, est[:, 0], reps[:, 0, :])
        out.append((treatment.abs_diff, treatment.abs_ci_lower, treatment.abs_ci_upper))
    return out


def outer_ci(values: F64, unit: npt.NDArray[np.int64], level: float) -> tuple[float, float, float]:
    """Deng, Knoblich and Lu (2018): the quantile's outer CI from order statistics at ranks
    ``N (q -+ z sigma)``, with ``sigma^2`` the delta-method variance over units of the empirical CDF at the
    quantile ``F = sum_u S_u / sum_u N_u``; returns ``(estimate, low, high)`` and the implied standard error is
    ``(high - low) / (2 z)``."""
    order = np.sort(values)
    n = len(order)
    estimate = float(order[math.ceil(Q * n) - 1])
    below = np.bincount(unit, weights=(values <= estimate).astype(np.float64))
    count = np.bincount(unit).astype(np.float64)
    m = len(count)
    f = below.sum() / count.sum()
    variance = np.var(below - f * count, ddof=1) / (m * count.mean() ** 2)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    low_rank = max(math.floor(n * (Q - z * math.sqrt(variance))), 1)
    high_rank = min(math.ceil(n * (Q + z * math.sqrt(variance))), n)
    return estimate, float(order[low_rank - 1]), float(order[high_rank - 1])


def dkl_diff(arms: Sequence[tuple[F64, npt.NDArray[np.int64]]], level: float) -> tuple[float, float, float]:
    """The difference treatment - control with the two outer-CI standard errors combined."""
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    parts = [outer_ci(v, u, level) for v, u in arms]
    ses = [(high - low) / (2.0 * z) for _, low, high in parts]
    diff = parts[1][0] - parts[0][0]
    half = z * math.sqrt(ses[0] ** 2 + ses[1] ** 2)
    return diff, diff - half, diff + half


@dataclass
class Tally:
    hits: dict[tuple[str, float], int]
    width: dict[tuple[str, float], float]
    n: int = 0


def run(design: Design, shift: float, truth: float, replications: int, b: int, seed: int,
        event_replications: int) -> Tally:
    layout = SketchLayout(0.01)
    rng = np.random.default_rng(seed)
    target = shift * truth
    tally = Tally({}, {})
    for rep in range(replications):
        arms = [simulate_arm(rng, design, design.units_per_arm, s) for s in (0.0, shift)]
        salt = f"rep-{seed}-{rep}"
        ids = [[f"{arm}:{u}" for u in unit.tolist()] for arm, (_, unit) in enumerate(arms)]
        kinds = {"unit bootstrap": ids}
        if rep < event_replications:
            kinds["event bootstrap"] = [[f"{arm}:e{i}" for i in range(len(v))] for arm, (v, _) in enumerate(arms)]
        for kind, who in kinds.items():
            for level, (_, low, high) in zip(LEVELS, bootstrap_diff([v for v, _ in arms], who, salt, b, layout),
                                            strict=True):
                tally.hits[kind, level] = tally.hits.get((kind, level), 0) + int(low <= target <= high)
                tally.width[kind, level] = tally.width.get((kind, level), 0.0) + (high - low)
        for level in LEVELS:
            _, low, high = dkl_diff(arms, level)
            tally.hits["outer CI (DKL)", level] = tally.hits.get(("outer CI (DKL)", level), 0) + int(
                low <= target <= high)
            tally.width["outer CI (DKL)", level] = tally.width.get(("outer CI (DKL)", level), 0.0) + (high - low)
        tally.n += 1
    return tally


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=2000)
    parser.add_argument("--event-replications", type=int, default=300)
    parser.add_argument("--units", type=int, default=1000, help="units per arm")
    parser.add_argument("--b", type=int, default=500, help="bootstrap replicates B")
    parser.add_argument("--shift", type=float, default=0.05, help="planted relative shift of every quantile")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--representative", action="store_true",
                        help="read each bucket's representative instead of interpolating inside it")
    args = parser.parse_args(argv)
    global args_representative
    args_representative = args.representative
    design = Design(units_per_arm=args.units)
    started = time.perf_counter()
    truth = true_p90(design)
    print(f"true control p90 = {truth:.3f} ms (20M events); {args.replications} replications, B = {args.b}, "
          f"{args.units} units per arm, {design.events_per_unit:g} events per unit on average")
    ok = True
    for name, shift in (("A/A", 0.0), (f"shift {args.shift:+.0%}", args.shift)):
        tally = run(design, shift, truth, args.replications, args.b, args.seed + (1 if shift else 0),
                    min(args.event_replications, args.replications))
        print(f"\n{name}: p90 difference, truth {shift * truth:.3f} ms")
        print(f"{'interval':<18} {'level':>5} {'runs':>5} {'coverage':>9} {'mean width':>11} {'vs DKL':>7}  bar")
        for kind in ("unit bootstrap", "event bootstrap", "outer CI (DKL)"):
            for level in LEVELS:
                runs = tally.n if kind != "event bootstrap" else min(args.event_replications, tally.n)
                if (kind, level) not in tally.hits:
                    continue
                coverage = tally.hits[kind, level] / runs
                width = tally.width[kind, level] / runs
                reference = tally.width["outer CI (DKL)", level] / tally.n
                verdict = ""
                if kind == "unit bootstrap":
                    passed = abs(coverage - level) <= 0.015
                    ok &= passed
                    verdict = "PASS (within 1.5 points)" if passed else "FAIL"
                elif kind == "event bootstrap":
                    verdict = "under-covers" if coverage < level - 0.015 else "does not under-cover"
                print(f"{kind:<18} {level:>5.0%} {runs:>5} {coverage:>9.1%} {width:>11.3f} "
                      f"{width / reference:>7.3f}  {verdict}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
