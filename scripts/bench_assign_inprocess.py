"""In-process assignment speed: single-experiment ``Assigner.assign`` calls per second, and units per second
through ``Assigner.assign_batch``; prints the median over 5 runs.

Usage: ``python scripts/bench_assign_inprocess.py [--units 100000]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from rayab.assignment import Assigner, ConfigSnapshot
from rayab.model.experiment import Experiment

RUNS = 5


def build_assigner() -> Assigner:
    """One targeted two-variant experiment at a 50% rollout, plus a two-experiment layer."""
    variants = [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1"}},
                {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]
    base = {"name": "bench", "primary_kpi": "ctr", "start_time": "2026-11-24T00:00:00Z", "variants": variants}
    experiments = [
        Experiment.from_dict({**base, "exp_id": "ctr_test", "rollout_pct": 50,
                              "targeting": {"all": [{"attr": "country", "in": ["FR", "DE", "US"]},
                                                    {"attr": "app_version", "version_gte": "5.2"}]}}),
        Experiment.from_dict({**base, "exp_id": "home_a", "layer": "home", "layer_pct": [0, 50]}),
        Experiment.from_dict({**base, "exp_id": "home_b", "layer": "home", "layer_pct": [50, 100]}),
    ]
    return Assigner(ConfigSnapshot(1, tuple(experiments)))


def median_rate(run: Callable[[], int]) -> float:
    """Median items per second over :data:`RUNS` runs of ``run`` (which returns its item count)."""
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    args = parser.parse_args()
    assigner = build_assigner()
    unit_ids = [f"user-{i:08d}" for i in range(args.units)]
    attributes = {"country": "FR", "device": "tv", "app_version": "5.10.1"}
    single = ["ctr_test"]
    layered = ["home_a"]

    def run_single() -> int:
        assign = assigner.assign
        for unit_id in unit_ids:
            assign(unit_id, attributes, single)
        return len(unit_ids)

    def run_layered() -> int:
        assign = assigner.assign
        for unit_id in unit_ids:
            assign(unit_id, attributes, layered)
        return len(unit_ids)

    def run_all() -> int:
        assign = assigner.assign
        for unit_id in unit_ids:
            assign(unit_id, attributes)
        return len(unit_ids)

    def run_batch() -> int:
        batch = [attributes] * 1000
        for start in range(0, len(unit_ids), 1000):
            assigner.assign_batch(unit_ids[start:start + 1000], batch, single)
        return len(unit_ids)

    print(f"single experiment (targeted), assign():        {median_rate(run_single):>12,.0f} assignments/s")
    print(f"single experiment (layer slice), assign():     {median_rate(run_layered):>12,.0f} assignments/s")
    print(f"all 3 experiments per call, assign():          {median_rate(run_all):>12,.0f} calls/s")
    print(f"single experiment, assign_batch() of 1000:     {median_rate(run_batch):>12,.0f} units/s")
    print(f"(median of {RUNS} runs over {len(unit_ids):,} units each)")


if __name__ == "__main__":
    main()
