"""One read of a window's per-hour sums serves its results and its series: equal, bit for bit, to direct reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rayab.api.engine import ResultsEngine
from rayab.model import AnalysisType, Config, Experiment, Metric
from rayab.query.results import cumulative_results, run_query
from rayab.storage.specs import save_config
from rayab.storage.tables import replace_partitions
from tests.query.conftest import synthetic_rows, write_synthetic

AT = AnalysisType("w", (Metric("clicks"), Metric("views"), Metric("revenue", decimals=2)),
                  dimensions=("country", "platform"), n_replicates=32,
                  composed={"ctr": "clicks / views", "rpu": "revenue / units"})
HOURS = ["2026-11-23T00", "2026-11-23T01", "2026-11-23T02", "2026-11-23T03"]
KEYS = [(v, c, p) for v in ("control", "treatment") for c in ("US", "BR") for p in ("web", "ios")]
EXP = Experiment.from_dict({"exp_id": "e", "name": "e", "primary_kpi": "ctr", "start_time": "2026-11-23T00:00:00Z",
                            "variants": [{"variant_id": v, "traffic_pct": 50} for v in ("control", "treatment")]})


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    # repr keeps every float bit (and NaN equal to NaN): bit-identical results
    return len(a) == len(b) > 0 and all(repr(x) == repr(y) for x, y in zip(a, b, strict=True))


def test_results_and_series_share_one_read_and_equal_direct_reads(tmp_path: Path) -> None:
    warehouse = write_synthetic(tmp_path, AT, "e", HOURS, KEYS, seed=4)
    save_config(warehouse, Config((AT,), (EXP,)))
    engine = ResultsEngine(warehouse)
    window = {"exp_id": "e", "start_hour": HOURS[0], "end_hour": "2026-11-23T04"}
    results, _ = engine.results({**window, "metrics": []})
    assert (engine.hour_sums.misses, engine.hour_sums.hits) == (1, 0)
    series, _ = engine.timeseries({**window, "metrics": ["ctr"]})  # the page's chart: no second read
    assert (engine.hour_sums.misses, engine.hour_sums.hits) == (1, 1)
    _, at, query = engine.query({**window, "metrics": []})
    assert _same(results, run_query(warehouse, at, EXP, query))
    _, at, query = engine.query({**window, "metrics": ["ctr"]})
    assert _same(series, cumulative_results(warehouse, at, EXP, query))
    assert {r.end_hour for r in series} == {"2026-11-23T01", "2026-11-23T02", "2026-11-23T03", "2026-11-23T04"}

    # sequential looks and a filter are their own entry, read once and equal to direct reads too
    sequential = {**window, "metrics": ["rpu"], "interval": "sequential", "where": "country = 'US'"}
    looks, _ = engine.results(sequential)
    _, at, query = engine.query(sequential)
    assert _same(looks, run_query(warehouse, at, EXP, query))
    assert engine.hour_sums.misses == 2

    # a new commit is a new table version: the cached per-hour sums are not served for it
    late = synthetic_rows(AT, "e", HOURS[3:], KEYS, seed=9)
    replace_partitions(warehouse, AT.table, late, ["exp_id", "hour"], {"exp_id": "e", "hour": HOURS[3]})
    fresh, _ = engine.results({**window, "metrics": []})
    assert engine.hour_sums.misses == 3
    _, at, query = engine.query({**window, "metrics": []})
    direct = run_query(warehouse, at, EXP, query)
    assert _same(fresh, direct) and not _same(fresh, results)


def test_a_sliced_query_reads_directly(tmp_path: Path) -> None:
    warehouse = write_synthetic(tmp_path, AT, "e", HOURS, KEYS, seed=5)
    save_config(warehouse, Config((AT,), (EXP,)))
    engine = ResultsEngine(warehouse)
    request = {"exp_id": "e", "start_hour": HOURS[0], "end_hour": "2026-11-23T04", "projection": ["country"]}
    sliced, _ = engine.results(request)
    assert engine.hour_sums.misses == 0 and {r.slice for r in sliced} == {(("country", "US"),), (("country", "BR"),)}
    _, at, query = engine.query(request)
    assert _same(sliced, run_query(warehouse, at, EXP, query))
