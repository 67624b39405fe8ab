"""Chapter 9's sweep tasks: finite-width deep equilibrium models on the chapter's inputs (book
eq-deq-fixed-point), each network with its own random stream.

Every task ``(params, seed)`` draws its networks from ``task_rng(params, seed, tag, width)``
(``default_rng([base_seed, tag, width, seed])``: one stream per experiment, width and seed), and
records the contraction factor ``q`` of each draw (:func:`deepgep.simulate.deq.contraction_factor`)
and whether its iteration converged: draws outside the hypothesis of thm-deq-gp, or not converged,
are counted, never dropped silently.

* :func:`kernel_task`: one DEQ, one row per entry ``(i, j)``, ``i <= j``, of its empirical kernel;
* :func:`gaussianity_task`: a batch of DEQs on the first input, the moments of one output;
* :func:`limits_task`: one network as the weight-tied network of each depth and as the DEQ, one
  row per depth (``depth = inf``: the DEQ);
* :func:`eigen_task`: one DEQ on the digits, the smallest eigenvalue of its kernel.

The inputs have their own streams (:func:`sphere_inputs`, :func:`digit_inputs`): the same in
every task and in the notebook. :func:`kernel_ridge_comparison` is the notebook's live use of the
fixed point as a kernel for ridge regression on the digits. The readers at the end turn the tables
(pandas DataFrames, long format) into arrays per width.

Tolerance of ``deepgep results verify``: every field within a relative 1e-8 (the chapter module's
``VERIFY_TOLERANCE``): the forward iteration stops at a residual of 1e-10, so another machine's
BLAS summation order may move a recorded value in its last digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from deepgep.simulate.deq import (contraction_factor, deq_forward, empirical_kernel, network_batches, sample_weights,
                                  weight_tied_states)
from deepgep.simulate.estimators import kernel_ridge_classification
from deepgep.support.datasets import digits
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import task_rng
from deepgep.theory.deq import deq_kernel, input_kernel

__all__ = ["TASKS_MODULE", "DEQ_DEPTH", "sphere_inputs", "digit_inputs", "mean_entries", "kernel_task",
           "gaussianity_task", "limits_task", "eigen_task", "kernel_ridge_comparison", "kernel_samples", "width_means",
           "draw_counts", "gaussianity_summary"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch9_deep_equilibrium_tasks"
#: Tags of the experiments (and of the inputs) in the seeds of their random streams.
_KERNEL, _GAUSS, _LIMITS, _EIGEN, _INPUTS = 1, 2, 3, 4, 5
#: The ``depth`` of the DEQ's row in the ``limits`` table: the weight-tied network of infinite depth.
DEQ_DEPTH = math.inf


def sphere_inputs(base_seed: int, n_inputs: int, d0: int) -> np.ndarray:
    """The chapter's inputs: ``n_inputs`` Gaussian vectors of dimension ``d0`` rescaled to
    ``<x, x>/d0 = 1``, from the stream ``default_rng([base_seed, 5, 0])``."""
    X = np.random.default_rng([int(base_seed), _INPUTS, 0]).standard_normal((int(n_inputs), int(d0)))
    return X * (math.sqrt(d0) / np.linalg.norm(X, axis=1, keepdims=True))


def digit_inputs(base_seed: int, n_inputs: int) -> np.ndarray:
    """``n_inputs`` images of the ``digits`` data set (centred and normalised to ``<x, x>/d0 =
    1``), a random choice from the stream ``default_rng([base_seed, 5, 1])``."""
    return digits(int(n_inputs), 1, np.random.default_rng([int(base_seed), _INPUTS, 1]))[0]


def mean_entries(K: np.ndarray) -> tuple[float, float]:
    """Mean diagonal and mean off-diagonal entry of a kernel matrix."""
    P = K.shape[-1]
    return float(np.trace(K)) / P, float(K.sum() - np.trace(K)) / (P * (P - 1))


def _network(params: Mapping, X: np.ndarray, rng: np.random.Generator, networks: int | None = None):
    """``W, U`` of width ``params["width"]`` and their DEQ on ``X`` (failures allowed: flagged)."""
    W, U = sample_weights(int(params["width"]), X.shape[1], params["sigma_w"], params["sigma_u"], rng, networks)
    sol = deq_forward(W, U, X, params["activation"], max_iter=int(params["max_iter"]), allow_failures=True)
    return W, U, sol


def kernel_task(params: Mapping, seed: int) -> list[dict[str, Any]]:
    """One width-``width`` DEQ on the chapter's inputs: one row per entry ``(i, j)``, ``i <= j``,
    of its empirical kernel ``K_n = sigma_w^2 h*^T h* / n`` (field ``kernel``), each with the
    network's contraction factor ``q``, whether the iteration converged and in how many steps."""
    X = sphere_inputs(params["base_seed"], params["n_inputs"], params["d0"])
    W, _, sol = _network(params, X, task_rng(params, seed, _KERNEL, params["width"]))
    K = empirical_kernel(sol.h, params["sigma_w"])
    network = {"q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged)),
               "iterations": int(sol.iterations)}
    return [{"i": int(i), "j": int(j), "kernel": float(K[i, j]), **network} for i, j in zip(*np.triu_indices(K.shape[0]))]


