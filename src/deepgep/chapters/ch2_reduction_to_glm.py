"""Chapter 2: finite-size experiments on the reduction of a deep network to a GLM.

Camilli et al. (2025), Corollary 3 and Theorem 4 (book thm-reduction): data labelled by a deep
random network (book eq-model) carry the same information, and admit the same Bayes-optimal
error, as data labelled by the GLM ``y ~ P_out(. | eta0 a.x/sqrt(d0) + sqrt(gamma0) xi)``
(book eq-equivalent-glm). The chapter's simulations are sweeps of independent teachers
(:func:`sweeps`): each ``*_task(params, seed)`` draws its own teacher(s) from its own random
stream and returns summary numbers; the notebook, the claims (:func:`claims`, in
:mod:`deepgep.chapters.ch2_claims`) and ``deepgep results verify`` read the same records.
"""


from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepgep.simulate.amp import gamp
from deepgep.simulate.estimators import predict, prediction_error, ridge_paths
from deepgep.simulate.networks import forward, gaussian_inputs, sample_network
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z, z_test
from deepgep.support.stats import excess_kurtosis, inverse_size_extrapolation, loglog_slope, mean_and_error, standard_error
from deepgep.support.sweeps import field_matrix, grid_product, Sweep, task_rng
from deepgep.theory.channels import make_channel
from deepgep.theory.layers import equivalent_parameters, theorem1_bound_shape
from deepgep.theory.ridge import bayes_ridge_lambda, ridge_regression_error
from deepgep.theory.state_evolution import gaussian_closed_form, state_evolution_trajectory

__all__ = ["field", "ridge_task", "gamp_task", "gamp_theory", "labels_task", "narrow_task", "sweeps",
           "ridge_theory_curves", "bound_shape_over_widths", "LABEL_STATISTICS", "ridge_means",
           "size_extrapolation", "penalty_vertex", "kurtosis_exponent", "claims"]

#: Tags of the experiments in the seeds of their random streams.
_RIDGE, _GAMP, _LABELS, _NARROW = 1, 2, 3, 4
#: The label statistics of :func:`labels_task`, besides the quantiles.
LABEL_STATISTICS = ("variance", "kurtosis")


def field(name: str, **keys: float) -> str:
    """The record column of quantity ``name`` at the given keys, e.g.
    ``field("deep", L=2, a=0.5, f=1)`` is ``"deep@L=2,a=0.5,f=1"``."""
    return name + "@" + ",".join(f"{k}={float(v):g}" for k, v in keys.items())



def _widths(d0: int, depth: int, ratio: float) -> tuple[int, ...]:
    return (d0,) + (int(round(ratio * d0)),) * depth


def ridge_task(params: Mapping, seed: int) -> dict[str, float]:
    """Ridge on deep-teacher and equivalent-GLM-teacher data sharing the same inputs.

    One network of depth ``max(depths)`` and hidden widths ``ratio d0`` serves every depth (the
    depth-``L`` teacher is its first ``L`` layers with its own readout ``a_L``), and one GLM
    teacher per depth (``eta0, gamma0`` of that depth, own readout) labels the SAME inputs, so
    deep and GLM errors are paired. Labels ``s + sqrt(Delta) xi'`` (deep: ``s = a_L.X^L/sqrt(d_L)``;
    GLM: ``s = eta0 a.X^0/sqrt(d0) + sqrt(gamma0) xi``). Training sets are nested prefixes of one
    draw of ``round(max(alphas) d0)`` inputs; ``n_test`` fresh inputs test every fit. Ridge at
    ``lambda* x f`` (``lambda* = (gamma0 + Delta)/eta0^2``, book eq-ridge-bayes) for ``f`` in
    ``factors`` on deep data, at ``lambda*`` on GLM data: fields ``deep@L,a,f`` and ``glm@L,a``.
    """
    d0, ratio, noise = int(params["d0"]), float(params["ratio"]), float(params["noise"])
    depths, alphas = [int(L) for L in params["depths"]], [float(a) for a in params["alphas"]]
    factors = np.asarray(params["factors"], dtype=float)
    rng = task_rng(params, seed, _RIDGE, d0, round(100 * ratio))
    network = sample_network(_widths(d0, max(depths), ratio), params["activation"], rng, params["gain"])
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
    record = {}
    for alpha in alphas:
        m = max(1, round(alpha * d0))
        W = ridge_paths(layers[0][:m], Y[:m], np.concatenate(lams))  # columns x all lambdas x d0
        for i, L in enumerate(depths):
            own = slice(i * factors.size, (i + 1) * factors.size)
            errors = np.mean((Y_test[:, 2 * i, None] - _predictions(X_test, W[2 * i, own])) ** 2, axis=0)
            for f, err in zip(factors, errors):
                record[field("deep", L=L, a=alpha, f=f)] = float(err)
            star = own.start + int(np.flatnonzero(factors == 1.0)[0])
            record[field("glm", L=L, a=alpha)] = prediction_error(Y_test[:, 2 * i + 1],
                                                                  predict(X_test, W[2 * i + 1, star]), "linear")
    return record


