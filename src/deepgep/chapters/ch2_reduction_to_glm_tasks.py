"""Chapter 2's sweep tasks: deep teachers against their equivalent GLM teachers, one per task.

Camilli et al. (2025), Corollary 3 and Theorem 4 (book thm-reduction): data labelled by a deep
random network (book eq-model) carry the same information, and admit the same Bayes-optimal
error, as data labelled by the GLM ``y ~ P_out(. | eta0 a.x/sqrt(d0) + sqrt(gamma0) xi)``
(book eq-equivalent-glm). Each task draws its teacher(s) and data from its own random stream
(:func:`deepgep.support.sweeps.task_rng`, ``[base_seed, experiment tag, d0, point, seed]``) and
returns the measured numbers in long format (one record per measured point):

* :func:`ridge_task`: ridge on deep-teacher and GLM-teacher data on the same inputs, one record
  per ``(teacher, depth, alpha, penalty_factor)``;
* :func:`gamp_task`: GAMP built for the GLM run on deep-teacher data, one record per iteration;
* :func:`labels_task`: the law of the labels of both teachers and the split of their variance
  into a linear part and the rest (:func:`linear_variance`), one record per
  ``(teacher, probability)`` of a quantile;
* :func:`narrow_task`: ridge, the second moments and the kurtosis of the labels of ONE deep
  teacher with narrow hidden layers (one record).

The GLM's predictions of these measurements (ridge asymptotics, GAMP's state evolution, the
shape of Theorem 1's bound) and the theory the chapter's claims compare them with
(:class:`ReductionTheory`: the equivalent GLM of each depth and its wrong variants) close the
module.

Every task is a pure function of ``(params, seed)`` with one BLAS thread, so the recorded tables
are verified bit for bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgep.simulate.amp import gamp
from deepgep.simulate.estimators import predict, prediction_error, ridge_paths
from deepgep.simulate.networks import forward, gaussian_inputs, sample_network
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample
from deepgep.support.claims import scaled
from deepgep.support.stats import excess_kurtosis
from deepgep.support.sweeps import task_rng
from deepgep.theory.channels import make_channel
from deepgep.theory.layers import GLMTheory, equivalent_parameters, theorem1_bound_shape
from deepgep.theory.ridge import bayes_ridge_lambda, ridge_regression_error
from deepgep.theory.state_evolution import gaussian_closed_form, state_evolution_trajectory

__all__ = ["TASKS_MODULE", "PROBLEMS", "OUTPUT", "TEACHERS", "QUANTILES", "hidden_widths_of", "linear_variance",
           "ridge_task",
           "gamp_task", "labels_task", "narrow_task", "ridge_theory_curves", "gamp_theory", "bound_shape_over_widths",
           "ReductionTheory", "MOMENTS", "MomentTheory"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch2_reduction_to_glm_tasks"
#: GAMP's two problems: regression (linear labels with noise ``Delta``) and classification (sign).
PROBLEMS = ("regression", "classification")
#: The output function of each problem.
OUTPUT = {"regression": "linear", "classification": "sign"}
#: The two kinds of teacher of the ``teacher`` column.
TEACHERS = ("deep", "glm")
#: The levels of the labels' quantiles: both tails (1 %, 99 %), the deciles and the quartiles,
#: where a non-Gaussian law of the labels would show first.
QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
#: Tags of the four experiments in the seeds of their random streams.
_RIDGE, _GAMP, _LABELS, _NARROW = 1, 2, 3, 4


def hidden_widths_of(d0: int, depth: int, width_ratio: float) -> tuple[int, ...]:
    """``(d0, d_1, ..., d_L)`` with every hidden width ``round(width_ratio d0)``."""
    return (int(d0),) + (int(round(float(width_ratio) * int(d0))),) * int(depth)


def _predictions(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The predictions ``X w / sqrt(d)`` of every row ``w`` of ``W`` (``n x rows``)."""
    return X @ W.T / math.sqrt(X.shape[1])


