"""Chapter 1: finite-size experiments on the Gaussian equivalence of a layer (Theorem 1 of
Camilli et al. 2025; book thm-layer-equivalence, eq-layer-equivalent, eq-kernel-linearisation).

Three objects are compared for layer ``l`` of a deep random network, given the Gram matrix
``G_{l-1} = X^{l-1} X^{l-1 T} / d_{l-1}`` of its inputs (samples as rows):

* ``K_l = K(G_{l-1})``, the conjugate kernel: the average of the layer's Gram matrix over its
  weights ``W^l`` (:func:`deepgep.theory.kernels.conjugate_kernel`, book eq-conjugate-kernel);
* ``Lin_l = rho_l^2 G_{l-1} + eps_l I``, its linearisation (Theorem 1 in kernel form);
* ``G_l``, the Gram matrix of one draw of the layer, and ``Glin_l``, the Gram matrix of the
  Gaussian-equivalent features ``rho_l Xlin^{l-1} W^{l T}/sqrt(d) + sqrt(eps_l) Xi`` built with the
  same weights (:func:`deepgep.simulate.networks.linearised_forward`).

The simulations are sweeps of independent tasks ``(params, seed) -> record``
(:func:`width_task`, :func:`sample_size_task`, built by :func:`sweeps`); :func:`claims` tests
the theory against their recorded rows. The theorem bounds a change of mutual information; the
distances measured here are proxies of it, compared with the SHAPE of its bound
(book eq-theorem1-bound), not the bound itself.
"""


from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse.linalg import eigsh
from tqdm import tqdm

from deepgep.simulate.networks import forward, gaussian_inputs, linearised_forward, sample_network
from deepgep.support.claims import CLAIM_Z, Claim, Test
from deepgep.support.spectra import eigenvalues, gram, operator_norm, relative_operator_distance, spectral_distance
from deepgep.support.stats import inverse_size_extrapolation, standard_error
from deepgep.support.sweeps import field_matrix, Sweep, task_rng
from deepgep.support.validation import check_alpha
from deepgep.theory.activations import get_activation
from deepgep.theory.kernels import conjugate_kernel, linearised_kernel
from deepgep.theory.layers import LayerCoefficients, layer_coefficients, theorem1_bound_shape

__all__ = [
    "LayerComparison", "compare_layers", "layer_width_scan", "layer_spectra", "bound_shape_curve",
    "field", "width_task", "sample_size_task", "sweeps", "width_arrays", "sample_size_arrays",
    "power_law_fit", "size_limit", "claims",
]


@dataclass(frozen=True)
class LayerComparison:
    """Distances for one layer of one network draw."""

    kernel_vs_linear: float  # ||K - Lin||_op / ||Lin||_op
    gram_vs_kernel: float  # ||G - K||_op / ||K||_op
    spectrum_vs_equivalent: float  # W1(spec G, spec Glin) / mean(spec G)
    top_eigenvalue_kernel: float  # largest eigenvalue of K (the relu spike)


def compare_layers(
    coefficients: LayerCoefficients, widths: Sequence[int], n: int, rng: np.random.Generator
) -> list[LayerComparison]:
    """Draw one network of the given widths and ``n`` inputs; compare every layer."""
    act = coefficients.activation
    net = sample_network(widths, act, rng)
    X0 = gaussian_inputs(n, widths[0], rng)
    feats = forward(net, X0)
    lin_feats = linearised_forward(net, coefficients, X0, rng)
    out = []
    for ell in range(1, net.depth + 1):
        c = coefficients.layer(ell)
        G_prev = gram(feats[ell - 1])
        K = conjugate_kernel(G_prev, act)
        ev_K = eigenvalues(K)
        out.append(LayerComparison(
            kernel_vs_linear=relative_operator_distance(K, linearised_kernel(G_prev, c["rho"], c["eps"])),
            gram_vs_kernel=operator_norm(gram(feats[ell]) - K) / float(np.max(np.abs(ev_K))),
            spectrum_vs_equivalent=spectral_distance(eigenvalues(gram(feats[ell])), eigenvalues(gram(lin_feats[ell]))),
            top_eigenvalue_kernel=float(ev_K[-1])))
    return out


