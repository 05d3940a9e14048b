"""Addable per-cell sums: the one algebra of hourly partials, query windows, cumulative series and power planning.

A cell is a key tuple, e.g. ``(exp_id, variant_id, *dimensions)`` in an hourly partial or ``(variant_id, country)``
in a window query. Per cell, :class:`CellSums` holds the event count, the raw sum of each additive metric and its
B replicate sums, all exact int64. ``CellSums`` form a commutative monoid: :meth:`CellSums.zero` (no cells) is the
identity and ``+`` merges cells by key, so whatever way the unit rows of a window were split into hours, files,
shards or tasks, adding the pieces gives the same value. The hourly reducer folds shard partials with ``+``; the
window query streams partition files through :class:`CellSumsBuilder`, an in-place fold with the same result;
:meth:`CellSums.regroup` sums cells again over fewer key names; :meth:`CellSums.cumulative` is the running ``+`` over
the hours of a per-hour result.

Other addable per-cell states join the family through ``states``: a :class:`CellState` is an int64 array whose first
axis is the cells (any trailing shape, e.g. histogram bins, or replicates x bins) with its combine rule: ``"sum"``
(counts, histograms) or ``"min"`` (the first occurrence of something, as a time). ``+`` combines every state of a
cell with its rule, absent cells being the rule's identity.

Sums are exact: ``+`` refuses (:class:`~rayab.errors.StorageError`) a sum that would not fit int64 rather than
wrapping, and :class:`CellSumsBuilder` refuses a window whose sum of ``|values|`` could pass it.

>>> import numpy as np
>>> a = CellSums(("variant_id",), (("a",),), np.array([2]), {"clicks": np.array([3])}, {"clicks": np.array([[1, 4]])})
>>> b = CellSums(("variant_id",), (("b",), ("a",)), np.array([1, 1]), {"clicks": np.array([1, 2])},
...              {"clicks": np.array([[0, 1], [2, 3]])})
>>> merged = a + b
>>> merged.keys, merged.raw["clicks"].tolist(), merged.reps["clicks"].tolist()
((('a',), ('b',)), [5, 1], [[3, 7], [0, 1]])
>>> (merged + CellSums.zero(("variant_id",), ("clicks",), 2)).raw["clicks"].tolist()
[5, 1]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from rayab.aggregate.sum_bounds import abs_totals
from rayab.errors import NotFoundError, StorageError

__all__ = ["INT64_MAX", "CellState", "CellSums", "CellSumsBuilder", "Combine"]

I64 = npt.NDArray[np.int64]
INT64_MAX = 2**63 - 1
Combine = Literal["sum", "min"]


@dataclass(frozen=True, eq=False)
class CellState:
    """An addable per-cell state: ``values`` (cells first, any trailing shape) and how two cells' values combine."""

    values: I64
    combine: Combine = "sum"

    @property
    def identity(self) -> int:
        """The value of an absent cell: 0 for ``sum``, the largest int64 for ``min``."""
        return 0 if self.combine == "sum" else INT64_MAX


def _checked_add(x: I64, y: I64, what: str) -> I64:
    """``x + y`` elementwise, refusing a sum outside int64 (two's-complement overflow check, exact)."""
    total = x + y
    if total.size and bool(((x ^ total) & (y ^ total) < 0).any()):
        raise StorageError(f"the sums of {what} exceed int64 ({INT64_MAX}), so they would not be exact: "
                           "query a shorter window or store the metric with fewer decimals")
    return total


def _spread(values: I64, rows: I64, n_cells: int, fill: int) -> I64:
    out = np.full((n_cells, *values.shape[1:]), fill, np.int64)
    out[rows] = values
    return out


