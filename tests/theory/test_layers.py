"""Tests of deepgep.theory.layers: the layer recursion of Theorem 1 (reference values, closed
forms, Monte Carlo, identities) and the composition into the equivalent GLM (book
eq-composition: explicit loops, reference values, the linear limit, equivalent_parameters and the
depth table).

Closed-form checks compare each step with the formula evaluated at the library's own
``sigma_{l-1}``, so errors do not compound through the depth; they are then at the accuracy of
the default split rule on an entire integrand (measured <= 4e-15 here, see
tests/theory/test_quadrature.py), checked at 1e-14.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from deepgep.theory.activations import get_activation
from deepgep.theory.quadrature import gaussian_expectation, gaussian_moments, rule_for
from deepgep.theory.layers import (
    LayerCoefficients,
    depth_table,
    equivalent_glm,
    equivalent_parameters,
    erf_coefficients,
    layer_coefficients,
    monte_carlo_coefficients,
)

GAINS = [0.5, 1.0, 2.0, 3.0]
DEPTH = 5
EPS = np.finfo(np.float64).eps
#: The reference deep model (tanh(2x), L = 2): kappa = eta0^2 and gamma0 (book eq-composition).
KAPPA, GAMMA0 = 0.409095, 0.152506


def default_rule_second_moment_defect() -> float:
    """|E Z^2 - 1| on the default rule (1.1e-15, measured): the rule is not renormalised."""
    x, w = rule_for()
    return abs(float(np.sum(w * x * x)) - 1.0)


def test_reference_values_of_science_md():
    """book eq-composition (Cui et al.'s example), printed to 6 decimals (rounding <= 5e-7)."""
    c = layer_coefficients("tanh", 2, gain=2.0)
    np.testing.assert_allclose(c.sigma, [1.0, 0.635261, 0.561601], rtol=0, atol=1e-6)
    np.testing.assert_allclose(c.rho, [0.729478, 0.876799], rtol=0, atol=1e-6)
    np.testing.assert_allclose(c.eps, [0.103124, 0.073227], rtol=0, atol=1e-6)
    # Composition with rho = 1, eps = 0: eta_0 = rho_1 rho_2, gamma_0 = eps_1 rho_2^2 + eps_2.
    assert (c.rho[0] * c.rho[1]) ** 2 == pytest.approx(0.409095, abs=1e-6)
    assert c.eps[0] * c.rho[1] ** 2 + c.eps[1] == pytest.approx(0.152506, abs=1e-6)


def test_tanh_recursion_against_30_digit_recursion(mp_gauss):
    """The whole depth-2 recursion redone in mpmath; the default rule gives <= 1.9e-15 here
    (measured; g sqrt(s) <= 2)."""
    c = layer_coefficients("tanh", 2, gain=2.0)
    s = 1.0
    for ell in (1, 2):
        second = mp_gauss(lambda u: mpmath.tanh(2 * u) ** 2, s)
        rho = mp_gauss(lambda u: 2 / mpmath.cosh(2 * u) ** 2, s)  # E phi', not the Stein form
        assert c.sigma[ell] == pytest.approx(second, rel=0, abs=1e-14)
        assert c.rho[ell - 1] == pytest.approx(rho, rel=0, abs=1e-14)
        assert c.eps[ell - 1] == pytest.approx(second - s * rho * rho, rel=0, abs=1e-14)
        s = second


@pytest.mark.parametrize("gain", GAINS)
@pytest.mark.parametrize("sigma0", [1.0, 0.3])
def test_erf_closed_forms(gain, sigma0):
    """erf(g x) at input variance s: sigma' = (2/pi) arcsin(2 g^2 s / (1 + 2 g^2 s)),
    rho = g (2 / sqrt(pi)) / sqrt(1 + 2 g^2 s). Measured errors <= 3.6e-15 (sigma), 2.0e-15 (rho)."""
    c = layer_coefficients("erf", DEPTH, gain=gain, sigma0=sigma0)
    a = gain**2 * c.sigma[:-1]
    np.testing.assert_allclose(c.sigma[1:], 2 / np.pi * np.arcsin(2 * a / (1 + 2 * a)), rtol=0, atol=1e-14)
    np.testing.assert_allclose(c.rho, gain * 2 / np.sqrt(np.pi) / np.sqrt(1 + 2 * a), rtol=0, atol=1e-14)
    # eps is summed directly as E (phi - stein Z)^2 on the rule; the definition
    # sigma_l - sigma_{l-1} rho^2 = E phi^2 - (E Z phi)^2 equals it up to (E Z phi)^2 times the
    # rule's defect |E Z^2 - 1| = 1.1e-15, with (E Z phi)^2 <= sigma_l <= 1, plus a few roundings
    # (measured <= 7.8e-16).
    np.testing.assert_allclose(
        c.eps, c.sigma[1:] - c.sigma[:-1] * c.rho**2, rtol=0, atol=default_rule_second_moment_defect() + 4 * EPS
    )
    assert np.all(c.eps > 0)
    assert np.all(np.abs(c.mean) <= 1e-15)  # odd: mirror-symmetric nodes cancel to rounding (7.6e-17)
    # the library's own closed forms agree (contraction: errors do not grow with depth)
    sigma, rho = erf_coefficients(DEPTH, gain=gain, sigma0=sigma0)
    np.testing.assert_allclose(sigma, c.sigma, rtol=0, atol=1e-14)
    np.testing.assert_allclose(rho, c.rho, rtol=0, atol=1e-14)


@pytest.mark.parametrize("gain", GAINS)
def test_sin_closed_forms(gain):
    """E sin(g sqrt(s) Z)^2 = (1 - exp(-2 g^2 s)) / 2, rho = g exp(-g^2 s / 2) (measured <= 2.5e-15)."""
    c = layer_coefficients("sin", DEPTH, gain=gain)
    a = gain**2 * c.sigma[:-1]
    np.testing.assert_allclose(c.sigma[1:], (1 - np.exp(-2 * a)) / 2, rtol=0, atol=1e-14)
    np.testing.assert_allclose(c.rho, gain * np.exp(-a / 2), rtol=0, atol=1e-14)
    assert np.all(np.abs(c.mean) <= 1e-15)


@pytest.mark.parametrize("gain", GAINS)
def test_linear_is_its_own_gaussian_equivalent(gain):
    """phi(x) = g x: rho = g, sigma_l = g^{2l} sigma_0, eps = 0.

    The default rule's E Z^2 is 1 - 1.1e-15 (not renormalised), so rho and sigma hold to ~1e-15
    relative per layer (measured 1.8e-15 and, after 5 layers, 4.6e-15). eps is summed directly
    as E (g sqrt(s) Z - stein Z)^2 = sigma (1 - E Z^2)^2 + roundings, i.e. O(eps^2) relative
    (measured 3.2e-30), no longer the 1e-14 cancellation of sigma_l - sigma_{l-1} rho^2.
    """
    c = layer_coefficients("linear", DEPTH, gain=gain, sigma0=0.7)
    np.testing.assert_allclose(c.rho, gain, rtol=1e-14)
    np.testing.assert_allclose(c.sigma, 0.7 * gain ** (2 * np.arange(DEPTH + 1)), rtol=DEPTH * 2e-15)
    assert np.all(c.eps >= 0)
    assert np.all(c.eps <= 1e-28 * c.sigma[1:])
    assert np.all(np.abs(c.mean) <= 1e-15 * np.sqrt(c.sigma[1:]))


@pytest.mark.parametrize("gain", GAINS)
def test_relu_closed_forms(gain):
    """relu(g x) at variance s: sigma' = g^2 s / 2, rho = g / 2, mu = g sqrt(s / (2 pi)).

    relu has a kink at 0, which the default split rule puts on a panel boundary (Gauss-Hermite
    with 601 nodes would be off by 5e-4 in the mean): measured <= 3.4e-15 relative below.
    """
    c = layer_coefficients("relu", DEPTH, gain=gain)
    np.testing.assert_allclose(c.sigma[1:], gain**2 * c.sigma[:-1] / 2, rtol=1e-14)
    np.testing.assert_allclose(c.rho, gain / 2, rtol=1e-14)
    # mu_l enters the rank-one term mu^2 1 1^T of the Gram matrix of a non-odd activation
    np.testing.assert_allclose(c.mean, gain * np.sqrt(c.sigma[:-1] / (2 * np.pi)), rtol=1e-14)
    np.testing.assert_allclose(c.eps, c.sigma[1:] - c.sigma[:-1] * c.rho**2, rtol=1e-14)  # definition
    np.testing.assert_allclose(c.eps, gain**2 * c.sigma[:-1] / 4, rtol=1e-14)  # g^2 s / 2 - s (g / 2)^2
    assert not c.activation.odd


@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0), ("sin", 1.5), ("relu", 1.0)])
def test_monte_carlo_of_the_recursion(name, gain):
    """10^6 draws of Z per layer; every estimate within 5 standard errors of the quadrature.

    eps = E phi^2 - s (E Z phi / sqrt(s))^2 is non-linear in the means: its standard error comes
    from 100 independent batches of 10^4 draws, each with the unbiased estimate
    m^2 - var/n of the squared mean (the plain m^2 is biased by Var(Z phi)/10^4 ~ 1e-4, which
    for relu is 7 standard errors).
    """
    rng = np.random.default_rng(20250301)
    c = layer_coefficients(name, 3, gain=gain)
    act = c.activation
    n_batches, batch = 100, 10_000
    for ell in range(1, 4):
        s = c.sigma[ell - 1]
        z = rng.standard_normal((n_batches, batch))
        phi = act(math.sqrt(s) * z)
        stats = {
            "sigma": (phi**2, c.sigma[ell]),
            "rho": (z * phi / math.sqrt(s), c.rho[ell - 1]),
            "mean": (phi, c.mean[ell - 1]),
        }
        for key, (samples, target) in stats.items():
            se = samples.std(ddof=1) / math.sqrt(samples.size)
            assert abs(samples.mean() - target) < 5 * se, (ell, key)
        t = z * phi / math.sqrt(s)
        rho2_b = t.mean(axis=1) ** 2 - t.var(axis=1, ddof=1) / batch  # unbiased for rho^2
        eps_b = (phi**2).mean(axis=1) - s * rho2_b
        se = eps_b.std(ddof=1) / math.sqrt(n_batches)
        assert abs(eps_b.mean() - c.eps[ell - 1]) < 5 * se, (ell, "eps")


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_stein_form_equals_mean_derivative(gain):
    """rho_l computed as E[Z phi]/sqrt(s) equals E phi'(sqrt(s) Z), phi' = g sech^2(g x), directly.

    Both by the default rule on entire integrands with g sqrt(s) <= 2: measured <= 3e-15 apart.
    """
    c = layer_coefficients("tanh", DEPTH, gain=gain)
    direct = [
        gaussian_expectation(lambda x: gain / np.cosh(gain * x) ** 2, s) for s in c.sigma[:-1]
    ]
    np.testing.assert_allclose(c.rho, direct, rtol=0, atol=1e-14)


