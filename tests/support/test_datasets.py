"""Tests of deepgep.support.datasets: the digits data set (normalised inputs, the two-class
version with +-1 labels, reproducibility from the generator, errors)."""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.support.datasets import digits


def test_digits_inputs_are_normalised():
    X_train, y_train, X_test, y_test = digits(50, 30, np.random.default_rng(0))
    assert X_train.shape == (50, 64) and X_test.shape == (30, 64)
    assert np.allclose(np.sum(X_train**2, axis=1) / 64, 1.0)
    assert set(y_train) <= set(range(10)) and y_test.size == 30
    with pytest.raises(ValueError, match="at most 1797"):
        digits(1500, 500, np.random.default_rng(0))


def test_digits_two_classes_is_reproducible_and_normalised():
    a = digits(100, 50, np.random.default_rng(13), classes=(3, 8))
    b = digits(100, 50, np.random.default_rng(13), classes=(3, 8))
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    X, y, X_test, y_test = a
    assert X.shape == (100, 64) and X_test.shape == (50, 64)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert np.allclose(np.sum(X**2, axis=1), 64)
    with pytest.raises(ValueError, match="classes"):
        digits(10, 10, np.random.default_rng(0), classes=(3, 3))
    with pytest.raises(ValueError, match="n_train"):
        digits(10_000, 10, np.random.default_rng(0), classes=(3, 8))
