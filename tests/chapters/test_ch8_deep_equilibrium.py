"""Tests of deepgep.chapters.ch8_deep_equilibrium: the chapter's experiments on small runs (the
notebook runs them at scale): shapes and identities of the width scans, the commuting limits and
the output Gaussianity, the contraction scan, the smallest kernel eigenvalues. The
``sphere_inputs`` fixture comes from tests/conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.chapters.ch8_deep_equilibrium import (
    DEQModel,
    commuting_limits,
    contraction_scan,
    finite_width_min_eigenvalues,
    kernel_width_scan,
    min_eigenvalue_scan,
    output_gaussianity,
)


def test_experiments_shapes_and_identities(sphere_inputs):
    rng = np.random.default_rng(3)
    X = sphere_inputs(3, 5)
    model = DEQModel("erf", 0.8, 1.0)
    ws = kernel_width_scan(model, X, [20, 40], 3, rng)
    assert ws["errors"].shape == (2, 3) and np.all(ws["errors"] > 0)
    lim = commuting_limits(model, X, [30, 60], [1, 40], 2, rng)
    assert lim["errors"].shape == (3, 2) and lim["infinite_width"][-1] == 0.0
    assert np.allclose(lim["errors"][1], lim["errors"][2], atol=1e-8)  # depth 40 = the DEQ
    assert np.all(lim["deq_vs_deep"] < 1e-8)
    gauss = output_gaussianity(model, X[0], [8, 32], 200, rng)
    assert gauss["ks"].shape == (2,) and np.all((gauss["pvalue"] >= 0) & (gauss["pvalue"] <= 1))
    with pytest.raises(ValueError, match="one input"):
        output_gaussianity(model, X, [8], 10, rng)
    with pytest.raises(ValueError, match="widths"):
        kernel_width_scan(model, X, [0, 10], 2, rng)


def test_contraction_scan_flags_the_non_contractive_sigma_w(sphere_inputs):
    X = sphere_inputs(2, 4)
    scan = contraction_scan(X, "tanh", [0.5, 3.0], 1.0, 200, np.random.default_rng(0), max_iter=300)
    assert scan["converged"].tolist() == [True, False]
    assert scan["lipschitz"][0] < 1.0 < scan["lipschitz"][1] and np.isnan(scan["rate"][1])


def test_min_eigenvalues_rank_deficient_below_the_sample_size(sphere_inputs):
    X = sphere_inputs(12, 5)  # 12 inputs in dimension 5: Sigma1 is singular
    lam = min_eigenvalue_scan(X, "erf", [0.5, 1.0], 1.0)
    assert np.all(lam > 1e-6) and lam[1] > lam[0]
    fin = finite_width_min_eigenvalues(DEQModel("erf", 1.0, 1.0), X, [6, 200], 2, np.random.default_rng(1))
    assert np.all(np.abs(fin["lambda_min"][0]) < 1e-12) and np.all(fin["lambda_min"][1] > 0)
