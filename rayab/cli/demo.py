"""``rayab demo``: simulate a day of logs for two experiments, run the hourly jobs on local Ray, print results.

``ranker_v2`` has a planted +3% CTR lift; ``aa_check`` is an A/A test. The demo checks that the planted lift lies
inside its confidence interval and that the A/A interval contains zero, and says so.

The demo never mixes two simulations: it refuses a warehouse (or a logs root) that holds data of another run, unless
``--overwrite`` says to delete that data first. A run with the same settings (units, hours, seed, logs root) into
the warehouse of an earlier one rewrites the same data and is allowed. The settings are kept in ``_demo.json`` at
the warehouse root.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayab.cli.options import add_common, add_ray_options, print_results
from rayab.errors import ValidationError
from rayab.query.results import MetricResult
from rayab.storage.warehouse import Warehouse

__all__ = ["DemoOutcome", "register", "run_demo"]

DEMO_START = "2026-11-23T00"


@dataclass(frozen=True)
class DemoOutcome:
    """The demo's results and its two checks."""

    results: list[MetricResult]
    planted_rel_diff: float
    planted_inside_ci: bool
    aa_contains_zero: bool
    seconds: float


def _write_logs(logs: str, files_per_hour: int):  # type: ignore[no-untyped-def]
    from rayab.storage.logs import write_log_file

    def write(hour: str, events):  # type: ignore[no-untyped-def]
        step = -(-events.num_rows // files_per_hour)
        for i in range(files_per_hour):
            write_log_file(logs, hour, f"part-{i:05d}.parquet", events.slice(i * step, step))
    return write


DEMO_MARKER = "_demo.json"


def _entries(fs: Any, root: str) -> list[str]:
    try:
        return sorted(str(p) for p in fs.ls(root, detail=False)) if fs.exists(root) else []
    except FileNotFoundError:
        return []


def _log_hours(logs: str) -> list[str]:
    """The ``date=...`` folders of a logs root (what the hourly job reads)."""
    from rayab.storage.warehouse import filesystem_for

    fs = filesystem_for(logs)
    return [p for p in _entries(fs, logs.rstrip("/")) if p.rstrip("/").rsplit("/", 1)[-1].startswith("date=")]


def prepare_demo_dirs(warehouse: Warehouse, logs: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse a warehouse or logs root holding data of another run; with ``overwrite``, delete that data."""
    from rayab.storage.warehouse import filesystem_for

    fs = warehouse.filesystem()
    entries = _entries(fs, warehouse.url)
    marker = f"{warehouse.url}/{DEMO_MARKER}"
    same_run = False
    if fs.exists(marker):
        with fs.open(marker, "r") as f:
            same_run = json.load(f) == settings
    log_dirs = _log_hours(logs)
    if not overwrite and not same_run:
        if entries:
            names = ", ".join(p.rstrip("/").rsplit("/", 1)[-1] for p in entries[:5])
            raise ValidationError("--warehouse", warehouse.url, f"holds data of another run ({names}); pass "
                                  "--overwrite to delete it first, or choose an empty --warehouse")
        if log_dirs:
            raise ValidationError("--logs", logs, f"holds logs of another run ({len(log_dirs)} date folders); pass "
                                  "--overwrite to delete them first, or choose an empty --logs")
    if overwrite:
        for path in entries:
            fs.rm(path, recursive=True)
        log_fs = filesystem_for(logs)
        for path in log_dirs:
            log_fs.rm(path, recursive=True)
    fs.makedirs(warehouse.url, exist_ok=True)
    with fs.open(marker, "w") as f:
        json.dump(settings, f, sort_keys=True)


def run_demo(units: int = 200_000, hours: int = 24, warehouse_url: str | None = None, logs: str = "./rayab-logs",
             n_shards: int = 2, seed: int = 7, files_per_hour: int = 2, num_cpus: int = 2,
             address: str | None = None, progress: bool = True, overwrite: bool = False) -> DemoOutcome:
    """Run the whole demo and return its results (see the module doc for ``overwrite``)."""
    # Ray, the pipeline and the simulator load only when the demo runs, so other commands start fast
    from tqdm import tqdm

    from rayab.hourly.job import ReducerActor, run_hour
    from rayab.query.results import experiment_results
    from rayab.runtime import ray_session
    from rayab.simulate import DEMO_REL_DIFFS, UnitPopulation, demo_config, hour_offsets, simulate_days
    from rayab.storage.schemas import ASSIGNMENT_TABLE
    from rayab.storage.specs import save_config
    from rayab.storage.tables import replace_partitions

    started = time.perf_counter()
    warehouse = Warehouse.from_url(warehouse_url)
    logs_root = logs if "://" in logs else str(Path(logs).expanduser().absolute())
    prepare_demo_dirs(warehouse, logs_root, {"units": units, "hours": hours, "seed": seed,
                                             "files_per_hour": files_per_hour, "logs": logs_root}, overwrite)
    config = demo_config(f"{DEMO_START}:00:00Z")
    save_config(warehouse, config)
    window = hour_offsets(DEMO_START, hours)
    population = UnitPopulation.generate(units, seed=seed)
    bar = tqdm(window, desc="simulating logs", unit="h", disable=not progress)
    assignments = simulate_days(population, config, DEMO_REL_DIFFS, bar, _write_logs(logs, files_per_hour), seed)
    replace_partitions(warehouse, ASSIGNMENT_TABLE, assignments, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    with ray_session(address, num_cpus):
        reducer = ReducerActor.remote()  # type: ignore[attr-defined]
        for hour in tqdm(window, desc="hourly jobs", unit="h", disable=not progress):
            run_hour(config, hour, logs, warehouse, n_shards=n_shards, reducer=reducer)
    end = hour_offsets(window[-1], 2)[1]
    results = []
    for exp in config.experiments:
        results += experiment_results(warehouse, config.analysis_types[0], exp, window[0], end,
                                      metrics=["units", "ctr", "revenue_per_unit"])
    rel_diff = DEMO_REL_DIFFS["ranker_v2"]["treatment"]
    ctr = next(r for r in results if r.exp_id == "ranker_v2" and r.metric == "ctr" and r.variant_id == "treatment")
    aa = next(r for r in results if r.exp_id == "aa_check" and r.metric == "ctr" and r.variant_id == "b")
    return DemoOutcome(results, rel_diff, ctr.rel_ci_lower <= rel_diff <= ctr.rel_ci_upper,
                       aa.rel_ci_lower <= 0 <= aa.rel_ci_upper, time.perf_counter() - started)


def _run(args: argparse.Namespace) -> int:
    outcome = run_demo(units=args.units, hours=args.hours, warehouse_url=args.warehouse, logs=args.logs,
                       n_shards=args.shards, seed=args.seed, num_cpus=args.num_cpus, address=args.address,
                       progress=not args.no_progress, overwrite=args.overwrite)
    print_results(outcome.results, args.format)
    if args.format == "table":
        print(f"\nplanted CTR lift {outcome.planted_rel_diff:+.1%} inside its CI: "
              f"{'yes' if outcome.planted_inside_ci else 'NO'}; "
              f"A/A lift CI contains 0: {'yes' if outcome.aa_contains_zero else 'NO'}; "
              f"{outcome.seconds:.0f} s in all")
    return 0 if outcome.planted_inside_ci and outcome.aa_contains_zero else 1


def register(sub: Any) -> None:
    """Add the subcommand to the ``rayab`` parser."""
    demo = sub.add_parser("demo", help="simulate a day for two experiments, run the hourly jobs, print results")
    add_common(demo)
    add_ray_options(demo)
    demo.add_argument("--units", type=int, default=200_000)
    demo.add_argument("--hours", type=int, default=24)
    demo.add_argument("--logs", default="./rayab-logs", help="where the simulated raw logs go")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument("--overwrite", action="store_true",
                      help="delete what the warehouse and the logs root hold before simulating (without it, a "
                           "warehouse holding data of another run is refused)")
    demo.set_defaults(func=_run)