def test_user_callable_gives_the_builtin_coefficients():
    builtin = layer_coefficients("tanh", 3, gain=2.0)
    user = layer_coefficients(np.tanh, 3, gain=2.0)
    for field in ("sigma", "rho", "eps", "mean"):
        # numpy tanh vs math.tanh on the same nodes: sums agree to a few ulps per layer
        # (measured <= 2.2e-16)
        np.testing.assert_allclose(getattr(user, field), getattr(builtin, field), rtol=0, atol=2e-15)


def test_activation_objects_and_gains_compose():
    act = get_activation("tanh", 2.0)
    a = layer_coefficients(act, 2)
    b = layer_coefficients("tanh", 2, gain=2.0)
    c = layer_coefficients(get_activation("tanh", 0.5), 2, gain=4.0)
    np.testing.assert_array_equal(a.sigma, b.sigma)
    np.testing.assert_array_equal(c.sigma, b.sigma)  # 0.5 * 4.0 == 2.0 exactly


def test_shapes_indexing_and_read_only_arrays():
    c = layer_coefficients("tanh", 3, gain=2.0, sigma0=0.8)
    assert isinstance(c, LayerCoefficients)
    assert c.depth == 3
    assert c.sigma.shape == (4,) and c.rho.shape == c.eps.shape == c.mean.shape == (3,)
    assert c.sigma[0] == 0.8
    for ell in (1, 2, 3):
        layer = c.layer(ell)
        assert layer == {
            "sigma_prev": c.sigma[ell - 1],
            "sigma": c.sigma[ell],
            "rho": c.rho[ell - 1],
            "eps": c.eps[ell - 1],
            "mean": c.mean[ell - 1],
        }
    for bad in (0, 4, -1):
        with pytest.raises(ValueError, match="1..3"):
            c.layer(bad)
    for array in (c.sigma, c.rho, c.eps, c.mean):
        with pytest.raises(ValueError):
            array[0] = 1.0