def gaussianity_task(params: Mapping, seed: int) -> dict[str, Any]:
    """``networks`` width-``width`` DEQs on the first input ``x``: ``k = K_n(x, x) / Sigma*(x, x)``
    (the variance of the output given the weights) and one output ``z = sigma_w v . h* / sqrt(n
    Sigma*(x, x))`` each. Record: ``networks``, ``failed`` (not converged: left out of the means),
    ``outside`` (``q >= 1``), ``k1``, ``k2`` (means of ``k``, ``k^2``), ``z2``, ``z4`` and ``ks``
    (the Kolmogorov-Smirnov distance of the ``z`` to ``N(0, 1)``)."""
    x = sphere_inputs(params["base_seed"], params["n_inputs"], params["d0"])[:1]
    n, sw = int(params["width"]), float(params["sigma_w"])
    rng = task_rng(params, seed, _GAUSS, n)
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


def limits_task(params: Mapping, seed: int) -> list[dict[str, Any]]:
    """One width-``width`` network on the chapter's inputs as the weight-tied network of each depth
    ``L`` of ``depths`` (``h^0 = 0``) and as the DEQ (``depth`` = :data:`DEQ_DEPTH`), one row per
    depth: ``diag``, ``off`` (mean diagonal, off-diagonal entry of ``K_{n,L}``), and at finite
    depth ``gap = ||K_{n,L} - K_n||_F / ||K_n||_F``, ``state = max_x ||h^L(x) - h*(x)|| /
    ||h*(x)||`` (``<= q^L`` if ``q < 1``) and ``distance``, the mean over the inputs of
    ``sigma_w^2 ||h^L(x) - h*(x)||^2 / n`` (its infinite-width limit is
    :func:`deepgep.theory.deq.state_distances`; the DEQ's row leaves the three empty: it is their
    reference); each row with the network's ``q``, ``converged`` and ``iterations`` (the layers
    the forward iteration needed to reach its tolerance).

    The DEQ state is the solver's, within ``FORWARD_TOLERANCE`` = 1e-10 of the equilibrium along
    its slowest direction, so ``distance`` carries a relative error of about
    ``2 ell^((iterations - L)/2)``: 8e-4 at ``L = 16`` for the book's 23 iterations at
    ``ell = 0.1075``, which bounds the depths worth recording."""
    X = sphere_inputs(params["base_seed"], params["n_inputs"], params["d0"])
    W, U, sol = _network(params, X, task_rng(params, seed, _LIMITS, params["width"]))
    depths = sorted(int(L) for L in params["depths"])
    K = empirical_kernel(sol.h, params["sigma_w"])
    network = {"q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged)),
               "iterations": int(sol.iterations)}
    sw2_over_n = float(params["sigma_w"]) ** 2 / sol.h.shape[0]
    rows = []
    for L, H in zip(depths, weight_tied_states(W, U, X, params["activation"], depths)):
        KL = empirical_kernel(H, params["sigma_w"])
        diag, off = mean_entries(KL)
        norms = np.linalg.norm(H - sol.h, axis=0)
        rows.append({"depth": L, "diag": diag, "off": off, "gap": float(np.linalg.norm(KL - K) / np.linalg.norm(K)),
                     "state": float(np.max(norms / np.linalg.norm(sol.h, axis=0))),
                     "distance": sw2_over_n * float(np.mean(norms**2)), **network})
    diag, off = mean_entries(K)
    return [*rows, {"depth": DEQ_DEPTH, "diag": diag, "off": off, **network}]


def eigen_task(params: Mapping, seed: int) -> dict[str, Any]:
    """One width-``width`` DEQ on ``n_inputs`` digits: ``lambda_min`` of its empirical kernel,
    ``q`` and ``converged``."""
    X = digit_inputs(params["base_seed"], params["n_inputs"])
    W, _, sol = _network(params, X, task_rng(params, seed, _EIGEN, params["width"]))
    return {"lambda_min": float(np.linalg.eigvalsh(empirical_kernel(sol.h, params["sigma_w"]))[0]),
            "q": contraction_factor(W, params["activation"]), "converged": bool(np.all(sol.converged))}


