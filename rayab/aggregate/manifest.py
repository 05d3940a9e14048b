"""Which hours are complete, and which need a re-run because their inputs changed (late data).

An hour of an analysis type is complete when ``_manifest`` holds a row for it: the reducer appends that row only
after the hour's data and quarantine partitions are committed, so a crash between two hours leaves the earlier
hours complete and the later ones without a row. The newest row of an hour records the input files and sizes it
read; comparing them with a fresh listing tells whether late files arrived or files changed. It also names the
``commit_id`` its rows carry: a driver killed between the three commits of a re-run leaves rows of another commit,
and :func:`plan_reruns` re-runs such an hour (:mod:`rayab.storage.commits`).

>>> import tempfile
>>> from rayab.storage.warehouse import Warehouse
>>> wh = Warehouse.from_url(tempfile.mkdtemp())
>>> plan_reruns(wh, "engagement", ["2026-11-24T10"], lambda hour: [])
[HourPlan(hour='2026-11-24T10', reason='no manifest: never completed')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rayab.storage.commits import hour_mismatches, latest_manifest_rows
from rayab.storage.logs import LogFile
from rayab.storage.warehouse import Warehouse

__all__ = ["HourPlan", "completed_hours", "input_change", "latest_manifests", "plan_reruns"]


@dataclass(frozen=True)
class HourPlan:
    """An hour to (re-)run and why."""

    hour: str
    reason: str


def latest_manifests(warehouse: Warehouse, analysis_type: str) -> dict[str, dict[str, Any]]:
    """The newest manifest row of every complete hour of ``analysis_type``."""
    return latest_manifest_rows(warehouse, analysis_type)


def completed_hours(warehouse: Warehouse, analysis_type: str) -> list[str]:
    """Sorted hours of ``analysis_type`` that have been committed completely."""
    return sorted(latest_manifests(warehouse, analysis_type))


def input_change(manifest: dict[str, Any], files: Sequence[LogFile]) -> str:
    """How an hour's inputs now differ from those its manifest names (``""``: they do not): new files, files
    gone, files of another size (a Delta table's data files; a SQL query's text and parameters as its digest).

    >>> m = {"input_files": ["a.parquet", "b.parquet"], "input_sizes": [10, 20]}
    >>> input_change(m, [LogFile("a.parquet", 10), LogFile("b.parquet", 21), LogFile("c.parquet", 5)])
    '1 new files: c.parquet; 1 files changed size: b.parquet'
    """
    before = dict(zip(manifest["input_files"] or [], manifest["input_sizes"] or [], strict=True))
    now = {f.path: f.size for f in files}
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    resized = sorted(p for p in set(now) & set(before) if now[p] != before[p])
    parts = [f"{len(paths)} {what}: {', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''}"
             for what, paths in (("new files", added), ("files gone", removed), ("files changed size", resized))
             if paths]
    return "; ".join(parts)


def plan_reruns(warehouse: Warehouse, analysis_type: str, hours: Sequence[str],
                list_files: Callable[[str], Sequence[LogFile]], force: bool = False) -> list[HourPlan]:
    """The hours among ``hours`` to run: never completed, rows and manifest of different commits (a run killed
    between its commits), inputs changed since the last commit, or all (``force``).
    """
    latest = latest_manifests(warehouse, analysis_type)
    mismatched = {m.hour: m.reason for m in
                  ([] if force else hour_mismatches(warehouse, analysis_type, f"agg_{analysis_type}", hours,
                                                    {h: latest[h] for h in hours if h in latest}))}
    plans = []
    for hour in hours:
        if force:
            plans.append(HourPlan(hour, "forced"))
        elif hour not in latest:
            plans.append(HourPlan(hour, "no manifest: never completed"))
        elif hour in mismatched:
            plans.append(HourPlan(hour, f"manifest does not match the data: {mismatched[hour]}"))
        elif change := input_change(latest[hour], list_files(hour)):
            plans.append(HourPlan(hour, f"inputs changed: {change}"))
    return plans
