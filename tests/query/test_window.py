"""Window sums: the streaming per-cell sums against plain numpy over every row, on synthetic and real partitions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.cell_sums import CellSums
from rayab.errors import StorageError
from rayab.model import AnalysisType, Metric
from rayab.query.filters import Equals, In, Or, filter_mask
from rayab.query.window import read_window, sum_partitions, sum_window
from rayab.storage.partitions import list_partition_files
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.query.conftest import synthetic_rows, write_synthetic
from tests.worlds import World

AT = AnalysisType("w", (Metric("clicks"), Metric("revenue", decimals=2)), dimensions=("country", "platform"),
                  n_replicates=16)
HOURS = ["2026-11-23T00", "2026-11-23T01", "2026-11-23T02"]
KEYS = [(v, c, p) for v in ("control", "treatment") for c in ("US", "BR", "DE") for p in ("web", "ios")]


def _reference(rows: pa.Table, metrics: Sequence[str], key_names: Sequence[str],
               b: int = AT.n_replicates) -> dict[tuple[str, ...], dict]:  # type: ignore[type-arg]
    """Per cell: n_events, raw and replicate totals, by a loop over Python rows."""
    out: dict[tuple[str, ...], dict] = {}  # type: ignore[type-arg]
    for row in rows.to_pylist():
        cell = tuple(row[k] for k in key_names)
        entry = out.setdefault(cell, {"n_events": 0, **{m: 0 for m in metrics},
                                      **{f"{m}_reps": np.zeros(b, np.int64) for m in metrics}})
        entry["n_events"] += row["n_events"]
        for m in metrics:
            entry[m] += row[m]
            entry[f"{m}_reps"] = entry[f"{m}_reps"] + np.array(row[f"{m}_reps"])
    return out


def _assert_equal(sums: CellSums, reference: dict[tuple[str, ...], dict], metrics: Sequence[str]) -> None:  # type: ignore[type-arg]
    assert sums.keys == tuple(sorted(reference))
    for i, key in enumerate(sums.keys):
        assert sums.n_events[i] == reference[key]["n_events"]
        for m in metrics:
            assert sums.raw[m][i] == reference[key][m]
            np.testing.assert_array_equal(sums.reps[m][i], reference[key][f"{m}_reps"])


@pytest.mark.parametrize("projection", [(), ("country",), ("platform", "country"), ("country", "platform")])
@pytest.mark.parametrize("where", [None, Equals("platform", "ios"), Or((In("country", ("US", "DE")),
                                                                        Equals("platform", "web", True)))])
def test_sum_window_equals_plain_sums_over_rows(projection: tuple[str, ...], where: object) -> None:
    rows = synthetic_rows(AT, "e", HOURS, KEYS, seed=len(projection))
    # shuffled, chunked and sliced: the sums must not depend on the layout of the Arrow data
    order = np.random.default_rng(0).permutation(rows.num_rows)
    shuffled = rows.take(pa.array(order))
    chunked = pa.concat_tables([shuffled.slice(0, 7), shuffled.slice(7, 20), shuffled.slice(27)])
    metrics = ["clicks", "revenue", "units"]
    kept = rows if where is None else rows.filter(filter_mask(where, rows))  # type: ignore[arg-type]
    sums = sum_window(chunked, AT, metrics, projection, where)  # type: ignore[arg-type]
    _assert_equal(sums, _reference(kept, metrics, ("variant_id", *projection)), metrics)
    assert sums.hours == tuple(HOURS)
    by_hour = sum_window(chunked, AT, metrics, projection, where, by_hour=True)  # type: ignore[arg-type]
    _assert_equal(by_hour, _reference(kept, metrics, ("hour", "variant_id", *projection)), metrics)


def test_sum_partitions_streams_the_same_sums_as_plain_reads(tmp_path: Path) -> None:
    warehouse = write_synthetic(tmp_path, AT, "e", HOURS, KEYS, seed=5)
    write_synthetic(tmp_path, AT, "other", HOURS, KEYS, seed=6)
    metrics = ["clicks", "units"]
    all_rows = read_rows(warehouse, AT.table)
    mine = all_rows.filter(pa.compute.and_(pa.compute.equal(all_rows.column("exp_id"), "e"),
                                           pa.compute.is_in(all_rows.column("hour"), pa.array(HOURS[1:]))))
    sums = sum_partitions(warehouse, AT, "e", HOURS[1], "2026-11-23T03", metrics, ("country",))
    _assert_equal(sums, _reference(mine, metrics, ("variant_id", "country")), metrics)
    table = read_window(warehouse, AT, "e", HOURS[1], "2026-11-23T03", metrics, ("country",))
    assert table.num_rows == mine.num_rows
    _assert_equal(sum_window(table, AT, metrics, ("country",)), _reference(mine, metrics, ("variant_id", "country")),
                  metrics)


def test_real_partitions_sum_to_what_plain_reads_give(agg_world: World) -> None:
    at = agg_world.analysis_type
    metrics = ["units", *at.metric_names]
    rows = read_rows(agg_world.warehouse, at.table, where={"exp_id": "ranker_v2"})
    sums = sum_partitions(agg_world.warehouse, at, "ranker_v2", "2026-11-23T00", "2026-11-23T03", metrics,
                          ("platform",))
    reference = _reference(rows, metrics, ("variant_id", "platform"), at.n_replicates)
    assert sums.keys == tuple(sorted(reference))
    for i, key in enumerate(sums.keys):
        for m in metrics:
            np.testing.assert_array_equal(sums.reps[m][i], reference[key][f"{m}_reps"])


def test_pruning_lists_only_the_experiments_hours(tmp_path: Path) -> None:
    warehouse = write_synthetic(tmp_path, AT, "e", HOURS, KEYS[:2])
    write_synthetic(tmp_path, AT, "f", HOURS, KEYS[:2])
    files = list_partition_files(warehouse, AT.table, "e", [HOURS[0], HOURS[2], "2026-12-01T00"])
    assert [f.hour for f in files] == [HOURS[0], HOURS[2]]
    assert all(f.path.startswith(f"exp_id=e/hour={f.hour}/") and f.size_bytes > 0 for f in files)
    assert list_partition_files(warehouse, "agg_missing", "e", HOURS) == []


def test_replicate_arrays_of_another_length_are_refused() -> None:
    rows = synthetic_rows(AT, "e", HOURS[:1], KEYS[:2])
    other = AnalysisType("w", AT.metrics, dimensions=AT.dimensions, n_replicates=8)
    with pytest.raises(StorageError, match="expected B=8"):
        sum_window(rows, other, ["clicks"])


def test_a_window_whose_sums_could_wrap_int64_is_refused_not_wrapped(tmp_path: Path) -> None:
    # every hour on its own fits int64 (as the hourly job proves before committing), but three hours of one cell at
    # 2**62 add up to 3 * 2**62 > 2**63 - 1: numpy would wrap that to a wrong (negative) number without a word
    at = AnalysisType("w", (Metric("clicks"),), n_replicates=2)
    rows = synthetic_rows(at, "e", HOURS, [("control",)], seed=1)
    big = pa.array([2**62] * rows.num_rows, pa.int64())
    rows = rows.set_column(rows.schema.get_field_index("clicks"), "clicks", big)
    warehouse = write_synthetic(tmp_path, at, "e", HOURS, [("control",)], seed=1)
    from rayab.storage.tables import replace_partitions
    replace_partitions(warehouse, at.table, rows, ["exp_id", "hour"], {"exp_id": "e"})
    sums = sum_partitions(warehouse, at, "e", HOURS[0], HOURS[1], ["clicks"])  # one hour: exact
    assert sums.raw["clicks"].tolist() == [2**62]
    with pytest.raises(StorageError, match="sums of clicks could exceed int64"):
        sum_partitions(warehouse, at, "e", HOURS[0], "2026-11-23T03", ["clicks"])
    # a window whose bound is exactly 2**63 - 1 is summed, exactly
    rows = rows.set_column(rows.schema.get_field_index("clicks"), "clicks",
                           pa.array([2**62, 2**62 - 1, 0], pa.int64()))
    replace_partitions(warehouse, at.table, rows, ["exp_id", "hour"], {"exp_id": "e"})
    sums = sum_partitions(warehouse, at, "e", HOURS[0], "2026-11-23T03", ["clicks"])
    assert sums.raw["clicks"].tolist() == [2**63 - 1]


@pytest.mark.parametrize("by_hour", [False, True])
@pytest.mark.parametrize("projection", [(), ("country",)])
@pytest.mark.parametrize("where", [None, Equals("platform", "ios")])
def test_files_listing_other_cells_and_negative_values_sum_like_plain_reads(
        tmp_path: Path, by_hour: bool, projection: tuple[str, ...], where: object) -> None:
    # the cell keys of a file are reused for the next one only when it lists the same cells in the same order:
    # here the hours hold all cells, fewer cells, the same cells reversed, then all again; revenue goes negative
    # (refunds), which takes the bound check's |value| path
    from rayab.storage.tables import replace_partitions

    layouts = [KEYS, KEYS[:5], KEYS[::-1], KEYS]
    hours = [*HOURS, "2026-11-23T03"]
    parts = [synthetic_rows(AT, "e", [hour], keys, seed=i) for i, (hour, keys) in enumerate(zip(hours, layouts,
                                                                                                  strict=True))]
    rows = pa.concat_tables(parts)
    negative = pa.array(np.random.default_rng(3).integers(-400, 400, rows.num_rows))
    rows = rows.set_column(rows.schema.get_field_index("revenue"), "revenue", negative)
    warehouse = Warehouse.from_url(str(tmp_path))
    replace_partitions(warehouse, AT.table, rows, ["exp_id", "hour"], {"exp_id": "e"})
    metrics = ["clicks", "revenue", "units"]
    kept = rows if where is None else rows.filter(filter_mask(where, rows))  # type: ignore[arg-type]
    sums = sum_partitions(warehouse, AT, "e", hours[0], "2026-11-23T04", metrics, projection,
                          where, by_hour)  # type: ignore[arg-type]
    names = ("hour",) * by_hour + ("variant_id", *projection)
    _assert_equal(sums, _reference(kept, metrics, names), metrics)
    assert sums.key_names == names and sums.hours == tuple(hours)
