"""Deep equilibrium models: kernel map (closed forms against quadrature and Mehler's series),
the kernel fixed point (identities, closed forms, contraction errors), the finite-width
solver (residuals, Anderson against plain iteration, batches against single networks) and the
infinite-width limit against sampled networks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.activations import get_activation
from deepgep.deq import (
    ContractionError,
    DEQConvergenceError,
    DEQModel,
    KernelFixedPointError,
    commuting_limits,
    contraction_scan,
    deq_forward,
    deq_kernel,
    derivative_second_moment,
    digits_inputs,
    empirical_kernel,
    erf_kernel,
    finite_width_min_eigenvalues,
    input_kernel,
    kernel_map,
    kernel_ridge_predict,
    lipschitz_constant,
    min_eigenvalue_scan,
    output_gaussianity,
    relative_error,
    relu_kernel,
    ridge_classification,
    sample_weights,
    sin_kernel,
    weight_tied_forward,
    weight_tied_kernels,
    width_scan,
)
from deepgep.hermite import gaussian_expectation
from deepgep.kernels import conjugate_kernel

#: Quadrature error of the tensor rule for relu (kink on a slanted grid line; hermite.py
#: measures about 1e-6 per entry on unit variances, we see 1e-5 at variances up to 2).
RELU_QUADRATURE_TOL = 1e-4


def sphere_inputs(p: int, d: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((p, d))
    return X * (math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True))


@pytest.fixture(scope="module")
def gram() -> np.ndarray:
    """A 6 x 6 covariance with unequal variances and correlations up to about 0.6."""
    X = np.random.default_rng(1).standard_normal((6, 8))
    return X @ X.T / 8 + 0.2 * np.eye(6)


# --- kernel map -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, gain, tol", [
    ("erf", 1.0, 1e-12), ("erf", 1.7, 1e-12), ("sin", 1.3, 1e-12), ("linear", 0.8, 1e-12),
    ("relu", 1.0, RELU_QUADRATURE_TOL),
])
def test_closed_forms_match_quadrature(gram, name, gain, tol):
    act = get_activation(name, gain)
    closed = kernel_map(gram, act, "closed")
    quad = kernel_map(gram, act, "quadrature")
    assert np.max(np.abs(closed - quad)) < tol


def test_closed_form_functions_agree_with_kernel_map(gram):
    assert np.allclose(erf_kernel(gram, 1.5), kernel_map(gram, get_activation("erf", 1.5)))
    assert np.allclose(relu_kernel(gram, 2.0), 4.0 * relu_kernel(gram))  # relu(2u) = 2 relu(u)
    assert np.allclose(sin_kernel(gram), kernel_map(gram, "sin"))


def test_relu_diagonal_and_orthogonal_entries():
    S = np.array([[2.0, 0.0], [0.0, 3.0]])
    K = relu_kernel(S)
    assert K[0, 0] == pytest.approx(1.0) and K[1, 1] == pytest.approx(1.5)  # E relu(u)^2 = s/2
    assert K[0, 1] == pytest.approx(math.sqrt(6.0) / (2 * math.pi))  # independent: (E relu)^2


def test_tanh_quadrature_matches_mehler_series(gram):
    """Two independent routes: the tensor rule here, Mehler's series in deepgep.kernels."""
    act = get_activation("tanh", 1.2)
    assert np.max(np.abs(kernel_map(gram, act) - conjugate_kernel(gram, act))) < 1e-9


def test_kernel_map_errors(gram):
    with pytest.raises(ValueError, match="closed-form"):
        kernel_map(gram, "tanh", "closed")
    with pytest.raises(ValueError, match="method"):
        kernel_map(gram, "erf", "exact")
    with pytest.raises(ValueError, match="built-in"):
        kernel_map(gram, np.arctan)
    with pytest.raises(ValueError, match="square"):
        kernel_map(np.ones((2, 3)), "erf")
    with pytest.raises(ValueError, match="symmetric"):
        kernel_map(np.array([[1.0, 0.5], [0.2, 1.0]]), "erf")


@pytest.mark.parametrize("name, gain", [("erf", 1.0), ("erf", 0.6), ("sin", 1.4), ("relu", 1.3),
                                        ("linear", 0.7), ("tanh", 1.5)])
