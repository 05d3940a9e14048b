"""Benchmark: one hour of the hourly job read from each event source vs the same hour in rayab's own layout.

The same simulated events (``simulate_load``, two experiments, B = 100) are written as:

* ``own``: Parquet files in ``date=/hour=`` folders (the reference);
* ``flat``: a flat folder holding three hours (the one run and its neighbours), sorted by an event-time column
  ``ts``, so file and row-group statistics skip the other hours;
* ``delta``: a Delta table holding the same three hours, filtered to the hour by ``ts``;
* ``sql``: a DuckDB query over the flat folder's Parquet files, ``ts >= {start} AND ts < {end}``;
* ``iceberg``: an Iceberg table (pyiceberg, SQL catalog on SQLite) of the flat folder's files, when the extra
  ``rayab[iceberg]`` is installed;
* ``csv.gz`` and ``jsonl.gz``: gzip text files in ``date=/hour=`` folders.

Every source's partitions are checked equal to the reference's (all raw and replicate sums) before a time is
printed. Then ``--repeat`` rounds run each source once in turn, on a Ray that is already up (as on a long-lived
cluster): the median time is quoted, and the ratio to ``own`` is the median of the rounds' ratios, so a load that
drifts during the benchmark (a shared machine) weighs on every source alike. For the
text formats the decompression and the parse of the same files are timed apart, in this process, single-threaded,
as a map task does them.

    .venv/bin/python scripts/bench_sources.py --events 1000000
    .venv/bin/python scripts/bench_sources.py --events 10000000 --repeat 3

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rayab.model import Config
from rayab.model.hours import parse_hour
from rayab.simulate import load_test_config, simulate_load
from rayab.storage.logs import _read_jsonl, decompress, hour_folder, read_csv
from rayab.storage.schemas import ASSIGNMENT_TABLE
from rayab.storage.tables import read_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

HOUR = "2026-11-23T10"
N_FILES = 4


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _with_time(events: pa.Table, hour_offset: int, seed: int) -> pa.Table:
    start = parse_hour(HOUR) + timedelta(hours=hour_offset)
    rng = np.random.default_rng(seed)
    micros = np.sort(rng.integers(0, 3_600_000_000, events.num_rows))
    base = int(start.timestamp() * 1_000_000)
    ts = pa.array(base + micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return events.append_column("ts", ts)


def _split(table: pa.Table, n: int) -> list[pa.Table]:
    step = -(-table.num_rows // n)
    return [table.slice(i * step, step) for i in range(n)]


def prepare(root: Path, n_events: int) -> dict[str, str]:
    """Every layout of the same events under ``root`` (made once, reused while its marker file exists)."""
    folder = root / f"sources{n_events}"
    flat, delta = folder / "flat", folder / "delta"
    paths = {"own": str(folder / "own"), "flat": str(flat), "delta": str(delta), "csv.gz": str(folder / "csv"),
             "jsonl.gz": str(folder / "jsonl"), "warehouse": str(folder / "wh")}
    if (folder / "READY").exists():
        return {**paths, **_iceberg(folder, flat)}
    from deltalake import write_deltalake

    _log(f"generating {n_events:,} events in {folder}")
    config = load_test_config(2, n_replicates=100)
    events, firsts = simulate_load(config, n_events, max(n_events // 10, 1000), HOUR, seed=1)
    events = events.take(pa.array(np.random.default_rng(2).permutation(events.num_rows)))
    replace_partitions(Warehouse.from_url(paths["warehouse"]), ASSIGNMENT_TABLE, firsts, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    hour = _with_time(events, 0, 3)  # sorted by ts: the files of the hour in time order
    own_folder = Path(hour_folder(paths["own"], HOUR))
    own_folder.mkdir(parents=True)
    for i, part in enumerate(_split(hour.drop_columns(["ts"]), N_FILES)):
        pq.write_table(part, own_folder / f"part-{i}.parquet")
    flat.mkdir(parents=True)
    for offset in (-1, 0, 1):
        table = hour if offset == 0 else _with_time(events, offset, 4 + offset)
        for i, part in enumerate(_split(table, N_FILES)):
            pq.write_table(part, flat / f"h{offset + 1}-part-{i}.parquet", row_group_size=128 * 1024)
            write_deltalake(str(delta), part, mode="append")
    text = hour.drop_columns(["ts"])
    for name, path in (("csv.gz", paths["csv.gz"]), ("jsonl.gz", paths["jsonl.gz"])):
        target = Path(hour_folder(path, HOUR))
        target.mkdir(parents=True)
        for i, part in enumerate(_split(text, N_FILES)):
            file = target / f"part-{i}.{name.split('.')[0]}.gz"
            if name == "csv.gz":
                buffer = io.BytesIO()
                pacsv.write_csv(part, buffer)
                file.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6))
            else:
                _write_jsonl_gz(part, file)
    (folder / "READY").write_text("ok\n")
    return {**paths, **_iceberg(folder, flat)}


def _write_jsonl_gz(table: pa.Table, file: Path) -> None:
    """``table`` as gzip JSON lines, one object per row (DuckDB's writer: a 10M-event hour in seconds, where
    ``json.dumps`` per row took over 25 minutes on a loaded machine)."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("part", table)
        con.execute(f"COPY part TO '{file}' (FORMAT JSON, COMPRESSION GZIP)")


