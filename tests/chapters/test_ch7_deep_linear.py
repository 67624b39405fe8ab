"""Tests of deepgep.chapters.ch7_deep_linear: the Chapter 7 tasks (determinism, recorded fields,
closed-form values at depth zero), the pooled statistics of the claims and the sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.chapters.ch7_deep_linear import (KOLMOGOROV_MEAN, LAWS, claims, depth_of, histogram_edges,
                                              kurtosis_task, outputs_task, pearson_z, pooled_histogram, sweeps)
from deepgep.support.claims import evaluate
from deepgep.theory.deep_linear import kurtosis

OUTPUTS = {"base_seed": 7, "width": 4, "lam": 0.5, "networks": 400, "hist_max": 6.0, "hist_bin": 0.5}
KURT = {"base_seed": 7, "width": 4, "lam": 0.5, "networks": 400}


def test_outputs_task_is_deterministic_and_records_its_fields():
    first, again, other = outputs_task(OUTPUTS, 3), outputs_task(OUTPUTS, 3), outputs_task(OUTPUTS, 4)
    assert first == again and first != other
    edges = histogram_edges(OUTPUTS["hist_max"], OUTPUTS["hist_bin"])
    counts = [first[f"count_{j}"] for j in range(edges.size + 1)]
    assert f"count_{edges.size + 1}" not in first and sum(counts) == first["networks"] == OUTPUTS["networks"]
    for name in ("fa2", "fb2", "fafb", "fa4", "abs_ab", "cov_abs", "cov_sq", *[f"ks_{law}" for law in LAWS]):
        assert math.isfinite(first[name])
    assert first["fa4"] > 0 and first["fa2"] > 0 and 0 < first["ks_exact"] < first["ks_gauss"] * 10


def test_outputs_task_at_depth_zero_compares_one_law():
    rec = outputs_task({**OUTPUTS, "lam": 0.0}, 0)
    assert rec["ks_exact"] == rec["ks_limit"] == rec["ks_gauss"]


def test_kurtosis_task_is_deterministic_and_exact_at_depth_zero():
    assert kurtosis_task(KURT, 1) == kurtosis_task(KURT, 1) != kurtosis_task(KURT, 2)
    rec = kurtosis_task({**KURT, "lam": 0.0}, 1)  # s = 1 exactly: no hidden layer
    assert rec["s"] == 1.0 and rec["s2"] == 1.0 and rec["networks"] == KURT["networks"]
    big = kurtosis_task({**KURT, "networks": 20000}, 0)  # E s = 1, 3 E s^2 = 3 (1 + 2/N)^L
    assert abs(big["s"] - 1) < 0.05 and abs(3 * big["s2"] / kurtosis(4, 2) - 1) < 0.1


def test_depth_of_requires_an_integer_depth():
    assert depth_of(16, 0.25) == 4
    with pytest.raises(ValueError, match="integer"):
        depth_of(10, 0.25)


def test_pearson_z_has_mean_zero_and_unit_variance_under_the_null():
    rng = np.random.default_rng(0)
    p = np.array([0.001, 0.2, 0.5, 0.25, 0.049])
    zs = np.array([pearson_z(rng.multinomial(500, p), p)[1] for _ in range(4000)])
    assert abs(zs.mean()) < 4 / math.sqrt(zs.size) and abs(zs.std() - 1) < 0.06
    assert pearson_z(rng.multinomial(500, p), np.full(5, 0.2))[1] > 10  # a wrong law


def _params(**changes):
    base = {"SEED": 1, "WIDTH": 4, "LAMBDAS": [0.0, 0.5], "N_BATCHES": 4, "BATCH_NETWORKS": 300, "HIST_MAX": 6.0,
            "HIST_BIN": 0.5, "KURTOSIS_WIDTHS": [4], "KURTOSIS_LAMBDAS": [0.25, 0.5], "KURTOSIS_BATCHES": 4,
            "KURTOSIS_BATCH_NETWORKS": 300, "MAX_RELATIVE_SE": 0.5}
    return {**base, **changes}


def _rows(p):
    out = {}
    for name, sweep in sweeps(p, "fast").items():
        task = outputs_task if name == "outputs" else kurtosis_task
        out[name] = [{**point, "seed": seed, **task({**sweep.constants, **point}, seed)} for point, seed in sweep.tasks()]
    return out


def test_sweeps_and_claims_on_small_batches():
    p = _params()
    rows = _rows(p)
    assert len(rows["outputs"]) == 2 * 4 and len(rows["kurtosis"]) == 2 * 4
    hist = pooled_histogram(rows["outputs"], 4, 0.5, histogram_edges(6.0, 0.5))
    assert hist["networks"] == 4 * 300 and hist["counts"].size == 26
    verdicts = [evaluate(c) for c in claims(rows, p)]
    assert len(verdicts) >= 3 and all(v["perturbations"] for v in verdicts)
    assert all(math.isfinite(v["statistic"]) for v in verdicts)
    assert 0.8 < KOLMOGOROV_MEAN < 0.9
