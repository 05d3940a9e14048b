"""Hours too big for whole partials: shards ship merged unit rows, and the hour's sums are built range by range.

A shard's partial covers every cell its units touched, which with thousands of experiments is nearly every cell of
the hour: at 10,000 experiments and B = 200 one partial is gigabytes, and S of them (plus their sum) do not fit a
machine. The merged (cell, unit) rows of a shard are much smaller there (one row per unit and cell, a few words
each, against ``1 + M (B + 1)`` words per cell). So a shard whose partial would pass a budget ships its rows
instead, sorted by cell (:func:`rows_by_cell`); the reducer splits the hour's experiments into ranges whose partial
fits the budget (:func:`plan_ranges`) and has each range summed from every shard's rows (:func:`range_rows`, then
:func:`rayab.aggregate.shards.partial_from_unit_rows`).

Each (cell, unit) row lives in exactly one shard (shards split units), and every sum is an exact integer sum, so a
range's partial is bit-identical to the same cells of the sum of the S whole partials.

>>> import numpy as np
>>> from rayab.aggregate.unit_rows import UnitRows
>>> part = lambda cells, cell: UnitRows(cells, np.array(cell), np.arange(len(cell), dtype=np.uint32),
...                                     np.zeros(len(cell), np.uint32), np.ones((len(cell), 1), np.int64),
...                                     np.ones(len(cell), np.int64))
>>> a = rows_by_cell(part((("e1", "a"), ("e2", "a")), [1, 0, 1]))
>>> b = rows_by_cell(part((("e2", "a"), ("e2", "b")), [1, 0]))
>>> plan_ranges([experiment_cells(a.cells), experiment_cells(b.cells)], bytes_per_cell=8, budget=16)
['e2']
>>> r = range_rows([a, b], "e2", None)
>>> r.cells, r.cell.tolist()
((('e2', 'a'), ('e2', 'b')), [0, 0, 0, 1])
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby, pairwise
from operator import itemgetter

import numpy as np

from rayab.aggregate.unit_rows import UnitRows

__all__ = ["PARTIAL_BYTES", "cell_span", "experiment_cells", "partial_bytes", "plan_ranges", "range_rows",
           "ranges_of", "rows_by_cell"]

PARTIAL_BYTES = 256 * 2**20
"""The default budget: the largest partial a shard builds whole, and what one range's partial may reach."""

_first = itemgetter(0)


def partial_bytes(n_cells: int, n_metrics: int, n_replicates: int) -> int:
    """Bytes of a partial of ``n_cells`` cells: event counts, raw sums and ``B`` replicate sums per metric column.

    >>> partial_bytes(10, 2, 99)
    16080
    """
    return 8 * n_cells * (1 + n_metrics * (n_replicates + 1))


def rows_by_cell(rows: UnitRows) -> UnitRows:
    """``rows`` ordered by cell (stable), so that each range of cells is one slice of every array."""
    if rows.num_rows and np.any(rows.cell[1:] < rows.cell[:-1]):
        return rows.take(np.argsort(rows.cell, kind="stable"))
    return rows


def experiment_cells(cells: Sequence[tuple[str, ...]]) -> dict[str, int]:
    """Cells per experiment of a sorted cell list (what a shard reports for :func:`plan_ranges`).

    >>> experiment_cells([("a", "x"), ("a", "y"), ("b", "x")])
    {'a': 2, 'b': 1}
    """
    return {exp_id: sum(1 for _ in group) for exp_id, group in groupby(cells, key=_first)}


def plan_ranges(counts: Iterable[Mapping[str, int]], bytes_per_cell: int, budget: int) -> list[str]:
    """Where the hour's ranges of experiments start: boundaries ``[b1, b2, ...]`` cut the experiment ids into the
    half-open ranges ``(-inf, b1), [b1, b2), ..., [bk, +inf)``, each as long as its partial stays within
    ``budget``. ``counts`` are the cells per experiment of every shard's rows; a range's cells are counted as their
    sum (an upper bound of their union). An experiment bigger than the budget is a range alone (an experiment is
    one partition, written whole).

    >>> plan_ranges([{"a": 1, "b": 2, "c": 1}], bytes_per_cell=10, budget=30)
    ['c']
    >>> plan_ranges([{"a": 1, "b": 1}, {"b": 1}], bytes_per_cell=10, budget=20)
    ['b']
    >>> plan_ranges([], 10, 30)
    []
    """
    total: dict[str, int] = {}
    for part in counts:
        for exp_id, n in part.items():
            total[exp_id] = total.get(exp_id, 0) + n
    bounds: list[str] = []
    size = 0
    for exp_id in sorted(total):
        cost = max(1, total[exp_id] * bytes_per_cell)
        if size and size + cost > budget:
            bounds.append(exp_id)
            size = 0
        size += cost
    return bounds


def ranges_of(bounds: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """The half-open ranges ``(lo, hi)`` the boundaries make (``None``: unbounded).

    >>> ranges_of(["c", "m"])
    [(None, 'c'), ('c', 'm'), ('m', None)]
    """
    edges: list[str | None] = [None, *bounds, None]
    return list(pairwise(edges))


def cell_span(cells: Sequence[tuple[str, ...]], lo: str | None, hi: str | None) -> tuple[int, int]:
    """The index range of the sorted ``cells`` whose experiment lies in ``[lo, hi)``.

    >>> cell_span([("a", "x"), ("b", "x"), ("b", "y"), ("c", "x")], "b", "c")
    (1, 3)
    """
    start = 0 if lo is None else bisect_left(cells, lo, key=_first)
    end = len(cells) if hi is None else bisect_left(cells, hi, key=_first)
    return start, end


def range_rows(parts: Sequence[UnitRows], lo: str | None, hi: str | None) -> UnitRows:
    """The rows of every part (each :func:`rows_by_cell`, cells sorted) whose cell's experiment lies in
    ``[lo, hi)`` (``None``: unbounded), with one sorted cell list for all of them."""
    pieces: list[tuple[Sequence[tuple[str, ...]], UnitRows, int, int, int]] = []
    for part in parts:
        c0, c1 = cell_span(part.cells, lo, hi)
        start, end = (int(i) for i in np.searchsorted(part.cell, [c0, c1]))
        pieces.append((part.cells[c0:c1], part, c0, start, end))
    cells = tuple(sorted(set().union(*(c for c, _, _, _, _ in pieces))))
    if not cells:
        return UnitRows.empty(parts[0].values.shape[1] if parts else 1)
    where = {key: i for i, key in enumerate(cells)}
    cell, k1, k2, values, n_events = [], [], [], [], []
    for part_cells, part, c0, start, end in pieces:
        remap = np.fromiter((where[key] for key in part_cells), np.int64, len(part_cells))
        cell.append(remap[part.cell[start:end] - c0])
        k1.append(part.k1[start:end])
        k2.append(part.k2[start:end])
        values.append(part.values[start:end])
        n_events.append(part.n_events[start:end])
    return UnitRows(cells, np.concatenate(cell), np.concatenate(k1), np.concatenate(k2), np.concatenate(values),
                    np.concatenate(n_events))
