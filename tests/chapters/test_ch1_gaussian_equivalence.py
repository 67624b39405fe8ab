"""Tests of deepgep.chapters.ch1_gaussian_equivalence beyond the width scan (whose data are
checked against tests/reference/ch1_width_scan.json in tests/test_reproducibility.py)."""

import numpy as np

from deepgep.chapters.ch1_gaussian_equivalence import bound_shape_curve
from deepgep.theory.layers import theorem1_bound_shape


def test_bound_shape_curve_is_the_theorem_rate_on_a_dense_grid():
    curve = bound_shape_curve(100, 50, 1600, points=120)
    assert curve["n"].size == 120 and np.isclose(curve["n"][0], 50) and np.isclose(curve["n"][-1], 1600)
    assert np.all(np.diff(curve["n"]) > 0) and np.all(np.diff(curve["rate"]) > 0)
    assert np.isclose(curve["rate"][-1], theorem1_bound_shape(1600, 100))
    # the bound exceeds one around n = d^{3/2} (here 1000), not in the proportional regime
    assert curve["rate"][0] < 1.0 < curve["rate"][-1]
