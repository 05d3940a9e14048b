"""Bayesian readouts of treatment versus control: chance to win, expected loss (risk) and the relative effect.

Two ways to the same readout, both under a flat prior unless a Beta prior is given:

* **Normal path** (:func:`normal_readout`, :func:`gaussian_readout`, :func:`binomial_readout`): the ratio
  ``treatment / control`` is lognormal, ``log(ratio) ~ N(mu, s^2)``. From sample means and the variances of the
  means, ``mu = log(m_t / m_c)`` and ``s^2 = v_c / m_c^2 + v_t / m_t^2`` (delta method); for conversions with
  posteriors ``Beta(alpha, beta)`` per arm, ``mu = E[log p_t] - E[log p_c]`` and ``s^2 = Var[log p_c] +
  Var[log p_t]`` (digamma and trigamma). These are GrowthBook's (gbstats) conventions and its published vectors
  are reproduced to their 5 decimals (``tests/stats/test_bayesian.py``).
* **Bootstrap path** (:func:`bootstrap_readout`, :func:`bootstrap_readouts`): the Poisson-bootstrap replicates of
  each arm's estimate (the same ``(cells, B)`` arrays the frequentist intervals use, see
  :func:`rayab.query.compare.metric_values`) are read as draws of an approximate posterior under a flat prior.

Fields of a :class:`BayesianReadout`, with ``D = treatment - control`` (absolute) and ``R = treatment / control -
1`` (relative):

* ``chance_to_win``: ``P(D > 0)``; normal path ``Phi(mu / s)``; bootstrap: share of replicates with ``D > 0``, ties
  counted half. With ``inverse=True`` (lower is better) it is ``P(D < 0)``.
* ``risk_control`` / ``risk_treatment``: expected loss of shipping that arm, on the metric's own (absolute) scale:
  ``E[max(D, 0)]`` and ``E[max(-D, 0)]`` (swapped with ``inverse=True``); normal path from ``D ~ N(m_t - m_c,
  v_c + v_t)``, conversions from the two Beta posteriors exactly (a one-dimensional integral); bootstrap: the mean
  over replicates. ``relative_risk_*`` divides by the treatment's point estimate, as gbstats does (its vectors
  show the treatment, not the control, mean as the divisor); NaN when that estimate is 0.
* ``expected``: gbstats' "expected" lift, ``exp(mu) - 1``, which is the posterior **median** of ``R`` under the
  lognormal; bootstrap: the replicates' median of ``R``.
* ``posterior_mean``: ``E[R]``: ``exp(mu + s^2 / 2) - 1``; bootstrap: the replicates' mean of ``R``.
* ``ci_lower`` / ``ci_upper``: the equal-tailed credible interval of ``R``: ``exp(mu -/+ z s) - 1``; bootstrap: the
  replicates' quantiles (numpy ``method="linear"``, as :mod:`rayab.stats.bootstrap`).
* ``log_mean`` / ``log_stddev``: ``mu`` and ``s`` of the normal path (gbstats' "uplift"); NaN on the bootstrap path.

When there is nothing to compare (no units, a mean that is not positive, zero variance, too many invalid
replicates) the readout is GrowthBook's neutral one: ``chance_to_win = 0.5``, ``expected = posterior_mean = 0``,
the other numbers NaN, and ``error`` says why. Bad arguments (a negative variance, mismatched shapes, a level
outside (0, 1)) raise :class:`~rayab.errors.ValidationError`.

>>> r = normal_readout(10.0, 0.025, 10.5, 0.1)
>>> round(r.chance_to_win, 5), round(r.expected, 5), round(r.ci_lower, 5), round(r.ci_upper, 5)
(0.92427, 0.05, -0.01772, 0.12239)
>>> round(r.risk_control, 5), round(r.risk_treatment, 5)
(0.51256, 0.01256)
>>> b = binomial_readout(49, 100, 51, 100)
>>> round(b.chance_to_win, 5), round(b.risk_control, 5), round(b.risk_treatment, 5)
(0.61052, 0.03872, 0.01912)
>>> import numpy as np
>>> control = np.array([1.0, 1.0, 1.0, 1.0])
>>> treatment = np.array([1.2, 0.9, 1.0, 1.1])
>>> boot = bootstrap_readout(1.0, 1.05, control, treatment)
>>> boot.chance_to_win, round(boot.risk_control, 3), round(boot.risk_treatment, 3), round(boot.posterior_mean, 3)
(0.625, 0.075, 0.025, 0.05)
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import integrate, special, stats

from rayab.errors import ValidationError
from rayab.stats.arguments import check_count, check_finite, check_probability

__all__ = [
    "BayesianError",
    "BayesianMethod",
    "BayesianReadout",
    "BayesianReadouts",
    "beta_expected_loss",
    "binomial_readout",
    "bootstrap_readout",
    "bootstrap_readouts",
    "gaussian_readout",
    "normal_readout",
    "normal_readouts",
    "normal_readouts_from_replicates",
]

BayesianMethod = Literal["normal", "beta", "bootstrap"]
BayesianError = Literal["no_data", "invalid_estimate", "nonpositive_mean", "zero_variance",
                        "too_many_invalid_replicates", "too_few_replicates"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_NAN = math.nan
_TAIL = 1e-15  # Beta mass left out of the risk integral at each end


class BayesianReadout(NamedTuple):
    """The Bayesian readout of one treatment against its control (fields: see the module doc)."""

    chance_to_win: float
    expected: float
    posterior_mean: float
    ci_lower: float
    ci_upper: float
    risk_control: float
    risk_treatment: float
    relative_risk_control: float
    relative_risk_treatment: float
    log_mean: float
    log_stddev: float
    confidence_level: float
    method: BayesianMethod
    n_replicates: int = 0
    n_invalid: int = 0
    error: BayesianError | None = None


_NUMBER_FIELDS = BayesianReadout._fields[:11]


class BayesianReadouts(NamedTuple):
    """The fields of :class:`BayesianReadout` for many comparisons: arrays with one entry per row."""

    chance_to_win: F64
    expected: F64
    posterior_mean: F64
    ci_lower: F64
    ci_upper: F64
    risk_control: F64
    risk_treatment: F64
    relative_risk_control: F64
    relative_risk_treatment: F64
    log_mean: F64
    log_stddev: F64
    confidence_level: float
    method: BayesianMethod
    n_replicates: int
    n_invalid: I64
    error: tuple[BayesianError | None, ...]

    def row(self, i: int) -> BayesianReadout:
        """Row ``i`` as a :class:`BayesianReadout`."""
        numbers = {name: float(getattr(self, name)[i]) for name in _NUMBER_FIELDS}
        return BayesianReadout(**numbers, confidence_level=self.confidence_level, method=self.method,
                               n_replicates=self.n_replicates, n_invalid=int(self.n_invalid[i]), error=self.error[i])


def _neutral(out: dict[str, F64], rows: npt.NDArray[np.bool_]) -> None:
    """GrowthBook's readout when there is nothing to compare: even odds, no lift, the rest NaN."""
    for name, array in out.items():
        array[rows] = 0.5 if name == "chance_to_win" else 0.0 if name in ("expected", "posterior_mean") else _NAN