def _predictions(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The predictions ``X w / sqrt(d)`` of every row ``w`` of ``W`` (``n x rows``)."""
    return X @ W.T / math.sqrt(X.shape[1])


def gamp_task(params: Mapping, seed: int) -> dict[str, float]:
    """GAMP built for the equivalent GLM (channel with ``eta0, gamma0``; book eq-gamp) run on the
    data of one deep teacher of depth ``depth`` and all widths ``d0``, ``n = alpha d0``: its test
    error on ``n_test`` fresh samples after each iteration ``t = 0..n_iter``, for the ``task``'s
    output (regression: linear with noise ``Delta``; classification: sign). Fields ``error@t``."""
    d0, alpha, task = int(params["d0"]), float(params["alpha"]), params["task"]
    output, noise = ("linear", float(params["noise"])) if task == "regression" else ("sign", 0.0)
    rng = task_rng(params, seed, _GAMP, d0, 0 if task == "regression" else 1)
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], int(params["depth"]))
    data = deep_teacher_sample(_widths(d0, int(params["depth"]), 1.0), params["activation"], round(alpha * d0),
                               rng, gain=params["gain"], output=output, noise=noise, n_test=int(params["n_test"]))
    res = gamp(data.X, data.y, make_channel(output, gamma0=gamma0, noise=noise), eta0,
               n_iter=int(params["n_iter"]), tol=0.0, keep_estimates=True)
    return {field("error", t=t): prediction_error(data.y_test, predict(data.X_test, eta0 * est), output)
            for t, est in enumerate(res.estimates)}


def gamp_theory(activation: str, gain: float, depth: int, alpha: float, task: str, noise: float,
                n_iter: int, gamma0: float | None = None) -> np.ndarray:
    """The GLM's state-evolution prediction of :func:`gamp_task`'s test error at ``t = 0..n_iter``
    (regression ``kappa(1 - q_t) + gamma0 + Delta``, classification
    ``arccos(sqrt(kappa q_t/(kappa + gamma0)))/pi``; book eq-state-evolution); ``gamma0``
    overrides the equivalent GLM's (a wrong theory for the claims)."""
    eta0, g0 = equivalent_parameters(activation, gain, depth)
    g0 = g0 if gamma0 is None else gamma0
    output, noise = ("linear", noise) if task == "regression" else ("sign", 0.0)
    channel = make_channel(output, gamma0=g0, noise=noise)
    q = state_evolution_trajectory(channel, eta0**2, alpha, n_iter)
    return np.array([channel.bayes_test_error(eta0**2, min(max(qt, 0.0), 1.0)) for qt in q])


def labels_task(params: Mapping, seed: int) -> dict[str, float]:
    """Quantiles (``quantiles``), variance and kurtosis ``E(y - m)^4 / Var^2`` of ``n`` regression
    labels of one deep teacher (depth ``depth``, all widths ``d0``) and of one equivalent GLM
    teacher: fields ``deep@q=p``, ``glm@q=p``, ``deep@variance`` ... (book eq-equivalent-glm: in
    the limit both laws are ``N(0, eta0^2 + gamma0 + Delta)`` given the teacher)."""
    d0, n, depth, noise = int(params["d0"]), int(params["n"]), int(params["depth"]), float(params["noise"])
    rng = task_rng(params, seed, _LABELS, d0)
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], depth)
    labels = {"deep": deep_teacher_sample(_widths(d0, depth, 1.0), params["activation"], n, rng,
                                          gain=params["gain"], output="linear", noise=noise).y,
              "glm": glm_teacher_sample(d0, n, rng, eta0=eta0, gamma0=gamma0, output="linear", noise=noise).y}
    record = {}
    for kind, y in labels.items():
        for p, q in zip(params["quantiles"], np.quantile(y, params["quantiles"])):
            record[field(kind, q=p)] = float(q)
        v = float(y.var())
        record[f"{kind}@variance"] = v
        record[f"{kind}@kurtosis"] = float(np.mean((y - y.mean()) ** 4) / v**2)
    return record