def test_derivative_second_moment_against_quadrature(name, gain):
    """Closed forms (and tanh's quadrature) against E phi'(u)^2 with phi' written out here."""
    derivative = {
        "erf": lambda u: gain * 2 / math.sqrt(math.pi) * np.exp(-(gain * u) ** 2),
        "sin": lambda u: gain * np.cos(gain * u),
        "relu": lambda u: gain * (u > 0),
        "linear": lambda u: gain + 0 * u,
        "tanh": lambda u: gain / np.cosh(gain * u) ** 2,
    }[name]
    variances = np.array([0.3, 1.0, 2.5])
    got = derivative_second_moment(get_activation(name, gain), variances)
    want = [gaussian_expectation(lambda u: derivative(u) ** 2, v) for v in variances]
    assert np.allclose(got, want, rtol=1e-10, atol=1e-13)


# --- kernel fixed point -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tanh", "erf", "relu"])
def test_fixed_point_solves_its_equation(name):
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    fp = deq_kernel(S1, name, 0.9)
    T = 0.81 * kernel_map(fp.sigma + S1, name)
    assert np.max(np.abs(T - fp.sigma)) < 1e-10
    assert np.allclose(fp.pre, fp.sigma + S1)
    assert fp.lipschitz < 1.0 and fp.residuals.size == fp.iterations


def test_fixed_point_closed_forms_linear_and_relu_diagonal():
    S1 = input_kernel(sphere_inputs(4, 6), 1.3)
    c = 0.7**2 * 0.9**2  # sigma_w^2 g^2 of the linear DEQ: Sigma* = c (Sigma* + Sigma1)
    lin = deq_kernel(S1, get_activation("linear", 0.9), 0.7)
    assert np.allclose(lin.sigma, c / (1 - c) * S1, rtol=1e-10)
    relu = deq_kernel(S1, "relu", 1.1)  # diagonal: q = sigma_w^2 (q + s) / 2
    assert np.allclose(np.diag(relu.sigma), 1.21 * np.diag(S1) / (2 - 1.21), rtol=1e-10)
    assert relu.lipschitz == pytest.approx(1.21 / 2)


def test_damping_reaches_the_same_fixed_point():
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    plain = deq_kernel(S1, "erf", 1.0)
    damped = deq_kernel(S1, "erf", 1.0, damping=0.5)
    assert np.max(np.abs(plain.sigma - damped.sigma)) < 1e-10
    assert damped.iterations > plain.iterations


def test_kernel_iteration_contracts_at_most_at_rate_ell():
    fp = deq_kernel(input_kernel(sphere_inputs(5, 7), 1.0), "tanh", 1.0)
    r = fp.residuals
    rate = (r[-1] / r[r.size // 2]) ** (1.0 / (r.size - 1 - r.size // 2))
    assert rate <= fp.lipschitz * 1.01


def test_contraction_errors():
    S1 = input_kernel(sphere_inputs(4, 6), 1.0)
    with pytest.raises(ContractionError, match="sigma_w = 1.5 is too large for relu"):
        deq_kernel(S1, "relu", 1.5)  # ell = 1.125 exactly; the diagonal grows without bound
    with pytest.raises(ContractionError, match="tanh"):
        deq_kernel(S1, "tanh", 2.0)  # a fixed point exists (tanh is bounded) but ell = 1.10
    with pytest.raises(KernelFixedPointError, match="not converged"):
        deq_kernel(S1, "erf", 1.0, max_iter=3)
    for bad in ({"damping": 0.0}, {"damping": 1.5}, {"tol": -1.0}, {"max_iter": 0}):
        with pytest.raises(ValueError):
            deq_kernel(S1, "erf", 1.0, **bad)
    with pytest.raises(ValueError, match="sigma_w"):
        deq_kernel(S1, "erf", -1.0)
    with pytest.raises(ValueError, match="sigma_w"):
        lipschitz_constant(S1, "erf", float("nan"))


def test_weight_tied_kernels_are_the_iterates():
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    seq = weight_tied_kernels(S1, "erf", 0.8, 40)
    assert np.all(seq[0] == 0.0)
    assert np.allclose(seq[1], 0.64 * erf_kernel(S1))  # one layer: the NNGP kernel of Sigma1
    assert np.max(np.abs(seq[-1] - deq_kernel(S1, "erf", 0.8).sigma)) < 1e-11


# --- finite width -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network():
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


def test_batch_equals_single_networks():
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


def test_non_convergence_is_reported():
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


def test_empirical_kernel_converges_to_the_fixed_point():
    """Monte Carlo: the mean of K_n over 24 networks of width 400 is Sigma* up to the O(1/n)
    bias and 4 standard errors; one network at width 1600 is within 15% in Frobenius norm
    (the chapter measures about 8%)."""
    model = DEQModel("tanh", 1.0, 1.0)
    X = sphere_inputs(4, 6)
    star = model.kernel(X).sigma
    rng = np.random.default_rng(2025)
    K = empirical_kernel(model.solve(X, 400, rng, n_networks=24).h, model.sigma_w)
    mean, se = K.mean(axis=0), K.std(axis=0, ddof=1) / math.sqrt(24)
    assert np.all(np.abs(mean - star) < 4 * se + 2.0 / 400)
    big = empirical_kernel(model.solve(X, 1600, rng).h, model.sigma_w)
    assert relative_error(big, star) < 0.15


# --- kernel ridge -----------------------------------------------------------------------------


def test_kernel_ridge_predict_against_dense_solve():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 4))
    K = A @ A.T
    Y = rng.standard_normal((8, 2))
    got = kernel_ridge_predict(K[:8, :8], K[8:, :8], Y, 0.3)
    want = K[8:, :8] @ np.linalg.solve(K[:8, :8] + 0.3 * np.eye(8), Y)
    assert np.allclose(got, want)
    with pytest.raises(ValueError, match="ridge"):
        kernel_ridge_predict(K[:8, :8], K[8:, :8], Y, 0.0)