def kernel_ridge_comparison(activation: str, sigma_w: float, sigma_u: float, n: int, n_test: int,
                            penalties: Sequence[float], rng: np.random.Generator) -> dict[str, object]:
    """Digits (``n`` training, ``n_test`` test images) classified by kernel ridge with ``Sigma*``
    against the linear kernel ``Sigma1`` (ridge on the pixels), each penalty chosen among
    ``penalties`` on held-out training images: the accuracies, the paired counts ``deq_only``
    (test images right with ``Sigma*`` only) and ``linear_only``, and McNemar's statistic
    ``(b - c) / sqrt(b + c)``."""
    X_train, y_train, X_test, y_test = digits(n, n_test, rng)
    X, y = np.vstack([X_train, X_test]), np.concatenate([y_train, y_test])
    fp = deq_kernel(input_kernel(X, sigma_u), activation, sigma_w)
    pred_deq, penalty_deq = kernel_ridge_classification(fp.sigma, y, n, penalties)
    pred_lin, penalty_lin = kernel_ridge_classification(input_kernel(X, sigma_u), y, n, penalties)
    right_deq, right_lin = pred_deq == y_test, pred_lin == y_test
    b, c = int(np.sum(right_deq & ~right_lin)), int(np.sum(~right_deq & right_lin))
    return {"accuracy_deq": float(right_deq.mean()), "accuracy_linear": float(right_lin.mean()),
            "deq_only": b, "linear_only": c, "mcnemar": (b - c) / math.sqrt(max(b + c, 1)),
            "penalty_deq": penalty_deq, "penalty_linear": penalty_lin, "iterations": fp.iterations}


# --- readers of the tables (DataFrames: one row per kernel entry, batch, depth or network) ---------

def kernel_samples(table: pd.DataFrame, width: int, n_inputs: int) -> np.ndarray:
    """The empirical kernels of the ``kernel`` table at one width, shape ``(networks, P, P)``."""
    rows = table[table["width"] == width]
    seeds = np.unique(rows["seed"])
    if rows.empty or len(rows) != seeds.size * n_inputs * (n_inputs + 1) // 2:
        raise ValueError(f"the kernel table has no complete kernels of {n_inputs} inputs at width {width}")
    s, i, j = np.searchsorted(seeds, rows["seed"]), rows["i"].to_numpy(int), rows["j"].to_numpy(int)
    K = np.empty((seeds.size, n_inputs, n_inputs))
    K[s, i, j] = K[s, j, i] = rows["kernel"].to_numpy(float)
    return K


def width_means(table: pd.DataFrame, column: str, widths: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the rows (networks or batches) at each width of ``column``, and its standard error."""
    groups = [table.loc[table["width"] == n, column].to_numpy(float) for n in widths]
    if any(g.size < 2 for g in groups):
        raise ValueError(f"fewer than 2 rows of {column!r} at a width of {list(widths)}")
    return np.array([g.mean() for g in groups]), np.array([standard_error(g) for g in groups])


def draw_counts(tables: Mapping[str, pd.DataFrame]) -> dict[str, list]:
    """Per sweep: tasks, networks drawn, draws with ``q >= 1`` and draws not converged."""
    out: dict[str, list] = {k: [] for k in ("sweep", "tasks", "networks", "q >= 1", "not converged")}
    for name, table in tables.items():
        tasks = table.drop_duplicates(["width", "seed"])
        if name == "gaussianity":
            counts = (int(tasks["networks"].sum()), int(tasks["outside"].sum()), int(tasks["failed"].sum()))
        else:
            counts = (len(tasks), int((tasks["q"] >= 1).sum()), int((~tasks["converged"].astype(bool)).sum()))
        for key, value in zip(out, (name, len(tasks), *counts)):
            out[key].append(value)
    return out


def gaussianity_summary(table: pd.DataFrame, widths: Sequence[int]) -> pd.DataFrame:
    """Per width of the ``gaussianity`` table: the mean ``E k = E f^2 / Sigma*(x, x)`` and the
    excess kurtosis ``3 (E k^2 / (E k)^2 - 1)`` of the output (Rao-Blackwellised: the output is
    Gaussian given the weights), each with its standard error over batches; the sampled ``E z^2``,
    the mean KS distance, and the fractions of draws that failed or had ``q >= 1``."""
    out = []
    for n in widths:
        b = table[table["width"] == n]
        kurt, ok = (3.0 * (b["k2"] / b["k1"] ** 2 - 1.0)).to_numpy(float), b["networks"] - b["failed"]
        total = b["networks"].sum()
        out.append({"width": n, "k1": b["k1"].mean(), "k1_se": standard_error(b["k1"].to_numpy(float)),
                    "kurtosis": kurt.mean(), "kurtosis_se": standard_error(kurt), "z2": (b["z2"] * ok).sum() / ok.sum(),
                    "ks": b["ks"].mean(), "failed": b["failed"].sum() / total, "outside": b["outside"].sum() / total})
    return pd.DataFrame(out)
