"""Synthetic hourly event logs with realistic skew, planted effects and the matching assignment rows.

Each unit has a random effect ``z ~ N(0, 1)`` that drives **both** its event rate (log-normal around the mean) and
its click propensity, so a unit's events are correlated, as in real traffic: an event-level bootstrap would
under-cover here, a unit-level one does not. Units are assigned with the real assignment hash
(:func:`rayab.assignment.assign_variant`) and appear in the ``assignment`` table at their first event. A variant's
planted relative difference ``rel_diff`` multiplies click probabilities, so the expected CTR of that variant is exactly
``(1 + rel_diff)`` times control's.

>>> config = demo_config()
>>> population = UnitPopulation.generate(1000, seed=1)
>>> events = simulate_hour(population, config.experiments, {"ranker_v2": {"treatment": 0.03}},
...                        "2026-11-23T10", seed=1)
>>> sorted(set(events.column("exp_id").to_pylist()))
['aa_check', 'ranker_v2']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.assignment import buckets, choose_variant, variant_ranges
from rayab.model import Config, Experiment
from rayab.model.hours import format_hour, parse_hour

__all__ = ["DEMO_REL_DIFFS", "LatencyWorld", "UnitPopulation", "assignment_table_from_events", "demo_config",
           "hour_offsets", "latency_config", "load_test_config", "simulate_days", "simulate_hour", "simulate_latency",
           "simulate_load"]

DEMO_REL_DIFFS: Mapping[str, Mapping[str, float]] = {"ranker_v2": {"treatment": 0.03}}
_COUNTRIES = ("US", "BR", "IN", "DE", "FR", "JP")
_COUNTRY_P = (0.35, 0.2, 0.2, 0.1, 0.1, 0.05)
_PLATFORMS = ("web", "ios", "android", "tv")
_PLATFORM_P = (0.4, 0.25, 0.3, 0.05)
# Share of a day's traffic in each UTC hour: a smooth diurnal curve.
_DIURNAL = 1.0 + 0.6 * np.sin((np.arange(24) - 9) / 24 * 2 * np.pi)
_DIURNAL = _DIURNAL / _DIURNAL.sum()


def demo_config(start_time: str = "2026-11-23T00:00:00Z") -> Config:
    """The demo's analysis type (``engagement``) and two experiments: ``ranker_v2`` (A/B) and ``aa_check`` (A/A)."""
    return Config.from_dict({
        "analysis_types": [{
            "name": "engagement", "dimensions": ["country", "platform"], "n_replicates": 200,
            "metrics": [{"name": "impressions"}, {"name": "clicks"}, {"name": "revenue", "decimals": 2}],
            "composed": {"ctr": "clicks / impressions", "revenue_per_unit": "revenue / units",
                         "rpm": "1000 * revenue / impressions"},
        }],
        "experiments": [
            {"exp_id": "ranker_v2", "name": "Ranker v2", "primary_kpi": "ctr", "start_time": start_time,
             "owner": "ranking-team@example.com",
             "description": "Does the v2 ranker raise the click-through rate without costing revenue?",
             "variants": [{"variant_id": "control", "traffic_pct": 50, "parameters": {"ranker": "v1"}},
                          {"variant_id": "treatment", "traffic_pct": 50, "parameters": {"ranker": "v2"}}]},
            {"exp_id": "aa_check", "name": "A/A check", "primary_kpi": "ctr", "start_time": start_time,
             "owner": "experimentation-platform@example.com",
             "description": "Two identical arms: the platform's false-positive rate and split should look normal.",
             "variants": [{"variant_id": "a", "traffic_pct": 50}, {"variant_id": "b", "traffic_pct": 50}]},
        ],
    })


