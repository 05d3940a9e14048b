"""Typed results as tables: a list of result records (named tuples) to Arrow, pandas or polars, one column per field.

A record's ``slice`` (``(("country", "US"), ...)``) becomes one column per dimension, named after it, so a table of
sliced results can be grouped and joined like any other; records of one result list share their dimensions.

>>> from typing import NamedTuple
>>> class R(NamedTuple):
...     metric: str
...     slice: tuple[tuple[str, str], ...]
...     estimate: float
>>> table = ResultTable([R("ctr", (("country", "US"),), 0.5), R("ctr", (("country", "DE"),), 0.25)])
>>> table.to_arrow().column_names
['metric', 'country', 'estimate']
>>> table.to_arrow().column("country").to_pylist()
['US', 'DE']
>>> len(table), table[0].estimate
(2, 0.5)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Generic, NamedTuple, TypeVar, overload

import pyarrow as pa

__all__ = ["ResultTable"]

R = TypeVar("R", bound=NamedTuple)


class ResultTable(Sequence[R], Generic[R]):
    """An immutable sequence of result records that converts to Arrow, pandas or polars."""

    def __init__(self, records: Sequence[R]) -> None:
        self._records = tuple(records)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> ResultTable[R]: ...

    def __getitem__(self, index: int | slice) -> R | ResultTable[R]:
        if isinstance(index, slice):
            return ResultTable(self._records[index])
        return self._records[index]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[R]:
        return iter(self._records)

    def __repr__(self) -> str:
        kind = type(self._records[0]).__name__ if self._records else "records"
        return f"ResultTable({len(self._records)} {kind})"

    def dimensions(self) -> tuple[str, ...]:
        """The slice dimensions of the records, in the order they first appear."""
        seen: dict[str, None] = {}
        for record in self._records:
            for name, _ in getattr(record, "slice", ()):
                seen[name] = None
        return tuple(seen)

    def to_pylist(self) -> list[dict[str, Any]]:
        """One dict per record; a slice becomes one key per dimension (None where a record lacks it)."""
        dims = self.dimensions()
        rows = []
        for record in self._records:
            row: dict[str, Any] = {}
            for name, value in record._asdict().items():
                if name == "slice":
                    values = dict(value)
                    row.update({dim: values.get(dim) for dim in dims})
                else:
                    row[name] = value
            rows.append(row)
        return rows

    def to_arrow(self) -> pa.Table:
        """A pyarrow Table with one column per field (slices as one string column per dimension)."""
        rows = self.to_pylist()
        if not rows:
            return pa.table({})
        return pa.Table.from_pylist(rows)

    def to_pandas(self) -> Any:
        """A pandas DataFrame (needs pandas)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """A polars DataFrame (needs polars)."""
        import polars  # an optional dependency: imported only when asked for

        return polars.from_arrow(self.to_arrow())
