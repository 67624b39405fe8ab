"""Chapter 8's sweep tasks: batches of deep linear networks of depth ``L = lambda N``.

The output of one input is exactly the Gaussian scale mixture ``f = sqrt(q0 s) g`` (book
thm-deep-linear-exact, eq-deep-linear-exact); its proportional limit is eq-deep-linear-limit.
Each task samples one batch of networks matrix by matrix
(:func:`deepgep.simulate.deep_linear.sample_deep_linear`) with its own random stream:

* :func:`outputs_task`: ``networks`` networks of width ``N`` and depth ``L = lambda N`` on two
  orthogonal inputs of ``q0 = 1``; the record holds the histogram of the first output on fixed
  bins, its Kolmogorov-Smirnov statistics against the exact law, the limit and the Gaussian, and
  the batch means of the moments of eq-deep-linear-covariance;
* :func:`kurtosis_task`: one input at small widths, the batch means of ``f^4`` and ``s^2``
  (eq-deep-linear-kurtosis: both estimate ``3 (1 + 2/N)^L`` without bias).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from deepgep.simulate.deep_linear import sample_deep_linear
from deepgep.support.stats import ks_statistic
from deepgep.support.sweeps import task_rng
from deepgep.theory.deep_linear_outputs import limit_output_cdf, output_cdf

__all__ = ["X_PAIR", "HIST_MAX", "HIST_BIN", "LAWS", "TASKS_MODULE", "depth_of", "histogram_edges", "law_cdf",
           "outputs_task", "kurtosis_task", "illustration_sample"]

#: Two orthogonal inputs of R^2 with ``q0 = |x|^2 / d = 1`` (columns): ``G = I``.
X_PAIR = math.sqrt(2.0) * np.eye(2)
#: The recorded histogram of the first output: bins of width ``HIST_BIN`` on
#: ``[-HIST_MAX, HIST_MAX]`` plus two overflow bins (six standard deviations of the NNGP's
#: output hold all but 2e-9 of its mass; the tails beyond are counted, not binned).
HIST_MAX, HIST_BIN = 6.0, 0.2
#: The laws of one output the records and the claims compare with.
LAWS = ("exact", "limit", "gauss")
#: Tags of the two experiments in the seeds of their random streams.
_OUTPUTS, _KURTOSIS = 1, 2
#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch8_deep_linear_tasks"


def depth_of(width: int, depth_ratio: float) -> int:
    """``L = lambda N``, which must be an integer."""
    depth = round(float(depth_ratio) * int(width))
    if abs(depth - float(depth_ratio) * int(width)) > 1e-9:
        raise ValueError(f"depth_ratio * width must be an integer, got {depth_ratio!r} * {width!r}")
    return depth




def histogram_edges(f_max: float, bin_width: float) -> np.ndarray:
    """Edges ``-f_max, -f_max + bin_width, ..., f_max`` of the recorded histogram; the records
    also count the two overflow bins ``f < -f_max`` and ``f >= f_max``."""
    n_bins = round(2.0 * float(f_max) / float(bin_width))
    return np.linspace(-float(f_max), float(f_max), n_bins + 1)


def law_cdf(law: str, width: int, depth: int):
    """The CDF of one output (``q0 = 1``): ``"exact"`` at ``(N, L)`` (eq-deep-linear-exact),
    ``"limit"`` at ``lambda = L / N`` (eq-deep-linear-limit), ``"gauss"`` the NNGP's N(0, 1)."""
    if law == "exact":
        return lambda f: output_cdf(f, width, depth)
    if law == "limit":
        return lambda f: limit_output_cdf(f, depth / width)
    if law == "gauss":
        return stats.norm.cdf
    raise ValueError(f"law must be one of {LAWS}, got {law!r}")


def _rng(params: Mapping, seed: int, tag: int) -> np.random.Generator:
    """One independent stream per (chapter seed, experiment, width, depth ratio, batch)."""
    return task_rng(params, seed, tag, int(params["width"]), round(1000 * float(params["depth_ratio"])))


