"""Bayesian readouts: GrowthBook's published vectors, independent integrals, a plain-Python bootstrap reference,
and the bootstrap path against the normal path on real Poisson-bootstrap replicates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from rayab.errors import ValidationError
from rayab.stats.bayesian import (
    ArmSums,
    beta_expected_loss,
    binomial_readout,
    bootstrap_readout,
    bootstrap_readouts,
    gaussian_readout,
    normal_readout,
    normal_readouts,
    normal_readouts_from_replicates,
)
from rayab.stats.poisson_weights import unit_keys
from rayab.stats.replicate_sums import replicate_sums

# the vectors are rounded to 5 decimals: a right answer is within half a unit of the last place
VECTOR_TOL = 5e-6 + 1e-12


def check_vector(readout: Any, expected: dict[str, Any]) -> None:
    assert readout.error is None
    assert readout.chance_to_win == pytest.approx(expected["chance_to_win"], abs=VECTOR_TOL)
    assert readout.expected == pytest.approx(expected["expected"], abs=VECTOR_TOL)
    assert (readout.ci_lower, readout.ci_upper) == pytest.approx(expected["ci"], abs=VECTOR_TOL)
    assert readout.log_mean == pytest.approx(expected["uplift"]["mean"], abs=VECTOR_TOL)
    assert readout.log_stddev == pytest.approx(expected["uplift"]["stddev"], abs=VECTOR_TOL)
    assert (readout.risk_control, readout.risk_treatment) == pytest.approx(expected["risk"], abs=VECTOR_TOL)
    assert (readout.relative_risk_control, readout.relative_risk_treatment) == pytest.approx(
        expected["relative_risk"], abs=VECTOR_TOL)


def test_gbstats_binomial_no_prior(gbstats_bayesian: dict[str, Any]) -> None:
    case = gbstats_bayesian["binomial_no_prior"]
    c, t = case["control"], case["treatment"]
    readout = binomial_readout(c["sum"], c["n"], t["sum"], t["n"])
    check_vector(readout, case)
    assert readout.method == "beta"


def test_gbstats_binomial_beta_prior(gbstats_bayesian: dict[str, Any]) -> None:
    case = gbstats_bayesian["binomial_beta_prior"]
    c, t = case["control"], case["treatment"]
    readout = binomial_readout(c["sum"], c["n"], t["sum"], t["n"], prior_control=tuple(case["prior_control"]["beta"]),
                               prior_treatment=tuple(case["prior_treatment"]["beta"]))
    check_vector(readout, case)
    # the prior matters: without it the answer is the no-prior vector, far outside this one's precision
    assert abs(binomial_readout(c["sum"], c["n"], t["sum"], t["n"]).log_stddev - case["uplift"]["stddev"]) > 0.01


def test_gbstats_gaussian_no_prior(gbstats_bayesian: dict[str, Any]) -> None:
    case = gbstats_bayesian["gaussian_no_prior"]
    arms = [ArmSums(d["n"], d["sum"], d["sum_squares"]) for d in (case["control"], case["treatment"])]
    check_vector(gaussian_readout(*arms), case)


def test_gbstats_relative_risk_divides_by_the_treatment_mean(gbstats_bayesian: dict[str, Any]) -> None:
    case = gbstats_bayesian["gaussian_no_prior"]
    risk = np.array(case["risk"])
    # dividing by the control mean (10) would miss the vector by far more than its rounding
    assert np.abs(risk / 10.0 - case["relative_risk"]).max() > 1e-3
    assert np.abs(risk / 10.5 - case["relative_risk"]).max() < VECTOR_TOL


@pytest.mark.parametrize("name", ["binomial_missing_data", "gaussian_missing_data"])
def test_gbstats_missing_data_is_neutral(gbstats_bayesian: dict[str, Any], name: str) -> None:
    case = gbstats_bayesian[name]
    c, t = case["control"], case["treatment"]
    if name.startswith("binomial"):
        readout = binomial_readout(c["sum"], c["n"], t["sum"], t["n"])
    else:
        readout = gaussian_readout(ArmSums(c["n"], c["sum"], c["sum_squares"]),
                                   ArmSums(t["n"], t["sum"], t["sum_squares"]))
    assert (readout.chance_to_win, readout.expected) == (case["chance_to_win"], case["expected"])
    assert readout.error == "no_data"
    assert math.isnan(readout.ci_lower) and math.isnan(readout.risk_control)


def test_chance_to_win_is_phi_of_the_uplift_and_matches_the_vectors_both_ways(
        gbstats_bayesian: dict[str, Any]) -> None:
    for name in ("binomial_no_prior", "binomial_beta_prior", "gaussian_no_prior"):
        uplift = gbstats_bayesian[name]["uplift"]
        assert stats.norm.cdf(uplift["mean"] / uplift["stddev"]) == pytest.approx(
            gbstats_bayesian[name]["chance_to_win"], abs=5e-5)


def test_beta_expected_loss_against_an_independent_integral() -> None:
    """``E[max(Y - X, 0)] = E_X[m_Y S_(a_Y + 1, b_Y)(X) - X S_Y(X)]``: another formula than the module's."""
    for control, treatment in (((50, 52), (52, 50)), ((3, 40), (9, 30)), ((400, 600), (410, 590))):
        def partial(x: float, low: tuple[int, int], high: tuple[int, int]) -> float:
            mean_high = high[0] / sum(high)
            return float(stats.beta.pdf(x, *low) * (mean_high * stats.beta.sf(x, high[0] + 1, high[1])
                                                    - x * stats.beta.sf(x, *high)))

        gain = integrate.quad(partial, 0, 1, args=(control, treatment), epsabs=1e-13, limit=200)[0]
        loss = integrate.quad(partial, 0, 1, args=(treatment, control), epsabs=1e-13, limit=200)[0]
        mean_diff = treatment[0] / sum(treatment) - control[0] / sum(control)
        ours = beta_expected_loss(control, treatment)
        assert ours == pytest.approx((gain, loss), abs=1e-9)
        assert ours[0] - ours[1] == pytest.approx(mean_diff, abs=1e-9)


