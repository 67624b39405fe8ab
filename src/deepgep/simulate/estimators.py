"""Learners on fixed features: ridge regression, logistic regression and Bayes-optimal GAMP on
the inputs ``X^0`` (one scale), and kernel ridge regression on a kernel matrix.

Convention: samples are ROWS, ``X`` is ``n x d``, and every estimator returns a weight vector
``w`` (length ``d``) whose predictions are ``X w / sqrt(d)`` (:func:`predict`). Ridge is

    w(lam) = argmin_w |y - X w / sqrt(d)|^2 + lam |w|^2
           = (X^T X / d + lam I_d)^{-1} X^T y / sqrt(d)           (primal, d x d)
           = X^T (X X^T / d + lam I_n)^{-1} y / sqrt(d)           (dual, n x n; push-through).

For the linear GLM ``y = eta0 X a / sqrt(d) + sqrt(gamma0 + Delta) xi`` with prior
``a ~ N(0, I_d)`` the posterior mean of ``a`` is ``w(lam*) / eta0`` with
``lam* = (gamma0 + Delta) / eta0^2`` (book eq-ridge-bayes; :func:`deepgep.theory.glm.linear_posterior`,
:func:`deepgep.theory.ridge.bayes_ridge_lambda`):
ridge at ``lam*`` is Bayes-optimal, and by the deep Gaussian equivalence (Theorem 4) it is
asymptotically Bayes-optimal for the deep teacher's linear channel as well.

GAMP (:func:`deepgep.simulate.amp.gamp`) estimates ``a`` itself; :func:`gamp_estimate` returns
``w = eta0 a_hat`` so that ``X w / sqrt(d) = eta0 X a_hat / sqrt(d)`` is GAMP's estimate of the
pre-activation ``z`` and the two estimators are compared on the same scale.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh

from deepgep.simulate.amp import GAMPResult, gamp
from deepgep.support.validation import check_choice, check_count, check_design, check_real, check_vector

__all__ = [
    "RIDGE_METHODS", "ridge", "ridge_path", "ridge_paths", "predict", "regression_error", "classification_error",
    "prediction_error", "gamp_estimate", "logistic_regression", "kernel_ridge_predict",
    "kernel_ridge_classification",
]

#: ``method`` values of :func:`ridge`: the smaller system ("auto"; ties go to the primal), the
#: ``d x d`` one ("primal") or the ``n x n`` one ("dual").
RIDGE_METHODS = ("auto", "primal", "dual")


def _side(n: int, d: int, method: str) -> str:
    if method not in RIDGE_METHODS:
        raise ValueError(f"method must be one of {', '.join(RIDGE_METHODS)}, got {method!r}")
    if method == "auto":
        return "dual" if n < d else "primal"
    return method


# --- ridge ---------------------------------------------------------------------------------


def ridge(X, y, lam: float, *, method: str = "auto") -> np.ndarray:
    """``w = argmin |y - X w/sqrt(d)|^2 + lam |w|^2`` (module docstring), length ``d``.

    Solved by a Cholesky factorisation of the smaller of ``X^T X/d + lam I_d`` (primal, used
    when ``n >= d``) and ``X X^T/d + lam I_n`` (dual, ``n < d``); ``method`` forces a side.
    Both matrices are symmetric with eigenvalues ``>= lam > 0``.

    Raises ``ValueError`` for ``lam <= 0`` or non-finite, ``X`` not a finite non-empty matrix,
    ``y`` not a finite vector of length ``n``, or an unknown ``method``.
    """
    X = check_design(X)
    n, d = X.shape
    y = check_vector("y", y, n, "one label per row")
    lam = check_real("lam", lam, positive=True)
    root_d = math.sqrt(d)
    if _side(n, d, method) == "dual":
        K = X @ X.T / d
        K[np.diag_indices_from(K)] += lam
        coef = cho_solve(cho_factor(K, lower=True, check_finite=False), y, check_finite=False)
        return X.T @ coef / root_d
    A = X.T @ X / d
    A[np.diag_indices_from(A)] += lam
    return cho_solve(cho_factor(A, lower=True, check_finite=False), X.T @ y / root_d, check_finite=False)


def ridge_path(X, y, lams) -> np.ndarray:
    """Ridge weights for every ``lam`` in ``lams`` (1-d, all ``> 0``): array ``len(lams) x d``.

    One symmetric eigendecomposition of the smaller Gram matrix serves every ``lam``:
    primal ``X^T X/d = V diag(e) V^T`` gives ``w = V diag(1/(e + lam)) V^T X^T y/sqrt(d)``; dual
    ``X X^T/d = U diag(e) U^T`` gives ``w = X^T U diag(1/(e + lam)) U^T y/sqrt(d)``. Cost: one
    ``O(m^3)`` decomposition (``m = min(n, d)``) plus ``O(m d)`` per ``lam``. Rounding can make
    a zero eigenvalue slightly negative; eigenvalues are clipped at 0 (the Gram matrix is
    positive semi-definite), so ``e + lam >= lam > 0``.
    """
    X = check_design(X)
    n, d = X.shape
    y = check_vector("y", y, n, "one label per row")
    lam_arr = np.asarray(lams, dtype=np.float64)
    if lam_arr.ndim > 1 or lam_arr.size == 0:
        raise ValueError(f"lams must be a non-empty 1-d sequence, got shape {lam_arr.shape}")
    lam_arr = np.array([check_real("lam", v, positive=True) for v in np.atleast_1d(lam_arr)])
    root_d = math.sqrt(d)
    if _side(n, d, "auto") == "dual":
        e, U = eigh(X @ X.T / d, check_finite=False)
        e = np.maximum(e, 0.0)
        c = U.T @ y
        coef = (c[None, :] / (e[None, :] + lam_arr[:, None])) @ U.T  # len(lams) x n
        return coef @ X / root_d
    e, V = eigh(X.T @ X / d, check_finite=False)
    e = np.maximum(e, 0.0)
    b = V.T @ (X.T @ y) / root_d
    return (b[None, :] / (e[None, :] + lam_arr[:, None])) @ V.T


def ridge_paths(X, Y, lams) -> np.ndarray:
    """Ridge weights for several label vectors at once: ``Y`` is ``n x k`` (one column per label
    set on the same inputs), the result ``k x len(lams) x d``; column ``j`` equals
    :func:`ridge_path` of ``Y[:, j]`` up to rounding. One eigendecomposition of the smaller Gram
    matrix serves every column and every ``lam`` (the saving behind Chapter 2's sweep: one
    decomposition per training set for all depths, teachers' kinds and penalties)."""
    X = check_design(X)
    n, d = X.shape
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] != n or not np.all(np.isfinite(Y)):
        raise ValueError(f"Y must be a finite array of shape ({n}, k), got {Y.shape}")
    lam_arr = np.array([check_real("lam", v, positive=True) for v in np.atleast_1d(np.asarray(lams, float))])
    root_d = math.sqrt(d)
    if _side(n, d, "auto") == "dual":
        e, U = eigh(X @ X.T / d, check_finite=False)
        C = U.T @ Y  # n x k
        coef = C.T[:, None, :] / (np.maximum(e, 0.0)[None, None, :] + lam_arr[None, :, None])
        return (coef @ U.T) @ X / root_d
    e, V = eigh(X.T @ X / d, check_finite=False)
    B = (V.T @ (X.T @ Y) / root_d).T  # k x d
    return (B[:, None, :] / (np.maximum(e, 0.0)[None, None, :] + lam_arr[None, :, None])) @ V.T