def narrow_task(params: Mapping, seed: int) -> dict[str, float]:
    """A deep teacher of depth ``depth``, input width ``d0`` and hidden widths ``d_m``:

    * ``excess``: ridge's test error at the GLM's ``lambda*`` on ``n = alpha d0`` samples minus
      the GLM prediction ``kappa(1 - q*) + gamma0 + Delta`` (book eq-linear-closed-form);
    * ``kurtosis``: the excess kurtosis of ``kurtosis_n`` noiseless labels of the same teacher;
    * ``glm_kurtosis``: the same for an equivalent GLM teacher (Gaussian labels: zero).
    """
    d0, dm, depth, noise = int(params["d0"]), int(params["d_m"]), int(params["depth"]), float(params["noise"])
    alpha = float(params["alpha"])
    rng = task_rng(params, seed, _NARROW, d0, dm)
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], depth)
    widths = (d0,) + (dm,) * depth
    data = deep_teacher_sample(widths, params["activation"], round(alpha * d0), rng, gain=params["gain"],
                               output="linear", noise=noise, n_test=int(params["n_test"]))
    (w,) = ridge_paths(data.X, data.y[:, None], [bayes_ridge_lambda(eta0, gamma0, noise)])[0]
    predicted = gaussian_closed_form(eta0**2, gamma0 + noise, alpha)["test_error"]
    kurt = deep_teacher_sample(widths, params["activation"], int(params["kurtosis_n"]), rng,
                               gain=params["gain"], output="linear", noise=0.0).y
    glm = glm_teacher_sample(d0, int(params["kurtosis_n"]), rng, eta0=eta0, gamma0=gamma0, output="linear",
                             noise=0.0).y
    return {"excess": prediction_error(data.y_test, predict(data.X_test, w), "linear") - predicted,
            "kurtosis": excess_kurtosis(kurt), "glm_kurtosis": excess_kurtosis(glm)}


