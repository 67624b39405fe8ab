"""Full-batch gradient descent on a deep student of the teacher's architecture.

This is the trained-network side of the comparison of Cui, Krzakala & Zdeborova (2023): a
student with the teacher's widths and activation, ALL of whose weights are learnt. Samples are
ROWS, as in :mod:`deepgep.simulate.networks`. For ``widths = (d_0, d_1, ..., d_L)``:

    h^0 = x,    z^l = h^{l-1} W^{l T} / sqrt(d_{l-1}),    h^l = phi(z^l),    f(x) = a . h^L / sqrt(d_L),

``W^l`` of shape ``d_l x d_{l-1}`` (the layout of :class:`deepgep.simulate.networks.DeepNetwork`) and the
readout ``a`` of length ``d_L``. The training objective is

    R(theta) = loss + (weight_decay / 2n) * (|a|^2 + sum_l |W^l|_F^2),

    loss = (1 / 2n) sum_mu (y_mu - f(x_mu))^2          (task="regression"),
    loss = (1 / n)  sum_mu log(1 + exp(-y_mu f(x_mu)))  (task="classification", y in {-1, +1}).

So ``n R`` is the negative log-posterior of the teacher's model with a standard Gaussian prior on
every weight and Gaussian label noise of variance ``weight_decay`` (regression): the minimiser is
the MAP estimator, and ``weight_decay`` is on the same scale as the ridge penalty of
:func:`deepgep.simulate.estimators.ridge` (``|y - X w / sqrt(d)|^2 + lam |w|^2``), to which the
objective reduces for a linear readout on fixed features. For a linear depth-1 student
(``f = x . W^T a / sqrt(d_0 d_1)``) the penalty over all factorisations of the same
``beta = W^T a / sqrt(d_0 d_1)`` is at least ``weight_decay sqrt(d_0 d_1) |beta| / n``
(AM-GM), with equality for a balanced rank-one factorisation: the trained linear student is
then ridge regression with the self-consistent penalty ``weight_decay sqrt(d_0 d_1) / |beta|``
(tests/test_training.py checks this identity).

Gradients are computed by hand-written backpropagation with BLAS matrix products over the whole
batch (no loop over samples); ``phi'`` is :meth:`deepgep.theory.activations.Activation.derivative`
(built-in activations; user callables have no derivative and are refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from tqdm import tqdm

from deepgep.simulate.networks import DeepNetwork, forward
from deepgep.support.threads import single_threaded_blas
from deepgep.support.validation import (check_choice, check_count, check_design, check_generator,
                                        check_real, check_vector, check_widths)
from deepgep.theory.activations import Activation, builtin_activation, get_activation

__all__ = ["TASKS", "OPTIMIZERS", "parameter_count", "objective_and_gradient", "TrainingResult",
           "train_student", "student_predict"]

#: ``task`` values of :func:`train_student`.
TASKS = ("regression", "classification")

#: ``optimizer`` values of :func:`train_student`.
OPTIMIZERS = ("gd", "lbfgs")

# --- objective and gradient -------------------------------------------------------------------


def parameter_count(widths: Sequence[int]) -> int:
    """``P = d_L + sum_l d_l d_{l-1}``, the number of trained parameters (the penalty's norm)."""
    w = check_widths(widths)
    return w[-1] + sum(w[ell] * w[ell - 1] for ell in range(1, len(w)))


def _check_labels(y, n: int, task: str) -> np.ndarray:
    y = check_vector("y", y, n, "one label per row")
    if task == "classification" and not np.all(np.abs(y) == 1.0):
        raise ValueError("classification labels must be -1 or +1")
    return y


def _objective_and_gradient(X, y, weights, a, act, task, weight_decay, with_grad=True):
    """Unchecked core: ``(R, [dR/dW^1, ..., dR/dW^L], dR/da)`` (gradients ``None`` if not asked)."""
    n = X.shape[0]
    roots = [math.sqrt(W.shape[1]) for W in weights]
    zs, hs = [], [X]
    for W, root in zip(weights, roots):
        z = hs[-1] @ W.T
        z /= root
        zs.append(z)
        hs.append(act(z))
    root_L = math.sqrt(a.shape[0])
    f = hs[-1] @ a / root_L
    sq = float(a @ a) + sum(float(np.vdot(W, W)) for W in weights)
    penalty = 0.5 * weight_decay * sq / n
    if task == "regression":
        res = f - y
        loss = 0.5 * float(res @ res) / n
        r = res / n  # dloss/df
    else:
        m = y * f
        loss = float(np.mean(np.logaddexp(0.0, -m)))
        r = -y * expit(-m) / n
    objective = loss + penalty
    if not with_grad:
        return objective, None, None
    c = weight_decay / n
    grad_a = hs[-1].T @ r / root_L + c * a
    G = np.multiply.outer(r, a / root_L)  # dloss/dh^L, n x d_L
    grads = [None] * len(weights)
    for ell in range(len(weights) - 1, -1, -1):
        D = G * act.derivative(zs[ell], hs[ell + 1])  # dloss/dz^{l}
        grads[ell] = D.T @ hs[ell] / roots[ell] + c * weights[ell]
        if ell > 0:
            G = D @ weights[ell] / roots[ell]
    return objective, grads, grad_a


def objective_and_gradient(
    X,
    y,
    weights: Sequence[np.ndarray],
    readout,
    activation: str | Activation,
    *,
    gain: float = 1.0,
    task: str = "regression",
    weight_decay: float = 1e-3,
) -> tuple[float, list[np.ndarray], np.ndarray]:
    """The objective ``R`` of the module docstring and its gradient by backpropagation.

    Returns ``(R, [dR/dW^1, ..., dR/dW^L], dR/da)``, each gradient of its parameter's shape.
    Validates its inputs like :func:`train_student`.
    """
    task = check_choice("task", task, TASKS)
    weight_decay = check_real("weight_decay", weight_decay, positive=False)
    act = builtin_activation(get_activation(activation, gain), "training")
    X = check_design(X)
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    if not weights:
        raise ValueError("weights must hold at least one layer")
    widths = (weights[0].shape[1] if weights[0].ndim == 2 else -1,) + tuple(W.shape[0] for W in weights)
    for ell, W in enumerate(weights, start=1):
        if W.ndim != 2 or W.shape[1] != widths[ell - 1]:
            raise ValueError(f"W^{ell} has shape {W.shape}, expected ({W.shape[0]}, {widths[ell - 1]})")
    if X.shape[1] != widths[0]:
        raise ValueError(f"X must have shape (n, {widths[0]}), got {X.shape}")
    a = check_vector("readout", readout, widths[-1], "d_L, the last width")
    y = _check_labels(y, X.shape[0], task)
    return _objective_and_gradient(X, y, weights, a, act, task, weight_decay)


# --- training -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingResult:
    """The outcome of :func:`train_student`.

    ``network`` holds the trained ``W^1..W^L`` (with the activation) and ``readout`` the trained
    ``a``. ``losses[k]`` is the training objective ``R`` (data loss + penalty) after ``k``
    gradient steps, so ``losses[0]`` is at initialisation and ``len(losses) = epochs + 1``.
    ``converged`` says whether the stopping rule on the relative change was met before the
    epoch budget ran out; ``epochs`` is the number of steps taken.
    """

    network: DeepNetwork
    readout: np.ndarray
    losses: np.ndarray
    converged: bool
    epochs: int


@single_threaded_blas
def train_student(
    X,
    y,
    widths: Sequence[int],
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    gain: float,
    rng: np.random.Generator,
    *,
    task: str = "regression",
    weight_decay: float = 1e-3,
    learning_rate: float = 0.1,
    epochs: int = 2000,
    tol: float = 1e-9,
    init_scale: float = 1.0,
    optimizer: str = "gd",
    progress: bool = False,
) -> TrainingResult:
    """Train the student of the module docstring on the full batch, minimising ``R``.

    ``widths = (d_0, d_1, ..., d_L)`` in the convention of :func:`deepgep.simulate.networks.sample_network`
    (``d_0`` must equal ``X.shape[1]``); ``activation`` and ``gain`` as in
    :func:`deepgep.theory.activations.get_activation`, restricted to the built-ins. Initialisation:
    ``W^1, ..., W^L`` then ``a`` with i.i.d. ``N(0, init_scale^2)`` entries drawn from ``rng`` in
    that order (the order of :func:`deepgep.simulate.teachers.sample_teacher`).

    ``optimizer="gd"``: each epoch is one step ``theta <- theta - learning_rate * grad R``;
    training stops after ``epochs`` steps or as soon as ``|R_{k-1} - R_k| / |R_{k-1}| < tol``
    (then ``converged`` is True). ``optimizer="lbfgs"``: scipy's L-BFGS-B on the same objective
    and gradient (full batch, no step size: ``learning_rate`` is unused), ``epochs`` iterations at
    most, stopping on the same relative-decrease rule (scipy's ``ftol = tol``) or a gradient
    below ``tol``; ``losses`` holds ``R`` after each iteration. Quasi-Newton steps reach the
    minimiser of a slowly converging problem (many samples, small weight decay) in far fewer
    gradient evaluations than gradient descent; the minimiser is the same.

    Raises ``ValueError`` on an unknown task, a negative or non-finite ``weight_decay``, a
    non-positive ``learning_rate`` or ``init_scale``, ``epochs < 0``, ``tol < 0``, a user callable
    activation (no ``phi'``), widths not matching ``X``, ``y`` of the wrong length or (for
    classification) not in ``{-1, +1}``; ``TypeError`` if ``rng`` is not a
    ``numpy.random.Generator``; ``FloatingPointError`` if the objective becomes non-finite
    (gradient descent diverged: use a smaller ``learning_rate``).
    """
    task = check_choice("task", task, TASKS)
    weight_decay = check_real("weight_decay", weight_decay, positive=False)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    init_scale = check_real("init_scale", init_scale, positive=True)
    tol = check_real("tol", tol, positive=False)
    epochs = check_count("epochs", epochs, 0)
    act = builtin_activation(get_activation(activation, gain), "training")
    rng = check_generator(rng)
    w = check_widths(widths)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    X = check_design(X)
    if X.shape[1] != w[0]:
        raise ValueError(f"widths[0] = d_0 = {w[0]} must equal the number of columns of X, {X.shape[1]}")
    y = _check_labels(y, X.shape[0], task)

    weights = [init_scale * rng.standard_normal((w[ell], w[ell - 1])) for ell in range(1, len(w))]
    a = init_scale * rng.standard_normal(w[-1])

    def evaluate(with_grad: bool):
        with np.errstate(over="ignore", invalid="ignore"):
            R, gW, ga = _objective_and_gradient(X, y, weights, a, act, task, weight_decay, with_grad)
        if not math.isfinite(R) or (with_grad and not (np.all(np.isfinite(ga)) and
                                                       all(np.all(np.isfinite(g)) for g in gW))):
            raise FloatingPointError(
                f"the training objective became non-finite after {len(losses) - 1} epochs "
                f"(learning_rate={learning_rate}); gradient descent diverged, try a smaller learning_rate"
            )
        return R, gW, ga

    losses: list[float] = []
    if optimizer == "lbfgs":
        converged = _minimise_lbfgs(weights, a, evaluate, losses, int(epochs), tol, progress)
        return TrainingResult(DeepNetwork(tuple(weights), act), a, np.asarray(losses), converged, len(losses) - 1)
    R, gW, ga = evaluate(with_grad=epochs > 0)
    losses.append(R)
    converged = False
    bar = tqdm(total=int(epochs), desc="train_student", disable=not progress, leave=False)
    try:
        for k in range(1, int(epochs) + 1):
            for W, g in zip(weights, gW):
                W -= learning_rate * g
            a -= learning_rate * ga
            R_prev = R
            R, gW, ga = evaluate(with_grad=k < epochs)
            losses.append(R)
            bar.update(1)
            if progress and k % 50 == 0:
                bar.set_postfix(objective=f"{R:.3e}")
            if abs(R_prev - R) < tol * max(abs(R_prev), np.finfo(float).tiny):
                converged = True
                break
    finally:
        bar.close()
    return TrainingResult(DeepNetwork(tuple(weights), act), a, np.asarray(losses), converged, len(losses) - 1)


def _minimise_lbfgs(weights: list[np.ndarray], a: np.ndarray, evaluate, losses: list[float],
                    max_iter: int, tol: float, progress: bool) -> bool:
    """L-BFGS-B on the flattened ``(W^1, ..., W^L, a)``; ``weights`` and ``a`` are overwritten
    in place with each evaluated point (finally the minimiser), and ``R`` after each iteration is
    appended to ``losses``. Returns scipy's success flag."""
    from scipy.optimize import minimize

    sizes = [W.size for W in weights] + [a.size]
    offsets = np.cumsum([0] + sizes)

    def unpack(x: np.ndarray) -> None:
        for k, W in enumerate(weights):
            W[...] = x[offsets[k]:offsets[k + 1]].reshape(W.shape)
        a[...] = x[offsets[-2]:]

    def fun(x):
        unpack(x)
        R, gW, ga = evaluate(with_grad=True)
        return R, np.concatenate([g.ravel() for g in gW] + [ga])

    theta0 = np.concatenate([W.ravel() for W in weights] + [a])
    losses.append(fun(theta0)[0])
    bar = tqdm(total=max_iter, desc="train_student (L-BFGS)", disable=not progress, leave=False)

    def record(intermediate_result):
        losses.append(float(intermediate_result.fun))
        bar.update(1)

    try:
        res = minimize(fun, theta0, jac=True, method="L-BFGS-B", callback=record,
                       options={"maxiter": max_iter, "ftol": tol, "gtol": tol, "maxcor": 20})
    finally:
        bar.close()
    unpack(res.x)
    return bool(res.success)


def student_predict(result: TrainingResult, X) -> np.ndarray:
    """``f(x) = a . h^L(x) / sqrt(d_L)`` for each row of ``X`` (length ``n``), with the hidden
    layers computed by :func:`deepgep.simulate.networks.forward`."""
    if not isinstance(result, TrainingResult):
        raise TypeError(f"result must be a TrainingResult, got {type(result).__name__}")
    X = check_design(X)
    d0 = result.network.widths[0]
    if X.shape[1] != d0:
        raise ValueError(f"X must have shape (n, {d0}), got {X.shape}")
    (hL,) = forward(result.network, X, keep_all=False)
    return hL @ result.readout / math.sqrt(result.readout.shape[0])