def test_beta_expected_loss_of_concentrated_posteriors_matches_the_normal_limit() -> None:
    control, treatment = (500_000, 9_500_000), (501_000, 9_499_000)
    gain, loss = beta_expected_loss(control, treatment)
    means = [a / (a + b) for a, b in (control, treatment)]
    variances = [a * b / ((a + b) ** 2 * (a + b + 1)) for a, b in (control, treatment)]
    normal = normal_readout(means[0], variances[0], means[1], variances[1])
    assert gain == pytest.approx(normal.risk_control, rel=1e-3)
    assert loss == pytest.approx(normal.risk_treatment, rel=1e-2)
    assert gain > 0 and loss > 0


def test_normal_readout_against_quadrature_of_its_own_model() -> None:
    mc, vc, mt, vt = 3.0, 0.04, 3.3, 0.09
    readout = normal_readout(mc, vc, mt, vt, confidence_level=0.9)
    sd = math.sqrt(vc + vt)
    gain = integrate.quad(lambda d: d * stats.norm.pdf(d, mt - mc, sd), 0, np.inf)[0]
    loss = integrate.quad(lambda d: -d * stats.norm.pdf(d, mt - mc, sd), -np.inf, 0)[0]
    assert (readout.risk_control, readout.risk_treatment) == pytest.approx((gain, loss), rel=1e-9)
    s = math.sqrt(vc / mc**2 + vt / mt**2)
    ratio = stats.lognorm(s, scale=mt / mc)
    assert readout.chance_to_win == pytest.approx(ratio.sf(1.0), rel=1e-12)
    assert readout.posterior_mean == pytest.approx(ratio.mean() - 1.0, rel=1e-12)
    assert readout.expected == pytest.approx(ratio.median() - 1.0, rel=1e-12)
    assert (readout.ci_lower, readout.ci_upper) == pytest.approx(
        (ratio.ppf(0.05) - 1.0, ratio.ppf(0.95) - 1.0), rel=1e-12)


def test_inverse_flips_chance_to_win_and_swaps_risks() -> None:
    plain = normal_readout(10.0, 0.025, 10.5, 0.1)
    inverse = normal_readout(10.0, 0.025, 10.5, 0.1, inverse=True)
    assert inverse.chance_to_win == pytest.approx(1.0 - plain.chance_to_win, abs=1e-15)
    assert (inverse.risk_control, inverse.risk_treatment) == (plain.risk_treatment, plain.risk_control)
    assert (inverse.ci_lower, inverse.expected) == (plain.ci_lower, plain.expected)
    c, t = np.array([1.0, 1.0, 1.0]), np.array([1.2, 0.9, 1.0])
    boot = bootstrap_readout(1.0, 1.0, c, t, inverse=True)
    assert boot.chance_to_win == pytest.approx(0.5)  # one loss, one win, one tie
    assert (boot.risk_control, boot.risk_treatment) == pytest.approx((0.1 / 3, 0.2 / 3))


