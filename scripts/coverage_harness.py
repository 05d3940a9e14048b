"""Statistical truth: do rayab's intervals keep their promise on data with user-correlated events?

Simulated A/A and planted-effect experiments in which a unit's events share a random effect ``z ~ N(0, 1)`` (the
model of :mod:`rayab.simulate`): a unit has ``Poisson(lam exp(a z - a^2/2))`` events, each with ``1 + Poisson(2)``
impressions, ``Binomial(impressions, p0 exp(b z - b^2/2) (1 + rel_diff))`` clicks and ``clicks x LogNormal(mu, s)``
revenue in cents. The expected values are closed-form, which gives the truth every interval is checked against:

* ``ctr = clicks / impressions`` (a ratio): ``p0 (1 + rel_diff) exp(a b)``;
* ``revenue_per_event = revenue / events`` (a mean per event): ``3 ctr exp(mu + s^2 / 2)``;
* ``revenue_per_unit = revenue / units`` (a per-unit metric): ``lam`` times the mean per event;

and the relative lift of all three is ``rel_diff``. Every replication draws fresh units, hashes them with a fresh
bootstrap salt through the real weight function (md5 keys and the Poisson(1) inverse-CDF weights), sums replicates
with the pipeline's kernel and computes results with the query engine (:mod:`rayab.query.compare`).

Sections (each prints a table and PASS/FAIL against the issue's bar):

1. coverage of 90% and 95% percentile intervals (arm estimate, absolute and relative difference) over
   ``--replications`` A/A and planted-effect experiments, within 1.5 points of nominal;
2. the same data resampled per event instead of per unit: the event-level bootstrap under-covers;
3. bootstrap standard error of CTR versus the delta method at ``--se-units`` units per arm, within 3%;
4. hourly looks at an A/A test: the always-valid intervals keep the false-positive rate at alpha, repeated
   fixed-horizon looks exceed it;
5. the Welch, SRM, power and Holm/BH reference vectors (``tests/reference``), by running their tests.

    .venv/bin/python scripts/coverage_harness.py                  # the full run (about 4 minutes on 2 cores)
    .venv/bin/python scripts/coverage_harness.py --replications 200 --seq-replications 100 --b 300   # quick look
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import stats
from tqdm import tqdm

from rayab.aggregate.cell_sums import CellSums
from rayab.model import AnalysisType, Experiment, Metric
from rayab.model.hours import format_hour, parse_hour
from rayab.query.compare import MetricResult
from rayab.query.results import cumulative_sums, results_from_sums
from rayab.query.spec import Query
from rayab.stats.replicate_sums import replicate_sums
from rayab.stats.unit_hash import unit_keys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the closed-form references live beside the tests
from tests.oracles.delta import ratio_variance
from tests.oracles.moments import RatioStats

I64 = npt.NDArray[np.int64]
METRICS = ("revenue_per_event", "ctr", "revenue_per_unit")
KINDS = {"revenue_per_event": "mean", "ctr": "ratio", "revenue_per_unit": "per unit"}
# numerator and denominator columns of unit_totals (units, events, impressions, clicks, revenue) and the scale
RATIO_COLUMNS = {"revenue_per_event": (4, 1, 100.0), "ctr": (3, 2, 1.0), "revenue_per_unit": (4, 0, 100.0)}
ARMS = ("control", "treatment")
STORED = ("units", "events", "impressions", "clicks", "revenue")
START = "2026-01-01T00"


@dataclass(frozen=True)
class Design:
    """The data-generating model (see the module docstring)."""

    units_per_arm: int = 2000
    events_per_unit: float = 6.0
    rate_sd: float = 0.8
    click_sd: float = 0.5
    base_ctr: float = 0.05
    revenue_mu: float = -0.7
    revenue_sigma: float = 0.8
    rel_diff: float = 0.0

    def truth(self, rel_diff: float) -> dict[str, float]:
        """Expected value of each metric in an arm with relative difference ``rel_diff`` of the click probability."""
        ctr = self.base_ctr * (1.0 + rel_diff) * math.exp(self.rate_sd * self.click_sd)
        per_event = 3.0 * ctr * math.exp(self.revenue_mu + self.revenue_sigma**2 / 2.0)
        return {"ctr": ctr, "revenue_per_event": per_event, "revenue_per_unit": self.events_per_unit * per_event}


@dataclass
class Arm:
    """One arm's units (per-unit totals) and events (per-event values with their unit)."""

    unit_totals: I64  # (units, 5): units, events, impressions, clicks, revenue in cents
    event_values: I64  # (events, 5): 0, 1, impressions, clicks, revenue
    event_unit: I64
    arrival_hour: I64 = field(default_factory=lambda: np.zeros(0, np.int64))


