"""The exact finite-size quantities of the linear equivalent GLM.

By Corollary 3 and Theorem 4 of Camilli, Tieplova, Bergamin & Barbier (2025) (book
thm-reduction, eq-equivalent-glm), a deep random network in the proportional regime is information-theoretically
equivalent to the generalised linear model (GLM)

    z = eta0 X a / sqrt(d),    Y = f(z + sqrt(gamma0) xi) + sqrt(Delta) xi',

with inputs ``X`` (``n x d``, rows = samples, i.i.d. ``N(0, 1)``), teacher ``a ~ N(0, I_d)`` and
``xi, xi'`` i.i.d. ``N(0, 1)``. Each pre-activation has variance ``kappa = eta0**2``.

For the LINEAR channel ``f(x) = x`` the model is ``Y = B a + sqrt(total_noise) xi`` with
``B = sqrt(kappa / d) X`` and ``total_noise = gamma0 + Delta``: a Gaussian prior and a Gaussian
likelihood, so the evidence, the posterior and the mutual information are available in closed
form at every finite size. This module computes them exactly (up to rounding), always through
the smaller of the two Gram matrices, ``B B^T`` (``n x n``) or ``B^T B`` (``d x d``):

    A = I_m + G / total_noise,  G = B B^T (m = n) or B^T B (m = d),

which is symmetric positive definite with eigenvalues ``>= 1`` and is Cholesky-factorised.
Sylvester's determinant identity ``det(I_n + B B^T / s) = det(I_d + B^T B / s)`` and the
Woodbury identity carry every quantity from one side to the other.

These finite-size values (book eq-linear-exact-mi, eq-linear-evidence) are the check of the
replica-symmetric closed form (book eq-linear-closed-form; Barbier, Krzakala, Macris, Miolane &
Zdeborova, PNAS 2019), which they approach with an ``O(1/d)`` correction. The GLM's sampler is
:func:`deepgep.simulate.teachers.glm_teacher_sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import digamma
from tqdm import tqdm

from deepgep.support.stats import standard_error
from deepgep.support.validation import check_count, check_design, check_generator, check_real, check_vector

__all__ = ["GRAM_SIDES", "linear_mutual_information", "expected_linear_mutual_information", "wishart_statistics",
           "control_variate_estimate",
           "linear_log_partition", "EvidenceDerivatives", "linear_evidence_derivatives", "linear_posterior",
           "gram_spectrum", "spectral_posterior_mse", "linear_bayes_test_error"]


#: Which Gram matrix a linear-channel computation factorises: the ``n x n`` one ("samples"),
#: the ``d x d`` one ("features"), or the smaller of the two ("auto", ties go to "samples").
GRAM_SIDES = ("auto", "samples", "features")

#: Number of fitted coefficients of the control-variate regression of
#: :func:`expected_linear_mutual_information` (intercept + three Wishart statistics).
_N_CONTROL_COEFFICIENTS = 4


# --- the linear (Gaussian) channel: exact finite-size quantities ---------------------------------


@dataclass(frozen=True)
class _LinearSystem:
    """``B = sqrt(kappa / d) X`` and the Cholesky factor of ``A = I_m + G / total_noise``."""

    B: np.ndarray
    total_noise: float
    side: str  # "samples" (G = B B^T, m = n) or "features" (G = B^T B, m = d)
    cholesky: tuple[np.ndarray, bool]

    @property
    def n(self) -> int:
        return self.B.shape[0]

    @property
    def d(self) -> int:
        return self.B.shape[1]

    def logdet_A(self) -> float:
        """``log det(I_n + B B^T / s) = log det(I_d + B^T B / s)`` (Sylvester)."""
        return 2.0 * float(np.sum(np.log(np.diag(self.cholesky[0]))))

    def trace_A_inverse(self) -> float:
        """``tr A^{-1} = ||L^{-1}||_F^2`` for ``A = L L^T``."""
        L = self.cholesky[0]
        L_inv = solve_triangular(L, np.eye(L.shape[0]), lower=self.cholesky[1], check_finite=False)
        return float(np.sum(L_inv * L_inv))


def _linear_system(X: np.ndarray, kappa: float, total_noise: float, gram: str) -> _LinearSystem:
    X = check_design(X)
    kappa = check_real("kappa", kappa)
    total_noise = check_real("total_noise", total_noise, positive=True)
    if gram not in GRAM_SIDES:
        raise ValueError(f"gram must be one of {', '.join(GRAM_SIDES)}, got {gram!r}")
    n, d = X.shape
    side = ("samples" if n <= d else "features") if gram == "auto" else gram
    B = math.sqrt(kappa / d) * X
    G = B @ B.T if side == "samples" else B.T @ B
    A = G / total_noise
    A[np.diag_indices_from(A)] += 1.0
    return _LinearSystem(B, total_noise, side, cho_factor(A, lower=True, check_finite=False))


def linear_mutual_information(
    X: np.ndarray, kappa: float, total_noise: float, *, gram: str = "auto"
) -> float:
    """Exact ``I(a; Y | X) / d`` of the linear GLM ``Y = sqrt(kappa/d) X a + sqrt(total_noise) xi``.

    For a Gaussian prior and Gaussian noise (book eq-linear-exact-mi)

        I(a; Y | X) / d = (1 / 2d) log det(I_n + kappa X X^T / (d total_noise)),

    computed with the smaller Gram matrix by Sylvester's identity
    ``det(I_n + B B^T) = det(I_d + B^T B)`` and a Cholesky factorisation. ``gram`` forces the
    ``"samples"`` (``n x n``) or ``"features"`` (``d x d``) side; ``"auto"`` takes the smaller.

    Raises
    ------
    ValueError
        ``X`` not a finite non-empty matrix, ``kappa < 0``, ``total_noise <= 0``, either
        non-finite, or an unknown ``gram``.
    """
    system = _linear_system(X, kappa, total_noise, gram)
    return system.logdet_A() / (2.0 * system.d)


def wishart_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Control variates of a Gaussian ``n x d`` matrix and their exact expectations.

    With ``W`` the smaller Gram matrix over ``d`` (``X X^T / d`` if ``n <= d``, else
    ``X^T X / d``), of size ``m = min(n, d)`` with ``M = max(n, d)`` degrees of freedom, the
    statistics are ``(log det W, tr W, tr W^2)``, with exact means (the log-determinant of a
    Wishart matrix, e.g. Bishop 2006, Appendix B; the second and fourth Gaussian moments)

        E log det W = sum_{i=1}^{m} psi((M - i + 1) / 2) + m log 2 - m log d,
        E tr W = n d / d = n,        E tr W^2 = n d (n + d + 1) / d^2.
    """
    n, d = X.shape
    m, M = min(n, d), max(n, d)
    W = (X @ X.T if n <= d else X.T @ X) / d
    L = np.linalg.cholesky(W)
    values = np.array([2.0 * np.sum(np.log(np.diag(L))), np.trace(W), np.sum(W * W)])
    i = np.arange(1, m + 1)
    means = np.array(
        [
            float(np.sum(digamma((M - i + 1) / 2.0))) + m * math.log(2.0) - m * math.log(d),
            float(n),
            n * d * (n + d + 1) / d**2,
        ]
    )
    return values, means


