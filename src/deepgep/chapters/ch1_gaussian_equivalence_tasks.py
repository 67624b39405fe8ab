"""Chapter 1's sweep tasks: random networks compared layer by layer with their Gaussian
equivalents (Theorem 1 of Camilli et al. 2025; book thm-layer-equivalence, eq-layer-equivalent,
eq-kernel-linearisation).

Three objects are compared for layer ``l`` of a deep random network, given the Gram matrix
``G_{l-1} = X^{l-1} X^{l-1 T} / d_{l-1}`` of its inputs (samples as rows):

* ``K_l = K(G_{l-1})``, the conjugate kernel: the average of the layer's Gram matrix over its
  weights ``W^l`` (:func:`deepgep.theory.kernels.conjugate_kernel`, book eq-conjugate-kernel);
* ``Lin_l = rho_l^2 G_{l-1} + eps_l I``, its linearisation (Theorem 1 in kernel form);
* ``G_l``, the Gram matrix of one draw of the layer, and ``Glin_l``, the Gram matrix of the
  Gaussian-equivalent features ``rho_l Xlin^{l-1} W^{l T}/sqrt(d) + sqrt(eps_l) Xi`` built with the
  same weights (:func:`deepgep.simulate.networks.linearised_forward`).

Each task draws one network with its own random stream
(:func:`deepgep.support.sweeps.task_rng`) and writes one record per measured point, in long
format: :func:`width_task` one per layer (index column ``layer``), :func:`sample_size_task` one
per sample ratio (index column ``alpha``). :func:`layer_spectra` draws the spectra of the figure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from scipy.sparse.linalg import eigsh

from deepgep.simulate.networks import forward, gaussian_inputs, linearised_forward, sample_network
from deepgep.support.spectra import eigenvalues, gram, operator_norm, spectral_distance
from deepgep.support.sweeps import task_rng
from deepgep.theory.activations import get_activation
from deepgep.theory.kernels import conjugate_kernel, linearised_kernel
from deepgep.theory.layers import LayerCoefficients, layer_coefficients

__all__ = ["TASKS_MODULE", "MOMENTS", "WIDTH_TOLERANCE", "SAMPLE_SIZE_TOLERANCE", "samples_of", "width_task",
           "sample_size_task", "operator_norm_large", "layer_spectra"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch1_gaussian_equivalence_tasks"
#: Tags of the experiments in the seeds of their random streams.
_WIDTH, _SAMPLE_SIZE = 1, 2
#: Spectral moments ``m_k = tr(G^k) / n`` recorded for the moment test of the spectra.
MOMENTS = (1, 2, 3)
#: Above this size an operator norm is computed by Lanczos (ARPACK) instead of a full eigh.
_DENSE_MAX = 1000
#: Relative tolerance of the Lanczos operator norms.
_LANCZOS_TOL = 1e-10
#: Relative tolerance of a recomputed width task (see :func:`width_task`).
WIDTH_TOLERANCE = 1e-8
#: Relative tolerance of a recomputed sample-size task (see :func:`sample_size_task`).
SAMPLE_SIZE_TOLERANCE = 1e-6


def samples_of(alpha: float, width: int) -> int:
    """``n = round(alpha width)``, at least 2 (a Gram matrix of one sample has no spectrum)."""
    return max(2, round(float(alpha) * int(width)))


def _coefficients(params: Mapping) -> LayerCoefficients:
    return layer_coefficients(get_activation(params["activation"], float(params["gain"])), int(params["depth"]))


def _moments(ev: np.ndarray) -> list[float]:
    return [float(np.mean(ev**k)) for k in MOMENTS]


def width_task(params: Mapping, seed: int) -> list[dict[str, float | int]]:
    """One network of ``depth`` layers, every width (input included) ``width``,
    ``n = round(alpha width)`` Gaussian inputs, compared layer by layer (layer ``l`` fed with the
    true features of layer ``l - 1``). The stream is ``task_rng(params, seed, 1, tag, width)``
    (``tag`` tells apart the chapter's two width sweeps).

    One record per layer ``l`` (index column ``layer``): ``kernel_op``
    ``||K - Lin||_op / ||Lin||_op`` and ``kernel_frob`` ``||K - Lin||_F / ||Lin||_F`` (book
    eq-kernel-linearisation); ``gram_vs_kernel`` ``||G - K||_op / ||K||_op``; ``spectrum_w1``
    ``W1(spec G, spec Glin) / mean``; ``top_kernel`` ``lambda_max(K)``; the layer's measured
    coefficients (book eq-layer-coefficients) from its pre-activations ``H = X^{l-1} W^{l T}/sqrt(d)``:
    ``rho_hat = <phi(H) H> / <H^2>``, ``eps_hat = <(phi(H) - rho_hat H)^2>``,
    ``sigma_hat = <phi(H)^2>``; and the spectral moments ``m<k>_gram``, ``m<k>_equivalent``
    (Gaussian-equivalent network, eq-layer-equivalent) and ``m<k>_noiseless`` (the same without
    its noise: ``eps_l = 0``, a purely linear network).

    Tolerance of a recomputation, :data:`WIDTH_TOLERANCE` = 1e-8 relative: the draws are exact,
    but the dense symmetric eigensolvers (``n`` up to 1600) and the BLAS products of another
    machine round in another order; their relative differences are ~1e-13, amplified at most
    by the conditioning of the ratios of norms, far below 1e-8, which still catches any change
    of the algorithm or of the stream.
    """
    d, L = int(params["width"]), int(params["depth"])
    n = samples_of(params["alpha"], d)
    coef = _coefficients(params)
    rng = task_rng(params, seed, _WIDTH, int(params["tag"]), d)
    net = sample_network((d,) * (L + 1), coef.activation, rng)
    X0 = gaussian_inputs(n, d, rng)
    feats = forward(net, X0)
    equivalent = linearised_forward(net, coef, X0, rng)
    noiseless = linearised_forward(net, dataclasses.replace(coef, eps=np.zeros_like(coef.eps)), X0, rng)
    records: list[dict[str, float | int]] = []
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
        record = {"layer": ell,
                  "kernel_op": operator_norm(K - Lin) / float(np.max(np.abs(c["rho"] ** 2 * ev_prev + c["eps"]))),
                  "kernel_frob": float(np.linalg.norm(K - Lin) / np.linalg.norm(Lin)),
                  "gram_vs_kernel": operator_norm(G - K) / float(np.max(np.abs(ev_K))),
                  "spectrum_w1": spectral_distance(ev["gram"], ev["equivalent"]),
                  "top_kernel": float(ev_K[-1]), "rho_hat": rho_hat, "sigma_hat": float(np.mean(X * X)),
                  "eps_hat": float(np.mean((X - rho_hat * H) ** 2))}
        for name, spectrum in ev.items():
            record.update({f"m{k}_{name}": m for k, m in zip(MOMENTS, _moments(spectrum))})
        records.append(record)
        G_prev, ev_prev = G, ev["gram"]
    return records


def operator_norm_large(A: np.ndarray) -> float:
    """Operator norm of a symmetric matrix: a full eigh up to ``_DENSE_MAX`` rows, else Lanczos
    (ARPACK, relative tolerance ``_LANCZOS_TOL``) from a start vector fixed by the size
    (deterministic)."""
    if A.shape[0] <= _DENSE_MAX:
        return operator_norm(A)
    v0 = np.random.default_rng(A.shape[0]).standard_normal(A.shape[0])
    return float(abs(eigsh(A, k=1, which="LM", v0=v0, tol=_LANCZOS_TOL, return_eigenvectors=False)[0]))


def sample_size_task(params: Mapping, seed: int) -> list[dict[str, float]]:
    """The first layer at fixed width ``width`` (input and layer) and ``n = round(alpha width)``
    inputs for every ``alpha`` of ``alphas``: ONE draw of the largest ``n``, whose leading blocks
    are the smaller samples (the kernels are entrywise, so nested prefixes cost one kernel); the
    stream is ``task_rng(params, seed, 2, width)``. One record per ``alpha`` (index column
    ``alpha``): ``kernel_op`` ``||K - Lin||/||Lin||``, ``gram_vs_kernel`` ``||G - K||/||K||`` and
    ``offdiag`` ``||offdiag(K - Lin)|| / eps_1`` (operator norms): how far the nonlinear part of the
    kernel is from the white noise ``eps_1 I`` of the equivalent layer.

    Tolerance of a recomputation, :data:`SAMPLE_SIZE_TOLERANCE` = 1e-6 relative: above
    ``_DENSE_MAX`` samples the norms are Lanczos estimates converged to ``_LANCZOS_TOL`` = 1e-10,
    whose last digits depend on the machine's rounding; a ratio of two of them is good to a few
    times 1e-10, and 1e-6 leaves a margin for slow convergence at the largest ``n``."""
    d, alphas = int(params["width"]), [float(a) for a in params["alphas"]]
    coef = layer_coefficients(get_activation(params["activation"], float(params["gain"])), 1)
    c = coef.layer(1)
    rng = task_rng(params, seed, _SAMPLE_SIZE, d)
    net = sample_network((d, d), coef.activation, rng)
    X0, X1 = forward(net, gaussian_inputs(samples_of(max(alphas), d), d, rng))
    G0 = gram(X0)
    K = conjugate_kernel(G0, coef.activation)
    D = K - linearised_kernel(G0, c["rho"], c["eps"])
    records = []
    for alpha in alphas:
        n = samples_of(alpha, d)
        Lin = linearised_kernel(G0[:n, :n], c["rho"], c["eps"])
        off = D[:n, :n].copy()
        np.fill_diagonal(off, 0.0)
        records.append({"alpha": alpha,
                        "kernel_op": operator_norm_large(D[:n, :n]) / operator_norm_large(Lin),
                        "gram_vs_kernel": operator_norm_large(gram(X1[:n]) - K[:n, :n]) / operator_norm_large(K[:n, :n]),
                        "offdiag": operator_norm_large(off) / c["eps"]})
    return records


def layer_spectra(coefficients: LayerCoefficients, width: int, n: int,
                  rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Eigenvalues, layer by layer, of ``G_l``, ``Glin_l`` and ``Lin_l`` for one draw of the
    network of every width ``width`` on ``n`` inputs (the figure of the spectra)."""
    L = coefficients.depth
    net = sample_network((int(width),) * (L + 1), coefficients.activation, rng)
    X0 = gaussian_inputs(int(n), int(width), rng)
    feats = forward(net, X0)
    lin_feats = linearised_forward(net, coefficients, X0, rng)
    spectra: dict[str, list[np.ndarray]] = {"gram": [], "equivalent": [], "linearised_kernel": []}
    for ell in range(1, L + 1):
        c = coefficients.layer(ell)
        spectra["gram"].append(eigenvalues(gram(feats[ell])))
        spectra["equivalent"].append(eigenvalues(gram(lin_feats[ell])))
        spectra["linearised_kernel"].append(eigenvalues(linearised_kernel(gram(feats[ell - 1]), c["rho"], c["eps"])))
    return spectra
