"""Tests of deepgep.simulate.networks: random deep networks (shapes, seeding, chunking, moments at
finite width, linearisation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from deepgep.theory.activations import get_activation
from deepgep.simulate.networks import (
    DeepNetwork,
    forward,
    gaussian_inputs,
    linearised_forward,
    sample_network,
)
from deepgep.theory.quadrature import gaussian_moments
from deepgep.theory.layers import LayerCoefficients, layer_coefficients

WIDTHS = (30, 40, 50, 20)


def small_problem(seed: int = 0, activation: str = "tanh", gain: float = 2.0, n: int = 25):
    rng = np.random.default_rng(seed)
    net = sample_network(WIDTHS, activation, rng, gain=gain)
    return net, gaussian_inputs(n, WIDTHS[0], rng)


def reference_forward(net: DeepNetwork, X0: np.ndarray) -> list[np.ndarray]:
    """The model of book eq-model, written out in numpy (samples as rows)."""
    out = [X0]
    for W in net.weights:
        out.append(net.activation(out[-1] @ W.T / math.sqrt(W.shape[1])))
    return out


# --- shapes and seeding ------------------------------------------------------------------------


def test_shapes():
    net, X0 = small_problem()
    assert isinstance(net, DeepNetwork)
    assert net.widths == WIDTHS and net.depth == 3
    assert [W.shape for W in net.weights] == [(40, 30), (50, 40), (20, 50)]
    assert X0.shape == (25, 30)
    feats = forward(net, X0)
    assert [F.shape for F in feats] == [(25, d) for d in WIDTHS]
    lin = linearised_forward(net, layer_coefficients(net.activation, 3), X0, np.random.default_rng(1))
    assert [F.shape for F in lin] == [(25, d) for d in WIDTHS]
    last = forward(net, X0, keep_all=False)
    assert len(last) == 1 and last[0].shape == (25, 20)


def test_forward_is_the_model():
    """X^l = phi(X^{l-1} W^{lT} / sqrt(d_{l-1})); the library folds 1/sqrt(d) into the gain and
    applies phi in place: one or two roundings of the pre-activation, |phi'| <= g = 2, so the
    features agree to a few 1e-16 (checked at 1e-13)."""
    for activation in ("tanh", "relu", "sin", "linear"):
        net, X0 = small_problem(activation=activation)
        for got, want in zip(forward(net, X0), reference_forward(net, X0)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * max(1.0, np.abs(want).max()))


def test_user_activation_in_forward():
    rng = np.random.default_rng(5)
    net = sample_network(WIDTHS, np.arctan, rng, gain=1.5)
    X0 = gaussian_inputs(9, WIDTHS[0], rng)
    for got, want in zip(forward(net, X0), reference_forward(net, X0)):
        # as in test_forward_is_the_model; |arctan'| <= 1.5 here
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_weights_are_standard_gaussian():
    """All 25,000 weights: mean and variance within 5 standard errors of 0 and 1."""
    net = sample_network((100, 150, 100), "tanh", np.random.default_rng(9))
    w = np.concatenate([W.ravel() for W in net.weights])
    assert abs(w.mean()) < 5 / math.sqrt(w.size)
    assert abs(w.var() - 1.0) < 5 * math.sqrt(2 / w.size)


def test_same_seed_same_network_different_seed_different_network():
    a, Xa = small_problem(seed=3)
    b, Xb = small_problem(seed=3)
    c, Xc = small_problem(seed=4)
    for Wa, Wb, Wc in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(Wa, Wb)
        assert not np.array_equal(Wa, Wc)
    np.testing.assert_array_equal(Xa, Xb)
    assert not np.array_equal(Xa, Xc)
    np.testing.assert_array_equal(forward(a, Xa)[-1], forward(b, Xb)[-1])


# --- chunking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_chunked_forward_equals_single_chunk(activation):
    """Chunks change only which rows BLAS processes together; a row's dot products may be
    re-associated (d_{l-1} <= 50 terms of size O(1)): differences <= 50 eps ~ 1e-14."""
    net, X0 = small_problem(activation=activation, n=61)
    whole = forward(net, X0, chunk_size=10_000)
    chunked = forward(net, X0, chunk_size=7)
    ones = forward(net, X0, chunk_size=1)
    for a, b, c in zip(whole, chunked, ones):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c, a, rtol=0, atol=1e-12)
    last = forward(net, X0, keep_all=False, chunk_size=7)[0]
    np.testing.assert_allclose(last, whole[-1], rtol=0, atol=1e-12)


def test_keep_all_false_returns_the_last_layer():
    """Same chunks, same BLAS products (into a new array instead of an output slice)."""
    net, X0 = small_problem(n=40)
    np.testing.assert_allclose(forward(net, X0, keep_all=False)[0], forward(net, X0)[-1], rtol=0, atol=1e-12)


def test_forward_does_not_modify_its_input():
    net, X0 = small_problem()
    before = X0.copy()
    feats = forward(net, X0, chunk_size=4)
    np.testing.assert_array_equal(X0, before)
    np.testing.assert_array_equal(feats[0], before)


def test_progress_bar_does_not_change_the_result():
    net, X0 = small_problem()
    np.testing.assert_array_equal(forward(net, X0, progress=True)[-1], forward(net, X0)[-1])


# --- moments at finite width -------------------------------------------------------------------

D, N, R = 400, 2000, 8  # width, samples, independent networks


@pytest.fixture(scope="module")
def wide_tanh_networks():
    """R independent (X^0, W) draws of a depth-2 tanh(2x) network of width 400, n = 2000."""
    runs = []
    for r in range(R):
        rng = np.random.default_rng(1000 + r)
        net = sample_network((D, D, D), "tanh", rng, gain=2.0)
        runs.append((net, forward(net, gaussian_inputs(N, D, rng))))
    return runs


def test_conditional_second_moment_is_exact_at_finite_width(wide_tanh_networks):
    """Given X^{l-1}, the rows w_i of W^l are i.i.d. N(0, I) and u_{mu i} = w_i . x_mu / sqrt(d)
    is EXACTLY N(0, q_mu), q_mu = |x_mu|^2 / d. So r_i = mean_mu [ (X^l_{mu i})^2 - f(q_mu) ],
    f(q) = E phi(sqrt(q) Z)^2, are i.i.d. over the d_l neurons with mean 0: a z-test with the
    empirical standard error is honest at any width. Every layer of every run: |z| < 5."""
    for net, feats in wide_tanh_networks:
        for ell in (1, 2):
            prev, cur = feats[ell - 1], feats[ell]
            q = np.sum(prev**2, axis=1) / prev.shape[1]
            f = np.array([gaussian_moments(net.activation, v).second for v in q])
            r = np.mean(cur**2 - f[:, None], axis=0)
            z = r.mean() / (r.std(ddof=1) / math.sqrt(r.size))
            assert abs(z) < 5, (ell, z)


def test_second_moment_matches_sigma_l(wide_tanh_networks):
    """mean (X^l)^2 over R = 8 independent networks vs sigma_l. Standard error from the spread
    over networks (the only honest SE: entries of one network share W and X^0).

    At finite width E (X^l)^2 - sigma_l is a deterministic O(1/d) bias. For layer 1 it is
    exactly E f(chi2_d / d) - f(1) = -0.196 / d (next test); for layer 2 it measures
    (-0.10 +- 0.05) / d at d = 100 (40 networks). So the tolerance is 5 SE + 0.25 / d.
    """
    c = layer_coefficients("tanh", 2, gain=2.0)
    means = np.array([[np.mean(feats[ell] ** 2) for ell in (1, 2)] for _, feats in wide_tanh_networks])
    se = means.std(axis=0, ddof=1) / math.sqrt(R)
    deviation = means.mean(axis=0) - c.sigma[1:]
    assert np.all(np.abs(deviation) < 5 * se + 0.25 / D), (deviation, se)
    # the check has teeth: the tolerance is < 0.5% of sigma_l
    assert np.all(5 * se + 0.25 / D < 5e-3 * c.sigma[1:])


def test_first_layer_second_moment_matches_its_finite_width_expectation(wide_tanh_networks):
    """E (X^1)^2 = E f(q) exactly, q = |x|^2 / d ~ chi2_d / d (previous test): no bias left,
    so the mean over the R networks is within 5 standard errors of it."""
    act = get_activation("tanh", 2.0)
    f = lambda q: gaussian_moments(act, q).second  # noqa: E731
    dist = stats.chi2(D)
    lo, hi = dist.ppf(1e-14), dist.isf(1e-14)  # the truncated mass (2e-14) is far below the SE
    exact, err = integrate.quad(lambda t: f(t / D) * dist.pdf(t), lo, hi, epsabs=1e-12, epsrel=1e-12, limit=200)
    assert err < 1e-9
    assert (exact - f(1.0)) * D == pytest.approx(-0.196, abs=0.01)  # the O(1/d) bias quoted above
    means = np.array([np.mean(feats[1] ** 2) for _, feats in wide_tanh_networks])
    se = means.std(ddof=1) / math.sqrt(R)
    assert abs(means.mean() - exact) < 5 * se


# --- the linearised network --------------------------------------------------------------------


def _exact_linear_coefficients(gain: float, depth: int) -> LayerCoefficients:
    """rho = g, eps = 0 exactly: the Gaussian equivalent of phi(x) = g x is itself."""
    ro = lambda v: np.array(v, dtype=float)  # noqa: E731
    return LayerCoefficients(
        get_activation("linear", gain),
        ro([gain ** (2 * l) for l in range(depth + 1)]),
        ro([gain] * depth),
        ro([0.0] * depth),
        ro([0.0] * depth),
    )


def test_linearised_forward_of_linear_network_with_exact_coefficients_equals_forward():
    net, X0 = small_problem(activation="linear", gain=1.7)
    lin = linearised_forward(net, _exact_linear_coefficients(1.7, 3), X0, np.random.default_rng(2), chunk_size=6)
    # (g/sqrt(d)) (x W^T) vs g (x W^T / sqrt(d)): a few roundings of O(1-10) numbers
    for a, b in zip(lin, forward(net, X0)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n_nodes", [None, 601])
def test_linearised_forward_of_linear_network_equals_forward(n_nodes):
    """phi(x) = g x is its own Gaussian equivalent (rho = g, eps = 0), so with the library's
    coefficients the linearised features must equal the features to float64 rounding.

    (Formerly a bug: eps_l = sigma_l - sigma_{l-1} rho_l^2 was +1.4e-14 sigma_l by cancellation
    on the 601-node rule, and linearised_forward added sqrt(eps) Xi = 1.2e-7 sqrt(sigma) Xi.)
    eps is now the residual E (phi - stein Z)^2 summed directly: sigma (1 - E Z^2)^2 plus
    O(eps^2) roundings, measured 1.5e-30 sigma on the default rule (E Z^2 = 1 - 1.1e-15) and
    2e-28 sigma on the 601-node Hermite rule (E Z^2 = 1 - 1.4e-14). The noise sqrt(eps) Xi is
    then <= 1e-13 of the features (checked as eps <= 1e-26 sigma), and rho = g to 1e-15 (default)
    or 1e-14 (Hermite): features agree to 2e-14 and 3e-13 relative (measured).
    """
    net, X0 = small_problem(activation="linear", gain=1.7)
    coeffs = layer_coefficients(net.activation, 3, n_nodes=n_nodes)
    assert np.all(coeffs.eps <= 1e-26 * coeffs.sigma[1:])
    lin = linearised_forward(net, coeffs, X0, np.random.default_rng(2))
    for a, b in zip(lin, forward(net, X0)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_linearised_forward_formula_and_noise():
    """Xlin^l = rho_l Xlin^{l-1} W^{lT} / sqrt(d) + sqrt(eps_l) Xi^l with Xi^l drawn from rng in
    the order chunk by chunk, layer by layer: rebuilt here draw for draw."""
    net, X0 = small_problem(n=23)
    coeffs = layer_coefficients(net.activation, 3)
    chunk = 10
    lin = linearised_forward(net, coeffs, X0, np.random.default_rng(77), chunk_size=chunk)
    rng = np.random.default_rng(77)
    expected = [X0] + [np.empty((23, d)) for d in WIDTHS[1:]]
    for start in range(0, 23, chunk):
        rows = slice(start, min(start + chunk, 23))
        for ell in (1, 2, 3):
            c = coeffs.layer(ell)
            pre = expected[ell - 1][rows] @ net.weights[ell - 1].T / math.sqrt(WIDTHS[ell - 1])
            expected[ell][rows] = c["rho"] * pre + math.sqrt(c["eps"]) * rng.standard_normal(pre.shape)
    # (rho / sqrt(d)) applied to the product vs to its entries: one rounding of O(1) numbers
    for a, b in zip(lin, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_linearised_features_have_the_variances_sigma_l():
    """Given Xlin^{l-1}, Xlin^l entries are N(0, rho^2 q_mu + eps): the mean of (Xlin^l)^2 over a
    wide layer is within 5 SE of sigma_l (independent networks, as above; here the O(1/d) bias
    vanishes because the recursion is linear in q)."""
    c = layer_coefficients("tanh", 2, gain=2.0)
    means = []
    for r in range(6):
        rng = np.random.default_rng(500 + r)
        net = sample_network((300, 300, 300), "tanh", rng, gain=2.0)
        lin = linearised_forward(net, c, gaussian_inputs(1000, 300, rng), rng)
        means.append([np.mean(lin[ell] ** 2) for ell in (1, 2)])
    means = np.array(means)
    se = means.std(axis=0, ddof=1) / math.sqrt(len(means))
    assert np.all(np.abs(means.mean(axis=0) - c.sigma[1:]) < 5 * se)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rng", [0, None, np.random.RandomState(0)])
def test_non_generator_rng_is_a_type_error(rng):
    with pytest.raises(TypeError):
        sample_network(WIDTHS, "tanh", rng)
    with pytest.raises(TypeError):
        gaussian_inputs(3, 4, rng)
    net, X0 = small_problem()
    with pytest.raises(TypeError):
        linearised_forward(net, layer_coefficients(net.activation, 3), X0, rng)


@pytest.mark.parametrize("widths", [(), (10,), (10, 0), (10, -3), (10, 2.5), (0, 5)])
def test_bad_widths_raise(widths):
    with pytest.raises(ValueError):
        sample_network(widths, "tanh", np.random.default_rng(0))


@pytest.mark.parametrize("shape", [(5, 31), (5, 29), (30,), (2, 5, 30)])
def test_wrong_input_shape_raises(shape):
    net, _ = small_problem()
    with pytest.raises(ValueError):
        forward(net, np.zeros(shape))


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5])
def test_bad_chunk_size_raises(chunk_size):
    net, X0 = small_problem()
    with pytest.raises(ValueError):
        forward(net, X0, chunk_size=chunk_size)


@pytest.mark.parametrize(("n", "d"), [(0, 3), (3, 0), (2.5, 3), (-1, 3)])
def test_bad_input_sizes_raise(n, d):
    with pytest.raises(ValueError):
        gaussian_inputs(n, d, np.random.default_rng(0))


def test_linearised_forward_depth_mismatch_raises():
    net, X0 = small_problem()
    with pytest.raises(ValueError, match="depth"):
        linearised_forward(net, layer_coefficients(net.activation, 2), X0, np.random.default_rng(0))


def test_bad_activation_raises():
    with pytest.raises(ValueError):
        sample_network(WIDTHS, "softplus", np.random.default_rng(0))
    with pytest.raises(ValueError):
        sample_network(WIDTHS, "tanh", np.random.default_rng(0), gain=-1.0)