def expected_linear_mutual_information(
    n: int,
    d: int,
    kappa: float,
    total_noise: float,
    n_samples: int,
    rng: np.random.Generator,
    *,
    control_variates: bool = False,
    progress: bool = False,
) -> tuple[float, float]:
    """Monte-Carlo ``E_X I(a; Y | X) / d`` over ``n_samples`` Gaussian input matrices.

    Returns ``(mean, standard_error)``. Each draw is ``X = rng.standard_normal((n, d))`` and its
    value is :func:`linear_mutual_information`; the standard error is ``std(ddof=1)/sqrt(N)``.

    The per-draw fluctuation of ``I/d`` is ``O(1/d)`` (a linear spectral statistic has ``O(1)``
    fluctuations), the same order as the finite-size correction to the replica limit, so plain
    Monte Carlo needs many draws to resolve that correction. With ``control_variates=True``
    the draws are regressed on the Wishart statistics of :func:`wishart_statistics`, whose
    exact means are known, and the intercept is returned (the standard regression estimator of
    control variates; its bias is ``O(1/N)`` and its standard error is that of the intercept
    under the residual variance). At ``alpha = 2`` this shrinks the error about 30-fold;
    it needs ``n_samples > 4``.

    Raises
    ------
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    ValueError
        Bad sizes, ``n_samples < 2`` (``<= 4`` with control variates), or the conditions of
        :func:`linear_mutual_information`.
    """
    n = check_count("n", n)
    d = check_count("d", d)
    n_samples = check_count("n_samples", n_samples)
    kappa = check_real("kappa", kappa)
    total_noise = check_real("total_noise", total_noise, positive=True)
    rng = check_generator(rng)
    min_samples = _N_CONTROL_COEFFICIENTS + 1 if control_variates else 2
    if n_samples < min_samples:
        raise ValueError(f"n_samples must be >= {min_samples} for a standard error, got {n_samples}")

    values = np.empty(n_samples)
    controls = np.empty((n_samples, _N_CONTROL_COEFFICIENTS - 1))
    means = np.zeros(_N_CONTROL_COEFFICIENTS - 1)
    for s in tqdm(range(n_samples), desc="E I(a;Y|X)/d", disable=not progress, leave=False):
        X = rng.standard_normal((n, d))
        values[s] = linear_mutual_information(X, kappa, total_noise)
        if control_variates:
            controls[s], means = wishart_statistics(X)
    if not control_variates:
        return float(values.mean()), standard_error(values)

    return control_variate_estimate(values, controls, means)


