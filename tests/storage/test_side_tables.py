"""Tables written beside agg_<type> under its commit id (qsk_<type>, cvh_<type>) in the consistency check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from rayab.storage.commits import side_table_mismatches, with_commit_id
from rayab.storage.tables import append_rows, replace_partitions
from rayab.storage.warehouse import Warehouse

HOURS = ["2026-11-23T00", "2026-11-23T01", "2026-11-23T02"]


def test_only_rows_of_another_commit_are_a_mismatch(tmp_path: Path) -> None:
    """Hour 0 agrees, hour 1 holds rows of an older run (a run killed after agg_<type>), hour 2 has no rows of the
    side table (no observation that hour: not a mismatch), and an hour with rows but no manifest row is one."""
    wh = Warehouse.from_url(str(tmp_path / "wh"))
    manifest = pa.table({"analysis_type": ["perf"] * 3, "hour": HOURS, "committed_at": pa.array(
        [datetime(2026, 11, 23, 5, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")), "commit_id": ["a0", "a1", "a2"],
        "cells": [4, 4, 4]})
    append_rows(wh, "_manifest", manifest)
    for hour, commit in (("2026-11-23T00", "a0"), ("2026-11-23T01", "old1"), ("2026-11-23T03", "x3")):
        rows = pa.table({"exp_id": ["e"], "hour": [hour], "bucket": [3]})
        replace_partitions(wh, "qsk_perf", with_commit_id(rows, commit), ["exp_id", "hour"], {"hour": hour})
    found = side_table_mismatches(wh, "perf", "qsk_perf", [*HOURS, "2026-11-23T03"])
    assert [(m.hour, m.reason) for m in found] == [
        ("2026-11-23T01", "qsk_perf holds old1, the manifest row names commit a1"),
        ("2026-11-23T03", "qsk_perf holds rows of commit x3 and there is no manifest row")]
    assert side_table_mismatches(wh, "perf", "qsk_absent", HOURS) == []
