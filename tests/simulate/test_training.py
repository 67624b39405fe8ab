"""Tests of deepgep.simulate.training: gradient-descent training of a deep student (backprop vs
finite differences, descent, weight decay, a sanity check on teacher data, input validation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.theory.activations import get_activation
from deepgep.simulate.networks import forward
from deepgep.simulate.teachers import deep_teacher_sample
from deepgep.simulate.training import (
    TrainingResult,
    objective_and_gradient,
    parameter_count,
    student_predict,
    train_student,
)

SMOOTH = ("tanh", "erf", "sin", "linear")
TINY_WIDTHS = (5, 4, 3)  # d_0 = 5, then d_1 = 4, d_2 = 3


def tiny_problem(seed: int, task: str, activation: str):
    rng = np.random.default_rng(seed)
    n = 7
    X = rng.standard_normal((n, TINY_WIDTHS[0]))
    weights = [rng.standard_normal((TINY_WIDTHS[l], TINY_WIDTHS[l - 1])) for l in (1, 2)]
    a = rng.standard_normal(TINY_WIDTHS[-1])
    y = rng.standard_normal(n) if task == "regression" else np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    return X, y, weights, a


def _preactivations(X, weights, act):
    zs, h = [], X
    for W in weights:
        z = h @ W.T / math.sqrt(W.shape[1])
        zs.append(z)
        h = act(z)
    return zs


@pytest.mark.parametrize("name", SMOOTH + ("relu",))
def test_phi_prime_matches_finite_differences(name):
    act = get_activation(name, 1.7)
    z = np.linspace(-2.3, 2.1, 41)  # avoids 0 exactly (relu's kink)
    step = 1e-6
    fd = (act(z + step) - act(z - step)) / (2 * step)
    np.testing.assert_allclose(act.derivative(z), fd, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(act.derivative(z, act(z)), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("name", ["tanh", "erf", "sin", "relu", "linear"])
def test_gradient_matches_central_differences(name, task):
    X, y, weights, a = tiny_problem(3, task, name)
    gain, lam = 1.3, 0.7
    act = get_activation(name, gain)
    if name == "relu":  # no pre-activation within reach of the kink
        assert min(np.min(np.abs(z)) for z in _preactivations(X, weights, act)) > 1e-3
    kw = dict(gain=gain, task=task, weight_decay=lam)
    R, gW, ga = objective_and_gradient(X, y, weights, a, name, **kw)
    step = 1e-6

    def numeric(block):
        params = [W.copy() for W in weights] + [a.copy()]
        target = params[block]
        out = np.empty_like(target)
        for idx in np.ndindex(target.shape):
            old = target[idx]
            target[idx] = old + step
            rp = objective_and_gradient(X, y, params[:-1], params[-1], name, **kw)[0]
            target[idx] = old - step
            rm = objective_and_gradient(X, y, params[:-1], params[-1], name, **kw)[0]
            target[idx] = old
            out[idx] = (rp - rm) / (2 * step)
        return out

    for block, analytic in enumerate(gW + [ga]):
        fd = numeric(block)
        assert analytic.shape == fd.shape
        rel = np.linalg.norm(analytic - fd) / np.linalg.norm(fd)
        assert rel < 1e-6, (block, rel)


def test_objective_definition_by_hand():
    X, y, weights, a = tiny_problem(1, "regression", "tanh")
    lam = 0.3
    h = X
    for W in weights:
        h = np.tanh(h @ W.T / math.sqrt(W.shape[1]))
    f = h @ a / math.sqrt(3)
    P = parameter_count(TINY_WIDTHS)
    assert P == 5 * 4 + 4 * 3 + 3
    sq = a @ a + sum(np.sum(W**2) for W in weights)
    expected = np.mean((y - f) ** 2) / 2 + lam / 2 * sq / len(y)
    R = objective_and_gradient(X, y, weights, a, "tanh", weight_decay=lam)[0]
    assert R == pytest.approx(expected, rel=1e-13)
    ys = np.sign(y) + (y == 0)
    R_cls = objective_and_gradient(X, ys, weights, a, "tanh", task="classification", weight_decay=0.0)[0]
    assert R_cls == pytest.approx(np.mean(np.log1p(np.exp(-ys * f))), rel=1e-13)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_objective_decreases_monotonically_for_small_steps(task):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 8))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(60)
    if task == "classification":
        y = np.where(y >= 0, 1.0, -1.0)
    res = train_student(X, y, (8, 10, 6), "tanh", 1.0, rng, task=task, weight_decay=1.0,
                        learning_rate=0.05, epochs=300, tol=0.0)
    assert isinstance(res, TrainingResult)
    assert res.epochs == 300 and res.losses.shape == (301,) and not res.converged
    assert np.all(np.diff(res.losses) <= 0.0)
    assert res.losses[-1] < 0.9 * res.losses[0]
    # the stored network and readout reproduce the last recorded objective
    R = objective_and_gradient(X, y, res.network.weights, res.readout, "tanh", task=task,
                               weight_decay=1.0)[0]
    assert R == pytest.approx(res.losses[-1], rel=1e-12)


def test_predict_uses_trained_weights():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 5))
    y = X[:, 0]
    res = train_student(X, y, (5, 4, 3), "erf", 0.8, rng, epochs=5)
    (hL,) = forward(res.network, X, keep_all=False)
    np.testing.assert_allclose(student_predict(res, X), hL @ res.readout / math.sqrt(3))
    h = X
    for W in res.network.weights:
        h = get_activation("erf", 0.8)(h @ W.T / math.sqrt(W.shape[1]))
    np.testing.assert_allclose(student_predict(res, X), h @ res.readout / math.sqrt(3), rtol=1e-12)


def test_initialisation_and_reproducibility():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 5))
    y = X[:, 1]
    res0 = train_student(X, y, (5, 4), "tanh", 1.0, np.random.default_rng(9), epochs=0, init_scale=0.5)
    ref = np.random.default_rng(9)
    np.testing.assert_array_equal(res0.network.weights[0], 0.5 * ref.standard_normal((4, 5)))
    np.testing.assert_array_equal(res0.readout, 0.5 * ref.standard_normal(4))
    assert res0.epochs == 0 and res0.losses.shape == (1,)
    r1 = train_student(X, y, (5, 4), "tanh", 1.0, np.random.default_rng(9), epochs=20)
    r2 = train_student(X, y, (5, 4), "tanh", 1.0, np.random.default_rng(9), epochs=20)
    np.testing.assert_array_equal(r1.losses, r2.losses)


def test_stops_when_converged():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 4))
    y = X @ np.ones(4) / 2
    res = train_student(X, y, (4, 6), "linear", 1.0, rng, weight_decay=5.0, learning_rate=0.5, epochs=5000,
                        tol=1e-6)
    assert res.converged and res.epochs < 5000 and len(res.losses) == res.epochs + 1
    assert abs(res.losses[-2] - res.losses[-1]) < 1e-6 * res.losses[-2]


def test_linear_depth_one_student_is_self_consistent_ridge():
    """Identity of the module docstring: the trained linear depth-1 student minimises
    1/2 |y - X beta|^2 + lam sqrt(d0 d1) |beta|, so beta = (X^T X + mu I)^{-1} X^T y with the
    self-consistent ridge penalty mu = lam sqrt(d0 d1) / |beta|, and the factorisation is balanced
    (|a|^2 = |W|_F^2); without weight decay the student reaches least squares."""
    rng = np.random.default_rng(7)
    d0, d1, n = 10, 8, 80
    X = rng.standard_normal((n, d0))
    y = X @ rng.standard_normal(d0) / math.sqrt(d0) + 0.1 * rng.standard_normal(n)
    for lam in (0.0, 20.0):
        res = train_student(X, y, (d0, d1), "linear", 1.0, np.random.default_rng(1), weight_decay=lam,
                            learning_rate=0.2, epochs=20000, tol=1e-15)
        W, a = res.network.weights[0], res.readout
        beta = W.T @ a / math.sqrt(d0 * d1)
        np.testing.assert_allclose(student_predict(res, X), X @ beta, rtol=1e-10, atol=1e-12)
        mu = lam * math.sqrt(d0 * d1) / np.linalg.norm(beta)
        ridge_beta = np.linalg.solve(X.T @ X + mu * np.eye(d0), X.T @ y)
        np.testing.assert_allclose(beta, ridge_beta, rtol=1e-5, atol=1e-7)
        if lam > 0:
            assert mu > 1.0  # the penalty is not negligible: the identity is tested, not trivially met
            assert a @ a == pytest.approx(np.sum(W * W), rel=1e-4)


def test_training_on_teacher_data_beats_trivial_predictor():
    data = deep_teacher_sample((30, 30), "tanh", 600, np.random.default_rng(11), n_test=2000)
    res = train_student(data.X, data.y, (30, 30), "tanh", 1.0, np.random.default_rng(12),
                        weight_decay=1e-3, learning_rate=0.5, epochs=400)
    mse = np.mean((data.y_test - student_predict(res, data.X_test)) ** 2)
    assert mse < 0.5 * np.var(data.y_test)


def test_divergence_raises_clear_error():
    rng = np.random.default_rng(0)
    X = 10 * rng.standard_normal((20, 5))
    y = 100 * rng.standard_normal(20)
    with pytest.raises(FloatingPointError, match="smaller learning_rate"):
        train_student(X, y, (5, 4), "linear", 1.0, rng, learning_rate=1e3, epochs=200)


def test_bad_inputs_raise():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 5))
    y = rng.standard_normal(10)
    args = (X, y, (5, 4), "tanh", 1.0)
    with pytest.raises(ValueError, match="unknown task"):
        train_student(*args, rng, task="ranking")
    with pytest.raises(ValueError, match="weight_decay"):
        train_student(*args, rng, weight_decay=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        train_student(*args, rng, learning_rate=0.0)
    with pytest.raises(ValueError, match="epochs"):
        train_student(*args, rng, epochs=-1)
    with pytest.raises(ValueError, match="user callable"):
        train_student(X, y, (5, 4), np.tanh, 1.0, rng)
    with pytest.raises(ValueError, match="d_0"):
        train_student(X, y, (6, 4), "tanh", 1.0, rng)
    with pytest.raises(ValueError, match="shape"):
        train_student(X, y[:-1], (5, 4), "tanh", 1.0, rng)
    with pytest.raises(ValueError, match="-1 or \\+1"):
        train_student(*args, rng, task="classification")
    with pytest.raises(TypeError, match="Generator"):
        train_student(*args, 0)
    with pytest.raises(ValueError, match="user callable"):
        get_activation(np.tanh).derivative(np.zeros(3))
    res = train_student(*args, rng, epochs=1)
    with pytest.raises(ValueError, match="shape"):
        student_predict(res, np.zeros((3, 4)))


def test_lbfgs_reaches_the_same_minimiser_as_gradient_descent():
    """Both optimizers minimise the same R: on a small strongly regularised problem (a single
    minimum near the origin) they agree on the objective and the predictions."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((40, 6))
    y = np.tanh(X[:, 0]) + 0.1 * rng.standard_normal(40)
    kw = dict(weight_decay=5.0, tol=1e-14)
    gd = train_student(X, y, (6, 5), "tanh", 1.0, np.random.default_rng(3), learning_rate=0.5, epochs=30000, **kw)
    bfgs = train_student(X, y, (6, 5), "tanh", 1.0, np.random.default_rng(3), optimizer="lbfgs", epochs=2000, **kw)
    assert bfgs.converged and bfgs.epochs < 2000
    assert bfgs.losses[-1] == pytest.approx(gd.losses[-1], rel=1e-7)
    np.testing.assert_allclose(student_predict(bfgs, X), student_predict(gd, X), rtol=1e-4, atol=1e-5)
    R = objective_and_gradient(X, y, bfgs.network.weights, bfgs.readout, "tanh", weight_decay=5.0)
    assert R[0] == pytest.approx(bfgs.losses[-1], rel=1e-12)
    assert np.sqrt(sum(np.sum(g * g) for g in R[1]) + np.sum(R[2] ** 2)) < 1e-6


def test_unknown_optimizer_is_refused():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="optimizer"):
        train_student(X, np.zeros(3), (2, 2), "tanh", 1.0, np.random.default_rng(0), optimizer="adam")
