"""Benchmark: the whole hourly job on Ray vs the same job in DuckDB SQL, on simulated logs.

The job: read an hour of Parquet logs, validate, collapse events to (cell, unit), hash each (experiment, unit) under
the experiment's bootstrap salt, and sum Poisson(1) weights times the metrics into B replicate sums per cell (plus
the ``units`` metric from the hour's first assignments), then commit one Delta partition per experiment.
The reference runs the same computation as one DuckDB query (md5 -> k1, k2 -> fmix32 -> Poisson thresholds ->
grouped lists of B sums, DESIGN section 2), with the same threads. Before any ratio is printed the two outputs are
compared cell by cell: every raw sum and every replicate sum must be bit-identical.

Why rayab is built the way it is (measured here, see the README for the figures):

* B = 1000 is dominated by the (unit x replicate) weight-and-sum step. It runs in a fused numba loop
  (:mod:`rayab.stats.kernels`) that makes each weight from the unit's two hash keys and adds it into per-cell
  accumulators that stay in L1, never materialising weights. SQL engines instead expand units x B rows and group
  them, which is why DuckDB's time grows about linearly with B.
* B = 100 is dominated by decoding and grouping unit-id strings. Events are collapsed to (cell, unit) rows first,
  on dictionary codes (low-cardinality keys stay dictionary-encoded from Parquet, units are encoded once by Arrow,
  and a compiled per-unit chain groups them), md5 runs once per distinct (experiment, unit) of a split, and only
  integer keys travel through the shuffle.
* Ray tasks (not Ray Data) do the shuffle; with Ray already running, as on a long-lived cluster, the fixed cost is
  a few tens of milliseconds.

PySpark local (``local[2]``, the engine of the seed article) runs the same job in Spark SQL when PySpark
(``pip install '.[bench]'``) and Java are present, checked bit for bit like DuckDB; at 1M events it took 16-30 s at
B = 100 and 79 s at B = 1000 on this machine, so ``--no-spark`` skips it for long runs.

Generated inputs are cached under ``--data`` (generation of 10M events takes about a minute).

    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench            # 10M events, B = 100 and 1000
    .venv/bin/python scripts/bench_pipeline.py --data /tmp/rayab-bench --quick    # 1M events (CI-sized)

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rayab.model import Config
from rayab.simulate import load_test_config, simulate_load
from rayab.stats.poisson_weights import POISSON_THRESHOLDS
from rayab.storage.logs import list_log_files, write_log_file
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

HOUR = "2026-11-23T10"
METRICS = ("units", "impressions", "clicks", "revenue")
KEYS = ("exp_id", "variant_id", "country", "platform")


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def prepare(root: Path, n_events: int, n_units: int, n_experiments: int, n_files: int) -> tuple[str, Warehouse]:
    """Logs and an assignment table under ``root`` (made once, reused while the marker file exists)."""
    folder = root / f"events{n_events}_units{n_units}_exps{n_experiments}_files{n_files}"
    logs, warehouse = str(folder / "logs"), Warehouse.from_url(folder / "wh")
    if (folder / "READY").exists():
        return logs, warehouse
    _log(f"generating {n_events:,} events from up to {n_units:,} units, {n_experiments} experiments in {folder}")
    started = time.perf_counter()
    config = load_test_config(n_experiments)
    events, firsts = simulate_load(config, n_events, n_units, HOUR, seed=1)
    # interleave the layers' rows so every file holds every experiment, as real logs do
    events = events.take(pa.array(np.random.default_rng(2).permutation(events.num_rows)))
    step = -(-events.num_rows // n_files)
    for i in range(n_files):
        write_log_file(logs, HOUR, f"part-{i:04d}.parquet", events.slice(i * step, step))
    replace_partitions(warehouse, "assignment", firsts, ["exp_id", "date"], {"exp_id": [e.exp_id for e in
                                                                                       config.experiments]})
    (folder / "READY").write_text("ok\n")
    _log(f"generated in {time.perf_counter() - started:.1f} s")
    return logs, warehouse


def run_rayab(config: Config, logs: str, warehouse: Warehouse, n_shards: int, reducer: Any) -> dict[str, Any]:
    from rayab.hourly.job import run_hour

    (summary,) = run_hour(config, HOUR, logs, warehouse, n_shards=n_shards, reducer=reducer)
    return {"rows": summary.rows_read, "cells": summary.cells, "bytes": summary.bytes_written,
            "seconds": summary.seconds}


def _weight_sql() -> str:
    return " + ".join(f"(h >= {t})::INTEGER" for t in POISSON_THRESHOLDS)


def duckdb_sql() -> str:
    """The job as one DuckDB query over ``read_parquet($files)``, the registered ``firsts`` and ``salts`` tables;
    ``$n_replicates`` is bound. Same weights as :mod:`rayab.stats.weights_sql`, with a salt per experiment.

    Written the way a careful SQL engineer would: cells become small integers before the (units x B) expansion, so
    the big group-by hashes two integers, not four strings."""
    keys = ", ".join(KEYS)
    metric_sums = ", ".join(f"sum({m})::BIGINT AS {m}" for m in METRICS)
    rep_sums = ", ".join(f"sum(w * {m})::BIGINT AS {m}_rep" for m in METRICS)
    rep_lists = ", ".join(f"list({m}_rep ORDER BY b) AS {m}_reps" for m in METRICS)
    return f"""