def linear_variance(X: np.ndarray, y: np.ndarray) -> float:
    """The variance of the linear part of the labels, ``|E[y x]|^2`` for isotropic Gaussian
    inputs ``x`` (rows of ``X``): the degree-1 Hermite part of ``y = f(x) + noise`` is ``c.x`` with
    ``c = E[y x]``, of variance ``|c|^2``. Estimated without bias by the U-statistic
    ``sum_{i != j} y_i y_j x_i.x_j / (n (n - 1))`` (the diagonal ``i = j`` would add ``E[y^2 |x|^2]
    / n``, about ``d0 Var(y) / n``). In the limit the deep teacher's is ``eta0^2`` and the rest of
    its variance ``gamma0 + Delta`` (book eq-equivalent-glm): the split of the label variance that
    the reduction predicts, which the variance alone does not see."""
    n = X.shape[0]
    if n < 2 or y.shape != (n,):
        raise ValueError(f"need at least two samples and one label per row, got X {X.shape}, y {y.shape}")
    total = X.T @ y
    diagonal = float(np.sum(y * y * np.einsum("ij,ij->i", X, X)))
    return (float(total @ total) - diagonal) / (n * (n - 1))


def ridge_task(params: Mapping, seed: int) -> list[dict[str, Any]]:
    """Ridge on deep-teacher and equivalent-GLM-teacher data sharing the same inputs.

    One network of depth ``max(depths)`` and hidden widths ``width_ratio d0`` serves every depth
    (the depth-``L`` teacher is its first ``L`` layers with its own readout ``a_L``), and one GLM
    teacher per depth (``eta0, gamma0`` of that depth, own readout) labels the SAME inputs, so
    deep and GLM errors are paired. Labels ``s + sqrt(Delta) xi'`` (deep: ``s =
    a_L.X^L/sqrt(d_L)``; GLM: ``s = eta0 a.X^0/sqrt(d0) + sqrt(gamma0) xi``). Training sets are
    nested prefixes of one draw of ``round(max(alphas) d0)`` inputs; ``n_test`` fresh inputs
    test every fit. Ridge at ``lambda* x penalty_factor`` (``lambda* = (gamma0 + Delta)/eta0^2``,
    book eq-ridge-bayes) on deep data, at ``lambda*`` on GLM data: records ``teacher``,
    ``depth``, ``alpha``, ``penalty_factor`` and the test MSE ``test_error``.
    """
    d0, ratio, noise = int(params["d0"]), float(params["width_ratio"]), float(params["noise"])
    depths, alphas = [int(L) for L in params["depths"]], [float(a) for a in params["alphas"]]
    factors = np.asarray(params["penalty_factors"], dtype=float)
    rng = task_rng(params, seed, _RIDGE, d0, round(100 * ratio))
    network = sample_network(hidden_widths_of(d0, max(depths), ratio), params["activation"], rng, params["gain"])
    deep_readouts = [rng.standard_normal(network.widths[L]) for L in depths]
    glm_readouts = [rng.standard_normal(d0) for _ in depths]
    n, n_test = max(1, round(max(alphas) * d0)), int(params["n_test"])
    layers = forward(network, gaussian_inputs(n + n_test, d0, rng))
    columns, lams = [], []
    for L, a_deep, a_glm in zip(depths, deep_readouts, glm_readouts):
        eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], L)
        deep = layers[L] @ a_deep / math.sqrt(network.widths[L]) + math.sqrt(noise) * rng.standard_normal(n + n_test)
        glm = (eta0 * layers[0] @ a_glm / math.sqrt(d0)
               + math.sqrt(gamma0 + noise) * rng.standard_normal(n + n_test))
        columns += [deep, glm]
        lams.append(bayes_ridge_lambda(eta0, gamma0, noise) * factors)
    Y = np.stack(columns, axis=1)
    X_test, Y_test = layers[0][n:], Y[n:]
    star = int(np.flatnonzero(factors == 1.0)[0])
    records = []
    for alpha in alphas:
        m = max(1, round(alpha * d0))
        W = ridge_paths(layers[0][:m], Y[:m], np.concatenate(lams))  # columns x all lambdas x d0
        for i, L in enumerate(depths):
            own = slice(i * factors.size, (i + 1) * factors.size)
            errors = np.mean((Y_test[:, 2 * i, None] - _predictions(X_test, W[2 * i, own])) ** 2, axis=0)
            point = {"depth": L, "alpha": alpha}
            records += [{"teacher": "deep", **point, "penalty_factor": float(f), "test_error": float(e)}
                        for f, e in zip(factors, errors)]
            at_star = predict(X_test, W[2 * i + 1, own.start + star])  # the GLM teacher's labels at lambda*
            records.append({"teacher": "glm", **point, "penalty_factor": 1.0,
                            "test_error": prediction_error(Y_test[:, 2 * i + 1], at_star, "linear")})
    return records