def _empty(n: int) -> dict[str, F64]:
    return {name: np.full(n, _NAN) for name in _NUMBER_FIELDS}


def _normal_losses(diff: F64, sd: F64) -> tuple[F64, F64]:
    """``(E[max(D, 0)], E[max(-D, 0)])`` for ``D ~ N(diff, sd^2)``, each from its own closed form."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / sd
    density = stats.norm.pdf(z)
    gain = sd * (density + z * stats.norm.cdf(z))
    loss = sd * (density - z * stats.norm.sf(z))
    return np.asarray(gain, dtype=np.float64), np.asarray(loss, dtype=np.float64)


def _fill_lognormal(out: dict[str, F64], rows: npt.NDArray[np.bool_], mu: F64, s: F64, z: float,
                    inverse: bool) -> None:
    """The relative-effect fields of ``rows`` from ``log(ratio) ~ N(mu, s^2)``."""
    mu, s = mu[rows], s[rows]
    out["log_mean"][rows], out["log_stddev"][rows] = mu, s
    out["chance_to_win"][rows] = stats.norm.cdf(-mu / s if inverse else mu / s)
    out["expected"][rows] = np.expm1(mu)
    out["posterior_mean"][rows] = np.expm1(mu + s * s / 2.0)
    out["ci_lower"][rows] = np.expm1(mu - z * s)
    out["ci_upper"][rows] = np.expm1(mu + z * s)


def _fill_risk(out: dict[str, F64], rows: npt.NDArray[np.bool_], gain: F64, loss: F64, treatment: F64,
               inverse: bool) -> None:
    """Risks of ``rows`` from ``gain = E[max(D, 0)]`` and ``loss = E[max(-D, 0)]`` (swapped when ``inverse``)."""
    control_risk, treatment_risk = (loss, gain) if inverse else (gain, loss)
    out["risk_control"][rows], out["risk_treatment"][rows] = control_risk[rows], treatment_risk[rows]
    scale = np.where(treatment[rows] != 0, treatment[rows], np.nan)  # no relative risk of a zero treatment mean
    out["relative_risk_control"][rows] = control_risk[rows] / scale
    out["relative_risk_treatment"][rows] = treatment_risk[rows] / scale


def _vector(field: str, value: npt.ArrayLike, n: int) -> F64:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and len(array) not in (1, n)):
        raise ValidationError(field, array.shape, f"must be a number or a 1-d array of length {n}")
    return np.broadcast_to(array.reshape(-1), (n,)).astype(np.float64)


def normal_readouts(control_mean: npt.ArrayLike, control_variance: npt.ArrayLike, treatment_mean: npt.ArrayLike,
                    treatment_variance: npt.ArrayLike, *, confidence_level: float = 0.95,
                    inverse: bool = False) -> BayesianReadouts:
    """:func:`normal_readout` of every row (numbers or 1-d arrays of one length, broadcast)."""
    confidence_level = check_probability("confidence_level", confidence_level)
    n = max(np.size(x) for x in (control_mean, control_variance, treatment_mean, treatment_variance))
    mc, vc = _vector("control_mean", control_mean, n), _vector("control_variance", control_variance, n)
    mt, vt = _vector("treatment_mean", treatment_mean, n), _vector("treatment_variance", treatment_variance, n)
    for field, v in (("control_variance", vc), ("treatment_variance", vt)):
        if (v < 0).any():
            raise ValidationError(field, float(v[v < 0][0]), "must be >= 0 (the variance of the mean)")
    errors: list[BayesianError | None] = [None] * n
    finite = np.isfinite(mc) & np.isfinite(vc) & np.isfinite(mt) & np.isfinite(vt)
    positive = finite & (mc > 0) & (mt > 0)
    ok = positive & (vc + vt > 0)
    for i in np.flatnonzero(~ok):
        errors[i] = "invalid_estimate" if not finite[i] else "nonpositive_mean" if not positive[i] else "zero_variance"
    out = _empty(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.log(mt / mc)
        s = np.sqrt(vc / (mc * mc) + vt / (mt * mt))
    z = float(stats.norm.isf((1.0 - confidence_level) / 2.0))
    _fill_lognormal(out, ok, mu, s, z, inverse)
    gain, loss = _normal_losses(mt - mc, np.sqrt(vc + vt))
    _fill_risk(out, ok, gain, loss, mt, inverse)
    _neutral(out, ~ok)
    return BayesianReadouts(**out, confidence_level=confidence_level, method="normal", n_replicates=0,
                            n_invalid=np.zeros(n, np.int64), error=tuple(errors))


def normal_readout(control_mean: float, control_variance: float, treatment_mean: float, treatment_variance: float,
                   *, confidence_level: float = 0.95, inverse: bool = False) -> BayesianReadout:
    """The lognormal readout from each arm's mean and the **variance of that mean** (the squared standard error).

    Both means must be positive (the log ratio); otherwise the readout is neutral with
    ``error="nonpositive_mean"``.
    """
    return normal_readouts(control_mean, control_variance, treatment_mean, treatment_variance,
                           confidence_level=confidence_level, inverse=inverse).row(0)


def normal_readouts_from_replicates(control_estimates: npt.ArrayLike, treatment_estimates: npt.ArrayLike,
                                    control_replicates: npt.ArrayLike, treatment_replicates: npt.ArrayLike, *,
                                    confidence_level: float = 0.95, inverse: bool = False) -> BayesianReadouts:
    """:func:`normal_readouts` around the point estimates ``(n,)`` with each arm's variance taken from its finite
    bootstrap replicates ``(n, B)`` (``n - 1``): the normal path for any metric, ratios of sums included, whose
    variance has no closed form here.

    >>> import numpy as np
    >>> r = normal_readouts_from_replicates([10.0], [10.5], [[9.9, 10.1, 10.0]], [[10.3, 10.7, 10.5]]).row(0)
    >>> round(r.log_mean, 4), round(r.log_stddev, 4)
    (0.0488, 0.0215)
    """
    variances = []
    for field, value in (("control_replicates", control_replicates), ("treatment_replicates", treatment_replicates)):
        r = np.asarray(value, dtype=np.float64)
        if r.ndim != 2:
            raise ValidationError(field, r.shape, "must have shape (n, B)")
        finite = np.isfinite(r)
        count = finite.sum(axis=1)
        mean = np.where(finite, r, 0.0).sum(axis=1) / np.maximum(count, 1)
        squares = np.where(finite, (r - mean[:, None]) ** 2, 0.0).sum(axis=1)
        variances.append(np.where(count >= 2, squares / np.maximum(count - 1, 1), np.nan))
    return normal_readouts(control_estimates, variances[0], treatment_estimates, variances[1],
                           confidence_level=confidence_level, inverse=inverse)


class ArmSums(NamedTuple):
    """One arm's unit-level sums: unit count, sum and sum of squares of the per-unit values."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    @property
    def mean(self) -> float:
        """``sum / n``."""
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """The sample variance (``n - 1`` denominator)."""
        return (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1)


