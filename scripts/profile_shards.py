"""Profile: where one shard of the hourly job spends its time, and what collapsing several splits at once would save.

In one process, without Ray, on the data of :mod:`bench_pipeline` (made there if missing): every split of the hour
is read and validated as a map task does, then for each ``--group`` size the splits' valid events are collapsed in
groups of that many splits (1 = what map tasks do today, one split each) and shard 0 of 2 runs its steps one by
one, timed apart: the k-way merge of the pieces, md5 keys, the check for events of unassigned units, the fused
replicate sums. It prints the unit rows the collapse ships, so the cost of a per-split collapse (a unit's events
spread over many files give one row per file) shows next to a grouped one.

    .venv/bin/python scripts/profile_shards.py --data /tmp/rayab-speed-bench --group 1 4
    .venv/bin/python scripts/profile_shards.py --data /tmp/rayab-speed-bench --events 30000000 --units 2700000 \\
        --files 24 --group 1 12

>>> _groups([1, 2, 3, 4, 5], 2)
[[1, 2], [3, 4], [5]]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: scripts.* below

from rayab.aggregate.shards import partial_from_unit_rows
from rayab.aggregate.unit_rows import (
    assignment_keys,
    assignment_unit_ids,
    event_unit_ids,
    key_unit_ids,
    merge_unit_ids,
    unassigned_events,
)
from rayab.aggregate.validate import required_columns, validate_events_counted
from rayab.hourly.job import _dictionary_columns, _text_columns, hour_input
from rayab.simulate import load_test_config
from rayab.storage.schemas import ASSIGNMENT_TABLE
from rayab.storage.sources import read_part
from rayab.storage.tables import read_rows
from scripts.bench_data import HOUR
from scripts.bench_pipeline import Prepared

T = TypeVar("T")
N_SHARDS = 2


def _groups(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the folder of bench_pipeline.py's generated logs")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=900_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--group", type=int, nargs="+", default=[1, 4], help="splits collapsed together")
    parser.add_argument("--replicates", type=int, default=100)
    args = parser.parse_args(argv)
    data = Prepared(Path(args.data), args.events, args.units, args.files)
    config = load_test_config(data.n_experiments, n_replicates=args.replicates)
    at = config.analysis_types[0]
    salts = {e.exp_id: e.bootstrap_salt for e in config.experiments}
    variants = {e.exp_id: [v.variant_id for v in e.variants] for e in config.experiments}
    started = time.perf_counter()
    valid = []
    for part in hour_input(at, HOUR, data.logs).parts:
        table = read_part(part, required_columns(at, "log"), at.unit_column, None, _dictionary_columns(at),
                          _text_columns(at)).table
        valid.append(validate_events_counted(table, at, variants, part.label, HOUR, "log").valid)
    print(f"{len(valid)} splits read and validated in {time.perf_counter() - started:.2f} s")
    known = assignment_keys(read_rows(data.warehouse, ASSIGNMENT_TABLE).select(["exp_id", "unit_id"]), salts)
    units = assignment_unit_ids(data.firsts, at, N_SHARDS)[0]
    print(f"{'splits per task':>15} {'tasks':>5} {'rows shipped':>13} {'collapse s':>10} | shard 0 of {N_SHARDS}: "
          f"{'rows in':>11} {'merge s':>7} {'md5 s':>6} {'unassigned s':>12} {'sums s':>6} {'rows out':>10}")
    for size in args.group:
        tables = [pa.concat_tables(g) for g in _groups(valid, size)]
        clock = time.perf_counter()
        pieces = [event_unit_ids(t, at, N_SHARDS) for t in tables]
        collapse = time.perf_counter() - clock
        shipped = sum(p.num_rows for task in pieces for p in task)
        mine = [task[0] for task in pieces] + [units]
        clock = time.perf_counter()
        merged = merge_unit_ids(mine)
        merge = time.perf_counter() - clock
        clock = time.perf_counter()
        rows = key_unit_ids(merged, at, salts)
        md5 = time.perf_counter() - clock
        clock = time.perf_counter()
        unassigned_events(rows, known)
        unassigned = time.perf_counter() - clock
        clock = time.perf_counter()
        partial_from_unit_rows(rows, at)
        sums = time.perf_counter() - clock
        print(f"{size:>15} {len(tables):>5} {shipped:>13,} {collapse:>10.2f} | {'':>13}"
              f"{sum(p.num_rows for p in mine):>11,} {merge:>7.2f} {md5:>6.2f} {unassigned:>12.2f} {sums:>6.2f} "
              f"{rows.num_rows:>10,}")


if __name__ == "__main__":
    main()
