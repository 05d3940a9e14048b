"""The public Python API answers exactly what the results engine answers, as tables."""

from __future__ import annotations

import pyarrow as pa

import rayab
from rayab.storage.specs import save_config
from tests.worlds import World

START, END = "2026-11-23T00", "2026-11-23T03"


def test_workspace_results_equal_the_engine_and_convert_to_arrow(agg_world: World) -> None:
    save_config(agg_world.warehouse, agg_world.config)
    ws = rayab.connect(agg_world.warehouse)
    assert sorted(e.exp_id for e in ws.experiments()) == sorted(e.exp_id for e in agg_world.config.experiments)
    table = ws.results("ranker_v2", START, END, metrics=["ctr"], by=["country"])
    engine_rows, _ = ws.engine.results(rayab.ResultsRequest("ranker_v2", START, END, metrics=("ctr",),
                                                            projection=("country",)))
    assert list(table) == engine_rows and len(table) > 2
    arrow = table.to_arrow()
    assert isinstance(arrow, pa.Table) and "country" in arrow.column_names and "slice" not in arrow.column_names
    assert arrow.column("estimate").to_pylist() == [r.estimate for r in engine_rows]
    assert arrow.column("country").to_pylist() == [dict(r.slice)["country"] for r in engine_rows]
    # the one-shot form and a second call (served from the cache) give the same records
    assert list(rayab.results(agg_world.warehouse, "ranker_v2", START, END, metrics=["ctr"], by=["country"])) \
        == engine_rows
    assert list(ws.results("ranker_v2", START, END, metrics=["ctr"], by=["country"])) == engine_rows
    assert ws.engine.hits >= 1


def test_a_wire_request_with_empty_fields_takes_the_query_defaults() -> None:
    request = rayab.ResultsRequest.from_mapping({"exp_id": "e", "start_hour": START, "end_hour": END,
                                                 "method": "", "confidence_level": 0.0, "interval": "",
                                                 "metrics": [], "cuped": True})
    assert request == rayab.ResultsRequest("e", START, END)
    assert (request.method, request.confidence_level, request.interval) == ("percentile", 0.95, "fixed")
