"""Tests of the quadrature of deepgep.theory.channels.output_function (the general channel
``y = f(z + sqrt(gamma0) xi) + sqrt(noise) xi'``): the adaptive rule against the fixed fine rule
of the earlier releases (``quadrature="reference"``), against closed forms, and against the
derivative identity that needs the rule to be smooth in ``q``.

The reference is not the same computation with other numbers: its inner step (0.02) is 5 to 30
times finer and its ``zeta`` rule uses both half-lines (no symmetry), so agreement tests the
step choice and the symmetry argument of the module docstring.
"""

from __future__ import annotations

import math

import pytest

from deepgep.theory.channels import GaussianChannel, OutputFunctionChannel
from deepgep.theory.channels.output_function import LIPSCHITZ, QUADRATURES

#: Cases spanning the admissible range: noise from MIN_NOISE to 0.5, gamma0 from 0 (the plain
#: GLM) to 1, kappa from the reference deep model's 0.41 to 4 (the larger at the extreme noises,
#: where the inner bump is narrowest relative to the step), and q up to 0.999.
CASES = [(noise, gamma0, 0.409095 if noise == 0.05 else 4.0) for noise in (0.01, 0.05, 0.5)
         for gamma0 in (0.0, 0.152506, 1.0)]
OVERLAPS = (0.0, 0.3, 0.9, 0.999)


@pytest.mark.parametrize("function", sorted(LIPSCHITZ))
@pytest.mark.parametrize("noise, gamma0, kappa", CASES)
def test_adaptive_rule_matches_the_fine_reference(function, noise, gamma0, kappa):
    """Measured over these cases and more (3 noises x 3 gamma0 x kappa 0.41, 1, 4 x these q): at
    most 5.3e-12 relative on E[g^2], psi_out and the test error (linear; tanh 1.0e-12, erf
    1.7e-12, sin 7.8e-13): 1e-10, far below the 1e-8 to which the state evolution resolves q."""
    fast = OutputFunctionChannel(function, gamma0, noise)
    ref = OutputFunctionChannel(function, gamma0, noise, quadrature="reference")
    for q in OVERLAPS:
        assert fast.mean_g_out_squared(kappa, q) == pytest.approx(ref.mean_g_out_squared(kappa, q), rel=1e-10)
        assert fast.psi_out(kappa, q) == pytest.approx(ref.psi_out(kappa, q), rel=1e-10, abs=1e-10)
        assert fast.bayes_test_error(kappa, q) == pytest.approx(ref.bayes_test_error(kappa, q), rel=1e-10)


@pytest.mark.parametrize("function", ["abs", "sign"])
def test_kinked_functions_keep_the_fine_step_and_use_the_symmetry(function):
    """abs (even) and sign (odd) keep the 0.02 step; only the zeta half-rule changes: measured
    3.2e-9 (sign) and 1.3e-13 (abs) against the reference, whose own error is 2e-4 at the jump."""
    fast = OutputFunctionChannel(function, 0.152506, 0.05)
    ref = OutputFunctionChannel(function, 0.152506, 0.05, quadrature="reference")
    for q in OVERLAPS:
        assert fast.mean_g_out_squared(1.0, q) == pytest.approx(ref.mean_g_out_squared(1.0, q), rel=1e-8)


def test_relu_is_the_reference_rule():
    """relu is neither odd nor even, and kinked: the same rule as the reference, bit for bit."""
    fast = OutputFunctionChannel("relu", 0.1, 0.05)
    ref = OutputFunctionChannel("relu", 0.1, 0.05, quadrature="reference")
    assert fast.mean_g_out_squared(1.0, 0.4) == ref.mean_g_out_squared(1.0, 0.4)


@pytest.mark.parametrize("gamma0, noise", [(0.152506, 0.05), (0.0, 0.01), (1.0, 0.5)])
@pytest.mark.parametrize("q", [0.2, 0.7])
def test_linear_output_is_the_gaussian_channel(gamma0, noise, q):
    """Closed form: f = linear is y = z + sqrt(gamma0 + noise) xi (book eq-linear-closed-form),
    with the adaptive step at its largest (the Gaussian weight alone): 1e-10."""
    oc, gc = OutputFunctionChannel("linear", gamma0, noise), GaussianChannel(gamma0 + noise)
    assert oc.mean_g_out_squared(0.8, q) == pytest.approx(gc.mean_g_out_squared(0.8, q), rel=1e-10)
    assert oc.psi_out(0.8, q) == pytest.approx(gc.psi_out(0.8, q), rel=1e-10)


@pytest.mark.parametrize("function", ["tanh", "sin"])
def test_noiseless_inner_channel_at_q_one_is_the_output_noise_entropy(function):
    """gamma0 = 0, q = 1: the label is f(z) + sqrt(noise) xi' with z known, so psi_out(kappa, 1)
    = E ln N(xi'; noise) = -ln(2 pi e noise) / 2 exactly, whatever f: 1e-11."""
    noise = 0.05
    ch = OutputFunctionChannel(function, 0.0, noise)
    assert ch.psi_out(1.0, 1.0) == pytest.approx(-0.5 * math.log(2 * math.pi * math.e * noise), abs=1e-11)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.95])
def test_psi_out_derivative_identity_for_tanh(q):
    """2 dPsi_out/dq = kappa E[g_out^2] (the stationarity of f_RS). The adaptive step depends on
    kappa and gamma0 only, not on q, so central differences in q see one smooth function: h =
    1e-4 and h/2 Richardson-combined (truncation O(h^4) ~ 1e-13; rounding 1e-15 / 1e-4): 1e-8."""
    ch = OutputFunctionChannel("tanh", 0.152506, 0.05)
    kappa = 0.409095

    def central(h):
        return (ch.psi_out(kappa, q + h) - ch.psi_out(kappa, q - h)) / (2 * h)

    fd = (4 * central(5e-5) - central(1e-4)) / 3
    assert 2 * fd == pytest.approx(kappa * ch.mean_g_out_squared(kappa, q), rel=1e-8)


def test_unknown_quadrature_is_refused():
    assert QUADRATURES == ("adaptive", "reference")
    with pytest.raises(ValueError, match="quadrature must be one of adaptive, reference"):
        OutputFunctionChannel("tanh", 0.1, 0.05, quadrature="gauss")
