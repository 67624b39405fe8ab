"""Tests of deepgep.theory.kernels: conjugate kernels, the kernel map of a layer, NNGP kernels.

Conjugate kernels: Mehler's series against independent 2-D quadrature, closed forms and wide
random layers; the linearisation of Theorem 1. The kernel map of a layer (shared by the DEQ and
renormalisation chapters): the erf, relu and sin closed forms against the compiled 2-D quadrature
and Mehler's series. NNGP kernels of deep networks against sampled networks and the linear
product.

References by 2-D quadrature use activation_kernel's default 200^2 split tensor rule: a route
independent of Mehler's series (it evaluates phi at the Cholesky-mixed points of a 2-D grid,
not 1-D coefficients), accurate to ~1e-15 for the smooth activations here (measured against
the erf closed form, tests/theory/test_quadrature.py). The 601^2 Gauss-Hermite rule used before errs by
up to 8.7e-12 on tanh(2x) at these variances (G_ii up to 1.74), so slacks were 1e-12; now 1e-14.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.theory.activations import get_activation
from deepgep.simulate.networks import forward, gaussian_inputs, sample_network
from deepgep.theory.quadrature import activation_kernel
from deepgep.theory.kernels import (
    MAX_MEHLER_TERMS,
    MEHLER_TOLERANCE,
    TruncationError,
    conjugate_kernel,
    erf_kernel,
    kernel_map,
    linearised_kernel,
    nngp_kernel,
    quadrature_kernel,
    relu_kernel,
    sin_kernel,
)
from deepgep.theory.layers import layer_coefficients
from deepgep.support.spectra import gram

def small_gram(seed: int = 0, n: int = 20, d: int = 10) -> np.ndarray:
    """Gram matrix of n Gaussian samples in d = 10 dimensions: correlations up to ~0.8."""
    X = gaussian_inputs(n, d, np.random.default_rng(seed))
    return gram(X)


def correlations(G: np.ndarray) -> np.ndarray:
    s = np.sqrt(np.diag(G))
    return G / np.outer(s, s)


def arccos_kernel(G: np.ndarray, gain: float) -> np.ndarray:
    """E relu(g u) relu(g v) = g^2 sqrt(s_u s_v) (sin t + (pi - t) cos t) / (2 pi), t = arccos r."""
    s = np.diag(G)
    theta = np.arccos(np.clip(correlations(G), -1.0, 1.0))
    return gain**2 * np.sqrt(np.outer(s, s)) * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)


def arcsin_kernel(G: np.ndarray, gain: float) -> np.ndarray:
    """E erf(g u) erf(g v) = (2/pi) arcsin(2 g^2 G_ij / sqrt((1 + 2 g^2 G_ii)(1 + 2 g^2 G_jj)))."""
    a = 1 + 2 * gain**2 * np.diag(G)
    return 2 / np.pi * np.arcsin(2 * gain**2 * G / np.sqrt(np.outer(a, a)))


def test_the_test_gram_has_sizeable_correlations():
    r = correlations(small_gram())
    off = r[~np.eye(20, dtype=bool)]
    assert 0.6 < np.abs(off).max() < 0.9


@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0), ("sin", 1.2)])
def test_mehler_series_matches_2d_tensor_quadrature(name, gain):
    """Mehler (1-D Hermite coefficients, truncated with a 1e-10 bound) vs the 200^2 split tensor
    rule, two independent routes. Smooth activations: the tensor rule is at ~1e-15 (header), so
    the difference is the series' bound, 1e-10 (measured: 1e-15)."""
    G = small_gram()
    act = get_activation(name, gain)
    K = conjugate_kernel(G, act)
    # Every entry, diagonal included (each 200^2 reference costs ~0.6 ms; the 601^2 rule used
    # before allowed only the 40 most correlated pairs).
    n = G.shape[0]
    reference = np.array(
        [[activation_kernel(act, G[np.ix_([i, j], [i, j])]) for j in range(n)] for i in range(n)]
    )
    assert np.abs(K - reference).max() <= MEHLER_TOLERANCE + 1e-14


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_erf_kernel_closed_form(gain):
    G = small_gram(seed=1)
    # erf is entire: coefficients at ~1e-14, series bound 1e-10
    np.testing.assert_allclose(
        conjugate_kernel(G, get_activation("erf", gain)), arcsin_kernel(G, gain), rtol=0, atol=MEHLER_TOLERANCE
    )


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_relu_kernel_closed_form(gain):
    """The arc-cosine kernel (Cho & Saul 2009). relu's coefficients decay only like k^{-5/4}, so
    the series is the binding error: the library's bound is 1e-10 per entry."""
    G = small_gram(seed=2)
    K = conjugate_kernel(G, get_activation("relu", gain))
    np.testing.assert_allclose(K, arccos_kernel(G, gain), rtol=0, atol=MEHLER_TOLERANCE * gain**2)


