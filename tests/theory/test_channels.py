"""Tests of deepgep.theory.channels: the output channels of the GLM (book eq-zout, eq-psi-out),
identities first, then independent methods.

Every replica quantity of a channel is checked against something computed another way: finite
differences of ``log Z_out`` for ``g_out``, Monte Carlo through the channel's own ``sample`` (the
teacher) for the averages, scipy quad / mpmath on the one-dimensional integrals, and the derivative
identity ``2 dPsi_out/dq = kappa E[g_out^2]`` that makes ``q_hat = alpha kappa E[g^2]`` the
stationarity condition of ``f_RS``.

Monte Carlo tolerances are 5 standard errors (a false alarm has probability ~6e-7 per check; every
generator is seeded, so the runs are reproducible anyway).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import log_ndtr, ndtr

from deepgep.theory.channels import (
    AbsChannel,
    GaussianChannel,
    OutputFunctionChannel,
    SignChannel,
    known_channels,
    make_channel,
)
from deepgep.theory.channels.sign import log_phi_cdf, probit_mean_g_out_squared_reference

#: The reference deep model (tanh(2x), L = 2): kappa = eta0^2 and gamma0 (book eq-composition).
KAPPA, GAMMA0 = 0.409095, 0.152506
N_SE = 5.0


def teacher_sample(channel, kappa, q, n, rng):
    """``(omega, V, y)`` from the Nishimori measure: ``omega = sqrt(kappa q) zeta``, the teacher's
    ``z ~ N(omega, V)``, ``V = kappa (1 - q)``, and the label through ``channel.sample``."""
    V = kappa * (1.0 - q)
    omega = math.sqrt(kappa * q) * rng.standard_normal(n)
    z = omega + math.sqrt(V) * rng.standard_normal(n)
    return omega, V, channel.sample(z, rng)


def assert_within_se(samples, expected, n_se=N_SE):
    mean = float(np.mean(samples))
    se = float(np.std(samples, ddof=1)) / math.sqrt(samples.size)
    assert abs(mean - expected) <= n_se * se, f"MC {mean} +- {se} vs {expected} ({abs(mean - expected) / se:.1f} SE)"


# --- identities ------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.05, 0.3, 0.6, 0.9, 0.99])
@pytest.mark.parametrize(
    "channel",
    [GaussianChannel(GAMMA0), GaussianChannel(1.0), SignChannel(0.0), SignChannel(GAMMA0), SignChannel(1.0),
     AbsChannel(0.0, 0.01), AbsChannel(0.1, 0.001)],
    ids=lambda c: f"{c.name}-{getattr(c, 'gamma0', 0)}-{getattr(c, 'noise', getattr(c, 'total_noise', 0))}",
)
def test_psi_out_derivative_identity(channel, q):
    """2 dPsi_out/dq = kappa E[g_out^2]: the stationarity of f_RS in q is the update
    q_hat = alpha kappa E[g^2] (for abs it also checks the closed-form quadrature: measured <= 1.8e-8).
    Central differences with h = 1e-5 and h/2, Richardson-combined: the plain h^2 Psi''' / 6
    truncation is 1.2e-7 relative for the noiseless channel at q = 0.99 (Psi' ~ (1-q)^{-1/2}, so
    Psi''' ~ 3e4 there); the combination leaves O(h^4) < 1e-10, and rounding ~1e-15 / h = 1e-10:
    1e-7 relative."""

    def central(h):
        return (channel.psi_out(KAPPA, q + h) - channel.psi_out(KAPPA, q - h)) / (2 * h)

    h = 1e-5
    fd = (4 * central(h / 2) - central(h)) / 3
    assert 2 * fd == pytest.approx(KAPPA * channel.mean_g_out_squared(KAPPA, q), rel=1e-7)


def test_gaussian_closed_form_identities():
    """psi_out(kappa, 1) = -1/2 ln(2 pi e noise) (minus the entropy of the noise); E[g^2] = 1/W
    = -d g_out / d omega (Nishimori, exact here); psi_out at q = 0 is minus the entropy of
    N(0, kappa + noise)."""
    for noise in (0.01, GAMMA0, 1.0):
        ch = GaussianChannel(noise)
        assert ch.psi_out(KAPPA, 1.0) == pytest.approx(-0.5 * math.log(2 * math.pi * math.e * noise), rel=1e-15)
        assert ch.psi_out(KAPPA, 0.0) == pytest.approx(
            -0.5 * math.log(2 * math.pi * math.e * (KAPPA + noise)), rel=1e-15
        )
        for q in (0.0, 0.4, 0.99):
            W = KAPPA * (1 - q) + noise
            _, dg = ch.g_out(np.array([0.3]), np.array([-0.2]), KAPPA * (1 - q))
            assert ch.mean_g_out_squared(KAPPA, q) == pytest.approx(1.0 / W, rel=1e-15)
            assert -dg[0] == pytest.approx(ch.mean_g_out_squared(KAPPA, q), rel=1e-15)
            assert ch.bayes_test_error(KAPPA, q) == pytest.approx(W, rel=1e-15)


def test_sign_noiseless_psi_out_at_q_one_is_zero():
    """The label is a deterministic function of z: E ln P_out(y | z) = 0, and psi_out is continuous
    there (psi ~ -c sqrt(1-q): 1e-12 below q = 1 it is below 1e-5 in size)."""
    ch = SignChannel(0.0)
    assert ch.psi_out(KAPPA, 1.0) == 0.0
    assert -1e-5 < ch.psi_out(KAPPA, 1.0 - 1e-12) < 0.0
    with pytest.raises(ValueError, match="diverges"):
        ch.mean_g_out_squared(KAPPA, 1.0)


# --- log Phi -------------------------------------------------------------------------------------


def _log_phi(t):
    return np.array([log_phi_cdf(float(x)) for x in np.atleast_1d(t)])


def test_log_phi_cdf_against_scipy_log_ndtr():
    """On [-200, 40] (the series branch is t <= -30). Tolerances by region:

    * t <= 5: 1e-13 relative (measured <= 7e-15);
    * 5 < t <= 37.5: log Phi(t) = log1p(-Phi(-t)) ~ -Phi(-t) < 3e-7, and there both math.erfc and
      scipy's log_ndtr carry ~1e-13 relative error of their own (<= 1.8e-13 and 2.0e-13 against
      30-digit mpmath on 651 points), so they can differ by up to ~4e-13: 5e-13 relative;
    * t > 37.5: |log Phi| < 1e-307 is subnormal (relative precision lost): absolute 1e-310.
    """
    t = np.concatenate([np.linspace(-200.0, 40.0, 48_001), [-30.0, 0.0, 5e-324, -5e-324, 37.5]])
    ours, ref = _log_phi(t), log_ndtr(t)
    assert np.all(np.isfinite(ours)) and np.all(ours <= 0.0)
    lower = t <= 5.0
    np.testing.assert_allclose(ours[lower], ref[lower], rtol=1e-13, atol=0)
    mid = (t > 5.0) & (t <= 37.5)
    np.testing.assert_allclose(ours[mid], ref[mid], rtol=5e-13, atol=0)
    upper = t > 37.5
    np.testing.assert_allclose(ours[upper], ref[upper], rtol=0, atol=1e-310)
    assert np.count_nonzero(t <= -30.0) > 7_000  # the series branch is exercised


@pytest.mark.parametrize("t", [-200.0, -100.0, -30.5, -30.0, -29.5, -10.0, 0.0, 10.0, 20.0, 30.0, 37.0])
def test_log_phi_cdf_against_mpmath(t):
    """An independent reference in the deep right tail, where scipy itself is only ~1e-13 accurate:
    ours is <= 1.8e-13 relative there (math.erfc), so 3e-13; elsewhere 1e-14 (measured 2.4e-15)."""
    with mpmath.workdps(40):
        x = mpmath.mpf(t)
        exact = float(mpmath.log1p(-mpmath.ncdf(-x)) if t > 0 else mpmath.log(mpmath.ncdf(x)))
    rtol = 3e-13 if t > 5 else 1e-14
    assert log_phi_cdf(t) == pytest.approx(exact, rel=rtol, abs=0)


@pytest.mark.parametrize("point", [-30.0, 0.0])
def test_log_phi_cdf_is_continuous_at_branch_points(point):
    """One ulp on either side of a branch point: the jump equals slope * dt, to 4 ulp of the value
    (the slope of log Phi is the inverse Mills ratio phi(t)/Phi(t))."""
    below, above = np.nextafter(point, -np.inf), np.nextafter(point, np.inf)
    slope = math.exp(-0.5 * point * point - 0.5 * math.log(2 * math.pi) - float(log_ndtr(point)))
    jump = log_phi_cdf(above) - log_phi_cdf(below)
    assert abs(jump - slope * (above - below)) <= 4 * np.spacing(abs(log_phi_cdf(point)))
    assert log_phi_cdf(point) == pytest.approx(float(log_ndtr(point)), rel=1e-15)


# --- Gaussian channel ---------------------------------------------------------------------------


def test_gaussian_g_out_is_the_derivative_of_log_z_out():
    """log Z_out is quadratic in omega, so central differences are exact up to rounding:
    ~eps |log Z| / h = 1e-16 * 10 / 1e-5 = 1e-10 for g (and g is linear, so likewise for dg)."""
    rng = np.random.default_rng(11)
    ch = GaussianChannel(GAMMA0)
    y, omega = 2.0 * rng.standard_normal(50), rng.standard_normal(50)
    V = rng.uniform(0.01, 1.0, 50)
    h = 1e-5
    g, dg = ch.g_out(y, omega, V)
    fd = (ch.log_z_out(y, omega + h, V) - ch.log_z_out(y, omega - h, V)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-8, atol=1e-9)
    fd2 = (ch.g_out(y, omega + h, V)[0] - ch.g_out(y, omega - h, V)[0]) / (2 * h)
    np.testing.assert_allclose(dg, fd2, rtol=1e-8)


@pytest.mark.parametrize("q", [0.0, 0.5, 0.95])
@pytest.mark.parametrize("noise", [0.05, 1.0])
def test_gaussian_averages_against_monte_carlo(q, noise):
    rng = np.random.default_rng(20250 + int(100 * q) + int(100 * noise))
    ch = GaussianChannel(noise)
    omega, V, y = teacher_sample(ch, KAPPA, q, 200_000, rng)
    g, _ = ch.g_out(y, omega, V)
    assert_within_se(g * g, ch.mean_g_out_squared(KAPPA, q))
    assert_within_se(ch.log_z_out(y, omega, V), ch.psi_out(KAPPA, q))


# --- sign (probit) channel ----------------------------------------------------------------------

SIGN_GRID = [
    (noise, q)
    for noise in (0.0, GAMMA0, 1.0)
    for q in (0.0, 0.3, 0.9, 0.999, 0.999999)
]


@pytest.mark.parametrize("noise, q", SIGN_GRID)
def test_sign_mean_g2_against_science_md_integral(noise, q):
    """The 200-node Gauss-Legendre average against the integral of book eq-probit-qhat by adaptive quad
    (requested at 1e-12): 1e-11 relative (measured <= 1e-13 on the rest of the grid)."""
    ours = SignChannel(noise).mean_g_out_squared(KAPPA, q)
    assert ours == pytest.approx(probit_mean_g_out_squared_reference(KAPPA, q, noise), rel=1e-11, abs=0)


def test_sign_mean_g2_against_mpmath_near_q_one():
    """The hardest point of the grid (noiseless, q = 0.999999: the scale sqrt(kappa q / W) = 1000)
    against a 30-digit integral at the same float q: 5e-13 relative (measured 7.6e-14)."""
    kappa, q = KAPPA, 0.999999
    with mpmath.workdps(30):
        k, qq = mpmath.mpf(kappa), mpmath.mpf(q)
        W = k * (1 - qq)
        s = mpmath.sqrt(k * qq / W)

        def F(t):  # E_y g^2 * W at omega / sqrt(W) = t
            return mpmath.npdf(t) ** 2 * (1 / mpmath.ncdf(t) + 1 / mpmath.ncdf(-t))

        exact = float(2 * mpmath.quad(lambda t: F(t) * mpmath.npdf(t / s) / s, [0, 1, 2, 4, 8, 16, 40]) / W)
    assert SignChannel(0.0).mean_g_out_squared(kappa, q) == pytest.approx(exact, rel=5e-13, abs=0)


@pytest.mark.parametrize("noise", [0.0, GAMMA0, 1.0])
@pytest.mark.parametrize("q", [0.0, 0.3, 0.9, 0.999, 0.999999])
def test_sign_psi_out_against_quad(noise, q):
    """psi_out = E_zeta[Phi(t) ln Phi(t) + Phi(-t) ln Phi(-t)] = 2 E_zeta Phi(t) ln Phi(t),
    t = zeta sqrt(kappa q / W), by adaptive quad at 1e-13: 1e-12 relative (measured <= 1.1e-13)."""
    W = KAPPA * (1 - q) + noise
    s = math.sqrt(KAPPA * q / W)
    ref, err = quad(
        lambda z: 2.0 * ndtr(s * z) * log_ndtr(s * z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
        -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=500,
    )
    assert err < 1e-13
    assert SignChannel(noise).psi_out(KAPPA, q) == pytest.approx(ref, rel=1e-12, abs=0)


def test_sign_g_out_is_the_derivative_of_log_z_out():
    """Central differences with h = 1e-6: truncation h^2 |g''| / 6 < 1e-12, rounding
    eps |log Z| / h < 1e-9 for |log Z| < 10 (t in [-4, 4]): 1e-7 relative + 1e-9 absolute."""
    rng = np.random.default_rng(12)
    for noise in (0.0, GAMMA0):
        ch = SignChannel(noise)
        y = rng.choice([-1.0, 1.0], 200)
        V = rng.uniform(0.05, 1.0, 200)
        omega = rng.uniform(-4, 4, 200) * np.sqrt(V + noise)
        h = 1e-6
        g, dg = ch.g_out(y, omega, V)
        fd = (ch.log_z_out(y, omega + h, V) - ch.log_z_out(y, omega - h, V)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
        fd2 = (ch.g_out(y, omega + h, V)[0] - ch.g_out(y, omega - h, V)[0]) / (2 * h)
        np.testing.assert_allclose(dg, fd2, rtol=1e-7, atol=1e-9)


def test_sign_g_out_is_stable_in_the_tails():
    """|omega / sqrt(V)| up to 1e3: finite, the log-concavity bound -1 < s^2 dg <= 0, and the
    Mills-ratio asymptotics m(t) = |t| + 1/|t| - 2/|t|^3 + ... on the wrong side (t -> -inf):
    relative 1e-9 on g (the exponent -t^2/2 - log Phi(t) cancels to ~1e-16 * t^2 = 1e-10)."""
    V = 0.3
    s = math.sqrt(V)
    t = np.concatenate([-np.logspace(0, 3, 40), np.logspace(0, 3, 40)])
    for y in (-1.0, 1.0):
        ch = SignChannel(0.0)
        g, dg = ch.g_out(np.full(t.size, y), y * t * s, V)
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(dg))
        assert np.all(s * s * dg <= 0.0) and np.all(s * s * dg > -1.0)
        wrong = t < -40  # next term -74/|t|^7: relative 1e-11 there
        a = -t[wrong]
        mills = a + 1 / a - 2 / a**3 + 10 / a**5
        np.testing.assert_allclose(y * g[wrong] * s, mills, rtol=1e-9)
        assert np.all(np.abs(g[t > 40]) < 1e-300)  # phi(t) underflows: the label is certain


@pytest.mark.parametrize("t", [-3.0, -5.5, -10.0, -50.0, -300.0, -1000.0])
def test_sign_g_out_derivative_in_the_tail_against_mpmath(t):
    """-s^2 dg/domega = M (t + M), M = phi(t)/Phi(t): for t -> -inf the sum t + M ~ 1/|t| cancels, so
    the library takes it from a continued fraction below t = -5. Against 40-digit mpmath: M carries
    the exponent's rounding, ~1e-16 t^2 / 2 = 5e-11 at t = -1000: 1e-9 relative."""
    with mpmath.workdps(40):
        x = mpmath.mpf(t)
        m = mpmath.npdf(x) / mpmath.ncdf(x)
        exact = float(m * (x + m))
    V = 0.5
    _, dg = SignChannel(0.0).g_out(np.array([1.0]), np.array([t * math.sqrt(V)]), V)
    assert -V * dg[0] == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("noise, q", [(0.0, 0.5), (GAMMA0, 0.3), (GAMMA0, 0.9), (1.0, 0.6)])
