"""Input checks shared by the modules: clear errors instead of silent NaNs or wrong shapes."""

from __future__ import annotations

import math

import numpy as np


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


def check_real(name: str, value, *, positive: bool) -> float:
    """``value`` as a finite float, ``>= 0`` (or ``> 0`` with ``positive``); a ``ValueError``
    naming ``name`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return v