@pytest.mark.parametrize("depth", [0, -1, 1.5])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError):
        layer_coefficients("tanh", depth)


@pytest.mark.parametrize("sigma0", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_sigma0_raises(sigma0):
    with pytest.raises(ValueError):
        layer_coefficients("tanh", 2, sigma0=sigma0)


def test_bad_activation_or_gain_raises():
    with pytest.raises(ValueError):
        layer_coefficients("softplus", 2)
    with pytest.raises(ValueError):
        layer_coefficients("tanh", 2, gain=0.0)


def test_variance_collapse_raises():
    with pytest.raises(ValueError, match="collapses"):
        layer_coefficients(lambda x: 0.0 * x, 2)


@pytest.mark.parametrize("n_nodes", [None, 41])
def test_moments_used_are_the_hermite_moments(n_nodes):
    """Layer l's numbers are exactly gaussian_moments at sigma_{l-1} (no hidden re-scaling),
    eps_l being its residual E (phi - stein Z)^2; n_nodes is passed through."""
    c = layer_coefficients("sin", 3, gain=1.3, n_nodes=n_nodes)
    # The compiled recursion sums an odd activation's even integrands on the half-line x >= 0
    # with doubled weights, so it equals gaussian_moments up to summation order (a few ulps),
    # and its mean is exactly 0 where gaussian_moments gives ~1e-17.
    close = dict(rel=1e-14, abs=1e-16)
    for ell in range(1, 4):
        m = gaussian_moments(c.activation, c.sigma[ell - 1], n_nodes)
        assert c.sigma[ell] == pytest.approx(m.second, **close)
        assert c.rho[ell - 1] == pytest.approx(m.stein / math.sqrt(c.sigma[ell - 1]), **close)
        assert c.eps[ell - 1] == pytest.approx(m.residual, **close)
        assert c.mean[ell - 1] == pytest.approx(m.mean, **close)


@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("relu", 1.5)])
def test_library_monte_carlo_check(name, gain):
    """monte_carlo_coefficients: estimates within 5 of their standard errors of the quadrature,
    and the standard errors are the true ones, sqrt(Var / n) with Var by quadrature.

    With n = 2e5 the sample standard deviation has relative error sqrt((kurt - 1) / 4n) < 1e-2
    for these bounded-kurtosis integrands; 5% is over five of those.
    """
    n = 200_000
    c = layer_coefficients(name, 3, gain=gain)
    mc = monte_carlo_coefficients(c, n, np.random.default_rng(11))
    assert np.all(np.abs(mc.sigma - c.sigma[1:]) < 5 * mc.sigma_se)
    assert np.all(np.abs(mc.rho - c.rho) < 5 * mc.rho_se)
    act = c.activation
    for ell in range(1, 4):
        s = c.sigma[ell - 1]
        var_sq = gaussian_expectation(lambda u: act(u) ** 4, s) - c.sigma[ell] ** 2
        # (Z phi(sqrt(s) Z) / sqrt(s))^2 = u^2 phi(u)^2 / s^2 with u = sqrt(s) Z
        var_st = gaussian_expectation(lambda u: u * u * act(u) ** 2, s) / s**2 - c.rho[ell - 1] ** 2
        assert mc.sigma_se[ell - 1] == pytest.approx(math.sqrt(var_sq / n), rel=0.05)
        assert mc.rho_se[ell - 1] == pytest.approx(math.sqrt(var_st / n), rel=0.05)
    again = monte_carlo_coefficients(c, n, np.random.default_rng(11))
    np.testing.assert_array_equal(again.sigma, mc.sigma)


