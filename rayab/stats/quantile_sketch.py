"""A mergeable quantile sketch: per-replicate weighted counts in fixed log-spaced buckets (in the manner of DDSketch).

**Buckets.** A :class:`SketchLayout` with relative accuracy ``alpha`` fixes ``gamma = (1 + alpha) / (1 - alpha)``
and the bucket bounds ``upper(i) = gamma ** i`` (computed as ``exp(i * log(gamma))``): bucket ``i`` holds the
positive values in ``(upper(i - 1), upper(i)]`` and is represented by ``2 upper(i) / (gamma + 1)``, which is within
``alpha`` of every value of the bucket relative to that value. Edges are exact: ``upper(i)`` itself lands in bucket
``i``, the next float above it in ``i + 1``.

**Range and keys.** Buckets are stored by an integer ``key`` whose order is the order of the values:

* ``0`` is the **zero bucket**: exact zeros and every value with ``|x| < min_value`` (default ``1e-9``); it is
  represented by ``0.0``, so a quantile falling there is off by less than ``min_value`` in absolute terms;
* ``1, 2, ...`` are the positive buckets from the one holding ``min_value`` up to the one holding ``max_value``
  (default ``1e15``);
* negative values are **mirrored**: ``key(-x) = -key(x)`` and the representative is negated, so ``-x`` has the same
  relative accuracy as ``x``;
* values with ``|x| > max_value``, NaN and infinities are rejected with a :class:`~rayab.errors.ValidationError`
  naming the first such value and how many there are (the caller quarantines those events).

With ``alpha = 0.01`` a factor of 10 spans 116 buckets and the default range ``[1e-9, 1e15]`` 2,764 keys per sign.

**Counts that add exactly.** :class:`QuantileSketches` holds, sparsely, one row per ``(cell, key)`` that received
an event: the event count and the ``B`` per-replicate weighted counts, ``sum over events of w(unit, b)`` with
``w`` the Poisson weight of the event's unit (:mod:`rayab.stats.poisson_weights`), all int64. ``a + b`` adds rows
key by key, so any split of the events (hours, shards, files) sums to the sketch of the whole, in any order; the
empty sketch is the identity.

**Quantiles.** ``quantile(q)`` of a summed histogram is the representative of the first bucket whose cumulative
count reaches ``q`` times the total (at least one event for ``q = 0``): the sketch's version of numpy's
``method="inverted_cdf"`` (the lower, non-interpolated definition, the smallest value ``x`` with ``F(x) >= q``). That
sample value lies in the chosen bucket, so the estimate is within ``alpha`` of the exact weighted sample quantile
(relative to it; zero-bucket values: absolutely within ``min_value``). Every replicate is read from its own column,
all ``B`` at once.

>>> import numpy as np
>>> layout = SketchLayout(0.01)
>>> layout.keys(np.array([0.0, 1.0, 1.0202, 1.03, -1.0])).tolist()
[0, 1037, 1038, 1039, -1037]
>>> layout.values(np.array([1037, 1038])).round(4).tolist()
[0.99, 1.01]
>>> from rayab.stats.poisson_weights import unit_keys
>>> k1, k2 = unit_keys("salt", ["u1", "u1", "u2", "u3"])
>>> hour1 = QuantileSketches.from_events(layout, [120.0, 80.0, 95.0, 300.0], [0, 0, 0, 0], k1, k2, 1, 4)
>>> hour2 = QuantileSketches.from_events(layout, [110.0], [0], k1[:1], k2[:1], 1, 4)
>>> window = hour1 + hour2
>>> window.n_rows, window.replicates.shape
(5, (5, 4))
>>> estimates, replicates = window.quantiles([0.5, 0.9])
>>> estimates[0].round(1).tolist()
[111.1, 301.9]
>>> window == hour2 + hour1 == window + QuantileSketches.empty(layout, 4)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rayab.errors import ValidationError
from rayab.stats.arguments import check_count, check_positive

__all__ = ["QuantileSketches", "SketchLayout", "histogram_quantiles", "interpolated_values"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


def _first_bad(field_name: str, values: F64, bad: npt.NDArray[np.bool_], rule: str) -> ValidationError:
    first = float(values[np.flatnonzero(bad)[0]])
    return ValidationError(field_name, first, f"{rule} ({int(bad.sum())} of {values.size} values)")


@dataclass(frozen=True)
class SketchLayout:
    """The fixed bucket layout: relative accuracy ``alpha`` in (0, 1) and the positive range ``[min_value,
    max_value]`` (see the module doc). Sketches merge only with the same layout."""

    relative_accuracy: float = 0.01
    min_value: float = 1e-9
    max_value: float = 1e15
    gamma: float = field(init=False, repr=False)
    log_gamma: float = field(init=False, repr=False)
    min_index: int = field(init=False, repr=False)
    max_key: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        alpha = self.relative_accuracy
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
            raise ValidationError("relative_accuracy", alpha, "must be a number in (0, 1)")
        low = check_positive("min_value", self.min_value)
        high = check_positive("max_value", self.max_value)
        if not low < high:
            raise ValidationError("max_value", high, f"must be > min_value ({low})")
        gamma = (1.0 + alpha) / (1.0 - alpha)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "log_gamma", math.log(gamma))
        object.__setattr__(self, "min_index", int(self.indexes(np.array([low]))[0]))
        object.__setattr__(self, "max_key", int(self.indexes(np.array([high]))[0]) - self.min_index + 1)
        if self.max_key >= 2**31:
            raise ValidationError("relative_accuracy", alpha, "gives more than 2**31 buckets over the range")

    def upper_bounds(self, indexes: npt.ArrayLike) -> F64:
        """``gamma ** i``: the largest value of bucket ``i`` (a bucket index, not a key)."""
        bounds: F64 = np.exp(np.asarray(indexes, dtype=np.float64) * self.log_gamma)
        return bounds

    def indexes(self, magnitudes: npt.ArrayLike) -> I64:
        """The bucket index ``i`` of each positive value: ``upper(i - 1) < x <= upper(i)``, exact at the edges."""
        x = np.asarray(magnitudes, dtype=np.float64)
        i = np.ceil(np.log(x) / self.log_gamma).astype(np.int64)
        i = np.where(x > self.upper_bounds(i), i + 1, i)  # rounding of the log, one step at most
        i = np.where(x <= self.upper_bounds(i - 1), i - 1, i)
        return i

    def keys(self, values: npt.ArrayLike, field_name: str = "values") -> I32:
        """The key of every value (vectorised): 0 for ``|x| < min_value``, ``+-(i - min_index + 1)`` otherwise."""
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        magnitude = np.abs(x)
        bad = ~(magnitude <= self.max_value)  # NaN compares false, so it is caught here too
        if bad.any():
            raise _first_bad(field_name, x, bad, f"must be finite with |value| <= max_value ({self.max_value:g})")
        indexed = magnitude >= self.min_value
        keys = np.zeros(len(x), np.int64)
        keys[indexed] = self.indexes(magnitude[indexed]) - self.min_index + 1
        return (np.sign(x).astype(np.int64) * keys).astype(np.int32)

    def values(self, keys: npt.ArrayLike) -> F64:
        """The representative value of every key: ``+-2 upper(i) / (gamma + 1)``, and 0.0 for key 0."""
        k = np.asarray(keys, dtype=np.int64)
        if (np.abs(k) > self.max_key).any():
            raise ValidationError("keys", int(k[np.abs(k) > self.max_key].reshape(-1)[0]),
                                  f"must be in [-{self.max_key}, {self.max_key}]")
        magnitude = 2.0 * self.upper_bounds(np.abs(k) + self.min_index - 1) / (self.gamma + 1.0)
        represented: F64 = np.where(k == 0, 0.0, np.sign(k) * magnitude)
        return represented


def _check_quantiles(quantiles: npt.ArrayLike) -> F64:
    q = np.asarray(quantiles, dtype=np.float64).reshape(-1)
    bad = ~((q >= 0.0) & (q <= 1.0))
    if bad.any():
        raise _first_bad("quantiles", q, bad, "must be in [0, 1]")
    return q


def interpolated_values(layout: SketchLayout, keys: npt.ArrayLike, fractions: npt.ArrayLike) -> F64:
    """A value inside each key's bucket, ``fraction`` of the way through it in log scale and in the order of the
    values: ``gamma ** (i - 1 + f)`` for a positive key (``f = 0`` its lower, ``f = 1`` its upper bound),
    ``-gamma ** (i - f)`` for a negative one, 0.0 for the zero bucket.

    >>> layout = SketchLayout(0.01)
    >>> k = layout.keys([100.0])
    >>> bool(interpolated_values(layout, k, [0.0])[0] < 100.0 <= interpolated_values(layout, k, [1.0])[0])
    True
    """
    k = np.asarray(keys, dtype=np.int64)
    f = np.asarray(fractions, dtype=np.float64)
    index = (np.abs(k) + layout.min_index - 1).astype(np.float64)
    positive = np.exp((index - 1.0 + f) * layout.log_gamma)
    negative = -np.exp((index - f) * layout.log_gamma)
    out: F64 = np.where(k == 0, 0.0, np.where(k > 0, positive, negative))
    return out


def histogram_quantiles(layout: SketchLayout, keys: npt.ArrayLike, counts: npt.ArrayLike,
                        quantiles: npt.ArrayLike, interpolate: bool = False) -> F64:
    """Quantiles of one summed histogram: ``keys`` ``(K,)`` sorted ascending, ``counts`` ``(K,)`` or ``(K, B)``.

    Returns ``(len(quantiles),)`` or ``(len(quantiles), B)``: for each ``q`` and column, the representative of the
    first key whose cumulative count is ``>= q * total`` and ``> 0``; NaN where the column's total is 0. With
    ``interpolate`` the value is read inside that bucket instead, at the fraction ``(q * total - before) / count``
    of its count (log-linear, :func:`interpolated_values`): still in the bucket of the exact sample quantile, so
    within a factor ``gamma`` of it, and a continuous function of the counts (no ties on the bucket grid).

    >>> layout = SketchLayout(0.01)
    >>> keys = layout.keys([1.0, 2.0, 3.0])
    >>> counts = np.array([[1, 0], [1, 3], [2, 1]])
    >>> np.round(histogram_quantiles(layout, keys, counts, [0.25, 0.5, 1.0]), 2).tolist()
    [[0.99, 1.99], [1.99, 1.99], [2.97, 2.97]]
    """
    k = np.asarray(keys, dtype=np.int64).reshape(-1)
    c = np.asarray(counts, dtype=np.int64)
    one_column = c.ndim == 1
    c = c.reshape(len(k), -1)
    if len(k) > 1 and not (np.diff(k) > 0).all():
        raise ValidationError("keys", k[:8].tolist(), "must be strictly increasing")
    if (c < 0).any():
        raise ValidationError("counts", int(c[c < 0][0]), "must be >= 0")
    q = _check_quantiles(quantiles)
    out = np.full((len(q), c.shape[1]), np.nan)
    if len(k):
        cumulative = np.cumsum(c, axis=0)
        total = cumulative[-1]
        represented = layout.values(k)
        columns = np.arange(c.shape[1])
        for j, level in enumerate(q):
            before = (cumulative < level * total) | (cumulative == 0)
            position = np.minimum(before.sum(axis=0), len(k) - 1)
            if interpolate:
                reached = cumulative[position, columns]
                inside = c[position, columns]
                with np.errstate(divide="ignore", invalid="ignore"):
                    fraction = np.clip((level * total - (reached - inside)) / inside, 0.0, 1.0)
                value = interpolated_values(layout, k[position], np.where(inside > 0, fraction, 1.0))
            else:
                value = represented[position]
            out[j] = np.where(total > 0, value, np.nan)
    result: F64 = out[:, 0] if one_column else out
    return result


@dataclass(frozen=True, eq=False)
class QuantileSketches:
    """Sparse bucket counts of many cells: rows sorted by ``(cell, key)``, one per pair that received events.

    Attributes:
        layout: the bucket layout.
        cells: ``(R,)`` int64 cell index of each row.
        keys: ``(R,)`` int32 bucket key (see :meth:`SketchLayout.keys`).
        counts: ``(R,)`` int64 number of events (the unweighted histogram, for the point estimate).
        replicates: ``(R, B)`` int64 Poisson-weighted counts per replicate.
    """

    layout: SketchLayout
    cells: I64
    keys: I32
    counts: I64
    replicates: I64

    @classmethod
    def empty(cls, layout: SketchLayout, n_replicates: int) -> QuantileSketches:
        """The sketch of no events: the identity of ``+``."""
        b = check_count("n_replicates", n_replicates)
        return cls(layout, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64),
                   np.zeros((0, b), np.int64))

    @classmethod
    def from_counts(cls, layout: SketchLayout, cells: npt.ArrayLike, keys: npt.ArrayLike, counts: npt.ArrayLike,
                    replicates: npt.ArrayLike) -> QuantileSketches:
        """The canonical sketch of rows in any order: duplicate ``(cell, key)`` rows summed, empty rows dropped."""
        cell = np.asarray(cells, dtype=np.int64).reshape(-1)
        key = np.asarray(keys, dtype=np.int64).reshape(-1)
        count = np.asarray(counts, dtype=np.int64).reshape(-1)
        reps = np.asarray(replicates, dtype=np.int64)
        if not (len(key) == len(cell) == len(count) and reps.ndim == 2 and reps.shape[0] == len(cell)):
            raise ValidationError("replicates", reps.shape, f"must be (R, B) with R = {len(cell)} rows like "
                                  f"cells, keys and counts ({len(key)}, {len(count)})")
        if (cell < 0).any():
            raise ValidationError("cells", int(cell[cell < 0][0]), "must be >= 0")
        if (np.abs(key) > layout.max_key).any():
            raise ValidationError("keys", int(key[np.abs(key) > layout.max_key][0]),
                                  f"must be in [-{layout.max_key}, {layout.max_key}]")
        if (count < 0).any() or (reps < 0).any():
            raise ValidationError("counts", "negative", "counts and replicate counts must be >= 0")
        order = np.lexsort((key, cell))
        cell, key, count, reps = cell[order], key[order], count[order], reps[order]
        if len(cell):
            starts = np.flatnonzero(np.r_[True, (cell[1:] != cell[:-1]) | (key[1:] != key[:-1])])
            cell, key = cell[starts], key[starts]
            count = np.add.reduceat(count, starts)
            reps = np.add.reduceat(reps, starts, axis=0)
            keep = (count > 0) | (reps > 0).any(axis=1)
            cell, key, count, reps = cell[keep], key[keep], count[keep], reps[keep]
        return cls(layout, cell, key.astype(np.int32), count, np.ascontiguousarray(reps))

    @classmethod
    def from_events(cls, layout: SketchLayout, values: npt.ArrayLike, cells: npt.ArrayLike,
                    k1: npt.NDArray[np.uint32], k2: npt.NDArray[np.uint32], n_cells: int,
                    n_replicates: int) -> QuantileSketches:
        """The sketch of events: each event's ``value`` in its cell, weighted per replicate by its unit's Poisson
        weight (``k1``, ``k2``: the unit keys of :func:`rayab.stats.poisson_weights.unit_keys`, one per event)."""
        n_cells = check_count("n_cells", n_cells)
        b = check_count("n_replicates", n_replicates)
        key = layout.keys(values).astype(np.int64)
        cell = np.asarray(cells, dtype=np.int64).reshape(-1)
        if not len(cell) == len(key) == len(k1) == len(k2):
            raise ValidationError("cells", len(cell), f"must have one entry per value ({len(key)}) and unit key "
                                  f"({len(k1)}, {len(k2)})")
        if len(cell) and not (cell.min() >= 0 and cell.max() < n_cells):
            raise ValidationError("cells", int(cell[(cell < 0) | (cell >= n_cells)][0]), f"must be in [0, {n_cells})")
        # the compiled kernel loads on first use: reading sketches at query time needs no numba (the light core)
        from rayab.stats.replicate_sums import replicate_sums

        width = 2 * layout.max_key + 1  # (cell, key) packed in one int64, so the unique is 1-d (fast)
        packed, group = np.unique(cell * width + (key + layout.max_key), return_inverse=True)
        raw, reps = replicate_sums(np.asarray(k1, np.uint32), np.asarray(k2, np.uint32), group.reshape(-1),
                                   np.ones((len(cell), 1), np.int64), len(packed), b)
        # already canonical: the unique's rows are distinct and sorted by (cell, key), and each holds >= 1 event
        return cls(layout, packed // width, (packed % width - layout.max_key).astype(np.int32),
                   np.ascontiguousarray(raw[:, 0], np.int64), np.ascontiguousarray(reps[:, 0, :], np.int64))

    @property
    def n_rows(self) -> int:
        """The number of stored ``(cell, key)`` rows."""
        return len(self.cells)

    @property
    def n_replicates(self) -> int:
        """B, the replicates per row."""
        return int(self.replicates.shape[1])

    @property
    def nbytes(self) -> int:
        """The bytes of the arrays: ``R * (8 + 4 + 8 + 8 B)``."""
        return int(self.cells.nbytes + self.keys.nbytes + self.counts.nbytes + self.replicates.nbytes)

    def __add__(self, other: QuantileSketches) -> QuantileSketches:
        if not isinstance(other, QuantileSketches):
            return NotImplemented
        if other.layout != self.layout:
            raise ValidationError("layout", other.layout, f"must equal {self.layout} to merge")
        if other.n_replicates != self.n_replicates:
            raise ValidationError("n_replicates", other.n_replicates, f"must equal {self.n_replicates} to merge")
        return QuantileSketches.from_counts(self.layout, np.r_[self.cells, other.cells],
                                            np.r_[self.keys, other.keys], np.r_[self.counts, other.counts],
                                            np.concatenate([self.replicates, other.replicates]))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, QuantileSketches):
            return NotImplemented
        return (self.layout == other.layout and self.replicates.shape == other.replicates.shape
                and all(np.array_equal(getattr(self, name), getattr(other, name))
                        for name in ("cells", "keys", "counts", "replicates")))

    __hash__ = None  # type: ignore[assignment]

    def quantiles(self, quantiles: npt.ArrayLike, n_cells: int | None = None,
                  interpolate: bool = False) -> tuple[F64, F64]:
        """``(estimates, replicates)`` with shapes ``(n_cells, Q)`` and ``(n_cells, Q, B)``.

        ``estimates`` come from the unweighted counts, ``replicates`` from each replicate's weighted counts
        (:func:`histogram_quantiles`, ``interpolate`` as there); cells without events (and replicates whose weights
        are all 0) are NaN.
        ``n_cells`` defaults to one more than the largest cell present.
        """
        q = _check_quantiles(quantiles)
        n = int(self.cells.max()) + 1 if n_cells is None and self.n_rows else check_count("n_cells", n_cells or 0)
        estimates = np.full((n, len(q)), np.nan)
        replicates = np.full((n, len(q), self.n_replicates), np.nan)
        bounds = np.searchsorted(self.cells, np.arange(n + 1))
        for cell in range(n):
            lo, hi = bounds[cell], bounds[cell + 1]
            if lo == hi:
                continue
            keys = self.keys[lo:hi]
            estimates[cell] = histogram_quantiles(self.layout, keys, self.counts[lo:hi], q, interpolate)
            replicates[cell] = histogram_quantiles(self.layout, keys, self.replicates[lo:hi], q, interpolate)
        return estimates, replicates
