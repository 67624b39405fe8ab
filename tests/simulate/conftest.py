"""Fixtures shared by the tests of deepgep.simulate (tests/simulate/)."""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.simulate.teachers import deep_teacher_sample


@pytest.fixture(scope="session")
def posterior_instance():
    """``posterior_instance(widths=(6, 5, 4), n=12, seed=0, noise=0.3, activation="tanh",
    gain=2.0)``: a deep teacher's data set (7 test points) and its parameters (the weights, then
    the readout), the posterior-sampling instance of test_posterior.py and test_nuts.py."""

    def make(widths=(6, 5, 4), n=12, seed=0, noise=0.3, activation="tanh", gain=2.0):
        rng = np.random.default_rng(seed)
        data = deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise, n_test=7)
        params = data.teacher.network.weights + (data.teacher.readout,)
        return data, params

    return make