WITH events AS (
    SELECT {keys}, unit_id, count(*) AS n_events, 0::BIGINT AS units, sum(impressions)::BIGINT AS impressions,
           sum(clicks)::BIGINT AS clicks, sum(round(revenue * 100)::BIGINT) AS revenue
    FROM read_parquet($files) GROUP BY ALL
), unit_rows AS (
    SELECT {keys}, unit_id, sum(n_events)::BIGINT AS n_events, {metric_sums}
    FROM (SELECT * FROM events UNION ALL BY NAME
          SELECT {keys}, unit_id, 0 AS n_events, 1 AS units, 0 AS impressions, 0 AS clicks, 0 AS revenue FROM firsts)
    GROUP BY ALL
), cell_sums AS (
    SELECT {keys}, sum(n_events)::BIGINT AS n_events, {metric_sums} FROM unit_rows GROUP BY ALL
), cells AS (
    SELECT *, row_number() OVER (ORDER BY {keys}) AS cell FROM cell_sums
), keyed AS (
    SELECT c.cell, {", ".join(f"u.{m}" for m in METRICS)}, md5(s.salt || ':' || u.unit_id) AS hex
    FROM unit_rows u JOIN salts s USING (exp_id) JOIN cells c USING ({keys})
), k AS (
    SELECT cell, {", ".join(METRICS)}, ('0x' || substr(hex, 1, 8))::UBIGINT AS k1,
           ('0x' || substr(hex, 9, 8))::UBIGINT AS k2 FROM keyed
), x0 AS (
    SELECT cell, {", ".join(METRICS)}, r.b AS b, (k2 + r.b::UBIGINT * (k1 | 1)) % 4294967296 AS h
    FROM k CROSS JOIN range(0, $n_replicates) AS r(b)
), x1 AS (SELECT * REPLACE ((xor(h, h >> 16) * 2246822507) % 4294967296 AS h) FROM x0
), x2 AS (SELECT * REPLACE ((xor(h, h >> 13) * 3266489909) % 4294967296 AS h) FROM x1
), x3 AS (SELECT * REPLACE (xor(h, h >> 16) AS h) FROM x2
), weighted AS (SELECT cell, b, {", ".join(METRICS)}, {_weight_sql()} AS w FROM x3
), reps AS (SELECT cell, b, {rep_sums} FROM weighted GROUP BY cell, b
), lists AS (SELECT cell, {rep_lists} FROM reps GROUP BY cell)
SELECT {keys}, n_events, {", ".join(f"{m}, {m}_reps" for m in METRICS)} FROM cells JOIN lists USING (cell)
ORDER BY {keys}
"""


def run_duckdb(config: Config, logs: str, warehouse: Warehouse, n_replicates: int, threads: int) -> pa.Table:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    firsts = read_rows(warehouse, "assignment").select([*KEYS, "unit_id"])
    salts = pa.table({"exp_id": [e.exp_id for e in config.experiments],
                      "salt": [e.bootstrap_salt for e in config.experiments]})
    con.register("firsts", firsts)
    con.register("salts", salts)
    files = [f.path for f in list_log_files(logs, HOUR)]
    table: pa.Table = con.sql(duckdb_sql(), params={"files": files, "n_replicates": n_replicates}).to_arrow_table()
    con.close()
    return table


def spark_sql(n_replicates: int) -> str:
    """The same job in Spark SQL over the views ``events``, ``firsts`` and ``salts``. ANSI mode is off so 64-bit
    products wrap, and ``pmod`` then gives exactly the product mod 2**32 (2**32 divides 2**64)."""
    keys = ", ".join(KEYS)
    metric_sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    rep_sums = ", ".join(f"sum(w * {m}) AS {m}_rep" for m in METRICS)
    rep_lists = ", ".join(f"transform(array_sort(collect_list(struct(b, {m}_rep))), x -> x.{m}_rep) AS {m}_reps"
                          for m in METRICS)
    weight = " + ".join(f"CAST(h >= {t} AS INT)" for t in POISSON_THRESHOLDS)
    mod = "4294967296"
    return f"""