def gamp_task(params: Mapping, seed: int) -> list[dict[str, Any]]:
    """GAMP built for the equivalent GLM (channel with ``eta0, gamma0``; book eq-gamp) run on the
    data of one deep teacher of depth ``depth`` and all widths ``d0``, ``n = alpha d0``: its test
    error on ``n_test`` fresh samples (MSE, or the error rate of the sign) after each iteration
    ``t = 0..iterations``, for the ``problem``'s output (regression: linear with label noise
    ``Delta``; classification: sign, no label noise). Records ``iteration``, ``test_error``."""
    d0, alpha, problem = int(params["d0"]), float(params["alpha"]), params["problem"]
    output = OUTPUT[problem]
    noise = float(params["noise"]) if problem == "regression" else 0.0
    rng = task_rng(params, seed, _GAMP, d0, PROBLEMS.index(problem))
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], int(params["depth"]))
    data = deep_teacher_sample(hidden_widths_of(d0, int(params["depth"]), 1.0), params["activation"],
                               round(alpha * d0), rng, gain=params["gain"], output=output, noise=noise,
                               n_test=int(params["n_test"]))
    res = gamp(data.X, data.y, make_channel(output, gamma0=gamma0, noise=noise), eta0,
               n_iter=int(params["iterations"]), tol=0.0, keep_estimates=True)
    return [{"iteration": t, "test_error": prediction_error(data.y_test, predict(data.X_test, eta0 * est), output)}
            for t, est in enumerate(res.estimates)]


def labels_task(params: Mapping, seed: int) -> list[dict[str, Any]]:
    """The law of ``n`` regression labels of one deep teacher (depth ``depth``, all widths
    ``d0``) and of one equivalent GLM teacher: one record per ``teacher`` and ``probability`` of
    ``quantiles`` with the ``quantile``, and the teacher's label ``variance``, ``kurtosis``
    ``E(y - m)^4 / Var^2`` and ``linear``, the variance of the labels' linear part
    (:func:`linear_variance`), the same on every record of that teacher. Book eq-equivalent-glm:
    in the limit both laws are ``N(0, eta0^2 + gamma0 + Delta)`` given the teacher, of which the
    linear part carries ``eta0^2``."""
    d0, n, depth, noise = int(params["d0"]), int(params["n"]), int(params["depth"]), float(params["noise"])
    rng = task_rng(params, seed, _LABELS, d0)
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], depth)
    deep = deep_teacher_sample(hidden_widths_of(d0, depth, 1.0), params["activation"], n, rng, gain=params["gain"],
                               output="linear", noise=noise)
    glm = glm_teacher_sample(d0, n, rng, eta0=eta0, gamma0=gamma0, output="linear", noise=noise)
    probabilities = [float(p) for p in params["quantiles"]]
    records = []
    for teacher, data in (("deep", deep), ("glm", glm)):
        y = data.y
        v = float(y.var())
        moments = {"variance": v, "kurtosis": float(np.mean((y - y.mean()) ** 4) / v**2),
                   "linear": linear_variance(data.X, y)}
        records += [{"teacher": teacher, "probability": p, "quantile": float(q), **moments}
                    for p, q in zip(probabilities, np.quantile(y, probabilities))]
    return records