@dataclass(frozen=True, eq=False)
class CellSums:
    """Per cell (``keys`` sorted): ``n_events[c]``, ``raw[m][c]`` and ``reps[m][c, b]`` of every additive metric
    ``m``, and further addable ``states``. ``hours`` lists the hours that had data."""

    key_names: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    n_events: I64
    raw: Mapping[str, I64]
    reps: Mapping[str, I64]
    hours: tuple[str, ...] = ()
    states: Mapping[str, CellState] = field(default_factory=dict)

    @classmethod
    def zero(cls, key_names: Sequence[str], metric_names: Sequence[str], n_replicates: int,
             states: Mapping[str, tuple[tuple[int, ...], Combine]] | None = None) -> CellSums:
        """The identity of ``+``: no cells (``states`` gives each state's trailing shape and combine rule)."""
        return cls(tuple(key_names), (), np.zeros(0, np.int64), {m: np.zeros(0, np.int64) for m in metric_names},
                   {m: np.zeros((0, n_replicates), np.int64) for m in metric_names}, (),
                   {s: CellState(np.zeros((0, *shape), np.int64), rule)
                    for s, (shape, rule) in (states or {}).items()})

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The additive metrics summed, in order."""
        return tuple(self.raw)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (event counts, raw and replicate sums, states): what a partial costs to ship."""
        return int(self.n_events.nbytes + sum(a.nbytes for a in self.raw.values())
                   + sum(a.nbytes for a in self.reps.values()) + sum(s.values.nbytes for s in self.states.values()))

    @property
    def n_replicates(self) -> int:
        """B (0 when no metric was summed)."""
        return int(next(iter(self.reps.values())).shape[1]) if self.reps else 0

    def cell(self, key: tuple[str, ...]) -> int:
        """Row number of a cell."""
        try:
            return self.keys.index(key)
        except ValueError:
            raise NotFoundError(f"no data for cell {dict(zip(self.key_names, key, strict=True))}") from None

    def _check_compatible(self, other: CellSums) -> None:
        if other.key_names != self.key_names or set(other.raw) != set(self.raw):
            raise ValueError(f"cannot add sums of cells {self.key_names} of {sorted(self.raw)} and "
                             f"{other.key_names} of {sorted(other.raw)}")
        if {s: v.combine for s, v in other.states.items()} != {s: v.combine for s, v in self.states.items()}:
            raise ValueError(f"cannot add sums with states {sorted(self.states)} and {sorted(other.states)}")
        if self.keys and other.keys and other.n_replicates != self.n_replicates:
            raise ValueError(f"cannot add sums with B={self.n_replicates} and B={other.n_replicates}")

    def __add__(self, other: CellSums) -> CellSums:
        self._check_compatible(other)
        if not other.keys and not other.hours:
            return self
        if not self.keys and not self.hours:
            return other
        keys = tuple(sorted(set(self.keys) | set(other.keys)))
        index = {k: i for i, k in enumerate(keys)}
        mine = np.fromiter((index[k] for k in self.keys), np.int64, len(self.keys))
        theirs = np.fromiter((index[k] for k in other.keys), np.int64, len(other.keys))
        n = len(keys)

        def add(x: I64, y: I64, what: str) -> I64:
            return _checked_add(_spread(x, mine, n, 0), _spread(y, theirs, n, 0), what)

        states = {}
        for name, state in self.states.items():
            theirs_state = other.states[name]
            x = _spread(state.values, mine, n, state.identity)
            y = _spread(theirs_state.values, theirs, n, state.identity)
            values = _checked_add(x, y, name) if state.combine == "sum" else np.minimum(x, y)
            states[name] = CellState(values, state.combine)
        return CellSums(self.key_names, keys, add(self.n_events, other.n_events, "n_events"),
                        {m: add(v, other.raw[m], m) for m, v in self.raw.items()},
                        {m: add(v, other.reps[m], m) for m, v in self.reps.items()},
                        tuple(sorted(set(self.hours) | set(other.hours))), states)

    def regroup(self, key_names: Sequence[str]) -> CellSums:
        """The cells summed again per ``key_names`` (a subset of the key names, in any order), sorted by key."""
        key_names = tuple(key_names)
        if key_names == self.key_names:
            return self
        at = [self.key_names.index(k) for k in key_names]
        builder = CellSumsBuilder(self.metric_names, self.n_replicates,
                                  {s: (v.values.shape[1:], v.combine) for s, v in self.states.items()})
        builder.hours.update(self.hours)
        builder.add_block([tuple(key[i] for i in at) for key in self.keys], self.n_events, self.raw, self.reps,
                          {s: v.values for s, v in self.states.items()})
        return builder.result(key_names)

    def take(self, rows: Sequence[int] | I64, keys: Sequence[tuple[str, ...]] | None = None,
             key_names: Sequence[str] | None = None) -> CellSums:
        """The cells at ``rows`` (optionally renamed to ``keys`` under ``key_names``; keys must stay sorted)."""
        rows = np.asarray(rows, np.int64)
        return CellSums(tuple(key_names) if key_names is not None else self.key_names,
                        tuple(keys) if keys is not None else tuple(self.keys[i] for i in rows.tolist()),
                        self.n_events[rows], {m: v[rows] for m, v in self.raw.items()},
                        {m: v[rows] for m, v in self.reps.items()}, self.hours,
                        {s: CellState(v.values[rows], v.combine) for s, v in self.states.items()})

    def cumulative(self, steps: Sequence[str], step_keys: Sequence[str], name: str) -> CellSums:
        """The running ``+`` over the first key (e.g. the hour): cells ``(step, *rest)`` become ``(step_keys[i],
        *rest)`` holding the sum of the cells ``(s, *rest)`` for every ``s`` up to ``steps[i]``, under key names
        ``(name, *rest)``. A cell appears from the first step it has data. Equal to folding ``+`` step by step
        (vectorised: a dense prefix sum, or a running minimum for ``min`` states)."""
        cells = sorted({key[1:] for key in self.keys})
        cell_at = {cell: j for j, cell in enumerate(cells)}
        step_at = {step: i for i, step in enumerate(steps)}
        s_index = np.fromiter((step_at[k[0]] for k in self.keys), np.int64, len(self.keys))
        c_index = np.fromiter((cell_at[k[1:]] for k in self.keys), np.int64, len(self.keys))
        shape = (len(steps), len(cells))

        def prefix(values: I64, fill: int = 0, scan: Callable[..., I64] = np.cumsum) -> I64:
            dense = np.full(shape + values.shape[1:], fill, np.int64)
            dense[s_index, c_index] = values
            return scan(dense, axis=0).reshape((shape[0] * shape[1], *values.shape[1:]))

        keep = np.flatnonzero(prefix(np.ones(len(self.keys), np.int64)) > 0)
        keys = tuple((step_keys[k // len(cells)], *cells[k % len(cells)]) for k in keep.tolist())
        states = {s: CellState((prefix(v.values) if v.combine == "sum" else
                                prefix(v.values, v.identity, np.minimum.accumulate))[keep], v.combine)
                  for s, v in self.states.items()}
        return CellSums((name, *self.key_names[1:]), keys, prefix(self.n_events)[keep],
                        {m: prefix(v)[keep] for m, v in self.raw.items()},
                        {m: prefix(v)[keep] for m, v in self.reps.items()}, self.hours, states)


def _abs_bound(block: I64, proven: bool = False) -> int:
    """The largest sum of ``|values|`` over the rows of ``block`` in any one column: no sum of any of its rows,
    into any cell, can exceed it.

    Computed exactly (:func:`~rayab.aggregate.sum_bounds.abs_totals`: no int64 sum that could wrap), except for a
    ``proven`` block: the rows of one hour (a committed partition, or a shard's partial of an hour whose totals
    passed :func:`~rayab.aggregate.sum_bounds.check_hour_totals`), whose sums are proven to fit int64 and so are
    summed in int64 directly. For such a block the builder takes the bound of the block summed per cell (a pass
    less, and the summed block is small), which is sound: the rows of one hour sum exactly per cell, and every
    running sum of a cell is a sum of those per-cell block sums, so at most the sum of their bounds.

    >>> import numpy as np
    >>> block = np.array([[1, 5], [2, -7], [3, 0]])
    >>> _abs_bound(block), _abs_bound(block[[0, 2]]), _abs_bound(block, proven=True)
    (12, 5, 12)
    >>> _abs_bound(np.array([2**62, 2**62])) == 2**63  # beyond int64, not wrapped
    True
    """
    if block.size == 0:
        return 0
    if not proven:
        return max(abs_totals(block.reshape(len(block), -1)))
    if int(block.min()) >= 0:  # the usual case (counts, sums of non-negative values): |values| is the block
        return int(block.sum(axis=0, dtype=np.int64).max())
    return int(np.abs(block).sum(axis=0, dtype=np.int64).max())


class _Grouping:
    """How a block of rows folds into the builder's rows ``targets`` (one target per row): the distinct
    ``cells`` the rows go to, ``reduce(block)`` the block summed per cell (in ``cells`` order; the block itself
    when no two rows share a cell), and ``add(acc, reduced)``."""

    def __init__(self, targets: I64) -> None:
        first = int(targets[0])
        self.slice: slice | None = None
        self.starts: I64 | None = None
        self.order: I64 | None = None
        self.bounds: list[int] = []
        if np.array_equal(targets, np.arange(first, first + len(targets))):
            # the usual case: a partition lists its cells in the order they were first seen, so one slice
            self.slice = slice(first, first + len(targets))
            self.cells = targets
            return
        order = np.argsort(targets, kind="stable")
        ordered = targets[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        if len(starts) == len(targets):  # distinct cells in another order
            self.cells = targets
            return
        # several rows per cell: reduce them per cell first (without reordering when already grouped by cell)
        self.cells = ordered[starts]
        self.starts = starts
        self.bounds = [*starts.tolist(), len(targets)]
        self.order = None if np.array_equal(order, np.arange(len(targets))) else order

    def reduce(self, block: I64) -> I64:
        if self.starts is None:
            return block
        rows = block if self.order is None else block[self.order]
        # a sum per run of rows: np.add.reduceat along the first axis is several times slower on wide blocks
        out = np.empty((len(self.bounds) - 1, *block.shape[1:]), np.int64)
        for i, (start, end) in enumerate(itertools.pairwise(self.bounds)):
            np.add.reduce(rows[start:end], axis=0, out=out[i:i + 1], keepdims=True)
        return out

    def add(self, acc: I64, reduced: I64) -> None:
        if self.slice is not None:
            acc[self.slice] += reduced
        else:
            acc[self.cells] += reduced


def _grow(arrays: dict[str, I64], name: str, rows: int, fill: int) -> None:
    """Give ``arrays[name]`` ``rows`` rows, the new ones ``fill``: resized in place when nothing else refers to the
    array (a big one is then remapped by the allocator, not copied next to itself), else copied.

    >>> arrays = {"a": np.ones((2, 3), np.int64), "b": np.ones(1, np.int64)}
    >>> _grow(arrays, "a", 3, 0); _grow(arrays, "b", 3, 7)
    >>> arrays["a"].tolist(), arrays["b"].tolist()
    ([[1, 1, 1], [1, 1, 1], [0, 0, 0]], [1, 7, 7])
    """
    old = len(arrays[name])
    shape = (rows, *arrays[name].shape[1:])
    try:
        arrays[name].resize(shape)  # zero-fills the new rows; refused while another reference exists
    except ValueError:
        arrays[name] = np.concatenate([arrays[name], np.zeros((rows - old, *shape[1:]), np.int64)])
    if fill:
        arrays[name][old:] = fill


def first_key_spans(keys: Sequence[tuple[str, ...]]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each run of equal first keys in sorted ``keys``.

    >>> list(first_key_spans([("a", "x"), ("a", "y"), ("b", "x")]))
    [(0, 2), (2, 3)]
    """
    start = 0
    while start < len(keys):
        end = start + 1
        while end < len(keys) and keys[end][0] == keys[start][0]:
            end += 1
        yield start, end
        start = end


class CellSumsBuilder:
    """An in-place fold of blocks of rows into :class:`CellSums`: per-cell running sums that grow as new cells
    appear (capacity doubles, so growth is amortised). ``builder.result(names)`` equals the ``+`` of one
    ``CellSums`` per block.

    Each metric's sums are checked against int64: the bounds of every block added (:func:`_abs_bound`) are summed
    exactly in Python integers, and a window whose bound passes ``2**63 - 1`` is refused rather than wrapped.

    >>> import numpy as np
    >>> builder = CellSumsBuilder(["clicks"], 1)
    >>> builder.add_block([("b",), ("a",), ("b",)], np.array([1, 1, 1]), {"clicks": np.array([2, 3, 4])},
    ...                   {"clicks": np.array([[1], [2], [3]])})
    >>> sums = builder.result(("variant_id",))
    >>> sums.keys, sums.raw["clicks"].tolist(), sums.reps["clicks"].tolist()
    ((('a',), ('b',)), [3, 6], [[2], [4]])
    """

    def __init__(self, metrics: Iterable[str], n_replicates: int,
                 states: Mapping[str, tuple[tuple[int, ...], Combine]] | None = None) -> None:
        self.metrics = tuple(metrics)
        self.bounds: dict[tuple[str, str], int] = {(m, kind): 0 for m in self.metrics for kind in ("raw", "reps")}
        self.b = n_replicates
        self.index: dict[tuple[str, ...], int] = {}
        self.n_events = np.zeros(0, np.int64)
        self.raw = {m: np.zeros(0, np.int64) for m in self.metrics}
        self.reps = {m: np.zeros((0, n_replicates), np.int64) for m in self.metrics}
        self.state_rules = dict(states or {})
        self.states = {s: np.zeros((0, *shape), np.int64) for s, (shape, _) in self.state_rules.items()}
        self.hours: set[str] = set()

    def rows_of(self, keys: Sequence[tuple[str, ...]]) -> I64:
        """The builder's row of every key (new keys get new, zeroed rows)."""
        index = self.index
        for key in keys:
            if key not in index:
                index[key] = len(index)
        if len(index) > len(self.n_events):
            # grow by a quarter at least (amortised), but a first block of many cells (a reducer's first partial)
            # gets exactly its size: a reducer's later partials add few cells, and doubling for them would hold
            # twice the hour's sums
            capacity = max(16, len(index), len(self.n_events) + len(self.n_events) // 4)
            events = {"n_events": self.n_events}
            self.n_events = np.zeros(0, np.int64)  # the dict's reference is the only one: resized in place
            _grow(events, "n_events", capacity, 0)
            self.n_events = events.pop("n_events")
            for m in self.metrics:
                _grow(self.raw, m, capacity, 0)
                _grow(self.reps, m, capacity, 0)
            for s, (_, rule) in self.state_rules.items():
                _grow(self.states, s, capacity, 0 if rule == "sum" else INT64_MAX)
        return np.fromiter((index[k] for k in keys), np.int64, len(keys))

    def add_block(self, keys: Sequence[tuple[str, ...]], n_events: I64, raw: Mapping[str, I64],
                  reps: Mapping[str, I64], states: Mapping[str, I64] | None = None, proven: bool = False) -> None:
        """Add rows (one key each; keys may repeat) with their event counts, raw and replicate sums; ``proven``:
        the rows are of one hour whose sums are proven to fit int64 (see :func:`_abs_bound`)."""
        if not len(keys):
            return
        targets = self.rows_of(keys)
        group = _Grouping(targets)
        group.add(self.n_events, group.reduce(n_events))
        for m in self.metrics:
            raw_cells, reps_cells = group.reduce(raw[m]), group.reduce(reps[m])
            if proven:
                self.check(m, _abs_bound(raw_cells, True), _abs_bound(reps_cells, True))
            else:
                self.check(m, _abs_bound(raw[m]), _abs_bound(reps[m]))
            group.add(self.raw[m], raw_cells)
            group.add(self.reps[m], reps_cells)
        for s, (_, rule) in self.state_rules.items():
            values = (states or {})[s]
            if rule == "sum":
                group.add(self.states[s], group.reduce(values))
            else:
                np.minimum.at(self.states[s], targets, values)

    def check(self, metric: str, raw_bound: int, reps_bound: int) -> None:
        """Add the bounds of a block to ``metric``'s running bounds; refuse the window before a sum could wrap."""
        self.bounds[metric, "raw"] += raw_bound
        self.bounds[metric, "reps"] += reps_bound
        if max(self.bounds[metric, "raw"], self.bounds[metric, "reps"]) > INT64_MAX:
            raise StorageError(f"the window's sums of {metric} could exceed int64 ({INT64_MAX}), so they would not "
                               "be exact: query a shorter window or store the metric with fewer decimals")

    def result(self, key_names: Sequence[str]) -> CellSums:
        """The sums, cells sorted by key."""
        return self._take(key_names, sorted(self.index))

    def results_by_first_key(self, key_names: Sequence[str], lo: str | None = None,
                             hi: str | None = None) -> Iterator[CellSums]:
        """The sums in pieces, one per value of the first key (e.g. one per experiment), in key order: together
        they are :meth:`result`, but only one piece is copied out of the running sums at a time. ``lo`` and
        ``hi`` keep the first keys in ``[lo, hi)`` (``None``: unbounded).

        >>> builder = CellSumsBuilder(["x"], 1)
        >>> builder.add_block([("f", "a"), ("e", "b"), ("e", "a")], np.array([1, 1, 1]), {"x": np.array([1, 2, 3])},
        ...                   {"x": np.array([[1], [2], [3]])})
        >>> [(s.keys, s.raw["x"].tolist()) for s in builder.results_by_first_key(("exp_id", "variant_id"))]
        [((('e', 'a'), ('e', 'b')), [3, 2]), ((('f', 'a'),), [1])]
        """
        keys = sorted(k for k in self.index if (lo is None or k[0] >= lo) and (hi is None or k[0] < hi))
        for start, end in first_key_spans(keys):
            yield self._take(key_names, keys[start:end])

    @property
    def n_cells(self) -> int:
        """Cells seen so far."""
        return len(self.index)

    def _take(self, key_names: Sequence[str], keys: Sequence[tuple[str, ...]]) -> CellSums:
        rows = np.fromiter((self.index[k] for k in keys), np.int64, len(keys))
        return CellSums(tuple(key_names), tuple(keys), self.n_events[rows],
                        {m: self.raw[m][rows] for m in self.metrics}, {m: self.reps[m][rows] for m in self.metrics},
                        tuple(sorted(self.hours)),
                        {s: CellState(self.states[s][rows], rule) for s, (_, rule) in self.state_rules.items()})