def test_depth_profile_equals_the_composition_and_sigma():
    from deepgep.theory.layers import depth_profile, equivalent_glm, indistinguishable_depth

    prof = depth_profile("tanh", 6, gain=2.0)
    for L in range(1, 7):
        glm = equivalent_glm(layer_coefficients("tanh", L, gain=2.0))
        # gamma0 as sigma_L - eta0^2 vs the composition's sum of eps: same number, other sums
        assert prof["eta0^2"][L - 1] == pytest.approx(glm.kappa, rel=1e-13)
        assert prof["gamma0"][L - 1] == pytest.approx(glm.gamma0, rel=1e-12)
    assert np.all(np.diff(prof["signal_fraction"]) < 0)  # each layer adds noise
    assert prof["signal_fraction"][1] == pytest.approx(0.409095 / (0.409095 + 0.152506), abs=2e-6)
    assert indistinguishable_depth(prof, 0.99) == 1
    assert indistinguishable_depth(prof, 1e-9) is None
    with pytest.raises(ValueError):
        indistinguishable_depth(prof, 1.5)


# --- composition of Theorem 1 (book eq-composition) ------------------------------------------


def _explicit_composition(rho_l, eps_l, rho, eps):
    """eta_k = rho prod_{i>k} rho_i, gamma_k = eps + rho^2 sum_{j>k} eps_j prod_{i>j} rho_i^2
    (k = 0..L; layers 1-based, rho_l[i-1] = rho_i), as plain loops."""
    L = len(rho_l)
    eta, gamma = [], []
    for k in range(L + 1):
        e = rho
        for i in range(k + 1, L + 1):
            e *= rho_l[i - 1]
        g = 0.0
        for j in range(k + 1, L + 1):
            term = eps_l[j - 1]
            for i in range(j + 1, L + 1):
                term *= rho_l[i - 1] ** 2
            g += term
        eta.append(e)
        gamma.append(eps + rho**2 * g)
    return np.array(eta), np.array(gamma)


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin"])
@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_composition_explicit(activation, gain):
    """Same formulas, different summation order: agreement to rounding (1e-13 relative)."""
    for depth in (1, 2, 3, 5):
        coeffs = layer_coefficients(activation, depth, gain=gain)
        for rho, eps in ((1.0, 0.0), (0.7, 0.3), (-1.4, 0.05)):
            glm = equivalent_glm(coeffs, rho, eps)
            eta, gamma = _explicit_composition(list(coeffs.rho), list(coeffs.eps), rho, eps)
            np.testing.assert_allclose(glm.eta, eta, rtol=1e-13, atol=0)
            np.testing.assert_allclose(glm.gamma, gamma, rtol=1e-13, atol=1e-16)
            assert glm.eta0 == pytest.approx(eta[0], rel=1e-13)