def test_ridge_classification_separable_toy():
    """Two well-separated clusters are classified perfectly by the linear kernel."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    X = rng.standard_normal((80, 3)) * 0.1 + np.where(y[:, None] == 1, 1.0, -1.0)
    pred, ridge = ridge_classification(X @ X.T, y, 60, [1e-3, 1e-1])
    assert np.array_equal(pred, y[60:]) and ridge > 0
    with pytest.raises(ValueError, match="validation"):
        ridge_classification(X @ X.T, y, 60, [1.0], validation=0.0)


def test_digits_inputs_are_normalised():
    X_train, y_train, X_test, y_test = digits_inputs(50, 30, np.random.default_rng(0))
    assert X_train.shape == (50, 64) and X_test.shape == (30, 64)
    assert np.allclose(np.sum(X_train**2, axis=1) / 64, 1.0)
    assert set(y_train) <= set(range(10)) and y_test.size == 30
    with pytest.raises(ValueError, match="at most 1797"):
        digits_inputs(1500, 500, np.random.default_rng(0))


# --- the chapter's experiments (small runs; the notebook runs them at scale) ------------------


def test_experiments_shapes_and_identities():
    rng = np.random.default_rng(3)
    X = sphere_inputs(3, 5)
    model = DEQModel("erf", 0.8, 1.0)
    ws = width_scan(model, X, [20, 40], 3, rng)
    assert ws["errors"].shape == (2, 3) and np.all(ws["errors"] > 0)
    lim = commuting_limits(model, X, [30, 60], [1, 40], 2, rng)
    assert lim["errors"].shape == (3, 2) and lim["infinite_width"][-1] == 0.0
    assert np.allclose(lim["errors"][1], lim["errors"][2], atol=1e-8)  # depth 40 = the DEQ
    assert np.all(lim["deq_vs_deep"] < 1e-8)
    gauss = output_gaussianity(model, X[0], [8, 32], 200, rng)
    assert gauss["ks"].shape == (2,) and np.all((gauss["pvalue"] >= 0) & (gauss["pvalue"] <= 1))
    with pytest.raises(ValueError, match="one input"):
        output_gaussianity(model, X, [8], 10, rng)
    with pytest.raises(ValueError, match="widths"):
        width_scan(model, X, [0, 10], 2, rng)


def test_contraction_scan_flags_the_non_contractive_sigma_w():
    X = sphere_inputs(2, 4)
    scan = contraction_scan(X, "tanh", [0.5, 3.0], 1.0, 200, np.random.default_rng(0), max_iter=300)
    assert scan["converged"].tolist() == [True, False]
    assert scan["lipschitz"][0] < 1.0 < scan["lipschitz"][1] and np.isnan(scan["rate"][1])


def test_min_eigenvalues_rank_deficient_below_the_sample_size():
    X = sphere_inputs(12, 5)  # 12 inputs in dimension 5: Sigma1 is singular
    lam = min_eigenvalue_scan(X, "erf", [0.5, 1.0], 1.0)
    assert np.all(lam > 1e-6) and lam[1] > lam[0]
    fin = finite_width_min_eigenvalues(DEQModel("erf", 1.0, 1.0), X, [6, 200], 2, np.random.default_rng(1))
    assert np.all(np.abs(fin["lambda_min"][0]) < 1e-12) and np.all(fin["lambda_min"][1] > 0)