def gaussian_readout(control: ArmSums, treatment: ArmSums, *, confidence_level: float = 0.95,
                     inverse: bool = False) -> BayesianReadout:
    """:func:`normal_readout` from unit-level sums: mean ``sum / n``, variance of the mean ``s^2 / n`` (``n - 1``).

    >>> r = gaussian_readout(ArmSums(10, 100.0, 1002.25), ArmSums(10, 105.0, 1111.5))
    >>> round(r.log_mean, 5), round(r.log_stddev, 5)
    (0.04879, 0.03402)
    >>> gaussian_readout(ArmSums(), ArmSums()).error
    'no_data'
    """
    if control.n == 0 or treatment.n == 0:
        return _neutral_readout("normal", confidence_level, "no_data")
    return normal_readout(control.mean, control.variance / control.n, treatment.mean,
                          treatment.variance / treatment.n, confidence_level=confidence_level, inverse=inverse)


def _neutral_readout(method: BayesianMethod, confidence_level: float, error: BayesianError) -> BayesianReadout:
    confidence_level = check_probability("confidence_level", confidence_level)
    out = _empty(1)
    _neutral(out, np.ones(1, np.bool_))
    return BayesianReadouts(**out, confidence_level=confidence_level, method=method, n_replicates=0,
                            n_invalid=np.zeros(1, np.int64), error=(error,)).row(0)


