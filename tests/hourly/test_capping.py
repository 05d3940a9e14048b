"""Capped (winsorized) metrics: each unit's hour total clipped before summing, checked against plain Python on raw
events; additive over shards (S = 1 vs S = 4) and hours; a derived cap frozen from a past window of logs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.caps import derive_cap, quantile_cap, unit_hour_totals
from rayab.aggregate.cell_sums import CellSums
from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.unit_rows import event_unit_ids
from rayab.errors import SpecError, ValidationError
from rayab.model import AnalysisType, Metric
from rayab.stats.poisson_weights import weights_for
from rayab.storage.logs import write_log_file

SALT = "salt-e"
B = 16


def _analysis_type() -> AnalysisType:
    return AnalysisType("t", (Metric("revenue", decimals=2, allow_negative=True),
                              Metric("revenue_capped", column="revenue", decimals=2, allow_negative=True, cap=20.0,
                                     cap_low=-5.0)),
                        dimensions=("country",), n_replicates=B)


def _events(seed: int, n: int = 3000) -> pa.Table:
    """Heavy-tailed revenue (Pareto, some refunds), many events per unit, units that change country."""
    rng = np.random.default_rng(seed)
    units = rng.integers(0, 400, n)
    revenue = np.round((rng.pareto(1.3, n) * 3.0) * np.where(rng.random(n) < 0.05, -1, 1), 2)
    return pa.table({"exp_id": ["e"] * n, "variant_id": np.where(units % 2 == 0, "a", "b").tolist(),
                     "unit_id": [f"u{u}" for u in units], "country": rng.choice(["US", "DE"], n).tolist(),
                     "revenue": revenue, "revenue_capped": np.round(revenue * 100).astype(np.int64)})


def _with_ints(events: pa.Table) -> pa.Table:
    cents = np.round(np.asarray(events.column("revenue")) * 100).astype(np.int64)
    return events.set_column(events.schema.get_field_index("revenue"), "revenue", pa.array(cents))


def _partial(events: pa.Table, at: AnalysisType, n_shards: int) -> CellSums:
    pieces = event_unit_ids(_with_ints(events), at, n_shards)
    total = CellSums.zero(("exp_id", "variant_id", "country"), ("units", "revenue", "revenue_capped"), B)
    for shard in range(n_shards):
        total = total + shard_partial_ids([pieces[shard]], at, {"e": SALT}).partial
    return total


def _reference(hours: list[pa.Table], cap: float | None, low: float | None) -> dict[tuple[str, ...], np.ndarray]:
    """Per cell: [raw, reps...] of revenue in cents, each (unit, hour, cell) total clipped, by plain Python."""
    out: dict[tuple[str, ...], np.ndarray] = defaultdict(lambda: np.zeros(1 + B))
    for events in hours:
        per_unit: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
        for row in events.to_pylist():
            per_unit[(("e", row["variant_id"], row["country"]), row["unit_id"])] += row["revenue_capped"]
        for (cell, unit), cents in per_unit.items():
            value = cents
            if cap is not None:
                value = min(value, round(cap * 100))
            if low is not None:
                value = max(value, round(low * 100))
            w = weights_for(SALT, [unit], B)[0].astype(float)
            out[cell] += np.concatenate([[value], value * w])
    return out


def _check(partial: CellSums, metric: int, reference: dict[tuple[str, ...], np.ndarray]) -> None:
    name = partial.metric_names[metric]
    assert set(partial.keys) == set(reference)
    for i, key in enumerate(partial.keys):
        assert partial.raw[name][i] == reference[key][0]
        assert partial.reps[name][i].tolist() == reference[key][1:].tolist()


def test_capped_sums_equal_plain_python_over_clipped_unit_hour_totals() -> None:
    at = _analysis_type()
    events = _events(1)
    partial = _partial(events, at, n_shards=1)
    _check(partial, 2, _reference([events], 20.0, -5.0))
    _check(partial, 1, _reference([events], None, None))  # the uncapped metric of the same column is untouched
    assert (partial.raw["revenue_capped"] < partial.raw["revenue"]).all()  # the tail was cut in every cell


def test_capped_sums_add_over_shards_and_hours() -> None:
    at = _analysis_type()
    hours = [_events(2), _events(3)]
    one = [_partial(h, at, 1) for h in hours]
    four = [_partial(h, at, 4) for h in hours]
    for a, b in zip(one, four, strict=True):
        assert a.keys == b.keys
        for m in a.metric_names:
            assert (a.raw[m] == b.raw[m]).all() and (a.reps[m] == b.reps[m]).all()
    window = one[0] + one[1]
    _check(window, 2, _reference(hours, 20.0, -5.0))
    # capping is per hour: clipping the two hours' total per unit instead would give less
    merged = _partial(pa.concat_tables(hours), at, 1)
    assert (merged.raw["revenue_capped"] <= window.raw["revenue_capped"]).all()
    assert merged.raw["revenue_capped"].sum() < window.raw["revenue_capped"].sum()


@pytest.mark.parametrize(("metric", "field", "text"), [
    ({"name": "r", "cap": 0}, "cap", "must be in (0, 1e+15]"),
    ({"name": "r", "cap_low": 1.5}, "cap_low", "must be in [-1e+15, 0]"),
    ({"name": "r", "cap": "big"}, "cap", "must be a finite number"),
    ({"name": "r", "cap_basis": "p99"}, "cap_basis", "needs a cap or cap_low"),
])
def test_bad_caps_name_the_field(metric: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(SpecError) as info:
        Metric.from_dict(metric)
    assert info.value.field == f"metric.{field}" and text in str(info.value)


def test_a_capped_metric_cannot_be_cuped_adjusted() -> None:
    with pytest.raises(SpecError, match="cuped\\[0\\]"):
        AnalysisType("t", (Metric("r", cap=5.0),), cuped=("r",))


def test_caps_round_trip_in_the_spec_and_leave_uncapped_specs_as_they_were() -> None:
    at = _analysis_type()
    assert AnalysisType.from_dict(at.to_dict()) == at
    assert "cap" not in AnalysisType("t", (Metric("r"),)).to_dict()["metrics"][0]


def test_derived_cap_is_the_quantile_of_unit_hour_totals_of_past_logs(tmp_path: Path) -> None:
    at = _analysis_type()
    hours = ["2026-11-22T00", "2026-11-22T01"]
    totals = []
    for i, hour in enumerate(hours):
        events = _events(10 + i)
        half = events.num_rows // 2  # two files of one hour: a unit's events in both are one total
        write_log_file(str(tmp_path), hour, "a.parquet", events.slice(0, half))
        write_log_file(str(tmp_path), hour, "b.parquet", events.slice(half))
        per_unit: dict[str, int] = defaultdict(int)
        for row in events.to_pylist():
            per_unit[row["unit_id"]] += row["revenue_capped"]
        totals += [v for v in per_unit.values() if v > 0]
    expected = sorted(totals)[int(np.ceil(0.9 * len(totals))) - 1] / 100  # the inverted-cdf order statistic
    metric = derive_cap(str(tmp_path), at, "revenue", hours, 0.9)
    assert metric.name == "revenue_capped" and metric.column == "revenue" and metric.decimals == 2
    assert metric.cap == pytest.approx(expected, abs=1e-12)
    assert metric.cap_basis.startswith(f"p90 of {len(totals)} positive unit-hour totals of revenue")
    assert unit_hour_totals(pa.table({"exp_id": [], "unit_id": [], "revenue": []}), "revenue").size == 0
    with pytest.raises(ValidationError, match="quantile"):
        quantile_cap(np.array([1, 2]), 1.0)


def test_rayab_cap_prints_the_frozen_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rayab.cli.main import main
    from rayab.simulate import UnitPopulation, demo_config, simulate_hour

    config = demo_config()
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    population = UnitPopulation.generate(800, seed=5)
    hours = ["2026-11-23T00", "2026-11-23T01"]
    for hour in hours:
        write_log_file(str(tmp_path / "logs"), hour, "part-0.parquet",
                       simulate_hour(population, config.experiments, {}, hour, seed=5))
    args = ["cap", "--config", str(tmp_path / "config.json"), "--logs", str(tmp_path / "logs"), "--metric",
            "revenue", "--quantile", "0.95", "--start", hours[0], "--end", "2026-11-23T02", "--exp", "aa_check"]
    assert main([*args, "--cap-low", "-1", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = derive_cap(str(tmp_path / "logs"), config.analysis_types[0], "revenue", hours, 0.95,
                          exp_ids=["aa_check"])
    assert printed == {"name": "revenue_capped", "column": "revenue", "kind": "sum", "decimals": 2,
                       "allow_negative": False, "cap": expected.cap, "cap_low": -1.0, "cap_basis": expected.cap_basis}
    assert Metric.from_dict(printed).int_bounds == (-100, round(expected.cap * 100))  # type: ignore[operator]
    assert main([*args, "--cap-low", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cap_low" in err[0]


@pytest.mark.usefixtures("ray_local")
def test_the_hourly_job_stores_capped_sums_and_results_read_them(tmp_path: Path) -> None:
    """Config -> run_hour on Ray (S = 2) -> agg table -> results: the capped column equals plain Python on the raw
    events (each unit-hour-cell total clipped at 1.50), and the capped revenue per unit is below the uncapped one."""
    from rayab.hourly.job import run_hour
    from rayab.model import Config
    from rayab.query.results import experiment_results
    from rayab.simulate import UnitPopulation, demo_config, simulate_days
    from rayab.storage.tables import read_rows, replace_partitions
    from rayab.storage.warehouse import Warehouse

    base = demo_config()
    at = base.analysis_types[0].to_dict()
    at["n_replicates"] = 8
    at["metrics"].append({"name": "revenue_capped", "column": "revenue", "decimals": 2, "cap": 1.5})
    at["composed"]["capped_per_unit"] = "revenue_capped / units"
    config = Config.from_dict({**base.to_dict(), "analysis_types": [at]})

    hours = ["2026-11-23T00", "2026-11-23T01"]
    events: list[pa.Table] = []

    def write(hour: str, table: pa.Table) -> None:
        events.append(table)
        write_log_file(str(tmp_path / "logs"), hour, "part-0.parquet", table)

    warehouse = Warehouse.from_url(str(tmp_path / "wh"))
    assignments = simulate_days(UnitPopulation.generate(1500, seed=4), config, {}, hours, write, 4)
    replace_partitions(warehouse, "assignment", assignments, ["exp_id", "date"],
                       {"exp_id": [e.exp_id for e in config.experiments]})
    for hour in hours:
        run_hour(config, hour, str(tmp_path / "logs"), warehouse, n_shards=2)
    expected: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for table in events:
        per_unit: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
        for row in table.to_pylist():
            cell = (row["exp_id"], row["variant_id"], row["country"], row["platform"])
            per_unit[(cell, row["unit_id"])] += round(row["revenue"] * 100)
        for (key, _), cents in per_unit.items():
            expected[key][0] += cents
            expected[key][1] += min(cents, 150)
    rows = read_rows(warehouse, config.analysis_types[0].table)
    got: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows.to_pylist():
        cell = (row["exp_id"], row["variant_id"], row["country"], row["platform"])
        got[cell][0] += row["revenue"]
        got[cell][1] += row["revenue_capped"]
    assert {k: v for k, v in got.items() if v != [0, 0]} == {k: v for k, v in expected.items() if v != [0, 0]}
    assert sum(v[1] for v in got.values()) < sum(v[0] for v in got.values())
    exp = config.experiment("ranker_v2")
    results = experiment_results(warehouse, config.analysis_types[0], exp, hours[0], "2026-11-23T02",
                                 metrics=["revenue_per_unit", "capped_per_unit"])
    uncapped, capped = ([r for r in results if r.metric == m] for m in ("revenue_per_unit", "capped_per_unit"))
    assert all(c.estimate < u.estimate for c, u in zip(capped, uncapped, strict=True))
