"""The hourly job and the query against S3 (a moto server on 127.0.0.1, through s3fs and delta-rs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayab.hourly.job import run_hour
from rayab.query.results import experiment_results
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import filesystem_for
from tests.worlds import make_world

pytestmark = pytest.mark.usefixtures("ray_local")


def test_job_on_s3_gives_the_same_partition_as_on_local_disk(s3_server: dict[str, str], s3_bucket: str,
                                                             workdir: Path) -> None:
    on_s3 = make_world(f"s3://{s3_bucket}/rayab", n_units=800, n_hours=1, storage_options=s3_server)
    local = make_world(workdir, n_units=800, n_hours=1)
    hour = on_s3.hours[0]
    (summary,) = run_hour(on_s3.config, hour, on_s3.logs, on_s3.warehouse, n_shards=2,
                          logs_storage_options=s3_server)
    run_hour(local.config, hour, local.logs, local.warehouse, n_shards=2)
    assert summary.rows_read == local.events[hour].num_rows
    order = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]
    s3_rows = read_rows(on_s3.warehouse, "agg_engagement").sort_by(order)
    local_rows = read_rows(local.warehouse, "agg_engagement").sort_by(order)
    assert s3_rows.num_rows > 0
    assert s3_rows.equals(local_rows)
    fs = filesystem_for("s3://x", s3_server)
    data_files = fs.glob(f"{s3_bucket}/rayab/wh/agg_engagement/exp_id=ranker_v2/hour={hour}/*.parquet")
    assert len(data_files) == 1  # one coalesced file per partition, Hive layout
    assert fs.exists(f"{s3_bucket}/rayab/wh/agg_engagement/_delta_log")
    exp = on_s3.config.experiment("ranker_v2")
    results = experiment_results(on_s3.warehouse, on_s3.analysis_type, exp, hour, "2026-11-23T01",
                                 metrics=["ctr"])
    assert {r.variant_id for r in results} == {"control", "treatment"}
