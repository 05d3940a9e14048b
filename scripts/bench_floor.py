"""The machine's floor for the hourly job, and the strongest DuckDB formulation of it, on the same Parquet hour.

The floor is the least work any engine must do on this hardware, each part done by the fastest tool at hand:

1. **collapse**: DuckDB decodes the Parquet files and hash-aggregates the events (and the hour's first assignments)
   to one row per (cell, unit) with its metric sums, and computes ``md5(salt || ':' || unit)`` once per row
   (:func:`collapse_sql`); this is what any engine must do before it may drop the unit id;
2. **replicates**: rayab's fused weight-and-sum kernel (numba, ``n_threads`` threads) turns those rows into the
   raw and B replicate sums per cell.

Both are timed separately and their sum is the floor. The floor's cells are checked against the job's output too.

The DuckDB reference (:func:`duckdb_sql`) is the job written as one query by someone who wants it fast:

* events are pre-aggregated to (cell, unit) rows first, so the md5 and the (rows x B) expansion run once per
  (cell, unit) pair, not per event (at 10M events: 10M -> about 1.3M rows);
* cells become a dense integer (``dense_rank`` over the four key strings) before the expansion, so the big
  ``GROUP BY (cell, b)`` hashes two integers; the keyed rows are sorted by cell so that group-by sees runs;
* ``k1, k2`` come from one UBIGINT parsed from the first 16 hex digits of ``md5`` (measured faster here than
  ``md5_number_upper``, whose bytes would also need swapping);
* fmix32 on UBIGINT with ``& 0xFFFFFFFF`` (a mask, not a modulo), weights as 12 threshold comparisons;
* replicate sums as DOUBLE: exact here (every partial sum is an integer below 2**53, checked by the caller's
  bit-for-bit comparison) and much cheaper than DuckDB's HUGEINT sums of BIGINT;
* the same number of threads as the job has cores.

>>> "md5(" in collapse_sql(("impressions",)) and "range(0, $n_replicates)" in duckdb_sql(("clicks",))
True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rayab.stats.kernels import replicate_sums_fused
from rayab.stats.poisson_weights import POISSON_THRESHOLDS

KEYS = ("exp_id", "variant_id", "country", "platform")


def _metric_exprs(metrics: Sequence[str]) -> str:
    return ", ".join("sum(round(revenue * 100)::BIGINT) AS revenue" if m == "revenue" else f"sum({m})::BIGINT AS {m}"
                     for m in metrics)


def collapse_sql(metrics: Sequence[str]) -> str:
    """(cell, unit) rows of the events in ``read_parquet($files)`` and the registered ``firsts`` (``units`` = 1),
    each with its dense cell number and the unit's ``k1 << 32 | k2`` under its experiment's salt (``salts``)."""
    keys = ", ".join(KEYS)
    zeros = ", ".join(f"0::BIGINT AS {m}" for m in metrics)
    sums = ", ".join(f"sum({m})::BIGINT AS {m}" for m in ("n_events", "units", *metrics))
    return f"""
WITH ev AS (
    SELECT {keys}, unit_id, count(*)::BIGINT AS n_events, 0::BIGINT AS units, {_metric_exprs(metrics)}
    FROM read_parquet($files) GROUP BY ALL
), unit_rows AS (
    SELECT {keys}, unit_id, {sums}
    FROM (SELECT * FROM ev UNION ALL BY NAME
          SELECT {keys}, unit_id, 0::BIGINT AS n_events, 1::BIGINT AS units, {zeros} FROM firsts)
    GROUP BY ALL
)
SELECT dense_rank() OVER (ORDER BY {keys}) - 1 AS cell, {keys}, n_events, {", ".join(("units", *metrics))},
       ('0x' || md5(s.salt || ':' || u.unit_id)[1:16])::UBIGINT AS key
FROM unit_rows u JOIN salts s USING (exp_id)
"""


def duckdb_sql(metrics: Sequence[str]) -> str:
    """The whole job as one query (see the module docstring); ``$n_replicates`` is bound."""
    cols = ("units", *metrics)
    keys = ", ".join(KEYS)
    weight = " + ".join(f"(h >= {t})::INTEGER" for t in POISSON_THRESHOLDS)
    mask = "4294967295"
    return f"""
