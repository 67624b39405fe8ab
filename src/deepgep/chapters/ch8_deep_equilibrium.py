"""Chapter 8: deep equilibrium models as Gaussian processes (Gao et al. 2023; book thm-deq-gp,
thm-deq-pd): the finite-width DEQ against its kernel fixed point, the order of the limits, the
smallest eigenvalue of the kernel, and kernel ridge on the digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from deepgep.simulate.deq import (FORWARD_MAX_ITER, FORWARD_TOLERANCE, DEQConvergenceError,
                                  DEQSolution, deq_forward, empirical_kernel, network_batches,
                                  relative_error, sample_weights, weight_tied_states)
from deepgep.simulate.estimators import kernel_ridge_classification
from deepgep.support.datasets import digits
from deepgep.support.validation import check_count, check_design, check_sizes
from deepgep.theory.deq import (ContractionError, KernelFixedPoint, deq_kernel, input_kernel,
                                weight_tied_kernels)

__all__ = ["DEQModel", "forward_convergence", "contraction_scan", "kernel_width_scan",
           "output_gaussianity", "commuting_limits", "min_eigenvalue_scan",
           "finite_width_min_eigenvalues", "kernel_ridge_comparison"]


@dataclass(frozen=True)
class DEQModel:
    """The shared settings of the chapter's experiments: activation, ``sigma_w``, ``sigma_u``."""

    activation: str
    sigma_w: float
    sigma_u: float

    def kernel(self, X: np.ndarray, **kwargs) -> KernelFixedPoint:
        """``Sigma*`` on the inputs ``X`` (rows)."""
        return deq_kernel(input_kernel(X, self.sigma_u), self.activation, self.sigma_w, **kwargs)

    def solve(self, X: np.ndarray, n: int, rng: np.random.Generator, n_networks: int | None = None,
              **kwargs) -> DEQSolution:
        """Sample width-``n`` networks and solve their DEQs on ``X``."""
        W, U = sample_weights(n, X.shape[1], self.sigma_w, self.sigma_u, rng, n_networks)
        return deq_forward(W, U, X, self.activation, **kwargs)


def forward_convergence(model: DEQModel, X: np.ndarray, n: int, rng: np.random.Generator,
                        tol: float = FORWARD_TOLERANCE) -> dict[str, object]:
    """Residual traces of plain iteration and Anderson acceleration on one width-``n`` DEQ
    (same weights), with the geometric rate of the plain iteration over its second half and
    its prediction ``sqrt(ell)``."""
    X = check_design(X)
    W, U = sample_weights(n, X.shape[1], model.sigma_w, model.sigma_u, rng)
    plain = deq_forward(W, U, X, model.activation, method="iteration", tol=tol)
    anderson = deq_forward(W, U, X, model.activation, method="anderson", tol=tol)
    r = plain.residuals
    half = r.size // 2
    rate = float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half)))
    return {"plain": plain, "anderson": anderson, "rate": rate,
            "predicted_rate": math.sqrt(model.kernel(X).lipschitz),
            "gap": float(np.max(np.abs(plain.h - anderson.h)))}


def contraction_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float, n: int,
                     rng: np.random.Generator, max_iter: int = FORWARD_MAX_ITER
                     ) -> dict[str, np.ndarray]:
    """For each ``sigma_w``: ``ell`` from :func:`deq_kernel` (also when it raises
    :class:`ContractionError`), and whether one width-``n`` DEQ on ``X`` converges by plain
    iteration within ``max_iter`` steps, with its geometric rate over the second half of the
    iterations (``nan`` where it did not converge)."""
    X = check_design(X)
    ells, converged, rates = [], [], []
    for sw in sigma_ws:
        try:
            ells.append(DEQModel(activation, float(sw), sigma_u).kernel(X).lipschitz)
        except ContractionError as err:
            ells.append(err.lipschitz)
        W, U = sample_weights(n, X.shape[1], float(sw), sigma_u, rng)
        sol = deq_forward(W, U, X, activation, max_iter=max_iter, allow_failures=True)
        ok = bool(sol.converged)
        converged.append(ok)
        r = sol.residuals
        half = r.size // 2
        rates.append(float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half))) if ok else math.nan)
    return {"sigma_w": np.asarray(sigma_ws, dtype=float), "lipschitz": np.array(ells),
            "converged": np.array(converged), "rate": np.array(rates)}