WITH ev AS (
    SELECT {keys}, unit_id, count(*) AS n_events, 0L AS units, sum(impressions) AS impressions,
           sum(clicks) AS clicks, sum(CAST(round(revenue * 100) AS BIGINT)) AS revenue
    FROM events GROUP BY {keys}, unit_id
), unit_rows AS (
    SELECT {keys}, unit_id, sum(n_events) AS n_events, {metric_sums} FROM (
        SELECT {keys}, unit_id, n_events, {", ".join(METRICS)} FROM ev UNION ALL
        SELECT {keys}, unit_id, 0L, 1L, 0L, 0L, 0L FROM firsts) GROUP BY {keys}, unit_id
), cells AS (
    SELECT {keys}, sum(n_events) AS n_events, {metric_sums} FROM unit_rows GROUP BY {keys}
), k AS (
    SELECT {keys}, {", ".join(METRICS)},
           CAST(conv(substr(md5(concat(s.salt, ':', u.unit_id)), 1, 8), 16, 10) AS BIGINT) AS k1,
           CAST(conv(substr(md5(concat(s.salt, ':', u.unit_id)), 9, 8), 16, 10) AS BIGINT) AS k2
    FROM unit_rows u JOIN salts s USING (exp_id)
), x0 AS (
    SELECT {keys}, {", ".join(METRICS)}, r.id AS b, pmod(k2 + r.id * (k1 | 1), {mod}) AS h
    FROM k CROSS JOIN range(0, {int(n_replicates)}) r
), x1 AS (SELECT {keys}, {", ".join(METRICS)}, b, pmod((h ^ shiftright(h, 16)) * 2246822507, {mod}) AS h FROM x0
), x2 AS (SELECT {keys}, {", ".join(METRICS)}, b, pmod((h ^ shiftright(h, 13)) * 3266489909, {mod}) AS h FROM x1
), x3 AS (SELECT {keys}, {", ".join(METRICS)}, b, h ^ shiftright(h, 16) AS h FROM x2
), w AS (SELECT {keys}, {", ".join(METRICS)}, b, {weight} AS w FROM x3
), reps AS (SELECT {keys}, b, {rep_sums} FROM w GROUP BY {keys}, b
), lists AS (SELECT {keys}, {rep_lists} FROM reps GROUP BY {keys})
SELECT {keys}, n_events, {", ".join(f"{m}, {m}_reps" for m in METRICS)} FROM cells JOIN lists USING ({keys})
ORDER BY {keys}
"""


def spark_session(threads: int) -> Any:
    """A local Spark (``local[threads]``), or None when PySpark or Java is missing."""
    import shutil

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    if shutil.which("java") is None:
        return None
    return (SparkSession.builder.master(f"local[{threads}]").appName("rayab-bench")
            .config("spark.sql.ansi.enabled", "false").config("spark.sql.shuffle.partitions", str(2 * threads))
            .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").getOrCreate())


def run_spark(spark: Any, config: Config, logs: str, warehouse: Warehouse, n_replicates: int) -> pa.Table:
    import pyarrow.parquet as pq

    firsts = Path(warehouse.url).parent / "firsts.parquet"  # next to the data set it belongs to
    if not firsts.exists():
        pq.write_table(read_rows(warehouse, "assignment").select([*KEYS, "unit_id"]), firsts)
    spark.read.parquet(*[f.path for f in list_log_files(logs, HOUR)]).createOrReplaceTempView("events")
    spark.read.parquet(str(firsts)).createOrReplaceTempView("firsts")
    spark.createDataFrame([(e.exp_id, e.bootstrap_salt) for e in config.experiments],
                          "exp_id string, salt string").createOrReplaceTempView("salts")
    rows = [r.asDict() for r in spark.sql(spark_sql(n_replicates)).collect()]
    return pa.Table.from_pylist(rows)


def outputs_agree(warehouse: Warehouse, reference: pa.Table) -> str:
    """'' when the committed partition equals the reference cell by cell and bit for bit, else the first mismatch."""
    ours = read_rows(warehouse, "agg_engagement", where={"hour": HOUR}).sort_by([(k, "ascending") for k in KEYS])
    if ours.num_rows != reference.num_rows:
        return f"{ours.num_rows} cells vs {reference.num_rows} in the reference"
    for key in KEYS:
        if ours.column(key).to_pylist() != reference.column(key).to_pylist():
            return f"cell keys differ in {key}"
    for name in ("n_events", *METRICS):
        if not np.array_equal(np.asarray(ours.column(name)), np.asarray(reference.column(name))):
            return f"raw sums of {name} differ"
        mine = np.asarray(ours.column(f"{name}_reps").combine_chunks().flatten()) if name != "n_events" else None
        theirs = np.asarray(reference.column(f"{name}_reps").combine_chunks().flatten()) if name != "n_events" else None
        if mine is not None and theirs is not None and not np.array_equal(mine, theirs):
            return f"replicate sums of {name} differ"
    return ""


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm-up: numba caches load in the workers, files enter the page cache
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return _median(times), result


def _worker_peak_rss_mb() -> float:
    """The largest peak RSS (VmHWM) of this machine's Ray worker processes, in MB."""
    peak = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"default_worker" not in cmdline and b"ray::" not in cmdline:
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def bench(args: argparse.Namespace, n_experiments: int, replicates: list[int], reducer: Any,
          spark: Any = None) -> list[dict[str, Any]]:
    n_events = 1_000_000 if args.quick else args.events
    n_units = 100_000 if args.quick else args.units
    logs, warehouse = prepare(Path(args.data), n_events, n_units, n_experiments, args.files)
    rows = []
    for b in replicates:
        config = load_test_config(n_experiments, n_replicates=b)
        t_ours, stats = _time(lambda config=config: run_rayab(config, logs, warehouse, args.shards, reducer),  # type: ignore[misc]
                              args.repeat)
        row = {"experiments": n_experiments, "B": b, "events": stats["rows"], "cells": stats["cells"],
               "bytes": stats["bytes"], "rayab": t_ours, "stages": stats["seconds"]}
        if spark is not None:
            t_spark, spark_out = _time(lambda config=config, b=b: run_spark(spark, config, logs, warehouse, b),  # type: ignore[misc]
                                       args.spark_repeat)
            mismatch = outputs_agree(warehouse, spark_out)
            if mismatch:
                raise SystemExit(f"Spark output differs at B={b}, {n_experiments} experiments: {mismatch}")
            row["spark"] = t_spark
        if not args.no_duckdb:
            t_ref, reference = _time(lambda config=config, b=b: run_duckdb(config, logs, warehouse, b, args.threads),  # type: ignore[misc]
                                     args.repeat)
            mismatch = outputs_agree(warehouse, reference)
            if mismatch:
                raise SystemExit(f"outputs differ at B={b}, {n_experiments} experiments: {mismatch}")
            row["duckdb"] = t_ref
        rows.append(row)
        _log(f"done: {row}")
    return rows