@pytest.mark.parametrize("gain", [0.5, 1.0, 3.0])
def test_linear_kernel_is_scaled_gram(gain):
    """phi(x) = g x: K = g^2 G. Only h_1 = g sqrt(s) survives; the default rule's E Z^2 is
    1 - 1.1e-15 (measured K / g^2 G - 1 <= 3.8e-15), hence rtol 1e-14."""
    G = small_gram(seed=3)
    np.testing.assert_allclose(conjugate_kernel(G, get_activation("linear", gain)), gain**2 * G, rtol=1e-14)


@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0), ("relu", 1.0)])
def test_conjugate_kernel_is_the_average_over_a_wide_layer(name, gain):
    """Given X^0, the d_1 rows w of W^1 are i.i.d., so gram(X^1)_ij is the mean of d_1 i.i.d.
    samples of phi(u_i) phi(u_j), (u_i, u_j) ~ N(0, G_{ij block}) EXACTLY, G = gram(X^0).

    Each of the 55 distinct entries must be within 5 of its own standard errors (d_1 = 2e5;
    P(any |z| > 5) <= 55 * 5.7e-7 = 3e-5 for a fresh seed).
    """
    n, d0, d1 = 10, 50, 200_000
    rng = np.random.default_rng(424242)
    X0 = gaussian_inputs(n, d0, rng)
    net = sample_network((d0, d1), name, rng, gain=gain)
    X1 = forward(net, X0)[1]
    G = gram(X0)
    K = conjugate_kernel(G, net.activation)
    empirical = gram(X1)
    for i in range(n):
        for j in range(i, n):
            products = X1[i] * X1[j]
            se = products.std(ddof=1) / math.sqrt(d1)
            assert abs(empirical[i, j] - K[i, j]) < 5 * se, (i, j)
    # and the linearisation misses exactly the higher Hermite orders: not within noise for tanh
    if name == "tanh":
        c = layer_coefficients(net.activation, 1)
        lin = linearised_kernel(G, c.rho[0], c.eps[0])
        # Off the diagonal K - rho^2 G = sum_{k>=3} h_k^2 r^k is systematic (Theorem 1 works
        # because these terms are small at large d0, not because they vanish).
        assert np.abs(K - lin).max() > 1e-4


def test_linearisation_is_the_first_order_of_mehler():
    """For odd phi, K_ij = rho^2 G_ij + sum_{k>=3, odd} h_k(s)^2 r^k and K_ii = sigma_1, where
    rho, sigma_1 are layer_coefficients at sigma_0 = s. Cauchy-Schwarz bounds the remainder by
    E phi^2 |r|^3 = sigma_1 |r|^3 - an exact inequality, plus 1e-13 of rounding."""
    s = 0.8
    r = np.array([1e-3, -0.02, 0.1, 0.3])
    n = r.size + 1
    G = np.full((n, n), 0.0)
    G[0, 1:] = G[1:, 0] = r * s
    G[np.diag_indices(n)] = s
    c = layer_coefficients("tanh", 1, gain=2.0, sigma0=s)
    K = conjugate_kernel(G, c.activation)
    np.testing.assert_allclose(np.diag(K), c.sigma[1], rtol=1e-15)
    remainder = K[0, 1:] - c.rho[0] ** 2 * G[0, 1:]
    assert np.all(np.abs(remainder) <= c.sigma[1] * np.abs(r) ** 3 + 1e-13)
    # ... and the cubic term is really there (sign of r^3, h_3^2 > 0 for tanh)
    assert np.all(np.sign(remainder[1:]) == np.sign(r[1:]))