def kernel_width_scan(model: DEQModel, X: np.ndarray, widths, n_seeds: int, rng: np.random.Generator,
               tol: float = FORWARD_TOLERANCE) -> dict[str, np.ndarray]:
    """Relative error ``||K_n - Sigma*||_F / ||Sigma*||_F`` of the DEQ's empirical kernel,
    ``n_seeds`` independent networks per width (rows: widths)."""
    X = check_design(X)
    widths = check_sizes("widths", widths)
    star = model.kernel(X).sigma
    errors = np.empty((widths.size, check_count("n_seeds", n_seeds)))
    for i, n in enumerate(widths):
        col = 0
        for size in network_batches(errors.shape[1], n):
            h = model.solve(X, int(n), rng, n_networks=size, tol=tol).h
            errors[i, col:col + size] = relative_error(empirical_kernel(h, model.sigma_w), star)
            col += size
    return {"widths": widths, "errors": errors, "sigma_star": star}


def output_gaussianity(model: DEQModel, x: np.ndarray, widths, n_networks: int,
                       rng: np.random.Generator, tol: float = FORWARD_TOLERANCE,
                       max_iter: int = FORWARD_MAX_ITER) -> dict[str, np.ndarray]:
    """Outputs ``f(x) = sigma_w v . h*(x) / sqrt(n)`` of ``n_networks`` independent DEQs per
    width, standardised by ``sqrt(Sigma*(x, x))``, against ``N(0, 1)``: the Kolmogorov-Smirnov
    statistic and p-value and the mean square of the standardised outputs. Networks whose
    iteration does not reach ``tol`` within ``max_iter`` steps (no stable equilibrium, which
    happens at small width) are left out and counted in ``failed`` (a fraction)."""
    X = check_design(np.atleast_2d(x))
    if X.shape[0] != 1:
        raise ValueError("output_gaussianity takes one input x")
    widths = check_sizes("widths", widths)
    n_networks = check_count("n_networks", n_networks, 2)
    scale = math.sqrt(model.kernel(X).sigma[0, 0])
    ks, pvalue, variance, failed = [], [], [], []
    for n in widths:
        f, ok = [], []
        for size in network_batches(n_networks, n):
            sol = model.solve(X, int(n), rng, n_networks=size, tol=tol, max_iter=max_iter,
                              allow_failures=True)
            h = sol.h[:, :, 0]
            v = rng.standard_normal(h.shape)
            f.append(model.sigma_w * np.sum(v * h, axis=1) / math.sqrt(n))
            ok.append(sol.converged)
        ok = np.concatenate(ok)
        z = np.concatenate(f)[ok] / scale
        test = stats.kstest(z, "norm")
        ks.append(test.statistic)
        pvalue.append(test.pvalue)
        variance.append(float(np.mean(z * z)))
        failed.append(1.0 - ok.mean())
    return {"widths": widths, "ks": np.array(ks), "pvalue": np.array(pvalue),
            "variance": np.array(variance), "failed": np.array(failed)}


def commuting_limits(model: DEQModel, X: np.ndarray, widths, depths, n_seeds: int,
                     rng: np.random.Generator, tol: float = FORWARD_TOLERANCE) -> dict[str, np.ndarray]:
    """Relative distance to ``Sigma*`` of the kernels on the (depth, width) grid.

    ``errors[i, j]``: mean over ``n_seeds`` networks of ``||K_{n_j, L_i} - Sigma*||_F /
    ||Sigma*||_F`` for the weight-tied network of depth ``L_i`` and width ``n_j``; the last row
    (``L = inf``) uses the DEQ fixed point of the same networks. ``infinite_width[i]``: the same
    for the infinite-width kernel ``Sigma^{L_i}`` (width first), last entry 0 by definition
    (``Sigma^inf = Sigma*``). ``deq_vs_deep[j]``: mean ``||K_{n_j, L_max} - K_{n_j}||_F /
    ||Sigma*||_F`` (the deepest network against the DEQ, same weights)."""
    X = check_design(X)
    widths = check_sizes("widths", widths)
    depths = np.unique(check_sizes("depths", depths))
    n_seeds = check_count("n_seeds", n_seeds)
    fp = model.kernel(X)
    star = fp.sigma
    deep = weight_tied_kernels(input_kernel(X, model.sigma_u), model.activation, model.sigma_w,
                               int(depths.max()))
    infinite_width = np.append(relative_error(deep[depths], star), 0.0)
    errors = np.zeros((depths.size + 1, widths.size))
    deq_vs_deep = np.zeros(widths.size)
    for j, n in enumerate(widths):
        W, U = sample_weights(int(n), X.shape[1], model.sigma_w, model.sigma_u, rng, n_seeds)
        h_star = deq_forward(W, U, X, model.activation, tol=tol).h
        K_star = empirical_kernel(h_star, model.sigma_w)
        errors[-1, j] = relative_error(K_star, star).mean()
        for i, H in enumerate(weight_tied_states(W, U, X, model.activation, depths)):
            K = empirical_kernel(H, model.sigma_w)
            errors[i, j] = relative_error(K, star).mean()
        deq_vs_deep[j] = (relative_error(K, K_star) * np.linalg.norm(K_star, axis=(-2, -1))
                          / np.linalg.norm(star)).mean()
    return {"widths": widths, "depths": depths, "errors": errors, "infinite_width": infinite_width,
            "deq_vs_deep": deq_vs_deep, "lipschitz": fp.lipschitz}


