"""The algebra of :class:`rayab.aggregate.cell_sums.CellSums`: ``+`` is associative and commutative with an identity,
and any split of rows (unit rows into hours, files or shards; partition rows into files) gives the same value, checked
against plain-Python sums and the reference bootstrap weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayab.aggregate.cell_sums import INT64_MAX, CellState, CellSums, CellSumsBuilder
from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.unit_rows import event_unit_ids
from rayab.errors import StorageError
from rayab.model import AnalysisType, Metric
from rayab.query.results import cumulative_sums
from rayab.query.window import sum_window
from rayab.stats.poisson_weights import weights_for

B = 3
METRICS = ("clicks", "revenue")
KEYS = ("variant_id", "country")
# a histogram-like state (4 bins, summed) and a first-occurrence state (a time, the minimum wins)
STATES: dict[str, tuple[tuple[int, ...], Any]] = {"hist": ((4,), "sum"), "first_seen": ((), "min")}

Row = tuple[tuple[str, str], int, tuple[int, ...], tuple[tuple[int, ...], ...], tuple[int, ...], int]

values = st.integers(-(2**40), 2**40)
rows_strategy = st.lists(st.tuples(
    st.tuples(st.sampled_from("ab"), st.sampled_from(["US", "DE", "FR"])),
    st.integers(0, 50),
    st.tuples(*[values] * len(METRICS)),
    st.tuples(*[st.tuples(*[values] * B)] * len(METRICS)),
    st.tuples(*[st.integers(0, 9)] * 4),
    st.integers(0, 10**6),
), max_size=12)


def _sums(rows: Sequence[Row]) -> CellSums:
    """One ``CellSums`` from rows (keys may repeat), through the builder."""
    builder = CellSumsBuilder(METRICS, B, STATES)
    builder.add_block([r[0] for r in rows], np.array([r[1] for r in rows], np.int64).reshape(-1),
                      {m: np.array([r[2][j] for r in rows], np.int64).reshape(-1) for j, m in enumerate(METRICS)},
                      {m: np.array([r[3][j] for r in rows], np.int64).reshape(-1, B) for j, m in enumerate(METRICS)},
                      {"hist": np.array([r[4] for r in rows], np.int64).reshape(-1, 4),
                       "first_seen": np.array([r[5] for r in rows], np.int64).reshape(-1)})
    return builder.result(KEYS)


def _plain(sums: CellSums) -> dict[str, Any]:
    """Everything a ``CellSums`` holds, as plain Python values."""
    return {"key_names": sums.key_names, "keys": sums.keys, "n_events": sums.n_events.tolist(),
            "raw": {m: v.tolist() for m, v in sums.raw.items()}, "reps": {m: v.tolist() for m, v in sums.reps.items()},
            "hours": sums.hours, "states": {s: (v.values.tolist(), v.combine) for s, v in sums.states.items()}}


def _reference(rows: Sequence[Row]) -> dict[str, Any]:
    """Per-cell sums (and minima) in plain Python."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for key, n, raw, reps, hist, first in rows:
        c = cells.setdefault(key, {"n": 0, "raw": [0] * len(METRICS), "reps": [[0] * B for _ in METRICS],
                                   "hist": [0] * 4, "first": INT64_MAX})
        c["n"] += n
        c["first"] = min(c["first"], first)
        c["hist"] = [a + b for a, b in zip(c["hist"], hist, strict=True)]
        for j in range(len(METRICS)):
            c["raw"][j] += raw[j]
            c["reps"][j] = [a + b for a, b in zip(c["reps"][j], reps[j], strict=True)]
    keys = tuple(sorted(cells))
    return {"key_names": KEYS, "keys": keys, "n_events": [cells[k]["n"] for k in keys],
            "raw": {m: [cells[k]["raw"][j] for k in keys] for j, m in enumerate(METRICS)},
            "reps": {m: [cells[k]["reps"][j] for k in keys] for j, m in enumerate(METRICS)}, "hours": (),
            "states": {"hist": ([cells[k]["hist"] for k in keys], "sum"),
                       "first_seen": ([cells[k]["first"] for k in keys], "min")}}


ZERO = CellSums.zero(KEYS, METRICS, B, STATES)


@given(rows_strategy)
def test_sums_of_rows_equal_plain_python_sums(rows: list[Row]) -> None:
    assert _plain(_sums(rows)) == _reference(rows)


@given(rows_strategy, rows_strategy, rows_strategy)
def test_plus_is_associative_and_commutative(x: list[Row], y: list[Row], z: list[Row]) -> None:
    a, b, c = _sums(x), _sums(y), _sums(z)
    assert _plain((a + b) + c) == _plain(a + (b + c)) == _reference(x + y + z)
    assert _plain(a + b) == _plain(b + a)


@given(rows_strategy)
def test_zero_is_the_identity(rows: list[Row]) -> None:
    a = _sums(rows)
    assert _plain(a + ZERO) == _plain(ZERO + a) == _plain(a)


