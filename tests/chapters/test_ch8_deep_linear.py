"""Tests of deepgep.chapters.ch8_deep_linear and its tasks: the experiment (presets, validation,
coercion, derived depths, stable sweep keys), the tasks (determinism, recorded fields, closed-form
values at depth zero), the summaries of a small computed table and the claims on it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch8_deep_linear import DeepLinear, claims, pooled_histogram
from deepgep.chapters.ch8_deep_linear_tasks import LAWS, depth_of, histogram_edges, kurtosis_task, outputs_task
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.theory.deep_linear import kurtosis

OUTPUTS = {"base_seed": 7, "width": 4, "depth_ratio": 0.5, "networks": 400, "hist_max": 6.0, "hist_bin": 0.5}
KURT = {"base_seed": 7, "width": 4, "depth_ratio": 0.5, "networks": 400}


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(8) is DeepLinear
    paper, fast = DeepLinear.paper(), DeepLinear.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert paper.depths == (0, 4, 16, 32)
    assert {name for name, _, _ in fast.differences()} == {"batches", "batch_networks", "kurtosis_widths",
                                                          "kurtosis_batches", "kurtosis_batch_networks"}


def test_bad_parameters_are_refused_naming_the_field():
    with pytest.raises(ExperimentError, match="batches"):
        DeepLinear.fast().replace(batches=1)
    with pytest.raises(ExperimentError, match="depth_ratio"):
        DeepLinear.fast().replace(depth_ratios=(0.3,))  # 0.3 * 16 is no depth
    with pytest.raises(ExperimentError, match="width must be an integer"):
        DeepLinear.fast().replace(width=16.5)
    with pytest.raises(ExperimentError, match="no parameter"):
        DeepLinear.fast().replace(lambdas=(0.0,))


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    from_cell = DeepLinear.from_cell("paper", depth_ratios=[0, 0.25, 1, 2], width=16)
    assert from_cell == DeepLinear.paper() and isinstance(from_cell.depth_ratios[0], float)
    assert {k: s.key for k, s in from_cell.sweeps().items()} == {k: s.key for k, s in DeepLinear.paper().sweeps().items()}
    assert DeepLinear.paper().replace(width=32).sweeps()["outputs"].key != DeepLinear.paper().sweeps()["outputs"].key


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
    rec = outputs_task({**OUTPUTS, "depth_ratio": 0.0}, 0)
    assert rec["ks_exact"] == rec["ks_limit"] == rec["ks_gauss"]


def test_kurtosis_task_is_deterministic_and_exact_at_depth_zero():
    assert kurtosis_task(KURT, 1) == kurtosis_task(KURT, 1) != kurtosis_task(KURT, 2)
    rec = kurtosis_task({**KURT, "depth_ratio": 0.0}, 1)  # s = 1 exactly: no hidden layer
    assert rec["s"] == 1.0 and rec["s2"] == 1.0 and rec["networks"] == KURT["networks"]
    big = kurtosis_task({**KURT, "networks": 20000}, 0)  # E s = 1, 3 E s^2 = 3 (1 + 2/N)^L
    assert abs(big["s"] - 1) < 0.05 and abs(3 * big["s2"] / kurtosis(4, 2) - 1) < 0.1


def test_depth_of_requires_an_integer_depth():
    assert depth_of(16, 0.25) == 4
    with pytest.raises(ValueError, match="integer"):
        depth_of(10, 0.25)


def _small() -> DeepLinear:
    return DeepLinear.fast().replace(width=4, depth_ratios=(0.0, 0.5), batches=4, batch_networks=3000,
                                     kurtosis_widths=(4,), kurtosis_batches=4, kurtosis_batch_networks=3000)


def _tables(experiment: DeepLinear) -> dict[str, pd.DataFrame]:
    """The experiment's tables computed in this process (rows as the sweeps write them)."""
    out = {}
    for name, sweep in experiment.sweeps().items():
        task = outputs_task if name == "outputs" else kurtosis_task
        out[name] = pd.DataFrame([{**point, "seed": seed, **task({**sweep.constants, **point}, seed)}
                                  for point, seed in sweep.tasks()])
    return out


def test_summaries_and_claims_on_small_batches():
    experiment = _small()
    tables = _tables(experiment)
    assert len(tables["outputs"]) == 2 * 4 and len(tables["kurtosis"]) == 2 * 4
    hist = pooled_histogram(tables["outputs"], 4, 0.5, histogram_edges(6.0, 0.2))
    assert hist["networks"] == 4 * 3000 and hist["counts"].size == 62
    assert np.isclose(np.sum(hist["density"] * 0.2) + (hist["counts"][0] + hist["counts"][-1]) / 12000, 1.0)
    verdicts = [evaluate(c) for c in claims(experiment, tables)]
    assert len(verdicts) >= 3 and all(v["perturbations"] for v in verdicts)
    assert all(math.isfinite(v["statistic"]) for v in verdicts)
    assert any(v["resolution"] for v in verdicts)