def _reference_text(r: dict[str, Any], name: str) -> str:
    ref = r.get(name)
    if not ref:
        return f"{'-':>9} {'-':>7} {'-':>6}"
    return f"{ref:>9.2f} {r['events'] / ref / 1e6:>7.2f} {ref / r['rayab']:>5.2f}x"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'exps':>5} {'B':>5} {'events':>11} {'cells':>6} {'rayab s':>8} {'M ev/s':>7} {'duckdb s':>9} "
          f"{'M ev/s':>7} {'ratio':>6} {'spark s':>9} {'M ev/s':>7} {'ratio':>6} {'MB written':>10} {'B/cell':>8}"
          "  rayab stages (s)")
    for r in rows:
        stages = " ".join(f"{k}={v:.2f}" for k, v in r["stages"].items() if k != "total")
        print(f"{r['experiments']:>5} {r['B']:>5} {r['events']:>11,} {r['cells']:>6} {r['rayab']:>8.2f} "
              f"{r['events'] / r['rayab'] / 1e6:>7.2f} {_reference_text(r, 'duckdb')} {_reference_text(r, 'spark')} "
              f"{r['bytes'] / 1e6:>10.2f} {r['bytes'] / max(r['cells'], 1):>8.0f}  {stages}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder caching the generated logs")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="1M events from 100k units")
    parser.add_argument("--replicates", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--many-experiments", type=int, default=1000, help="0 to skip the many-experiment run")
    parser.add_argument("--many-replicates", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="CPUs for Ray and threads for DuckDB")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--no-spark", action="store_true", help="skip PySpark local (run when PySpark and Java exist)")
    parser.add_argument("--spark-repeat", type=int, default=1, help="Spark runs after its warm-up (slow: default 1)")
    args = parser.parse_args(argv)

    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=args.threads, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    from rayab.hourly.job import new_reducer

    spark = None
    try:
        reducer = new_reducer()  # long-lived, like Ray itself: an hourly run does not pay for starting it
        spark = None if args.no_spark else spark_session(args.threads)
        if spark is not None:
            spark.sparkContext.setLogLevel("ERROR")
        if spark is None and not args.no_spark:
            _log("PySpark or Java not found: the Spark reference is skipped (pip install '.[bench]')")
        rows = bench(args, 2, args.replicates, reducer, spark)
        if args.many_experiments:
            rows += bench(args, args.many_experiments, args.many_replicates, reducer)
        worker_peak = _worker_peak_rss_mb()
    finally:
        ray.shutdown()
        if spark is not None:
            spark.stop()
    checked = "; outputs bit-identical to every reference shown" if not args.no_duckdb else ""
    print(f"\nhourly job, {args.threads} CPUs, median of {args.repeat} after a warm-up, Ray already running{checked}")
    print_table(rows)
    print(f"peak RSS: Ray workers {worker_peak:.0f} MB (largest single worker), this process "
          f"(driver + DuckDB) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