def test_kernel_matrix_is_a_symmetric_psd_covariance():
    G = small_gram(seed=4)
    for name in ("tanh", "relu"):
        K = conjugate_kernel(G, get_activation(name, 2.0))
        np.testing.assert_array_equal(K, K.T)
        # K is a covariance of (phi(u_i))_i: PSD up to the 1e-10 entrywise truncation (n = 20)
        assert np.linalg.eigvalsh(K).min() > -20 * MEHLER_TOLERANCE


def test_truncation_error_for_few_terms_and_large_correlations():
    G = small_gram()
    act = get_activation("tanh", 2.0)
    with pytest.raises(TruncationError, match="n_terms"):
        conjugate_kernel(G, act, n_terms=5)
    # duplicated sample: |r| = 1, no number of terms suffices
    X = gaussian_inputs(4, 6, np.random.default_rng(0))
    X[3] = X[1]
    with pytest.raises(TruncationError):
        conjugate_kernel(gram(X), act)


def test_truncation_bound_is_honest():
    """Whenever conjugate_kernel accepts n_terms, its entries are within MEHLER_TOLERANCE of an
    independent 200^2 tensor quadrature (itself at ~1e-15); some n_terms must be refused."""
    G = small_gram()[:8, :8]
    act = get_activation("tanh", 2.0)
    reference = np.array(
        [[activation_kernel(act, G[np.ix_([i, j], [i, j])]) for j in range(8)] for i in range(8)]
    )
    accepted, refused = 0, 0
    for n_terms in range(10, 121, 10):
        try:
            K = conjugate_kernel(G, act, n_terms=n_terms)
        except TruncationError:
            refused += 1
            continue
        accepted += 1
        assert np.abs(K - reference).max() <= MEHLER_TOLERANCE + 1e-14, n_terms
    assert accepted > 0 and refused > 0


@pytest.mark.parametrize("r", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0)])
def test_strongly_correlated_pairs_are_accurate_or_refused(name, gain, r):
    """Correct contract: an accurate kernel or a TruncationError, never nan.

    (Formerly a bug: with max |r| >= 0.9, _terms_needed asks for > 190 terms, up to
    MAX_MEHLER_TERMS = 400, where the old recurrence on He_k gave nan coefficients, and the nan
    bound slipped through `worst > MEHLER_TOLERANCE`. See the two tests below.)
    """
    G = np.array([[1.0, r], [r, 1.0]])
    act = get_activation(name, gain)
    try:
        K = conjugate_kernel(G, act)
    except TruncationError:
        return  # refusing is acceptable
    assert np.all(np.isfinite(K))
    assert K[0, 1] == pytest.approx(activation_kernel(act, G), abs=MEHLER_TOLERANCE + 1e-14)


@pytest.mark.parametrize("r", [0.9, 0.95, 0.99, -0.99])
@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0), ("sin", 1.5)])
def test_strongly_correlated_pairs_of_smooth_activations_are_computed(name, gain, r):
    """With finite coefficients up to k = 399, smooth activations are not refused even at
    |r| = 0.99 (400 terms, bound E phi^2-tail * 0.99^400): the kernel is returned and matches
    the 2-D quadrature (measured <= 1e-15)."""
    G = np.array([[1.0, r], [r, 1.0]])
    act = get_activation(name, gain)
    K = conjugate_kernel(G, act, n_terms=MAX_MEHLER_TERMS)
    assert K[0, 1] == pytest.approx(activation_kernel(act, G), abs=MEHLER_TOLERANCE + 1e-14)
    # n_terms=None chooses fewer terms at |r| = 0.9 (about 240) and the cap at 0.99; the
    # omitted terms are below 1e-20 here, so the two agree to rounding.
    np.testing.assert_allclose(conjugate_kernel(G, act), K, rtol=0, atol=1e-15)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_nan_truncation_bound_is_refused():
    """A nan bound must raise, not pass `worst > tol` unnoticed. phi(x) = x^200 is finite on the
    nodes (12^200 = 6e215) but phi^2 overflows: E phi^2 = inf, the Parseval tail is inf, and for
    uncorrelated samples (r = 0) the bound inf * 0^K is nan; with r = 0.5 it is nan too
    (inf - inf in the tail)."""
    act = get_activation(lambda x: x**200)
    with pytest.raises(TruncationError, match="nan"):
        conjugate_kernel(np.eye(2), act)
    with pytest.raises(TruncationError, match="nan"):
        conjugate_kernel(np.array([[1.0, 0.5], [0.5, 1.0]]), act, n_terms=5)


