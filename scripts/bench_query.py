"""Benchmark: a full result with intervals over a 7-day window, in process and as generated DuckDB SQL.

The fixture is the issue's: 168 hourly partitions x 50 cells (2 variants x 5 countries x 5 platforms) x 5 metric
arrays (units and 4 additive metrics) x B = 1000 replicates, written as Delta partitions of ``agg_bench`` with
:func:`rayab.storage.tables.replace_partitions` (replicate sums drawn around the raw sums, as real ones are). The
query asks for 5 metrics (3 composed) by country x platform (50 cells, every estimate, interval, difference, lift and
p-value) and, separately, for the totals.

Timed, as medians of ``--repeat`` runs after one warm-up, all in the same run:

* ``engine``: :func:`rayab.query.results.run_query` (Delta log pruning, column-pruned parallel reads, streamed sums,
  vectorised intervals);
* ``duckdb sql``: the generated DuckDB SQL of the same query over the same Parquet files
  (:func:`rayab.query.sql_run.run_duckdb`);
* ``reference``: what the query did before (read the window with :func:`rayab.storage.tables.read_rows`, then
  ``np.add.at`` per metric into the cells), sums only.

    .venv/bin/python scripts/bench_query.py                   # builds the fixture in a temporary folder
    .venv/bin/python scripts/bench_query.py --warehouse /tmp/bench-wh --repeat 7   # keeps and reuses it

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from rayab.errors import StorageError
from rayab.model import AnalysisType, Experiment, Metric
from rayab.query.results import run_query
from rayab.query.spec import Query
from rayab.query.sql_run import run_duckdb
from rayab.simulate import hour_offsets
from rayab.storage.schemas import agg_schema, reps_column
from rayab.storage.tables import read_rows, replace_partitions, table_exists
from rayab.storage.warehouse import Warehouse

START = "2026-11-01T00"
COUNTRIES = ("US", "BR", "IN", "DE", "FR")
PLATFORMS = ("web", "ios", "android", "tv", "other")
METRICS = ("ctr", "rpm", "revenue_per_unit", "sessions_per_unit", "clicks")


def analysis_type(n_replicates: int) -> AnalysisType:
    """Units plus four additive metrics: five replicate arrays per row."""
    return AnalysisType("bench", (Metric("impressions"), Metric("clicks"), Metric("revenue", decimals=2),
                                  Metric("sessions")), dimensions=("country", "platform"), n_replicates=n_replicates,
                        composed={"ctr": "clicks / impressions", "rpm": "1000 * revenue / impressions",
                                  "revenue_per_unit": "revenue / units", "sessions_per_unit": "sessions / units"})


def experiment() -> Experiment:
    """The benchmark's two-arm experiment."""
    return Experiment.from_dict({"exp_id": "bench", "name": "bench", "primary_kpi": "ctr",
                                 "start_time": START[:10] + "T00:00:00Z",
                                 "variants": [{"variant_id": v, "traffic_pct": 50} for v in ("control", "treatment")]})


def _hour_rows(at: AnalysisType, hour: str, rng: np.random.Generator) -> pa.Table:
    keys = [(v, c, p) for v in ("control", "treatment") for c in COUNTRIES for p in PLATFORMS]
    n, b = len(keys), at.n_replicates
    units = rng.integers(200, 2000, n)
    means = {"units": units, "impressions": units * 12, "clicks": units * 12 // 20, "revenue": units * 35,
             "sessions": units * 3}
    columns: dict[str, Any] = {
        "exp_id": pa.array(["bench"] * n), "hour": pa.array([hour] * n),
        "variant_id": pa.array([k[0] for k in keys]), "country": pa.array([k[1] for k in keys]),
        "platform": pa.array([k[2] for k in keys]), "n_events": pa.array(units * 4)}
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * b)
    for metric, mean in means.items():
        raw = rng.poisson(mean)
        # a replicate sum is the raw sum plus a Poisson-weight fluctuation of a few per cent
        reps = np.maximum(np.round(raw[:, None] * (1 + rng.normal(0, 1.5, (n, b)) / np.sqrt(units)[:, None])), 0)
        columns[metric] = pa.array(raw.astype(np.int64))
        columns[reps_column(metric)] = pa.ListArray.from_arrays(offsets, pa.array(reps.astype(np.int64).reshape(-1)))
    return pa.table([columns[f.name] for f in agg_schema(at)], schema=agg_schema(at))


def build_fixture(warehouse: Warehouse, at: AnalysisType, hours: list[str], seed: int = 0) -> None:
    """Write every hour of the fixture in one Delta commit (one file per partition)."""
    rng = np.random.default_rng(seed)
    parts = [_hour_rows(at, hour, rng) for hour in tqdm(hours, desc="fixture", unit="h")]
    replace_partitions(warehouse, at.table, pa.concat_tables(parts), ["exp_id", "hour"], {"exp_id": "bench"})