@given(rows_strategy, st.data())
def test_any_split_of_the_rows_gives_the_same_sums(rows: list[Row], data: st.DataObject) -> None:
    parts = data.draw(st.lists(st.integers(0, 3), min_size=len(rows), max_size=len(rows)))
    pieces = [_sums([r for r, p in zip(rows, parts, strict=True) if p == i]) for i in range(4)]
    total = ZERO
    for piece in pieces:
        total = total + piece
    assert _plain(total) == _plain(_sums(rows)) == _reference(rows)


@given(rows_strategy, rows_strategy)
def test_regrouping_commutes_with_plus(x: list[Row], y: list[Row]) -> None:
    a, b = _sums(x), _sums(y)
    assert _plain((a + b).regroup(["variant_id"])) == _plain(a.regroup(["variant_id"]) + b.regroup(["variant_id"]))
    by_country = (a + b).regroup(["country"])
    assert by_country.keys == tuple(sorted({(r[0][1],) for r in x + y}))
    for key, clicks in zip(by_country.keys, by_country.raw["clicks"].tolist(), strict=True):
        assert clicks == sum(r[2][0] for r in x + y if r[0][1] == key[0])


HOURS = ("2026-11-23T00", "2026-11-23T01", "2026-11-23T02")


@given(st.lists(st.tuples(st.sampled_from(HOURS), rows_strategy), max_size=4))
@settings(max_examples=50)
def test_cumulative_sums_are_the_running_plus(hours_rows: list[tuple[str, list[Row]]]) -> None:
    per_hour = {h: ZERO for h in HOURS}
    builder = CellSumsBuilder(METRICS, B, STATES)
    for hour, rows in hours_rows:
        per_hour[hour] = per_hour[hour] + _sums(rows)
    for hour in HOURS:
        part = per_hour[hour]
        builder.add_block([(hour, *k) for k in part.keys], part.n_events, part.raw, part.reps,
                          {s: v.values for s, v in part.states.items()})
    by_hour = builder.result(("hour", *KEYS))
    cumulative = cumulative_sums(by_hour, HOURS)
    running = ZERO
    for i, hour in enumerate(HOURS):
        running = running + per_hour[hour]
        end = ("2026-11-23T01", "2026-11-23T02", "2026-11-23T03")[i]
        at = [j for j, k in enumerate(cumulative.keys) if k[0] == end]
        at_end = cumulative.take(at, [cumulative.keys[j][1:] for j in at], KEYS)
        assert _plain(at_end) == {**_plain(running), "hours": ()}


AT = AnalysisType("t", (Metric("clicks"), Metric("revenue", decimals=2)), dimensions=("country",), n_replicates=4)
SALTS = {"e1": "salt-1", "e2": "salt-2"}
event_rows = st.lists(st.tuples(st.sampled_from(["e1", "e2"]), st.sampled_from("ab"), st.integers(0, 5),
                                st.sampled_from(["US", "DE"]), st.integers(0, 9), st.integers(0, 10**6)),
                      min_size=1, max_size=25)


def _events(rows: Sequence[tuple[str, str, int, str, int, int]]) -> pa.Table:
    # a unit keeps its variant in an experiment, as assignment guarantees
    return pa.table({"exp_id": [r[0] for r in rows], "variant_id": [f"{r[1]}" for r in rows],
                     "unit_id": [f"u{r[2]}-{r[1]}" for r in rows], "country": [r[3] for r in rows],
                     "clicks": pa.array([r[4] for r in rows], pa.int64()),
                     "revenue": pa.array([r[5] for r in rows], pa.int64())})


def _hour_partial(events: pa.Table, n_shards: int) -> CellSums:
    """What the hourly job computes: map to unit rows routed to shards, each shard's partial, their ``+``."""
    pieces = event_unit_ids(events, AT, n_shards)
    total = CellSums.zero(("exp_id", "variant_id", "country"), ("units", "clicks", "revenue"), AT.n_replicates)
    for shard in range(n_shards):
        total = total + shard_partial_ids([pieces[shard]], AT, SALTS).partial
    return total


@given(event_rows, st.data())
@settings(max_examples=40, deadline=None)
def test_any_split_of_unit_rows_into_hours_files_and_shards_gives_the_same_partial(
        rows: list[tuple[str, str, int, str, int, int]], data: st.DataObject) -> None:
    parts = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)), "file of each event")
    shards = data.draw(st.integers(1, 3), "shards")
    split = CellSums.zero(("exp_id", "variant_id", "country"), ("units", "clicks", "revenue"), AT.n_replicates)
    for i in range(3):
        mine = [r for r, p in zip(rows, parts, strict=True) if p == i]
        if mine:
            split = split + _hour_partial(_events(mine), shards)
    whole = _hour_partial(_events(rows), 1)
    assert _plain(split) == _plain(whole)
    # and against plain Python with the reference weights: sum over units of w(unit, b) x the unit's total
    for (exp, variant, country), clicks in zip(whole.keys, whole.reps["clicks"].tolist(), strict=True):
        units: dict[str, int] = {}
        for r in rows:
            if (r[0], r[1], r[3]) == (exp, variant, country):
                units[f"u{r[2]}-{r[1]}"] = units.get(f"u{r[2]}-{r[1]}", 0) + r[4]
        ids = sorted(units)
        weights = weights_for(SALTS[exp], ids, AT.n_replicates).astype(np.int64)
        assert clicks == (weights * np.array([units[u] for u in ids])[:, None]).sum(axis=0).tolist()