def test_bad_gram_matrices_raise():
    act = get_activation("tanh")
    with pytest.raises(ValueError):
        conjugate_kernel(np.ones((3, 4)), act)
    with pytest.raises(ValueError):
        conjugate_kernel(np.ones(3), act)
    with pytest.raises(ValueError):
        conjugate_kernel(np.diag([1.0, 0.0, 2.0]), act)


def test_linearised_kernel_formula():
    G = small_gram(seed=5)
    G_before = G.copy()
    rho, eps = 0.73, 0.1
    out = linearised_kernel(G, rho, eps)
    np.testing.assert_array_equal(G, G_before)  # input untouched
    expected = rho * rho * G + eps * np.eye(G.shape[0])
    # same two float operations per entry: equal to the last bit or one rounding apart
    np.testing.assert_allclose(out, expected, rtol=np.finfo(float).eps, atol=0)
    # rounding-level negative eps (a user's sigma_l - sigma_{l-1} rho^2) is clipped to 0
    np.testing.assert_array_equal(linearised_kernel(G, rho, -1e-14), rho * rho * G)


@pytest.mark.parametrize("eps", [-1e-3, -1.0, float("nan"), float("inf")])
def test_linearised_kernel_rejects_bad_eps(eps):
    with pytest.raises(ValueError):
        linearised_kernel(np.eye(3), 0.5, eps)


# --- the kernel map of a layer: closed forms, 2-D quadrature, Mehler's series -------------------


#: Quadrature error of the tensor rule for relu (kink on a slanted grid line; the quadrature
#: module measures about 1e-6 per entry on unit variances, we see 1e-5 at variances up to 2).
RELU_QUADRATURE_TOL = 1e-4


@pytest.fixture(scope="module")
def covariance() -> np.ndarray:
    """A 6 x 6 covariance with unequal variances and correlations up to about 0.6."""
    X = np.random.default_rng(1).standard_normal((6, 8))
    return X @ X.T / 8 + 0.2 * np.eye(6)


@pytest.mark.parametrize("name, gain, tol", [
    ("erf", 1.0, 1e-12), ("erf", 1.7, 1e-12), ("sin", 1.3, 1e-12), ("linear", 0.8, 1e-12),
    ("relu", 1.0, RELU_QUADRATURE_TOL),
])
def test_closed_forms_match_quadrature(covariance, name, gain, tol):
    act = get_activation(name, gain)
    closed = kernel_map(covariance, act, "closed")
    quad = kernel_map(covariance, act, "quadrature")
    assert np.max(np.abs(closed - quad)) < tol


def test_closed_form_functions_agree_with_kernel_map(covariance):
    assert np.allclose(erf_kernel(covariance, 1.5), kernel_map(covariance, get_activation("erf", 1.5)))
    assert np.allclose(relu_kernel(covariance, 2.0), 4.0 * relu_kernel(covariance))  # relu(2u) = 2 relu(u)
    assert np.allclose(sin_kernel(covariance), kernel_map(covariance, "sin"))


def test_relu_diagonal_and_orthogonal_entries():
    S = np.array([[2.0, 0.0], [0.0, 3.0]])
    K = relu_kernel(S)
    assert K[0, 0] == pytest.approx(1.0) and K[1, 1] == pytest.approx(1.5)  # E relu(u)^2 = s/2
    assert K[0, 1] == pytest.approx(math.sqrt(6.0) / (2 * math.pi))  # independent: (E relu)^2


def test_kernel_map_of_tanh_matches_mehler_series(covariance):
    """Two independent routes: the tensor rule here, Mehler's series in deepgep.theory.kernels."""
    act = get_activation("tanh", 1.2)
    assert np.max(np.abs(kernel_map(covariance, act) - conjugate_kernel(covariance, act))) < 1e-9