def _iceberg(folder: Path, flat: Path) -> dict[str, str]:
    """An Iceberg table of the flat folder's files, one append per file (made once); its catalog properties as
    JSON under ``iceberg``, or nothing without pyiceberg."""
    try:
        from pyiceberg.catalog import load_catalog
    except ImportError:
        return {}
    properties = {"name": "bench", "type": "sql", "uri": f"sqlite:///{folder}/iceberg.db",
                  "warehouse": f"file://{folder}/iceberg"}
    if not (folder / "ICEBERG_READY").exists():
        import shutil

        (folder / "iceberg.db").unlink(missing_ok=True)
        shutil.rmtree(folder / "iceberg", ignore_errors=True)
        (folder / "iceberg").mkdir()
        catalog = load_catalog(**properties)
        catalog.create_namespace("bench")
        files = sorted(flat.glob("*.parquet"))
        first = pq.read_table(files[0])
        plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                           for f in first.schema])
        table = catalog.create_table("bench.events", schema=plain)
        for file in files:
            table.append(pq.read_table(file).cast(plain))
        (folder / "ICEBERG_READY").write_text("ok\n")
    return {"iceberg": json.dumps(properties)}


def _config(source: dict[str, Any] | None) -> Config:
    data = load_test_config(2, n_replicates=100).to_dict()
    if source is not None:
        data["analysis_types"][0]["source"] = source
    return Config.from_dict(data)


def sources(paths: dict[str, str]) -> dict[str, dict[str, Any] | None]:
    glob = f"{paths['flat']}/*.parquet"
    return {
        "own": None,
        "flat": {"kind": "files", "path": paths["flat"], "layout": "flat", "timestamp_column": "ts"},
        "delta": {"kind": "delta", "path": paths["delta"], "timestamp_column": "ts"},
        "sql": {"kind": "sql", "query": f"SELECT * FROM read_parquet('{glob}') WHERE ts >= {{start}} AND ts < {{end}}"},
        **({"iceberg": {"kind": "iceberg", "table": "bench.events", "catalog": json.loads(paths["iceberg"]),
                        "timestamp_column": "ts"}} if "iceberg" in paths else {}),
        "csv.gz": {"kind": "files", "path": paths["csv.gz"]},
        "jsonl.gz": {"kind": "files", "path": paths["jsonl.gz"]},
    }


def _sums(warehouse: Warehouse) -> list[dict[str, Any]]:
    rows = read_rows(warehouse, "agg_engagement", where={"hour": HOUR})
    keep = [c for c in rows.column_names if c != "commit_id"]
    return sorted(rows.select(keep).to_pylist(), key=lambda r: (r["exp_id"], r["variant_id"], r["country"],
                                                               r["platform"]))


