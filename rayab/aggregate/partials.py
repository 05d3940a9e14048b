"""Addable partial aggregates of one hour: per cell, the event count, raw sums and B replicate sums.

A cell is (exp_id, variant_id, *dimensions). Partials form a commutative monoid: ``Partial.zero(...)`` is the
identity and ``+`` merges cells by key, summing integer arrays, so the reducer's result does not depend on how the
hour was split into files, shards or tasks. Metric columns are ``units`` followed by the analysis type's metrics.

>>> import numpy as np
>>> a = Partial(("exp_id", "variant_id"), (("e", "a"),), ("units", "clicks"), np.array([2]),
...             np.array([[1, 3]]), np.array([[[1, 0], [2, 4]]]))
>>> b = Partial(("exp_id", "variant_id"), (("e", "b"), ("e", "a")), ("units", "clicks"), np.array([1, 1]),
...             np.array([[1, 1], [0, 2]]), np.array([[[0, 1], [0, 2]], [[0, 0], [1, 1]]]))
>>> merged = a + b
>>> merged.keys, merged.raw.tolist()
((('e', 'a'), ('e', 'b')), [[1, 5], [1, 1]])
>>> (merged + Partial.zero(a.key_names, a.metric_names, 2)).raw.tolist() == merged.raw.tolist()
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rayab.model import UNITS_METRIC, AnalysisType
from rayab.storage.schemas import REPS_TYPE, agg_schema, reps_column

__all__ = ["Partial", "metric_columns"]

I64 = npt.NDArray[np.int64]


def metric_columns(analysis_type: AnalysisType) -> tuple[str, ...]:
    """The metric columns every partial of an analysis type carries: ``units``, the additive metrics, then the
    CUPED sums (:attr:`rayab.model.AnalysisType.cuped_columns`)."""
    return (UNITS_METRIC, *analysis_type.metric_names, *analysis_type.cuped_columns)


@dataclass(frozen=True, eq=False)
class Partial:
    """Cells (sorted keys) with ``n_events[c]``, ``raw[c, m]`` and ``reps[c, m, b]``, all int64."""

    key_names: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    metric_names: tuple[str, ...]
    n_events: I64
    raw: I64
    reps: I64

    @classmethod
    def zero(cls, key_names: tuple[str, ...], metric_names: tuple[str, ...], n_replicates: int) -> Partial:
        """The identity of ``+``: no cells."""
        return cls(key_names, (), metric_names, np.zeros(0, np.int64), np.zeros((0, len(metric_names)), np.int64),
                   np.zeros((0, len(metric_names), n_replicates), np.int64))

    @property
    def n_replicates(self) -> int:
        """B, the number of bootstrap replicates."""
        return int(self.reps.shape[2])

    def __add__(self, other: Partial) -> Partial:
        if (other.key_names, other.metric_names) != (self.key_names, self.metric_names):
            raise ValueError("cannot add partials of different analysis types")
        if other.n_replicates != self.n_replicates and other.keys and self.keys:
            raise ValueError(f"cannot add partials with B={self.n_replicates} and B={other.n_replicates}")
        keys = tuple(sorted(set(self.keys) | set(other.keys)))
        index = {k: i for i, k in enumerate(keys)}
        n_reps = self.n_replicates if self.keys else other.n_replicates
        n_events = np.zeros(len(keys), np.int64)
        raw = np.zeros((len(keys), len(self.metric_names)), np.int64)
        reps = np.zeros((len(keys), len(self.metric_names), n_reps), np.int64)
        for part in (self, other):
            rows = np.array([index[k] for k in part.keys], dtype=np.int64)
            if len(rows):
                n_events[rows] += part.n_events
                raw[rows] += part.raw
                reps[rows] += part.reps
        return Partial(self.key_names, keys, self.metric_names, n_events, raw, reps)

    def add_into(self, other: Partial) -> Partial:
        """``self + other``, reusing ``self``'s arrays when ``other``'s cells are all among ``self``'s (the usual
        case: every shard of an hour sees nearly every cell), so a reducer merging partials as they arrive holds one
        running total and the partial being added, not a third array.

        ``self``'s arrays must be writable and owned by the caller (start from :meth:`copy`).

        >>> import numpy as np
        >>> a = Partial(("k",), (("x",), ("y",)), ("units",), np.array([1, 2]), np.array([[1], [2]]),
        ...             np.zeros((2, 1, 1), np.int64)).copy()
        >>> b = Partial(("k",), (("y",),), ("units",), np.array([5]), np.array([[5]]), np.ones((1, 1, 1), np.int64))
        >>> c = a.add_into(b)
        >>> c is a, c.raw.tolist(), c.reps[:, 0, 0].tolist()
        (True, [[1], [7]], [0, 1])
        """
        if not other.keys:
            return self
        if not self.keys or other.n_replicates != self.n_replicates \
                or (other.key_names, other.metric_names) != (self.key_names, self.metric_names):
            return self + other
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index.get(k, -1) for k in other.keys]
        if min(rows) < 0:
            return self + other
        at = np.array(rows, dtype=np.int64)  # distinct: a partial's keys are
        self.n_events[at] += other.n_events
        self.raw[at] += other.raw
        self.reps[at] += other.reps
        return self

    def copy(self) -> Partial:
        """The same partial with arrays of its own (writable)."""
        return Partial(self.key_names, self.keys, self.metric_names, self.n_events.copy(), self.raw.copy(),
                       self.reps.copy())

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays."""
        return int(self.n_events.nbytes + self.raw.nbytes + self.reps.nbytes)

    def to_table(self, hour: str, analysis_type: AnalysisType) -> pa.Table:
        """The rows of ``agg_<name>`` for this hour, in :func:`rayab.storage.schemas.agg_schema` order."""
        schema = agg_schema(analysis_type)
        n = len(self.keys)
        columns: dict[str, pa.Array] = {"hour": pa.array([hour] * n, pa.string())}
        for j, name in enumerate(self.key_names):
            columns[name] = pa.array([k[j] for k in self.keys], pa.string())
        columns["n_events"] = pa.array(self.n_events, pa.int64())
        offsets = pa.array(np.arange(n + 1, dtype=np.int32) * self.n_replicates)
        for m, metric in enumerate(self.metric_names):
            columns[metric] = pa.array(self.raw[:, m], pa.int64())
            flat = pa.array(np.ascontiguousarray(self.reps[:, m, :]).reshape(-1), pa.int64())
            columns[reps_column(metric)] = pa.ListArray.from_arrays(offsets, flat, type=REPS_TYPE)
        return pa.table([columns[f.name] for f in schema], schema=schema)