def narrow_task(params: Mapping, seed: int) -> dict[str, float]:
    """ONE deep teacher of depth ``depth``, input width ``d0`` and hidden widths ``width``, with
    ``n = alpha d0`` training and ``n_test`` test samples (regression, label noise ``Delta``):

    * ``test_error``: ridge's test MSE at the GLM's ``lambda*``;
    * ``excess``: ``test_error`` minus the GLM prediction ``kappa(1 - q*) + gamma0 + Delta`` with
      the infinite-width coefficients (book eq-linear-closed-form);
    * ``linear`` and ``variance``: the teacher's own second moments, measured on its test labels:
      the variance of their linear part (:func:`linear_variance`) and their variance;
    * ``own_excess``: ``test_error`` minus ridge's asymptotic error at the same ``lambda*`` on a
      GLM with THIS teacher's second moments, ``kappa = linear``, noise ``variance - linear``
      (book eq-ridge-asymptotics): zero if ridge sees only second moments, whatever the width;
    * ``kurtosis``: the excess kurtosis of the teacher's noiseless test labels;
    * ``glm_kurtosis``: the same for ``n_test`` labels of an equivalent GLM teacher (Gaussian:
      zero up to its estimation error, a check of the estimator).
    """
    d0, width, depth, noise = int(params["d0"]), int(params["width"]), int(params["depth"]), float(params["noise"])
    alpha, n_test = float(params["alpha"]), int(params["n_test"])
    rng = task_rng(params, seed, _NARROW, d0, width)
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], depth)
    lam = bayes_ridge_lambda(eta0, gamma0, noise)
    data = deep_teacher_sample((d0,) + (width,) * depth, params["activation"], round(alpha * d0), rng,
                               gain=params["gain"], output="linear", noise=noise, n_test=n_test)
    (w,) = ridge_paths(data.X, data.y[:, None], [lam])[0]
    error = prediction_error(data.y_test, predict(data.X_test, w), "linear")
    linear, variance = linear_variance(data.X_test, data.y_test), float(data.y_test.var())
    glm = glm_teacher_sample(d0, n_test, rng, eta0=eta0, gamma0=gamma0, output="linear", noise=0.0).y
    return {"test_error": error,
            "excess": error - gaussian_closed_form(eta0**2, gamma0 + noise, alpha)["test_error"],
            "linear": linear, "variance": variance,
            "own_excess": error - ridge_regression_error(linear, variance - linear, alpha, lam),
            "kurtosis": excess_kurtosis(data.preactivation_test), "glm_kurtosis": excess_kurtosis(glm)}


# --- the GLM's predictions of what the tasks measure -------------------------------------------

def ridge_theory_curves(glms: Sequence[GLMTheory], penalty_factors: Sequence[float],
                        alphas: Sequence[float]) -> dict[str, np.ndarray]:
    """The asymptotic curves of ridge on the GLMs ``glms`` (one per depth) on a dense grid
    ``alphas``: the GLM Bayes error ``bayes`` ``(glms, alphas)`` (book eq-linear-closed-form) and
    the test MSE of ridge at ``lambda* x factor`` (book eq-ridge-asymptotics), ``ridge``
    ``(glms, factors, alphas)`` (equal to ``bayes`` at factor 1)."""
    grid = np.asarray(alphas, dtype=float)
    bayes = np.array([[gaussian_closed_form(g.kappa, g.total_noise, a)["test_error"] for a in grid] for g in glms])
    ridge = np.array([[[ridge_regression_error(g.kappa, g.total_noise, a, g.ridge_penalty * f) for a in grid]
                       for f in penalty_factors] for g in glms])
    return {"alpha": grid, "bayes": bayes, "ridge": ridge, "penalty_factor": np.asarray(penalty_factors, float)}


