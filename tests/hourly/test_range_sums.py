"""Hours summed range by range: shards that ship merged rows, ranges of experiments within a budget, and the same
bytes as whole partials."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import ray
from hypothesis import given
from hypothesis import strategies as st

from rayab.aggregate.cell_sums import CellSums, CellSumsBuilder
from rayab.aggregate.partial_ranges import (
    cell_span,
    experiment_cells,
    partial_bytes,
    plan_ranges,
    range_rows,
    ranges_of,
    rows_by_cell,
)
from rayab.aggregate.partials import metric_columns
from rayab.aggregate.shards import partial_from_unit_rows, shard_partial_ids
from rayab.aggregate.unit_rows import UnitRows, event_unit_ids
from rayab.hourly.job import run_hour
from rayab.hourly.range_sums import hour_sums_by_experiment, range_plan
from rayab.model import AnalysisType, Metric
from rayab.storage.tables import read_rows
from rayab.storage.warehouse import Warehouse
from tests.worlds import assignments_in_hour, make_world, reference_cells

ORDER = [(c, "ascending") for c in ("exp_id", "variant_id", "country", "platform")]


@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.integers(1, 40), min_size=0, max_size=30),
       st.integers(1, 8), st.integers(1, 200))
def test_ranges_cover_every_experiment_in_order_within_the_budget(counts: dict[str, int], per_cell: int,
                                                                  budget: int) -> None:
    halves = [{e: n // 2 for e, n in counts.items() if n // 2}, {e: n - n // 2 for e, n in counts.items()}]
    bounds = plan_ranges(halves, per_cell, budget)
    assert bounds == sorted(set(bounds)) and set(bounds) <= set(counts)
    ranges = ranges_of(bounds)
    assert len(ranges) == len(bounds) + 1
    for lo, hi in ranges:
        inside = [e for e in counts if (lo is None or e >= lo) and (hi is None or e < hi)]
        size = sum(counts[e] for e in inside) * per_cell
        assert size <= budget or len(inside) == 1  # an experiment over the budget stands alone
    # each experiment is in exactly one range
    for exp in counts:
        assert sum(1 for lo, hi in ranges if (lo is None or exp >= lo) and (hi is None or exp < hi)) == 1
    # greedy: a range and the next experiment together would pass the budget
    for (lo, _hi), nxt in zip(ranges, bounds, strict=False):
        inside = [e for e in counts if (lo is None or e >= lo) and e < nxt]
        assert (sum(counts[e] for e in inside) + counts[nxt]) * per_cell > budget
    assert plan_ranges(halves, per_cell, budget) == bounds


def _rows(cells: Sequence[tuple[str, ...]], cell: list[int], seed: int) -> UnitRows:
    rng = np.random.default_rng(seed)
    n = len(cell)
    return UnitRows(tuple(cells), np.array(cell, np.int64), rng.integers(0, 2**32, n, dtype=np.uint32),
                    rng.integers(0, 2**32, n, dtype=np.uint32), rng.integers(-5, 50, (n, 2)),
                    rng.integers(1, 4, n))


def test_range_rows_keep_exactly_the_rows_of_the_range_and_one_cell_list() -> None:
    cells_a = [("e1", "a"), ("e2", "a"), ("e2", "b"), ("e3", "a")]
    cells_b = [("e2", "b"), ("e2", "c"), ("e3", "a")]
    a = rows_by_cell(_rows(cells_a, [3, 1, 0, 2, 1, 3, 2], 1))
    b = rows_by_cell(_rows(cells_b, [2, 0, 1, 1], 2))
    assert a.cell.tolist() == sorted(a.cell.tolist())
    got = range_rows([a, b], "e2", "e3")
    assert got.cells == (("e2", "a"), ("e2", "b"), ("e2", "c"))
    # every row of e2 (from both parts) is there once, under its own cell
    from_parts = sorted((cl[c], int(k)) for part, cl in ((a, cells_a), (b, cells_b))
                        for c, k in zip(part.cell.tolist(), part.k1.tolist(), strict=True) if cl[c][0] == "e2")
    assert sorted((got.cells[c], int(k)) for c, k in zip(got.cell.tolist(), got.k1.tolist(), strict=True)) == from_parts
    assert cell_span(a.cells, None, "e2") == (0, 1) and cell_span(a.cells, "e3", None) == (3, 4)
    assert range_rows([a, b], "e4", None).num_rows == 0
    assert experiment_cells(b.cells) == {"e2": 2, "e3": 1}


AT = AnalysisType("t", (Metric("clicks"), Metric("revenue", cap=40.0)), n_replicates=7)


def _pieces(n_units: int, n_exps: int, n_shards: int, seed: int) -> list[list]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    n = n_units * 3
    events = pa.table({"exp_id": [f"e{int(x):02d}" for x in rng.integers(0, n_exps, n)],
                       "variant_id": [f"v{int(x)}" for x in rng.integers(0, 3, n)],
                       "unit_id": [f"u{int(x)}" for x in rng.integers(0, n_units, n)],
                       "clicks": rng.integers(0, 5, n), "revenue": rng.integers(0, 90, n)})
    per_task = [event_unit_ids(events.slice(i, n // 2 + 1), AT, n_shards) for i in (0, n // 2 + 1)]
    return [[task[s] for task in per_task] for s in range(n_shards)]


def _as_dict(parts: list[CellSums]) -> dict[tuple[str, ...], tuple[int, list[int], list[list[int]]]]:
    out = {}
    for p in parts:
        for i, key in enumerate(p.keys):
            out[key] = (int(p.n_events[i]), [int(p.raw[m][i]) for m in p.raw], [p.reps[m][i].tolist() for m in p.reps])
    return out


@pytest.mark.usefixtures("ray_local")
def test_ranges_of_shipped_rows_plus_whole_partials_equal_the_sum_of_whole_partials() -> None:
    salts = {f"e{i:02d}": f"salt{i}" for i in range(12)}
    shards = _pieces(600, 12, 3, 5)
    whole = [shard_partial_ids(p, AT, salts) for p in shards]
    expected = sum((r.partial for r in whole[1:]), whole[0].partial)
    # shard 0 keeps its whole partial, shards 1 and 2 ship their rows (a budget of 0 bytes)
    shipped = [shard_partial_ids(shards[0], AT, salts, max_partial_bytes=None)] + [
        shard_partial_ids(p, AT, salts, max_partial_bytes=0) for p in shards[1:]]
    assert shipped[0].rows is None and all(r.rows is not None and not r.partial.keys for r in shipped[1:])
    counts = [{"rows_in": 1}] + [{"exp_cells": experiment_cells(r.rows.cells)} for r in shipped[1:] if r.rows]
    per_cell = partial_bytes(1, len(metric_columns(AT)), AT.n_replicates)
    plan = range_plan(counts, len(metric_columns(AT)), AT.n_replicates, budget=10 * per_cell, cpus=2)
    assert plan is not None and plan.row_shards == (1, 2) and len(plan.bounds) >= 3 and plan.tasks == 2
    builder = CellSumsBuilder(metric_columns(AT), AT.n_replicates)
    p0 = shipped[0].partial
    builder.add_block(p0.keys, p0.n_events, p0.raw, p0.reps, proven=True)
    refs = [ray.put(r.rows) for r in shipped[1:]]
    key_names = ("exp_id", "variant_id")
    for _ in range(2):  # a second pass (the commit's write after its digest) computes the same ranges again
        pieces = list(hour_sums_by_experiment(builder, refs, plan, AT, key_names))
        assert [p.keys[0][0] for p in pieces] == sorted(salts)  # one piece per experiment, in order
        assert all(len({k[0] for k in p.keys}) == 1 for p in pieces)
        assert _as_dict(pieces) == _as_dict([expected])
    # and the capped metric was clipped per unit, once: the ranges' sums are not the sums of the raw events
    assert any(int(v) for v in expected.raw["revenue"])
    # rows alone (every shard ships rows) give the same
    all_rows = [shard_partial_ids(p, AT, salts, max_partial_bytes=0).rows for p in shards]
    plan_all = range_plan([{"exp_cells": experiment_cells(r.cells)} for r in all_rows if r is not None],
                          len(metric_columns(AT)), AT.n_replicates, 4 * per_cell, 2)
    alone = list(hour_sums_by_experiment(CellSumsBuilder(metric_columns(AT), AT.n_replicates),
                                         [ray.put(r) for r in all_rows], plan_all, AT, key_names))
    assert _as_dict(alone) == _as_dict([expected])
    # one range from the rows reproduces the direct partial of those rows
    direct = partial_from_unit_rows(range_rows([r for r in all_rows if r is not None], None, None), AT)
    assert _as_dict([direct]) == _as_dict([expected])


def _agg(warehouse: Warehouse, hour: str) -> pa.Table:
    return read_rows(warehouse, "agg_engagement", where={"hour": hour}).sort_by(ORDER)


@pytest.mark.usefixtures("ray_local")
def test_an_hour_summed_range_by_range_commits_the_same_bytes_as_whole_partials(workdir: Path) -> None:
    world = make_world(workdir / "w", n_units=2500, n_hours=1, files_per_hour=3)
    hour = world.hours[0]
    lines: list[str] = []
    (whole,) = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=3)
    expected = _agg(world.warehouse, hour)
    (ranged,) = run_hour(world.config, hour, world.logs, world.warehouse, n_shards=3, max_partial_bytes=1,
                         progress=lines.append)
    got = _agg(world.warehouse, hour)
    assert got.equals(expected)  # commit ids included: the same content gives the same commit
    assert len(set(got.column("exp_id").to_pylist())) >= 2
    assert any("ranges of experiments" in line for line in lines)
    assert (ranged.cells, ranged.units, ranged.rows_read) == (whole.cells, whole.units, whole.rows_read)
    manifests = read_rows(world.warehouse, "_manifest").to_pylist()
    assert [m["cells"] for m in manifests] == [whole.cells] * 2 and manifests[0]["units"] == manifests[1]["units"]
    reference = reference_cells(world, world.events[hour], assignments_in_hour(world, hour))
    rows = {(r["exp_id"], r["variant_id"], r["country"], r["platform"]): r for r in got.to_pylist()}
    assert set(rows) == set(reference)
    for cell, want in reference.items():
        assert rows[cell]["clicks"] == want["clicks"]  # type: ignore[index]
        np.testing.assert_array_equal(rows[cell]["clicks_reps"], want["clicks_reps"])  # type: ignore[index]