WITH rows AS ({collapse_sql(metrics)}
), cells AS (
    SELECT cell, {keys}, sum(n_events)::BIGINT AS n_events, {", ".join(f"sum({m})::BIGINT AS {m}" for m in cols)}
    FROM rows GROUP BY ALL
), keyed AS (
    SELECT cell, {", ".join(cols)}, key >> 32 AS k1, key & {mask} AS k2 FROM rows ORDER BY cell
), x0 AS (
    SELECT cell, {", ".join(cols)}, r.b AS b, (k2 + r.b::UBIGINT * (k1 | 1)) & {mask} AS h
    FROM keyed CROSS JOIN range(0, $n_replicates) AS r(b)
), x1 AS (SELECT * REPLACE ((xor(h, h >> 16) * 2246822507) & {mask} AS h) FROM x0
), x2 AS (SELECT * REPLACE ((xor(h, h >> 13) * 3266489909) & {mask} AS h) FROM x1
), x3 AS (SELECT * REPLACE (xor(h, h >> 16) AS h) FROM x2
), weighted AS (SELECT cell, b, {", ".join(cols)}, ({weight})::DOUBLE AS w FROM x3
), reps AS (SELECT cell, b, {", ".join(f"sum(w * {m})::BIGINT AS {m}_rep" for m in cols)} FROM weighted
            GROUP BY cell, b
), lists AS (SELECT cell, {", ".join(f"list({m}_rep ORDER BY b) AS {m}_reps" for m in cols)} FROM reps GROUP BY cell)
SELECT {keys}, n_events, {", ".join(f"{m}, {m}_reps" for m in cols)} FROM cells JOIN lists USING (cell)
ORDER BY {keys}
"""


def _connect(threads: int, firsts: pa.Table, salts: pa.Table) -> object:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    con.execute("SET enable_progress_bar = false")
    con.register("firsts", firsts)
    con.register("salts", salts)
    return con


def run_duckdb(files: Sequence[str], firsts: pa.Table, salts: pa.Table, metrics: Sequence[str],
               n_replicates: int, threads: int) -> pa.Table:
    """The DuckDB job's output: one row per cell, keys, raw sums and ``<metric>_reps`` lists."""
    con: object = _connect(threads, firsts, salts)
    table: pa.Table = con.sql(duckdb_sql(metrics),  # type: ignore[attr-defined]
                              params={"files": list(files), "n_replicates": n_replicates}).to_arrow_table()
    con.close()  # type: ignore[attr-defined]
    return table


@dataclass(frozen=True)
class Floor:
    """The floor's two timed parts and its output (the same layout as :func:`run_duckdb`'s)."""

    collapse_s: float
    kernel_s: float
    rows: int
    output: pa.Table

    @property
    def seconds(self) -> float:
        """collapse + kernel."""
        return self.collapse_s + self.kernel_s


def run_floor(files: Sequence[str], firsts: pa.Table, salts: pa.Table, metrics: Sequence[str],
              n_replicates: int, threads: int) -> Floor:
    """Collapse and md5 in DuckDB, then the fused kernel on ``threads`` threads; each part timed."""
    started = time.perf_counter()
    con: object = _connect(threads, firsts, salts)
    rows: pa.Table = con.sql(collapse_sql(metrics),  # type: ignore[attr-defined]
                             params={"files": list(files)}).to_arrow_table()
    con.close()  # type: ignore[attr-defined]
    cols = ("units", *metrics)
    key = np.asarray(rows.column("key")).astype(np.uint64)
    cell = np.asarray(rows.column("cell"), np.int64)
    values = np.column_stack([np.asarray(rows.column(m), np.int64) for m in cols])
    collapse_s = time.perf_counter() - started
    started = time.perf_counter()
    k1 = (key >> np.uint64(32)).astype(np.uint32)
    k2 = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    raw, reps = replicate_sums_fused(k1, k2, cell, values, n_cells, n_replicates, n_threads=threads)
    kernel_s = time.perf_counter() - started
    return Floor(collapse_s, kernel_s, rows.num_rows, _floor_table(rows, cell, n_cells, cols, raw, reps))


def _floor_table(rows: pa.Table, cell: npt.NDArray[np.int64], n_cells: int, cols: Sequence[str],
                 raw: npt.NDArray[np.int64], reps: npt.NDArray[np.int64]) -> pa.Table:
    first = np.zeros(n_cells, np.int64)
    first[cell[::-1]] = np.arange(len(cell))[::-1]  # a row of each cell, for its keys
    n_events = np.bincount(cell, weights=np.asarray(rows.column("n_events"), np.float64), minlength=n_cells)
    out: dict[str, pa.Array] = {k: rows.column(k).take(pa.array(first)).combine_chunks() for k in KEYS}
    out["n_events"] = pa.array(n_events.astype(np.int64))
    n_rep = reps.shape[2]
    for m, name in enumerate(cols):
        out[name] = pa.array(raw[:, m])
        out[f"{name}_reps"] = pa.ListArray.from_arrays(pa.array(np.arange(n_cells + 1) * n_rep, pa.int32()),
                                                       pa.array(reps[:, m, :].reshape(-1)))
    return pa.table(out).sort_by([(k, "ascending") for k in KEYS])
