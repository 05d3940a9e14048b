"""Quantile metrics: percentiles of a per-event value (``latency_ms``), several per metric (p50, p90, p99).

A quantile metric is not additive: it is stored as per-replicate weighted bucket counts (a relative-accuracy
histogram, :mod:`rayab.stats.quantile_sketch`) in the table ``qsk_<analysis type>``, and every replicate's quantile
is read from its histogram summed over the window at query time. Each quantile is reported as its own metric,
``<name>_p<percent>`` (``latency_p90``; ``latency_p99_9`` for 0.999).

In a config it is a metric of ``kind: quantile``::

    {"name": "latency", "kind": "quantile", "column": "latency_ms", "quantiles": [0.5, 0.9, 0.99]}

with optional ``relative_accuracy`` (default 0.01: every estimate within 1% of the exact sample quantile),
``min_value`` (default 1e-9: smaller magnitudes fall into the zero bucket), ``max_value`` (default 1e15: larger
values are quarantined) and ``allow_negative`` (default false: negative values are quarantined; when true they get
mirrored buckets with the same relative accuracy). An event whose value is null has no observation of the metric
and still counts in every other metric.

>>> q = QuantileMetric.from_dict({"name": "latency", "kind": "quantile", "column": "latency_ms",
...                               "quantiles": [0.5, 0.9, 0.999]})
>>> q.output_names
('latency_p50', 'latency_p90', 'latency_p99_9')
>>> QuantileMetric.from_dict({"name": "latency", "kind": "quantile", "quantiles": [0.5, 1.5]})
Traceback (most recent call last):
...
rayab.errors.SpecError: metric.quantiles[1] == 1.5: must be in (0, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rayab.errors import SpecError
from rayab.model.validation import check_column, check_keys, check_number

__all__ = ["QUANTILE_KIND", "QuantileMetric", "quantile_label"]

QUANTILE_KIND = "quantile"
_FIELDS = {"name", "column", "kind", "quantiles", "relative_accuracy", "min_value", "max_value", "allow_negative"}


def quantile_label(q: float) -> str:
    """The suffix of a quantile's metric name: ``p50`` for 0.5, ``p99_9`` for 0.999, ``p0_1`` for 0.001.

    >>> [quantile_label(q) for q in (0.5, 0.9, 0.99, 0.999, 0.05)]
    ['p50', 'p90', 'p99', 'p99_9', 'p5']
    """
    text = f"{round(q * 100, 10):.10f}".rstrip("0").rstrip(".")
    return "p" + text.replace(".", "_")


@dataclass(frozen=True)
class QuantileMetric:
    """Quantiles of the per-event ``column`` (default: ``name``), each reported as ``<name>_p<percent>``."""

    name: str
    column: str = ""
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)
    relative_accuracy: float = 0.01
    min_value: float = 1e-9
    max_value: float = 1e15
    allow_negative: bool = False

    def __post_init__(self) -> None:
        check_column("name", self.name)
        object.__setattr__(self, "column", check_column("column", self.column or self.name))
        given: Any = self.quantiles
        if isinstance(given, str) or not isinstance(given, tuple | list) or not given:
            raise SpecError("quantiles", self.quantiles, "must be a non-empty list of numbers in (0, 1)")
        qs = []
        for i, q in enumerate(self.quantiles):
            if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 < float(q) < 1.0:
                raise SpecError(f"quantiles[{i}]", q, "must be in (0, 1)")
            if float(q) in qs:
                raise SpecError(f"quantiles[{i}]", q, "is listed twice")
            qs.append(float(q))
        object.__setattr__(self, "quantiles", tuple(qs))
        labels = [quantile_label(q) for q in qs]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise SpecError(f"quantiles[{i}]", qs[i], f"gives the same name {self.name}_{label} as another")
        check_number("relative_accuracy", self.relative_accuracy, 0.0001, 0.5)
        check_number("min_value", self.min_value, 0.0, 1e300, low_open=True)
        check_number("max_value", self.max_value, 0.0, 1e300, low_open=True)
        if not self.min_value < self.max_value:
            raise SpecError("max_value", self.max_value, f"must be above min_value ({self.min_value:g})")
        buckets = math.log(self.max_value / self.min_value) / math.log(
            (1 + self.relative_accuracy) / (1 - self.relative_accuracy))
        if buckets > 100_000:
            raise SpecError("relative_accuracy", self.relative_accuracy,
                            f"gives {buckets:,.0f} buckets over [min_value, max_value]: at most 100,000")
        if not isinstance(self.allow_negative, bool):
            raise SpecError("allow_negative", self.allow_negative, "must be true or false")

    @property
    def output_names(self) -> tuple[str, ...]:
        """The reported metric names, one per quantile, in spec order."""
        return tuple(f"{self.name}_{quantile_label(q)}" for q in self.quantiles)

    def quantile_of(self, output: str) -> float | None:
        """The quantile level behind a reported name, or None."""
        for name, q in zip(self.output_names, self.quantiles, strict=True):
            if name == output:
                return q
        return None

    @classmethod
    def from_dict(cls, data: Any, path: str = "metric") -> QuantileMetric:
        """Build from a mapping (``kind`` must be ``quantile``); errors name the field under ``path``."""
        data = check_keys(path, data, _FIELDS, {"name"})
        kwargs = {k: v for k, v in data.items() if k != "kind"}
        if data.get("kind", QUANTILE_KIND) != QUANTILE_KIND:
            raise SpecError(f"{path}.kind", data.get("kind"), "must be quantile")
        if isinstance(kwargs.get("quantiles"), list):
            kwargs["quantiles"] = tuple(kwargs["quantiles"])
        try:
            return cls(**kwargs)
        except SpecError as err:
            raise SpecError(f"{path}.{err.field}", err.value, err.rule) from None
        except TypeError as err:  # a field given the wrong shape for the constructor
            raise SpecError(path, data, str(err)) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        return {"name": self.name, "kind": QUANTILE_KIND, "column": self.column, "quantiles": list(self.quantiles),
                "relative_accuracy": self.relative_accuracy, "min_value": self.min_value,
                "max_value": self.max_value, "allow_negative": self.allow_negative}
