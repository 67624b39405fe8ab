"""Input checks shared by the whole library: clear errors instead of silent NaNs or wrong shapes.

Every public function of deepgep validates what it is given with the checks below, so that the
same mistake gets the same message wherever it is made. Each check returns the cleaned value
(a float, an int, a float64 array) and raises ``ValueError`` naming the argument otherwise
(``TypeError`` for a random generator that is not a ``numpy.random.Generator``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "check_generator",
    "check_design",
    "check_vector",
    "check_real",
    "check_nonzero",
    "check_count",
    "check_choice",
    "check_alpha",
    "check_kappa",
    "check_overlap",
    "check_widths",
    "check_sizes",
    "check_covariance",
]


def check_generator(rng: np.random.Generator) -> np.random.Generator:
    """``rng`` must be a seeded ``numpy.random.Generator`` (no global random state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("pass a seeded numpy.random.Generator, e.g. numpy.random.default_rng(0)")
    return rng


def check_design(X, *, contiguous: bool = False) -> np.ndarray:
    """A finite, non-empty ``n x d`` float64 matrix (samples as rows). With ``contiguous``, a
    strided view is copied once (BLAS matrix-vector products would copy it at every call)."""
    X = np.asarray(X, dtype=np.float64)  # no copy for a float64 array, C or Fortran order
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a non-empty 2-d array (n samples x d features), got shape {X.shape}")
    if contiguous and not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains non-finite values")
    return X


def check_vector(name: str, v, size: int, what: str) -> np.ndarray:
    """A finite float64 vector of length ``size`` (``what`` says why, for the message)."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) to match X ({what}), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains non-finite values")
    return v


def check_real(name: str, value, *, positive: bool = False) -> float:
    """``value`` as a finite float, ``>= 0`` (or ``> 0`` with ``positive``); a ``ValueError``
    naming ``name`` otherwise. Variances, penalties, tolerances and gains use it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        need = "positive (> 0)" if positive else "non-negative (>= 0)"
        raise ValueError(f"{name} must be finite and {need}, got {value!r}")
    return v


def check_nonzero(name: str, value) -> float:
    """A finite, non-zero float (a gain whose sign is free, e.g. the readout gain ``rho``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v == 0.0:
        raise ValueError(f"{name} must be finite and non-zero, got {value!r}")
    return v


def check_count(name: str, value, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (Python or numpy integer, or an integral float; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not (math.isfinite(value) and int(value) == value and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """``value`` (stripped, lower-cased) if it is one of ``choices``; the message lists them."""
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in choices:
        raise ValueError(f"unknown {name} {value!r}; known: {', '.join(choices)}")
    return key


def check_alpha(alpha) -> float:
    """The sample ratio ``alpha = n / d``: positive and finite."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha = n/d must be a real number, got {alpha!r}") from None
    if not math.isfinite(a) or a <= 0.0:
        raise ValueError(f"alpha = n/d must be positive and finite, got {alpha!r}")
    return a


def check_kappa(kappa) -> float:
    """The signal variance ``kappa = eta0^2`` of the equivalent GLM: positive and finite."""
    v = float(kappa)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"kappa = eta0^2 must be positive and finite, got {kappa!r}")
    return v


def check_overlap(q) -> float:
    """An overlap of a unit-variance prior: ``q`` in ``[0, 1]``."""
    v = float(q)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"overlap q must be in [0, 1], got {q!r}")
    return v


def check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """``(d_0, d_1, ..., d_L)``: at least two positive integers (input and one hidden layer)."""
    try:
        w = tuple(int(d) for d in widths)
    except (TypeError, ValueError):
        raise ValueError(f"widths must be a sequence of positive integers, got {widths!r}") from None
    if len(w) < 2 or any(d < 1 for d in w) or any(int(d) != d for d in widths):
        raise ValueError(f"widths must be (d_0, d_1, ..., d_L) with L >= 1 positive integers, got {widths!r}")
    return w


def check_sizes(name: str, values) -> np.ndarray:
    """A non-empty 1-d array of positive integers (widths, depths, sample sizes of a scan)."""
    w = np.asarray(values)
    if w.ndim != 1 or w.size < 1 or np.any(w < 1) or np.any(w != np.round(w)):
        raise ValueError(f"{name} must be positive integers, got {values!r}")
    return w.astype(int)


def check_covariance(S, name: str = "S") -> np.ndarray:
    """``S`` as a finite, symmetric float64 matrix with a non-negative diagonal (a covariance)."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or not np.all(np.isfinite(S)):
        raise ValueError(f"{name} must be a finite square matrix, got shape {S.shape}")
    if np.any(np.diag(S) < 0.0) or not np.allclose(S, S.T, rtol=1e-12, atol=1e-14):
        raise ValueError(f"{name} must be symmetric with a non-negative diagonal")
    return S
