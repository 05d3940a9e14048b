"""Benchmark input made without rayab: an hour of Parquet event logs and the assignment rows behind them.

The generator is plain numpy and pyarrow, independent of :mod:`rayab.simulate`, so a bug shared by the simulator and
the job cannot hide in the benchmark's bit-for-bit check. The hour looks like an engagement log of two concurrent
experiments in two layers (every unit is in one experiment of each layer, with a 50/50 variant drawn at random, not
by a hash):

* ``n_experiments`` experiments (default 2) alternating between two layers;
* ``n_units`` unit ids ``user-NNNNNNNNNN`` (distinct, 15 bytes), event rates log-normal (a few heavy units);
* each of ``n_events / 2`` base events is logged once per experiment, with ``exp_id`` and ``variant_id``;
* country (12 values, skewed) and platform (4) per unit, and 1% of events on another platform than the unit's
  usual one, so a unit can fall into two cells of one experiment;
* ``impressions`` 1 + Poisson(2), ``clicks`` Binomial(impressions, 5%), ``revenue`` a float with two decimals;
* with ``latency``, a ``latency_ms`` per event: ``120 exp(z_u + N(0, 0.6))`` with a per-unit effect
  ``z_u ~ N(0, 0.5)``, times ``1 + Lomax(1.5)`` for 5% of events (clustered and heavy-tailed, as page loads are);
* rows shuffled and cut into ``n_files`` Parquet files (pyarrow defaults: dictionary pages, 1M-row row groups);
* the assignment table holds every unit of both experiments, 30% first assigned in the hour (they make the
  ``units`` metric) and the rest earlier that day.

>>> events, assignments = generate(2_000, 300, seed=3)
>>> events.num_rows, sorted(set(events.column("exp_id").to_pylist()))
(2000, ['exp0000', 'exp0001'])
>>> assignments.num_rows == 2 * len(set(events.column("unit_id").to_pylist()))
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HOUR = "2026-11-23T10"
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "AU", "ES", "IT", "MX")
COUNTRY_P = np.array([30, 10, 9, 8, 8, 8, 6, 6, 5, 4, 3, 3], float) / 100
PLATFORMS = ("ios", "android", "web", "tv")
PLATFORM_P = np.array([0.4, 0.35, 0.2, 0.05])


def _start() -> datetime:
    return datetime.strptime(HOUR, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def experiment_ids(n_experiments: int) -> list[str]:
    """``exp0000 ...``: the ids :func:`rayab.simulate.load_test_config` gives the same number of experiments."""
    return [f"exp{i:04d}" for i in range(n_experiments)]


def generate(n_events: int, n_units: int, seed: int = 1, n_experiments: int = 2,
             latency: bool = False) -> tuple[pa.Table, pa.Table]:
    """``(events, assignments)`` of one hour; ``events`` has ``n_events`` rows (rounded down to even), and a
    ``latency_ms`` column with ``latency``.

    Experiments alternate between two layers (even and odd positions); every unit is in one experiment of each
    layer, drawn at random."""
    rng = np.random.default_rng(seed)
    ids = pa.array([f"user-{x:010d}" for x in (np.arange(n_units, dtype=np.int64) * 7_919_993 + 12_345)
                    % 10_000_000_000], pa.string())
    rate = rng.lognormal(0.0, 1.0, n_units)
    n_base = n_events // 2
    unit = np.minimum(np.searchsorted(np.cumsum(rate / rate.sum()), rng.random(n_base)), n_units - 1)
    country = rng.choice(len(COUNTRIES), n_units, p=COUNTRY_P)
    platform = rng.choice(len(PLATFORMS), n_units, p=PLATFORM_P)
    event_platform = np.where(rng.random(n_base) < 0.01, rng.integers(0, len(PLATFORMS), n_base), platform[unit])
    impressions = 1 + rng.poisson(2.0, n_base)
    clicks = rng.binomial(impressions, 0.05)
    revenue = np.round(clicks * rng.lognormal(-0.7, 0.8, n_base), 2)
    start = np.datetime64(_start().replace(tzinfo=None), "us")
    times = start + rng.integers(0, 3_600_000_000, n_base).astype("timedelta64[us]")
    variants = pa.array(["control", "treatment"])
    base = {"event_time": pa.array(times, pa.timestamp("us", tz="UTC")), "unit_id": ids.take(pa.array(unit)),
            "country": pa.array(COUNTRIES).take(pa.array(country[unit])),
            "platform": pa.array(PLATFORMS).take(pa.array(event_platform)),
            "impressions": pa.array(impressions), "clicks": pa.array(clicks), "revenue": pa.array(revenue)}
    if latency:  # its own stream, so every other column is the same with and without it
        lat_rng = np.random.default_rng([seed, 7])
        unit_effect = lat_rng.normal(0.0, 0.5, n_units)
        slow = np.where(lat_rng.random(n_base) < 0.05, 1.0 + lat_rng.pareto(1.5, n_base), 1.0)
        noise = lat_rng.normal(0.0, 0.6, n_base)
        base["latency_ms"] = pa.array(np.round(120.0 * np.exp(unit_effect[unit] + noise) * slow, 1))
    seen = np.unique(unit)
    parts, firsts = [], []
    in_hour = rng.random(n_units) < 0.3
    minutes = rng.integers(0, 60, n_units)
    assigned = np.where(in_hour, start + minutes.astype("timedelta64[m]"),
                        start - (1 + minutes).astype("timedelta64[m]"))
    names = experiment_ids(n_experiments)
    for layer in (names[0::2], names[1::2]):
        exp_of_unit = rng.integers(0, len(layer), n_units)
        variant = rng.integers(0, 2, n_units)
        layer_ids = pa.array(layer)
        parts.append(pa.table({**base, "exp_id": layer_ids.take(pa.array(exp_of_unit[unit])),
                               "variant_id": variants.take(pa.array(variant[unit]))}))
        firsts.append(pa.table({
            "exp_id": layer_ids.take(pa.array(exp_of_unit[seen])), "date": pa.array([HOUR[:10]] * len(seen)),
            "unit_id": ids.take(pa.array(seen)), "variant_id": variants.take(pa.array(variant[seen])),
            "assigned_at": pa.array(assigned[seen], pa.timestamp("us", tz="UTC")),
            "country": pa.array(COUNTRIES).take(pa.array(country[seen])),
            "platform": pa.array(PLATFORMS).take(pa.array(platform[seen]))}))
    events = pa.concat_tables(parts)
    events = events.take(pa.array(rng.permutation(events.num_rows)))
    return events, pa.concat_tables(firsts)


def hour_folder(logs: Path) -> Path:
    """Where the hour's files go under a logs root (the layout ``run_hour`` reads)."""
    start = _start()
    return logs / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"


def write_hour(logs: Path, events: pa.Table, n_files: int) -> list[str]:
    """Cut ``events`` into ``n_files`` Parquet files of the hour's folder; their paths."""
    folder = hour_folder(logs)
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-events.num_rows // n_files)
    paths = []
    for i in range(n_files):
        path = folder / f"part-{i:04d}.parquet"
        pq.write_table(events.slice(i * step, step), path)
        paths.append(str(path))
    return paths


def first_assignments(assignments: pa.Table) -> pa.Table:
    """The assignment rows first made in the hour (the ``units`` metric's rows)."""
    at = assignments.column("assigned_at")
    start = _start()
    lo, hi = pa.scalar(start, at.type), pa.scalar(start + timedelta(hours=1), at.type)
    return assignments.filter(pc.and_(pc.greater_equal(at, lo), pc.less(at, hi)))
