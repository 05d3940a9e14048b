"""Dictionary codes of string-like columns: what the job groups, validates and routes on instead of strings.

:func:`key_codes` handles the low-cardinality key columns (exp_id, variant_id, dimensions): every chunk's dictionary
(the Parquet reader returns dictionary chunks when asked, and low-cardinality columns are stored that way) is mapped
to one code space in Python, which costs a few entries per chunk, and the per-row work is one integer gather.
:func:`unit_codes` dictionary-encodes the high-cardinality unit column in Arrow's C++ hash table.

>>> import pyarrow as pa
>>> col = pa.chunked_array([pa.array(["b", "a", None]), pa.array(["a", "c"])]).dictionary_encode()
>>> key = key_codes(col)
>>> key.codes.tolist(), key.values
([0, 1, -1, 1, 2], ['b', 'a', 'c'])
>>> codes, distinct = unit_codes(pa.chunked_array([pa.array(["u2", "u1", "u2"])]))
>>> codes.tolist(), distinct.to_pylist()
([0, 1, 0], ['u2', 'u1'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeyCodes", "key_codes", "unit_codes"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class KeyCodes:
    """A column as codes into ``values`` (``-1`` for null)."""

    codes: I64
    values: list[str]


def _as_dictionary(chunk: pa.Array) -> pa.DictionaryArray:
    if pa.types.is_dictionary(chunk.type):
        return chunk
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        chunk = pc.cast(chunk, pa.string(), safe=False)
    encoded: pa.DictionaryArray = chunk.dictionary_encode()
    return encoded


def key_codes(column: pa.ChunkedArray | pa.Array) -> KeyCodes:
    """Codes of a low-cardinality column, values as strings in order of first appearance across chunks."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    index: dict[str, int] = {}
    parts = []
    for chunk in chunks:
        encoded = _as_dictionary(chunk)
        dictionary = pc.cast(encoded.dictionary, pa.string(), safe=False).to_pylist()
        # the last slot maps null indices (filled with -1) to code -1
        lookup = np.array([index.setdefault(str(v), len(index)) for v in dictionary] + [-1], np.int64)
        indices = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)
        parts.append(lookup[indices])
    codes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return KeyCodes(codes, list(index))


def unit_codes(column: pa.ChunkedArray | pa.Array) -> tuple[I64, pa.Array]:
    """``(codes, distinct)`` of the unit column: ``distinct.take(codes)`` equals the column (nulls: code -1)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string(), safe=False)
    encoded = array.dictionary_encode()
    codes = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)
    return codes, encoded.dictionary
