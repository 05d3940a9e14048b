"""Benchmark: numpy reference vs fused kernel for replicate sums, and hashlib vs compiled md5 for unit keys.

Times are medians of ``--repeat`` runs after one warm-up. "G w/s" counts unit x replicate weights per second
(each weight is applied to every metric). Compile times come from fresh subprocesses with an empty numba cache
(cold) and with the cache just written (warm).

    .venv/bin/python scripts/bench_kernel.py            # 1M rows x 3 metrics x 200 cells, B = 100 and 1000
    .venv/bin/python scripts/bench_kernel.py --rows 200000 --repeat 3

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from rayab.stats.kernels import replicate_sums_fused
from rayab.stats.poisson_weights import unit_keys as hashlib_unit_keys
from rayab.stats.replicate_sums import replicate_sums_numpy
from rayab.stats.unit_hash import unit_keys, unit_keys_arrow


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: compilation / cache load and first-touch page faults stay out of the medians
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return _median(times)


_COMPILE_PROBE = """
import time, numpy as np
t = time.perf_counter()
from rayab.stats.kernels import replicate_sums_fused
from rayab.stats.unit_hash import unit_keys
t_import = time.perf_counter() - t
rng = np.random.default_rng(0)
k = rng.integers(0, 2**32, 64, dtype=np.uint32)
t = time.perf_counter()
replicate_sums_fused(k, k, np.zeros(64, np.int64), np.ones((64, 3), np.int64), 1, 8)
t_kernel = time.perf_counter() - t
t = time.perf_counter()
unit_keys("s", ["a", "b"])
t_hash = time.perf_counter() - t
print(t_import, t_kernel, t_hash)
"""


def _compile_times() -> dict[str, tuple[float, float, float]]:
    """(import, first kernel call, first hash call) seconds in a fresh process, cold cache then warm cache."""
    out: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold", "cached"):
            res = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True, capture_output=True,
                                 text=True)
            a, b, c = (float(x) for x in res.stdout.split())
            out[label] = (a, b, c)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--replicates", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ids", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1)
    n = args.rows
    k1 = rng.integers(0, 2**32, n, dtype=np.uint32)
    k2 = rng.integers(0, 2**32, n, dtype=np.uint32)
    cells = rng.integers(0, args.cells, n)
    values = rng.integers(-1000, 1_000_000, (n, args.metrics), dtype=np.int64)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    print(f"replicate sums: {n:,} unit rows x {args.metrics} metrics x {args.cells} cells, "
          f"median of {args.repeat} after warm-up, {threads} cores visible")
    print(f"{'B':>6} {'implementation':<26} {'median s':>10} {'G w/s':>8} {'G w/s/core':>11} {'vs numpy':>9}")
    for b in args.replicates:
        t_np = _time(partial(replicate_sums_numpy, k1, k2, cells, values, args.cells, b), args.repeat)
        t_1 = _time(partial(replicate_sums_fused, k1, k2, cells, values, args.cells, b), args.repeat)
        rows = [("numpy reference", t_np, 1), ("fused kernel, 1 thread", t_1, 1)]
        if threads > 1:
            t_p = _time(partial(replicate_sums_fused, k1, k2, cells, values, args.cells, b, n_threads=threads),
                        args.repeat)
            rows.append((f"fused kernel, {threads} threads", t_p, threads))
        for name, t, used in rows:
            rate = n * b / t / 1e9
            print(f"{b:>6} {name:<26} {t:>10.3f} {rate:>8.3f} {rate / used:>11.3f} {t_np / t:>8.1f}x")

    ids = [f"user-{i:012d}" for i in range(args.ids)]
    arrow_ids = pa.array(ids, type=pa.large_string())
    print(f"\nunit keys: {args.ids:,} ids of {len(ids[0])} chars, median of {args.repeat} after warm-up")
    print(f"{'implementation':<40} {'median s':>10} {'ns/id':>8} {'vs hashlib':>11}")
    t_ref = _time(lambda: hashlib_unit_keys("bench-salt", ids), args.repeat)
    hash_rows = [
        ("hashlib loop (poisson_weights.unit_keys)", t_ref),
        ("compiled md5, Arrow array", _time(lambda: unit_keys_arrow("bench-salt", arrow_ids), args.repeat)),
        ("compiled md5, Python list (incl. Arrow)", _time(lambda: unit_keys("bench-salt", ids), args.repeat)),
    ]
    if threads > 1:
        hash_rows.append((f"compiled md5, Arrow array, {threads} threads",
                          _time(lambda: unit_keys_arrow("bench-salt", arrow_ids, n_threads=threads), args.repeat)))
    for name, t in hash_rows:
        print(f"{name:<40} {t:>10.3f} {t / args.ids * 1e9:>8.0f} {t_ref / t:>10.1f}x")

    print("\nfirst call in a fresh process (s):")
    print(f"{'numba cache':<12} {'import':>8} {'kernel':>8} {'md5':>8}")
    for label, (t_import, t_kernel, t_hash) in _compile_times().items():
        print(f"{label:<12} {t_import:>8.2f} {t_kernel:>8.2f} {t_hash:>8.2f}")


if __name__ == "__main__":
    main()