def layer_width_scan(coefficients: LayerCoefficients, widths: Sequence[int], alpha: float, n_seeds: int,
                     rng: np.random.Generator, progress: bool = False) -> dict[str, np.ndarray]:
    """Proportional regime with ONE shared stream ``rng`` (the reference data of
    tests/test_reproducibility.py; the chapter itself runs :func:`width_task`): all ``L + 1``
    widths equal to ``d``, ``n = alpha d``. Arrays ``(len(widths), n_seeds, L)`` per field of
    :class:`LayerComparison`, plus ``d`` and ``n``."""
    alpha = check_alpha(alpha)
    L = coefficients.depth
    fields = LayerComparison.__dataclass_fields__
    rec = {f: np.empty((len(widths), n_seeds, L)) for f in fields}
    ns = [max(2, int(round(alpha * d))) for d in widths]
    for i, d in enumerate(tqdm(widths, desc="widths", disable=not progress)):
        for s in range(n_seeds):
            for ell, cmp in enumerate(compare_layers(coefficients, (d,) * (L + 1), ns[i], rng)):
                for f in fields:
                    rec[f][i, s, ell] = getattr(cmp, f)
    rec["d"], rec["n"] = np.asarray(widths), np.asarray(ns)
    return rec


def layer_spectra(coefficients: LayerCoefficients, d: int, n: int, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Eigenvalues, layer by layer, of ``G_l``, ``Glin_l`` and ``Lin_l`` for one draw."""
    L = coefficients.depth
    net = sample_network((d,) * (L + 1), coefficients.activation, rng)
    X0 = gaussian_inputs(n, d, rng)
    feats = forward(net, X0)
    lin_feats = linearised_forward(net, coefficients, X0, rng)
    spectra: dict[str, list[np.ndarray]] = {"gram": [], "equivalent": [], "linearised_kernel": []}
    for ell in range(1, L + 1):
        c = coefficients.layer(ell)
        spectra["gram"].append(eigenvalues(gram(feats[ell])))
        spectra["equivalent"].append(eigenvalues(gram(lin_feats[ell])))
        spectra["linearised_kernel"].append(eigenvalues(linearised_kernel(gram(feats[ell - 1]), c["rho"], c["eps"])))
    return spectra


def bound_shape_curve(d: int, n_min: float, n_max: float, points: int = 200) -> dict[str, np.ndarray]:
    """The shape of Theorem 1's bound at width ``d`` on a dense geometric grid of ``n`` from
    ``n_min`` to ``n_max`` (the curve drawn with the sample-size scan's measurements)."""
    n = np.geomspace(float(n_min), float(n_max), points)
    return {"n": n, "rate": np.array([theorem1_bound_shape(float(m), d) for m in n])}


# --- the simulations, as sweeps of independent tasks ------------------------------------------

#: Tags of the experiments in the seeds of their random streams.
_WIDTH, _SAMPLE_SIZE = 1, 2
#: Spectral moments ``m_k = tr(G^k) / n`` recorded for the moment test of the spectra.
MOMENTS = (1, 2, 3)
#: Above this size an operator norm is computed by Lanczos (ARPACK) instead of a full eigh.
_DENSE_MAX = 1000
#: Relative tolerance of the Lanczos operator norms (and of ``results verify`` on them).
_LANCZOS_TOL = 1e-10


def field(name: str, index: float) -> str:
    """The record column of quantity ``name`` at layer (or ratio) ``index``: ``name@index``."""
    return f"{name}@{float(index):g}"



def _coefficients(params: Mapping) -> LayerCoefficients:
    return layer_coefficients(get_activation(params["activation"], float(params["gain"])), int(params["depth"]))


def _moments(ev: np.ndarray) -> list[float]:
    return [float(np.mean(ev**k)) for k in MOMENTS]


def width_task(params: Mapping, seed: int) -> dict[str, float]:
    """One network of ``depth`` layers, every width ``d``, ``n = round(alpha d)`` Gaussian inputs,
    compared layer by layer (layer ``l`` fed with the true features of layer ``l - 1``).

    Record, per layer ``l`` (column ``name@l``): ``kernel_op`` ``||K - Lin||_op / ||Lin||_op`` and
    ``kernel_frob`` ``||K - Lin||_F / ||Lin||_F`` (book eq-kernel-linearisation); ``gram_vs_kernel``
    ``||G - K||_op / ||K||_op``; ``spectrum_w1`` ``W1(spec G, spec Glin) / mean``; ``top_kernel``
    ``lambda_max(K)``; the layer's measured coefficients (book eq-layer-coefficients) from its
    pre-activations ``H = X^{l-1} W^{l T}/sqrt(d)``: ``rho_hat = <phi(H) H> / <H^2>``,
    ``eps_hat = <(phi(H) - rho_hat H)^2>``, ``sigma_hat = <phi(H)^2>``; and the spectral moments
    ``m<k>_gram``, ``m<k>_equivalent`` (Gaussian-equivalent network, eq-layer-equivalent) and
    ``m<k>_noiseless`` (the same without its noise: ``eps_l = 0``, a purely linear network).
    """
    d, L = int(params["d"]), int(params["depth"])
    n = max(2, round(float(params["alpha"]) * d))
    coef = _coefficients(params)
    rng = task_rng(params, seed, _WIDTH, int(params.get("tag", 0)), d)
    net = sample_network((d,) * (L + 1), coef.activation, rng)
    X0 = gaussian_inputs(n, d, rng)
    feats = forward(net, X0)
    equivalent = linearised_forward(net, coef, X0, rng)
    noiseless = linearised_forward(net, dataclasses.replace(coef, eps=np.zeros_like(coef.eps)), X0, rng)
    record: dict[str, float] = {}
    G_prev = gram(X0)
    ev_prev = eigenvalues(G_prev)
    for ell in range(1, L + 1):
        c = coef.layer(ell)
        H = feats[ell - 1] @ net.weights[ell - 1].T / math.sqrt(d)
        X = feats[ell]
        rho_hat = float(np.sum(X * H) / np.sum(H * H))
        G, K = gram(X), conjugate_kernel(G_prev, coef.activation)
        Lin = linearised_kernel(G_prev, c["rho"], c["eps"])
        ev = {"gram": eigenvalues(G), "equivalent": eigenvalues(gram(equivalent[ell])),
              "noiseless": eigenvalues(gram(noiseless[ell]))}
        ev_K = eigenvalues(K)
        values = {"kernel_op": operator_norm(K - Lin) / float(np.max(np.abs(c["rho"] ** 2 * ev_prev + c["eps"]))),
                  "kernel_frob": float(np.linalg.norm(K - Lin) / np.linalg.norm(Lin)),
                  "gram_vs_kernel": operator_norm(G - K) / float(np.max(np.abs(ev_K))),
                  "spectrum_w1": spectral_distance(ev["gram"], ev["equivalent"]),
                  "top_kernel": float(ev_K[-1]), "rho_hat": rho_hat, "sigma_hat": float(np.mean(X * X)),
                  "eps_hat": float(np.mean((X - rho_hat * H) ** 2))}
        for name, spectrum in ev.items():
            values.update({f"m{k}_{name}": m for k, m in zip(MOMENTS, _moments(spectrum))})
        record.update({field(name, ell): v for name, v in values.items()})
        G_prev, ev_prev = G, ev["gram"]
    return record


def _norm(A: np.ndarray) -> float:
    """Operator norm of a symmetric matrix: full eigh up to ``_DENSE_MAX``, else Lanczos from a
    fixed start vector (deterministic)."""
    if A.shape[0] <= _DENSE_MAX:
        return operator_norm(A)
    v0 = np.random.default_rng(A.shape[0]).standard_normal(A.shape[0])
    return float(abs(eigsh(A, k=1, which="LM", v0=v0, tol=_LANCZOS_TOL, return_eigenvectors=False)[0]))


def sample_size_task(params: Mapping, seed: int) -> dict[str, float]:
    """The first layer at fixed width ``d`` and ``n = round(r d)`` inputs for every ratio ``r`` of
    ``ratios``: ONE draw of the largest ``n``, whose leading blocks are the smaller samples (the
    kernels are entrywise, so nested prefixes cost one kernel). Record (column ``name@r``):
    ``kernel_op`` ``||K - Lin||/||Lin||``, ``gram_vs_kernel`` ``||G - K||/||K||`` and
    ``offdiag`` ``||offdiag(K - Lin)|| / eps_1`` (operator norms): how far the nonlinear part of the
    kernel is from the white noise ``eps_1 I`` of the equivalent layer."""
    d, ratios = int(params["d"]), [float(r) for r in params["ratios"]]
    coef = layer_coefficients(get_activation(params["activation"], float(params["gain"])), 1)
    c = coef.layer(1)
    rng = task_rng(params, seed, _SAMPLE_SIZE, d)
    net = sample_network((d, d), coef.activation, rng)
    X0, X1 = forward(net, gaussian_inputs(max(2, round(max(ratios) * d)), d, rng))
    G0 = gram(X0)
    K = conjugate_kernel(G0, coef.activation)
    D = K - linearised_kernel(G0, c["rho"], c["eps"])
    record = {}
    for r in ratios:
        n = max(2, round(r * d))
        Lin = linearised_kernel(G0[:n, :n], c["rho"], c["eps"])
        off = D[:n, :n].copy()
        np.fill_diagonal(off, 0.0)
        record[field("kernel_op", r)] = _norm(D[:n, :n]) / _norm(Lin)
        record[field("gram_vs_kernel", r)] = _norm(gram(X1[:n]) - K[:n, :n]) / _norm(K[:n, :n])
        record[field("offdiag", r)] = _norm(off) / c["eps"]
    return record


_MODULE = "deepgep.chapters.ch1_gaussian_equivalence"


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's sweeps from the notebook's parameters ``p``: ``width`` (one task per width
    and seed, the notebook's activation), ``relu`` (the same task for relu, one layer) and
    ``sample_size`` (one task per width and seed, every ratio ``n / d`` in one draw)."""
    common = {"base_seed": p["SEED"], "alpha": p["ALPHA"]}
    return {
        "width": Sweep(1, "width", preset, f"{_MODULE}:width_task", grid=[{"d": d} for d in p["WIDTHS"]],
                       seeds=range(p["N_SEEDS"]), tolerance=1e-8,
                       constants={**common, "activation": p["ACTIVATION"], "gain": p["GAIN"], "depth": p["DEPTH"],
                                  "tag": 0}),
        "relu": Sweep(1, "relu", preset, f"{_MODULE}:width_task", grid=[{"d": d} for d in p["WIDTHS"]],
                      seeds=range(p["RELU_SEEDS"]), tolerance=1e-8,
                      constants={**common, "activation": "relu", "gain": 1.0, "depth": 1, "tag": 1}),
        "sample_size": Sweep(1, "sample_size", preset, f"{_MODULE}:sample_size_task",
                             grid=[{"d": d} for d in p["BREAK_WIDTHS"]], seeds=range(p["BREAK_SEEDS"]),
                             tolerance=1e-6, constants={"base_seed": p["SEED"], "activation": p["ACTIVATION"],
                                                        "gain": p["GAIN"], "ratios": list(p["BREAK_RATIOS"])}),
    }


# --- reading the tables ---------------------------------------------------------------------------

def width_arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str], depth: int) -> dict[str, np.ndarray]:
    """The width sweep's fields ``names`` as arrays ``(widths, seeds, depth)`` (the layout of
    :func:`layer_width_scan`), plus ``d`` (sorted widths)."""
    widths = sorted({int(r["d"]) for r in rows})
    out = {"d": np.array(widths)}
    for name in names:
        out[name] = np.stack([field_matrix(rows, [field(name, ell) for ell in range(1, depth + 1)], d=d).T
                              for d in widths])
    return out


def sample_size_arrays(rows: Sequence[Mapping[str, Any]], d: int, ratios: Sequence[float]) -> dict[str, np.ndarray]:
    """The sample-size sweep at width ``d``: ``n`` per ratio and, with shape ``(ratios, seeds)``,
    ``kernel_vs_linear``, ``gram_vs_kernel`` and ``nonlinear_offdiag``."""
    names = {"kernel_vs_linear": "kernel_op", "gram_vs_kernel": "gram_vs_kernel", "nonlinear_offdiag": "offdiag"}
    out = {key: field_matrix(rows, [field(name, r) for r in ratios], d=d) for key, name in names.items()}
    out["n"] = np.array([max(2, round(float(r) * d)) for r in ratios])
    return out


def power_law_fit(x: Sequence[float], mean: Sequence[float], se: Sequence[float]) -> dict[str, float]:
    """Weighted least squares of ``log mean = a + exponent log x`` (weights from the standard
    errors of ``log mean``, ``se / mean``): the exponent and its standard error, inflated by
    ``sqrt(chi2 / dof)`` when the points scatter more than their errors (a finite-size curvature
    then widens the error instead of biasing the test)."""
    x, y, e = (np.asarray(v, dtype=float) for v in (x, mean, se))
    if x.size < 3:
        raise ValueError("need at least three sizes to fit an exponent with an error")
    A = np.vstack([np.ones_like(x), np.log(x)]).T / (e / y)[:, None]
    b = np.log(y) / (e / y)
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    resid = b - A @ coef
    chi2 = float(resid @ resid) / (x.size - 2)
    se_exponent = float(np.sqrt(np.linalg.inv(A.T @ A)[1, 1] * max(1.0, chi2)))
    return {"exponent": float(coef[1]), "se": se_exponent, "chi2_per_dof": chi2}


def size_limit(values: Mapping[int, np.ndarray]) -> tuple[float, float]:
    """``limit +- se`` of the weighted fit ``mean(d) = limit + c / d`` over the widths ``d`` of
    ``values`` (per width: one value per independent seed); ``se`` inflated by ``sqrt(chi2/dof)``
    when the means scatter more than their errors, as in :func:`power_law_fit`."""
    d = sorted(values)
    fit = inverse_size_extrapolation(np.array(d, dtype=float), np.array([np.mean(values[w]) for w in d]),
                                     np.array([standard_error(values[w]) for w in d]))
    return fit.limit, fit.limit_se * math.sqrt(max(1.0, fit.chi2_per_dof))


# --- the chapter's claims -----------------------------------------------------------------------

def _worst(zs: Mapping[str, float], what: str) -> Test:
    key = max(zs, key=lambda k: abs(zs[k]))
    return Test(abs(zs[key]), CLAIM_Z, f"{what}: worst {key}: |z| = {abs(zs[key]):.2f} over {len(zs)} values")


def _coefficient_theory(activation: str, gain: float, depth: int) -> dict[str, list[float]]:
    coef = layer_coefficients(get_activation(activation, gain), depth)
    return {"rho": list(coef.rho), "eps": list(coef.eps), "sigma": list(coef.sigma[1:])}


def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 1's quantitative claims on the rows of its sweeps and the notebook's parameters
    ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    L, widths, width_rows = int(p["DEPTH"]), [int(d) for d in p["WIDTHS"]], rows["width"]

    def per_width(name: str) -> dict[int, np.ndarray]:
        return {d: field_matrix(width_rows, [name], d=d)[0] for d in widths}

    def coefficient_test(t: Mapping[str, Any]) -> Test:
        zs = {}
        for ell in range(1, L + 1):
            for q in ("rho", "eps", "sigma"):
                limit, se = size_limit(per_width(field(f"{q}_hat", ell)))
                zs[f"{q}_{ell}"] = (limit - t[q][ell - 1]) / se
        return _worst(zs, "limit + c/d of the measured coefficients vs theory")

    def rate_test(t: Mapping[str, Any]) -> Test:
        zs = {}
        for ell in range(1, L + 1):
            vals = per_width(field("kernel_frob", ell))
            fit = power_law_fit(widths, [np.mean(vals[d]) for d in widths], [standard_error(vals[d]) for d in widths])
            zs[f"layer {ell} (exponent {fit['exponent']:.3f} +- {fit['se']:.3f})"] = (
                (fit["exponent"] - t["exponent"]) / fit["se"])
        return _worst(zs, "fitted exponent of ||K - Lin||_F / ||Lin||_F in d")

    def spectrum_test(t: Mapping[str, Any]) -> Test:
        zs = {}
        for ell in range(1, L + 1):
            for k in MOMENTS:
                ratio = {d: field_matrix(width_rows, [field(f"m{k}_gram", ell)], d=d)[0]
                         / field_matrix(width_rows, [field(f"m{k}_{t['model']}", ell)], d=d)[0] - 1.0 for d in widths}
                limit, se = size_limit(ratio)
                zs[f"m{k} layer {ell}"] = limit / se
        return _worst(zs, f"limit + c/d of m_k(G) / m_k({t['model']}) - 1")

    theory = _coefficient_theory(p["ACTIVATION"], p["GAIN"], L)
    other = "erf" if p["ACTIVATION"] != "erf" else "tanh"
    sigma_prev = [1.0, *theory["sigma"][:-1]]
    linear = {"eps": [0.0] * L, "sigma": [r**2 * s for r, s in zip(theory["rho"], sigma_prev)]}
    return [
        Claim(1, "layer statistics = Theorem 1's coefficients",
              f"The measured rho_l, eps_l and sigma_l of every layer (regression of the post-activations on "
              f"the pre-activations), extrapolated in 1/d, equal the recursion's coefficients (|z| <= {CLAIM_Z}).",
              coefficient_test, theory,
              {"eps dropped (purely linear layer)": linear,
               f"coefficients of {other}({p['GAIN']:g} x)": _coefficient_theory(other, p["GAIN"], L)}),
        Claim(1, "kernel proxy decays like d^(-1/2)",
              f"||K_l - Lin_l||_F / ||Lin_l||_F decays with the width at the exponent -1/2 of the bound's shape at "
              f"fixed n/d (weighted log-log fit, |z| <= {CLAIM_Z} for every layer).",
              rate_test, {"exponent": -0.5}, {"no convergence (exponent 0)": {"exponent": 0.0},
                                              "exponent -1": {"exponent": -1.0}}),
        Claim(1, "spectrum of a layer = spectrum of its Gaussian equivalent",
              f"The spectral moments m_k = tr(G^k)/n, k = 1, 2, 3, of every layer's Gram matrix equal those of "
              f"the Gaussian-equivalent network on the same weights as d -> infinity (limit + c/d, |z| <= {CLAIM_Z}).",
              spectrum_test, {"model": "equivalent"}, {"noise term dropped (eps_l = 0)": {"model": "noiseless"}}),
    ]