_MODULE = "deepgep.chapters.ch2_reduction_to_glm"


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's four sweeps from the notebook's parameters ``p``: ``ridge`` (per input width
    and hidden-width ratio), ``gamp`` (per task), ``labels`` and ``narrow`` (per hidden width)."""
    common = {"base_seed": p["SEED"], "activation": p["ACTIVATION"], "gain": p["GAIN"], "noise": p["DELTA"]}
    ridge_grid = [{"d0": int(d0), "ratio": 1.0} for d0 in p["RIDGE_D0S"]]
    ridge_grid += [{"d0": int(max(p["RIDGE_D0S"])), "ratio": float(r)} for r in p["WIDTH_RATIOS"] if r != 1.0]
    return {
        "ridge": Sweep(2, "ridge", preset, f"{_MODULE}:ridge_task", grid=ridge_grid,
                       seeds=range(p["RIDGE_SEEDS"]),
                       constants={**common, "depths": list(p["DEPTHS"]), "alphas": list(p["ALPHAS"]),
                                  "factors": list(p["LAMBDA_FACTORS"]), "n_test": p["N_TEST"]}),
        "gamp": Sweep(2, "gamp", preset, f"{_MODULE}:gamp_task", grid=grid_product(task=["regression", "classification"]),
                      seeds=range(p["N_SEEDS"]),
                      constants={**common, "d0": p["GAMP_D0"], "alpha": p["GAMP_ALPHA"], "depth": p["GAMP_DEPTH"],
                                 "n_iter": p["GAMP_ITERATIONS"], "n_test": p["N_TEST"]}),
        "labels": Sweep(2, "labels", preset, f"{_MODULE}:labels_task", grid=[{"d0": p["LABEL_D0"]}],
                        seeds=range(p["N_SEEDS"]),
                        constants={**common, "n": p["LABEL_N"], "depth": p["GAMP_DEPTH"],
                                   "quantiles": list(p["QUANTILES"])}),
        "narrow": Sweep(2, "narrow", preset, f"{_MODULE}:narrow_task", grid=grid_product(d_m=p["HIDDEN_WIDTHS"]),
                        seeds=range(p["NARROW_SEEDS"]),
                        constants={**common, "d0": p["SMALL_D0"], "alpha": p["SMALL_ALPHA"], "depth": p["SMALL_DEPTH"],
                                   "n_test": p["N_TEST"], "kurtosis_n": p["KURTOSIS_N"]}),
    }


def ridge_theory_curves(
    activation: str,
    gain: float,
    depths: Sequence[int],
    lambda_factors: Sequence[float],
    noise: float,
    alphas: Sequence[float],
) -> dict[str, np.ndarray]:
    """The asymptotic curves of :func:`ridge_task`'s errors on a (dense) grid ``alphas``: the GLM Bayes
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
    ``d_m`` (the curve drawn with :func:`narrow_task`'s measurements)."""
    dms = np.geomspace(float(d_min), float(d_max), points)
    return {"d_m": dms, "rate": np.array([theorem1_bound_shape(n, dm) for dm in dms])}


# --- reading the records ------------------------------------------------------------------------


def ridge_means(rows: Sequence[Mapping[str, Any]], d0: int, ratio: float, depth: int,
                alphas: Sequence[float], factor: float = 1.0, kind: str = "deep") -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over teachers of ridge's test error (``kind`` ``"deep"`` at
    ``lambda* x factor``, ``"glm"`` at ``lambda*``, or ``"paired"``: deep minus GLM on the same
    inputs) at every ``alpha``, from :func:`ridge_task`'s rows at ``(d0, ratio)``."""
    where = {"d0": int(d0), "ratio": float(ratio)}
    deep = field_matrix(rows, [field("deep", L=depth, a=a, f=factor) for a in alphas], **where)
    glm = field_matrix(rows, [field("glm", L=depth, a=a) for a in alphas], **where)
    return mean_and_error({"deep": deep, "glm": glm, "paired": deep - glm}[kind])


def size_extrapolation(rows: Sequence[Mapping[str, Any]], d0s: Sequence[int], depth: int, alpha: float,
                       reference: float, kind: str = "deep") -> dict[str, Any]:
    """The deviation of ridge's error at ``lambda*`` (``kind`` as in :func:`ridge_means`) from
    ``reference`` at every input width of ``d0s`` (hidden widths ``d0``), and the weighted fit
    ``limit + slope/d0`` (:func:`deepgep.support.stats.inverse_size_extrapolation`): the record
    :func:`deepgep.support.plotting.finite_size_figure` draws."""
    means, ses = zip(*[(m[0], e[0]) for m, e in (ridge_means(rows, d0, 1.0, depth, [alpha], kind=kind) for d0 in d0s)])
    dev = np.array(means) - reference
    fit = inverse_size_extrapolation(np.asarray(d0s, float), dev, np.array(ses))
    return {"d0": np.asarray(d0s, float), "deviation": dev, "se": np.array(ses), "limit": fit.limit,
            "limit_se": fit.limit_se, "slope": fit.slope, "slope_se": fit.slope_se, "chi2_per_dof": fit.chi2_per_dof}


def _vertex(d_half: np.ndarray, d_two: np.ndarray) -> np.ndarray:
    """Vertex ``u`` (in ``log2`` of the penalty factor) of the parabola through the excesses
    ``E(lambda/2) - E(lambda)`` and ``E(2 lambda) - E(lambda)``."""
    return -(d_two - d_half) / (2.0 * (d_two + d_half))


