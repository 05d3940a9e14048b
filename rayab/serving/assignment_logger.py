"""The AssignmentLogger actor, and the shipper that feeds it from a serving process without ever blocking a request.

Servers record first assignments in a bounded local buffer
(:class:`~rayab.serving.assignment_recorder.AssignmentRecorder`); a :class:`LogShipper` drains it every
``interval_s`` and sends the rows to the logger fire-and-forget, with at most ``max_in_flight`` batches
outstanding (if the logger falls behind, rows stay in the local buffer, and once that is full new rows are
dropped and counted: requests never wait).

The logger keeps one row per (exp_id, unit_id) with the earliest ``assigned_at`` and commits its buffer to the
``assignment`` Delta table when it holds ``flush_rows`` rows or every ``flush_s`` seconds
(:func:`~rayab.storage.assignments.merge_first_assignments`: a MERGE that keeps the earliest row across flushes
and across loggers). The partitions it wrote are rewritten sorted by ``unit_id`` every ``sort_s`` seconds and on
:meth:`AssignmentLogger.close`, which also flushes what is left: on a graceful shutdown nothing is lost.
A logger that crashes loses only its unflushed buffer (at most ``flush_s`` seconds of first assignments).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from rayab.errors import StorageError
from rayab.serving.assignment_recorder import AssignmentRecorder, LogRow
from rayab.storage.assignments import first_assignment_table, merge_first_assignments, sort_partitions
from rayab.storage.warehouse import Warehouse

__all__ = ["AssignmentLogger", "LogShipper"]

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)
class AssignmentLogger:
    """Buffers first assignments and commits them to the ``assignment`` table by size and by time."""

    def __init__(self, warehouse: Warehouse, flush_rows: int = 50_000, flush_s: float = 5.0,
                 sort_s: float = 300.0) -> None:
        self._warehouse = warehouse
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._sort_s = sort_s
        self._unsorted: set[tuple[str, str]] = set()
        self._buffer: dict[tuple[str, str], LogRow] = {}
        self._lock: asyncio.Lock | None = None
        self._timer: asyncio.Task[None] | None = None
        self.committed = 0
        self.failed_flushes = 0

    async def record(self, rows: list[LogRow]) -> int:
        """Add rows (keeping the earliest per key); returns the number buffered."""
        self._start_timer()
        buffer = self._buffer
        for row in rows:
            key = (row[0], row[1])
            held = buffer.get(key)
            if held is None or row[3] < held[3]:
                buffer[key] = row
        if len(buffer) >= self._flush_rows:
            await self.flush()
        return len(self._buffer)

    async def flush(self) -> int:
        """Commit the buffer now; returns the rows committed (on a storage failure they stay buffered)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            rows, self._buffer = list(self._buffer.values()), {}
            if not rows:
                return 0
            try:
                committed = await asyncio.to_thread(self._commit, rows)
            except StorageError:
                self.failed_flushes += 1
                await self.record(rows)  # keep them (merged with what came meanwhile) for the next flush
                raise
            self.committed += committed
            return committed

    def _commit(self, rows: list[LogRow]) -> int:
        table = first_assignment_table(rows)
        committed = merge_first_assignments(self._warehouse, table)
        self._unsorted.update(zip(table.column("exp_id").to_pylist(), table.column("date").to_pylist(), strict=True))
        return committed

    async def sort(self) -> int:
        """Rewrite the partitions written since the last sort sorted by ``unit_id``; returns how many."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            partitions, self._unsorted = self._unsorted, set()
            try:
                return await asyncio.to_thread(sort_partitions, self._warehouse, partitions)
            except StorageError:
                self._unsorted |= partitions
                raise

    async def close(self) -> int:
        """Flush everything, sort what was written and stop the timer (a graceful shutdown; a later ``record``
        starts it again); returns the rows committed."""
        timer, self._timer = self._timer, None
        if timer is not None:
            # Cancel the timer only between its flushes: cancelled in the middle of one, its commit would go on in
            # a worker thread and could land after close() returned (a reader would miss those rows).
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                timer.cancel()
        committed = await self.flush()
        await self.sort()
        return committed

    async def stats(self) -> dict[str, int]:
        """Rows buffered and committed so far, and failed flushes."""
        return {"buffered": len(self._buffer), "committed": self.committed, "failed_flushes": self.failed_flushes}

    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._flush_periodically())

    async def _flush_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        next_sort = loop.time() + self._sort_s
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self.flush()
                if loop.time() >= next_sort:
                    next_sort = loop.time() + self._sort_s
                    await self.sort()
            except StorageError as err:
                log.warning("assignment log flush failed, will retry: %s", err)


class LogShipper:
    """Drains a recorder into a logger actor in the background of a serving process's event loop."""

    def __init__(self, recorder: AssignmentRecorder, logger: Any, interval_s: float = 0.5,
                 max_in_flight: int = 4) -> None:
        self.recorder = recorder
        self._logger = logger
        self._interval_s = interval_s
        self._max_in_flight = max_in_flight
        self._in_flight: set[Any] = set()
        self.shipped = 0
        self.failed = 0

    async def run(self) -> None:
        """Ship forever (cancel to stop; then call :meth:`drain`)."""
        while True:
            await asyncio.sleep(self._interval_s)
            self.ship()

    def ship(self) -> None:
        """Send what the recorder holds, unless too many batches are still on their way."""
        if len(self._in_flight) >= self._max_in_flight or not self.recorder.pending():
            return
        rows = self.recorder.drain()
        future = self._logger.record.remote(rows).future()
        self._in_flight.add(future)
        future.add_done_callback(lambda done: self._done(done, rows))

    def _done(self, future: Any, rows: list[LogRow]) -> None:
        self._in_flight.discard(future)
        if future.exception() is None:
            self.shipped += len(rows)
        else:  # the logger is restarting or failed: keep the rows for the next round (bounded)
            self.failed += 1
            self.recorder.restore(rows)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Ship everything left and wait until the logger has it (graceful shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (self.recorder.pending() or self._in_flight) and loop.time() < deadline:
            self.ship()
            await asyncio.sleep(0.02)
