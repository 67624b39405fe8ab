"""Chapter 8: deep equilibrium models as Gaussian processes (Gao et al. 2023; book thm-deq-gp,
thm-deq-pd, eq-deq-kernel, eq-deq-contraction, eq-deq-rate): the finite-width DEQ against its kernel
fixed point, the order of the limits, the smallest eigenvalue of the kernel, ridge on the digits.

The expensive experiments are sweeps of tasks ``(params, seed) -> record`` (:func:`sweeps`);
:func:`claims` tests the theory on their rows. The hypothesis of thm-deq-gp: the DEQ map
``h -> phi(W h + U x)`` is a contraction of ``R^n`` with factor ``q = Lip(phi) ||W||_op`` when
``q < 1``, and ``||W||_op -> 2 sigma_w`` (Bai-Yin), so ``2 sigma_w Lip(phi) < 1`` puts a draw
inside it with probability tending to 1. Tasks record ``q`` (:func:`contraction_factor`); draws
with ``q >= 1`` and draws whose iteration did not converge are counted, never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.sparse.linalg import svds

from deepgep.simulate.deq import (FORWARD_MAX_ITER, FORWARD_TOLERANCE, deq_forward, empirical_kernel,
                                  network_batches, sample_weights, weight_tied_states)
from deepgep.simulate.estimators import kernel_ridge_classification
from deepgep.support.claims import CLAIM_Z, Claim, Test
from deepgep.support.datasets import digits
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_design
from deepgep.theory.deq import (ContractionError, KernelFixedPoint, deq_kernel, derivative_second_moment,
                                input_kernel, weight_tied_kernels)

__all__ = ["DEQModel", "forward_convergence", "contraction_scan", "failure_fractions", "min_eigenvalue_scan",
           "kernel_ridge_comparison", "sphere_inputs", "eigen_inputs", "contraction_factor", "kernel_field",
           "kernel_task", "gaussianity_task", "limits_task", "eigen_task", "sweeps", "kernel_samples", "width_means",
           "power_fit", "extrapolate", "gaussianity_summary", "eigen_fit", "KURTOSIS_POWERS", "claims"]


@dataclass(frozen=True)
class DEQModel:
    """The shared settings of the chapter's experiments: activation, ``sigma_w``, ``sigma_u``."""

    activation: str
    sigma_w: float
    sigma_u: float

    def kernel(self, X: np.ndarray, **kwargs) -> KernelFixedPoint:
        """``Sigma*`` on the inputs ``X`` (rows)."""
        return deq_kernel(input_kernel(X, self.sigma_u), self.activation, self.sigma_w, **kwargs)


def _tail_rate(r: np.ndarray) -> float:
    """The geometric rate of the residuals ``r`` over their second half."""
    half = r.size // 2
    return float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half)))


def forward_convergence(model: DEQModel, X: np.ndarray, n: int, rng: np.random.Generator,
                        tol: float = FORWARD_TOLERANCE) -> dict[str, object]:
    """Residual traces of plain iteration and Anderson acceleration on one width-``n`` DEQ
    (same weights), with the geometric rate of the plain iteration over its second half and
    its prediction ``sqrt(ell)``."""
    X = check_design(X)
    W, U = sample_weights(n, X.shape[1], model.sigma_w, model.sigma_u, rng)
    plain = deq_forward(W, U, X, model.activation, method="iteration", tol=tol)
    anderson = deq_forward(W, U, X, model.activation, method="anderson", tol=tol)
    return {"plain": plain, "anderson": anderson, "rate": _tail_rate(plain.residuals),
            "predicted_rate": math.sqrt(model.kernel(X).lipschitz),
            "gap": float(np.max(np.abs(plain.h - anderson.h)))}


