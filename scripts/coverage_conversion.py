"""Statistical truth for conversion shares: do the intervals of ``converted / units`` cover the true share?

Each replication draws fresh units per arm. A unit has its own propensity ``p_i = p0 (1 + lift) u_i`` with
``u_i ~ Uniform(0, 2)`` (so the true share is ``p0 (1 + lift)`` and the true relative lift is ``lift``); a unit that
converts has ``1 + Poisson(2)`` qualifying events spread over the window's hours, after its assignment, so counting
events instead of units would be wrong. The counts go through the real path: the hour's hits
(:func:`rayab.aggregate.conversions.merge_hits`), the counted-hour rule and the Poisson replicate sums of
:func:`rayab.aggregate.conversions.conversion_rows` (md5 keys under a fresh bootstrap salt, the pipeline's kernel),
``units`` summed under the same weights, and the query engine's intervals (:func:`rayab.query.results
.results_from_sums`). The truth is closed-form; the bar is the issue's (within 1.5 points of nominal).

    .venv/bin/python scripts/coverage_conversion.py --replications 400 --units 1000 --b 200
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from rayab.aggregate.cell_sums import CellSums
from rayab.aggregate.conversions import conversion_rows
from rayab.model import AnalysisType, Experiment, Variant
from rayab.model.hours import format_hour
from rayab.query.results import results_from_sums
from rayab.query.spec import Query
from rayab.stats.kernels import replicate_sums_fused
from rayab.stats.unit_hash import unit_keys_arrow

START = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = 6
P0 = 0.2


def analysis_type(b: int) -> AnalysisType:
    return AnalysisType.from_dict({"name": "harness", "n_replicates": b, "metrics": [
        {"name": "clicks"}, {"name": "converted", "kind": "conversion"}], "composed": {"rate": "converted / units"}})


def experiment() -> Experiment:
    return Experiment("harness", "harness", START, (Variant("control", 50.0), Variant("treatment", 50.0)), "units")


def simulate(rng: np.random.Generator, n: int, lift: float, rep: int) -> tuple[pa.Table, pa.Table]:
    """(assignments, hits of every hour) of both arms."""
    assignments, hits = [], []
    for arm, arm_lift in (("control", 0.0), ("treatment", lift)):
        ids = [f"r{rep}-{arm}-{i}" for i in range(n)]
        assigned = rng.uniform(0, HOURS * 3600, n)
        converts = rng.random(n) < P0 * (1 + arm_lift) * rng.uniform(0, 2, n)
        assignments.append(pa.table({"unit_id": ids, "variant_id": [arm] * n, "assigned_at": pa.array(
            [START + timedelta(seconds=float(s)) for s in assigned], pa.timestamp("us", tz="UTC"))}))
        for i in np.flatnonzero(converts):
            times = np.sort(rng.uniform(assigned[i], HOURS * 3600, 1 + rng.poisson(2)))
            for hour in np.unique(times // 3600):
                inside = times[times // 3600 == hour]
                hits.append((ids[i], format_hour(START + timedelta(hours=int(hour))),
                             START + timedelta(seconds=float(inside[0])), START + timedelta(seconds=float(inside[-1]))))
    rows = pa.table({"exp_id": ["harness"] * len(hits), "hour": [h[1] for h in hits],
                     "metric": ["converted"] * len(hits), "unit_id": [h[0] for h in hits],
                     "first_at": pa.array([h[2] for h in hits], pa.timestamp("us", tz="UTC")),
                     "last_at": pa.array([h[3] for h in hits], pa.timestamp("us", tz="UTC"))})
    return pa.concat_tables(assignments), rows


def window_sums(assignments: pa.Table, hits: pa.Table, at: AnalysisType, salt: str) -> CellSums:
    """``units`` and ``converted`` per variant over the whole window, as the window query sums them."""
    b = at.n_replicates
    variants = assignments.column("variant_id").to_pylist()
    cell = np.array([v == "treatment" for v in variants], np.int64)
    k1, k2 = unit_keys_arrow(salt, assignments.column("unit_id"))
    raw_u, reps_u = replicate_sums_fused(k1, k2, cell, np.ones((len(cell), 1), np.int64), 2, b)
    rows = conversion_rows(hits, assignments, at, "harness", salt, format_hour(START + timedelta(hours=HOURS - 1)))
    raw_c, reps_c = np.zeros(2, np.int64), np.zeros((2, b), np.int64)
    for row in rows.to_pylist():
        j = int(row["variant_id"] == "treatment")
        raw_c[j] += row["converted"]
        reps_c[j] += np.asarray(row["converted_reps"], np.int64)
    return CellSums(("variant_id",), (("control",), ("treatment",)), np.zeros(2, np.int64),
                    {"units": raw_u[:, 0], "converted": raw_c}, {"units": reps_u[:, 0, :], "converted": reps_c})


def coverage(replications: int, n: int, b: int, lift: float, seed: int) -> dict[tuple[str, float], float]:
    rng = np.random.default_rng([seed, int(lift * 1e6)])
    at = analysis_type(b)
    hits: dict[tuple[str, float], int] = {}
    truth_c, truth_t = P0, P0 * (1 + lift)
    for rep in range(replications):
        assignments, rows = simulate(rng, n, lift, rep)
        sums = window_sums(assignments, rows, at, f"harness:{seed}:{lift}:{rep}")
        for level in (0.9, 0.95):
            query = Query("harness", format_hour(START), format_hour(START + timedelta(hours=HOURS)),
                          metrics=("rate",), confidence_level=level)
            for r in results_from_sums(sums, at, experiment(), query):
                if r.variant_id == "control":
                    checks = {"estimate": r.ci_lower <= truth_c <= r.ci_upper}
                else:
                    checks = {"abs_diff": r.abs_ci_lower <= truth_t - truth_c <= r.abs_ci_upper,
                              "rel_diff": r.rel_ci_lower <= lift <= r.rel_ci_upper}
                for quantity, hit in checks.items():
                    hits[(quantity, level)] = hits.get((quantity, level), 0) + int(hit)
    return {k: v / replications for k, v in hits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--units", type=int, default=1000, help="units per arm")
    parser.add_argument("--b", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    se = {level: (level * (1 - level) / args.replications) ** 0.5 for level in (0.9, 0.95)}
    ok = True
    print(f"{args.replications} replications, {args.units} units per arm, B = {args.b}, true share {P0}")
    print(f"{'design':>8} {'quantity':>9} {'90%':>7} {'95%':>7}")
    for lift in (0.0, 0.1):
        rates = coverage(args.replications, args.units, args.b, lift, args.seed)
        for quantity in ("estimate", "abs_diff", "rel_diff"):
            r90, r95 = rates[(quantity, 0.9)], rates[(quantity, 0.95)]
            ok &= abs(r90 - 0.9) <= 0.015 and abs(r95 - 0.95) <= 0.015
            print(f"{'A/A' if lift == 0 else f'+{lift:.0%}':>8} {quantity:>9} {r90:7.3f} {r95:7.3f}")
    print(f"standard error of a coverage rate: {se[0.9]:.3f} (90%), {se[0.95]:.3f} (95%); "
          f"{time.perf_counter() - started:.0f} s")
    print("PASS: within 1.5 points of nominal" if ok else "FAIL: some coverage is more than 1.5 points off nominal")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
