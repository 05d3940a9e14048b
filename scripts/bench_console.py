"""Benchmark: the console's experiment page (cold and warm cache) and its catalogue with 1,000 experiments.

The experiment fixture is ``scripts/bench_query.py``'s: 168 hourly partitions x 50 cells (2 variants x 5 countries
x 5 platforms) x 5 metric arrays x B = 1000, saved with its analysis type and experiment so the console reads it
like any warehouse. The page is requested for the whole window with every metric (units, the four additive ones and
the three composed ones, the scorecard's metrics), as ``rayab console`` serves it, through Starlette's TestClient
(the whole app: routing, engine, templates; no socket):

* ``cold``: a new console (empty results cache) per request; the Delta files are in the OS page cache after the
  warm-up, as on a server that has been up for a while;
* ``warm``: the same page again from the same console (the engine's cache answers; health is recomputed);
* the page's charts (``/charts``: the cumulative lift over every hour, and units per day) and its SQL panel
  (``/sql``, loaded when opened), which the browser fetches after the page; cold alone (a new console each), and
  the page then its charts from one new console, as a browser loads them (the charts reuse the page's read of
  the window's per-hour sums);
* ``catalogue``: ``GET /`` of a warehouse holding 1,000 experiments (each row's lift and health arrive from its own
  ``/summary`` request, timed separately on the benchmark experiment).

    .venv/bin/python scripts/bench_console.py                    # builds the fixtures in a temporary folder
    .venv/bin/python scripts/bench_console.py --warehouse /tmp/bench-console --repeat 7

>>> _median([3.0, 1.0, 2.0])
2.0
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rayab.model import Config, Experiment
from rayab.simulate import hour_offsets
from rayab.storage.specs import save_config
from rayab.storage.tables import table_exists
from rayab.storage.warehouse import Warehouse
from scripts.bench_query import START, analysis_type, build_fixture, experiment


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: imports, numba and DuckDB first calls, page cache
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return _median(walls)


def _many(n: int) -> list[Experiment]:
    return [Experiment.from_dict({"exp_id": f"exp_{i:04d}", "name": f"Experiment {i}", "primary_kpi": "ctr",
                                  "start_time": START[:10] + "T00:00:00Z",
                                  "status": ("running", "stopped", "draft")[i % 3],
                                  "variants": [{"variant_id": v, "traffic_pct": 50} for v in ("control", "treatment")]})
            for i in range(n)]


def main() -> None:
    from starlette.testclient import TestClient

    from rayab.console.app import create_app

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default=None, help="where the fixtures live (default: a temporary folder)")
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--b", type=int, default=1000)
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(args.warehouse or tempfile.mkdtemp(prefix="rayab-bench-console-"))
    page_wh, many_wh = Warehouse.from_url(str(root / "page")), Warehouse.from_url(str(root / "catalogue"))
    at, exp = analysis_type(args.b), experiment()
    hours = hour_offsets(START, args.hours)
    if not table_exists(page_wh, at.table):
        build_fixture(page_wh, at, hours)
        save_config(page_wh, Config((at,), (exp,)))
    if not table_exists(many_wh, "experiment"):
        save_config(many_wh, Config((at,), tuple(_many(args.experiments))))
    end = hour_offsets(hours[-1], 2)[1]
    url = f"/experiments/bench?start={START}&end={end}"

    def cold() -> None:
        response = TestClient(create_app(page_wh)).get(url)
        assert response.status_code == 200, response.text[:2000]

    warm_client = TestClient(create_app(page_wh))

    def warm() -> None:
        assert warm_client.get(url).status_code == 200

    def charts_cold() -> None:
        response = TestClient(create_app(page_wh)).get(url.replace("/bench?", "/bench/charts?"))
        assert response.status_code == 200 and len(response.json()["rel_diff"]["x"]) == args.hours, response.text[:500]

    def charts_warm() -> None:
        assert warm_client.get(url.replace("/bench?", "/bench/charts?")).status_code == 200

    def page_and_charts_cold() -> None:  # as a browser loads them: the page, then its charts, from a new console
        client = TestClient(create_app(page_wh))
        assert client.get(url).status_code == 200
        assert client.get(url.replace("/bench?", "/bench/charts?")).status_code == 200

    def sql_cold() -> None:
        assert TestClient(create_app(page_wh)).get(url.replace("/bench?", "/bench/sql?")).status_code == 200

    many_client = TestClient(create_app(many_wh))

    def catalogue() -> None:
        response = many_client.get("/")
        assert response.status_code == 200 and f"{args.experiments} of {args.experiments}" in response.text

    print(f"fixture: {args.hours} hours x 50 cells x 5 arrays x B={args.b}; catalogue of {args.experiments} "
          f"experiments; in {root}")
    print(f"experiment page, cold cache   median {_time(cold, args.repeat) * 1000:8.1f} ms")
    print(f"experiment page, warm cache   median {_time(warm, args.repeat) * 1000:8.1f} ms")
    print(f"its charts (JSON), cold       median {_time(charts_cold, args.repeat) * 1000:8.1f} ms")
    print(f"its charts (JSON), warm       median {_time(charts_warm, args.repeat) * 1000:8.1f} ms")
    print(f"page then charts, cold        median {_time(page_and_charts_cold, args.repeat) * 1000:8.1f} ms")
    print(f"its SQL panel (JSON), cold    median {_time(sql_cold, args.repeat) * 1000:8.1f} ms")
    print(f"catalogue, {args.experiments} experiments  median {_time(catalogue, args.repeat) * 1000:8.1f} ms")
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
