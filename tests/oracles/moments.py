"""Addable sufficient statistics: the partial aggregates every test in :mod:`rayab.stats` starts from.

Each class is a frozen value with a zero (``Cls()``), an associative ``+`` and a ``from_values`` constructor, so a
reducer only ever does ``zero`` -> ``+`` -> finalize and any split of the units (hours, shards, files) gives the
same statistics. Variances use the sample (``n - 1``) denominator unless ``ddof=0`` is asked for.

>>> hour1 = SampleStats.from_values([1.0, 2.0])
>>> hour2 = SampleStats.from_values([3.0, 4.0])
>>> total = hour1 + hour2
>>> total
SampleStats(n=4, sum=10.0, sum_squares=30.0)
>>> total.mean, round(total.variance, 6)
(2.5, 1.666667)
>>> SampleStats() + total == total
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from rayab.stats.arguments import check_count, check_finite

__all__ = ["CupedRatioStats", "CupedStats", "RatioStats", "SampleStats", "covariance_from_sums", "variance_from_sums"]


def variance_from_sums(n: int, total: float, sum_squares: float, ddof: int = 1) -> float:
    """``(sum_squares - total**2 / n) / (n - ddof)``; 0 when ``n <= ddof``.

    A negative result within rounding of ``sum_squares`` (cancellation of two nearly equal terms) becomes 0; a
    larger negative one means the sums are not those of real data and is returned as is, like every statistic
    computed from them.
    """
    value = covariance_from_sums(n, total, total, sum_squares, ddof)
    rounding = 1e-12 * abs(sum_squares) / max(n - ddof, 1)
    return 0.0 if -rounding <= value < 0.0 else value


def covariance_from_sums(n: int, sum_x: float, sum_y: float, sum_xy: float, ddof: int = 1) -> float:
    """``(sum_xy - sum_x * sum_y / n) / (n - ddof)``; 0 when ``n <= ddof``."""
    if n <= ddof:
        return 0.0
    return (sum_xy - sum_x * sum_y / n) / (n - ddof)


def _check_sums(stats: object) -> None:
    for field in fields(stats):  # type: ignore[arg-type]
        value = getattr(stats, field.name)
        if field.name == "n":
            object.__setattr__(stats, "n", check_count("n", value))
        else:
            object.__setattr__(stats, field.name, check_finite(field.name, value))


def _as_array(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64).ravel()


@dataclass(frozen=True, slots=True)
class SampleStats:
    """Count, sum and sum of squares of one metric over the units of one arm."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    def __post_init__(self) -> None:
        _check_sums(self)

    def __add__(self, other: SampleStats) -> SampleStats:
        return SampleStats(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> SampleStats:
        """The statistics of a 1-d array of unit values."""
        y = _as_array(values)
        return cls(len(y), float(y.sum()), float(np.dot(y, y)))

    @property
    def mean(self) -> float:
        """``sum / n`` (0 when ``n == 0``)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (``n - 1`` denominator)."""
        return self.var(ddof=1)

    def var(self, ddof: int = 1) -> float:
        """The variance with ``n - ddof`` denominator; ``ddof=0`` gives ``p(1 - p)`` for 0/1 metrics."""
        return variance_from_sums(self.n, self.sum, self.sum_squares, ddof)


@dataclass(frozen=True, slots=True)
class RatioStats:
    """Sums of a numerator ``m`` and a denominator ``d`` per unit, for ratio metrics ``sum(m) / sum(d)``."""

    n: int = 0
    m_sum: float = 0.0
    m_sum_squares: float = 0.0
    d_sum: float = 0.0
    d_sum_squares: float = 0.0
    md_sum_cross: float = 0.0

    def __post_init__(self) -> None:
        _check_sums(self)

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def from_values(cls, numerators: npt.ArrayLike, denominators: npt.ArrayLike) -> RatioStats:
        """The statistics of paired 1-d arrays of unit numerators and denominators."""
        m, d = _as_array(numerators), _as_array(denominators)
        return cls(len(m), float(m.sum()), float(m @ m), float(d.sum()), float(d @ d), float(m @ d))

    @property
    def numerator(self) -> SampleStats:
        """The numerator alone."""
        return SampleStats(self.n, self.m_sum, self.m_sum_squares)

    @property
    def denominator(self) -> SampleStats:
        """The denominator alone."""
        return SampleStats(self.n, self.d_sum, self.d_sum_squares)

    @property
    def ratio(self) -> float:
        """``m_sum / d_sum`` (NaN when ``d_sum == 0``)."""
        return self.m_sum / self.d_sum if self.d_sum else float("nan")

    def covariance(self, ddof: int = 1) -> float:
        """The sample covariance of numerator and denominator."""
        return covariance_from_sums(self.n, self.m_sum, self.d_sum, self.md_sum_cross, ddof)


@dataclass(frozen=True, slots=True)
class CupedStats:
    """Sums of an experiment-period metric ``y`` and its pre-period covariate ``x`` per unit (for CUPED)."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0
    x_sum: float = 0.0
    x_sum_squares: float = 0.0
    xy_sum: float = 0.0

    def __post_init__(self) -> None:
        _check_sums(self)

    def __add__(self, other: CupedStats) -> CupedStats:
        return CupedStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def from_values(cls, values: npt.ArrayLike, covariates: npt.ArrayLike) -> CupedStats:
        """The statistics of paired 1-d arrays of unit values ``y`` and pre-period covariates ``x``."""
        y, x = _as_array(values), _as_array(covariates)
        return cls(len(y), float(y.sum()), float(y @ y), float(x.sum()), float(x @ x), float(x @ y))

    @property
    def post(self) -> SampleStats:
        """The experiment-period metric alone."""
        return SampleStats(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> SampleStats:
        """The pre-period covariate alone."""
        return SampleStats(self.n, self.x_sum, self.x_sum_squares)

    def covariance(self, ddof: int = 1) -> float:
        """The sample covariance of ``y`` and ``x``."""
        return covariance_from_sums(self.n, self.x_sum, self.sum, self.xy_sum, ddof)


@dataclass(frozen=True, slots=True)
class CupedRatioStats:
    """Sums for a CUPED-adjusted ratio metric: numerator ``m``, denominator ``d`` and their pre-period values.

    The order of :meth:`covariance_matrix` is ``(m, d, m_pre, d_pre)``.
    """

    n: int = 0
    m_sum: float = 0.0
    m_sum_squares: float = 0.0
    d_sum: float = 0.0
    d_sum_squares: float = 0.0
    m_pre_sum: float = 0.0
    m_pre_sum_squares: float = 0.0
    d_pre_sum: float = 0.0
    d_pre_sum_squares: float = 0.0
    md_sum_cross: float = 0.0
    m_m_pre_sum_cross: float = 0.0
    d_d_pre_sum_cross: float = 0.0
    m_pre_d_pre_sum_cross: float = 0.0
    m_d_pre_sum_cross: float = 0.0
    m_pre_d_sum_cross: float = 0.0

    def __post_init__(self) -> None:
        _check_sums(self)

    def __add__(self, other: CupedRatioStats) -> CupedRatioStats:
        return CupedRatioStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def from_values(cls, m: npt.ArrayLike, d: npt.ArrayLike, m_pre: npt.ArrayLike,
                    d_pre: npt.ArrayLike) -> CupedRatioStats:
        """The statistics of four paired 1-d arrays of unit values."""
        a, b, c, e = (_as_array(v) for v in (m, d, m_pre, d_pre))
        return cls(len(a), float(a.sum()), float(a @ a), float(b.sum()), float(b @ b), float(c.sum()),
                   float(c @ c), float(e.sum()), float(e @ e), float(a @ b), float(a @ c), float(b @ e),
                   float(c @ e), float(a @ e), float(c @ b))

    @property
    def sums(self) -> npt.NDArray[np.float64]:
        """The sums of ``(m, d, m_pre, d_pre)``."""
        return np.array([self.m_sum, self.d_sum, self.m_pre_sum, self.d_pre_sum])

    def covariance_matrix(self, ddof: int = 1) -> npt.NDArray[np.float64]:
        """The 4 x 4 sample covariance matrix of ``(m, d, m_pre, d_pre)``; zeros when ``n <= ddof``."""
        products = np.array([
            [self.m_sum_squares, self.md_sum_cross, self.m_m_pre_sum_cross, self.m_d_pre_sum_cross],
            [self.md_sum_cross, self.d_sum_squares, self.m_pre_d_sum_cross, self.d_d_pre_sum_cross],
            [self.m_m_pre_sum_cross, self.m_pre_d_sum_cross, self.m_pre_sum_squares, self.m_pre_d_pre_sum_cross],
            [self.m_d_pre_sum_cross, self.d_d_pre_sum_cross, self.m_pre_d_pre_sum_cross, self.d_pre_sum_squares],
        ])
        if self.n <= ddof:
            return np.zeros((4, 4))
        s = self.sums
        out: npt.NDArray[np.float64] = (products - np.outer(s, s) / self.n) / (self.n - ddof)
        return out