def penalty_vertex(rows: Sequence[Mapping[str, Any]], d0: int, depth: int, alphas: Sequence[float],
                   p: Mapping[str, Any], shift: float = 0.0) -> dict[str, float]:
    """Where is ridge's error smallest in ``lambda``? The paired excesses of ``lambda*/2`` and
    ``2 lambda*`` over ``lambda*`` (same teachers, same data), averaged over ``alphas``, locate
    the minimum by a parabola in ``u = log2(lambda/lambda*)``; its standard error is the
    jackknife's over teachers. The reference is the same parabola through the asymptotic ridge
    errors (book eq-ridge-asymptotics) at the same penalties, plus ``shift`` (a wrong theory that puts
    the optimum at ``2^shift lambda*``)."""
    E = {f: field_matrix(rows, [field("deep", L=depth, a=a, f=f) for a in alphas], d0=int(d0), ratio=1.0).mean(0)
         for f in (0.5, 1.0, 2.0)}
    half, two = E[0.5] - E[1.0], E[2.0] - E[1.0]
    k = half.size
    jack = np.array([_vertex(np.delete(half, i).mean(), np.delete(two, i).mean()) for i in range(k)])
    se = math.sqrt((k - 1) / k * np.sum((jack - jack.mean()) ** 2))
    eta0, gamma0 = equivalent_parameters(p["ACTIVATION"], p["GAIN"], depth)
    lam = bayes_ridge_lambda(eta0, gamma0, p["DELTA"])
    th = {f: np.mean([ridge_regression_error(eta0**2, gamma0 + p["DELTA"], a, lam * f) for a in alphas])
          for f in (0.5, 1.0, 2.0)}
    return {"vertex": float(_vertex(half.mean(), two.mean())), "se": se,
            "reference": float(_vertex(th[0.5] - th[1.0], th[2.0] - th[1.0])) + shift}


def kurtosis_exponent(rows: Sequence[Mapping[str, Any]], widths: Sequence[int]) -> dict[str, float]:
    """The exponent ``b`` of ``|excess kurtosis| ~ d_m^b`` of the deep teacher's labels over the
    hidden widths ``widths`` (least squares on log-log of the means over teachers)."""
    means = [field_matrix(rows, ["kurtosis"], d_m=int(w))[0].mean() for w in widths]
    slope, se = loglog_slope(np.asarray(widths, float), -np.array(means))
    return {"exponent": slope, "se": se}


# --- the chapter's claims ---------------------------------------------------------------------------


