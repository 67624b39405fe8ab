"""The equivalent generalised linear model and its exact finite-size quantities.

By Corollary 3 and Theorem 4 of Camilli, Tieplova, Bergamin & Barbier (2025) (SCIENCE.md
section 3), a deep random network in the proportional regime is information-theoretically
equivalent to the generalised linear model (GLM)

    z = eta0 X a / sqrt(d),    Y = f(z + sqrt(gamma0) xi) + sqrt(Delta) xi',

with inputs ``X`` (``n x d``, rows = samples, i.i.d. ``N(0, 1)``), teacher ``a ~ N(0, I_d)`` and
``xi, xi'`` i.i.d. ``N(0, 1)``. Each pre-activation has variance ``kappa = eta0**2``.

For the LINEAR channel ``f(x) = x`` the model is ``Y = B a + sqrt(noise_total) xi`` with
``B = sqrt(kappa / d) X`` and ``noise_total = gamma0 + Delta``: a Gaussian prior and a Gaussian
likelihood, so the evidence, the posterior and the mutual information are available in closed
form at every finite size. This module computes them exactly (up to rounding), always through
the smaller of the two Gram matrices, ``B B^T`` (``n x n``) or ``B^T B`` (``d x d``):

    A = I_m + G / noise_total,  G = B B^T (m = n) or B^T B (m = d),

which is symmetric positive definite with eigenvalues ``>= 1`` and is Cholesky-factorised.
Sylvester's determinant identity ``det(I_n + B B^T / s) = det(I_d + B^T B / s)`` and the
Woodbury identity carry every quantity from one side to the other.

These finite-size values are the check of the replica-symmetric closed form of SCIENCE.md
section 4 (Barbier, Krzakala, Macris, Miolane & Zdeborova, PNAS 2019), which they approach
with an ``O(1/d)`` correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import digamma
from tqdm import tqdm
from deepgep.validation import check_design as _check_inputs
from deepgep.validation import check_generator as _check_generator

#: Output channels known by name; any other output is a vectorised callable ``f``.
OUTPUTS = ("linear", "sign")

#: Which Gram matrix a linear-channel computation factorises: the ``n x n`` one ("samples"),
#: the ``d x d`` one ("features"), or the smaller of the two ("auto", ties go to "samples").
GRAM_SIDES = ("auto", "samples", "features")

#: Number of fitted coefficients of the control-variate regression of
#: :func:`expected_linear_mutual_information` (intercept + three Wishart statistics).
_N_CONTROL_COEFFICIENTS = 4


# --- validation ----------------------------------------------------------------------------------


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_real(name: str, value: float, *, positive: bool = False) -> float:
    """A finite float ``>= 0`` (``> 0`` if ``positive``); ``ValueError`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def _check_labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains non-finite values")
    return y


# --- sampling ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GLMSample:
    """One draw of the GLM ``Y = f(eta0 X a / sqrt(d) + sqrt(gamma0) xi) + sqrt(noise) xi'``.

    Attributes
    ----------
    X:
        Inputs, ``n x d``, i.i.d. ``N(0, 1)`` (rows = samples).
    y:
        Labels, shape ``(n,)``.
    a:
        Teacher, shape ``(d,)``, i.i.d. ``N(0, 1)``.
    z:
        Noiseless pre-activation ``eta0 X a / sqrt(d)``, shape ``(n,)``, variance ``kappa``.
    eta0, gamma0, noise:
        The parameters ``eta0``, ``gamma0`` and ``Delta`` of the model.
    output:
        ``"linear"``, ``"sign"`` or the name of the user's callable.
    """

    X: np.ndarray
    y: np.ndarray
    a: np.ndarray
    z: np.ndarray
    eta0: float
    gamma0: float
    noise: float
    output: str

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def alpha(self) -> float:
        """Sample ratio ``n / d``."""
        return self.n / self.d

    @property
    def kappa(self) -> float:
        """Variance ``eta0**2`` of each pre-activation ``z_mu``."""
        return self.eta0**2

    @property
    def noise_total(self) -> float:
        """``gamma0 + Delta``, the noise variance of the equivalent linear (or probit) channel."""
        return self.gamma0 + self.noise


def _output_name(output: Callable[[np.ndarray], np.ndarray]) -> str:
    name = getattr(output, "name", None)  # a deepgep Activation
    return name if isinstance(name, str) else getattr(output, "__name__", "user")


def sample_glm(
    n: int,
    d: int,
    rng: np.random.Generator,
    *,
    eta0: float = 1.0,
    gamma0: float = 0.0,
    noise: float = 0.0,
    output: str | Callable[[np.ndarray], np.ndarray] = "linear",
) -> GLMSample:
    """Draw ``(X, Y)`` from the equivalent GLM of SCIENCE.md section 3, with its teacher.

    With ``u = z + sqrt(gamma0) xi`` and ``z = eta0 X a / sqrt(d)``:

    * ``output="linear"``: ``Y = u + sqrt(noise) xi'``, equal in law to
      ``z + sqrt(gamma0 + noise) xi``;
    * ``output="sign"``: ``Y = sign(u + sqrt(noise) xi')``, equal in law to
      ``sign(z + sqrt(gamma0 + noise) xi)`` (the probit channel of SCIENCE.md section 4, noise
      inside the sign); ``sign(0)`` is taken as ``+1`` (a probability-zero event);
    * ``output=f`` a vectorised callable: ``Y = f(u) + sqrt(noise) xi'``.

    The generator is consumed in a fixed order, whatever the output and parameters:
    ``a`` (``d`` normals), then ``X`` (``n x d``, row-major), then ``xi`` (``n``), then ``xi'``
    (``n``). So one seed gives the same teacher and inputs for every channel, and
    ``output="linear"`` reproduces ``output=lambda x: x`` exactly.

    Raises
    ------
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    ValueError
        ``n`` or ``d`` not a positive integer; ``eta0 <= 0``; ``gamma0 < 0`` or ``noise < 0``;
        any parameter non-finite; an unknown output name; a callable that does not return
        finite values of its input's shape.
    """
    n = _check_positive_int("n", n)
    d = _check_positive_int("d", d)
    eta0 = _check_real("eta0", eta0, positive=True)
    gamma0 = _check_real("gamma0", gamma0)
    noise = _check_real("noise", noise)
    named = isinstance(output, str)
    if named:
        name = output.strip().lower()
        if name not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; known: {', '.join(OUTPUTS)} (or a callable)")
    elif callable(output):
        name = _output_name(output)
    else:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)} or a callable, got {output!r}")
    rng = _check_generator(rng)

    a = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    xi = rng.standard_normal(n)
    xi_out = rng.standard_normal(n)

    z = (eta0 / math.sqrt(d)) * (X @ a)
    u = z + math.sqrt(gamma0) * xi
    if named and name == "linear":
        y = u + math.sqrt(noise) * xi_out
    elif named and name == "sign":
        y = np.where(u + math.sqrt(noise) * xi_out >= 0.0, 1.0, -1.0)
    else:
        try:
            fu = np.asarray(output(u), dtype=np.float64)
        except Exception as exc:  # say which output failed and why
            raise ValueError(f"output {name!r} failed on a float64 array: {exc}") from exc
        if fu.shape != u.shape:
            raise ValueError(
                f"output {name!r} must act elementwise: input shape {u.shape}, output {fu.shape}"
            )
        if not np.all(np.isfinite(fu)):
            raise ValueError(f"output {name!r} returned non-finite values")
        y = fu + math.sqrt(noise) * xi_out
    return GLMSample(X=X, y=y, a=a, z=z, eta0=eta0, gamma0=gamma0, noise=noise, output=name)


# --- the linear (Gaussian) channel: exact finite-size quantities ---------------------------------


@dataclass(frozen=True)
class _LinearSystem:
    """``B = sqrt(kappa / d) X`` and the Cholesky factor of ``A = I_m + G / noise_total``."""

    B: np.ndarray
    noise_total: float
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


def _linear_system(X: np.ndarray, kappa: float, noise_total: float, gram: str) -> _LinearSystem:
    X = _check_inputs(X)
    kappa = _check_real("kappa", kappa)
    noise_total = _check_real("noise_total", noise_total, positive=True)
    if gram not in GRAM_SIDES:
        raise ValueError(f"gram must be one of {', '.join(GRAM_SIDES)}, got {gram!r}")
    n, d = X.shape
    side = ("samples" if n <= d else "features") if gram == "auto" else gram
    B = math.sqrt(kappa / d) * X
    G = B @ B.T if side == "samples" else B.T @ B
    A = G / noise_total
    A[np.diag_indices_from(A)] += 1.0
    return _LinearSystem(B, noise_total, side, cho_factor(A, lower=True, check_finite=False))


def linear_mutual_information(
    X: np.ndarray, kappa: float, noise_total: float, *, gram: str = "auto"
) -> float:
    """Exact ``I(a; Y | X) / d`` of the linear GLM ``Y = sqrt(kappa/d) X a + sqrt(noise_total) xi``.

    For a Gaussian prior and Gaussian noise (SCIENCE.md section 4, the linear channel)

        I(a; Y | X) / d = (1 / 2d) log det(I_n + kappa X X^T / (d noise_total)),

    computed with the smaller Gram matrix by Sylvester's identity
    ``det(I_n + B B^T) = det(I_d + B^T B)`` and a Cholesky factorisation. ``gram`` forces the
    ``"samples"`` (``n x n``) or ``"features"`` (``d x d``) side; ``"auto"`` takes the smaller.

    Raises
    ------
    ValueError
        ``X`` not a finite non-empty matrix, ``kappa < 0``, ``noise_total <= 0``, either
        non-finite, or an unknown ``gram``.
    """
    system = _linear_system(X, kappa, noise_total, gram)
    return system.logdet_A() / (2.0 * system.d)


def _wishart_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    noise_total: float,
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
    the draws are regressed on the Wishart statistics of :func:`_wishart_statistics`, whose
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
    n = _check_positive_int("n", n)
    d = _check_positive_int("d", d)
    n_samples = _check_positive_int("n_samples", n_samples)
    kappa = _check_real("kappa", kappa)
    noise_total = _check_real("noise_total", noise_total, positive=True)
    rng = _check_generator(rng)
    min_samples = _N_CONTROL_COEFFICIENTS + 1 if control_variates else 2
    if n_samples < min_samples:
        raise ValueError(f"n_samples must be >= {min_samples} for a standard error, got {n_samples}")

    values = np.empty(n_samples)
    controls = np.empty((n_samples, _N_CONTROL_COEFFICIENTS - 1))
    means = np.zeros(_N_CONTROL_COEFFICIENTS - 1)
    for s in tqdm(range(n_samples), desc="E I(a;Y|X)/d", disable=not progress, leave=False):
        X = rng.standard_normal((n, d))
        values[s] = linear_mutual_information(X, kappa, noise_total)
        if control_variates:
            controls[s], means = _wishart_statistics(X)
    if not control_variates:
        return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n_samples))

    design = np.column_stack([np.ones(n_samples), controls - means])
    scale = np.max(np.abs(design), axis=0)  # column scaling for a well-conditioned solve
    scale[scale == 0.0] = 1.0
    coef, *_ = np.linalg.lstsq(design / scale, values, rcond=None)
    residual = values - (design / scale) @ coef
    dof = n_samples - _N_CONTROL_COEFFICIENTS
    sigma2 = float(residual @ residual) / dof
    gram_inverse = np.linalg.pinv((design / scale).T @ (design / scale))
    return float(coef[0] / scale[0]), math.sqrt(sigma2 * gram_inverse[0, 0]) / scale[0]


def linear_log_partition(
    X: np.ndarray, y: np.ndarray, kappa: float, noise_total: float, *, gram: str = "auto"
) -> float:
    """Exact ``log Z`` of the linear GLM: the evidence ``log N(y; 0, C)``.

    With prior ``a ~ N(0, I_d)`` and likelihood ``y | a ~ N(B a, s I_n)``,
    ``B = sqrt(kappa/d) X``, ``s = noise_total``, the partition function is the marginal
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
    system = _linear_system(X, kappa, noise_total, gram)
    y = _check_labels(y, system.n)
    s = system.noise_total
    if system.side == "samples":
        quadratic = float(y @ cho_solve(system.cholesky, y, check_finite=False)) / s
    else:
        mean = cho_solve(system.cholesky, system.B.T @ y, check_finite=False) / s
        residual = y - system.B @ mean
        quadratic = float(residual @ residual) / s + float(mean @ mean)
    logdet_C = system.n * math.log(s) + system.logdet_A()
    return -0.5 * (system.n * math.log(2.0 * math.pi) + logdet_C + quadratic)


def linear_posterior(
    X: np.ndarray, y: np.ndarray, kappa: float, noise_total: float, *, gram: str = "auto"
) -> tuple[np.ndarray, float]:
    """Posterior mean of the teacher and the exact posterior MSE per coordinate, ``tr(Cov)/d``.

    With ``B = sqrt(kappa/d) X`` and ``s = noise_total`` the posterior is Gaussian,
    ``a | X, y ~ N(m, Sigma)`` with

        Sigma = (I_d + B^T B / s)^{-1},   m = Sigma B^T y / s = B^T (s I_n + B B^T)^{-1} y,

    the second form by the push-through identity. In terms of ``X`` and ``eta0 = sqrt(kappa)``
    the mean is ridge regression with the Bayes-optimal ``lambda* = noise_total / kappa``
    (SCIENCE.md section 4), rescaled to the teacher's scale:

        m = (sqrt(d) / eta0) (X^T X + lambda* d I_d)^{-1} X^T y.

    The MSE ``tr(Sigma)/d`` does not depend on ``y``; it is ``tr(A^{-1})/d`` on the ``d x d``
    side and ``(d - n + tr(A^{-1}))/d`` on the ``n x n`` side (Woodbury). Averaged over ``X``
    it tends to ``1 - q*`` of SCIENCE.md section 4.

    Raises
    ------
    ValueError
        As :func:`linear_log_partition`.
    """
    system = _linear_system(X, kappa, noise_total, gram)
    y = _check_labels(y, system.n)
    s = system.noise_total
    if system.side == "samples":
        mean = system.B.T @ cho_solve(system.cholesky, y, check_finite=False) / s
        trace = system.d - system.n + system.trace_A_inverse()
    else:
        mean = cho_solve(system.cholesky, system.B.T @ y, check_finite=False) / s
        trace = system.trace_A_inverse()
    return mean, trace / system.d


# --- concentration of the free entropy (Theorem 2) -----------------------------------------------


def log_partition_variance_scan(
    ns: Sequence[int],
    alpha: float,
    kappa: float,
    noise_total: float,
    n_samples: int,
    rng: np.random.Generator,
    *,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Sample variance of ``(1/n) log Z`` against ``n`` for the linear GLM (Theorem 2).

    Theorem 2 of Camilli et al. (2025) bounds ``Var((1/n) log Z) <= C (1/n + 1/d_m)``. For each
    ``n`` in ``ns`` (with ``d = round(n / alpha)``) this draws ``n_samples`` independent datasets
    with :func:`sample_glm` (``eta0 = sqrt(kappa)``, ``gamma0 = 0``, ``noise = noise_total``,
    linear output; ``rng`` consumed in the order of ``ns``) and evaluates
    :func:`linear_log_partition` on each.

    For the linear channel ``y^T C^{-1} y`` is exactly chi-squared with ``n`` degrees of freedom
    given ``X``, so ``Var((1/n) log Z) = 1/(2n) + Var(log det C)/(4 n^2)``: the leading term is
    ``1/(2n)``.

    Returns
    -------
    dict of float arrays, one entry per ``n``:
        ``"n"``, ``"d"``; ``"mean"`` and ``"mean_se"`` (its standard error) of ``(1/n) log Z``;
        ``"variance"`` (``ddof=1``) and ``"variance_se"`` = ``variance * sqrt(2/(N - 1))``, the
        standard error of a sample variance for Gaussian samples.

    Raises
    ------
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    ValueError
        An ``n`` not a positive integer, ``alpha <= 0``, ``d`` rounding to 0, ``n_samples < 2``,
        ``kappa <= 0``, ``noise_total <= 0``, or any of them non-finite.
    """
    ns_checked = [_check_positive_int("each n", n) for n in ns]
    if not ns_checked:
        raise ValueError("ns must contain at least one sample size")
    alpha = _check_real("alpha", alpha, positive=True)
    kappa = _check_real("kappa", kappa, positive=True)
    noise_total = _check_real("noise_total", noise_total, positive=True)
    n_samples = _check_positive_int("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 for a variance, got {n_samples}")
    rng = _check_generator(rng)
    ds = [round(n / alpha) for n in ns_checked]
    if min(ds) < 1:
        raise ValueError(f"d = round(n / alpha) must be >= 1, got {ds} for ns={ns_checked}, alpha={alpha}")

    eta0 = math.sqrt(kappa)
    means, mean_ses, variances = [], [], []
    for n, d in tqdm(list(zip(ns_checked, ds)), desc="Var (1/n) log Z", disable=not progress):
        values = np.empty(n_samples)
        for s in range(n_samples):
            data = sample_glm(n, d, rng, eta0=eta0, gamma0=0.0, noise=noise_total, output="linear")
            values[s] = linear_log_partition(data.X, data.y, kappa, noise_total) / n
        means.append(values.mean())
        mean_ses.append(values.std(ddof=1) / math.sqrt(n_samples))
        variances.append(values.var(ddof=1))
    variance = np.array(variances)
    return {
        "n": np.array(ns_checked, dtype=np.int64),
        "d": np.array(ds, dtype=np.int64),
        "mean": np.array(means),
        "mean_se": np.array(mean_ses),
        "variance": variance,
        "variance_se": variance * math.sqrt(2.0 / (n_samples - 1)),
    }