# --- predictions and errors ----------------------------------------------------------------


def predict(X, w) -> np.ndarray:
    """``X w / sqrt(d)`` (length ``n``)."""
    X = check_design(X)
    w = check_vector("w", w, X.shape[1], "one weight per column")
    return X @ w / math.sqrt(X.shape[1])


def regression_error(X, y, w) -> float:
    """Mean squared error ``mean((y - X w/sqrt(d))^2)``."""
    X = check_design(X)
    y = check_vector("y", y, X.shape[0], "one label per row")
    r = y - predict(X, w)
    return float(r @ r) / r.size


def classification_error(X, y, w) -> float:
    """Fraction of ``sign(X w/sqrt(d)) != y``, labels ``y`` in ``{-1, +1}``; ``sign(0) = +1``
    (the convention of the sign channel of :func:`deepgep.simulate.teachers.glm_teacher_sample`)."""
    X = check_design(X)
    y = check_vector("y", y, X.shape[0], "one label per row")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("classification labels must be -1 or +1")
    guess = np.where(predict(X, w) >= 0.0, 1.0, -1.0)
    return float(np.mean(guess != y))


# --- GAMP ----------------------------------------------------------------------------------


def prediction_error(y, prediction, output: str) -> float:
    """Test error of predictions of labels ``y``: the mean squared error for ``output="linear"``
    (regression), the misclassification rate of ``sign(prediction)`` for ``"sign"``
    (``sign(0) = +1``)."""
    key = check_choice("output", output, ("linear", "sign"))
    y = np.asarray(y, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if key == "linear":
        return float(np.mean((y - prediction) ** 2))
    return float(np.mean(np.where(prediction >= 0.0, 1.0, -1.0) != y))


def gamp_estimate(X, y, channel, eta0: float, *, return_result: bool = False, **kw):
    """Bayes-optimal GAMP (:func:`deepgep.simulate.amp.gamp`, keywords ``kw`` passed on) as a weight
    vector on the ridge scale: ``w = eta0 a_hat``, so that ``X w / sqrt(d)`` is GAMP's estimate
    of the pre-activation ``eta0 X a / sqrt(d)``. For the linear channel of noise
    ``gamma0 + Delta`` its fixed point is ``ridge(X, y, bayes_ridge_lambda(eta0, gamma0, Delta))``
    (:func:`deepgep.theory.ridge.bayes_ridge_lambda`).

    Returns ``w``, or ``(w, result)`` with the :class:`~deepgep.simulate.amp.GAMPResult` (whose
    ``estimate`` is ``a_hat``, on the teacher's scale) if ``return_result``.
    """
    result: GAMPResult = gamp(X, y, channel, eta0, **kw)
    w = float(eta0) * result.estimate
    return (w, result) if return_result else w


def logistic_regression(X, y, lam: float, *, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """L2-regularised logistic regression (scikit-learn, not hand-written) in the book's scale:
    ``w = argmin sum_mu log(1 + exp(-y_mu x_mu.w / sqrt(d))) + (lam / 2) |w|^2``, labels ``+-1``,
    no intercept; predictions ``x.w / sqrt(d)`` as for :func:`ridge`. scikit-learn minimises
    ``C sum loss + |w|^2 / 2`` on the features ``X / sqrt(d)``, so ``C = 1 / lam``.

    Raises ``ValueError`` on ``lam <= 0``, labels other than ``+-1`` or non-convergence."""
    # scikit-learn is imported on first use: it takes a second, which `import deepgep` and the
    # command line should not pay
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X = check_design(X)
    n, d = X.shape
    y = check_vector("y", y, n, "one label per row")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("logistic regression needs labels in {-1, +1}")
    lam = check_real("lam", lam, positive=True)
    model = LogisticRegression(C=1.0 / lam, fit_intercept=False, tol=tol, max_iter=max_iter,
                               solver="lbfgs")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit(X / math.sqrt(d), y)
        except ConvergenceWarning as exc:
            raise ValueError(f"logistic regression did not converge in {max_iter} iterations: {exc}") from None
    return model.coef_.ravel().copy()


# --- kernel ridge regression ---------------------------------------------------------------


def kernel_ridge_predict(K_train: np.ndarray, K_cross: np.ndarray, Y: np.ndarray,
                         ridge: float) -> np.ndarray:
    """Kernel ridge regression ``K_cross (K_train + ridge I)^{-1} Y`` (Cholesky solve)."""
    A = K_train + check_real("ridge", ridge, positive=True) * np.eye(K_train.shape[0])
    return K_cross @ cho_solve(cho_factor(A), Y)


def _one_hot_classify(K: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
              ridge: float) -> np.ndarray:
    """Arg-max of one-hot kernel ridge regression (centred targets) on the ``test`` rows."""
    Y = np.eye(int(y.max()) + 1)[y[train]]
    scores = kernel_ridge_predict(K[np.ix_(train, train)], K[np.ix_(test, train)], Y - Y.mean(0), ridge)
    return np.argmax(scores, axis=1)


def kernel_ridge_classification(K: np.ndarray, y: np.ndarray, n_train: int, ridges, validation: float = 0.25
                         ) -> tuple[np.ndarray, float]:
    """One-hot kernel ridge classification with the kernel ``K`` on all samples (the first
    ``n_train`` are the training set). The ridge is chosen among ``ridges`` (multiples of the
    mean diagonal of ``K``) on the last ``validation`` fraction of the training set, then the
    model is refitted on the whole training set. Returns the test predictions and the ridge."""
    n_train = check_count("n_train", n_train, 2)
    idx = np.arange(y.size)
    n_fit = int(round((1.0 - validation) * n_train))
    if not 1 <= n_fit < n_train:
        raise ValueError(f"validation must leave both parts non-empty, got {validation!r}")
    scale = float(np.mean(np.diag(K)))
    accuracy = [np.mean(_one_hot_classify(K, y, idx[:n_fit], idx[n_fit:n_train], r * scale) == y[n_fit:n_train])
                for r in ridges]
    best = float(ridges[int(np.argmax(accuracy))]) * scale
    return _one_hot_classify(K, y, idx[:n_train], idx[n_train:], best), best
