"""Conversion and retention metrics: counts of units, each counted once, in the hour its outcome becomes known.

A **conversion** metric counts the units with at least one *qualifying* event at or after their first assignment
(optionally only ``within`` a span after it, ``7d`` or ``12h``). A **retention** metric counts the units active on
day ``day`` after their first assignment: with at least one qualifying event in ``[a + day * 24h,
a + (day + 1) * 24h)`` where ``a`` is the first assignment. An event qualifies when it matches ``where`` (equality on
log columns: ``{"event": "purchase"}`` or ``{"event": ["purchase", "renewal"]}``) and, if ``metric`` names an
additive metric, when its value of that metric is above 0 (on the metric's integer scale). Without either, every
event of the unit qualifies.

Each is stored as an additive count in ``cnv_<analysis type>`` (with its B Poisson replicate sums, under the same
weights as ``units``), in the unit's assignment cell (its variant; dimensions as ``units`` has them), and reported
under its ``name``:

- a conversion unit is counted in the hour of its first qualifying event (the hour it becomes known), so the count
  over a window starting at the experiment's start is "units converted by the window's end"; the share is the
  composed metric ``name / units``;
- a retention unit is counted in the hour its day ``day`` ends (then it is known whether it came back), together
  with the denominator ``<name>_eligible``: every assigned unit, counted in that same hour. The share is
  ``name / name_eligible``: day-N retention of the units whose day N is over.

So windows from the experiment's start sum hourly arrays like any other metric; a window that starts later counts
the units that became known in it. How the first occurrence is kept and moved by late data: see
:mod:`rayab.aggregate.conversions`.

>>> c = ConversionMetric.from_dict({"name": "purchased", "kind": "conversion", "metric": "revenue",
...                                 "within": "7d"})
>>> c.within_hours, c.output_names, c.to_dict()["within"]
(168, ('purchased',), '7d')
>>> ConversionMetric.from_dict({"name": "d1", "kind": "retention", "day": 1}).output_names
('d1', 'd1_eligible')
>>> ConversionMetric.from_dict({"name": "x", "kind": "conversion", "within": "30m"})
Traceback (most recent call last):
...
rayab.errors.SpecError: metric.within == '30m': must be a whole number of hours or days >= 1, such as 12h or 7d
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rayab.errors import SpecError
from rayab.model.validation import check_column, check_int, check_keys

__all__ = ["CONVERSION_KINDS", "ConversionKind", "ConversionMetric"]

ConversionKind = Literal["conversion", "retention"]
CONVERSION_KINDS = ("conversion", "retention")
_FIELDS = {"name", "kind", "metric", "where", "within", "day"}
_SPAN = re.compile(r"([1-9][0-9]{0,4})([hd])")
ELIGIBLE_SUFFIX = "_eligible"


def _span_hours(text: Any) -> int:
    match = _SPAN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SpecError("within", text, "must be a whole number of hours or days >= 1, such as 12h or 7d")
    return int(match.group(1)) * (24 if match.group(2) == "d" else 1)


@dataclass(frozen=True)
class ConversionMetric:
    """A count of units that converted (``kind="conversion"``) or were retained on day ``day``
    (``kind="retention"``); see the module doc."""

    name: str
    kind: ConversionKind = "conversion"
    metric: str = ""
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    within_hours: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        check_column("name", self.name)
        if self.kind not in CONVERSION_KINDS:
            raise SpecError("kind", self.kind, f"must be one of {list(CONVERSION_KINDS)}")
        if self.metric:
            check_column("metric", self.metric)
        given: Any = self.where
        if isinstance(given, tuple):
            given = dict(given)
        if not isinstance(given, Mapping):
            raise SpecError("where", self.where, "must map log columns to a value or a list of values")
        where: dict[str, tuple[str, ...]] = {}
        for column, values in given.items():
            check_column(f"where.{column}", column)
            listed = tuple(values) if isinstance(values, list | tuple) else (values,)
            if not listed or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in listed):
                raise SpecError(f"where.{column}", values, "must be a text or integer value, or a list of them")
            where[column] = tuple(str(v) for v in listed)
        object.__setattr__(self, "where", tuple(sorted(where.items())))
        if self.kind == "conversion":
            if self.day is not None:
                raise SpecError("day", self.day, "is for retention metrics; a conversion metric takes within")
            if self.within_hours is not None:
                check_int("within", self.within_hours, 1, 24 * 99_999)
        else:
            if self.within_hours is not None:
                raise SpecError("within", self.within_hours, "is for conversion metrics; retention takes day")
            check_int("day", self.day, 0, 3660)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The stored and reported counts: ``(name,)``, and for retention also ``name_eligible``."""
        return (self.name,) if self.kind == "conversion" else (self.name, self.name + ELIGIBLE_SUFFIX)

    @property
    def columns(self) -> tuple[str, ...]:
        """The log columns ``where`` reads."""
        return tuple(c for c, _ in self.where)

    @classmethod
    def from_dict(cls, data: Any, path: str = "metric") -> ConversionMetric:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, _FIELDS, {"name", "kind"})
        kwargs = dict(data)
        try:
            if "within" in kwargs:
                kwargs["within_hours"] = _span_hours(kwargs.pop("within"))
            return cls(**kwargs)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.metric:
            out["metric"] = self.metric
        if self.where:
            out["where"] = {c: list(v) if len(v) > 1 else v[0] for c, v in self.where}
        if self.within_hours is not None:
            days, hours = divmod(self.within_hours, 24)
            out["within"] = f"{days}d" if not hours else f"{self.within_hours}h"
        if self.day is not None:
            out["day"] = self.day
        return out
