"""Tests of deepgep.theory.deq: the mean squared derivative E phi'(u)^2 (closed forms against
quadrature) and the kernel fixed point of the deep equilibrium model (identities, closed forms,
contraction errors, the weight-tied iterates), the Lipschitz constants of the contraction
hypothesis, the smallest eigenvalue of the fixed point, and the distances of the weight-tied
states to the equilibrium (against the linear closed form and the cross-kernel recursion).

The kernel map that the fixed point iterates is tested in tests/theory/test_kernels.py; the
``sphere_inputs`` fixture comes from tests/conftest.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.theory.activations import get_activation
from deepgep.theory.deq import (
    ContractionError,
    KernelFixedPointError,
    activation_lipschitz,
    deq_kernel,
    derivative_second_moment,
    input_kernel,
    lipschitz_constant,
    min_eigenvalue_scan,
    state_distances,
    weight_tied_kernels,
)
from deepgep.theory.kernels import erf_kernel, kernel_map
from deepgep.theory.quadrature import gaussian_expectation


# --- E phi'(u)^2 ------------------------------------------------------------------------------


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
def test_fixed_point_solves_its_equation(sphere_inputs, name):
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    fp = deq_kernel(S1, name, 0.9)
    T = 0.81 * kernel_map(fp.sigma + S1, name)
    assert np.max(np.abs(T - fp.sigma)) < 1e-10
    assert np.allclose(fp.pre, fp.sigma + S1)
    assert fp.lipschitz < 1.0 and fp.residuals.size == fp.iterations


def test_fixed_point_closed_forms_linear_and_relu_diagonal(sphere_inputs):
    S1 = input_kernel(sphere_inputs(4, 6), 1.3)
    c = 0.7**2 * 0.9**2  # sigma_w^2 g^2 of the linear DEQ: Sigma* = c (Sigma* + Sigma1)
    lin = deq_kernel(S1, get_activation("linear", 0.9), 0.7)
    assert np.allclose(lin.sigma, c / (1 - c) * S1, rtol=1e-10)
    relu = deq_kernel(S1, "relu", 1.1)  # diagonal: q = sigma_w^2 (q + s) / 2
    assert np.allclose(np.diag(relu.sigma), 1.21 * np.diag(S1) / (2 - 1.21), rtol=1e-10)
    assert relu.lipschitz == pytest.approx(1.21 / 2)


def test_damping_reaches_the_same_fixed_point(sphere_inputs):
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    plain = deq_kernel(S1, "erf", 1.0)
    damped = deq_kernel(S1, "erf", 1.0, damping=0.5)
    assert np.max(np.abs(plain.sigma - damped.sigma)) < 1e-10
    assert damped.iterations > plain.iterations


def test_kernel_iteration_contracts_at_most_at_rate_ell(sphere_inputs):
    fp = deq_kernel(input_kernel(sphere_inputs(5, 7), 1.0), "tanh", 1.0)
    r = fp.residuals
    rate = (r[-1] / r[r.size // 2]) ** (1.0 / (r.size - 1 - r.size // 2))
    assert rate <= fp.lipschitz * 1.01


def test_contraction_errors(sphere_inputs):
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


def test_weight_tied_kernels_are_the_iterates(sphere_inputs):
    S1 = input_kernel(sphere_inputs(5, 7), 1.0)
    seq = weight_tied_kernels(S1, "erf", 0.8, 40)
    assert np.all(seq[0] == 0.0)
    assert np.allclose(seq[1], 0.64 * erf_kernel(S1))  # one layer: the NNGP kernel of Sigma1
    assert np.max(np.abs(seq[-1] - deq_kernel(S1, "erf", 0.8).sigma)) < 1e-11


def test_activation_lipschitz_is_the_slope_at_zero():
    assert activation_lipschitz("tanh") == pytest.approx(1.0, rel=1e-12)
    assert activation_lipschitz("erf") == pytest.approx(2.0 / math.sqrt(math.pi), rel=1e-12)
    assert activation_lipschitz("sin") == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="supports"):
        activation_lipschitz("relu")


def test_min_eigenvalues_positive_although_sigma1_is_singular(sphere_inputs):
    S1 = input_kernel(sphere_inputs(12, 5), 1.0)  # 12 inputs in dimension 5: Sigma1 is singular
    assert abs(np.linalg.eigvalsh(S1)[0]) < 1e-12
    lam = min_eigenvalue_scan(S1, "erf", [0.0, 0.5, 1.0])
    assert lam[0] == 0.0 and np.all(lam[1:] > 1e-6) and lam[2] > lam[1]
    assert lam[1] == np.linalg.eigvalsh(deq_kernel(S1, "erf", 0.5).sigma)[0]


# --- distances of the weight-tied states to the equilibrium ----------------------------------


def test_state_distances_linear_closed_form(sphere_inputs):
    """phi(u) = g u: delta passes through linearly, D^L = (sigma_w g)^(2L) Sigma*(x, x)."""
    S1 = input_kernel(sphere_inputs(4, 6), 1.0)
    act = get_activation("linear", 1.5)
    star = np.diag(deq_kernel(S1, act, 0.5).sigma)
    D = state_distances(S1, act, 0.5, 6)
    assert np.allclose(D[0], star, rtol=1e-13)
    for L in range(7):
        assert np.allclose(D[L], 0.75 ** (2 * L) * star, rtol=1e-11), L


def test_state_distances_equal_the_cross_kernel_recursion(sphere_inputs):
    """``D^L = Sigma^L + Sigma* - 2 C^L`` with ``C^L = sigma_w^2 E phi(a^L) phi(b)`` on the joint
    covariance of (depth-L, equilibrium) pre-activations: an independent formula (accurate while
    D^L is far above the rounding of Sigma*), and the rate ell per layer deeper down."""
    X = sphere_inputs(5, 7)
    S1, sw, P = input_kernel(X, 1.0), 0.47, X.shape[0]
    fp = deq_kernel(S1, "tanh", sw)
    tied = weight_tied_kernels(S1, "tanh", sw, 4)
    D = state_distances(S1, "tanh", sw, 14, fixed_point=fp)
    C = np.zeros((P, P))
    for L in range(1, 5):
        joint = np.block([[tied[L - 1] + S1, C + S1], [(C + S1).T, fp.sigma + S1]])
        C = sw**2 * kernel_map(joint, "tanh")[:P, P:]
        assert np.allclose(D[L], np.diag(tied[L] + fp.sigma - 2 * C), rtol=1e-9, atol=1e-16), L
    assert np.all(np.diff(D, axis=0) < 0) and np.all(D[-1] > 0)
    assert np.allclose(D[-1] / D[-2], D[-1].sum() / D[-2].sum(), rtol=1e-3)
    assert D[-1].sum() / D[-2].sum() == pytest.approx(fp.lipschitz, rel=1e-5)
    assert np.allclose(state_distances(S1, "tanh", sw, 5, n_nodes=80), D[:6], rtol=1e-5)


def test_state_distances_refuse_bad_input(sphere_inputs):
    S1 = input_kernel(sphere_inputs(3, 4), 1.0)
    with pytest.raises(ValueError, match="depth"):
        state_distances(S1, "tanh", 0.4, -1)
    assert state_distances(S1, "tanh", 0.4, 0).shape == (1, 3)