def contraction_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float, n: int,
                     rng: np.random.Generator, max_iter: int = FORWARD_MAX_ITER) -> dict[str, np.ndarray]:
    """For each ``sigma_w``: ``ell`` (also when :func:`deq_kernel` raises :class:`ContractionError`),
    whether one width-``n`` DEQ on ``X`` converges by plain iteration within ``max_iter`` steps,
    and its geometric rate over the second half of the iterations (``nan`` if not converged)."""
    X = check_design(X)
    ells, converged, rates = [], [], []
    for sw in sigma_ws:
        try:
            ells.append(DEQModel(activation, float(sw), sigma_u).kernel(X).lipschitz)
        except ContractionError as err:
            ells.append(err.lipschitz)
        W, U = sample_weights(n, X.shape[1], float(sw), sigma_u, rng)
        sol = deq_forward(W, U, X, activation, max_iter=max_iter, allow_failures=True)
        converged.append(bool(sol.converged))
        rates.append(_tail_rate(sol.residuals) if converged[-1] else math.nan)
    return {"sigma_w": np.asarray(sigma_ws, dtype=float), "lipschitz": np.array(ells),
            "converged": np.array(converged), "rate": np.array(rates)}


def failure_fractions(model: DEQModel, x: np.ndarray, n: int, n_networks: int, rng: np.random.Generator,
                      max_iter: int = FORWARD_MAX_ITER) -> dict[str, float]:
    """Out of ``n_networks`` width-``n`` DEQs on the input ``x``: the fractions of draws with
    ``q >= 1`` (outside the contraction hypothesis), of draws whose iteration does not converge
    within ``max_iter`` steps, and of those with ``q < 1`` (converging, but too slowly)."""
    W, U = sample_weights(n, x.size, model.sigma_w, model.sigma_u, rng, n_networks)
    sol = deq_forward(W, U, np.atleast_2d(x), model.activation, max_iter=max_iter, allow_failures=True)
    ok, q = np.asarray(sol.converged, dtype=bool), contraction_factor(W, model.activation)
    return {"q >= 1": float(np.mean(q >= 1)), "not converged": float(np.mean(~ok)),
            "not converged, q < 1": float(np.mean(~ok & (q < 1)))}


def min_eigenvalue_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float) -> np.ndarray:
    """``lambda_min(Sigma*)`` for each ``sigma_w > 0`` (``Sigma* = 0`` at ``sigma_w = 0``)."""
    return np.array([np.linalg.eigvalsh(DEQModel(activation, float(s), sigma_u).kernel(X).sigma)[0]
                     for s in sigma_ws])


def kernel_ridge_comparison(model: DEQModel, n_train: int, n_test: int, ridges,
                            rng: np.random.Generator) -> dict[str, object]:
    """Digits classified by kernel ridge with ``Sigma*`` against the linear kernel ``Sigma1``
    (ridge on the pixels): the accuracies, the paired counts ``deq_only`` (test images right with
    ``Sigma*`` only) and ``linear_only``, and McNemar's statistic ``(b - c) / sqrt(b + c)``."""
    X_train, y_train, X_test, y_test = digits(n_train, n_test, rng)
    X, y = np.vstack([X_train, X_test]), np.concatenate([y_train, y_test])
    fp = model.kernel(X)
    pred_deq, ridge_deq = kernel_ridge_classification(fp.sigma, y, n_train, ridges)
    pred_lin, ridge_lin = kernel_ridge_classification(input_kernel(X, model.sigma_u), y, n_train, ridges)
    right_deq, right_lin = pred_deq == y_test, pred_lin == y_test
    b, c = int(np.sum(right_deq & ~right_lin)), int(np.sum(~right_deq & right_lin))
    return {"accuracy_deq": float(right_deq.mean()), "accuracy_linear": float(right_lin.mean()),
            "deq_only": b, "linear_only": c, "mcnemar": (b - c) / math.sqrt(max(b + c, 1)),
            "ridge_deq": ridge_deq, "ridge_linear": ridge_lin, "iterations": fp.iterations}


# --- the chapter's sweeps -------------------------------------------------------------------------