def beta_expected_loss(control: tuple[float, float], treatment: tuple[float, float]) -> tuple[float, float]:
    """``(E[max(p_t - p_c, 0)], E[max(p_c - p_t, 0)])`` for independent ``Beta(alpha, beta)`` posteriors.

    ``max(Y - X, 0) = integral over t of 1{X < t < Y}``, so ``E[max(p_t - p_c, 0)] = integral F_c(t) S_t(t) dt``:
    one smooth integral, taken where both factors exceed ``1e-15``.

    >>> [round(x, 5) for x in beta_expected_loss((50, 52), (52, 50))]
    [0.03872, 0.01912]
    """
    def loss(low_arm: tuple[float, float], high_arm: tuple[float, float]) -> float:
        lo = float(stats.beta.ppf(_TAIL, *low_arm))
        hi = float(stats.beta.isf(_TAIL, *high_arm))
        if not lo < hi:
            return 0.0
        value, _ = integrate.quad(lambda t: float(stats.beta.cdf(t, *low_arm) * stats.beta.sf(t, *high_arm)),
                                  lo, hi, epsabs=1e-14, epsrel=1e-10, limit=200)
        return float(value)

    return loss(control, treatment), loss(treatment, control)


def binomial_readout(control_conversions: int, control_units: int, treatment_conversions: int,
                     treatment_units: int, *, prior_control: tuple[float, float] = (1.0, 1.0),
                     prior_treatment: tuple[float, float] = (1.0, 1.0), confidence_level: float = 0.95,
                     inverse: bool = False) -> BayesianReadout:
    """The readout of a conversion rate: posterior ``Beta(conversions + a, units - conversions + b)`` per arm.

    The default prior ``(a, b) = (1, 1)`` is flat. ``mu`` and ``s`` are the moments of ``log p_t - log p_c``; the
    risks are exact for the two Beta posteriors (:func:`beta_expected_loss`); relative risks divide by the
    treatment's observed rate ``conversions / units``.

    >>> r = binomial_readout(49, 100, 51, 100, prior_control=(0, 0), prior_treatment=(100, 100))
    >>> round(r.expected, 5), round(r.log_stddev, 5)
    (0.0309, 0.11778)
    """
    confidence_level = check_probability("confidence_level", confidence_level)
    arms = []
    for name, conversions, units, prior in (("control", control_conversions, control_units, prior_control),
                                            ("treatment", treatment_conversions, treatment_units, prior_treatment)):
        units = check_count(f"{name}_units", units)
        conversions = check_count(f"{name}_conversions", conversions)
        if conversions > units:
            raise ValidationError(f"{name}_conversions", conversions, f"must be <= {name}_units ({units})")
        a = check_finite(f"prior_{name}[0]", prior[0]) + conversions
        b = check_finite(f"prior_{name}[1]", prior[1]) + units - conversions
        if units > 0 and not (a > 0 and b > 0):
            raise ValidationError(f"prior_{name}", prior, "must leave both Beta parameters of the posterior > 0")
        arms.append((units, a, b))
    (n_c, a_c, b_c), (n_t, a_t, b_t) = arms
    if n_c == 0 or n_t == 0:
        return _neutral_readout("beta", confidence_level, "no_data")
    mu = np.array([special.digamma(a_t) - special.digamma(a_t + b_t) - special.digamma(a_c)
                   + special.digamma(a_c + b_c)])
    s = np.sqrt(np.array([special.polygamma(1, a_c) - special.polygamma(1, a_c + b_c)
                          + special.polygamma(1, a_t) - special.polygamma(1, a_t + b_t)]))
    out = _empty(1)
    rows = np.ones(1, np.bool_)
    _fill_lognormal(out, rows, mu, s, float(stats.norm.isf((1.0 - confidence_level) / 2.0)), inverse)
    gain, loss = beta_expected_loss((a_c, b_c), (a_t, b_t))
    _fill_risk(out, rows, np.array([gain]), np.array([loss]), np.array([treatment_conversions / n_t]), inverse)
    return BayesianReadouts(**out, confidence_level=confidence_level, method="beta", n_replicates=0,
                            n_invalid=np.zeros(1, np.int64), error=(None,)).row(0)