def test_sign_averages_against_monte_carlo(noise, q):
    """E[g^2] and psi_out through sampled labels, and the Nishimori identity
    E[g_out^2] = -E[d g_out / d omega] (paired per sample: their sum has mean 0)."""
    rng = np.random.default_rng(777 + int(1000 * q) + int(1000 * noise))
    ch = SignChannel(noise)
    omega, V, y = teacher_sample(ch, KAPPA, q, 200_000, rng)
    g, dg = ch.g_out(y, omega, V)
    assert_within_se(g * g, ch.mean_g_out_squared(KAPPA, q))
    assert_within_se(g * g + dg, 0.0)
    assert_within_se(ch.log_z_out(y, omega, V), ch.psi_out(KAPPA, q))


@pytest.mark.parametrize("noise, q", [(0.0, 0.3), (0.0, 0.95), (GAMMA0, 0.0), (GAMMA0, 0.7), (1.0, 0.5)])
def test_sign_bayes_test_error(noise, q):
    """arccos(sqrt(kappa q / rho_tot)) / pi against (i) E_zeta Phi(-|omega| / sqrt(W)) by quad (1e-12:
    quad at 1e-14 on a smooth integrand) and (ii) the misclassification rate of sign(omega) on
    labels sampled by the channel (5 SE)."""
    ch = SignChannel(noise)
    closed = ch.bayes_test_error(KAPPA, q)
    W = KAPPA * (1 - q) + noise
    a = math.sqrt(KAPPA * q / W)
    integral, _ = quad(lambda z: ndtr(-a * abs(z)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
                       -np.inf, np.inf, epsabs=1e-14, epsrel=1e-14, limit=200)
    assert closed == pytest.approx(integral, rel=1e-12)
    rng = np.random.default_rng(31 + int(100 * q) + int(100 * noise))
    omega, _, y = teacher_sample(ch, KAPPA, q, 200_000, rng)
    predicted = np.where(omega >= 0, 1.0, -1.0)
    assert_within_se((predicted != y).astype(float), closed)


def test_sign_bayes_test_error_limits():
    assert SignChannel(GAMMA0).bayes_test_error(KAPPA, 0.0) == 0.5
    assert SignChannel(0.0).bayes_test_error(KAPPA, 1.0) == 0.0
    # With label noise the error at q = 1 is the noise floor arccos(sqrt(kappa/(kappa+noise)))/pi.
    assert SignChannel(GAMMA0).bayes_test_error(KAPPA, 1.0) == pytest.approx(
        math.atan(math.sqrt(GAMMA0 / KAPPA)) / math.pi, rel=1e-14
    )


# --- general output function --------------------------------------------------------------------


@pytest.mark.parametrize("inner, noise", [(0.1, 0.05), (0.0, 0.01)])
@pytest.mark.parametrize("q", [0.3, 0.9])
def test_output_function_linear_reproduces_gaussian_channel(inner, noise, q):
    """f = linear: y = z + sqrt(inner) xi + sqrt(noise) xi' is the Gaussian channel with the total
    noise; the quadrature (trapezoid + 24-node Hermite) is exact for this polynomial case up to
    rounding (measured <= 8e-13): 1e-10 relative."""
    oc, gc = OutputFunctionChannel("linear", inner, noise), GaussianChannel(inner + noise)
    assert oc.mean_g_out_squared(KAPPA, q) == pytest.approx(gc.mean_g_out_squared(KAPPA, q), rel=1e-10)
    assert oc.psi_out(KAPPA, q) == pytest.approx(gc.psi_out(KAPPA, q), rel=1e-10)
    assert oc.bayes_test_error(KAPPA, q) == pytest.approx(gc.bayes_test_error(KAPPA, q), rel=1e-10)


def _sign_with_output_noise_exact(inner, noise, q):
    """y = sign(z + sqrt(inner) xi) + sqrt(noise) xi' with noise = 0.01: the labels +-1 are 20
    noise standard deviations apart, so (up to e^{-50}) Z_out(y) = P_sign(+-1) N(y -+ 1; noise):
    E[g^2] is the sign channel's, psi_out the sign channel's plus -1/2 ln(2 pi e noise)."""
    sc = SignChannel(inner)
    return sc.mean_g_out_squared(KAPPA, q), sc.psi_out(KAPPA, q) - 0.5 * math.log(2 * math.pi * math.e * noise)


@pytest.mark.parametrize("q", [0.0, 0.3, 0.9])
def test_output_function_sign_matches_sign_channel(q):
    """The exact statement of _sign_with_output_noise_exact, by the general quadrature: 1e-3 (the
    inner trapezoid crosses the jump of sign: measured <= 2.0e-4 relative on E[g^2] and 1.8e-4
    absolute on psi_out at inner noise gamma0; 7e-4 at inner noise 0.5, q = 0.9)."""
    oc = OutputFunctionChannel("sign", GAMMA0, 0.01)
    g2, psi = _sign_with_output_noise_exact(GAMMA0, 0.01, q)
    assert oc.mean_g_out_squared(KAPPA, q) == pytest.approx(g2, rel=1e-3)
    assert oc.psi_out(KAPPA, q) == pytest.approx(psi, abs=1e-3)


def _abs_log_z(y, omega, W, noise):
    """Closed form of ln Z_out for y = |u| + sqrt(noise) xi', u ~ N(omega, W): each half-line of u
    is a Gaussian product integral, N(y; +-omega, W + noise) Phi(+-m / s)."""
    S = W + noise
    s = math.sqrt(W * noise / S)
    plus = -0.5 * (y - omega) ** 2 / S + log_ndtr((omega * noise + y * W) / S / s)
    minus = -0.5 * (y + omega) ** 2 / S + log_ndtr(-(omega * noise - y * W) / S / s)
    return np.logaddexp(plus, minus) - 0.5 * np.log(2 * np.pi * S)


def abs_channel_reference(kappa, q, noise):
    """(E[g^2], psi_out) of make_channel('abs', 0, noise), independently: the closed-form Z_out
    above, g by central differences in omega (h = 1e-6), y on a uniform grid (step 2.6e-3: 38 per
    sqrt(noise) = 0.1), zeta by the trapezoid rule on [-9, 9] (robust to the fold at omega = 0). Checked
    against Monte Carlo (test below) and against 3001 zeta x 20001 y nodes (agree to 1e-8)."""
    V = kappa * (1.0 - q)
    zeta = np.linspace(-9.0, 9.0, 301)
    wz = np.exp(-0.5 * zeta**2) / math.sqrt(2 * math.pi) * (zeta[1] - zeta[0])
    y = np.linspace(-1.5, 3.0 * math.sqrt(kappa) + 6.0, 4_001)
    dy = y[1] - y[0]
    omega = math.sqrt(kappa * q) * zeta[:, None]
    lz = _abs_log_z(y[None, :], omega, V, noise)
    h = 1e-6
    g = (_abs_log_z(y[None, :], omega + h, V, noise) - _abs_log_z(y[None, :], omega - h, V, noise)) / (2 * h)
    p = np.exp(lz) * dy
    return float(wz @ (p * g * g).sum(1)), float(wz @ (p * lz).sum(1))


def test_abs_reference_is_normalised_and_matches_monte_carlo():
    """The reference's own check: Z_out integrates to one in y, and (E[g^2], psi) agree with Monte
    Carlo through the library's sample() (5 SE)."""
    y = np.linspace(-3, 12, 30_001)
    assert np.exp(_abs_log_z(y, 0.3, 0.7, 0.01)).sum() * (y[1] - y[0]) == pytest.approx(1.0, abs=1e-10)
    ch = make_channel("abs", 0.0, noise=0.01)
    rng = np.random.default_rng(5)
    q = 0.9
    omega, V, yy = teacher_sample(ch, 1.0, q, 200_000, rng)
    g = (_abs_log_z(yy, omega + 1e-6, V, 0.01) - _abs_log_z(yy, omega - 1e-6, V, 0.01)) / 2e-6
    g2, psi = abs_channel_reference(1.0, q, 0.01)
    assert_within_se(g * g, g2)
    assert_within_se(_abs_log_z(yy, omega, V, 0.01), psi)


@pytest.mark.parametrize("q", [0.0, 0.3, 0.9])
def test_abs_channel_against_closed_form_reference(q):
    """make_channel('abs') is the closed-form AbsChannel: 1e-7 relative on E[g^2] and 1e-9 absolute
    on psi_out, limited by the reference's 301-node zeta rule (measured 2.2e-9 and 1.3e-12; the
    channel also agrees with a 9001 x 4700-node reference to 1.3e-10 up to q = 0.9996, noise 1e-4)."""
    ch = make_channel("abs", 0.0, noise=0.01)
    g2, psi = abs_channel_reference(1.0, q, 0.01)
    assert ch.psi_out(1.0, q) == pytest.approx(psi, abs=1e-9)
    assert ch.mean_g_out_squared(1.0, q) == pytest.approx(g2, rel=1e-7, abs=1e-12)


def test_output_function_abs_against_closed_form_reference():
    """The general quadrature with f = abs against the same reference: 1e-3 (the inner trapezoid
    across the kink of |.|: measured 2.4e-4 absolute on psi_out at q = 0, 1.3e-7 on E[g^2] at 0.9)."""
    ch = OutputFunctionChannel("abs", 0.0, 0.01)
    g2, _ = abs_channel_reference(1.0, 0.9, 0.01)
    _, psi0 = abs_channel_reference(1.0, 0.0, 0.01)
    assert ch.psi_out(1.0, 0.0) == pytest.approx(psi0, abs=1e-3)
    assert ch.mean_g_out_squared(1.0, 0.9) == pytest.approx(g2, rel=1e-3)


@pytest.mark.parametrize("channel, q", [(AbsChannel(0.0, 0.01), 0.5), (AbsChannel(0.1, 0.001), 0.9)],
                         ids=["abs-0-0.01", "abs-0.1-0.001"])
def test_abs_bayes_test_error_against_monte_carlo(channel, q):
    """E_zeta Var(|z'| | omega) + noise against the squared error of the posterior-mean prediction
    E[|z'| | omega] = sqrt(W) sqrt(2/pi) e^{-omega^2/2W} + omega (1 - 2 Phi(-omega/sqrt(W))) on
    labels sampled by the channel (5 SE)."""
    rng = np.random.default_rng(41)
    omega, V, y = teacher_sample(channel, 1.0, q, 200_000, rng)
    W = V + channel.gamma0
    mean_abs = math.sqrt(W) * math.sqrt(2 / math.pi) * np.exp(-0.5 * omega**2 / W) + omega * (
        1 - 2 * ndtr(-omega / math.sqrt(W)))
    assert_within_se((y - mean_abs) ** 2, channel.bayes_test_error(1.0, q))


def test_satisfies_theorem_flags():
    """Camilli et al. need an odd output function: abs and relu are plain-GLM channels only."""
    assert make_channel("abs", 0.0, 0.01).satisfies_theorem is False
    assert make_channel("relu", 0.0, 0.01).satisfies_theorem is False
    assert make_channel("tanh", GAMMA0, 0.01).satisfies_theorem is True
    # sign is odd but not C^2 with bounded derivatives: the proof does not cover it
    assert OutputFunctionChannel("sign", GAMMA0, 0.01).satisfies_theorem is False
    assert make_channel("sign", GAMMA0).satisfies_theorem is False
    assert "Cui et al." in make_channel("sign", GAMMA0).caveat
    assert make_channel("tanh", GAMMA0, 0.01).caveat == make_channel("linear", GAMMA0).caveat == ""
    assert make_channel("linear", GAMMA0).satisfies_theorem is True


def test_make_channel_reduces_to_closed_form_channels():
    """linear and sign collect gamma0 + noise (the noise enters before the sign)."""
    lin = make_channel("linear", 0.1, 0.05)
    assert isinstance(lin, GaussianChannel) and lin.total_noise == pytest.approx(0.15, rel=1e-15)
    sgn = make_channel(" Sign ", GAMMA0, 0.0)
    assert isinstance(sgn, SignChannel) and sgn.total_noise == GAMMA0
    ab = make_channel("abs", 0.1, 0.001)  # closed form, so any noise > 0 (below MIN_NOISE too)
    assert isinstance(ab, AbsChannel) and (ab.gamma0, ab.noise) == (0.1, 0.001)
    tanh = make_channel("tanh", GAMMA0, 0.02)
    assert isinstance(tanh, OutputFunctionChannel)
    assert (tanh.function, tanh.gamma0, tanh.noise, tanh.name) == ("tanh", GAMMA0, 0.02, "tanh")


def test_channel_errors():
    with pytest.raises(ValueError, match="noise >= 0.01"):
        OutputFunctionChannel("tanh", 0.0, OutputFunctionChannel.MIN_NOISE / 2)
    with pytest.raises(ValueError, match="noise >= 0.01"):
        make_channel("relu", GAMMA0, 0.005)
    with pytest.raises(ValueError, match="positive"):
        make_channel("tanh", GAMMA0, 0.0)
    with pytest.raises(ValueError) as info:
        make_channel("softmax", 0.0, 0.1)
    for name in known_channels():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="known"):
        OutputFunctionChannel("cube", 0.0, 0.1)
    with pytest.raises(ValueError, match="gamma0 \\+ noise > 0"):
        make_channel("linear", 0.0, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        make_channel("sign", -0.1, 0.0)
    with pytest.raises(ValueError, match="positive"):
        make_channel("abs", 0.1, 0.0)
    with pytest.raises(ValueError, match="positive"):
        GaussianChannel(0.0)
    with pytest.raises(ValueError, match="overlap"):
        SignChannel(0.1).psi_out(KAPPA, 1.5)
    with pytest.raises(ValueError, match="kappa"):
        SignChannel(0.1).mean_g_out_squared(0.0, 0.5)


def test_known_channels_all_construct():
    for name in known_channels():
        ch = make_channel(name, 0.1, 0.05)
        assert ch.name == name
