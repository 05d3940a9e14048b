"""Hours, the unit of aggregation: ``YYYY-MM-DDTHH`` strings in UTC, and half-open windows of them.

>>> parse_hour("2026-11-24T10").isoformat()
'2026-11-24T10:00:00+00:00'
>>> hours_between("2026-11-24T22", "2026-11-25T01")
('2026-11-24T22', '2026-11-24T23', '2026-11-25T00')
>>> parse_hour("2026-11-24 10:30")
Traceback (most recent call last):
...
rayab.errors.ValidationError: hour == '2026-11-24 10:30': must be an hour such as 2026-11-24T10 (UTC)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rayab.errors import ValidationError

__all__ = ["format_hour", "hours_between", "parse_hour"]

_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")


def parse_hour(text: str, field: str = "hour") -> datetime:
    """The UTC start of an hour written ``YYYY-MM-DDTHH``."""
    if not isinstance(text, str) or not _HOUR.fullmatch(text):
        raise ValidationError(field, text, "must be an hour such as 2026-11-24T10 (UTC)")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(field, text, "must be an hour such as 2026-11-24T10 (UTC)") from None


def format_hour(moment: datetime) -> str:
    """The hour holding ``moment`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H")


def hours_between(start: str, end: str) -> tuple[str, ...]:
    """Every hour in the half-open window ``[start, end)``."""
    first, last = parse_hour(start, "start_hour"), parse_hour(end, "end_hour")
    if last < first:
        raise ValidationError("end_hour", end, f"must not be before start_hour {start}")
    count = int((last - first) / timedelta(hours=1))
    return tuple(format_hour(first + timedelta(hours=i)) for i in range(count))
