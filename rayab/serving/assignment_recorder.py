"""A serving process's bounded buffer of first assignments, waiting to be shipped to the assignment logger.

Requests never wait for the logger: they append to this buffer, and something else (the log shipper of
:mod:`rayab.serving.assignment_logger`) drains it in the background. A unit seen recently in an experiment is
not recorded again (the logger and the table deduplicate anyway; this only saves traffic). When the buffer is
full, new rows are dropped and counted rather than slowing requests down.

>>> recorder = AssignmentRecorder(max_rows=2)
>>> recorder.record("e1", "alice", "control", 1_000)
>>> recorder.record("e1", "alice", "control", 2_000)  # seen: not recorded twice
>>> recorder.record("e1", "bob", "treatment", 3_000)
>>> recorder.record("e1", "carol", "control", 4_000)  # the buffer holds 2 rows: dropped
>>> recorder.drain(), recorder.dropped
([('e1', 'alice', 'control', 1000), ('e1', 'bob', 'treatment', 3000)], 1)
"""

from __future__ import annotations

import threading

__all__ = ["AssignmentRecorder", "LogRow"]

# exp_id, unit_id, variant_id, assigned_at in microseconds since the epoch (UTC)
LogRow = tuple[str, str, str, int]


class AssignmentRecorder:
    """First assignments waiting to be logged, at most ``max_rows`` of them."""

    def __init__(self, max_rows: int = 200_000, remember: int = 1_000_000) -> None:
        self.max_rows = max_rows
        self._remember = remember
        self._rows: list[LogRow] = []
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.recorded = 0
        self.dropped = 0

    def record(self, exp_id: str, unit_id: str, variant_id: str, assigned_at_us: int) -> None:
        """Buffer one assignment unless it was seen recently; count it as dropped if the buffer is full."""
        self.record_many([(exp_id, unit_id, variant_id, assigned_at_us)])

    def record_many(self, rows: list[LogRow]) -> int:
        """:meth:`record` for many rows under one lock (a batch call records thousands); returns how many of them
        were dropped because the buffer was full."""
        dropped = 0
        with self._lock:
            seen, buffered = self._seen, self._rows
            for row in rows:
                key = (row[0], row[1])
                if key in seen:
                    continue
                if len(seen) >= self._remember:
                    seen.clear()  # forgetting only costs a duplicate row, which the logger removes
                seen.add(key)
                if len(buffered) >= self.max_rows:
                    seen.discard(key)  # not kept: a later attempt must not be taken for a duplicate
                    dropped += 1
                else:
                    buffered.append(row)
                    self.recorded += 1
            self.dropped += dropped
        return dropped

    def pending(self) -> int:
        """Rows waiting to be drained."""
        return len(self._rows)

    def drain(self) -> list[LogRow]:
        """Take every buffered row."""
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def restore(self, rows: list[LogRow]) -> None:
        """Put back rows that could not be shipped (dropping and counting what no longer fits)."""
        with self._lock:
            room = max(self.max_rows - len(self._rows), 0)
            self._rows[:0] = rows[:room]
            self.dropped += max(len(rows) - room, 0)