@dataclass(frozen=True)
class UnitPopulation:
    """Units with their ids, random effect, attributes, daily event rate and base click propensity."""

    unit_ids: npt.NDArray[np.object_]
    effect: npt.NDArray[np.float64]
    country: npt.NDArray[np.object_]
    platform: npt.NDArray[np.object_]
    events_per_day: npt.NDArray[np.float64]
    click_prob: npt.NDArray[np.float64]

    @classmethod
    def generate(cls, n_units: int, seed: int = 0, mean_events_per_day: float = 4.0,
                 base_ctr: float = 0.05) -> UnitPopulation:
        """``n_units`` units; the same seed gives the same population."""
        rng = np.random.default_rng([seed, 0])
        z = rng.standard_normal(n_units)
        width = len(str(max(n_units - 1, 1)))
        ids = np.array([f"u{i:0{width}d}" for i in range(n_units)], dtype=object)
        return cls(
            unit_ids=ids, effect=z,
            country=np.array(_COUNTRIES, dtype=object)[rng.choice(len(_COUNTRIES), n_units, p=_COUNTRY_P)],
            platform=np.array(_PLATFORMS, dtype=object)[rng.choice(len(_PLATFORMS), n_units, p=_PLATFORM_P)],
            # log-normal multipliers with mean 1, both driven by the same z: heavy users click differently
            events_per_day=mean_events_per_day * np.exp(0.8 * z - 0.32),
            click_prob=np.minimum(base_ctr * np.exp(0.5 * z - 0.125), 0.5),
        )

    def variants_of(self, experiment: Experiment) -> npt.NDArray[np.object_]:
        """Each unit's variant id in ``experiment`` (None outside the rollout), by the real assignment hash."""
        positions = buckets(experiment.assignment_salt, self.unit_ids.tolist())
        ranges = variant_ranges([v.traffic_pct / 100 for v in experiment.variants], experiment.coverage)
        ids = [v.variant_id for v in experiment.variants]
        return np.array([None if (i := choose_variant(p, ranges)) < 0 else ids[i] for p in positions], dtype=object)