def control_variate_estimate(values: np.ndarray, controls: np.ndarray, means: np.ndarray) -> tuple[float, float]:
    """The control-variate estimate of ``E values``: the intercept of the least-squares
    regression of ``values`` (``N`` draws) on ``controls - means`` (``N x k`` statistics with
    exactly known means ``means``), and its standard error under the residual variance
    (``N - k - 1`` degrees of freedom). Returns ``(estimate, standard_error)``."""
    values = np.asarray(values, dtype=float)
    controls = np.atleast_2d(np.asarray(controls, dtype=float))
    n_samples, k = controls.shape
    if values.shape != (n_samples,) or n_samples <= k + 1:
        raise ValueError(f"need more than {k + 1} draws with one value each, got {values.shape} and {controls.shape}")
    design = np.column_stack([np.ones(n_samples), controls - np.asarray(means, dtype=float)])
    scale = np.max(np.abs(design), axis=0)  # column scaling for a well-conditioned solve
    scale[scale == 0.0] = 1.0
    coef, *_ = np.linalg.lstsq(design / scale, values, rcond=None)
    residual = values - (design / scale) @ coef
    sigma2 = float(residual @ residual) / (n_samples - k - 1)
    gram_inverse = np.linalg.pinv((design / scale).T @ (design / scale))
    return float(coef[0] / scale[0]), math.sqrt(sigma2 * gram_inverse[0, 0]) / scale[0]


def linear_log_partition(
    X: np.ndarray, y: np.ndarray, kappa: float, total_noise: float, *, gram: str = "auto"
) -> float:
    """Exact ``log Z`` of the linear GLM: the evidence ``log N(y; 0, C)``.

    With prior ``a ~ N(0, I_d)`` and likelihood ``y | a ~ N(B a, s I_n)``,
    ``B = sqrt(kappa/d) X``, ``s = total_noise``, the partition function is the marginal
    density of ``y``, Gaussian with covariance ``C = s I_n + kappa X X^T / d``:

        log Z = -(n/2) log(2 pi) - (1/2) log det C - (1/2) y^T C^{-1} y,
        log det C = n log s + log det(I_m + G / s)        (Sylvester),

    and, on the ``d x d`` side, by Woodbury (the minimum of the ridge objective)

        y^T C^{-1} y = |y - B m|^2 / s + |m|^2,    m = (s I_d + B^T B)^{-1} B^T y,

    a sum of non-negative terms, so no cancellation. On the ``n x n`` side ``C = s A`` is
    solved directly.

    Raises
    ------
    ValueError
        As :func:`linear_mutual_information`, or ``y`` not a finite vector of length ``n``.
    """
    system = _linear_system(X, kappa, total_noise, gram)
    y = check_vector("y", y, system.n, "one label per row")
    s = system.total_noise
    if system.side == "samples":
        quadratic = float(y @ cho_solve(system.cholesky, y, check_finite=False)) / s
    else:
        mean = cho_solve(system.cholesky, system.B.T @ y, check_finite=False) / s
        residual = y - system.B @ mean
        quadratic = float(residual @ residual) / s + float(mean @ mean)
    logdet_C = system.n * math.log(s) + system.logdet_A()
    return -0.5 * (system.n * math.log(2.0 * math.pi) + logdet_C + quadratic)


