"""The assignment-join input mode: events carry only the unit; experiments come from the ``assignment`` table.

An event counts in an experiment when its unit was assigned at or before the event (``event_time >= assigned_at``),
and it counts once per experiment the unit is in. Events of units with no such assignment are not part of any
experiment: they are counted (``rows_unmatched`` in the manifest), not quarantined, because nothing is wrong with
them.

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> t = lambda h: datetime(2026, 11, 24, h, tzinfo=UTC)
>>> events = pa.table({"unit_id": ["u1", "u1", "u2"], "event_time": [t(9), t(11), t(11)], "clicks": [1, 2, 3]})
>>> assignments = pa.table({"exp_id": ["e"], "unit_id": ["u1"], "variant_id": ["a"], "assigned_at": [t(10)]})
>>> joined, unmatched = join_assignments(events, assignments)
>>> joined.column("clicks").to_pylist(), joined.column("exp_id").to_pylist(), unmatched
([2], ['e'], 2)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayab.aggregate.validate import TIME_COLUMN

__all__ = ["join_assignments"]

_ROW = "__event_row"


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def join_assignments(events: pa.Table, assignments: pa.Table) -> tuple[pa.Table, int]:
    """``(rows, unmatched)``: one row per (event, experiment its unit was assigned to by then) with exp_id and
    variant_id added, and the number of events that matched no assignment."""
    if events.num_rows == 0 or assignments.num_rows == 0:
        empty = events.slice(0, 0).append_column("exp_id", pa.array([], pa.string())).append_column(
            "variant_id", pa.array([], pa.string()))
        return empty, events.num_rows
    right = pa.table({"unit_id": _plain(assignments.column("unit_id")).cast(pa.string()),
                      "exp_id": _plain(assignments.column("exp_id")).cast(pa.string()),
                      "variant_id": _plain(assignments.column("variant_id")).cast(pa.string()),
                      "assigned_at": assignments.column("assigned_at")})
    left = events.set_column(events.schema.get_field_index("unit_id"), "unit_id",
                             _plain(events.column("unit_id")).cast(pa.string()))
    left = left.set_column(left.schema.get_field_index(TIME_COLUMN), TIME_COLUMN,
                           left.column(TIME_COLUMN).cast(right.schema.field("assigned_at").type))
    left = left.append_column(_ROW, pa.array(np.arange(left.num_rows, dtype=np.int64)))
    joined = left.join(right, keys="unit_id", join_type="inner", use_threads=False)
    joined = joined.filter(pc.greater_equal(joined.column(TIME_COLUMN), joined.column("assigned_at")))
    matched = len(np.unique(np.asarray(joined.column(_ROW)))) if joined.num_rows else 0
    # a stable row order keeps the job's output independent of the join's internal order
    joined = joined.sort_by([(_ROW, "ascending"), ("exp_id", "ascending")])
    return joined.drop_columns([_ROW, "assigned_at"]), events.num_rows - matched
