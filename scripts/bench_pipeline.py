"""Benchmark: the hourly job on a warm Ray against the strongest DuckDB job and the machine's floor, in one run.

Three ways to turn one hour of Parquet events into raw and B Poisson-bootstrap replicate sums per cell, on the
same files (made by :mod:`bench_data`, a generator independent of :mod:`rayab.simulate`) and the same cores:

* **rayab**: :func:`rayab.hourly.job.run_hour` with Ray already running and a long-lived reducer, called
  repeatedly as an hourly scheduler on a long-lived cluster would (read, validate, collapse, shuffle, shards,
  Delta commit);
* **DuckDB**: the job as one query, written to be fast (:func:`bench_floor.duckdb_sql` says how);
* **floor**: the least work this machine must do (:func:`bench_floor.run_floor`): DuckDB's decode + group-by
  to (cell, unit) rows with md5, then the fused weight-and-sum kernel on all threads.

Before any time is kept, the DuckDB output and the floor's output are compared with rayab's committed partition
cell by cell: every raw sum and replicate sum must be bit-identical. Then the three run in turns (paired runs:
each round runs all three back to back, so a load spike from other work hits a round, not one engine), and the
table gives medians and the median of the per-round ratios. ``uptime``'s load average is printed before and after.

    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench              # 10M events, B = 100, 1000
    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench --quick      # 1M events, to try things
    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench --events 30000000 --units 2700000
    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench --quick --latency

With ``--latency`` the hour also has a ``latency_ms`` column and a fourth engine runs: rayab with the quantile
metric ``latency`` (p50 / p90 / p99 of ``latency_ms``, :mod:`rayab.stats.quantile_sketch`) added to the analysis
type. Its sums must be bit-identical to the others' too, and the table adds its time and its ratio to rayab without
the metric in the same rounds (what the percentile sketches cost the job).

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: scripts.* below

from rayab.simulate import load_test_config
from rayab.storage.schemas import ASSIGNMENT_TABLE
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse
from scripts.bench_data import HOUR, experiment_ids, first_assignments, generate, write_hour
from scripts.bench_floor import KEYS, run_duckdb, run_floor

METRICS = ("impressions", "clicks", "revenue")


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_average() -> str:
    """``uptime``'s three load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_ray(num_cpus: int, attempts: int = 4) -> None:
    """A local Ray of ``num_cpus`` CPUs; start-up is retried, since on a loaded machine Ray's agents can miss the
    raylet's start-up deadline."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    for attempt in range(attempts):
        try:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
            return
        except Exception as err:
            ray.shutdown()
            if attempt == attempts - 1:
                raise
            _log(f"Ray did not start ({str(err)[:80]}), retrying")


class Prepared:
    """One generated hour: its logs root, files, warehouse (with the assignment table) and first assignments."""

    def __init__(self, root: Path, n_events: int, n_units: int, n_files: int, n_experiments: int = 2,
                 latency: bool = False) -> None:
        folder = root / (f"indep_events{n_events}_units{n_units}_files{n_files}_exps{n_experiments}"
                         + ("_latency" if latency else ""))
        self.n_experiments = n_experiments
        self.logs = str(folder / "logs")
        self.warehouse = Warehouse.from_url(folder / "wh")
        marker = folder / "READY"
        if not marker.exists():
            _log(f"generating {n_events:,} events from {n_units:,} units into {folder}")
            started = time.perf_counter()
            events, assignments = generate(n_events, n_units, n_experiments=n_experiments, latency=latency)
            write_hour(Path(self.logs), events, n_files)
            replace_partitions(self.warehouse, ASSIGNMENT_TABLE, assignments, ["exp_id", "date"],
                               {"exp_id": experiment_ids(n_experiments)})
            marker.write_text("ok\n")
            _log(f"generated in {time.perf_counter() - started:.1f} s")
        self.files = sorted(str(p) for p in Path(self.logs).rglob("*.parquet"))
        assignments = read_rows(self.warehouse, ASSIGNMENT_TABLE)
        self.firsts = first_assignments(assignments).select([*KEYS, "unit_id"])


def run_rayab(config: Any, data: Prepared, n_shards: int, reducer: Any,
              map_task_mb: float | None = None) -> dict[str, Any]:
    from rayab.hourly.job import run_hour
    from rayab.hourly.task_groups import TASK_BYTES

    task_bytes = TASK_BYTES if map_task_mb is None else max(1, int(map_task_mb * 2**20))
    (summary,) = run_hour(config, HOUR, data.logs, data.warehouse, n_shards=n_shards, reducer=reducer,
                          map_task_bytes=task_bytes)
    result: dict[str, Any] = {"rows": summary.rows_read, "cells": summary.cells, "seconds": summary.seconds}
    return result


def outputs_agree(warehouse: Warehouse, reference: pa.Table) -> str:
    """'' when the committed partition equals the reference cell by cell and bit for bit, else the first mismatch."""
    ours = read_rows(warehouse, "agg_engagement", where={"hour": HOUR}).sort_by([(k, "ascending") for k in KEYS])
    reference = reference.sort_by([(k, "ascending") for k in KEYS])
    if ours.num_rows != reference.num_rows:
        return f"{ours.num_rows} cells vs {reference.num_rows} in the reference"
    for key in KEYS:
        if ours.column(key).to_pylist() != reference.column(key).to_pylist():
            return f"cell keys differ in {key}"
    for name in ("n_events", "units", *METRICS):
        if not np.array_equal(np.asarray(ours.column(name)), np.asarray(reference.column(name))):
            return f"raw sums of {name} differ"
        if name == "n_events":
            continue
        mine = np.asarray(ours.column(f"{name}_reps").combine_chunks().flatten())
        theirs = np.asarray(reference.column(f"{name}_reps").combine_chunks().flatten())
        if not np.array_equal(mine, theirs):
            return f"replicate sums of {name} differ"
    return ""


def with_latency(config: Any) -> Any:
    """``config`` with the quantile metric ``latency`` (p50 / p90 / p99 of ``latency_ms``) in its analysis type."""
    from rayab.model import Config

    data = config.to_dict()
    data["analysis_types"][0]["metrics"].append(
        {"name": "latency", "kind": "quantile", "column": "latency_ms", "quantiles": [0.5, 0.9, 0.99]})
    return Config.from_dict(data)


def sketch_rows(warehouse: Warehouse) -> int:
    """Rows (cell x bucket) of the hour's committed percentile sketches."""
    return int(read_rows(warehouse, "qsk_engagement", where={"hour": HOUR}).num_rows)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench_b(args: argparse.Namespace, data: Prepared, b: int, reducer: Any) -> dict[str, Any]:
    """One B: check all three agree (this also warms them up), then ``repeat`` paired rounds."""
    config = load_test_config(data.n_experiments, n_replicates=b)
    salts = pa.table({"exp_id": [e.exp_id for e in config.experiments],
                      "salt": [e.bootstrap_salt for e in config.experiments]})
    engines: dict[str, Callable[[], Any]] = {
        "rayab": lambda: run_rayab(config, data, args.shards, reducer, args.map_task_mb),
        "floor": lambda: run_floor(data.files, data.firsts, salts, METRICS, b, args.threads),
    }
    if not args.no_duckdb and (args.duckdb_replicates is None or b in args.duckdb_replicates):
        engines["duckdb"] = lambda: run_duckdb(data.files, data.firsts, salts, METRICS, b, args.threads)
    if args.latency:
        config_q = with_latency(config)
        engines = {"rayab_q": lambda: run_rayab(config_q, data, args.shards, reducer, args.map_task_mb), **engines}
        first_q = engines["rayab_q"]()
        n_sketch = sketch_rows(data.warehouse)
        if not n_sketch:
            raise SystemExit(f"rayab with the quantile metric committed no sketch rows at B={b}")
        _log(f"B={b}: {n_sketch:,} sketch rows (cell x bucket) for {first_q['cells']} cells")
    first = {name: fn() for name, fn in engines.items()}  # rayab (without the metric) runs after rayab_q
    for name in ("floor", "duckdb"):
        if name in first:
            reference = first[name].output if name == "floor" else first[name]
            mismatch = outputs_agree(data.warehouse, reference)
            if mismatch:
                raise SystemExit(f"{name} output differs from rayab's at B={b}: {mismatch}")
            if args.latency and name == "floor":  # the run with the quantile metric commits the same sums
                engines["rayab_q"]()
                mismatch = outputs_agree(data.warehouse, reference)
                if mismatch:
                    raise SystemExit(f"{name} output differs from rayab's with the quantile metric at B={b}: "
                                     f"{mismatch}")
                engines["rayab"]()
    _log(f"B={b}: outputs bit-identical ({', '.join(first)}); {first['rayab']['cells']} cells")
    rounds: list[dict[str, Any]] = []
    for i in range(args.repeat):
        row: dict[str, Any] = {}
        for name, fn in engines.items():
            row[name], result = _timed(fn)
            if name == "rayab":
                row["stages"] = result["seconds"]
            if name == "rayab_q":
                row["stages_q"] = result["seconds"]
            if name == "floor":
                row["floor_parts"] = (result.collapse_s, result.kernel_s)
                row["floor"] = result.seconds  # the floor is its two timed parts, not the glue around them
        rounds.append(row)
        _log(f"B={b} round {i + 1}: " + " ".join(f"{k}={v:.2f}" for k, v in row.items() if isinstance(v, float)))
    out: dict[str, Any] = {"B": b, "events": first["rayab"]["rows"], "cells": first["rayab"]["cells"],
                           "floor_rows": first["floor"].rows}
    for name in engines:
        out[name] = _median([r[name] for r in rounds])
    out["vs_floor"] = _median([r["rayab"] / r["floor"] for r in rounds])
    if "duckdb" in engines:
        out["vs_duckdb"] = _median([r["duckdb"] / r["rayab"] for r in rounds])
    if "rayab_q" in engines:
        out["q_cost"] = _median([r["rayab_q"] / r["rayab"] for r in rounds])
        stages_q = [r["stages_q"] for r in rounds]
        out["stages_q"] = {k: _median([s[k] for s in stages_q]) for k in stages_q[0] if k != "total"}
    out["collapse"] = _median([r["floor_parts"][0] for r in rounds])
    out["kernel"] = _median([r["floor_parts"][1] for r in rounds])
    stages = [r["stages"] for r in rounds]
    out["stages"] = {k: _median([s[k] for s in stages]) for k in stages[0] if k != "total"}
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'B':>5} {'events':>11} {'cells':>6} {'rayab s':>8} {'duckdb s':>9} {'floor s':>8} "
          f"{'duckdb/rayab':>12} {'rayab/floor':>11}  floor parts (s)          rayab stages (s)")
    for r in rows:
        duck = f"{r['duckdb']:>9.2f}" if "duckdb" in r else f"{'-':>9}"
        ratio = f"{r['vs_duckdb']:>11.2f}x" if "vs_duckdb" in r else f"{'-':>12}"
        stages = " ".join(f"{k}={v:.2f}" for k, v in r["stages"].items())
        print(f"{r['B']:>5} {r['events']:>11,} {r['cells']:>6} {r['rayab']:>8.2f} {duck} {r['floor']:>8.2f} "
              f"{ratio} {r['vs_floor']:>10.2f}x  collapse={r['collapse']:.2f} kernel={r['kernel']:.2f}  {stages}")
        if "q_cost" in r:
            stages_q = " ".join(f"{k}={v:.2f}" for k, v in r["stages_q"].items())
            print(f"{r['B']:>5} {'+ latency':>11} {'':>6} {r['rayab_q']:>8.2f} {'-':>9} {'-':>8} {'-':>12} "
                  f"{r['q_cost']:>10.2f}x  (ratio: rayab with p50/p90/p99 of latency_ms / without)  {stages_q}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder caching the generated logs")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=900_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="1M events from 90k units")
    parser.add_argument("--replicates", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="paired rounds after the checked warm-up")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--map-task-mb", type=float, default=None,
                        help="input MiB one map task reads at most (default: the job's; 0: one task per split)")
    parser.add_argument("--threads", type=int, default=2, help="CPUs for Ray, threads for DuckDB and the kernel")
    parser.add_argument("--no-duckdb", action="store_true", help="only rayab and the floor")
    parser.add_argument("--latency", action="store_true",
                        help="add latency_ms to the hour and time rayab with a p50/p90/p99 metric of it too")
    parser.add_argument("--duckdb-replicates", type=int, nargs="+", default=None,
                        help="run the DuckDB job only at these B (default: every B; it grows linearly with B)")
    args = parser.parse_args(argv)
    n_events, n_units = (1_000_000, 90_000) if args.quick else (args.events, args.units)
    data = Prepared(Path(args.data), n_events, n_units, args.files, latency=args.latency)

    import ray

    load_before = load_average()
    start_ray(args.threads)
    from rayab.hourly.job import new_reducer

    try:
        reducer = new_reducer()  # long-lived, like Ray itself: an hourly run does not pay for starting it
        rows = [bench_b(args, data, b, reducer) for b in args.replicates]
    finally:
        ray.shutdown()
    print(f"\nhourly job, {args.threads} CPUs, {len(data.files)} Parquet files, median of {args.repeat} paired "
          f"rounds after a checked warm-up, Ray already running; outputs bit-identical (rayab, DuckDB, floor)")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_average()}")
    print_table(rows)
    print(f"(cell, unit) rows after the collapse (floor): {rows[0]['floor_rows']:,}")


if __name__ == "__main__":
    main()