@given(st.lists(st.tuples(st.sampled_from(HOURS), st.sampled_from("ab"), st.sampled_from(["US", "DE"]),
                          st.integers(0, 9), st.integers(-99, 99)), max_size=15), st.data())
@settings(max_examples=50)
def test_any_split_of_partition_rows_into_files_gives_the_same_window(
        rows: list[tuple[str, str, str, int, int]], data: st.DataObject) -> None:
    at = AnalysisType("w", (Metric("clicks"),), dimensions=("country",), n_replicates=2)

    def table(part: Sequence[tuple[str, str, str, int, int]]) -> pa.Table:
        return pa.table({"hour": [r[0] for r in part], "variant_id": [r[1] for r in part],
                         "country": [r[2] for r in part], "n_events": pa.array([r[3] for r in part], pa.int64()),
                         "clicks": pa.array([r[4] for r in part], pa.int64()),
                         "clicks_reps": pa.array([[r[4], 2 * r[4]] for r in part], pa.list_(pa.int64()))})

    parts = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    for by_hour in (False, True):
        names = ("hour", "variant_id", "country") if by_hour else ("variant_id", "country")
        split = CellSums.zero(names, ("clicks",), 2)
        for i in range(3):
            split = split + sum_window(table([r for r, p in zip(rows, parts, strict=True) if p == i]), at, ["clicks"],
                                       ["country"], by_hour=by_hour)
        assert _plain(split) == _plain(sum_window(table(rows), at, ["clicks"], ["country"], by_hour=by_hour))


def test_plus_refuses_a_sum_beyond_int64_and_keeps_an_exact_one() -> None:
    def one(value: int) -> CellSums:
        return CellSums(("variant_id",), (("a",),), np.array([1]), {"x": np.array([value])},
                        {"x": np.array([[value]])})

    assert (one(INT64_MAX) + one(-1)).raw["x"].tolist() == [INT64_MAX - 1]
    assert (one(-INT64_MAX) + one(-1)).raw["x"].tolist() == [-INT64_MAX - 1]
    with pytest.raises(StorageError, match=r"sums of x exceed int64"):
        _ = one(2**62) + one(2**62)
    with pytest.raises(StorageError, match=r"sums of x exceed int64"):
        _ = one(-(2**62)) + one(-(2**62) - 1)


@pytest.mark.parametrize("values", [[2**62, 2**62], [-(2**62), -(2**62) - 1], [2**62, 3, 2**62 - 1]])
def test_regrouping_cells_whose_sum_would_wrap_is_refused(values: list[int]) -> None:
    # several rows into one cell: the bound is taken of the rows, not of their (wrapped) per-cell sum
    n = len(values)
    sums = CellSums(("variant_id", "country"), tuple(("a", str(i)) for i in range(n)), np.ones(n, np.int64),
                    {"x": np.array(values)}, {"x": np.array([[v, 0] for v in values])})
    with pytest.raises(StorageError, match=r"sums of x could exceed int64"):
        sums.regroup(("variant_id",))
    builder = CellSumsBuilder(["x"], 2)
    with pytest.raises(StorageError, match=r"sums of x could exceed int64"):
        builder.add_block([("a",)] * n, np.ones(n, np.int64), {"x": np.array(values)},
                          {"x": np.array([[v, 0] for v in values])})
    exact = CellSums(("variant_id", "country"), (("a", "0"), ("a", "1")), np.ones(2, np.int64),
                     {"x": np.array([2**62, 2**62 - 1])}, {"x": np.array([[1, 0], [2, 0]])})
    assert exact.regroup(("variant_id",)).raw["x"].tolist() == [INT64_MAX]


def test_plus_refuses_sums_of_different_cells_metrics_or_replicates() -> None:
    a = CellSums(("variant_id",), (("a",),), np.array([1]), {"x": np.array([1])}, {"x": np.array([[1, 2]])})
    with pytest.raises(ValueError, match=r"cannot add sums of cells"):
        _ = a + CellSums.zero(("exp_id",), ("x",), 2)
    with pytest.raises(ValueError, match=r"cannot add sums of cells"):
        _ = a + CellSums.zero(("variant_id",), ("y",), 2)
    with pytest.raises(ValueError, match=r"B=2 and B=3"):
        _ = a + CellSums(("variant_id",), (("b",),), np.array([1]), {"x": np.array([1])}, {"x": np.array([[1, 2, 3]])})
    with pytest.raises(ValueError, match=r"states"):
        _ = a + CellSums(("variant_id",), (), np.zeros(0, np.int64), {"x": np.zeros(0, np.int64)},
                         {"x": np.zeros((0, 2), np.int64)}, (), {"h": CellState(np.zeros((0, 2), np.int64))})