def text_costs(folder: str) -> dict[str, float]:
    """Seconds to decompress, and to parse, every file of the hour (one thread, as in a map task)."""
    files = sorted(Path(hour_folder(folder, HOUR)).iterdir())
    raw = [f.read_bytes() for f in files]
    started = time.perf_counter()
    plain = [decompress(data, "gzip") for data in raw]
    unzip = time.perf_counter() - started
    started = time.perf_counter()
    for data, file in zip(plain, files, strict=True):
        if ".csv" in file.name:
            read_csv(data, ["unit_id", "exp_id", "variant_id", "country", "platform"])
        else:
            _read_jsonl(data)
    return {"decompress": unzip, "parse": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/tmp/rayab-bench-sources")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", action="append", help="only these sources (repeatable)")
    args = parser.parse_args(argv)
    paths = prepare(Path(args.data), args.events)

    import ray

    from rayab.hourly.job import new_reducer, run_hour

    # a Ray of its own (address="local"), never a cluster that another program started on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        reducer = new_reducer()
        warehouse = Warehouse.from_url(paths["warehouse"])
        chosen = [(name, source) for name, source in sources(paths).items()
                  if not args.only or name in args.only or name == "own"]
        # first one run of each source, untimed (workers start and compile their kernels once, as on a long-lived
        # cluster), whose partitions must equal the reference's
        reference: list[dict[str, Any]] | None = None
        checks: dict[str, tuple[str, int]] = {}
        for name, source in chosen:
            (summary,) = run_hour(_config(source), HOUR, paths["own"] if source is None else None, warehouse,
                                  reducer=reducer)
            sums = _sums(warehouse)
            reference = sums if reference is None else reference
            checks[name] = ("same sums" if sums == reference else "DIFFERENT SUMS", summary.rows_read)
            _log(f"{name}: {checks[name][0]}")
        # then rounds of one run of each source in turn: a load that drifts weighs on every source alike, and each
        # round gives a ratio to the reference's run of the same round
        times: dict[str, list[float]] = {name: [] for name, _ in chosen}
        stages: dict[str, list[dict[str, float]]] = {name: [] for name, _ in chosen}
        loads: list[float] = []
        for _ in range(args.repeat):
            for name, source in chosen:
                config = _config(source)
                started = time.perf_counter()
                (summary,) = run_hour(config, HOUR, paths["own"] if source is None else None, warehouse,
                                      reducer=reducer)
                times[name].append(time.perf_counter() - started)
                stages[name].append(summary.seconds)
                loads.append(os.getloadavg()[0])
    finally:
        ray.shutdown()
    print(f"{'source':<10} {'median s':>9} {'ratio':>6} {'rows':>10}  runs (s){'':<24} check   "
          f"(ratio: median of the rounds' ratios; load {min(loads):.1f}-{max(loads):.1f})")
    for name, _ in chosen:
        ratio = _median([t / o for t, o in zip(times[name], times["own"], strict=True)])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:<10} {_median(times[name]):>9.2f} {ratio:>6.2f} {checks[name][1]:>10,}  {runs:<32} "
              f"{checks[name][0]}")
    print("stages, median s (plan: listing and first assignments in the driver; read: until every map task is "
          "done; shards; commit)")
    for name, _ in chosen:
        print(f"{name:<10} " + "  ".join(f"{stage} {_median([s.get(stage, 0.0) for s in stages[name]]):.2f}"
                                         for stage in ("plan", "read", "shards", "commit")))
    for name in ("csv.gz", "jsonl.gz"):
        if args.only and name not in args.only:
            continue
        costs = text_costs(paths[name])
        print(f"{name}: decompress {costs['decompress']:.2f} s + parse {costs['parse']:.2f} s "
              f"(all {N_FILES} files, one thread)")


if __name__ == "__main__":
    main()