def simulate_hour(
    population: UnitPopulation,
    experiments: Sequence[Experiment],
    rel_diffs: Mapping[str, Mapping[str, float]],
    hour: str,
    seed: int = 0,
    variants: Mapping[str, npt.NDArray[np.object_]] | None = None,
) -> pa.Table:
    """One hour of events: a row per (event, experiment the unit is in), population carried in the log."""
    start = parse_hour(hour)
    rng = np.random.default_rng([seed, int(start.timestamp()) // 3600])
    variants = variants or {e.exp_id: population.variants_of(e) for e in experiments}
    multiplier = np.ones(len(population.unit_ids))
    for exp in experiments:
        for variant_id, rel_diff in rel_diffs.get(exp.exp_id, {}).items():
            multiplier[variants[exp.exp_id] == variant_id] *= 1.0 + rel_diff
    counts = rng.poisson(population.events_per_day * _DIURNAL[start.hour])
    unit_index = np.repeat(np.arange(len(counts)), counts)
    n = len(unit_index)
    impressions = 1 + rng.poisson(2.0, n)
    clicks = rng.binomial(impressions, np.minimum(population.click_prob[unit_index] * multiplier[unit_index], 1.0))
    revenue = np.round(clicks * rng.lognormal(-0.7, 0.8, n), 2)
    offsets = np.sort(rng.integers(0, 3_600_000_000, n))
    times = pa.array(np.datetime64(start.replace(tzinfo=None), "us") + offsets.astype("timedelta64[us]"),
                     pa.timestamp("us", tz="UTC"))
    parts = []
    for exp in experiments:
        exp_variants = variants[exp.exp_id][unit_index]
        keep = np.flatnonzero(exp_variants != None)  # noqa: E711  (object array of ids and None)
        parts.append(pa.table({
            "event_time": times.take(keep), "unit_id": population.unit_ids[unit_index[keep]].tolist(),
            "exp_id": pa.array([exp.exp_id] * len(keep), pa.string()),
            "variant_id": exp_variants[keep].tolist(),
            "country": population.country[unit_index[keep]].tolist(),
            "platform": population.platform[unit_index[keep]].tolist(),
            "impressions": impressions[keep], "clicks": clicks[keep], "revenue": revenue[keep],
        }))
    return pa.concat_tables(parts)


_FIRST_KEYS = ["exp_id", "unit_id", "variant_id", "country", "platform"]


def _first_events(table: pa.Table) -> pa.Table:
    return table.group_by(_FIRST_KEYS).aggregate([("event_time", "min")]).rename_columns(
        [*_FIRST_KEYS, "event_time"])


def assignment_table_from_events(events: Sequence[pa.Table]) -> pa.Table:
    """First assignment of every (exp_id, unit_id) seen in ``events``: its variant, time and attributes."""
    first = _first_events(pa.concat_tables([_first_events(e.select([*_FIRST_KEYS, "event_time"]))
                                            for e in events]))
    assigned_at = first.column("event_time")
    day = pc.strftime(assigned_at, format="%Y-%m-%d")
    out = pa.table({
        "exp_id": first.column("exp_id"), "date": day, "unit_id": first.column("unit_id"),
        "variant_id": first.column("variant_id"), "assigned_at": assigned_at,
        "country": first.column("country"), "platform": first.column("platform"),
    })
    return out.sort_by([("exp_id", "ascending"), ("unit_id", "ascending")])


def simulate_days(
    population: UnitPopulation,
    config: Config,
    rel_diffs: Mapping[str, Mapping[str, float]],
    hours: Sequence[str],
    write_hour: Callable[[str, pa.Table], None],
    seed: int = 0,
) -> pa.Table:
    """Simulate ``hours`` one by one, hand each hour's events to ``write_hour``; return the assignment rows."""
    variants = {e.exp_id: population.variants_of(e) for e in config.experiments}
    firsts: list[pa.Table] = []
    for hour in hours:
        events = simulate_hour(population, config.experiments, rel_diffs, hour, seed, variants)
        write_hour(hour, events)
        firsts.append(_first_events(events.select([*_FIRST_KEYS, "event_time"])))
    return assignment_table_from_events(firsts)


def hour_offsets(first_hour: str, count: int) -> list[str]:
    """``count`` consecutive hours from ``first_hour``."""
    start = parse_hour(first_hour)
    return [format_hour(start + timedelta(hours=i)) for i in range(count)]


_LOAD_COUNTRIES = ("US", "BR", "IN", "DE", "FR", "JP", "GB", "MX", "ID", "TR", "KR", "CA")
_LOAD_COUNTRY_P = (0.25, 0.12, 0.12, 0.07, 0.07, 0.06, 0.06, 0.06, 0.05, 0.05, 0.05, 0.04)


def load_test_config(n_experiments: int = 2, n_replicates: int = 200,
                     start_time: str = "2026-11-23T00:00:00Z") -> Config:
    """A config for load tests: one ``engagement`` analysis type (12 countries x 4 platforms) and ``n_experiments``
    two-variant experiments ``exp0000 ...``, split over two layers (so every unit is in two experiments).

    >>> cfg = load_test_config(4, n_replicates=100)
    >>> [e.exp_id for e in cfg.experiments], cfg.analysis_types[0].n_replicates
    (['exp0000', 'exp0001', 'exp0002', 'exp0003'], 100)
    """
    at = {**demo_config().analysis_types[0].to_dict(), "n_replicates": n_replicates}
    experiments = [{"exp_id": f"exp{i:04d}", "name": f"load {i}", "primary_kpi": "ctr", "start_time": start_time,
                    "layer": f"layer{i % 2}",
                    "variants": [{"variant_id": "control", "traffic_pct": 50},
                                 {"variant_id": "treatment", "traffic_pct": 50}]} for i in range(n_experiments)]
    return Config.from_dict({"analysis_types": [at], "experiments": experiments})


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A 64-bit integer mixer (splitmix64's finaliser): cheap, vectorised, deterministic layer placement."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def simulate_load(config: Config, n_events: int, n_units: int, hour: str, seed: int = 0,
                  with_exp_ids: bool = True) -> tuple[pa.Table, pa.Table]:
    """``(events, assignments)`` for load tests: about ``n_events`` rows from up to ``n_units`` skewed units.

    Experiments are split over two layers (even and odd positions in ``config.experiments``); every unit is in one
    experiment of each layer and one of its two variants, chosen by a 64-bit mix of the unit number (not the
    assignment hash: this is about volume, and it is vectorised). With ``with_exp_ids`` each event appears once per
    experiment of the unit, carrying exp_id and variant_id; without, each event appears once carrying only the
    unit (the assignment-join input). The assignment rows are every (experiment, unit) seen, first assigned at the
    unit's first event of the hour.

    >>> events, firsts = simulate_load(load_test_config(2), 1000, 100, "2026-11-23T10", seed=1)
    >>> events.num_rows, sorted(set(events.column("exp_id").to_pylist())), firsts.num_rows <= 200
    (1000, ['exp0000', 'exp0001'], True)
    """
    rng = np.random.default_rng([seed, 17])
    start = parse_hour(hour)
    rate = np.exp(rng.normal(0.0, 1.0, n_units))
    layers = [config.experiments[i::2] for i in range(min(2, len(config.experiments)))]
    n_base = n_events // len(layers) if with_exp_ids else n_events
    unit_index = np.sort(rng.choice(n_units, n_base, p=rate / rate.sum()))
    rng.shuffle(unit_index)
    width = len(str(max(n_units - 1, 1)))
    ids = pa.array([f"u{i:0{width}d}" for i in range(n_units)], pa.string())
    country = rng.choice(len(_LOAD_COUNTRIES), n_units, p=_LOAD_COUNTRY_P)
    platform = rng.choice(len(_PLATFORMS), n_units, p=_PLATFORM_P)
    impressions = 1 + rng.poisson(2.0, n_base)
    clicks = rng.binomial(impressions, 0.05)
    revenue = np.round(clicks * rng.lognormal(-0.7, 0.8, n_base), 2)
    offsets = np.sort(rng.integers(0, 3_600_000_000, n_base))
    times = pa.array(np.datetime64(start.replace(tzinfo=None), "us") + offsets.astype("timedelta64[us]"),
                     pa.timestamp("us", tz="UTC"))
    base = {"event_time": times, "unit_id": _take(ids, unit_index),
            "country": _take(pa.array(_LOAD_COUNTRIES), country[unit_index]),
            "platform": _take(pa.array(_PLATFORMS), platform[unit_index]),
            "impressions": pa.array(impressions), "clicks": pa.array(clicks), "revenue": pa.array(revenue)}
    parts, firsts = [], []
    units = np.arange(n_units, dtype=np.uint64)
    for layer_no, layer in enumerate(layers):
        mixed = _mix(units * np.uint64(2) + np.uint64(layer_no) + np.uint64(seed) * np.uint64(1 << 40))
        exp_of_unit = (mixed % np.uint64(len(layer))).astype(np.int64)
        variant_of_unit = ((mixed >> np.uint64(32)) & np.uint64(1)).astype(np.int64)
        exp_ids = pa.array([e.exp_id for e in layer], pa.string())
        variants = pa.array(["control", "treatment"], pa.string())
        tagged = pa.table({**base, "exp_id": _take(exp_ids, exp_of_unit[unit_index]),
                           "variant_id": _take(variants, variant_of_unit[unit_index])})
        parts.append(tagged)
        firsts.append(_first_events(tagged.select([*_FIRST_KEYS, "event_time"])))
    events = pa.concat_tables(parts) if with_exp_ids else pa.table(base)
    return events, assignment_table_from_events(firsts)


def _take(values: pa.Array, index: npt.NDArray[np.int64]) -> pa.Array:
    return values.take(pa.array(index, pa.int64()))


def latency_config(n_replicates: int = 200, start_time: str = "2026-11-23T00:00:00Z",
                   quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> Config:
    """A performance experiment ``speed_v2`` (control / treatment, 50 / 50) with the analysis type ``perf``:
    ``requests`` (a count), ``latency`` (quantiles of ``latency_ms``) and the dimension ``platform``.

    >>> latency_config().analysis_types[0].quantile_outputs
    ('latency_p50', 'latency_p90', 'latency_p99')
    """
    return Config.from_dict({
        "analysis_types": [{"name": "perf", "dimensions": ["platform"], "n_replicates": n_replicates,
                            "metrics": [{"name": "requests", "kind": "count"},
                                        {"name": "latency", "kind": "quantile", "column": "latency_ms",
                                         "quantiles": list(quantiles)}]}],
        "experiments": [{"exp_id": "speed_v2", "name": "Faster backend", "primary_kpi": "latency_p90",
                         "start_time": start_time, "analysis_types": ["perf"],
                         "variants": [{"variant_id": "control", "traffic_pct": 50},
                                      {"variant_id": "treatment", "traffic_pct": 50}],
                         "guardrails": [{"metric": "latency_p99", "bad_direction": "increase", "tolerance_pct": 5}]}],
    })


@dataclass(frozen=True)
class LatencyWorld:
    """Hourly events (``unit_id, exp_id, variant_id, platform, event_time, latency_ms``) and assignment rows."""

    events: dict[str, pa.Table]
    assignments: pa.Table


def simulate_latency(n_units: int, hours: Sequence[str], seed: int = 0, shift: float = 0.0,
                     events_per_hour: float = 4.0, unit_sd: float = 0.5, event_sd: float = 0.6,
                     median_ms: float = 120.0, slow_share: float = 0.05, missing_share: float = 0.1,
                     exp_id: str = "speed_v2") -> LatencyWorld:
    """Clustered, heavy-tailed page-load times: unit ``u`` has a random effect ``z_u ~ N(0, unit_sd)`` shared by
    all its events; an event's latency is ``median_ms * exp(z_u + N(0, event_sd))``, times ``1 + Lomax(1.5)`` for a
    ``slow_share`` of events (the heavy tail), times ``1 + shift`` in the treatment (every quantile moves by that
    factor). Units get ``Poisson(events_per_hour)`` events per hour and are assigned at the start of the first
    hour; a ``missing_share`` of events carry no latency (null), as log rows of other kinds would.

    >>> world = simulate_latency(50, ["2026-11-23T00"], seed=1)
    >>> world.assignments.num_rows, world.events["2026-11-23T00"].column_names
    (50, ['unit_id', 'exp_id', 'variant_id', 'platform', 'event_time', 'latency_ms'])
    """
    rng = np.random.default_rng(seed)
    units = np.array([f"u{seed}-{i}" for i in range(n_units)])
    variant = np.where(rng.random(n_units) < 0.5, "control", "treatment")
    platform = rng.choice(np.array(_PLATFORMS[:3]), n_units)
    effect = rng.normal(0.0, unit_sd, n_units)
    start = parse_hour(hours[0]) if hours else parse_hour("2026-11-23T00")
    events: dict[str, pa.Table] = {}
    for hour in hours:
        per_unit = rng.poisson(events_per_hour, n_units)
        who = np.repeat(np.arange(n_units), per_unit)
        latency = median_ms * np.exp(effect[who] + rng.normal(0.0, event_sd, len(who)))
        slow = rng.random(len(who)) < slow_share
        latency[slow] *= 1.0 + rng.pareto(1.5, int(slow.sum()))
        latency *= np.where(variant[who] == "treatment", 1.0 + shift, 1.0)
        values = pa.array(np.round(latency, 3), pa.float64(), mask=rng.random(len(who)) < missing_share)
        base = parse_hour(hour)
        times = [base + timedelta(seconds=float(s)) for s in rng.uniform(0, 3599, len(who))]
        events[hour] = pa.table({"unit_id": pa.array(units[who].tolist(), pa.string()),
                                 "exp_id": pa.array([exp_id] * len(who), pa.string()),
                                 "variant_id": pa.array(variant[who].tolist(), pa.string()),
                                 "platform": pa.array(platform[who].tolist(), pa.string()),
                                 "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
                                 "latency_ms": values})
    assignments = pa.table({"exp_id": pa.array([exp_id] * n_units, pa.string()),
                            "date": pa.array([start.date().isoformat()] * n_units, pa.string()),
                            "unit_id": pa.array(units.tolist(), pa.string()),
                            "variant_id": pa.array(variant.tolist(), pa.string()),
                            "assigned_at": pa.array([start] * n_units, pa.timestamp("us", tz="UTC")),
                            "platform": pa.array(platform.tolist(), pa.string())})
    return LatencyWorld(events, assignments)
