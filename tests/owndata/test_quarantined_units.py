"""Units all of whose events of an hour were quarantined: counted exactly by the hourly job (across files, map tasks
and shards), written to the manifest, and reported by ``rayab health``'s ``quarantined_units`` check.

The reference is plain Python over the raw rows: a unit counts when it has at least one row that is quarantined and
no valid row anywhere in the hour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayab.guardrails.health import experiment_health
from rayab.hourly.job import run_hour
from rayab.model import Config
from rayab.simulate import demo_config
from rayab.storage.logs import hour_folder
from rayab.storage.schemas import MANIFEST_TABLE
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("ray_local")

HOUR = "2026-11-23T05"


def _config() -> Config:
    data = demo_config("2026-11-23T00:00:00Z").to_dict()
    data["analysis_types"] = [{**data["analysis_types"][0], "n_replicates": 8}]
    return Config.from_dict(data)


def _files(seed: int) -> list[list[dict[str, Any]]]:
    """Four files of one hour: 300 units whose events are spread over the files; about a third of the rows have a
    bad value (negative revenue, or clicks that are not a number), so some units lose some rows and some all."""
    rng = np.random.default_rng(seed)
    files: list[list[dict[str, Any]]] = [[], [], [], []]
    for i in range(1500):
        unit = int(rng.integers(0, 300))
        bad = rng.random() < 0.35
        row = {"unit_id": f"u{unit}", "exp_id": "ranker_v2", "variant_id": ("control", "treatment")[unit % 2],
               "country": "US", "platform": "web", "impressions": 1, "clicks": "x" if bad and i % 2 else "1",
               "revenue": -1.0 if bad and not i % 2 else 0.5}
        files[int(rng.integers(0, 4))].append(row)
    files[0].append({**files[0][0], "unit_id": None, "revenue": -2.0})  # bad rows of no unit: no unit to count
    files[1].append({**files[1][0], "unit_id": "", "revenue": -3.0})
    return files


def _bad(row: dict[str, Any]) -> bool:
    return not row["unit_id"] or row["clicks"] == "x" or row["revenue"] < 0


def _reference(files: list[list[dict[str, Any]]]) -> int:
    rows = [r for f in files for r in f]
    with_bad = {r["unit_id"] for r in rows if _bad(r) and r["unit_id"]}
    with_valid = {r["unit_id"] for r in rows if not _bad(r)}
    return len(with_bad - with_valid)


@pytest.mark.parametrize("n_shards", [1, 3])
def test_units_with_every_event_quarantined_are_counted_exactly(tmp_path: Path, n_shards: int) -> None:
    files = _files(seed=n_shards)
    expected = _reference(files)
    assert 5 < expected < 150  # the data hold both kinds of units: some lose all their rows, many only some
    logs = tmp_path / "logs"
    folder = Path(hour_folder(str(logs), HOUR))
    folder.mkdir(parents=True)
    for i, rows in enumerate(files):
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{i}.parquet")
    warehouse = Warehouse.from_url(tmp_path / "wh")
    config = _config()
    run_hour(config, HOUR, str(logs), warehouse, n_shards=n_shards)
    (manifest,) = read_rows(warehouse, MANIFEST_TABLE).to_pylist()
    assert manifest["units_quarantined"] == expected
    checks = {c.name: c for c in experiment_health(warehouse, config, "ranker_v2", HOUR, "2026-11-23T06")}
    check = checks["quarantined_units"]
    assert check.status == "warn"
    assert check.details["units_quarantined"] == expected
    assert f"{expected} units had every event of an hour quarantined" in check.reason


def test_an_hour_without_lost_units_is_ok(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    folder = Path(hour_folder(str(logs), HOUR))
    folder.mkdir(parents=True)
    good = {"exp_id": "ranker_v2", "variant_id": "control", "country": "US", "platform": "web", "impressions": 1,
            "clicks": 1, "revenue": 0.5}
    # u1 has one bad row but a valid one in another file: it is not lost
    pq.write_table(pa.Table.from_pylist([{**good, "unit_id": "u1", "revenue": -1.0}]), folder / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist([{**good, "unit_id": "u1"}, {**good, "unit_id": "u2"}]),
                   folder / "part-1.parquet")
    warehouse = Warehouse.from_url(tmp_path / "wh")
    config = _config()
    run_hour(config, HOUR, str(logs), warehouse, n_shards=2)
    (manifest,) = read_rows(warehouse, MANIFEST_TABLE).to_pylist()
    assert manifest["units_quarantined"] == 0
    checks = {c.name: c for c in experiment_health(warehouse, config, "ranker_v2", HOUR, "2026-11-23T06")}
    assert checks["quarantined_units"].status == "ok"
