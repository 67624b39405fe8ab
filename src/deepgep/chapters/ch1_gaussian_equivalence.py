"""Chapter 1: finite-size experiments on the Gaussian equivalence of a layer (Theorem 1; book
thm-layer-equivalence).

Three objects are compared for layer ``l`` of a deep random network, given the Gram matrix
``G_{l-1} = X^{l-1} X^{l-1 T} / d_{l-1}`` of its inputs (samples as rows):

* ``K_l = K(G_{l-1})``, the conjugate kernel: the average of the layer's Gram matrix over its
  weights ``W^l`` (:func:`deepgep.theory.kernels.conjugate_kernel`);
* ``Lin_l = rho_l^2 G_{l-1} + eps_l I``, its linearisation (Theorem 1 in kernel form);
* ``G_l``, the Gram matrix of one draw of the layer, and ``Glin_l``, the Gram matrix of the
  Gaussian-equivalent features ``rho_l Xlin^{l-1} W^{l T}/sqrt(d) + sqrt(eps_l) Xi`` built with the
  same weights (:func:`deepgep.simulate.networks.linearised_forward`).

Each function returns plain arrays (a "record") that the notebook prints and plots.
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from deepgep.simulate.networks import forward, gaussian_inputs, linearised_forward, sample_network
from deepgep.support.spectra import eigenvalues, gram, operator_norm, relative_operator_distance, spectral_distance
from deepgep.support.validation import check_alpha
from deepgep.theory.kernels import conjugate_kernel, linearised_kernel
from deepgep.theory.layers import LayerCoefficients, theorem1_bound_shape

__all__ = [
    "LayerComparison", "compare_layers", "layer_width_scan", "layer_spectra", "sample_size_scan",
    "bound_shape_curve",
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
        Lin = linearised_kernel(G_prev, c["rho"], c["eps"])
        G = gram(feats[ell])
        ev_K = eigenvalues(K)
        out.append(
            LayerComparison(
                kernel_vs_linear=relative_operator_distance(K, Lin),
                gram_vs_kernel=operator_norm(G - K) / float(np.max(np.abs(ev_K))),
                spectrum_vs_equivalent=spectral_distance(eigenvalues(G), eigenvalues(gram(lin_feats[ell]))),
                top_eigenvalue_kernel=float(ev_K[-1]),
            )
        )
    return out


def layer_width_scan(
    coefficients: LayerCoefficients,
    widths: Sequence[int],
    alpha: float,
    n_seeds: int,
    rng: np.random.Generator,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Proportional regime: all ``L + 1`` widths equal to ``d``, ``n = alpha d``, for each ``d``.

    Returns arrays of shape ``(len(widths), n_seeds, L)`` for each field of
    :class:`LayerComparison`, plus ``d`` and ``n``.
    """
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
    rec["d"] = np.asarray(widths)
    rec["n"] = np.asarray(ns)
    return rec


def layer_spectra(
    coefficients: LayerCoefficients, d: int, n: int, rng: np.random.Generator
) -> dict[str, list[np.ndarray]]:
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
        spectra["linearised_kernel"].append(
            eigenvalues(linearised_kernel(gram(feats[ell - 1]), c["rho"], c["eps"]))
        )
    return spectra


def sample_size_scan(
    coefficients: LayerCoefficients,
    d: int,
    ns: Sequence[int],
    n_seeds: int,
    rng: np.random.Generator,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """First layer at fixed width ``d`` and growing ``n`` (beyond the proportional regime).

    Returns, with shape ``(len(ns), n_seeds)``: ``kernel_vs_linear``, ``gram_vs_kernel`` and
    ``nonlinear_offdiag``, the operator norm of the off-diagonal part of ``K - Lin`` divided by
    ``eps_1`` (how far the nonlinear part of the kernel is from white noise); plus the bound's
    shape ``theorem_rate`` per ``n``.
    """
    act = coefficients.activation
    c = coefficients.layer(1)
    shape = (len(ns), n_seeds)
    rec = {k: np.empty(shape) for k in ("kernel_vs_linear", "gram_vs_kernel", "nonlinear_offdiag")}
    for i, n in enumerate(tqdm(ns, desc="n", disable=not progress)):
        for s in range(n_seeds):
            net = sample_network((d, d), act, rng)
            X0, X1 = forward(net, gaussian_inputs(int(n), d, rng))
            G0 = gram(X0)
            K = conjugate_kernel(G0, act)
            Lin = linearised_kernel(G0, c["rho"], c["eps"])
            D = K - Lin
            np.fill_diagonal(D, 0.0)
            rec["kernel_vs_linear"][i, s] = relative_operator_distance(K, Lin)
            rec["gram_vs_kernel"][i, s] = relative_operator_distance(gram(X1), K)
            rec["nonlinear_offdiag"][i, s] = operator_norm(D) / c["eps"]
    rec["n"] = np.asarray(ns)
    rec["theorem_rate"] = np.array([theorem1_bound_shape(n, d) for n in ns])
    return rec


def bound_shape_curve(d: int, n_min: float, n_max: float, points: int = 200) -> dict[str, np.ndarray]:
    """The shape of Theorem 1's bound at width ``d`` on a dense geometric grid of ``n`` from
    ``n_min`` to ``n_max`` (the curve drawn with :func:`sample_size_scan`'s measurements)."""
    n = np.geomspace(float(n_min), float(n_max), points)
    return {"n": n, "rate": np.array([theorem1_bound_shape(float(m), d) for m in n])}
