"""Raw and Poisson-bootstrap replicate sums of integer metrics per cell.

Input rows are **unit level**: one row per (unit, cell), carrying the unit's two hash keys (see
:mod:`rayab.stats.poisson_weights`), the cell index and the unit's integer metric totals in that cell. Output:
``raw[c, m] = sum y`` and ``reps[c, m, b] = sum w(u, b) * y`` over the rows of cell ``c``, all int64, so the result
is exact and does not depend on row order or on how rows were split (hours, shards, files).

:func:`replicate_sums` runs the fused compiled kernel of :mod:`rayab.stats.kernels`; :func:`replicate_sums_numpy`
is the plain numpy reference it is tested against (it materialises weight chunks, so it is several times slower).

>>> import numpy as np
>>> from rayab.stats.poisson_weights import unit_keys, poisson_weights
>>> k1, k2 = unit_keys("s", ["a", "b", "c"])
>>> values = np.array([[1, 10], [2, 20], [3, 30]], dtype=np.int64)
>>> raw, reps = replicate_sums(k1, k2, np.array([0, 1, 0]), values, n_cells=2, n_replicates=4)
>>> raw.tolist()
[[4, 40], [2, 20]]
>>> w = poisson_weights(k1, k2, 4).astype(np.int64)
>>> bool((reps[0, 1] == w[0] * 10 + w[2] * 30).all())
True
>>> [np.array_equal(x, y) for x, y in zip((raw, reps), replicate_sums_numpy(k1, k2, [0, 1, 0], values, 2, 4))]
[True, True]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rayab.stats.kernels import replicate_sums_fused
from rayab.stats.poisson_weights import poisson_weights

__all__ = ["replicate_sums", "replicate_sums_numpy"]

I64 = npt.NDArray[np.int64]


def replicate_sums(
    k1: npt.NDArray[np.uint32],
    k2: npt.NDArray[np.uint32],
    cells: npt.ArrayLike,
    values: I64,
    n_cells: int,
    n_replicates: int,
    chunk_rows: int = 16_384,
) -> tuple[I64, I64]:
    """``(raw, reps)`` with shapes ``(n_cells, n_metrics)`` and ``(n_cells, n_metrics, n_replicates)``.

    ``chunk_rows`` only bounds the memory of the numpy reference and is accepted here for compatibility.
    """
    del chunk_rows  # the fused kernel never materialises weights, so there is nothing to chunk
    return replicate_sums_fused(k1, k2, cells, values, n_cells, n_replicates)


def replicate_sums_numpy(
    k1: npt.NDArray[np.uint32],
    k2: npt.NDArray[np.uint32],
    cells: npt.ArrayLike,
    values: I64,
    n_cells: int,
    n_replicates: int,
    chunk_rows: int = 16_384,
) -> tuple[I64, I64]:
    """The numpy reference of :func:`replicate_sums`: weights in chunks of ``chunk_rows`` rows, summed per cell."""
    cell_index = np.asarray(cells, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    # 1-d values are one metric; (0, m) stays as is (reshape cannot infer m from zero rows).
    values = values.reshape(-1, 1) if values.ndim == 1 else values.reshape(len(cell_index), values.shape[-1])
    n_metrics = values.shape[1]
    raw = np.zeros((n_cells, n_metrics), dtype=np.int64)
    np.add.at(raw, cell_index, values)
    reps = np.zeros((n_cells, n_metrics, n_replicates), dtype=np.int64)
    order = np.argsort(cell_index, kind="stable")
    for lo in range(0, len(order), chunk_rows):
        rows = order[lo:lo + chunk_rows]
        chunk_cells = cell_index[rows]
        starts = np.flatnonzero(np.r_[True, chunk_cells[1:] != chunk_cells[:-1]])
        weights = poisson_weights(k1[rows], k2[rows], n_replicates).astype(np.int64)
        for m in range(n_metrics):
            contrib = weights * values[rows, m][:, None]
            reps[chunk_cells[starts], m, :] += np.add.reduceat(contrib, starts, axis=0)
    return raw, reps