def _linear_quantiles(sorted_rows: F64, n_valid: I64, q: float) -> F64:
    """numpy's ``method="linear"`` quantile of the first ``n_valid[i]`` entries of each sorted row."""
    h = (n_valid - 1) * q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n_valid - 1)
    low = np.take_along_axis(sorted_rows, lo[:, None], axis=1)[:, 0]
    high = np.take_along_axis(sorted_rows, hi[:, None], axis=1)[:, 0]
    result: F64 = low + (h - lo) * (high - low)
    return result


def bootstrap_readouts(control_estimates: npt.ArrayLike, treatment_estimates: npt.ArrayLike,
                       control_replicates: npt.ArrayLike, treatment_replicates: npt.ArrayLike, *,
                       confidence_level: float = 0.95, inverse: bool = False,
                       max_invalid_fraction: float = 0.01) -> BayesianReadouts:
    """:func:`bootstrap_readout` of every row: estimates ``(n,)``, replicates ``(n, B)`` (replicate ``b`` of both
    arms from the same bootstrap draw ``b``, as the window's summed arrays give them)."""
    confidence_level = check_probability("confidence_level", confidence_level)
    if not 0.0 <= max_invalid_fraction <= 1.0:
        raise ValidationError("max_invalid_fraction", max_invalid_fraction, "must be in [0, 1]")
    c = np.asarray(control_replicates, dtype=np.float64)
    t = np.asarray(treatment_replicates, dtype=np.float64)
    if c.ndim != 2 or c.shape != t.shape:
        raise ValidationError("treatment_replicates", t.shape, f"must have the shape (n, B) of control_replicates "
                              f"{c.shape}")
    n, n_reps = c.shape
    est_c = _vector("control_estimates", control_estimates, n)
    est_t = _vector("treatment_estimates", treatment_estimates, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = t / c - 1.0
    valid = np.isfinite(c) & np.isfinite(t) & (c != 0)
    n_valid = valid.sum(axis=1)
    n_invalid = (n_reps - n_valid).astype(np.int64)
    diff = np.where(valid, t - c, 0.0)
    errors: list[BayesianError | None] = [None] * n
    for i in range(n):
        if n_invalid[i] > max_invalid_fraction * n_reps:
            errors[i] = "too_many_invalid_replicates"
        elif not (math.isfinite(est_c[i]) and math.isfinite(est_t[i]) and est_c[i] != 0):
            errors[i] = "invalid_estimate"
        elif n_valid[i] < 2:
            errors[i] = "too_few_replicates"
    ok = np.array([e is None for e in errors], dtype=np.bool_)
    out = _empty(n)
    count = np.maximum(n_valid, 1)
    wins = ((diff < 0) if inverse else (diff > 0)) & valid
    ties = (diff == 0) & valid
    out["chance_to_win"][ok] = ((wins.sum(axis=1) + 0.5 * ties.sum(axis=1)) / count)[ok]
    gain = np.maximum(diff, 0.0).sum(axis=1) / count
    loss = np.maximum(-diff, 0.0).sum(axis=1) / count
    _fill_risk(out, ok, gain, loss, est_t, inverse)
    ordered = np.sort(np.where(valid, relative, np.inf), axis=1)  # invalid replicates sort last, never read
    safe_n = np.maximum(n_valid, 1).astype(np.int64)
    alpha = 1.0 - confidence_level
    out["expected"][ok] = _linear_quantiles(ordered, safe_n, 0.5)[ok]
    out["ci_lower"][ok] = _linear_quantiles(ordered, safe_n, alpha / 2.0)[ok]
    out["ci_upper"][ok] = _linear_quantiles(ordered, safe_n, 1.0 - alpha / 2.0)[ok]
    out["posterior_mean"][ok] = (np.where(valid, relative, 0.0).sum(axis=1) / count)[ok]
    _neutral(out, ~ok)
    return BayesianReadouts(**out, confidence_level=confidence_level, method="bootstrap", n_replicates=n_reps,
                            n_invalid=n_invalid, error=tuple(errors))


def bootstrap_readout(control_estimate: float, treatment_estimate: float, control_replicates: npt.ArrayLike,
                      treatment_replicates: npt.ArrayLike, *, confidence_level: float = 0.95, inverse: bool = False,
                      max_invalid_fraction: float = 0.01) -> BayesianReadout:
    """The readout from the replicates of each arm's estimate, read as posterior draws under a flat prior.

    Replicates where either arm is not finite or the control is 0 (the relative effect cannot be formed) are
    dropped and counted in ``n_invalid``; above ``max_invalid_fraction`` of B the readout is neutral with
    ``error="too_many_invalid_replicates"``. The point estimates only scale the relative risks (and must be
    finite, the control's non-zero).
    """
    c = np.asarray(control_replicates, dtype=np.float64).reshape(1, -1)
    t = np.asarray(treatment_replicates, dtype=np.float64).reshape(1, -1)
    return bootstrap_readouts([control_estimate], [treatment_estimate], c, t, confidence_level=confidence_level,
                              inverse=inverse, max_invalid_fraction=max_invalid_fraction).row(0)