def _cell_index(table: pa.Table, key_names: Sequence[str]) -> tuple[tuple[tuple[str, ...], ...], npt.NDArray[np.int64]]:
    """The query's cell numbering as it was before: sorted distinct cells of ``table`` over ``key_names`` and each
    row's cell number."""
    if table.num_rows == 0:
        return (), np.zeros(0, np.int64)
    if not key_names:
        return ((),), np.zeros(table.num_rows, np.int64)
    codes, dictionaries = [], []
    for name in key_names:
        encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
        codes.append(np.asarray(encoded.indices, dtype=np.int64))
        dictionaries.append(encoded.dictionary.to_pylist())
    distinct, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    keys = [tuple(d[c] for d, c in zip(dictionaries, row, strict=True)) for row in distinct.tolist()]
    # renumber so cells come out sorted by key value, not by dictionary code
    order = sorted(range(len(keys)), key=keys.__getitem__)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return tuple(keys[i] for i in order), rank[inverse.reshape(-1)]


def _replicate_matrix(column: pa.ChunkedArray | pa.Array, n_replicates: int, name: str = "") -> npt.NDArray[np.int64]:
    """A list<int64> column of fixed length B as an ``(rows, B)`` int64 matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = np.asarray(pc.list_value_length(array), dtype=np.int64)
    if len(lengths) and not (lengths == n_replicates).all():
        bad = sorted(set(lengths.tolist()) - {n_replicates})
        raise StorageError(f"{name} has replicate arrays of length {bad}, expected B={n_replicates}: "
                           "hours aggregated with different B cannot be summed")
    return np.asarray(array.flatten(), dtype=np.int64).reshape(len(array), n_replicates)


def reference_sums(warehouse: Warehouse, at: AnalysisType, hours: list[str], metrics: list[str]) -> int:
    """The query's summing step as it was before: read the whole window, then ``np.add.at`` per metric."""
    columns = ["variant_id", "country", "platform", "n_events", *[c for m in metrics for c in (m, reps_column(m))]]
    table = read_rows(warehouse, at.table, where={"exp_id": "bench", "hour": hours}, columns=columns)
    keys, cells = _cell_index(table, ["variant_id", "country", "platform"])
    for metric in metrics:
        reps = np.zeros((len(keys), at.n_replicates), np.int64)
        np.add.at(reps, cells, _replicate_matrix(table.column(reps_column(metric)), at.n_replicates, metric))
    return len(keys)


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds (CPU of every thread of this process: less sensitive to other load)."""
    result = fn()  # warm-up: imports, numba and DuckDB first calls, page cache
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return _median(walls), _median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default=None, help="where the fixture lives (default: a temporary folder)")
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--b", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = args.warehouse or tempfile.mkdtemp(prefix="rayab-bench-")
    warehouse, at, exp = Warehouse.from_url(root), analysis_type(args.b), experiment()
    hours = hour_offsets(START, args.hours)
    if not table_exists(warehouse, at.table):
        build_fixture(warehouse, at, hours)
    end = hour_offsets(hours[-1], 2)[1]
    size = sum(f.stat().st_size for f in Path(root, at.table).rglob("*.parquet"))
    print(f"fixture: {args.hours} hours x 50 cells x 5 arrays x B={args.b} = "
          f"{args.hours * 50 * 5 * args.b / 1e6:.0f}M replicate sums, {size / 1e6:.0f} MB of Parquet in {root}")
    for projection in (("country", "platform"), ()):
        query = Query("bench", START, end, metrics=METRICS, projection=projection)
        engine, engine_cpu, results = _time(lambda q=query: run_query(warehouse, at, exp, q),  # type: ignore[misc]
                                            args.repeat)
        sql, sql_cpu, rows = _time(lambda q=query: run_duckdb(warehouse, at, exp, q), args.repeat)  # type: ignore[misc]
        label = " x ".join(projection) or "totals"
        print(f"\n{label}: {len(results)} results ({len(results) // len(METRICS)} cells x {len(METRICS)} metrics), "
              f"{rows.num_rows} SQL rows")
        print(f"  engine      median {engine:7.3f} s wall {engine_cpu:7.3f} s cpu")
        print(f"  duckdb sql  median {sql:7.3f} s wall {sql_cpu:7.3f} s cpu   (engine / sql = {engine / sql:.2f})")
    additive = ["units", "impressions", "clicks", "revenue", "sessions"]
    reference, reference_cpu, _ = _time(lambda: reference_sums(warehouse, at, hours, additive),
                                        max(1, args.repeat // 2))
    print(f"\nreference (read_rows + np.add.at, sums only) median {reference:7.3f} s wall {reference_cpu:7.3f} s cpu")
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
