"""Per-hour sums of query windows, kept across requests so one read serves both a window's results and its series.

A window's results are the sum over its hours of the per-hour sums, and its time series their running sum
(:meth:`~rayab.aggregate.cell_sums.CellSums.cumulative`); both are exact integer sums, so reading the per-hour sums
(cells ``(hour, variant_id, *projection)``) once and deriving both gives, bit for bit, what two reads would. An
experiment page (its scorecard) and its charts (the cumulative lift) thus read the window's partitions once.

Entries are keyed by what decides the sums: the analysis type and its table's version (a new commit is a new
version, so an entry is never stale), the experiment, the window, the filter and the projection. An entry holds
the additive metrics read so far; a request for other metrics reads only those and adds them to the entry. The
cache holds at most ``max_bytes`` of arrays, the least recently used entries going first.

>>> import numpy as np
>>> cache = HourSumsCache(max_bytes=10_000)
>>> def read(metrics):
...     reads.append(tuple(metrics))
...     return CellSums(("hour", "variant_id"), (("h0", "a"),), np.array([1]), {m: np.array([2]) for m in metrics},
...                     {m: np.array([[1, 3]]) for m in metrics}, ("h0",))
>>> reads = []
>>> key = ("t", 3, "e", "h0", "h1", None, ())
>>> cache.get(key, ["clicks", "views"], read).metric_names
('clicks', 'views')
>>> cache.get(key, ["views"], read).metric_names, cache.get(key, ["units", "clicks"], read).metric_names
(('views',), ('units', 'clicks'))
>>> reads, cache.hits, cache.misses
([('clicks', 'views'), ('units',)], 1, 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from rayab.aggregate.cell_sums import CellSums

__all__ = ["HourSumsCache", "with_metrics"]


def with_metrics(sums: CellSums, metrics: Sequence[str]) -> CellSums:
    """``sums`` holding only ``metrics`` (in that order; the arrays are shared, not copied)."""
    return CellSums(sums.key_names, sums.keys, sums.n_events, {m: sums.raw[m] for m in metrics},
                    {m: sums.reps[m] for m in metrics}, sums.hours, sums.states)


def _merged(old: CellSums, new: CellSums) -> CellSums | None:
    """The metrics of both (the same cells read twice), or None when the cells differ."""
    if old.keys != new.keys or old.hours != new.hours or old.key_names != new.key_names:
        return None
    return CellSums(old.key_names, old.keys, old.n_events, {**old.raw, **new.raw}, {**old.reps, **new.reps},
                    old.hours, old.states)


class HourSumsCache:
    """Per-hour :class:`~rayab.aggregate.cell_sums.CellSums` by key, with the metrics read so far (thread-safe)."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CellSums] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held."""
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def get(self, key: Hashable, metrics: Sequence[str], read: Callable[[Sequence[str]], CellSums]) -> CellSums:
        """The per-hour sums of ``metrics`` under ``key``; ``read(metrics)`` computes those not held yet."""
        wanted = list(dict.fromkeys(metrics))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        missing = [m for m in wanted if entry is None or m not in entry.raw]
        if not missing and entry is not None:
            with self._lock:
                self.hits += 1
            return with_metrics(entry, wanted)
        fresh = read(missing)
        merged = _merged(entry, fresh) if entry is not None else None
        if merged is None:
            merged = fresh if entry is None or missing == wanted else read(wanted)
        with self._lock:
            self.misses += 1
            self._entries[key] = merged
            self._entries.move_to_end(key)
            self._evict()
        return with_metrics(merged, wanted)

    def _evict(self) -> None:
        total = sum(e.nbytes for e in self._entries.values())
        while len(self._entries) > 1 and total > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.nbytes
