"""Cells: distinct key tuples of a table and each row's cell number, plus summing rows and replicate arrays per cell.

>>> import pyarrow as pa
>>> t = pa.table({"v": ["b", "a", "b"], "c": ["x", "x", "x"]})
>>> keys, rows = cell_index(t, ["v", "c"])
>>> keys, rows.tolist()
((('a', 'x'), ('b', 'x')), [1, 0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rayab.errors import StorageError

__all__ = ["cell_index", "replicate_matrix"]


def cell_index(table: pa.Table, key_names: Sequence[str]) -> tuple[tuple[tuple[str, ...], ...], npt.NDArray[np.int64]]:
    """Sorted distinct cells of ``table`` over ``key_names`` and each row's cell number."""
    if table.num_rows == 0:
        return (), np.zeros(0, np.int64)
    if not key_names:
        return ((),), np.zeros(table.num_rows, np.int64)
    codes, dictionaries = [], []
    for name in key_names:
        encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
        codes.append(np.asarray(encoded.indices, dtype=np.int64))
        dictionaries.append(encoded.dictionary.to_pylist())
    distinct, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    keys = [tuple(d[c] for d, c in zip(dictionaries, row, strict=True)) for row in distinct.tolist()]
    # renumber so cells come out sorted by key value, not by dictionary code
    order = sorted(range(len(keys)), key=keys.__getitem__)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return tuple(keys[i] for i in order), rank[inverse.reshape(-1)]


def replicate_matrix(column: pa.ChunkedArray | pa.Array, n_replicates: int, name: str = "") -> npt.NDArray[np.int64]:
    """A list<int64> column of fixed length B as an ``(rows, B)`` int64 matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = np.asarray(pc.list_value_length(array), dtype=np.int64)
    if len(lengths) and not (lengths == n_replicates).all():
        bad = sorted(set(lengths.tolist()) - {n_replicates})
        raise StorageError(f"{name} has replicate arrays of length {bad}, expected B={n_replicates}: "
                           "hours aggregated with different B cannot be summed")
    return np.asarray(array.flatten(), dtype=np.int64).reshape(len(array), n_replicates)