#: Tags of the experiments (and of the inputs) in the seeds of their random streams.
_KERNEL, _GAUSS, _LIMITS, _EIGEN, _INPUTS = 1, 2, 3, 4, 5
#: The activations whose Lipschitz constant is ``|phi'(0)|`` (odd, ``|phi'|`` largest at 0).
_LIPSCHITZ_AT_ZERO = ("tanh", "erf", "sin")
#: Above this width ``||W||_op`` is computed by Lanczos (relative tolerance ``_NORM_TOLERANCE``).
_DENSE_NORM_WIDTH, _NORM_TOLERANCE = 256, 1e-10
#: Powers of ``1/n`` in the fit of the output's excess kurtosis: ``c/n`` and its correction ``d/n^2``.
KURTOSIS_POWERS = (1.0, 2.0)


def sphere_inputs(base_seed: int, n_inputs: int, dim: int) -> np.ndarray:
    """The chapter's inputs: ``n_inputs`` Gaussian vectors of dimension ``dim`` rescaled to
    ``<x, x>/d = 1`` (their own random stream: the same in every task and in the notebook)."""
    X = np.random.default_rng([int(base_seed), _INPUTS, 0]).standard_normal((int(n_inputs), int(dim)))
    return X * (math.sqrt(dim) / np.linalg.norm(X, axis=1, keepdims=True))


def eigen_inputs(base_seed: int, n_inputs: int) -> np.ndarray:
    """``n_inputs`` images of the ``digits`` data set (centred and normalised), a random choice
    from their own stream (the same in every task and in the notebook)."""
    return digits(int(n_inputs), 1, np.random.default_rng([int(base_seed), _INPUTS, 1]))[0]


def contraction_factor(W: np.ndarray, activation: str) -> np.ndarray | float:
    """``q = Lip(phi) ||W||_op`` of each network (leading axes of ``W``): the DEQ map is a
    contraction of ``R^n`` with factor ``q`` when ``q < 1`` (module docstring). ``Lip(phi) =
    |phi'(0)|`` for the odd activations tanh, erf and sin."""
    if activation not in _LIPSCHITZ_AT_ZERO:
        raise ValueError(f"contraction_factor supports {', '.join(_LIPSCHITZ_AT_ZERO)}, got {activation!r}")
    lip = math.sqrt(float(derivative_second_moment(activation, np.zeros(1))[0]))
    W = np.asarray(W, dtype=float)
    if W.shape[-1] <= _DENSE_NORM_WIDTH:
        q = lip * np.linalg.norm(W, ord=2, axis=(-2, -1))
    else:  # the largest singular value by Lanczos (a full SVD costs n^3)
        q = lip * np.array([svds(w, k=1, v0=np.ones(w.shape[1]), tol=_NORM_TOLERANCE, return_singular_vectors=False)[0]
                            for w in W.reshape(-1, *W.shape[-2:])]).reshape(W.shape[:-2])
    return float(q) if np.ndim(q) == 0 else q


def kernel_field(i: int, j: int) -> str:
    """The record column of the kernel entry ``(i, j)``, ``i <= j``."""
    return f"k{i}_{j}"


def _rng(params: Mapping, seed: int, tag: int) -> np.random.Generator:  # one stream per experiment, width, seed
    return np.random.default_rng([int(params["base_seed"]), tag, int(params["width"]), int(seed)])


def _network(params: Mapping, X: np.ndarray, rng: np.random.Generator, n_networks: int | None = None):
    """``W, U`` of width ``params["width"]`` and their DEQ on ``X`` (failures allowed: flagged)."""
    W, U = sample_weights(int(params["width"]), X.shape[1], params["sigma_w"], params["sigma_u"], rng, n_networks)
    sol = deq_forward(W, U, X, params["activation"], max_iter=int(params["max_iter"]), allow_failures=True)
    return W, U, sol