def test_kernel_map_errors(covariance):
    with pytest.raises(ValueError, match="closed-form"):
        kernel_map(covariance, "tanh", "closed")
    with pytest.raises(ValueError, match="method"):
        kernel_map(covariance, "erf", "exact")
    with pytest.raises(ValueError, match="built-in"):
        kernel_map(covariance, np.arctan)
    with pytest.raises(ValueError, match="square"):
        kernel_map(np.ones((2, 3)), "erf")
    with pytest.raises(ValueError, match="symmetric"):
        kernel_map(np.array([[1.0, 0.5], [0.2, 1.0]]), "erf")


# --- quadrature_kernel and nngp_kernel ---------------------------------------------------------


def random_gram(n: int = 40, d: int = 30, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X @ X.T / d


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_erf_closed_form_matches_quadrature(gain):
    G = random_gram()
    K = quadrature_kernel(G, get_activation("erf", gain))
    assert np.abs(K - erf_kernel(G, gain)).max() < 1e-10


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_tanh_quadrature_matches_mehler_series(gain):
    G = 1.5 * random_gram(seed=3)
    act = get_activation("tanh", gain)
    assert np.abs(quadrature_kernel(G, act) - conjugate_kernel(G, act)).max() < 1e-9


def test_relu_closed_form_matches_quadrature_and_known_values():
    G = random_gram(seed=4)
    act = get_activation("relu", 1.5)
    # the kink makes the tensor rule only algebraically accurate: 1e-3 is what it reaches
    assert np.abs(quadrature_kernel(G, act) - relu_kernel(G, 1.5)).max() < 1e-2
    # E relu(u)^2 = s/2, E relu(u) relu(-u) = 0, E relu(u) relu(v) = s/(2 pi) for orthogonal u, v
    K = relu_kernel(np.array([[2.0, -2.0, 0.0], [-2.0, 2.0, 0.0], [0.0, 0.0, 2.0]]))
    assert K[0, 0] == pytest.approx(1.0, abs=1e-15)
    assert K[0, 1] == pytest.approx(0.0, abs=1e-15)
    assert K[0, 2] == pytest.approx(2.0 / (2 * math.pi), abs=1e-15)


@pytest.mark.parametrize("name", ["erf", "relu", "tanh"])
def test_nngp_kernel_matches_sampled_networks(name):
    """Neural-tangents style: the kernel is the average of phi(w.x) phi(w.x') over w."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 20))
    v0, m = 0.7, 400_000
    W = math.sqrt(v0) * rng.standard_normal((m, 20))
    act = get_activation(name, 1.3)
    F = act(W @ X.T / math.sqrt(20))
    products = F[:, :, None] * F[:, None, :]
    mc, se = products.mean(axis=0), products.std(axis=0) / math.sqrt(m)
    K = nngp_kernel(X, name, gain=1.3, weight_variance=v0)
    z = np.abs(K - mc) / se
    assert z.max() < 5.0, f"max |K - MC| / SE = {z.max():.2f}"


def test_deep_kernel_composition_closed_equals_quadrature_and_linear_product():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((15, 12))
    K_closed = nngp_kernel(X, "erf", depth=3, weight_variance=(1.0, 2.0, 0.5), method="closed")
    K_quad = nngp_kernel(X, "erf", depth=3, weight_variance=(1.0, 2.0, 0.5), method="quadrature")
    assert np.abs(K_closed - K_quad).max() < 1e-10
    K_lin = nngp_kernel(X, "linear", depth=3, weight_variance=(1.0, 2.0, 0.5))
    assert np.allclose(K_lin, 1.0 * 2.0 * 0.5 * X @ X.T / 12, rtol=1e-13, atol=1e-14)


def test_kernel_errors():
    G = random_gram(5)
    with pytest.raises(ValueError, match="method"):
        kernel_map(G, get_activation("erf"), "spline")
    with pytest.raises(ValueError, match="closed-form"):
        kernel_map(G, get_activation("tanh"), "closed")
    with pytest.raises(ValueError, match="weight_variance"):
        nngp_kernel(np.ones((3, 2)), "erf", depth=2, weight_variance=(1.0,))
    with pytest.raises(ValueError, match="weight_variance"):
        nngp_kernel(np.ones((3, 2)), "erf", weight_variance=-1.0)
    with pytest.raises(ValueError, match="depth"):
        nngp_kernel(np.ones((3, 2)), "erf", depth=0)
    with pytest.raises(ValueError, match="square"):
        erf_kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match="built-in"):
        quadrature_kernel(G, get_activation(np.tanh))
