"""Chapter 2: finite-size experiments on the reduction of a deep network to a GLM.

Camilli et al. (2025), Corollary 3 and Theorem 4 (book thm-reduction): data labelled by a deep
random network (book eq-model) carry the same information, and admit the same Bayes-optimal error, as
data labelled by the GLM ``y ~ P_out(. | eta0 a.x/sqrt(d0) + sqrt(gamma0) xi)``. The functions
below generate both kinds of data from the same seeds and measure what estimators do on them;
each returns plain arrays that the notebook prints, plots and asserts on.
"""


from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from deepgep.simulate.amp import gamp
from deepgep.simulate.estimators import predict, prediction_error, regression_error, ridge_path
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample
from deepgep.support.stats import excess_kurtosis, standard_error
from deepgep.theory.channels import make_channel
from deepgep.theory.layers import equivalent_parameters, theorem1_bound_shape
from deepgep.theory.ridge import bayes_ridge_lambda, ridge_regression_error
from deepgep.theory.state_evolution import gaussian_closed_form, state_evolution_trajectory

__all__ = ["ridge_scan", "gamp_on_deep_teacher", "label_statistics", "small_width_scan",
           "label_kurtosis_scan", "ridge_theory_curves", "bound_shape_over_widths"]


def _widths(d0: int, depth: int, ratio: float) -> tuple[int, ...]:
    return (d0,) + (int(round(ratio * d0)),) * depth


