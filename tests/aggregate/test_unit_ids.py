"""The map and shard steps of the hourly job without Ray: (cell, unit) rows collapsed on unit ids in every split,
merged by unit in the shards and hashed once, against plain Python over the raw events.

The reference groups events per (cell, unit) with a dict, hashes with :mod:`hashlib` and weighs with the numpy
Poisson weights of :mod:`rayab.stats.poisson_weights`; the job's steps must give the same raw and replicate sums
whatever the split of the events into files and of the units into shards, hash each (cell, unit) of the hour once
(not once per split), and count the events of units missing from the assignment table exactly.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from rayab.aggregate.cell_sums import CellSums
from rayab.aggregate.grouping import collapse_by_unit_bytes, collapse_sorted_by_hash, merge_sorted_by_hash, take_bytes
from rayab.aggregate.shards import shard_partial_ids
from rayab.aggregate.unit_rows import UnitIdRows, assignment_keys, event_unit_ids, merge_unit_ids
from rayab.model import AnalysisType, Metric
from rayab.stats.poisson_weights import poisson_weights

AT = AnalysisType("t", (Metric("clicks"), Metric("spend")), dimensions=("platform",), n_replicates=7)
SALTS = {"e1": "salt-one", "e2": "salt-two"}


def _events(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    units = [f"unit-{i}" if i % 3 else f"ü-{i}-{'x' * (i % 70)}" for i in rng.integers(0, 60, n)]  # multi-byte, long
    return pa.table({"exp_id": rng.choice(["e1", "e2"], n).tolist(), "variant_id": rng.choice(["a", "b"], n).tolist(),
                     "platform": rng.choice(["ios", "web"], n).tolist(), "unit_id": units,
                     "clicks": rng.integers(0, 5, n), "spend": rng.integers(-3, 900, n)})


def _reference(events: pa.Table) -> dict[tuple[str, ...], tuple[int, list[int], np.ndarray]]:
    per_unit: dict[tuple[tuple[str, ...], str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in events.to_pylist():
        key: tuple[str, ...] = (row["exp_id"], row["variant_id"], row["platform"])
        acc = per_unit[(key, row["unit_id"])]
        acc[0] += 1
        acc[1] += row["clicks"]
        acc[2] += row["spend"]
    out: dict[tuple[str, ...], tuple[int, list[int], np.ndarray]] = {}
    for (cell, unit), (n, clicks, spend) in per_unit.items():
        digest = hashlib.md5(f"{SALTS[cell[0]]}:{unit}".encode()).digest()
        k1 = np.array([int.from_bytes(digest[:4], "big")], np.uint32)
        k2 = np.array([int.from_bytes(digest[4:8], "big")], np.uint32)
        w = poisson_weights(k1, k2, AT.n_replicates)[0].astype(np.int64)
        events_, raw, reps = out.get(cell, (0, [0, 0, 0], np.zeros((3, AT.n_replicates), np.int64)))
        out[cell] = (events_ + n, [raw[0], raw[1] + clicks, raw[2] + spend],
                     reps + np.outer([0, clicks, spend], w))
    return out


@pytest.mark.parametrize(("n_splits", "n_shards"), [(1, 1), (3, 2), (5, 4)])
def test_splits_and_shards_give_the_reference_sums_and_hash_each_pair_once(n_splits: int, n_shards: int) -> None:
    events = _events(900, seed=n_splits)
    step = -(-events.num_rows // n_splits)
    pieces = [event_unit_ids(events.slice(i * step, step), AT, n_shards) for i in range(n_splits)]
    results = [shard_partial_ids([p[s] for p in pieces], AT, SALTS) for s in range(n_shards)]
    total = CellSums.zero(("exp_id", "variant_id", "platform"), ("units", "clicks", "spend"), AT.n_replicates)
    for result in results:
        total = total + result.partial
    want = _reference(events)
    assert set(total.keys) == set(want)
    for i, cell in enumerate(total.keys):
        n, raw, reps = want[cell]
        assert total.n_events[i] == n and [int(total.raw[m][i]) for m in total.metric_names] == raw
        assert np.array_equal(np.stack([total.reps[m][i] for m in total.metric_names]), reps)
    distinct_pairs = len({(r["exp_id"], r["variant_id"], r["platform"], r["unit_id"]) for r in events.to_pylist()})
    assert sum(r.rows_out for r in results) == distinct_pairs  # md5 once per (cell, unit) of the hour
    if n_splits > 1:
        assert sum(r.rows_in for r in results) > distinct_pairs  # the splits repeat pairs; the shards merge them


def test_unassigned_events_are_counted_in_the_shards() -> None:
    events = _events(400, seed=9)
    assigned = pa.table({"exp_id": ["e1"] * 20 + ["e2"] * 5,
                         "unit_id": [f"unit-{i}" for i in range(20)] + [f"unit-{i}" for i in range(5)]})
    keys = assignment_keys(assigned, SALTS)
    pieces = [event_unit_ids(events.slice(i * 150, 150), AT, 3) for i in range(3)]
    unmatched = sum(shard_partial_ids([p[s] for p in pieces], AT, SALTS, assigned_keys=keys).unmatched
                    for s in range(3))
    known = {(e, u) for e, u in zip(assigned.column("exp_id").to_pylist(), assigned.column("unit_id").to_pylist(),
                                    strict=True)}
    want = sum((r["exp_id"], r["unit_id"]) not in known for r in events.to_pylist())
    assert 0 < unmatched == want < events.num_rows


def test_the_shard_merge_tells_ids_apart_that_share_a_hash_and_takes_pieces_in_any_order() -> None:
    # forced collisions: the nine ids share two hashes, so rows of equal hash hold different ids and cells
    rng = np.random.default_rng(3)
    runs = []
    for _ in range(4):
        n = int(rng.integers(5, 40))
        units = rng.integers(0, 9, n)
        ids = [f"id-{int(i)}" for i in units]
        runs.append((rng.integers(0, 3, n), ids, np.where(units % 2 == 0, 11, 29).astype(np.uint64),
                     rng.integers(-50, 50, (n, 2)), rng.integers(0, 4, n)))
    want: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for cells, ids, _, values, counts in runs:
        for c, u, v, k in zip(cells, ids, values, counts, strict=True):
            acc = want[(int(c), u)]
            acc[0] += int(v[0])
            acc[1] += int(v[1])
            acc[2] += int(k)
    order = [np.argsort(h, kind="stable") for _, _, h, _, _ in runs]
    cells = np.concatenate([r[0][o] for r, o in zip(runs, order, strict=True)])
    ids = [r[1][i] for r, o in zip(runs, order, strict=True) for i in o]
    hashes = np.concatenate([r[2][o] for r, o in zip(runs, order, strict=True)])
    raw = [u.encode() for u in ids]
    data = np.frombuffer(b"".join(raw), np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in raw])]).astype(np.int64)
    g_cell, g_hash, g_row, sums, counts = merge_sorted_by_hash(
        cells, hashes, data, offsets, np.concatenate([r[3][o] for r, o in zip(runs, order, strict=True)]),
        np.concatenate([r[4][o] for r, o in zip(runs, order, strict=True)]),
        np.cumsum([0] + [len(r[1]) for r in runs]))
    got = {(int(c), ids[int(r)]): [int(s[0]), int(s[1]), int(k)]
           for c, r, s, k in zip(g_cell, g_row, sums, counts, strict=True)}
    assert got == dict(want) and len(g_cell) == len(want)
    assert np.all(np.diff(g_hash.astype(np.float64)) >= 0)
    with pytest.raises(ValueError, match="not sorted by hash"):
        merge_sorted_by_hash([0, 0], np.array([2, 1], np.uint64), data[:2], np.array([0, 1, 2]), [[1], [1]], [1, 1],
                             [0, 2])
    # pieces that are not sorted by hash (not made by a map task) are sorted before the merge, same result
    events = _events(300, seed=4)
    pieces = [event_unit_ids(events.slice(i * 100, 100), AT, 1)[0] for i in range(3)]
    shuffled = []
    for p in pieces:
        back = np.arange(p.num_rows)[::-1].copy()
        d, o = take_bytes(p.unit_data, p.unit_offsets, back)
        shuffled.append(UnitIdRows(p.cells, p.cell[back], p.unit_hash[back], d, o, p.values[back], p.n_events[back]))
    def rows(merged: UnitIdRows) -> dict[tuple[int, str], list[int]]:
        return {(int(c), u): [*v.tolist(), int(k)] for c, u, v, k in
                zip(merged.cell, merged.unit_ids().to_pylist(), merged.values, merged.n_events, strict=True)}

    ours, theirs = merge_unit_ids(pieces), merge_unit_ids(shuffled)
    assert rows(ours) == rows(theirs) and ours.num_rows == theirs.num_rows == len(rows(ours)) > 0


@pytest.mark.parametrize("n", [1, 7, 5_000, 120_000])
def test_collapse_sorted_by_hash_is_the_collapse_then_a_stable_sort_by_hash(n: int) -> None:
    """The partitioned collapse gives exactly the one-table collapse's groups after a stable sort by hash (equal
    hashes, one unit in several cells, in order of first appearance), and the groups a dict makes of the rows."""
    rng = np.random.default_rng(n)
    ids = [f"u{i}" if i % 5 else f"ü-{i}-{'y' * (i % 60)}" for i in rng.integers(0, max(n // 3, 1), n)]
    encoded = [s.encode() for s in ids]
    data = np.frombuffer(b"".join(encoded), np.uint8) if n else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int64)
    cells = rng.integers(0, 4, n)
    values = rng.integers(-5, 100, (n, 2))
    counts = rng.integers(0, 3, n)
    old = collapse_by_unit_bytes(cells, data, offsets, values, counts)
    order = np.argsort(old[1], kind="stable")
    new = collapse_sorted_by_hash(cells, data, offsets, values, counts)
    for a, b in zip(old, new, strict=True):
        assert np.array_equal(a[order], b)
    assert bool((new[1][1:] >= new[1][:-1]).all())
    expected: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for i in range(n):
        acc = expected[(int(cells[i]), ids[i])]
        acc[0] += int(values[i, 0])
        acc[1] += int(values[i, 1])
        acc[2] += int(counts[i])
    got = {(int(c), ids[int(r)]): [int(s[0]), int(s[1]), int(k)]
           for c, r, s, k in zip(new[0], new[2], new[3], new[4], strict=True)}
    assert got == dict(expected)