@dataclass(frozen=True)
class EvidenceDerivatives:
    """The evidence ``log N(y; 0, kappa X X^T / d + s I)`` of :func:`linear_log_partition` per
    sample (``value``), its gradient in ``(kappa, s)`` and its Hessian (2 x 2), per sample."""

    value: float
    gradient: np.ndarray
    hessian: np.ndarray


def linear_evidence_derivatives(X: np.ndarray, y: np.ndarray, kappa: float, total_noise: float) -> EvidenceDerivatives:
    """The per-sample evidence of the linear GLM (book eq-linear-evidence) and its first and
    second derivatives in ``(kappa, s = total_noise)``, exactly, from the thin SVD of ``X``: with
    ``X X^T / d = sum_j lambda_j u_j u_j^T`` (``r = min(n, d)`` terms), ``z_j = u_j . y``,
    ``c_j = kappa lambda_j + s`` and ``rho = |y|^2 - |z|^2`` the part of ``y`` outside their span,

        log p = -(1/2) [n log 2 pi + sum_j (log c_j + z_j^2 / c_j) + (n - r) log s + rho / s],

    and each derivative is a sum over the eigenvalues (``d c_j / d kappa = lambda_j``,
    ``d c_j / d s = 1``). The maximiser of the mean of ``value`` over draws of ``y`` is the
    Gaussian model of this family nearest to the law of ``y`` in Kullback-Leibler divergence.
    Raises ``ValueError`` as :func:`linear_log_partition`."""
    X = check_design(X)
    n, d = X.shape
    y = check_vector("y", y, n, "one label per row")
    kappa = check_real("kappa", kappa, positive=True)
    s = check_real("total_noise", total_noise, positive=True)
    u, sv, _ = np.linalg.svd(X, full_matrices=False)
    lam, z2 = sv**2 / d, (u.T @ y) ** 2
    rest, rho = n - lam.size, max(float(y @ y) - float(z2.sum()), 0.0)
    c = kappa * lam + s
    value = -0.5 * (n * math.log(2 * math.pi) + np.sum(np.log(c) + z2 / c) + rest * math.log(s) + rho / s)
    first = z2 / c**2 - 1.0 / c  # 2 d log p / d c_j
    second = 1.0 / c**2 - 2.0 * z2 / c**3  # 2 d^2 log p / d c_j^2
    gradient = 0.5 * np.array([np.sum(lam * first), np.sum(first) - rest / s + rho / s**2])
    hessian = 0.5 * np.array([[np.sum(lam**2 * second), np.sum(lam * second)],
                              [np.sum(lam * second), np.sum(second) + rest / s**2 - 2.0 * rho / s**3]])
    return EvidenceDerivatives(float(value) / n, gradient / n, hessian / n)


def linear_posterior(
    X: np.ndarray, y: np.ndarray, kappa: float, total_noise: float, *, gram: str = "auto"
) -> tuple[np.ndarray, float]:
    """Posterior mean of the teacher and the exact posterior MSE per coordinate, ``tr(Cov)/d``.

    With ``B = sqrt(kappa/d) X`` and ``s = total_noise`` the posterior is Gaussian,
    ``a | X, y ~ N(m, Sigma)`` with

        Sigma = (I_d + B^T B / s)^{-1},   m = Sigma B^T y / s = B^T (s I_n + B B^T)^{-1} y,

    the second form by the push-through identity. In terms of ``X`` and ``eta0 = sqrt(kappa)``
    the mean is ridge regression with the Bayes-optimal ``lambda* = total_noise / kappa``
    (book eq-ridge-bayes), rescaled to the teacher's scale:

        m = (sqrt(d) / eta0) (X^T X + lambda* d I_d)^{-1} X^T y.

    The MSE ``tr(Sigma)/d`` does not depend on ``y``; it is ``tr(A^{-1})/d`` on the ``d x d``
    side and ``(d - n + tr(A^{-1}))/d`` on the ``n x n`` side (Woodbury). Averaged over ``X``
    it tends to ``1 - q*`` of book eq-linear-closed-form.

    Raises
    ------
    ValueError
        As :func:`linear_log_partition`.
    """
    system = _linear_system(X, kappa, total_noise, gram)
    y = check_vector("y", y, system.n, "one label per row")
    s = system.total_noise
    if system.side == "samples":
        mean = system.B.T @ cho_solve(system.cholesky, y, check_finite=False) / s
        trace = system.d - system.n + system.trace_A_inverse()
    else:
        mean = cho_solve(system.cholesky, system.B.T @ y, check_finite=False) / s
        trace = system.trace_A_inverse()
    return mean, trace / system.d


