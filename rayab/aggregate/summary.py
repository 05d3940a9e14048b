"""What an hourly run reports: per-stage progress lines while it runs, and a summary when it has committed.

>>> s = HourSummary("engagement", "2026-11-24T10", "r1", files=2, rows_read=10, rows_quarantined=1, units=3,
...                 cells=4, bytes_written=512, exp_ids=["e"], seconds={"read": 0.5, "total": 1.25})
>>> s.line()[:62]
'engagement 2026-11-24T10: 2 files, 10 rows read, 1 quarantined'
>>> p = StageProgress("read", 4, lambda line: print(line), label="engagement 2026-11-24T10")
>>> p.advance(rows=5); p.advance(3, rows=7)
[engagement 2026-11-24T10] read 1/4 (5 rows)
[engagement 2026-11-24T10] read 4/4 (12 rows)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["HourSummary", "ProgressFn", "StageProgress", "print_progress", "summary_dict"]

ProgressFn = Callable[[str], None]


def print_progress(line: str) -> None:
    """Progress to standard error (``ray job logs`` shows it; standard output keeps the summary)."""
    print(line, file=sys.stderr, flush=True)


@dataclass
class HourSummary:
    """What one committed (analysis type, hour) read, quarantined and wrote, and where the time went."""

    analysis_type: str
    hour: str
    run_id: str
    files: int
    rows_read: int
    rows_quarantined: int
    units: int
    cells: int
    bytes_written: int
    exp_ids: list[str]
    skipped_files: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    rows_unmatched: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    ignored_files: dict[str, str] = field(default_factory=dict)
    values_rounded: int = 0
    # what the run did where: per node, map and shard tasks, events, unit rows, CPU seconds; and the shuffle's size
    work: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """A one-line human summary."""
        stages = " ".join(f"{k}={v:.2f}s" for k, v in self.seconds.items())
        skipped = f", {len(self.skipped_files)} corrupt files skipped" if self.skipped_files else ""
        if self.ignored_files:
            # files of another format first: hidden or marker files (_SUCCESS) are usually expected
            shown = sorted(self.ignored_files.items(), key=lambda item: "marker" in item[1])[:3]
            names = ", ".join(f"{p} ({r})" for p, r in shown)
            more = " ..." if len(self.ignored_files) > 3 else ""
            skipped += f", {len(self.ignored_files)} files ignored: {names}{more}"
        rounded = f", {self.values_rounded} values rounded" if self.values_rounded else ""
        return (f"{self.analysis_type} {self.hour}: {self.files} files{skipped}, {self.rows_read} rows read, "
                f"{self.rows_quarantined} quarantined{rounded}, {self.rows_unmatched} unmatched, {self.units} units, "
                f"{self.cells} cells, {self.bytes_written} bytes written [{stages}]")


def summary_dict(summary: HourSummary) -> dict[str, Any]:
    """A JSON-ready form of a summary."""
    return asdict(summary)


class StageProgress:
    """Progress of one stage of ``total`` steps: a line at most every ``interval`` seconds and at the end."""

    def __init__(self, stage: str, total: int, emit: ProgressFn | None, label: str = "",
                 interval: float = 2.0) -> None:
        self.stage, self.total, self.emit, self.label, self.interval = stage, total, emit, label, interval
        self.done = 0
        self.rows = 0
        self._last = time.monotonic()

    def advance(self, steps: int = 1, rows: int = 0) -> None:
        """Record finished steps (and rows), print a line if it is time or the stage is done."""
        self.done += steps
        self.rows += rows
        now = time.monotonic()
        if self.emit is not None and (self.done >= self.total or self.done == steps
                                      or now - self._last >= self.interval):
            self._last = now
            rows_text = f" ({self.rows} rows)" if self.rows else ""
            self.emit(f"[{self.label}] {self.stage} {self.done}/{self.total}{rows_text}")
