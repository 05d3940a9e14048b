"""Exposures an SDK decided in-process: when to log them, where they go, what was lost.

The caller chooses the :data:`ExposureMode`:

- ``"on_use"``: an experiment's exposure is logged the first time the unit's answer is *used*: a parameter it
  serves is read (:meth:`rayab.client.Decision.get`, :meth:`rayab.client.Client.get_parameter`) or its variant
  is looked up (:meth:`rayab.client.Decision.variant`). Computing an assignment alone logs nothing.
- ``"explicit"``: only :meth:`rayab.client.Decision.log_exposure` (or ``Client.log_exposure``) logs.
- ``"never"``: nothing is logged, explicit calls included (they are counted as ``exposures_skipped``).

Only measured assignments are exposures (reason ``assigned``): a unit outside the rollout or served a shipped
variant is in no experiment. Exposures wait in a bounded, deduplicated buffer (the server's own
:class:`~rayab.serving.assignment_recorder.AssignmentRecorder`: a unit is logged once per experiment, and when
``max_pending`` rows wait because the sink is unreachable, new ones are dropped and counted) and a background
thread sends them to a sink: the server (``LogExposures``, :mod:`rayab.rpc.sdk_transport`) or a
:class:`FileSink`.

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "exposures.jsonl"
>>> sink = FileSink(path)
>>> sink.send([("ranker_v2", "alice", "treatment", 1_764_547_200_000_000)])
(1, 0, 0, '')
>>> json.loads(path.read_text())
{'exp_id': 'ranker_v2', 'unit_id': 'alice', 'variant_id': 'treatment', 'assigned_at': '2025-12-01T00:00:00.000000Z'}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from rayab.errors import ValidationError

__all__ = ["EXPOSURE_MODES", "ExposureMode", "ExposureRow", "ExposureSink", "FileSink", "check_mode"]

ExposureMode = Literal["on_use", "explicit", "never"]
EXPOSURE_MODES: tuple[ExposureMode, ...] = ("on_use", "explicit", "never")
# exp_id, unit_id, variant_id, exposed_at in microseconds since the epoch (UTC): the assignment log's row
ExposureRow = tuple[str, str, str, int]


def check_mode(mode: object) -> ExposureMode:
    """``mode`` if it is an exposure mode, else a ValidationError naming the choices."""
    if mode not in EXPOSURE_MODES:
        raise ValidationError("exposures", mode, f"must be one of {', '.join(EXPOSURE_MODES)}")
    return mode


class ExposureSink(Protocol):
    """Where exposures go. ``send`` returns (accepted, rejected, dropped, first refusal) or raises
    :class:`~rayab.errors.RayabError` when nothing can be assumed delivered (the rows are then kept and retried)."""

    def send(self, rows: Sequence[ExposureRow]) -> tuple[int, int, int, str]: ...

    def close(self) -> None: ...


class FileSink:
    """Appends exposures to a JSON-lines file (``exp_id``, ``unit_id``, ``variant_id``, ``assigned_at`` in ISO 8601
    UTC): for a service that ships its own logs."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, rows: Sequence[ExposureRow]) -> tuple[int, int, int, str]:
        lines = [json.dumps({"exp_id": e, "unit_id": u, "variant_id": v, "assigned_at": _iso(t)},
                            ensure_ascii=False) for e, u, v, t in rows]
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return len(rows), 0, 0, ""

    def close(self) -> None:
        """Nothing to release (every send closes the file)."""


def _iso(at_us: int) -> str:
    seconds, micros = divmod(at_us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
