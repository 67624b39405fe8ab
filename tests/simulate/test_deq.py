"""Tests of deepgep.simulate.deq: the finite-width deep equilibrium network (residuals, Anderson
against plain iteration, batches against single networks, the weight-tied network, reported
non-convergence, errors, reproducible sampling), its empirical kernel against the infinite-width
fixed point, the contraction factor and the convergence diagnostics. The ``sphere_inputs``
fixture comes from tests/conftest.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.simulate.deq import (
    DEQConvergenceError,
    contraction_factor,
    contraction_scan,
    deq_forward,
    empirical_kernel,
    failure_fractions,
    forward_convergence,
    relative_error,
    sample_weights,
    tail_rate,
    weight_tied_forward,
    weight_tied_states,
)
from deepgep.theory.deq import deq_kernel, input_kernel, state_distances


@pytest.fixture(scope="module")
def network(sphere_inputs):
    rng = np.random.default_rng(7)
    X = sphere_inputs(6, 9, seed=3)
    W, U = sample_weights(300, 9, 1.0, 1.0, rng)
    return W, U, X


def test_forward_solution_is_a_fixed_point(network):
    W, U, X = network
    sol = deq_forward(W, U, X, "tanh", tol=1e-12)
    assert sol.h.shape == (300, 6) and sol.converged.all()
    assert np.max(np.abs(np.tanh(W @ sol.h + U @ X.T) - sol.h)) < 1e-11
    assert sol.residuals[-1] <= 1e-12 < sol.residuals[0]


def test_anderson_matches_plain_iteration(network):
    W, U, X = network
    plain = deq_forward(W, U, X, "erf", tol=1e-12)
    anderson = deq_forward(W, U, X, "erf", method="anderson", tol=1e-12)
    assert np.max(np.abs(plain.h - anderson.h)) < 1e-10


def test_batch_equals_single_networks(sphere_inputs):
    rng = np.random.default_rng(11)
    X = sphere_inputs(3, 5)
    W, U = sample_weights(40, 5, 0.8, 1.2, rng, n_networks=4)
    batch = deq_forward(W, U, X, "tanh", tol=1e-12).h
    for k in range(4):
        assert np.max(np.abs(batch[k] - deq_forward(W[k], U[k], X, "tanh", tol=1e-12).h)) < 1e-11


def test_weight_tied_network_converges_to_the_deq(network):
    W, U, X = network
    assert np.all(weight_tied_forward(W, U, X, "tanh", 0) == 0.0)
    one = weight_tied_forward(W, U, X, "tanh", 1)
    assert np.allclose(one, np.tanh(U @ X.T))
    deep = weight_tied_forward(W, U, X, "tanh", 80)
    assert np.max(np.abs(deep - deq_forward(W, U, X, "tanh", tol=1e-13).h)) < 1e-10


def test_non_convergence_is_reported(sphere_inputs):
    rng = np.random.default_rng(5)
    X = sphere_inputs(2, 4)
    W, U = sample_weights(100, 4, 3.0, 1.0, rng)  # ell ~ 1.7: no stable equilibrium
    with pytest.raises(DEQConvergenceError, match="not converged"):
        deq_forward(W, U, X, "tanh", max_iter=300)
    with pytest.raises(DEQConvergenceError, match="Anderson"):
        deq_forward(W, U, X, "tanh", method="anderson", max_iter=100)
    Wb, Ub = sample_weights(100, 4, 1.0, 1.0, rng, n_networks=2)
    Wb[1] = W
    Ub[1] = U
    sol = deq_forward(Wb, Ub, X, "tanh", max_iter=300, allow_failures=True)
    assert sol.converged.tolist() == [True, False]


def test_forward_errors(network):
    W, U, X = network
    with pytest.raises(ValueError, match="dimension"):
        deq_forward(W, U, X[:, :5], "tanh")
    with pytest.raises(ValueError, match="method"):
        deq_forward(W, U, X, "tanh", method="newton")
    with pytest.raises(ValueError, match="allow_failures"):
        deq_forward(W, U, X, "tanh", method="anderson", allow_failures=True)
    with pytest.raises(ValueError, match="W must be"):
        deq_forward(W[:, :10], U, X, "tanh")
    with pytest.raises(ValueError, match="n must be"):
        sample_weights(0, 3, 1.0, 1.0, np.random.default_rng(0))


def test_sampling_is_reproducible():
    a = sample_weights(20, 3, 1.0, 1.0, np.random.default_rng(4), n_networks=2)
    b = sample_weights(20, 3, 1.0, 1.0, np.random.default_rng(4), n_networks=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (2, 20, 20) and a[1].shape == (2, 20, 3)


def test_empirical_kernel_converges_to_the_fixed_point(sphere_inputs):
    """Monte Carlo: the mean of K_n over 24 networks of width 400 is Sigma* up to the O(1/n)
    bias and 4 standard errors; one network at width 1600 is within 15% in Frobenius norm
    (the chapter measures about 8%)."""
    X = sphere_inputs(4, 6)
    star = deq_kernel(input_kernel(X, 1.0), "tanh", 1.0).sigma
    rng = np.random.default_rng(2025)
    W, U = sample_weights(400, X.shape[1], 1.0, 1.0, rng, 24)
    K = empirical_kernel(deq_forward(W, U, X, "tanh").h, 1.0)
    mean, se = K.mean(axis=0), K.std(axis=0, ddof=1) / math.sqrt(24)
    assert np.all(np.abs(mean - star) < 4 * se + 2.0 / 400)
    W, U = sample_weights(1600, X.shape[1], 1.0, 1.0, rng)
    big = empirical_kernel(deq_forward(W, U, X, "tanh").h, 1.0)
    assert relative_error(big, star) < 0.15


def test_state_distances_match_wide_networks(sphere_inputs):
    """Monte Carlo: sigma_w^2 ||h^L - h*||^2 / n of 12 networks of width 800 averages to the
    infinite-width D^L within 4 standard errors plus an O(L/n) bias, at depths where D^L is 1e-2
    down to 1e-9 of Sigma*: the recursion of theory.deq against the finite networks."""
    X = sphere_inputs(4, 6)
    sw = 0.49
    D = state_distances(input_kernel(X, 1.0), "tanh", sw, 8).mean(axis=1)
    W, U = sample_weights(800, X.shape[1], sw, 1.0, np.random.default_rng(11), 12)
    h = deq_forward(W, U, X, "tanh").h
    for L, H in zip((1, 4, 8), weight_tied_states(W, U, X, "tanh", (1, 4, 8))):
        d = sw**2 * np.mean(np.sum((H - h) ** 2, axis=-2), axis=-1) / 800
        mean, se = d.mean(), d.std(ddof=1) / math.sqrt(12)
        assert abs(mean - D[L]) < 4 * se + 2 * L / 800 * D[L], (L, mean, se, D[L])
        assert 0.5 < mean / D[L] < 1.5


def test_contraction_factor_dense_and_lanczos():
    rng = np.random.default_rng(0)
    small, large = rng.standard_normal((3, 10, 10)), rng.standard_normal((300, 300))
    assert np.allclose(contraction_factor(small, "tanh"), np.linalg.norm(small, 2, axis=(1, 2)))
    assert contraction_factor(large, "erf") == pytest.approx(2 / np.sqrt(np.pi) * np.linalg.norm(large, 2), rel=1e-8)
    with pytest.raises(ValueError, match="supports"):
        contraction_factor(small, "relu")


def test_tail_rate_of_a_geometric_trace():
    assert tail_rate(0.3 ** np.arange(12)) == pytest.approx(0.3, rel=1e-12)


def test_forward_convergence_rate_is_sqrt_ell(sphere_inputs):
    X = sphere_inputs(4, 6)
    conv = forward_convergence(X, "tanh", 0.6, 1.0, 800, np.random.default_rng(1))
    assert conv["gap"] < 1e-9 and conv["plain"].converged and conv["anderson"].converged
    ell = deq_kernel(input_kernel(X, 1.0), "tanh", 0.6).lipschitz
    assert conv["predicted_rate"] == pytest.approx(math.sqrt(ell)) and 0.9 < conv["rate"] / conv["predicted_rate"] < 1.2


def test_contraction_scan_flags_the_non_contractive_sigma_w(sphere_inputs):
    X = sphere_inputs(2, 4)
    scan = contraction_scan(X, "tanh", [0.5, 3.0], 1.0, 200, np.random.default_rng(0), max_iter=300)
    assert scan["converged"].tolist() == [True, False]
    assert scan["lipschitz"][0] < 1.0 < scan["lipschitz"][1] and np.isnan(scan["rate"][1])


def test_failure_fractions_inside_and_outside_the_hypothesis(sphere_inputs):
    x = sphere_inputs(1, 5)[0]
    inside = failure_fractions(x, "tanh", 0.2, 1.0, 16, 200, np.random.default_rng(0))
    outside = failure_fractions(x, "tanh", 1.0, 1.0, 16, 200, np.random.default_rng(0))
    assert inside == {"q >= 1": 0.0, "not converged": 0.0, "not converged, q < 1": 0.0}
    assert outside["q >= 1"] == 1.0