def min_eigenvalue_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float) -> np.ndarray:
    """``lambda_min(Sigma*)`` for each ``sigma_w`` (``lambda_min(Sigma1)`` at ``sigma_w = 0``
    is not included: ``Sigma* = 0`` there)."""
    return np.array([np.linalg.eigvalsh(DEQModel(activation, float(s), sigma_u).kernel(X).sigma)[0]
                     for s in sigma_ws])


def finite_width_min_eigenvalues(model: DEQModel, X: np.ndarray, widths, n_seeds: int,
                                 rng: np.random.Generator, max_draws: int = 10
                                 ) -> dict[str, np.ndarray]:
    """``lambda_min(K_n)`` of the DEQ's empirical kernel (rows: widths, columns: seeds).

    Draws of ``W`` whose DEQ has no stable equilibrium on some input (the plain iteration does
    not converge; this happens at small width) are redrawn and counted in ``rejected``; more
    than ``max_draws * n_seeds`` draws at one width raise :class:`DEQConvergenceError`."""
    X = check_design(X)
    widths = check_sizes("widths", widths)
    n_seeds = check_count("n_seeds", n_seeds)
    out = np.empty((widths.size, n_seeds))
    rejected = np.zeros(widths.size, dtype=int)
    for i, n in enumerate(widths):
        col = 0
        while col < n_seeds:
            if rejected[i] + col >= max_draws * n_seeds:
                raise DEQConvergenceError(f"width {n}: {rejected[i]} draws without an equilibrium")
            sol = model.solve(X, int(n), rng, n_networks=1, allow_failures=True)
            if not sol.converged[0]:
                rejected[i] += 1
                continue
            out[i, col] = np.linalg.eigvalsh(empirical_kernel(sol.h[0], model.sigma_w))[0]
            col += 1
    return {"widths": widths, "lambda_min": out, "rejected": rejected}


def kernel_ridge_comparison(model: DEQModel, n_train: int, n_test: int, ridges,
                            rng: np.random.Generator) -> dict[str, object]:
    """Digits classified by kernel ridge with ``Sigma*`` against the linear kernel ``Sigma1``
    (the same network at ``sigma_w = 0``, i.e. ridge on the pixels). Returns the accuracies,
    the paired counts ``deq_only`` (test images right with ``Sigma*`` only) and
    ``linear_only``, and McNemar's statistic ``(deq_only - linear_only) / sqrt(deq_only +
    linear_only)``."""
    X_train, y_train, X_test, y_test = digits(n_train, n_test, rng)
    X = np.vstack([X_train, X_test])
    y = np.concatenate([y_train, y_test])
    fp = model.kernel(X)
    pred_deq, ridge_deq = kernel_ridge_classification(fp.sigma, y, n_train, ridges)
    pred_lin, ridge_lin = kernel_ridge_classification(input_kernel(X, model.sigma_u), y, n_train, ridges)
    right_deq, right_lin = pred_deq == y_test, pred_lin == y_test
    b = int(np.sum(right_deq & ~right_lin))
    c = int(np.sum(~right_deq & right_lin))
    return {"accuracy_deq": float(right_deq.mean()), "accuracy_linear": float(right_lin.mean()),
            "deq_only": b, "linear_only": c, "mcnemar": (b - c) / math.sqrt(max(b + c, 1)),
            "ridge_deq": ridge_deq, "ridge_linear": ridge_lin, "iterations": fp.iterations}