def analysis_type(n_replicates: int) -> AnalysisType:
    """The harness's metrics: events (count), impressions, clicks, revenue (cents) and the three under test."""
    return AnalysisType("harness", (Metric("events", kind="count"), Metric("impressions"), Metric("clicks"),
                                    Metric("revenue", decimals=2)), n_replicates=n_replicates,
                        composed={"ctr": "clicks / impressions", "revenue_per_event": "revenue / events",
                                  "revenue_per_unit": "revenue / units"})


def experiment() -> Experiment:
    """A two-arm experiment (only its ids matter here)."""
    return Experiment.from_dict({"exp_id": "harness", "name": "harness", "primary_kpi": "ctr",
                                 "start_time": START[:10] + "T00:00:00Z",
                                 "variants": [{"variant_id": a, "traffic_pct": 50} for a in ARMS]})


def simulate_arm(rng: np.random.Generator, design: Design, rel_diff: float, n_hours: int = 1) -> Arm:
    """Fresh units of one arm with their events; each unit arrives in a random hour with all its events."""
    n, a, b = design.units_per_arm, design.rate_sd, design.click_sd
    z = rng.standard_normal(n)
    counts = rng.poisson(design.events_per_unit * np.exp(a * z - a * a / 2.0))
    unit = np.repeat(np.arange(n), counts)
    impressions = 1 + rng.poisson(2.0, len(unit))
    p = np.minimum(design.base_ctr * (1.0 + rel_diff) * np.exp(b * z - b * b / 2.0), 1.0)
    clicks = rng.binomial(impressions, p[unit])
    revenue = np.round(clicks * rng.lognormal(design.revenue_mu, design.revenue_sigma, len(unit)) * 100.0)
    events = np.stack([np.zeros(len(unit)), np.ones(len(unit)), impressions, clicks, revenue], axis=1)
    events = events.astype(np.int64)
    totals = np.zeros((n, 5), np.int64)
    np.add.at(totals, unit, events)
    totals[:, 0] = 1
    return Arm(totals, events, unit, rng.integers(0, n_hours, n))


class IdPool:
    """Unit and event ids as Arrow strings, built once and sliced per replication."""

    def __init__(self) -> None:
        self._ids = pa.array([], pa.string())

    def take(self, count: int) -> pa.Array:
        if count > len(self._ids):
            self._ids = pa.array([f"id{i}" for i in range(max(count, 2 * len(self._ids)))], pa.string())
        return self._ids.slice(0, count)


def _sums(key_names: tuple[str, ...], keys: Sequence[tuple[str, ...]], raw: I64, reps: I64,
          n_events: I64) -> CellSums:
    return CellSums(key_names, tuple(keys), n_events, {m: raw[:, i] for i, m in enumerate(STORED)},
                      {m: np.ascontiguousarray(reps[:, i, :]) for i, m in enumerate(STORED)}, (START,))


