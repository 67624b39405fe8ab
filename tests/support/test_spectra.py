"""Tests of deepgep.support.spectra: Gram matrices, operator norms, relative operator distances,
eigenvalues and spectrum quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.support.spectra import (
    eigenvalues,
    gram,
    operator_norm,
    relative_operator_distance,
    spectrum_quantiles,
)

EPS = np.finfo(np.float64).eps


def symmetric(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A + A.T) / 2 + shift * np.eye(n)


def test_gram_definition():
    X = np.random.default_rng(0).standard_normal((7, 13))
    G = gram(X)
    # BLAS vs einsum: two summation orders of 13 O(1) terms, differences ~13 eps
    np.testing.assert_allclose(G, np.einsum("ik,jk->ij", X, X) / 13, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.diag(G), np.sum(X**2, axis=1) / 13, rtol=1e-14)
    assert np.linalg.eigvalsh(G).min() > -1e-14  # PSD up to eigensolver rounding, n eps ||G||


@pytest.mark.parametrize("shift", [0.0, -5.0, 5.0])
def test_operator_norm_is_the_spectral_norm(shift):
    """Largest |eigenvalue| of a symmetric matrix = its largest singular value; shift = -5 makes
    the most negative eigenvalue the one that counts. Two LAPACK routes: agree to ~n eps."""
    A = symmetric(40, seed=1, shift=shift)
    assert operator_norm(A) == pytest.approx(np.linalg.norm(A, 2), rel=1e-13)


def test_relative_operator_distance():
    A = symmetric(30, seed=2)
    assert relative_operator_distance(A, A) == 0.0
    # 2A - A = A exactly in floating point: the ratio is ||A|| / ||A|| = 1 up to one division
    assert relative_operator_distance(2 * A, A) == pytest.approx(1.0, rel=1e-14)
    # ||(A + c I) - A|| / ||A|| = |c| / ||A|| (the diagonal's rounding: ~eps ||A|| / c ~ 1e-15)
    assert relative_operator_distance(A + 0.3 * np.eye(30), A) == pytest.approx(0.3 / operator_norm(A), rel=1e-13)


def test_eigenvalues_ascending_and_correct():
    A = symmetric(25, seed=3)
    ev = eigenvalues(A)
    assert np.all(np.diff(ev) >= 0)
    # two LAPACK drivers: backward stable, eigenvalue errors <= n eps ||A|| ~ 25 * 2e-16 * 10
    np.testing.assert_allclose(ev, np.linalg.eigvalsh(A), rtol=0, atol=1e-13)
    # trace and Frobenius identities, to the same n eps ||A|| accuracy
    assert ev.sum() == pytest.approx(np.trace(A), abs=1e-12)
    assert np.sum(ev**2) == pytest.approx(np.sum(A * A), rel=1e-13)


def test_spectrum_quantiles():
    ev = np.sort(np.random.default_rng(4).standard_normal(101))
    # with n = 101 points, the linear-interpolation quantile at k / 100 is the k-th order statistic
    probs = np.array([0.0, 0.01, 0.25, 0.5, 0.9, 1.0])
    np.testing.assert_array_equal(spectrum_quantiles(ev, probs), ev[np.rint(probs * 100).astype(int)])
    shuffled = np.random.default_rng(5).permutation(ev)
    # order does not matter: same order statistics, same interpolation (one rounding)
    np.testing.assert_allclose(
        spectrum_quantiles(shuffled, [0.1234, 0.77]), np.quantile(ev, [0.1234, 0.77]), rtol=4 * EPS
    )
