"""The one real data set of the book: scikit-learn's 8x8 handwritten digits (1797 images,
shipped with the package, so nothing is downloaded).

Images are put on the scale of the book's Gaussian inputs: pixels centred by the TRAINING mean
and every image scaled to squared norm ``d = 64`` (so ``|x|^2 / d = 1``, as for ``x ~ N(0, I_d)``).
"""

from __future__ import annotations

import math

import numpy as np

from deepgep.support.validation import check_count, check_generator

__all__ = ["DIGITS_SAMPLES", "digits"]

#: Number of images in scikit-learn's ``load_digits``.
DIGITS_SAMPLES = 1797


def _standardise(X: np.ndarray, n_train: int) -> np.ndarray:
    """Centre by the mean of the first ``n_train`` rows and scale every row to norm sqrt(d)."""
    X = X - X[:n_train].mean(axis=0)
    X *= math.sqrt(X.shape[1]) / np.linalg.norm(X, axis=1, keepdims=True)
    return X


def digits(n_train: int, n_test: int, rng: np.random.Generator,
           classes: tuple[int, int] | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random disjoint train/test split of the digits: ``X_train, y_train, X_test, y_test``.

    With ``classes=None`` all ten digits, labels ``0..9``; with ``classes=(a, b)`` only those two
    digits, labels ``+1`` (digit ``a``) and ``-1`` (digit ``b``). ``rng`` draws one permutation
    (of all images, or of the images of the two classes).
    """
    from sklearn.datasets import load_digits  # scikit-learn loads its data module lazily

    data = load_digits()
    rng = check_generator(rng)
    n_train = check_count("n_train", n_train, 2 if classes is None else 1)
    n_test = check_count("n_test", n_test, 1)
    if classes is None:
        pool = np.arange(data.target.size)
    else:
        a, b = classes
        if a == b or a not in range(10) or b not in range(10):
            raise ValueError(f"classes must be two different digits 0..9, got {classes!r}")
        pool = np.flatnonzero((data.target == a) | (data.target == b))
    if n_train + n_test > pool.size:
        raise ValueError(f"n_train + n_test must be at most {pool.size}, got {n_train + n_test}")
    order = rng.permutation(pool.size) if classes is None else rng.permutation(pool)
    X = _standardise(data.data[order].astype(np.float64), n_train)
    y = data.target[order] if classes is None else np.where(data.target[order] == classes[0], 1.0, -1.0)
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]
