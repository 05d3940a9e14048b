"""Your own data, end to end with the CLI only: assignments and a covariate from CSV files, unit-only events with
integer ids and 10-decimal revenue, the hourly job in assignment-join mode, results; every number checked against
plain Python over the same files."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayab.cli.main import main
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.logs import hour_folder
from rayab.storage.specs import save_config
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"
T0 = datetime(2026, 11, 23, 5, tzinfo=UTC)
BASE = 9_007_199_254_740_993  # 2**53 + 1: a float would make it ...992


def _config() -> Config:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    data["analysis_types"][0] = {**data["analysis_types"][0], "n_replicates": 16, "cuped": ["revenue"]}
    return Config.from_dict(data)


def _cents(value: str) -> int:
    return int((Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_csv_assignments_and_covariate_to_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(11)
    warehouse = str(tmp_path / "wh")
    save_config(Warehouse.from_url(warehouse), _config())
    n = 240
    assigned = {BASE + i: (("control", "treatment")[int(rng.integers(0, 2))], T0 + timedelta(minutes=int(m)),
                           ("US", "FR")[i % 2], ("web", "ios")[i % 3 == 0])
                for i, m in enumerate(rng.integers(0, 40, n))}
    assign_csv = _write_csv(tmp_path / "assign.csv", ["unit_id", "variant_id", "assigned_at", "country", "platform"],
                            [[u, v, t.isoformat().replace("+00:00", "Z"), c, p]
                             for u, (v, t, c, p) in assigned.items()] + [[BASE + 999, "zz", T0.isoformat(), "US",
                                                                          "web"]])
    before = {u: f"{rng.gamma(2.0, 3.0):.7f}" for u in list(assigned)[: n // 2]}
    cov_csv = _write_csv(tmp_path / "before.csv", ["unit_id", "revenue_30d"],
                         [[u, x] for u, x in before.items()] + [[BASE + 5, "n/a"]])
    # unit-only events with int64 ids, some before the unit's assignment, some from units never assigned
    events = []
    for _ in range(1500):
        unit = BASE + int(rng.integers(0, n + 20))
        events.append({"unit_id": unit, "event_time": T0 + timedelta(minutes=int(rng.integers(0, 60))),
                       "country": ("US", "FR")[unit % 2], "platform": "web", "impressions": 1,
                       "clicks": int(rng.integers(0, 2)), "revenue": float(f"{rng.gamma(1.0, 0.7):.10f}")})
    logs = str(tmp_path / "logs")
    Path(hour_folder(logs, HOUR)).mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(events), f"{hour_folder(logs, HOUR)}/events.parquet")

    common = ["--warehouse", warehouse, "--format", "json"]
    assert main(["assignments", "load", assign_csv, "--exp", "ranker_v2", *common]) == 0
    loaded = json.loads(capsys.readouterr().out)
    assert loaded["inserted"] == n and loaded["rows_quarantined"] == 1
    assert main(["covariates", "load", cov_csv, "--exp", "ranker_v2", "--column", "revenue_30d",
                 "--metric", "revenue", *common]) == 0
    covs = json.loads(capsys.readouterr().out)
    assert covs["units"] == n // 2 and covs["rows_quarantined"] == 1 and covs["assigned_without_covariate"] == n // 2
    assert main(["run-hour", "--hour", HOUR, "--logs", logs, "--population", "assignment", "--quiet",
                 *common]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert main(["results", "--exp", "ranker_v2", "--start", HOUR, "--end", "2026-11-23T06",
                 "--metric", "units", "--metric", "revenue_per_unit", *common]) == 0
    results = {(r["metric"], r["variant_id"]): r for r in json.loads(capsys.readouterr().out)}

    # the reference: plain Python over the same rows
    units: dict[str, int] = defaultdict(int)
    revenue: dict[str, int] = defaultdict(int)
    x_sum: dict[str, int] = defaultdict(int)
    xy: dict[str, int] = defaultdict(int)
    per_unit: dict[int, int] = defaultdict(int)
    for variant, *_ in assigned.values():
        units[variant] += 1
    for u in assigned:
        x_sum[assigned[u][0]] += _cents(before[u]) if u in before else 0
    counted = unmatched = rounded = 0
    for e in events:
        rounded += _cents(repr(e["revenue"])) != Decimal(repr(e["revenue"])) * 100
        if e["unit_id"] in assigned and e["event_time"] >= assigned[e["unit_id"]][1]:  # type: ignore[operator]
            counted += 1
            revenue[assigned[e["unit_id"]][0]] += _cents(repr(e["revenue"]))
            per_unit[e["unit_id"]] += _cents(repr(e["revenue"]))
        else:
            unmatched += 1
    for u, y in per_unit.items():
        xy[assigned[u][0]] += (_cents(before[u]) if u in before else 0) * y
    assert summary["rows_read"] == 1500 and summary["rows_unmatched"] == unmatched
    assert summary["values_rounded"] == rounded > 1000
    agg = read_rows(Warehouse.from_url(warehouse), "agg_engagement", where={"hour": HOUR})
    got: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in agg.to_pylist():
        for column in ("units", "revenue", "revenue__x", "revenue__xy", "n_events"):
            got[row["variant_id"]][column] += row[column]
    for variant in ("control", "treatment"):
        assert got[variant]["units"] == units[variant] == results[("units", variant)]["estimate"]
        assert got[variant]["revenue"] == revenue[variant]
        assert got[variant]["revenue__x"] == x_sum[variant]  # the loaded covariate, joined by the job as it is
        assert got[variant]["revenue__xy"] == xy[variant]
        assert results[("revenue_per_unit", variant)]["estimate"] == pytest.approx(
            revenue[variant] / 100 / units[variant])
    assert sum(g["n_events"] for g in got.values()) == counted
