"""Tests of deepgep.theory.activations: names, gains, oddness, validation of user callables, the
in-place kernel."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from deepgep.theory.activations import (
    USER_DEFINED,
    Activation,
    activation_issue,
    get_activation,
    known_activations,
    require_odd,
    resolve_function,
)

EPS = np.finfo(np.float64).eps

#: Independent scalar references (python's math module), phi(x) = act(g x).
REFERENCE = {
    "linear": lambda u: u,
    "tanh": math.tanh,
    "erf": math.erf,
    "sin": math.sin,
    "relu": lambda u: max(u, 0.0),
}
ODD = {"linear": True, "tanh": True, "erf": True, "sin": True, "relu": False}
GRID = np.linspace(-7.0, 7.0, 57)


def test_known_names():
    assert set(known_activations()) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("gain", [0.3, 1.0, 2.0])
def test_every_builtin_evaluates_act_of_gain_times_x(name, gain):
    act = get_activation(name, gain)
    assert act.name == name and act.gain == gain and act.is_builtin and act.code != USER_DEFINED
    assert act.odd is ODD[name]
    assert act.satisfies_theorem is ODD[name]
    expected = np.array([REFERENCE[name](gain * x) for x in GRID])
    out = act(GRID)
    assert out.dtype == np.float64 and out.shape == GRID.shape
    # numpy/scipy vs math libm: each within ~1 ulp of the true value.
    np.testing.assert_allclose(out, expected, rtol=4 * EPS, atol=4 * EPS)
    # scalars and nested lists are accepted too
    assert float(act(0.5)) == pytest.approx(REFERENCE[name](gain * 0.5), rel=4 * EPS, abs=4 * EPS)
    assert act([[0.5, -1.0]]).shape == (1, 2)


def test_names_are_case_and_space_insensitive():
    assert get_activation("  TanH ").name == "tanh"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_activation("softplus")
    message = str(info.value)
    assert "softplus" in message
    for name in known_activations():
        assert name in message


@pytest.mark.parametrize("activation", [3, None, 2.5, ["tanh"]])
def test_neither_name_nor_callable_raises(activation):
    with pytest.raises(ValueError):
        get_activation(activation)


@pytest.mark.parametrize("gain", [0.0, -1.0, -1e-300, float("nan"), float("inf"), -float("inf"), "two", None])
def test_bad_gains_raise(gain):
    with pytest.raises(ValueError):
        get_activation("tanh", gain)
    with pytest.raises(ValueError):
        get_activation(np.tanh, gain)
    with pytest.raises(ValueError):
        get_activation(get_activation("tanh"), gain)


def test_relu_is_flagged_and_rejected():
    relu = get_activation("relu")
    assert not relu.odd and not relu.satisfies_theorem
    with pytest.raises(ValueError, match="relu"):
        require_odd(relu, context="the GLM reduction")
    with pytest.raises(ValueError, match="the GLM reduction"):
        require_odd(relu, context="the GLM reduction")
    for name in ("linear", "tanh", "erf", "sin"):
        require_odd(get_activation(name, 1.5))  # does not raise
    with pytest.raises(ValueError):
        require_odd(get_activation(lambda x: x**2))


@pytest.mark.parametrize(
    ("func", "odd", "theorem"),
    [
        (np.tanh, True, True),
        (np.sinh, True, False),  # values up to sinh(6) ~ 200: relative oddness test; f' unbounded
        (np.arctan, True, True),
        (lambda x: x**3 - x, True, False),  # f' = 3 x^2 - 1 unbounded
        (lambda x: x**2, False, False),
        (np.cos, False, False),
        (lambda x: np.tanh(x) + 1e-6, False, False),  # a tiny even part is detected
        (lambda x: np.maximum(x, 0.0), False, False),
    ],
)
def test_user_callable_oddness(func, odd, theorem):
    act = get_activation(func, 1.5)
    assert act.odd is odd
    assert act.satisfies_theorem is theorem
    assert act.hypotheses.odd is odd and act.hypotheses.holds is theorem
    assert act.code == USER_DEFINED and not act.is_builtin
    assert act.name == getattr(func, "__name__", "user")
    np.testing.assert_array_equal(act(GRID), np.asarray(func(1.5 * GRID), dtype=np.float64))


@pytest.mark.parametrize(
    "func",
    [
        lambda x: np.where(x > 5.0, np.nan, x),  # nan inside the probed interval
        lambda x: 1.0 / x,  # inf at the probe point 0
        lambda x: np.log(x),  # nan for x < 0
    ],
)
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_user_callable_with_non_finite_values_raises(func):
    with pytest.raises(ValueError, match="non-finite"):
        get_activation(func)


@pytest.mark.parametrize(
    "func",
    [lambda x: float(np.sum(x)), lambda x: np.concatenate([x, x]), lambda x: x[:, None] * x[None, :]],
    ids=["scalar", "longer", "outer"],
)
def test_user_callable_with_wrong_shape_raises(func):
    with pytest.raises(ValueError, match="elementwise"):
        get_activation(func)


def test_user_callable_that_fails_on_arrays_raises_value_error():
    with pytest.raises(ValueError, match="failed"):
        get_activation(math.tanh)  # scalar-only function


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize(("gain", "prescale"), [(1.0, 1.0), (2.0, 1.0), (2.0, 0.37), (0.3, 1 / math.sqrt(7))])
def test_apply_inplace_matches_call(name, gain, prescale):
    act = get_activation(name, gain)
    a0 = np.random.default_rng(7).standard_normal((31, 17)) * 4.0
    expected = act(prescale * a0)
    a = a0.copy()
    out = act.apply_inplace(a, prescale=prescale)
    assert out is a  # in place, returned
    # compiled math.* vs numpy, and (g p) x vs g (p x): a few ulps of |phi| <= |u| <= 30.
    np.testing.assert_allclose(a, expected, rtol=4 * EPS, atol=4 * EPS)


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_apply_inplace_on_non_contiguous_and_float32_arrays(name):
    act = get_activation(name, 2.0)
    base = np.random.default_rng(3).standard_normal((8, 10))
    view = base.copy()
    strided = view[:, ::2]  # not C-contiguous: generic numpy path, writes through the view
    expected = act(0.5 * base[:, ::2])
    act.apply_inplace(strided, prescale=0.5)
    np.testing.assert_allclose(view[:, ::2], expected, rtol=4 * EPS, atol=4 * EPS)
    np.testing.assert_array_equal(view[:, 1::2], base[:, 1::2])  # untouched columns
    single = base.astype(np.float32)
    act.apply_inplace(single, prescale=0.5)
    # float32 storage: one float32 rounding of the float64 result
    np.testing.assert_allclose(single, act(0.5 * base.astype(np.float32)), rtol=1e-7, atol=1e-7)


def test_apply_inplace_user_callable():
    act = get_activation(np.arctan, 1.7)
    a = np.linspace(-3, 3, 12).reshape(3, 4)
    expected = np.arctan(1.7 * 0.25 * a)
    act.apply_inplace(a, prescale=0.25)
    np.testing.assert_allclose(a, expected, rtol=2 * EPS, atol=2 * EPS)


@pytest.mark.parametrize("activation", ["tanh", "relu", np.arctan])
def test_gains_compose(activation):
    inner = get_activation(activation, 1.5)
    assert get_activation(inner) is inner  # gain 1: unchanged
    outer = get_activation(inner, 2.0)
    assert outer.gain == 3.0
    assert (outer.name, outer.odd, outer.code) == (inner.name, inner.odd, inner.code)
    # act(2 * 1.5 x) and act(3 x): identical arguments up to one rounding of the product.
    np.testing.assert_allclose(outer(GRID), get_activation(activation, 3.0)(GRID), rtol=4 * EPS, atol=4 * EPS)


def test_activation_is_immutable():
    act = get_activation("tanh", 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        act.gain = 3.0
    assert isinstance(act, Activation)


# --- activations by name: module:function ------------------------------------------------------


def test_module_function_names_resolve_with_importlib():
    assert resolve_function("numpy:arcsinh") is np.arcsinh
    assert resolve_function(" numpy.linalg:norm ") is np.linalg.norm
    assert resolve_function("math:tanh") is math.tanh  # resolved; get_activation then refuses it
    act = get_activation("numpy:arcsinh", 2.0)
    assert act.name == "numpy:arcsinh" and act.code == USER_DEFINED and act.gain == 2.0
    np.testing.assert_array_equal(act(GRID), np.arcsinh(2.0 * GRID))
    assert act.odd and act.satisfies_theorem and activation_issue(act) is None


def test_attribute_paths_resolve():
    """``module:Class.method``: an attribute path inside the module."""
    func = resolve_function("numpy:polynomial.Polynomial.fromroots")
    assert func == np.polynomial.Polynomial.fromroots  # a bound classmethod: equal, not identical


@pytest.mark.parametrize("spec, message", [
    ("numpy:sinhh", "has no attribute 'sinhh'"),
    ("no_such_module_xyz:f", "cannot import module"),
    ("numpy:pi", "not a function"),
    ("numpy", "module:function"),
    ("numpy:sinh()", "module:function"),
    ("__import__('os'):system", "module:function"),
    (":sinh", "module:function"),
])
def test_bad_module_function_names_raise_value_error(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        resolve_function(spec)


def test_a_scalar_function_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="must act elementwise on numpy arrays"):
        get_activation("math:sinh")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_builtins_known_flags_agree_with_the_numerical_check(name):
    """Identity: the built-ins' known status (tanh, erf, sin, linear inside the theorem; relu
    not odd and kinked) is what check_hypotheses measures on their numpy functions."""
    act = get_activation(name, 3.0)
    assert act.hypotheses.holds is act.satisfies_theorem is ODD[name]
    if name == "relu":
        assert not act.hypotheses.odd and not act.hypotheses.twice_differentiable
        assert act.hypotheses.bounded_derivatives
        issue = activation_issue(act)
        assert issue.startswith("activation 'relu': not odd") and "kink" in issue and "mean mu_l" in issue


def test_require_odd_says_which_hypothesis_fails():
    with pytest.raises(ValueError, match="f' is unbounded"):
        require_odd(get_activation("numpy:sinh"))
