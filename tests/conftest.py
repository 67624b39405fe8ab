"""Shared fixtures of the unit tests.

The compiled kernels of deepgep are cached by numba in ``_build/numba_cache`` (the Makefile
exports ``NUMBA_CACHE_DIR``); set the same default here, before any test module imports numba,
so that a bare ``pytest`` run reuses the cache instead of recompiling.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))

import mpmath  # noqa: E402
import pytest  # noqa: E402

#: Working precision (decimal digits) of the mpmath reference integrals.
MP_DIGITS = 30


def _mp_gaussian_expectation(f, var=1.0):
    """``E f(sqrt(var) Z)`` by tanh-sinh quadrature at 30 digits; ``f`` takes an mpf.

    Returns ``(value, error_estimate)``. The real line is split at multiples of the standard
    deviation so that every piece sees a smooth, well-resolved part of the Gaussian weight.
    """
    with mpmath.workdps(MP_DIGITS):
        s = mpmath.sqrt(mpmath.mpf(var))
        pts = [-mpmath.inf, -6, -3, -2, -1, 0, 1, 2, 3, 6, mpmath.inf]
        value, err = mpmath.quad(
            lambda z: f(s * z) * mpmath.exp(-z * z / 2), pts, error=True, maxdegree=10
        )
        norm = mpmath.sqrt(2 * mpmath.pi)
        return value / norm, err / norm


@pytest.fixture(scope="session")
def mp_gauss():
    """The 30-digit reference ``E f(sqrt(var) Z)``; asserts its own error estimate < 1e-20."""

    def expectation(f, var=1.0):
        value, err = _mp_gaussian_expectation(f, var)
        # The reference must be far more accurate than every tolerance it is used with (>= 1e-14).
        assert err < 1e-20, f"mpmath reference not converged (error estimate {err})"
        return float(value)

    return expectation