def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 2's quantitative claims on the rows of its sweeps and the notebook's parameters
    ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    d0s, alphas, depths, delta = list(p["RIDGE_D0S"]), list(p["ALPHAS"]), list(p["DEPTHS"]), p["DELTA"]

    def glm(L, t):
        eta0, gamma0 = equivalent_parameters(p["ACTIVATION"], p["GAIN"], t.get("depth_of_glm", L))
        return eta0**2, gamma0 * t.get("gamma0_factor", 1.0)

    def bayes_limit(t):
        zs = []
        for L in depths:
            kappa, gamma0 = glm(L, t)
            for a in alphas:
                ref = gaussian_closed_form(kappa, gamma0 + delta, a)["test_error"]
                fit = size_extrapolation(rows["ridge"], d0s, L, a, ref)
                zs.append(abs(fit["limit"]) / fit["limit_se"])
        return Test(max(zs), CLAIM_Z, f"largest |limit|/se over {len(zs)} (depth, alpha): {max(zs):.2f}")

    def vertex_test(t):
        v = [penalty_vertex(rows["ridge"], max(d0s), L, alphas, p, t.get("shift", 0.0)) for L in depths]
        return max_abs_z([x["vertex"] for x in v], [x["se"] for x in v], [x["reference"] for x in v], CLAIM_Z,
                         f"d0 = {max(d0s)}, vertex in log2(lambda/lambda*) per depth: "
                         + ", ".join(f"{x['vertex']:+.3f} +- {x['se']:.3f} (theory {x['reference']:+.3f})" for x in v)
                         + "; ")

    def gamp_test(t):
        ests, ses, refs = [], [], []
        for task in ("regression", "classification"):
            g0 = equivalent_parameters(p["ACTIVATION"], p["GAIN"], p["GAMP_DEPTH"])[1] * t.get("gamma0_factor", 1.0)
            ref = gamp_theory(p["ACTIVATION"], p["GAIN"], p["GAMP_DEPTH"], p["GAMP_ALPHA"], task, delta,
                              p["GAMP_ITERATIONS"], gamma0=g0)
            chosen = [r for r in rows["gamp"] if r["task"] == task]
            m, se = mean_and_error(field_matrix(chosen, [field("error", t=i) for i in range(ref.size)]))
            ests += list(m[1:])
            ses += list(se[1:])
            refs += list(ref[1:])
        return max_abs_z(ests, ses, refs, CLAIM_Z, f"d0 = {p['GAMP_D0']}, iterations 1..{p['GAMP_ITERATIONS']}, both tasks: ")

    def variance_test(t):
        kappa, gamma0 = glm(p["GAMP_DEPTH"], t)
        v = field_matrix(rows["labels"], ["deep@variance"])[0]
        return z_test(v.mean(), standard_error(v), kappa + gamma0 + delta, CLAIM_Z, "deep labels' variance ")

    def narrow_test(t):
        kappa, gamma0 = glm(p["SMALL_DEPTH"], t)
        true_kappa, true_gamma0 = glm(p["SMALL_DEPTH"], {})
        shift = (gaussian_closed_form(true_kappa, true_gamma0 + delta, p["SMALL_ALPHA"])["test_error"]
                 - gaussian_closed_form(kappa, gamma0 + delta, p["SMALL_ALPHA"])["test_error"])
        m, se = mean_and_error(np.array([field_matrix(rows["narrow"], ["excess"], d_m=w)[0] for w in p["HIDDEN_WIDTHS"]]))
        return max_abs_z(m + shift, se, np.zeros(m.size), CLAIM_Z, f"d0 = {p['SMALL_D0']}, over the hidden widths: ")

    half = {"gamma0 -> gamma0/2": {"gamma0_factor": 0.5}}
    return [
        Claim(2, "ridge on deep data -> GLM Bayes error",
              f"Ridge at lambda* trained on deep-teacher data has, extrapolated to d0 -> infinity (fit "
              f"g + c/d0 over d0 = {d0s}), the test error of the equivalent GLM's Bayes error at every "
              f"depth and alpha (|limit|/se <= {CLAIM_Z}).",
              bayes_limit, {}, {**half, "depth-1 GLM at every depth": {"depth_of_glm": 1}}),
        Claim(2, "lambda* is ridge's optimal penalty",
              f"On deep-teacher data at d0 = {max(d0s)}, the penalty minimising ridge's error, located by "
              "the paired errors at lambda*/2, lambda*, 2 lambda*, is where the GLM theory puts it "
              f"(|z| <= {CLAIM_Z} at every depth).",
              vertex_test, {}, {"lambda* -> 2 lambda*": {"shift": 1.0}, "lambda* -> lambda*/2": {"shift": -1.0}}),
        Claim(2, "GAMP on deep data = GLM state evolution",
              f"GAMP built for the equivalent GLM, run on deep-teacher data (d0 = {p['GAMP_D0']}), has at every "
              f"iteration the test error the GLM's state evolution predicts, in both tasks (|z| <= {CLAIM_Z}).",
              gamp_test, {}, half),
        Claim(2, "label variance = eta0^2 + gamma0 + Delta",
              f"The variance of a deep teacher's regression labels (d0 = {p['LABEL_D0']}) is the equivalent "
              f"GLM's eta0^2 + gamma0 + Delta (|z| <= {CLAIM_Z}).",
              variance_test, {}, {"gamma0 dropped": {"gamma0_factor": 0.0}, **half}),
        Claim(2, "ridge sees only second moments, at any width",
              f"Ridge at lambda* on deep-teacher data with narrow hidden layers (d_m = {list(p['HIDDEN_WIDTHS'])}, "
              f"d0 = {p['SMALL_D0']}) still has the GLM's error at every width (|z| <= {CLAIM_Z}): the "
              "coefficients eta0, gamma0 fix the data's second moments whatever the width, so ridge's "
              "agreement tests them and not the reduction itself.",
              narrow_test, {}, half),
    ]