def unit_level_sums(arms: Sequence[Arm], salt: str, b: int, pool: IdPool, n_hours: int = 1) -> CellSums:
    """Replicate sums with one weight per unit (the pipeline's bootstrap); by arrival hour when ``n_hours > 1``."""
    values = np.concatenate([arm.unit_totals for arm in arms])
    cells = np.concatenate([arm.arrival_hour * len(arms) + i for i, arm in enumerate(arms)])
    k1, k2 = unit_keys(salt, pool.take(len(values)))
    raw, reps = replicate_sums(k1, k2, cells, values, n_hours * len(arms), b)
    n_events = np.bincount(cells, weights=values[:, 1], minlength=n_hours * len(arms)).astype(np.int64)
    if n_hours == 1:
        return _sums(("variant_id",), [(a,) for a in ARMS[:len(arms)]], raw, reps, n_events)
    hours = [_hour(h) for h in range(n_hours)]
    keys = [(hours[c // len(arms)], ARMS[c % len(arms)]) for c in range(n_hours * len(arms))]
    seen = np.flatnonzero(raw[:, 0] > 0)
    return CellSums(("hour", "variant_id"), tuple(keys[c] for c in seen), n_events[seen],
                      {m: raw[seen, i] for i, m in enumerate(STORED)},
                      {m: np.ascontiguousarray(reps[seen, i, :]) for i, m in enumerate(STORED)}, tuple(hours))


def event_level_sums(arms: Sequence[Arm], salt: str, b: int, pool: IdPool) -> CellSums:
    """The naive bootstrap: every event weighted on its own (the unit count is not resampled)."""
    values = np.concatenate([arm.event_values for arm in arms])
    cells = np.concatenate([np.full(len(arm.event_values), i) for i, arm in enumerate(arms)])
    k1, k2 = unit_keys(salt, pool.take(len(values)))
    raw, reps = replicate_sums(k1, k2, cells, values, len(arms), b)
    units = np.array([len(arm.unit_totals) for arm in arms], np.int64)
    raw[:, 0] = units
    reps[:, 0, :] = units[:, None]
    return _sums(("variant_id",), [(a,) for a in ARMS[:len(arms)]], raw, reps, raw[:, 1].copy())


def _hour(offset: int) -> str:
    return format_hour(parse_hour(START) + timedelta(hours=offset))


def _results(sums: CellSums, b: int, level: float, interval: Literal["fixed", "sequential"] = "fixed",
             planned_units: float = 4000.0) -> list[MetricResult]:
    query = Query("harness", START, _hour(len(sums.hours)), metrics=METRICS, confidence_level=level,
                  interval=interval, planned_units=planned_units)
    return results_from_sums(sums, analysis_type(b), experiment(), query)


@dataclass
class Coverage:
    """Hits per (metric, level, quantity) over replications."""

    replications: int = 0
    hits: dict[tuple[str, float, str], int] = field(default_factory=dict)

    def add(self, results: Sequence[MetricResult], level: float, truth_c: dict[str, float],
            truth_t: dict[str, float], rel_diff: float) -> None:
        for r in results:
            checks = ({"estimate": (r.ci_lower, r.ci_upper, truth_c[r.metric])} if r.variant_id == "control" else
                      {"abs_diff": (r.abs_ci_lower, r.abs_ci_upper, truth_t[r.metric] - truth_c[r.metric]),
                       "rel_diff": (r.rel_ci_lower, r.rel_ci_upper, rel_diff)})
            for quantity, (low, high, truth) in checks.items():
                key = (r.metric, level, quantity)
                self.hits[key] = self.hits.get(key, 0) + int(low <= truth <= high)

    def add_delta(self, arm: Arm, levels: Sequence[float], truth: dict[str, float]) -> None:
        """The delta-method normal interval of the arm's metrics on the same data, as a reference."""
        for m, (num, den, scale) in RATIO_COLUMNS.items():
            ratio = RatioStats.from_values(arm.unit_totals[:, num] / scale, arm.unit_totals[:, den])
            se = math.sqrt(ratio_variance(ratio) / ratio.n)
            for level in levels:
                hit = abs(ratio.ratio - truth[m]) <= float(stats.norm.ppf((1 + level) / 2)) * se
                self.hits[(m, level, "delta")] = self.hits.get((m, level, "delta"), 0) + int(hit)

    def rate(self, key: tuple[str, float, str]) -> float:
        return self.hits.get(key, 0) / max(self.replications, 1)


def coverage_run(design: Design, replications: int, b: int, levels: Sequence[float] = (0.9, 0.95),
                 rel_diff: float = 0.0, seed: int = 0, event_level: bool = False,
                 progress: bool = False) -> Coverage:
    """Coverage of the unit-level (or, with ``event_level``, the event-level) bootstrap intervals."""
    rng = np.random.default_rng([seed, int(rel_diff * 1e6), int(event_level)])
    truth_c, truth_t = design.truth(0.0), design.truth(rel_diff)
    out, pool = Coverage(), IdPool()
    label = f"{'event' if event_level else 'unit'}-level, lift {rel_diff:+.0%}"
    for rep in tqdm(range(replications), desc=label, disable=not progress, leave=False):
        arms = [simulate_arm(rng, design, 0.0), simulate_arm(rng, design, rel_diff)]
        salt = f"harness:{seed}:{rel_diff}:{rep}"
        sums = (event_level_sums if event_level else unit_level_sums)(arms, salt, b, pool)
        for level in levels:
            out.add(_results(sums, b, level), level, truth_c, truth_t, rel_diff)
        out.add_delta(arms[0], levels, truth_c)
        out.replications += 1
    return out


def sequential_run(design: Design, replications: int, b: int, looks: int, level: float = 0.95, seed: int = 0,
                   progress: bool = False) -> dict[str, float]:
    """Share of A/A replications where any hourly look's difference interval excludes 0, per metric and kind."""
    rng = np.random.default_rng([seed, 7])
    kinds: tuple[Literal["fixed", "sequential"], ...] = ("sequential", "fixed")
    alarms = {(m, kind): 0 for m in METRICS for kind in kinds}
    pool, planned = IdPool(), 2.0 * design.units_per_arm
    for rep in tqdm(range(replications), desc="hourly looks", disable=not progress, leave=False):
        arms = [simulate_arm(rng, design, 0.0, looks), simulate_arm(rng, design, 0.0, looks)]
        by_hour = unit_level_sums(arms, f"looks:{seed}:{rep}", b, pool, n_hours=looks)
        sums = cumulative_sums(by_hour, by_hour.hours)
        for kind in kinds:
            results = _results(sums, b, level, kind, planned)
            for m in METRICS:
                rows = [r for r in results if r.metric == m and r.variant_id == "treatment"]
                alarms[(m, kind)] += int(any(r.abs_ci_lower > 0 or r.abs_ci_upper < 0 for r in rows))
    return {f"{m} {kind}": count / replications for (m, kind), count in alarms.items()}


def se_check(units_per_arm: int, b: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Bootstrap SE versus delta-method SE of CTR: per arm and for the difference."""
    design = Design(units_per_arm=units_per_arm)
    rng = np.random.default_rng([seed, 11])
    arms = [simulate_arm(rng, design, 0.0), simulate_arm(rng, design, 0.0)]
    sums = unit_level_sums(arms, f"se:{seed}", b, IdPool())
    results = [r for r in _results(sums, b, 0.95, "fixed") if r.metric == "ctr"]
    out: dict[str, tuple[float, float]] = {}
    delta_var = []
    for arm, r in zip(arms, results, strict=True):
        stats = RatioStats.from_values(arm.unit_totals[:, 3], arm.unit_totals[:, 2])
        delta_var.append(ratio_variance(stats) / stats.n)
        boot = np.std(sums.reps["clicks"][ARMS.index(r.variant_id)] / sums.reps["impressions"][
            ARMS.index(r.variant_id)], ddof=1)
        out[f"ctr {r.variant_id}"] = (float(boot), math.sqrt(delta_var[-1]))
    diff = sums.reps["clicks"] / sums.reps["impressions"]
    out["ctr difference"] = (float(np.std(diff[1] - diff[0], ddof=1)), math.sqrt(sum(delta_var)))
    return out


def _print_coverage(title: str, cov: Coverage, tolerance: float | None) -> tuple[bool, bool]:
    """Print the table; return whether the differences and the arm estimates are within ``tolerance``."""
    print(f"\n{title} ({cov.replications} replications)")
    print(f"{'metric':<18} {'kind':<9} {'level':>5} {'estimate':>9} {'(delta)':>9} {'abs diff':>9} {'rel diff':>9}")
    diffs_ok = arms_ok = True
    for m in METRICS:
        for level in sorted({k[1] for k in cov.hits}):
            rates = [cov.rate((m, level, q)) for q in ("estimate", "delta", "abs_diff", "rel_diff")]
            flags = ""
            if tolerance is not None:
                arm_bad = abs(rates[0] - level) > tolerance
                diff_bad = any(abs(r - level) > tolerance for r in rates[2:])
                diffs_ok, arms_ok = diffs_ok and not diff_bad, arms_ok and not arm_bad
                flags = "  " + ("differences FAIL" if diff_bad else "ok") + ("; estimate under" if arm_bad else "")
            print(f"{m:<18} {KINDS[m]:<9} {level:>5.0%} " + " ".join(f"{r:>9.1%}" for r in rates) + flags)
    return diffs_ok, arms_ok


def _reference_vectors() -> bool:
    tests = [f"tests/stats/test_{name}.py" for name in ("welch", "srm", "power", "multiplicity")]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=root,
                          capture_output=True, text=True, check=False)
    print("\nReference vectors (Welch from sufficient statistics, SRM, power, Holm/BH): "
          + (done.stdout.strip().splitlines() or ["no output"])[-1])
    return done.returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=2000)
    parser.add_argument("--units", type=int, default=2000, help="units per arm")
    parser.add_argument("--b", type=int, default=1000, help="bootstrap replicates B")
    parser.add_argument("--rel-diff", "--lift", type=float, default=0.05,
                        help="planted relative difference (lift) of the click probability")
    parser.add_argument("--event-replications", type=int, default=300)
    parser.add_argument("--se-units", type=int, default=20_000, help="units per arm of the SE check")
    parser.add_argument("--se-b", type=int, default=10_000)
    parser.add_argument("--looks", type=int, default=24)
    parser.add_argument("--seq-replications", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    design = Design(units_per_arm=args.units)
    started, ok = time.perf_counter(), True
    print(f"design: {design}, B={args.b}")
    arms_ok = True
    for rel_diff, name in ((0.0, "A/A"), (args.rel_diff, f"planted lift {args.rel_diff:+.0%}")):
        cov = coverage_run(design, args.replications, args.b, rel_diff=rel_diff, seed=args.seed, progress=True)
        diffs, arms = _print_coverage(f"1. unit-level bootstrap, {name}, nominal +/- 1.5 points", cov, 0.015)
        ok, arms_ok = ok and diffs, arms_ok and arms
    print("   estimate: control arm's percentile interval; (delta): the delta-method normal interval of the same arm"
          " on the same data, for reference")
    if not arms_ok:
        print("   NOTE: an arm-level estimate is outside nominal +/- 1.5 points; compare with the delta method on "
              "the same data: heavy-tailed units make any variance-based interval under-cover at this n")
    event = coverage_run(design, args.event_replications, args.b, seed=args.seed, event_level=True, progress=True)
    _print_coverage("2. event-level bootstrap on the same model, A/A (expected to under-cover)", event, None)
    print("   (delta): the unit-level delta method on the same data")
    unit = coverage_run(design, args.event_replications, args.b, seed=args.seed, progress=True)
    under = all(event.rate((m, 0.95, "abs_diff")) < unit.rate((m, 0.95, "abs_diff")) - 0.02
                for m in ("ctr", "revenue_per_event"))
    print(f"   event-level under-covers the mean and the ratio by more than 2 points: {'ok' if under else 'FAIL'}")
    ok &= under
    print(f"\n3. bootstrap SE vs delta-method SE, {args.se_units} units per arm, B={args.se_b}")
    for name, (boot, delta) in se_check(args.se_units, args.se_b, args.seed).items():
        good = abs(boot / delta - 1.0) <= 0.03
        ok &= good
        print(f"   {name:<16} bootstrap {boot:.6f} delta {delta:.6f} ratio {boot / delta:.4f} "
              f"{'ok' if good else 'FAIL'}")
    rates = sequential_run(design, args.seq_replications, min(args.b, 500), args.looks, seed=args.seed,
                           progress=True)
    print(f"\n4. false-positive rate with a look every hour ({args.looks} looks, A/A, alpha 5%, "
          f"{args.seq_replications} replications)")
    for m in METRICS:
        seq, fixed = rates[f"{m} sequential"], rates[f"{m} fixed"]
        good = seq <= 0.05 + 1.96 * math.sqrt(0.05 * 0.95 / args.seq_replications) and fixed > 0.05
        ok &= good
        print(f"   {m:<18} sequential {seq:6.1%}   repeated fixed-horizon {fixed:6.1%}  {'ok' if good else 'FAIL'}")
    ok &= _reference_vectors()
    print(f"\n{'PASS' if ok else 'FAIL'} (differences, SE, sequential, vectors); arm estimates "
          f"{'within' if arms_ok else 'NOT within'} 1.5 points; {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