def _unbiased_cov(u: np.ndarray, v: np.ndarray) -> float:
    return float(u.size / (u.size - 1) * (np.mean(u * v) - u.mean() * v.mean()))


def outputs_task(params: Mapping, seed: int) -> dict[str, float | int]:
    """One batch of ``networks`` networks of width ``width`` and depth ``depth_ratio * width`` on
    the two orthogonal inputs :data:`X_PAIR`. Record: ``networks``; ``count_j`` (``j = 0..K+1``)
    the histogram of the first output ``f_a`` on :func:`histogram_edges` (``hist_max``,
    ``hist_bin``) with the overflow bins first and last (``j`` is a bin of one measured
    histogram, not a parameter); ``ks_<law>`` the KS statistic ``sqrt(n) D`` of ``f_a`` against
    each law of :data:`LAWS`; batch means ``fa2``, ``fb2``, ``fafb``, ``fa4``, ``abs_ab``
    (``|f_a| |f_b|``) and the unbiased batch covariances ``cov_abs`` of ``|f_a|, |f_b|`` and
    ``cov_sq`` of ``f_a^2, f_b^2``. Deterministic given ``(params, seed)`` with one BLAS thread:
    verified bit for bit."""
    width, ratio, n = int(params["width"]), float(params["depth_ratio"]), int(params["networks"])
    depth = depth_of(width, ratio)
    f = sample_deep_linear(X_PAIR, width, depth, n, _rng(params, seed, _OUTPUTS)).outputs
    fa, fb = f[:, 0], f[:, 1]
    edges = histogram_edges(params["hist_max"], params["hist_bin"])
    counts = np.bincount(np.searchsorted(edges, fa, side="right"), minlength=edges.size + 1)
    record: dict[str, float | int] = {"networks": n, **{f"count_{j}": int(c) for j, c in enumerate(counts)}}
    for law in LAWS:
        record[f"ks_{law}"] = math.sqrt(n) * ks_statistic(fa, law_cdf(law, width, depth))
    record.update(fa2=float(np.mean(fa**2)), fb2=float(np.mean(fb**2)), fafb=float(np.mean(fa * fb)),
                  fa4=float(np.mean(fa**4)), abs_ab=float(np.mean(np.abs(fa * fb))),
                  cov_abs=_unbiased_cov(np.abs(fa), np.abs(fb)), cov_sq=_unbiased_cov(fa**2, fb**2))
    return record


def kurtosis_task(params: Mapping, seed: int) -> dict[str, float]:
    """One batch of ``networks`` networks of width ``width`` and depth ``depth_ratio * width`` on
    one input of ``q0 = 1``. Record ``networks`` and the batch means ``f2``, ``f4`` of the output
    and ``s``, ``s2`` of its scale (``s = exp(log_scale)``, exactly the ``s`` of
    eq-deep-linear-exact for one input): ``E f^2 = E s = 1`` and ``E f^4 = 3 E s^2 = 3 (1 +
    2/N)^L`` (eq-deep-linear-kurtosis). Verified bit for bit."""
    width, ratio, n = int(params["width"]), float(params["depth_ratio"]), int(params["networks"])
    sample = sample_deep_linear(np.ones(1), width, depth_of(width, ratio), n, _rng(params, seed, _KURTOSIS))
    f, s = sample.outputs[:, 0], np.exp(sample.log_scale)
    return {"networks": n, "f2": float(np.mean(f**2)), "f4": float(np.mean(f**4)), "s": float(np.mean(s)),
            "s2": float(np.mean(s * s))}


def illustration_sample(width: int, depth_ratio: float, n_networks: int, base_seed: int) -> np.ndarray:
    """``(n_networks, 2)`` outputs on :data:`X_PAIR` of a few fresh networks, for a scatter plot
    only (no claim rests on them)."""
    rng = task_rng({"base_seed": base_seed}, 0, 99, int(width), round(1000 * float(depth_ratio)))
    return sample_deep_linear(X_PAIR, width, depth_of(width, depth_ratio), n_networks, rng).outputs
