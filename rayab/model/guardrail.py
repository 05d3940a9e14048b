"""Guardrail metrics: metrics an experiment must not harm, with the harmful direction and a tolerance.

>>> g = Guardrail.from_dict({"metric": "error_rate", "bad_direction": "increase", "tolerance_pct": 1})
>>> g.metric, g.bad_direction, g.tolerance_pct
('error_rate', 'increase', 1.0)
>>> Guardrail.from_dict({"metric": "error_rate", "bad_direction": "up"})
Traceback (most recent call last):
...
rayab.errors.SpecError: guardrail.bad_direction == 'up': must be one of increase, decrease
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from rayab.errors import SpecError
from rayab.model.validation import check_choice, check_column, check_keys, check_number

__all__ = ["BadDirection", "Guardrail"]

BadDirection = Literal["increase", "decrease"]


@dataclass(frozen=True)
class Guardrail:
    """``metric`` must not move in ``bad_direction`` by more than ``tolerance_pct`` percent (relative lift)."""

    metric: str
    bad_direction: BadDirection = "increase"
    tolerance_pct: float = 0.0

    def __post_init__(self) -> None:
        check_column("metric", self.metric)
        object.__setattr__(self, "bad_direction", cast(BadDirection, check_choice(
            "bad_direction", self.bad_direction, ("increase", "decrease"))))
        object.__setattr__(self, "tolerance_pct", check_number("tolerance_pct", self.tolerance_pct, 0, 1000))

    @classmethod
    def from_dict(cls, data: Any, path: str = "guardrail") -> Guardrail:
        """Build from a mapping; errors name the field under ``path``."""
        data = check_keys(path, data, {"metric", "bad_direction", "tolerance_pct"}, {"metric"})
        try:
            return cls(**data)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"metric": self.metric, "bad_direction": self.bad_direction, "tolerance_pct": self.tolerance_pct}