# --- the Bayes-optimal test error given the inputs, from the spectrum ------------------------------


def gram_spectrum(X: np.ndarray) -> np.ndarray:
    """The ``m = min(n, d)`` eigenvalues (ascending) of the smaller Gram matrix over ``d``,
    ``X X^T / d`` if ``n <= d``, else ``S = X^T X / d``: the non-trivial eigenvalues of ``S``
    (its other ``d - m`` eigenvalues are exactly 0), what :func:`spectral_posterior_mse` needs.

    Raises ``ValueError`` for ``X`` not a finite non-empty matrix."""
    X = check_design(X)
    n, d = X.shape
    return np.linalg.eigvalsh((X @ X.T if n <= d else X.T @ X) / d)


def spectral_posterior_mse(eigenvalues: np.ndarray, d: int, kappa: float, total_noise: float) -> np.ndarray:
    """The exact posterior MSE per coordinate ``tr(Sigma)/d`` of the linear GLM given its inputs,
    from the spectrum of ``S = X^T X / d`` (:func:`gram_spectrum`): with ``Sigma = (I_d + (kappa
    / total_noise) S)^{-1}`` (:func:`linear_posterior`),

        tr(Sigma) / d = (1/d) [ sum_{k=1}^{m} 1 / (1 + kappa lambda_k / total_noise) + (d - m) ],

    the ``d - m`` zero eigenvalues contributing 1 each. ``eigenvalues`` has the ``m <= d``
    eigenvalues on its last axis (any leading axes: one spectrum per row, one value returned per
    row).

    Raises ``ValueError`` for more than ``d`` eigenvalues, a negative or non-finite one (beyond
    rounding: ``-1e-12`` relative to the largest is tolerated and read as 0), ``kappa < 0`` or
    ``total_noise <= 0``."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    d = check_count("d", d)
    kappa = check_real("kappa", kappa)
    total_noise = check_real("total_noise", total_noise, positive=True)
    if lam.ndim < 1 or lam.shape[-1] < 1 or lam.shape[-1] > d:
        raise ValueError(f"eigenvalues must hold 1 to d = {d} eigenvalues on their last axis, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)) or np.any(lam < -1e-12 * max(1.0, float(np.max(np.abs(lam))))):
        raise ValueError("eigenvalues must be finite and non-negative (the spectrum of X^T X / d)")
    m = lam.shape[-1]
    return (np.sum(1.0 / (1.0 + (kappa / total_noise) * np.clip(lam, 0.0, None)), axis=-1) + (d - m)) / d


def linear_bayes_test_error(eigenvalues: np.ndarray, d: int, kappa: float, total_noise: float) -> np.ndarray:
    """The exact Bayes-optimal test error of the linear GLM GIVEN its training inputs (from the
    posterior covariance of book eq-ridge-bayes): for a fresh label ``y = sqrt(kappa/d) x.a + sqrt(total_noise) xi``
    at a fresh input ``x ~ N(0, I_d)``, averaged over the teacher ``a ~ N(0, I_d)``, the training
    labels and ``(x, xi)``, the posterior-mean predictor ``sqrt(kappa/d) x.m`` has error

        E_GLM(X) = kappa tr[(I_d + (kappa / total_noise) S)^{-1}] / d + total_noise
                 = kappa * spectral_posterior_mse + total_noise,       S = X^T X / d,

    because ``E_x (x.(a - m))^2 = |a - m|^2`` and the posterior expectation of ``|a - m|^2`` is
    ``tr(Sigma)``. With ``total_noise = gamma0 + Delta`` this is the equivalent GLM's error of
    book thm-deep-bayes-error on the same inputs; its mean over ``X`` tends to the closed form
    ``kappa (1 - q*) + total_noise`` (eq-linear-closed-form) with an ``O(1/d)`` correction.
    ``eigenvalues`` as in :func:`spectral_posterior_mse` (which raises on bad input)."""
    mse = spectral_posterior_mse(eigenvalues, d, kappa, total_noise)
    return kappa * mse + total_noise