def kernel_task(params: Mapping, seed: int) -> dict[str, Any]:
    """One width-``width`` DEQ on the chapter's inputs: every entry ``k<i>_<j>`` (``i <= j``) of
    its empirical kernel ``K_n = sigma_w^2 h*^T h* / n``, its contraction factor ``q``, whether
    the iteration converged and in how many steps."""
    X = sphere_inputs(params["base_seed"], params["n_inputs"], params["input_dim"])
    W, _, sol = _network(params, X, _rng(params, seed, _KERNEL))
    K = empirical_kernel(sol.h, params["sigma_w"])
    return {**{kernel_field(i, j): float(K[i, j]) for i, j in zip(*np.triu_indices(K.shape[0]))},
            "q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged)),
            "iterations": int(sol.iterations)}


def gaussianity_task(params: Mapping, seed: int) -> dict[str, Any]:
    """``networks`` width-``width`` DEQs on the first input ``x``: ``k = K_n(x, x) / Sigma*(x, x)``
    (the variance of the output given the weights) and one output ``z = sigma_w v . h* / sqrt(n
    Sigma*(x, x))`` each. Record: ``networks``, ``failed`` (not converged: left out of the means),
    ``outside`` (``q >= 1``), ``k1``, ``k2`` (means of ``k``, ``k^2``), ``z2``, ``z4`` and ``ks``
    (the Kolmogorov-Smirnov distance of the ``z`` to ``N(0, 1)``)."""
    x = sphere_inputs(params["base_seed"], params["n_inputs"], params["input_dim"])[:1]
    n, sw = int(params["width"]), float(params["sigma_w"])
    rng = _rng(params, seed, _GAUSS)
    star = float(deq_kernel(input_kernel(x, params["sigma_u"]), params["activation"], sw).sigma[0, 0])
    k, z, q, ok = [], [], [], []
    for size in network_batches(int(params["networks"]), n):
        W, _, sol = _network(params, x, rng, size)
        h = sol.h[:, :, 0]
        k.append(sw * sw * np.sum(h * h, axis=1) / (n * star))
        z.append(sw * np.sum(rng.standard_normal(h.shape) * h, axis=1) / math.sqrt(n * star))
        q.append(contraction_factor(W, params["activation"]))
        ok.append(np.asarray(sol.converged, dtype=bool))
    k, z, q, ok = (np.concatenate(a) for a in (k, z, q, ok))
    k, z = k[ok], z[ok]
    return {"networks": int(ok.size), "failed": int(np.sum(~ok)), "outside": int(np.sum(q >= 1.0)),
            "k1": float(k.mean()), "k2": float(np.mean(k * k)), "z2": float(np.mean(z * z)),
            "z4": float(np.mean(z**4)), "ks": float(stats.kstest(z, "norm").statistic)}


def _mean_entries(K: np.ndarray) -> tuple[float, float]:
    """Mean diagonal and mean off-diagonal entry of a kernel matrix."""
    P = K.shape[-1]
    return float(np.trace(K)) / P, float(K.sum() - np.trace(K)) / (P * (P - 1))


