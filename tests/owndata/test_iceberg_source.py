"""An Iceberg table as an event source (pyiceberg, a local SQL catalog on SQLite and a file warehouse): the hour
gives the same partitions, bit for bit, as the same events in rayab's own layout; a newer snapshot with rows of the
hour is a changed input for backfill and health."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from rayab.aggregate.manifest import plan_reruns
from rayab.errors import SpecError
from rayab.hourly.job import hour_input
from rayab.model.source import EventSource
from rayab.storage.sources import plan_hour
from tests.owndata.test_event_sources import HOUR, T0, _check_same, _config, _events, _late_data, _manifest, _run_source

catalog_module = pytest.importorskip("pyiceberg.catalog")
pytestmark = pytest.mark.usefixtures("ray_local")


def _catalog(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "lake").mkdir()
    return {"name": "shop_catalog", "type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"file://{tmp_path}/lake"}


def test_iceberg_table_filtered_to_the_hour_and_a_newer_snapshot_is_seen(tmp_path: Path) -> None:
    rows = _events(9)
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("ts"), "ts", table.column("ts").cast(
        pa.timestamp("us", "UTC")))
    properties = _catalog(tmp_path)
    catalog = catalog_module.load_catalog(**properties)
    catalog.create_namespace("shop")
    iceberg = catalog.create_table("shop.events", schema=table.schema)
    third = table.num_rows // 3  # three snapshots, time-sorted: the first and last files lie mostly outside 05
    for k in range(3):
        iceberg.append(table.slice(k * third, third if k < 2 else None))
    source: dict[str, Any] = {"kind": "iceberg", "table": "shop.events", "catalog": properties,
                              "timestamp_column": "ts"}
    planned = plan_hour(EventSource.from_dict(source), HOUR)
    assert 1 <= len(planned.parts) <= 3 and all(f.path.endswith(".parquet") for f in planned.files)
    warehouse = _run_source(tmp_path, "iceberg", source)
    _check_same(tmp_path, rows, warehouse)
    described = json.loads(_manifest(warehouse)["input_source"])
    assert described["kind"] == "iceberg" and described["snapshot_id"] == iceberg.current_snapshot().snapshot_id
    at = _config(source).analysis_type("engagement")
    assert plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files) == []
    assert _late_data(warehouse, _config(source)).status == "ok"
    # a snapshot of rows two days later is pruned away; one with rows of the hour is a new input
    later = table.slice(0, 3)
    index = later.schema.get_field_index("ts")
    iceberg.append(later.set_column(index, "ts", pa.array([T0 + timedelta(days=2)] * 3, pa.timestamp("us", "UTC"))))
    assert plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files) == []
    iceberg.append(later.set_column(index, "ts", pa.array([T0 + timedelta(minutes=2)] * 3,
                                                          pa.timestamp("us", "UTC"))))
    plans = plan_reruns(warehouse, "engagement", [HOUR], lambda h: hour_input(at, h, None).files)
    assert len(plans) == 1 and "1 new files" in plans[0].reason
    assert _late_data(warehouse, _config(source)).status == "warn"


def test_iceberg_spec_and_secrets() -> None:
    with pytest.raises(SpecError, match=r"source.table == 'events': is required for an Iceberg source"):
        EventSource.from_dict({"kind": "iceberg", "table": "events", "catalog": {"uri": "x"},
                               "timestamp_column": "ts"})
    with pytest.raises(SpecError, match=r"source.catalog == .*must map pyiceberg catalog properties"):
        EventSource.from_dict({"kind": "iceberg", "table": "a.b", "timestamp_column": "ts"})
    with pytest.raises(SpecError, match=r"source.table == 'a.b': is only for an iceberg source, not delta"):
        EventSource.from_dict({"kind": "delta", "path": "t", "table": "a.b", "timestamp_column": "ts"})
    source = EventSource.from_dict({"kind": "iceberg", "table": "a.b", "timestamp_column": "ts",
                                    "catalog": {"uri": "sqlite:///:memory:", "s3.secret-access-key": "s3cr3t"}})
    assert EventSource.from_dict(source.to_dict()) == source
    described = plan_hour(source, HOUR).description  # no such table: an hour without input
    assert described["catalog"]["s3.secret-access-key"] == "***" and "s3cr3t" not in json.dumps(described)