def test_normal_readouts_rows_equal_single_calls_and_flag_degenerate_rows() -> None:
    batch = normal_readouts([10.0, 0.0, 5.0, np.nan], [0.025, 0.1, 0.0, 1.0], [10.5, 1.0, 5.0, 1.0],
                            [0.1, 0.1, 0.0, 1.0])
    assert batch.row(0) == normal_readout(10.0, 0.025, 10.5, 0.1)
    assert batch.error == (None, "nonpositive_mean", "zero_variance", "invalid_estimate")
    assert batch.chance_to_win[1:].tolist() == [0.5, 0.5, 0.5]
    assert np.isnan(batch.ci_lower[1:]).all()


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValidationError, match="control_variance"):
        normal_readout(1.0, -0.1, 1.0, 0.1)
    with pytest.raises(ValidationError, match="confidence_level"):
        normal_readout(1.0, 0.1, 1.0, 0.1, confidence_level=1.0)
    with pytest.raises(ValidationError, match="treatment_conversions"):
        binomial_readout(1, 10, 11, 10)
    with pytest.raises(ValidationError, match="prior_control"):
        binomial_readout(0, 10, 1, 10, prior_control=(0.0, 1.0))
    with pytest.raises(ValidationError, match="treatment_replicates"):
        bootstrap_readouts([1.0], [1.0], np.ones((1, 5)), np.ones((1, 4)))
    with pytest.raises(ValidationError, match="control_estimates"):
        bootstrap_readouts([1.0, 2.0, 3.0], [1.0], np.ones((2, 5)), np.ones((2, 5)))


def same(a: Any, b: Any) -> bool:
    """Readouts equal field by field, NaN equal to NaN."""
    return all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def plain_bootstrap(est_t: float, c: list[float], t: list[float], level: float) -> dict[str, float]:
    """The bootstrap readout by its definition, one replicate at a time."""
    pairs = [(x, y) for x, y in zip(c, t, strict=True) if math.isfinite(x) and math.isfinite(y) and x != 0]
    wins = sum(1.0 if y > x else 0.5 if y == x else 0.0 for x, y in pairs) / len(pairs)
    gain = sum(max(y - x, 0.0) for x, y in pairs) / len(pairs)
    loss = sum(max(x - y, 0.0) for x, y in pairs) / len(pairs)
    rel = sorted(y / x - 1.0 for x, y in pairs)

    def linear(q: float) -> float:  # Hyndman & Fan type 7, written out
        h = (len(rel) - 1) * q
        lo = math.floor(h)
        return rel[lo] + (h - lo) * (rel[min(lo + 1, len(rel) - 1)] - rel[lo])

    return {"chance_to_win": wins, "risk_control": gain, "risk_treatment": loss, "relative_risk_control": gain / est_t,
            "posterior_mean": sum(rel) / len(rel), "expected": linear(0.5), "ci_lower": linear((1 - level) / 2),
            "ci_upper": linear((1 + level) / 2)}


def test_bootstrap_readout_against_a_plain_python_reference() -> None:
    rng = np.random.default_rng(7)
    c = np.round(rng.normal(2.0, 0.2, 301), 1)  # rounding makes ties
    t = np.round(rng.normal(2.1, 0.2, 301), 1)
    c[[5, 17]] = [np.nan, 0.0]  # two replicates whose relative effect cannot be formed
    readout = bootstrap_readout(2.0, 2.1, c, t, confidence_level=0.9)
    expected = plain_bootstrap(2.1, c.tolist(), t.tolist(), 0.9)
    assert readout.n_invalid == 2 and readout.n_replicates == 301 and readout.error is None
    assert (c[np.isfinite(c) & (c != 0)] == t[np.isfinite(c) & (c != 0)]).any()  # ties were exercised
    for name, value in expected.items():
        assert getattr(readout, name) == pytest.approx(value, rel=1e-12, abs=1e-15), name
    keep = np.isfinite(c) & (c != 0)
    assert (readout.ci_lower, readout.ci_upper) == pytest.approx(
        tuple(np.quantile(t[keep] / c[keep] - 1.0, [0.05, 0.95])), rel=1e-12)


def test_bootstrap_readouts_rows_equal_single_calls_and_errors() -> None:
    rng = np.random.default_rng(3)
    c, t = rng.normal(1.0, 0.1, (3, 200)), rng.normal(1.05, 0.1, (3, 200))
    c[1, :10] = 0.0  # 5% invalid: over the 1% default
    batch = bootstrap_readouts([1.0, 1.0, 0.0], [1.05, 1.05, 1.0], c, t)
    assert batch.error == (None, "too_many_invalid_replicates", "invalid_estimate")
    assert same(batch.row(0), bootstrap_readout(1.0, 1.05, c[0], t[0]))
    assert batch.chance_to_win[1:].tolist() == [0.5, 0.5]
    assert batch.n_invalid.tolist() == [0, 10, 0]
    tolerant = bootstrap_readouts([1.0], [1.05], c[1:2], t[1:2], max_invalid_fraction=0.1)
    assert tolerant.error == (None,) and tolerant.n_invalid[0] == 10
    assert bootstrap_readout(1.0, 1.0, [1.0], [1.0]).error == "too_few_replicates"


