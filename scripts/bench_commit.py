"""The hourly reducer's commit alone, per experiment partition: one ``write_deltalake`` of the whole hour (the
reference: delta-rs partitions and writes it natively in one call) against :func:`write_partitions` (the hour built
one experiment at a time from the running total, files written by a thread pool, one Delta commit).

No Ray: a :class:`CellSumsBuilder` is filled with synthetic sums of ``--experiments`` experiments (two variants x
``--cells-per-variant`` dimension cells each, the load-test analysis type's four metric columns, B replicates),
then each way digests the hour (the commit id) and commits it, ``--repeat`` times, alternating, into fresh
warehouses under a temporary folder; the medians are printed with the ratio, the peak private memory (``RssAnon``,
sampled) of each way, and the load.

    .venv/bin/python scripts/bench_commit.py --experiments 1000 --repeat 3
    .venv/bin/python scripts/bench_commit.py --experiments 10000 --cells-per-variant 7 --only "per partition"

Both ways in one process share its allocator: memory the first way freed is reused by the second without new
pages, so the second way's peak reads low. ``--only`` runs one way (fresh process) for its memory; the times of
the ratio come from the paired run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: scripts.* below

from rayab.aggregate.cell_sums import CellSumsBuilder
from rayab.aggregate.partials import hour_table, metric_columns
from rayab.simulate import load_test_config
from rayab.storage.commits import commit_digest, with_commit_id
from rayab.storage.partition_writes import write_partitions
from rayab.storage.tables import replace_partitions, table_version
from rayab.storage.warehouse import Warehouse
from scripts.bench_data import HOUR
from scripts.bench_pipeline import load_average

KEYS = ("exp_id", "variant_id")


def filled(n_experiments: int, cells_per_variant: int, n_replicates: int) -> tuple[CellSumsBuilder, tuple[str, ...]]:
    """A running total as the reducer holds it after the merge: every cell of every experiment, random sums."""
    at = load_test_config(2, n_replicates=n_replicates).analysis_types[0]
    names = (*KEYS, *at.dimensions)
    dims = [f"d{i:03d}" for i in range(cells_per_variant)]
    keys = [(f"exp{e:05d}", v, *([d] * len(at.dimensions))) for e in range(n_experiments)
            for v in ("control", "treatment") for d in dims]
    rng = np.random.default_rng(0)
    builder = CellSumsBuilder(metric_columns(at), n_replicates)
    n = len(keys)
    builder.add_block(keys, rng.integers(1, 100, n), {m: rng.integers(0, 1000, n) for m in builder.metrics},
                      {m: rng.integers(0, 1000, (n, n_replicates)) for m in builder.metrics})
    return builder, names


def whole_hour(builder: CellSumsBuilder, names: tuple[str, ...], warehouse: Warehouse, at: object) -> None:
    """The reference: the merged hour as one table, digested, written by one ``write_deltalake`` call."""
    table = hour_table(builder.result(names), HOUR, at)  # type: ignore[arg-type]
    commit_id = commit_digest([table], {})
    replace_partitions(warehouse, "agg", with_commit_id(table, commit_id), ["exp_id", "hour"], {"hour": HOUR})


def per_partition(builder: CellSumsBuilder, names: tuple[str, ...], warehouse: Warehouse, at: object) -> None:
    """The reducer's way: one experiment's rows at a time, digested, then written as files in parallel."""
    def tables() -> Iterator[pa.Table]:
        return (hour_table(s, HOUR, at) for s in builder.results_by_first_key(names))  # type: ignore[arg-type]

    commit_id = commit_digest(chain(tables(), []), {})
    write_partitions(warehouse, "agg", (with_commit_id(t, commit_id) for t in tables()), ["exp_id", "hour"],
                     {"hour": HOUR})


def _private_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(way: Callable[..., None], *args: object) -> tuple[float, float]:
    """Seconds of one commit and the peak private memory above the start, sampled every 20 ms."""
    base, peak, stop = _private_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _private_mb() - base)
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    way(*args)
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    return seconds, peak[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--cells-per-variant", type=int, default=32)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["whole hour (write_deltalake)", "per partition"],
                        help="run only this way (its peak memory without the other's pages)")
    args = parser.parse_args(argv)
    at = load_test_config(2, n_replicates=args.replicates).analysis_types[0]
    builder, names = filled(args.experiments, args.cells_per_variant, args.replicates)
    cells = builder.n_cells
    print(f"load average before: {load_average()}; {args.experiments} experiments, {cells} cells, "
          f"B={args.replicates}, running total {sum(r.nbytes for r in builder.reps.values()) / 2**20:.0f} MB")
    runs: dict[str, list[tuple[float, float]]] = {}
    ways = {name: way for name, way in (("whole hour (write_deltalake)", whole_hour), ("per partition", per_partition))
            if args.only in (None, name)}
    with tempfile.TemporaryDirectory(prefix="rayab-bench-commit-") as root:
        warehouses = {name: Warehouse.from_url(Path(root) / name.split()[0]) for name in ways}
        for name, way in ways.items():  # each table exists and holds the hour: a timed commit replaces it
            way(builder, names, warehouses[name], at)
        for _ in range(args.repeat):
            for name, way in ways.items():
                runs.setdefault(name, []).append(timed(way, builder, names, warehouses[name], at))
        versions = {name: table_version(wh, "agg") for name, wh in warehouses.items()}
        # one commit per replace either way (versions from 0; write_partitions created its table by an empty commit)
        expected = {"whole hour (write_deltalake)": args.repeat, "per partition": args.repeat + 1}
        assert versions == {name: expected[name] for name in ways}, versions
    print(f"load average after: {load_average()}")
    medians = {name: statistics.median(s for s, _ in r) for name, r in runs.items()}
    for name, r in runs.items():
        print(f"{name:>30}: {medians[name]:7.2f} s, {1000 * medians[name] / args.experiments:6.2f} ms per experiment "
              f"partition, peak private +{max(m for _, m in r):6.0f} MB")
    if len(medians) == 2:
        print(f"per partition / whole hour: {medians['per partition'] / medians['whole hour (write_deltalake)']:.2f}x")


if __name__ == "__main__":
    main()
