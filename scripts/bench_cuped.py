"""Measure CUPED on simulated worlds: variance reduction, A/A coverage and what the CUPED columns cost the hourly job.

For each seed: simulate ``--units`` units over ``--hours`` hours (the demo's ``ranker_v2`` A/B and ``aa_check`` A/A),
give every unit a pre-period covariate per CUPED metric driven by the same random effect as its outcomes (a week of
expected clicks, Poisson-drawn; revenue in cents likewise), aggregate every hour twice (without and with
``cuped: [clicks, revenue]``) and compare. Printed per seed and metric: theta, the unadjusted and CUPED lift with
their intervals, the variance reduction ``1 - var(adjusted diff reps) / var(raw diff reps)``, whether the A/A CUPED
interval holds 0; then the job's seconds and bytes per hour with and without the CUPED columns.

    .venv/bin/python scripts/bench_cuped.py --seeds 4 5 6 --units 2000 --hours 12 --replicates 200

>>> _pct(0.1234)
'+12.34%'
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

from rayab.aggregate.covariates import covariate_table, write_covariates
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.query.cuped import run_cuped_query
from rayab.query.spec import Query
from rayab.simulate import DEMO_REL_DIFFS, UnitPopulation, demo_config, hour_offsets, simulate_days
from rayab.storage.logs import write_log_file
from rayab.storage.tables import partition_bytes, replace_partitions
from rayab.storage.warehouse import Warehouse


def _pct(value: float) -> str:
    return f"{value:+.2%}"


def _config(n_replicates: int, cuped: bool) -> Config:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    at = data["analysis_types"][0]
    at["n_replicates"] = n_replicates
    if cuped:
        at["cuped"] = ["clicks", "revenue"]
    return Config.from_dict(data)


def _world(root: Path, n_units: int, n_hours: int, seed: int, config: Config) -> tuple[str, Warehouse, list[str]]:
    logs = f"{root}/logs"
    warehouse = Warehouse.from_url(f"{root}/wh")
    hours = hour_offsets("2026-11-23T00", n_hours)
    population = UnitPopulation.generate(n_units, seed=seed)
    def write(hour: str, table: pa.Table) -> None:
        write_log_file(logs, hour, "part-0.parquet", table)

    assignments = simulate_days(population, config, DEMO_REL_DIFFS, hours, write, seed)
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    rng = np.random.default_rng([seed, 11])
    rate = population.events_per_day * 7 * population.click_prob
    x = {"clicks": rng.poisson(rate), "revenue": rng.poisson(rate * 150)}
    units = population.unit_ids.tolist()
    for exp in config.experiments:
        write_covariates(warehouse, exp.exp_id, pa.concat_tables(
            [covariate_table(exp.exp_id, units, m, values) for m, values in x.items()]))
    return logs, warehouse, hours


def _run_hours(config: Config, logs: str, warehouse: Warehouse, hours: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    for hour in hours:
        run_hour(config, hour, logs, warehouse)
    seconds = (time.perf_counter() - started) / len(hours)
    size = sum(partition_bytes(warehouse, "agg_engagement", {"hour": h}) for h in hours) // len(hours)
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[4, 5, 6])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    reductions: dict[str, list[float]] = {"clicks": [], "revenue": []}
    covered = 0
    costs: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
    for seed in args.seeds:
        for cuped in (False, True):
            config = _config(args.replicates, cuped)
            root = Path(tempfile.mkdtemp(prefix="bench-cuped-"))
            logs, warehouse, hours = _world(root, args.units, args.hours, seed, config)
            costs[cuped].append(_run_hours(config, logs, warehouse, hours))
        end = f"2026-11-23T{args.hours:02d}"
        at = config.analysis_types[0]
        for exp in config.experiments:
            for r in run_cuped_query(warehouse, at, exp, Query(exp.exp_id, hours[0], end)):
                print(f"seed {seed} {exp.exp_id:9} {r.metric:7} theta {r.theta:7.4f}  raw {_pct(r.raw_rel_diff)} "
                      f"[{_pct(r.raw_rel_ci_lower)}, {_pct(r.raw_rel_ci_upper)}]  cuped {_pct(r.rel_diff)} "
                      f"[{_pct(r.rel_ci_lower)}, {_pct(r.rel_ci_upper)}]  variance reduction "
                      f"{r.variance_reduction:.1%}")
                if exp.exp_id == "ranker_v2":
                    reductions[r.metric].append(r.variance_reduction)
                elif r.metric == "clicks":
                    covered += int(r.rel_ci_lower <= 0 <= r.rel_ci_upper)
    for metric, values in reductions.items():
        print(f"ranker_v2 {metric}: mean variance reduction {statistics.mean(values):.1%} over {len(values)} seeds")
    print(f"aa_check clicks: CUPED interval holds 0 in {covered} of {len(args.seeds)} seeds")
    for cuped, runs in costs.items():
        label = "with CUPED columns" if cuped else "without CUPED     "
        print(f"{label}: {statistics.mean(s for s, _ in runs):.2f} s per hour, "
              f"{statistics.mean(b for _, b in runs):,.0f} bytes per hour of agg_engagement")
    ray.shutdown()


if __name__ == "__main__":
    main()