def limits_task(params: Mapping, seed: int) -> dict[str, Any]:
    """One width-``width`` network on the chapter's inputs as the weight-tied network of each depth
    ``L`` of ``depths`` (``h^0 = 0``) and as the DEQ (``L = inf``). Record: ``diag@L``, ``off@L``
    (mean diagonal, off-diagonal entry of ``K_{n,L}``), ``gap@L = ||K_{n,L} - K_n||_F / ||K_n||_F``,
    ``state@L = max_x ||h^L(x) - h*(x)|| / ||h*(x)||`` (``<= q^L`` if ``q < 1``), ``q``, ``converged``."""
    X = sphere_inputs(params["base_seed"], params["n_inputs"], params["input_dim"])
    W, U, sol = _network(params, X, _rng(params, seed, _LIMITS))
    depths = sorted(int(L) for L in params["depths"])
    K = empirical_kernel(sol.h, params["sigma_w"])
    record: dict[str, Any] = {}
    for L, H in zip(depths, weight_tied_states(W, U, X, params["activation"], depths)):
        KL = empirical_kernel(H, params["sigma_w"])
        record[f"diag@{L}"], record[f"off@{L}"] = _mean_entries(KL)
        record[f"gap@{L}"] = float(np.linalg.norm(KL - K) / np.linalg.norm(K))
        record[f"state@{L}"] = float(np.max(np.linalg.norm(H - sol.h, axis=0) / np.linalg.norm(sol.h, axis=0)))
    record["diag@inf"], record["off@inf"] = _mean_entries(K)
    return {**record, "q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged))}


def eigen_task(params: Mapping, seed: int) -> dict[str, Any]:
    """One width-``width`` DEQ on ``n_inputs`` digits: ``lambda_min`` of its empirical kernel,
    ``q`` and ``converged``."""
    X = eigen_inputs(params["base_seed"], params["n_inputs"])
    W, _, sol = _network(params, X, _rng(params, seed, _EIGEN))
    return {"lambda_min": float(np.linalg.eigvalsh(empirical_kernel(sol.h, params["sigma_w"]))[0]),
            "q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged))}


_MODULE = "deepgep.chapters.ch8_deep_equilibrium"
#: Relative tolerance of ``deepgep results verify`` (BLAS summation order may differ between machines).
_VERIFY_TOLERANCE = 1e-8


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's four sweeps from the notebook's parameters ``p`` (one task per width and
    seed): ``kernel``, ``gaussianity``, ``limits`` (tanh, ``SIGMA_W``, the chapter's inputs) and
    ``eigen`` (``EIG_ACTIVATION``, ``EIG_SIGMA_W``, ``EIG_INPUTS`` digits)."""
    common = {"base_seed": p["SEED"], "sigma_u": p["SIGMA_U"], "max_iter": p["MAX_ITER"]}
    model = {**common, "activation": p["ACTIVATION"], "sigma_w": p["SIGMA_W"], "n_inputs": p["N_INPUTS"],
             "input_dim": p["INPUT_DIM"]}

    def sweep(name, widths, seeds, constants):
        return Sweep(8, name, preset, f"{_MODULE}:{name}_task", grid=grid_product(width=list(widths)),
                     seeds=range(seeds), constants=constants, tolerance=_VERIFY_TOLERANCE)

    return {
        "kernel": sweep("kernel", p["KERNEL_WIDTHS"], p["KERNEL_SEEDS"], model),
        "gaussianity": sweep("gaussianity", p["GAUSS_WIDTHS"], p["GAUSS_SEEDS"], {**model, "networks": p["GAUSS_NETWORKS"]}),
        "limits": sweep("limits", p["LIMIT_WIDTHS"], p["LIMIT_SEEDS"], {**model, "depths": list(p["LIMIT_DEPTHS"])}),
        "eigen": sweep("eigen", p["EIG_WIDTHS"], p["EIG_SEEDS"], {**common, "activation": p["EIG_ACTIVATION"],
                                                                  "sigma_w": p["EIG_SIGMA_W"], "n_inputs": p["EIG_INPUTS"]}),
    }


def kernel_samples(rows: Sequence[Mapping[str, Any]], width: int, n_inputs: int) -> np.ndarray:
    """The empirical kernels of the ``kernel`` sweep at one width, shape ``(seeds, P, P)``."""
    sel = [r for r in rows if int(r["width"]) == int(width)]
    K = np.empty((len(sel), n_inputs, n_inputs))
    for i, j in zip(*np.triu_indices(n_inputs)):
        K[:, i, j] = K[:, j, i] = [r[kernel_field(i, j)] for r in sel]
    return K


def width_means(rows: Sequence[Mapping[str, Any]], values, widths) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds and its standard error at each width of ``values(row)`` (a field name or a
    function of the row)."""
    get = (lambda r: r[values]) if isinstance(values, str) else values
    v = [np.array([get(r) for r in rows if int(r["width"]) == int(n)], dtype=float) for n in widths]
    return np.array([a.mean() for a in v]), np.array([standard_error(a) for a in v])


def extrapolate(rows: Sequence[Mapping[str, Any]], values, widths) -> dict[str, Any]:
    """The fit ``limit + slope / n`` (:func:`power_fit`) of the seed means of ``values`` over
    ``widths``, with ``slope`` added to its keys."""
    fit = power_fit(widths, *width_means(rows, values, widths), (1.0,))
    return {**fit, "slope": float(fit["coef"][1])}


def gaussianity_summary(rows: Sequence[Mapping[str, Any]], widths) -> dict[str, np.ndarray]:
    """Per width of the ``gaussianity`` sweep: the mean ``E k = E f^2 / Sigma*(x, x)`` and the
    excess kurtosis ``3 (E k^2 / (E k)^2 - 1)`` of the output (Rao-Blackwellised: the output is
    Gaussian given the weights), each with its standard error over seeds; the sampled
    ``E z^2``, the mean KS distance, and the fractions of draws that failed or had ``q >= 1``."""
    out: dict[str, list] = {k: [] for k in ("k1", "k1_se", "kurtosis", "kurtosis_se", "z2", "ks", "failed", "outside")}
    for n in widths:
        c = {k: np.array([r[k] for r in rows if int(r["width"]) == int(n)], dtype=float)
             for k in ("networks", "failed", "outside", "k1", "k2", "z2", "ks")}
        kurt, total, ok = 3.0 * (c["k2"] / c["k1"] ** 2 - 1.0), c["networks"].sum(), c["networks"] - c["failed"]
        for key, value in (("k1", c["k1"].mean()), ("k1_se", standard_error(c["k1"])), ("kurtosis", kurt.mean()),
                           ("kurtosis_se", standard_error(kurt)), ("z2", np.sum(c["z2"] * ok) / ok.sum()),
                           ("ks", c["ks"].mean()), ("failed", c["failed"].sum() / total),
                           ("outside", c["outside"].sum() / total)):
            out[key].append(value)
    return {"widths": np.asarray(widths), **{k: np.array(v) for k, v in out.items()}}


def power_fit(widths, means, ses, powers) -> dict[str, Any]:
    """Weighted least squares ``means = limit + sum_k c_k n^(-powers[k])`` (weights ``1/ses^2``):
    ``limit``, ``limit_se``, the coefficients ``coef`` (limit first), ``chi2_per_dof`` and
    ``curve(n)``."""
    def design(m):
        m = np.asarray(m, dtype=float)
        return np.vstack([np.ones_like(m), *(m ** -float(k) for k in powers)]).T

    A, y, e = design(widths), np.asarray(means, dtype=float), np.asarray(ses, dtype=float)
    cov = np.linalg.inv((A / e[:, None] ** 2).T @ A)
    coef = cov @ (A / e[:, None] ** 2).T @ y
    return {"limit": float(coef[0]), "limit_se": float(math.sqrt(cov[0, 0])), "coef": coef,
            "chi2_per_dof": float(np.sum(((A @ coef - y) / e) ** 2) / max(y.size - A.shape[1], 1)),
            "curve": lambda m: design(m) @ coef}


def eigen_fit(rows: Sequence[Mapping[str, Any]], widths) -> dict[str, Any]:
    """``lambda_min(K_n) = limit + b / n + c / n^2`` (:func:`power_fit`) over ``widths`` above the number
    of inputs: a sample covariance's eigenvalues at fixed size have a bias expanded in ``1/n`` (Lawley 1956)."""
    return power_fit(widths, *width_means(rows, "lambda_min", widths), (1.0, 2.0))


# --- the chapter's claims -------------------------------------------------------------------------

def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 8's quantitative claims on the rows of its four sweeps and the notebook's
    parameters ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    X = sphere_inputs(p["SEED"], p["N_INPUTS"], p["INPUT_DIM"])
    sw = float(p["SIGMA_W"])
    cache: dict[tuple, np.ndarray] = {}

    def kernel(t):  # Sigma* at sigma_w (depth None) or the depth-L kernel Sigma^L
        key = (t["sigma_w"], t["depth"])
        if key not in cache:
            S1 = input_kernel(X, p["SIGMA_U"])
            cache[key] = (deq_kernel(S1, p["ACTIVATION"], key[0]).sigma if key[1] is None else
                          weight_tied_kernels(S1, p["ACTIVATION"], key[0], key[1])[key[1]])
        return cache[key]

    kw, P = list(p["KERNEL_WIDTHS"]), X.shape[0]
    samples = {n: kernel_samples(rows["kernel"], n, P) for n in kw}
    pairs = [(int(i), int(j)) for i, j in zip(*np.triu_indices(P))]

    def kernel_test(t):
        fits = [power_fit(kw, [samples[n][:, i, j].mean() for n in kw], [standard_error(samples[n][:, i, j])
                                                                         for n in kw], (1.0,)) for i, j in pairs]
        zs = [abs(f["limit"] - kernel(t)[i, j]) / f["limit_se"] for f, (i, j) in zip(fits, pairs)]
        k = int(np.argmax(zs))
        return Test(max(zs), CLAIM_Z, f"limit + b/n fit of each of the {len(pairs)} entries over n = {kw[0]}..{kw[-1]}: "
                    f"worst entry {pairs[k]}, |z| = {zs[k]:.2f}")

    def rate_test(t):
        star = kernel({"sigma_w": sw, "depth": None})
        mse = [np.sum((samples[n] - star) ** 2, axis=(1, 2)) / np.sum(star * star) for n in kw]
        y, e = np.array([m.mean() for m in mse]), np.array([standard_error(m) for m in mse])
        coef, cov = np.polyfit(np.log(kw), np.log(y), 1, w=y / e, cov="unscaled")  # errors of log y: e / y
        slope, se = float(coef[0]), math.sqrt(cov[0, 0])
        return Test(abs(slope - t["exponent"]) / se, CLAIM_Z,
                    f"slope of log E||K_n - Sigma*||^2 against log n: {slope:.3f} +- {se:.3f} vs {t['exponent']:g}")

    gw = [n for n in p["GAUSS_WIDTHS"] if n >= p["GAUSS_FIT_MIN_WIDTH"]]
    x_star = kernel({"sigma_w": sw, "depth": None})[0, 0]

    def variance_test(t):
        ratio = x_star / kernel(t)[0, 0]  # E f^2 / variance(theory) = k * ratio
        fit = extrapolate(rows["gaussianity"], lambda r: r["k1"] * ratio, gw)
        return Test(abs(fit["limit"] - 1.0) / fit["limit_se"], CLAIM_Z,
                    f"limit of E f^2 / Sigma(x, x) over n = {gw[0]}..{gw[-1]}: {fit['limit']:.5f} +- {fit['limit_se']:.5f}")

    def kurtosis_test(t):  # limit + c/n + d/n^2 (the finite-width correction), or a constant (none)
        g, powers = gaussianity_summary(rows["gaussianity"], gw), KURTOSIS_POWERS if t["finite_width_correction"] else ()
        fit = power_fit(gw, g["kurtosis"], g["kurtosis_se"], powers)
        return Test(abs(fit["limit"]) / fit["limit_se"], CLAIM_Z, f"excess kurtosis, fit with the powers {powers} "
                    f"of 1/n: limit {fit['limit']:.5f} +- {fit['limit_se']:.5f}")

    lw, depths = list(p["LIMIT_WIDTHS"]), [int(L) for L in p["LIMIT_DEPTHS"]]

    def limits_test(t):
        zs, names = [], []
        for L in [*depths, "inf"]:
            depth = t["deq_depth"] if L == "inf" else (None if t["depth_blind"] else L)
            ref = kernel({"sigma_w": sw, "depth": depth})
            for name, value in zip(("diag", "off"), _mean_entries(ref)):
                fit = extrapolate(rows["limits"], f"{name}@{L}", lw)
                zs.append(abs(fit["limit"] - value) / fit["limit_se"])
                names.append(f"{name}@{L}")
        k = int(np.argmax(zs))
        return Test(max(zs), CLAIM_Z, f"n -> inf limits of the mean diagonal and off-diagonal kernel entries at "
                    f"depths {depths} and inf: worst {names[k]}, |z| = {zs[k]:.2f}")

    ew = [n for n in p["EIG_WIDTHS"] if n > p["EIG_INPUTS"]]
    X_eig = eigen_inputs(p["SEED"], p["EIG_INPUTS"])

    def eigen_test(t):
        ref = 0.0 if t["sigma_w"] == 0.0 else min_eigenvalue_scan(X_eig, p["EIG_ACTIVATION"], [t["sigma_w"]], p["SIGMA_U"])[0]
        fit = eigen_fit(rows["eigen"], ew)
        return Test(abs(fit["limit"] - ref) / fit["limit_se"], CLAIM_Z,
                    f"limit of lambda_min(K_n) (fit a + b/n + c/n^2 over n = {ew[0]}..{ew[-1]}): "
                    f"{fit['limit']:.3e} +- {fit['limit_se']:.1e} vs {ref:.3e}")

    fixed, wrong_kernels = {"sigma_w": sw, "depth": None}, {"sigma_w -> 1.1 sigma_w": {"sigma_w": 1.1 * sw}}
    return [
        Claim(8, "DEQ kernel -> Sigma* (fixed point)", f"Every entry of the DEQ kernel, extrapolated by a fitted limit "
              f"+ b/n over {kw[0]} <= n <= {kw[-1]}, is the kernel fixed point Sigma* (|z| <= {CLAIM_Z}).", kernel_test,
              fixed, {**wrong_kernels, "one-layer kernel Sigma^1 instead of the fixed point": {"depth": 1}}),
        Claim(8, "kernel fluctuations ~ n^(-1/2)", f"E ||K_n - Sigma*||_F^2 decays like 1/n (fitted log-log slope "
              f"within {CLAIM_Z} standard errors of -1).", rate_test, {"exponent": -1.0},
              {"error ~ n^(-1/4)": {"exponent": -0.5}, "error ~ 1/n (no fluctuations)": {"exponent": -2.0}}),
        Claim(8, "output variance -> Sigma*(x, x)", f"The variance of one output, extrapolated from n = "
              f"{gw[0]}..{gw[-1]} by limit + b/n, is Sigma*(x, x) (|z| <= {CLAIM_Z}).", variance_test, fixed,
              {**wrong_kernels, "one-layer variance Sigma^1(x, x)": {"depth": 1}}),
        Claim(8, "output Gaussian as n -> inf, kurtosis ~ c/n", f"The excess kurtosis of one output, fitted by "
              f"limit + c/n + d/n^2 over n = {gw[0]}..{gw[-1]}, has the Gaussian limit 0 (|z| <= {CLAIM_Z}).",
              kurtosis_test, {"finite_width_correction": True},
              {"Gaussian at every width (no 1/n correction)": {"finite_width_correction": False}}),
        Claim(8, "commuting limits", f"Width first at each depth L (n -> inf limits of the weight-tied networks) gives "
              f"Sigma^L, depth first (the DEQ) gives Sigma* = lim Sigma^L (|z| <= {CLAIM_Z}).", limits_test,
              {"deq_depth": None, "depth_blind": False},
              {"limits do not commute: the wide DEQ -> the depth-1 kernel": {"deq_depth": 1},
               "width limit blind to depth: every depth -> Sigma*": {"depth_blind": True}}),
        Claim(8, "lambda_min(K_n) -> lambda_min(Sigma*) > 0", f"On {p['EIG_INPUTS']} digits (Sigma1 singular) the "
              f"extrapolated smallest eigenvalue of the DEQ kernel is lambda_min(Sigma*) > 0 (|z| <= {CLAIM_Z}).",
              eigen_test, {"sigma_w": float(p["EIG_SIGMA_W"])},
              {"lambda_min = 0 (Sigma1's, no gain from phi)": {"sigma_w": 0.0},
               "sigma_w -> 1.25 sigma_w": {"sigma_w": 1.25 * float(p["EIG_SIGMA_W"])}}),
    ]