def ridge_scan(
    activation: str,
    gain: float,
    depths: Sequence[int],
    width_ratios: Sequence[float],
    d0: int,
    alphas: Sequence[float],
    lambda_factors: Sequence[float],
    n_seeds: int,
    n_test: int,
    noise: float,
    rng: np.random.Generator,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Ridge regression at ``lambda* x factor`` (``lambda* = (gamma0 + Delta)/eta0^2``) trained on
    deep-teacher data and on equivalent-GLM-teacher data, linear output with label noise
    ``noise``; test errors on ``n_test`` fresh samples of the same teacher.

    Returns ``deep`` with shape ``(depths, width_ratios, alphas, factors, seeds)``, ``glm`` with
    shape ``(depths, alphas, factors, seeds)`` (the GLM teacher has no hidden widths), and the
    GLM Bayes error ``bayes`` of shape ``(depths, alphas)``.
    """
    shape = (len(depths), len(alphas), len(lambda_factors), n_seeds)
    deep = np.empty((len(depths), len(width_ratios)) + shape[1:])
    glm = np.empty(shape)
    bayes = np.empty((len(depths), len(alphas)))
    factors = np.asarray(lambda_factors, dtype=float)
    for i, L in enumerate(tqdm(depths, desc="depth", disable=not progress)):
        eta0, gamma0 = equivalent_parameters(activation, gain, L)
        lam = bayes_ridge_lambda(eta0, gamma0, noise) * factors
        for a, alpha in enumerate(alphas):
            n = max(1, int(round(alpha * d0)))
            bayes[i, a] = gaussian_closed_form(eta0**2, gamma0 + noise, alpha)["test_error"]
            for s in range(n_seeds):
                for r, ratio in enumerate(width_ratios):
                    data = deep_teacher_sample(_widths(d0, L, ratio), activation, n, rng, gain=gain,
                                               output="linear", noise=noise, n_test=n_test)
                    deep[i, r, a, :, s] = _ridge_errors(data, lam)
                data = glm_teacher_sample(d0, n, rng, eta0=eta0, gamma0=gamma0, output="linear",
                                          noise=noise, n_test=n_test)
                glm[i, a, :, s] = _ridge_errors(data, lam)
    return {"deep": deep, "glm": glm, "bayes": bayes, "alpha": np.asarray(alphas, float),
            "lambda_factor": factors, "depth": np.asarray(depths), "width_ratio": np.asarray(width_ratios)}


def _ridge_errors(data, lams: np.ndarray) -> np.ndarray:
    W = ridge_path(data.X, data.y, lams)
    return np.array([regression_error(data.X_test, data.y_test, w) for w in W])


def gamp_on_deep_teacher(
    activation: str,
    gain: float,
    depth: int,
    width_ratio: float,
    d0: int,
    alpha: float,
    output: str,
    noise: float,
    n_iter: int,
    n_seeds: int,
    n_test: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """GAMP with the equivalent GLM's channel run on deep-teacher data: the test error of its
    estimate after each iteration (mean and standard error over seeds), against the GLM's state
    evolution prediction (regression ``kappa (1 - q_t) + gamma0 + Delta``, classification
    ``arccos(sqrt(kappa q_t / (kappa + gamma0 + Delta))) / pi``)."""
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    kappa = eta0**2
    channel = make_channel(output, gamma0=gamma0, noise=noise)
    n = int(round(alpha * d0))
    errors = np.empty((n_seeds, n_iter + 1))
    for s in range(n_seeds):
        data = deep_teacher_sample(_widths(d0, depth, width_ratio), activation, n, rng, gain=gain,
                                   output=output, noise=noise, n_test=n_test)
        res = gamp(data.X, data.y, channel, eta0, n_iter=n_iter, tol=0.0, keep_estimates=True)
        errors[s] = [prediction_error(data.y_test, predict(data.X_test, eta0 * est), output)
                     for est in res.estimates]
    q = state_evolution_trajectory(channel, kappa, alpha, n_iter)
    predicted = np.array([channel.bayes_test_error(kappa, min(max(qt, 0.0), 1.0)) for qt in q])
    return {"iteration": np.arange(n_iter + 1), "error": errors.mean(0),
            "error_se": standard_error(errors), "state_evolution": predicted}


def label_statistics(
    activation: str,
    gain: float,
    depth: int,
    d0: int,
    n: int,
    n_seeds: int,
    noise: float,
    quantiles: Sequence[float],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Quantiles and moments (variance, fourth moment over squared variance) of the regression
    labels of deep teachers and of their equivalent GLM teachers, ``n_seeds`` teachers each:
    arrays of shape ``(seeds, ...)`` for ``deep`` and ``glm``."""
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    probs = np.asarray(quantiles, dtype=float)
    out = {k: np.empty((n_seeds, probs.size + 2)) for k in ("deep", "glm")}
    for s in range(n_seeds):
        deep = deep_teacher_sample(_widths(d0, depth, 1.0), activation, n, rng, gain=gain,
                                   output="linear", noise=noise).y
        glm = glm_teacher_sample(d0, n, rng, eta0=eta0, gamma0=gamma0, output="linear", noise=noise).y
        for key, y in (("deep", deep), ("glm", glm)):
            v = y.var()
            out[key][s] = np.concatenate([np.quantile(y, probs), [v, np.mean((y - y.mean()) ** 4) / v**2]])
    return {"deep": out["deep"], "glm": out["glm"], "quantiles": probs,
            "label_variance": eta0**2 + gamma0 + noise}


def small_width_scan(
    activation: str,
    gain: float,
    depth: int,
    d0: int,
    alpha: float,
    hidden_widths: Sequence[int],
    n_seeds: int,
    n_test: int,
    noise: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Ridge at ``lambda*`` on deep-teacher data with input width ``d0`` and ``n = alpha d0`` fixed
    and the hidden widths ``d_m`` shrinking: the excess test error over the GLM prediction
    (mean, standard error over seeds) against the theorem's rate shape
    ``(1 + sqrt(n/d_m) + n/d_m) / sqrt(d_m)``."""
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    lam = np.array([bayes_ridge_lambda(eta0, gamma0, noise)])
    n = int(round(alpha * d0))
    predicted = gaussian_closed_form(eta0**2, gamma0 + noise, alpha)["test_error"]
    excess = np.empty((len(hidden_widths), n_seeds))
    for i, dm in enumerate(hidden_widths):
        for s in range(n_seeds):
            data = deep_teacher_sample((d0,) + (int(dm),) * depth, activation, n, rng, gain=gain,
                                       output="linear", noise=noise, n_test=n_test)
            excess[i, s] = _ridge_errors(data, lam)[0] - predicted
    dms = np.asarray(hidden_widths, dtype=float)
    rate = np.array([theorem1_bound_shape(n, dm) for dm in dms])
    return {"d_m": dms, "n": n, "excess": excess, "rate": rate, "predicted": predicted}


def label_kurtosis_scan(
    activation: str,
    gain: float,
    depth: int,
    d0: int,
    n: int,
    hidden_widths: Sequence[int],
    n_seeds: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Excess kurtosis of the noiseless regression labels of deep teachers with hidden widths
    ``d_m`` (shape ``(widths, seeds)``), and of their equivalent GLM teachers (``(seeds,)``),
    whose labels are exactly Gaussian given the teacher: the law of the data departs from the
    GLM's as the widths shrink, whatever an estimator makes of it."""
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    deep = np.empty((len(hidden_widths), n_seeds))
    glm = np.empty(n_seeds)
    for s in range(n_seeds):
        for i, dm in enumerate(hidden_widths):
            data = deep_teacher_sample((d0,) + (int(dm),) * depth, activation, n, rng, gain=gain,
                                       output="linear", noise=0.0)
            deep[i, s] = excess_kurtosis(data.y)
        glm[s] = excess_kurtosis(glm_teacher_sample(d0, n, rng, eta0=eta0, gamma0=gamma0,
                                                    output="linear", noise=0.0).y)
    return {"d_m": np.asarray(hidden_widths, dtype=float), "deep": deep, "glm": glm}


def ridge_theory_curves(
    activation: str,
    gain: float,
    depths: Sequence[int],
    lambda_factors: Sequence[float],
    noise: float,
    alphas: Sequence[float],
) -> dict[str, np.ndarray]:
    """The asymptotic curves of :func:`ridge_scan` on a (dense) grid ``alphas``: the GLM Bayes
    error ``bayes`` ``(depths, alphas)`` and the test MSE of ridge at ``lambda* x factor``,
    ``ridge`` ``(depths, factors, alphas)`` (equal to ``bayes`` at factor 1)."""
    grid = np.asarray(alphas, dtype=float)
    bayes = np.empty((len(depths), grid.size))
    ridge = np.empty((len(depths), len(lambda_factors), grid.size))
    for i, L in enumerate(depths):
        eta0, gamma0 = equivalent_parameters(activation, gain, L)
        lam = bayes_ridge_lambda(eta0, gamma0, noise)
        for a, alpha in enumerate(grid):
            bayes[i, a] = gaussian_closed_form(eta0**2, gamma0 + noise, alpha)["test_error"]
            for f, factor in enumerate(lambda_factors):
                ridge[i, f, a] = ridge_regression_error(eta0**2, gamma0 + noise, alpha, lam * factor)
    return {"alpha": grid, "bayes": bayes, "ridge": ridge, "lambda_factor": np.asarray(lambda_factors, float)}


def bound_shape_over_widths(n: int, d_min: float, d_max: float, points: int = 200) -> dict[str, np.ndarray]:
    """The shape of Theorem 1's bound at fixed ``n`` on a dense geometric grid of hidden widths
    ``d_m`` (the curve drawn with :func:`small_width_scan`'s measurements)."""
    dms = np.geomspace(float(d_min), float(d_max), points)
    return {"d_m": dms, "rate": np.array([theorem1_bound_shape(n, dm) for dm in dms])}