def gamp_theory(glm: GLMTheory, alpha: float, problem: str, iterations: int) -> np.ndarray:
    """The GLM's state-evolution prediction (book eq-state-evolution) of :func:`gamp_task`'s test
    error at ``t = 0..iterations``: regression ``kappa(1 - q_t) + gamma0 + Delta``,
    classification ``arccos(sqrt(kappa q_t/(kappa + gamma0)))/pi`` (the classification data carry
    no label noise, as in :func:`gamp_task`: ``glm.noise`` enters the regression only)."""
    noise = glm.noise if problem == "regression" else 0.0
    channel = make_channel(OUTPUT[problem], gamma0=glm.gamma0, noise=noise)
    q = state_evolution_trajectory(channel, glm.kappa, alpha, iterations)
    return np.array([channel.bayes_test_error(glm.kappa, min(max(qt, 0.0), 1.0)) for qt in q])


def bound_shape_over_widths(n: int, d_min: float, d_max: float, points: int = 200) -> dict[str, np.ndarray]:
    """The shape of Theorem 1's bound at fixed ``n`` (book eq-theorem1-bound) on a dense
    geometric grid of hidden widths ``d_m`` (the curve drawn with the narrow sweep)."""
    dms = np.geomspace(float(d_min), float(d_max), points)
    return {"d_m": dms, "rate": np.array([theorem1_bound_shape(n, dm) for dm in dms])}


@functools.lru_cache(maxsize=256)
def _glm(activation: str, gain: float, depth: int, noise: float) -> GLMTheory:
    return GLMTheory.of(activation, gain, depth, noise)


@dataclass(frozen=True)
class ReductionTheory:
    """What the claims compare the deep teachers' data with: at every depth ``L`` the equivalent
    GLM of depth ``L + depth_shift`` (a wrong theory: the GLM of the wrong depth), or of depth
    ``glm_depth`` at every depth when it is set, with ``kappa`` and ``gamma0`` scaled by
    ``kappa_scale`` and ``gamma0_scale``, and ridge's optimal penalty at ``2^optimum_shift`` times
    the theory's (book eq-ridge-bayes)."""

    activation: str
    gain: float
    noise: float
    kappa_scale: float = 1.0
    gamma0_scale: float = 1.0
    glm_depth: int | None = None
    depth_shift: int = 0
    optimum_shift: float = 0.0

    def glm(self, depth: int) -> GLMTheory:
        """The theory's GLM at ``depth``."""
        base = _glm(self.activation, self.gain, int(self.glm_depth or depth + self.depth_shift), self.noise)
        return scaled(base, kappa=self.kappa_scale, gamma0=self.gamma0_scale)


#: The second moments a :class:`MomentTheory` can give ridge: each teacher's own, or the GLM's.
MOMENTS = ("teacher", "glm")


@dataclass(frozen=True)
class MomentTheory:
    """Which second moments ridge's error on the narrow teachers depends on (book
    eq-ridge-asymptotics): ``moments="teacher"``, each teacher's own variance of the linear part
    and of the rest, measured on its test labels (ridge is linear in the labels: only these enter,
    at any width); ``"glm"``, the infinite-width coefficients ``eta0^2`` and ``gamma0`` at every
    width (the wrong theory that the narrow layers leave the second moments alone), of the GLM
    of depth ``L + depth_shift`` (a wrong depth when non-zero); both scaled by ``kappa_scale``
    and ``gamma0_scale``."""

    moments: str = "teacher"
    kappa_scale: float = 1.0
    gamma0_scale: float = 1.0
    depth_shift: int = 0

    def __post_init__(self) -> None:
        if self.moments not in MOMENTS:
            raise ValueError(f"moments must be one of {MOMENTS}, got {self.moments!r}")