def test_composition_reference_values():
    """book eq-composition (tanh(2x), L = 2): eta0^2 = 0.409095, gamma0 = 0.152506 (6 digits)."""
    coeffs = layer_coefficients("tanh", 2, gain=2.0)
    eta, gamma = _explicit_composition(list(coeffs.rho), list(coeffs.eps), 1.0, 0.0)
    assert abs(eta[0] ** 2 - 0.409095) < 1e-6 and abs(gamma[0] - 0.152506) < 1e-6


@pytest.mark.parametrize("gain", [0.5, 1.0, 1.7])
def test_composition_linear_limit(gain):
    """phi(x) = g x: rho_l = g, eps_l = 0, so eta0 = rho g^L and gamma0 = eps. The quadrature's
    eps_l are rounding-level (~1e-29; the residual is summed directly, without cancellation), so
    gamma0 - eps is at most ~1e-28: checked at 1e-20, and eta0 at 1e-14 relative."""
    for depth in (1, 3, 6):
        coeffs = layer_coefficients("linear", depth, gain=gain)
        for rho, eps in ((1.0, 0.0), (1.3, 0.2)):
            glm = equivalent_glm(coeffs, rho, eps)
            assert abs(glm.gamma0 - eps) < 1e-20
            assert glm.eta0 == pytest.approx(rho * gain**depth, rel=1e-14)


def test_reference_deep_model_coefficients():
    """book eq-composition: tanh(2x), L = 2, rho = 1, eps = 0 (values printed to 6 decimals)."""
    glm = equivalent_glm(layer_coefficients("tanh", 2, gain=2.0))
    assert glm.kappa == pytest.approx(KAPPA, abs=1e-6)
    assert glm.gamma0 == pytest.approx(GAMMA0, abs=1e-6)


def test_equivalent_parameters_depth_zero_is_the_readout():
    assert equivalent_parameters("tanh", 2.0, 0, rho=1.3, eps=0.2) == (1.3, 0.2)


def test_equivalent_parameters_match_the_composition():
    glm = equivalent_glm(layer_coefficients("erf", 3, gain=1.5))
    assert equivalent_parameters("erf", 1.5, 3) == (glm.eta0, glm.gamma0)


def test_coefficient_table_rows_and_reference_values():
    t = depth_table(["tanh", "sin"], [1.0, 2.0], [1, 2])
    assert len(t["activation"]) == 8
    row = (t["activation"] == "tanh") & (t["gain"] == 2.0) & (t["depth"] == 2)
    # book eq-composition, quoted to 6 decimals
    assert t["eta0^2"][row][0] == pytest.approx(0.409095, abs=1e-6)
    assert t["gamma0"][row][0] == pytest.approx(0.152506, abs=1e-6)
