"""Tests of deepgep.theory.hypotheses: the numerical check of the hypotheses of Theorem 1 on
functions whose status is known in closed form, and the one warning of the library
(:class:`TheoremWarning`) from layer_coefficients and bayes_optimal_curve.

Each function below has a property known exactly; the check must find it and only it. The
rejected ones are the nearest competitors a referee would name: a kink (relu), a jump of f''
only (softsign u / (1 + |u|) is C^1), an infinite slope at one point (cbrt), slow growth (f'' of
u^3 grows like u), a tiny even part (tanh + 1e-6).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import erf

from deepgep.theory.channels import make_channel
from deepgep.theory.hypotheses import (OUTSIDE_THEOREM, TheoremWarning, check_hypotheses, outside_theorem_on_purpose,
                                      warn_outside_theorem)
from deepgep.theory.layers import GLMTheory, depth_profile, equivalent_parameters, layer_coefficients
from deepgep.theory.state_evolution import bayes_optimal_curve

INSIDE = {
    "tanh": np.tanh, "erf": erf, "sin": np.sin, "linear": lambda u: 3.0 * u, "arcsinh": np.arcsinh,
    "arctan": np.arctan, "u - tanh u": lambda u: u - np.tanh(u), "tanh(40 u)": lambda u: np.tanh(40.0 * u),
    "u + u/(1+u^2)": lambda u: u + u / (1.0 + u * u), "sin(3u) + u": lambda u: np.sin(3.0 * u) + u,
}
#: (function, odd, C^2, bounded derivatives, a word of the failure message)
OUTSIDE = {
    "relu": (lambda u: np.maximum(u, 0.0), False, False, True, "kink"),
    "abs": (np.abs, False, False, True, "kink"),
    "clip": (lambda u: np.clip(u, -1.0, 1.0), True, False, True, "kink"),
    "sign": (np.sign, True, False, True, "jump of f"),
    "cbrt": (np.cbrt, True, False, True, "infinite slope"),
    "softsign": (lambda u: u / (1.0 + np.abs(u)), True, False, True, "f'' jumps"),
    "u|u|": (lambda u: u * np.abs(u), True, False, False, "f'' jumps"),
    "u^3": (lambda u: u**3, True, True, False, "unbounded"),
    "sinh": (np.sinh, True, True, False, "unbounded"),
    "u log(1+u^2)": (lambda u: u * np.log1p(u * u), True, True, False, "unbounded"),  # f' grows like 2 log u
    "softplus": (lambda u: np.logaddexp(0.0, u), False, True, True, "not odd"),
    "tanh + 1e-6": (lambda u: np.tanh(u) + 1e-6, False, True, True, "not odd"),
}


@pytest.mark.parametrize("name", sorted(INSIDE))
def test_functions_inside_the_theorem_pass(name):
    h = check_hypotheses(INSIDE[name])
    assert h.holds and h.failures == ()


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_functions_outside_the_theorem_fail_for_their_reason(name):
    func, odd, smooth, bounded, word = OUTSIDE[name]
    h = check_hypotheses(func)
    assert (h.odd, h.twice_differentiable, h.bounded_derivatives) == (odd, smooth, bounded)
    assert not h.holds and any(word in f for f in h.failures), h.failures


def test_non_finite_values_on_the_wide_grid_are_unbounded():
    """exp(u^2) overflows at |u| = 27: reported as a derivative that is not finite."""
    h = check_hypotheses(lambda u: u * np.exp(u * u))
    assert not h.bounded_derivatives and any("not finite" in f for f in h.failures)


def test_a_function_failing_on_arrays_raises():
    with pytest.raises(ValueError, match="failed on a float64 array"):
        check_hypotheses(lambda u: float(u))
    with pytest.raises(ValueError, match="elementwise"):
        check_hypotheses(lambda u: np.sum(u))


# --- the library's warning ---------------------------------------------------------------------


def _theorem_warnings(func) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func()
    return [str(w.message) for w in caught if issubclass(w.category, TheoremWarning)]


@pytest.mark.parametrize("call", [
    lambda: layer_coefficients("relu", 2),
    lambda: equivalent_parameters("relu", 1.0, 2),
    lambda: depth_profile("relu", 3),
    lambda: GLMTheory.of("relu", 1.0, 1),
    lambda: layer_coefficients(np.cosh, 1),
    lambda: layer_coefficients("numpy:sinh", 1),
], ids=["layer_coefficients", "equivalent_parameters", "depth_profile", "GLMTheory.of", "callable", "by-name"])
def test_activation_outside_the_theorem_warns_once_from_layer_coefficients(call):
    messages = _theorem_warnings(call)
    assert len(messages) == 1 and messages[0].startswith(OUTSIDE_THEOREM + "activation ")


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin", "linear", np.arctan, "numpy:arcsinh"])
def test_activations_inside_the_theorem_do_not_warn(activation):
    assert _theorem_warnings(lambda: layer_coefficients(activation, 2, gain=1.5)) == []


@pytest.mark.parametrize("name, noise, word", [("sign", 0.0, "sign readout"), ("abs", 0.1, "even"),
                                               ("relu", 0.1, "'relu' is not odd")])
def test_readout_outside_the_theorem_warns_from_bayes_optimal_curve(name, noise, word):
    channel = make_channel(name, 0.15, noise)
    messages = _theorem_warnings(lambda: bayes_optimal_curve(channel, 0.4, [1.0], tol=1e-3))
    assert len(messages) == 1 and messages[0] == OUTSIDE_THEOREM + channel.caveat and word in messages[0]


@pytest.mark.parametrize("name", ["linear", "tanh"])
def test_readouts_inside_the_theorem_do_not_warn(name):
    channel = make_channel(name, 0.15, 0.1)
    assert _theorem_warnings(lambda: bayes_optimal_curve(channel, 0.4, [1.0], tol=1e-3)) == []


def test_the_warning_points_at_the_callers_line():
    """stacklevel: the warning names the user's line, not the library's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer_coefficients("relu", 1)
    assert caught[0].filename == __file__


def test_warn_outside_theorem_is_a_user_warning():
    with pytest.warns(UserWarning, match="^outside the theorem's hypotheses: because$"):
        warn_outside_theorem("because", stacklevel=2)


def test_outside_theorem_on_purpose_silences_only_theorem_warnings():
    def both():
        layer_coefficients("relu", 1)
        warnings.warn("another", RuntimeWarning)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with outside_theorem_on_purpose():
            both()
        after = _theorem_warnings(lambda: layer_coefficients("relu", 1))
    assert [w.category for w in caught] == [RuntimeWarning] and len(after) == 1