def clustered_arm(rng: np.random.Generator, salt: str, n_units: int, scale: float) -> tuple[Any, ...]:
    """Unit-level revenue (integer cents, skewed, many zeros) and the unit keys of its Poisson weights."""
    k1, k2 = unit_keys(salt, [f"u{i}" for i in range(n_units)])
    active = rng.random(n_units) < 0.3
    cents = np.where(active, np.round(rng.lognormal(np.log(500 * scale), 1.0, n_units)), 0).astype(np.int64)
    return k1, k2, cents


def test_bootstrap_path_agrees_with_the_normal_path_within_monte_carlo_error() -> None:
    """On 40,000 units per arm and B = 2,000 real Poisson-bootstrap replicates (the engine's weights and sums), the
    bootstrap readout of the mean revenue per unit agrees with the normal readout within 4 Monte-Carlo standard
    errors of B: ``sqrt(p (1 - p) / B)`` for the chance to win, ``sd(max(D, 0)) / sqrt(B)`` for the risks and
    ``sqrt(q (1 - q) / B) / f(x_q)`` for a ``q``-quantile of ``R`` (``f`` the lognormal density of the normal
    path). On these data (normal path: chance to win 0.946, ``s`` = 0.0196) the bounds are 0.020 in chance to win,
    0.0023 at the median lift and 0.0046 at the 95% interval's ends; the observed gaps are 0.0015, 0.0009, 0.0002."""
    rng = np.random.default_rng(20261201)
    n_units, n_reps = 40_000, 2_000
    arms = [clustered_arm(rng, salt, n_units, scale) for salt, scale in (("ctl", 1.0), ("trt", 1.004))]
    means, variances, replicate_means = [], [], []
    for k1, k2, cents in arms:
        values = np.stack([cents, np.ones(n_units, np.int64)], axis=1)  # revenue and units, per replicate
        raw, reps = replicate_sums(k1, k2, np.zeros(n_units, np.int64), values, 1, n_reps)
        replicate_means.append(reps[0, 0] / reps[0, 1])
        means.append(raw[0, 0] / raw[0, 1])
        variances.append(float(np.var(cents, ddof=1)) / n_units)
    normal = normal_readout(means[0], variances[0], means[1], variances[1])
    boot = bootstrap_readout(means[0], means[1], replicate_means[0], replicate_means[1])
    assert boot.error is None and boot.n_invalid == 0
    p = normal.chance_to_win
    assert 0.1 < p < 0.95  # a comparison with something to say, not a foregone conclusion
    assert abs(boot.chance_to_win - p) < 4 * math.sqrt(p * (1 - p) / n_reps)
    diff = replicate_means[1] - replicate_means[0]
    for name, part in (("risk_control", np.maximum(diff, 0)), ("risk_treatment", np.maximum(-diff, 0))):
        assert abs(getattr(boot, name) - getattr(normal, name)) < 4 * float(np.std(part)) / math.sqrt(n_reps), name
    ratio = stats.lognorm(normal.log_stddev, scale=math.exp(normal.log_mean))
    for name, q in (("ci_lower", 0.025), ("expected", 0.5), ("ci_upper", 0.975)):
        mc_error = math.sqrt(q * (1 - q) / n_reps) / ratio.pdf(ratio.ppf(q))
        assert abs(getattr(boot, name) - getattr(normal, name)) < 4 * mc_error, name
    mean_error = float(np.std(replicate_means[1] / replicate_means[0])) / math.sqrt(n_reps)
    assert abs(boot.posterior_mean - normal.posterior_mean) < 4 * mean_error


def test_normal_readouts_from_replicates_use_each_arms_replicate_variance() -> None:
    rng = np.random.default_rng(11)
    c, t = rng.normal(2.0, 0.05, (2, 500)), rng.normal(2.1, 0.08, (2, 500))
    c[1, 3] = np.nan  # an invalid replicate is left out of the variance, not turned into a number
    got = normal_readouts_from_replicates([2.0, 2.0], [2.1, 2.1], c, t)
    for i in (0, 1):
        keep = np.isfinite(c[i])
        expected = normal_readout(2.0, float(np.var(c[i][keep], ddof=1)), 2.1, float(np.var(t[i], ddof=1)))
        assert got.error[i] is None
        assert tuple(got.row(i))[:11] == pytest.approx(tuple(expected)[:11], rel=1e-12)


def test_relative_risk_of_a_zero_treatment_estimate_is_nan_not_infinite() -> None:
    readout = bootstrap_readout(1.0, 0.0, [1.0, 1.2, 0.9], [0.1, -0.1, 0.0])
    assert readout.error is None and readout.risk_treatment > 0
    assert math.isnan(readout.relative_risk_control) and math.isnan(readout.relative_risk_treatment)
