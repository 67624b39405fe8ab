"""Chapter 8: deep linear networks whose depth grows with their width, ``L = lambda N``.

The output of one input is exactly the Gaussian scale mixture ``f = sqrt(q0 s) g`` (book
thm-deep-linear-exact, eq-deep-linear-exact) and, as ``L / N -> lambda``, ``ln s ->
N(-lambda, 2 lambda)`` (Bassetti, Ladelli & Rotondo 2024; book thm-deep-linear-limit,
eq-deep-linear-limit): not the Gaussian of the NNGP that a fixed depth gives.

:class:`DeepLinear` is the chapter's experiment; its two sweeps of batches of sampled networks
run the tasks of :mod:`deepgep.chapters.ch8_deep_linear_tasks`. This module summarises their
tables (pandas DataFrames, one row per batch) for the notebook, and :func:`claims` tests the
theory on them with the wrong theories each test must reject. The contrast with a fixed depth
is :func:`deepgep.theory.deep_linear.depth_contrast`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch8_deep_linear_tasks import (LAWS, TASKS_MODULE, X_PAIR, HIST_BIN, HIST_MAX, depth_of,
                                                    histogram_edges, law_cdf)
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.stats import kolmogorov_mean, pearson_z, standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_count
from deepgep.theory.deep_linear import kurtosis, limit_kurtosis, log_scale_mean_variance, monte_carlo_relative_se
from deepgep.theory.deep_linear_outputs import gaussian_distance, limit_two_input_moments, two_input_moments

__all__ = ["MAX_RELATIVE_SE", "DeepLinear", "EXPERIMENT", "OutputTheory", "pooled_histogram", "ks_mean_z",
           "second_moment_reliable", "output_law_rows", "two_input_rows", "kurtosis_rows", "bin_rows",
           "claims"]

#: A fourth-moment Monte Carlo is compared with theory only where its predicted relative error
#: (eq-deep-linear-tail) is below this: beyond, the standard error is carried by networks too
#: rare to be sampled and a z-score means nothing.
MAX_RELATIVE_SE = 0.1


@dataclass(frozen=True)
class DeepLinear(Experiment):
    """Chapter 8's parameters: the width and the depth ratios ``lambda = L / N`` of the networks
    sampled for the output laws, their batches, the small widths of the kurtosis check, and the
    fixed depth and widths of the closed-form contrast. ``depths`` is derived."""

    CHAPTER: ClassVar[int] = 8

    base_seed: int
    width: int
    depth_ratios: tuple[float, ...]
    batches: int
    batch_networks: int
    kurtosis_widths: tuple[int, ...]
    kurtosis_depth_ratios: tuple[float, ...]
    kurtosis_batches: int
    kurtosis_batch_networks: int
    fixed_depth: int
    contrast_widths: tuple[int, ...]

    @classmethod
    def paper(cls) -> DeepLinear:
        return cls(base_seed=2025, width=16, depth_ratios=(0.0, 0.25, 1.0, 2.0), batches=40, batch_networks=50000,
                   kurtosis_widths=(4, 8, 16), kurtosis_depth_ratios=(0.25, 0.5), kurtosis_batches=50,
                   kurtosis_batch_networks=40000, fixed_depth=4, contrast_widths=(4, 16, 64, 256, 1024, 4096))

    @classmethod
    def fast(cls) -> DeepLinear:
        return cls(base_seed=2025, width=16, depth_ratios=(0.0, 0.25, 1.0, 2.0), batches=10, batch_networks=5000,
                   kurtosis_widths=(4, 8), kurtosis_depth_ratios=(0.25, 0.5), kurtosis_batches=10,
                   kurtosis_batch_networks=10000, fixed_depth=4, contrast_widths=(4, 16, 64, 256, 1024, 4096))

    def validate(self) -> None:
        for name in ("width", "batch_networks", "kurtosis_batch_networks", "fixed_depth"):
            check_count(name, getattr(self, name))
        for name in ("batches", "kurtosis_batches"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over batches)")
        for name in ("kurtosis_widths", "contrast_widths"):
            if not getattr(self, name):
                raise ExperimentError(f"{name} must not be empty")
            for w in getattr(self, name):
                check_count(name, w)
        for name, widths in (("depth_ratios", (self.width,)), ("kurtosis_depth_ratios", self.kurtosis_widths)):
            if not getattr(self, name):
                raise ExperimentError(f"{name} must not be empty")
            for ratio in getattr(self, name):
                if ratio < 0:
                    raise ExperimentError(f"{name} must be >= 0, got {ratio}")
                for w in widths:
                    depth_of(w, ratio)

    @property
    def depths(self) -> tuple[int, ...]:
        """``L = lambda N`` of every depth ratio at :attr:`width`."""
        return tuple(depth_of(self.width, ratio) for ratio in self.depth_ratios)

    def derived(self) -> dict[str, Any]:
        return {"depths L = lambda N": list(self.depths),
                "networks per depth": self.batches * self.batch_networks}

    def sweeps(self) -> dict[str, Sweep]:
        """``outputs`` (one task per depth ratio at :attr:`width` and batch) and ``kurtosis`` (per
        width of :attr:`kurtosis_widths`, depth ratio and batch)."""
        return {
            "outputs": Sweep(8, "outputs", f"{TASKS_MODULE}:outputs_task",
                             grid=grid_product(width=[self.width], depth_ratio=list(self.depth_ratios)),
                             seeds=range(self.batches),
                             constants={"base_seed": self.base_seed, "networks": self.batch_networks,
                                        "hist_max": HIST_MAX, "hist_bin": HIST_BIN}),
            "kurtosis": Sweep(8, "kurtosis", f"{TASKS_MODULE}:kurtosis_task",
                              grid=grid_product(width=list(self.kurtosis_widths),
                                                depth_ratio=list(self.kurtosis_depth_ratios)),
                              seeds=range(self.kurtosis_batches),
                              constants={"base_seed": self.base_seed, "networks": self.kurtosis_batch_networks}),
        }


EXPERIMENT = DeepLinear


# --- summaries of the recorded batches (DataFrames: one row per batch) ------------------------

def _select(table: pd.DataFrame, width: int, depth_ratio: float) -> pd.DataFrame:
    """The batches of one (width, depth ratio)."""
    chosen = table[(table["width"] == width) & (table["depth_ratio"] == depth_ratio)]
    if chosen.empty:
        raise ValueError(f"no batches with width = {width}, depth_ratio = {depth_ratio}")
    return chosen


def _batch_mean(batches: pd.DataFrame, name: str) -> tuple[float, float]:
    values = batches[name].to_numpy(dtype=float)
    return float(values.mean()), standard_error(values)


def pooled_histogram(table: pd.DataFrame, width: int, depth_ratio: float, edges: np.ndarray) -> dict[str, Any]:
    """The counts of every bin summed over the batches (``counts``, overflow bins first and
    last), the number of networks, and the density on the inner bins with its binomial s.e."""
    batches = _select(table, width, depth_ratio)
    counts = np.array([batches[f"count_{j}"].sum() for j in range(edges.size + 1)], dtype=float)
    total = float(counts.sum())
    inner = counts[1:-1] / total
    width_bins = np.diff(edges)
    return {"counts": counts, "networks": int(total), "centres": 0.5 * (edges[1:] + edges[:-1]),
            "density": inner / width_bins, "density_se": np.sqrt(inner * (1 - inner) / total) / width_bins}


def _bin_probabilities(law: str, width: int, depth: int, edges: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[0.0], law_cdf(law, width, depth)(edges), [1.0]]))


def ks_mean_z(table: pd.DataFrame, width: int, depth_ratio: float, law: str) -> dict[str, float]:
    """Mean over batches of ``sqrt(n) D`` against ``law``, its s.e. over batches, the value
    under the true law (:func:`deepgep.support.stats.kolmogorov_mean`) and the two-sided z."""
    batches = _select(table, width, depth_ratio)
    mean, se = _batch_mean(batches, f"ks_{law}")
    ref = kolmogorov_mean(int(batches["networks"].iloc[0]))
    return {"mean": mean, "se": se, "reference": ref, "z": (mean - ref) / se}


def second_moment_reliable(width: int, depth: int, networks: int, max_relative_se: float) -> bool:
    """Whether a standard error of a second moment (``f_a^2``, ``f_a f_b``, ``|f_a||f_b|``) over
    ``networks`` networks is itself known to ``max_relative_se``: its relative error is half the
    relative error of the sample mean of ``f^4`` (eq-deep-linear-tail), which must be below
    ``2 max_relative_se``; beyond, the s.e. is carried by networks too rare to be sampled."""
    return monte_carlo_relative_se(width, depth, networks, "f4") / 2.0 < max_relative_se


def output_law_rows(table: pd.DataFrame, width: int, depth_ratios: Sequence[float], edges: np.ndarray) -> dict[str, list]:
    """Per lambda: the pooled Pearson z against each law of :data:`LAWS`, the mean over batches of
    ``sqrt(n) D`` against the exact law (s.e., z) and against the Gaussian, that KS distance
    ``D Gauss`` itself and the exact Kolmogorov distance between the two laws, which it estimates."""
    out: dict[str, list] = {k: [] for k in ("lambda", "L", "networks", "z exact", "z limit", "z Gauss",
                                             "sqrt(n) D exact", "+-", "z KS", "D Gauss", "distance")}
    for lam in depth_ratios:
        depth, hist = depth_of(width, lam), pooled_histogram(table, width, lam, edges)
        zs = [pearson_z(hist["counts"], _bin_probabilities(law, width, depth, edges))[1] for law in LAWS]
        ks, ks_g = ks_mean_z(table, width, lam, "exact"), ks_mean_z(table, width, lam, "gauss")
        d_gauss = ks_g["mean"] / math.sqrt(_select(table, width, lam)["networks"].iloc[0])
        for key, val in zip(out, (lam, depth, hist["networks"], *zs, ks["mean"], ks["se"], ks["z"], d_gauss,
                                  gaussian_distance(width, depth))):
            out[key].append(val)
    return out


def two_input_rows(table: pd.DataFrame, width: int, depth_ratios: Sequence[float], max_relative_se: float) -> dict[str, list]:
    """Per lambda: batch means and s.e. of ``f_a^2``, ``f_a f_b``, ``Cov(|f_a|, |f_b|)`` and
    ``Cov(f_a^2, f_b^2)`` (NaN where this fourth moment is out of Monte Carlo reach) with the exact
    and limiting values (eq-deep-linear-covariance), and whether the second moments' s.e. is
    reliable (:func:`second_moment_reliable`)."""
    x_a, x_b = X_PAIR[:, 0], X_PAIR[:, 1]
    keys = ("lambda", "L", "E fa^2", "+-", "E fa fb", "+- ", "Cov|f| exact", "limit", "sampled", "+-  ",
            "Cov f^2 exact", "limit ", "sampled ", "+-   ", "s.e. reliable")
    out: dict[str, list] = {k: [] for k in keys}
    for lam in depth_ratios:
        depth, cols = depth_of(width, lam), _select(table, width, lam)
        exact, limit = two_input_moments(x_a, x_b, width, depth), limit_two_input_moments(x_a, x_b, lam)
        n = int(cols["networks"].sum())
        cov_sq = (_batch_mean(cols, "cov_sq") if monte_carlo_relative_se(width, depth, n, "fa2fb2") < max_relative_se
                  else (math.nan, math.nan))
        vals = (lam, depth, *_batch_mean(cols, "fa2"), *_batch_mean(cols, "fafb"), exact["cov_abs_f"],
                limit["cov_abs_f"], *_batch_mean(cols, "cov_abs"), exact["cov_f2"], limit["cov_f2"], *cov_sq,
                "yes" if second_moment_reliable(width, depth, n, max_relative_se) else "no")
        for key, val in zip(keys, vals):
            out[key].append(val)
    return out


def kurtosis_rows(table: pd.DataFrame, widths: Sequence[int], depth_ratios: Sequence[float], max_relative_se: float) -> dict[str, list]:
    """Per (N, lambda): the exact kurtosis ``3 (1 + 2/N)^L``, its limit ``3 e^{2 lambda}``, the
    batch means of ``f^4`` and ``3 s^2`` with their s.e. over batches, and whether the
    predicted relative error of the ``f^4`` mean is below ``max_relative_se`` (``compared``)."""
    keys = ("N", "L", "lambda", "exact", "limit", "sampled f^4", "+-", "from s", "+- ", "z exact", "z limit",
            "compared")
    out: dict[str, list] = {k: [] for k in keys}
    for width in widths:
        for lam in depth_ratios:
            depth, cols = depth_of(width, lam), _select(table, width, lam)
            n = int(cols["networks"].sum())
            f4, s2 = _batch_mean(cols, "f4"), _batch_mean(cols, "s2")
            exact, limit = kurtosis(width, depth), limit_kurtosis(lam)
            vals = (width, depth, lam, exact, limit, *f4, 3 * s2[0], 3 * s2[1], (3 * s2[0] - exact) / (3 * s2[1]),
                    (3 * s2[0] - limit) / (3 * s2[1]),
                    "yes" if monte_carlo_relative_se(width, depth, n, "f4") < max_relative_se else "no")
            for key, val in zip(keys, vals):
                out[key].append(val)
    return out


def bin_rows(table: pd.DataFrame, width: int, depth_ratios: Sequence[float], edges: np.ndarray,
             starts: Sequence[float]) -> dict[str, list]:
    """The pooled density in the recorded bins starting nearest to ``starts`` (with its binomial
    s.e.) against the exact, limiting and Gaussian probabilities of the same bin over its width."""
    out: dict[str, list] = {k: [] for k in ("lambda", "bin from", "to", "sampled", "+-", "exact", "limit", "Gauss")}
    for lam in depth_ratios:
        depth, hist = depth_of(width, lam), pooled_histogram(table, width, lam, edges)
        for c in starts:
            j = int(np.argmin(np.abs(edges[:-1] - c)))
            lo_hi = edges[j : j + 2]
            theory = [float(np.diff(law_cdf(law, width, depth)(lo_hi))[0]) / float(np.diff(lo_hi)[0]) for law in LAWS]
            for key, val in zip(out, (lam, *lo_hi, hist["density"][j], hist["density_se"][j], *theory)):
                out[key].append(val)
    return out


# --- the chapter's claims ------------------------------------------------------------------------

@dataclass(frozen=True)
class OutputTheory:
    """The theory the chapter's claims compare the sampled networks with: ``law`` of one output
    (``exact`` eq-deep-linear-exact, ``limit`` eq-deep-linear-limit, ``gauss`` the NNGP's; for
    the kurtosis also ``first_order``, the limit with its 1/N correction; for the kernel
    ``typical``, the variance ``e^(E ln s)`` of a typical network; for the covariance of
    ``|f|`` ``nngp``, independent outputs) at the depth ``depth_factor * L``, with the output
    scaled to the variance ``variance_factor`` (the NNGP kernel's scale, ``sigma_w^2 = 1`` per
    layer in eq-deep-linear-exact: a law of ``sqrt(variance_factor) f``)."""

    law: str = "exact"
    depth_factor: float = 1.0
    variance_factor: float = 1.0


def _kurtosis_theory(theory: OutputTheory, width: int, depth: int) -> float:
    """``E f^4`` (``q0 = 1``) under the theory: ``exact`` ``3 (1 + 2/N)^L``, ``limit``
    ``3 e^{2 lambda}``, ``first_order`` ``3 e^{2 lambda} (1 - 2 lambda / N)`` (``L ln(1 + 2/N) =
    2 lambda - 2 lambda / N + O(lambda / N^2)``), ``gauss`` ``3``; ``L`` scaled by the depth
    factor (continuously: the formulas hold for real ``L``)."""
    depth = theory.depth_factor * depth
    lam = depth / width
    kurt = {"exact": 3.0 * (1.0 + 2.0 / width) ** depth, "limit": limit_kurtosis(lam),
            "first_order": limit_kurtosis(lam) * (1.0 - 2.0 * lam / width), "gauss": 3.0}[theory.law]
    return theory.variance_factor**2 * kurt


def _law_claims(experiment: DeepLinear, outputs: pd.DataFrame) -> list[Claim]:
    width, ratios, edges = experiment.width, experiment.depth_ratios, histogram_edges(HIST_MAX, HIST_BIN)
    counts = {lam: pooled_histogram(outputs, width, lam, edges)["counts"] for lam in ratios}

    def law_test(t: OutputTheory) -> Test:
        scaled_edges = edges / math.sqrt(t.variance_factor)  # P(sqrt(v) f in a bin) = P(f in the bin / sqrt(v))
        zs = [pearson_z(counts[lam], _bin_probabilities(t.law, width, round(t.depth_factor * depth_of(width, lam)),
                                                        scaled_edges))[1] for lam in ratios]
        k = int(np.argmax(zs))
        return Test(zs[k], CLAIM_Z, f"largest z = (X^2 - {edges.size}) / sd over lambda: {zs[k]:.2f} at "
                                    f"lambda = {ratios[k]:g} ({edges.size + 1} bins, {int(counts[ratios[k]].sum())} "
                                    "networks)")

    def ks_test(t: OutputTheory) -> Test:
        zs = [ks_mean_z(outputs, width, lam, t.law) for lam in ratios]
        return max_abs_z([z["mean"] for z in zs], [z["se"] for z in zs], [z["reference"] for z in zs], CLAIM_Z,
                         "mean over batches of sqrt(n) D, over lambda: ")

    exact = OutputTheory()
    return [
        Claim(8, "output law = exact scale mixture (pooled chi-square)",
              f"At N = {width} and every lambda, the histogram of one output pooled over the batches fits the exact "
              f"mixture of eq-deep-linear-exact: Pearson's X^2 exceeds its null mean by at most {CLAIM_Z} of its "
              "exact null standard deviation.",
              law_test, exact, {"NNGP Gaussian (fixed depth)": replace(exact, law="gauss"),
                                "proportional limit (no finite-N correction)": replace(exact, law="limit"),
                                "depth L -> 0.8 L": replace(exact, depth_factor=0.8)},
              resolves=("depth_factor", "variance_factor")),
        Claim(8, "output law = exact scale mixture (KS over batches)",
              f"The mean over batches of the Kolmogorov-Smirnov statistic sqrt(n) D of one output against the exact "
              f"law equals the Kolmogorov law's mean at every lambda (|z| <= {CLAIM_Z}, s.e. over batches). Its "
              "resolution is not measured: each task stores the statistic against the exact and the Gaussian laws "
              "only (the chi-square claim resolves the depth and the variance).",
              ks_test, exact, {"NNGP Gaussian (fixed depth)": replace(exact, law="gauss")}),
    ]


def _moment_claims(experiment: DeepLinear, outputs: pd.DataFrame, kurt: pd.DataFrame) -> list[Claim]:
    width = experiment.width
    kurt_points = [(w, lam) for w in experiment.kurtosis_widths for lam in experiment.kurtosis_depth_ratios
                   if monte_carlo_relative_se(w, depth_of(w, lam), int(_select(kurt, w, lam)["networks"].sum()),
                                              "f4") < MAX_RELATIVE_SE]
    totals = {lam: int(_select(outputs, width, lam)["networks"].sum()) for lam in experiment.depth_ratios}
    second = [lam for lam in experiment.depth_ratios
              if second_moment_reliable(width, depth_of(width, lam), totals[lam], MAX_RELATIVE_SE)]

    def kurtosis_test(t: OutputTheory) -> Test:
        est, ses, refs = [], [], []
        for w, lam in kurt_points:
            batches, ref = _select(kurt, w, lam), _kurtosis_theory(t, w, depth_of(w, lam))
            for name, factor in (("f4", 1.0), ("s2", 3.0)):
                m, se = _batch_mean(batches, name)
                est.append(factor * m), ses.append(factor * se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"E f^4 and 3 E s^2 at {len(kurt_points)} (N, lambda): ")

    def kernel_test(t: OutputTheory) -> Test:
        est, ses, refs = [], [], []
        for lam in second:
            batches, depth = _select(outputs, width, lam), depth_of(width, lam)
            variance = t.variance_factor * (1.0 if t.law == "exact" else
                                            math.exp(log_scale_mean_variance(width, depth)[0]))
            for name, ref in (("fa2", variance), ("fb2", variance), ("fafb", 0.0)):
                m, se = _batch_mean(batches, name)
                est.append(m), ses.append(se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"E f_a^2, E f_b^2, E f_a f_b at lambda in {second}: ")

    def dependence_test(t: OutputTheory) -> Test:
        x_a, x_b = X_PAIR[:, 0], X_PAIR[:, 1]
        est, ses, refs = [], [], []
        for lam in second:
            m, se = _batch_mean(_select(outputs, width, lam), "cov_abs")
            ref = t.variance_factor * (two_input_moments(x_a, x_b, width, depth_of(width, lam))["cov_abs_f"]
                                       if t.law == "exact" else 0.0)  # |f_a||f_b| scales with the variance
            est.append(m), ses.append(se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"Cov(|f_a|, |f_b|) at lambda in {second}: ")

    exact = OutputTheory()
    return [
        Claim(8, "kurtosis = 3 (1 + 2/N)^L",
              f"At the small widths, E f^4 (the kurtosis, as E f^2 = 1) and 3 E s^2 measured over batches equal "
              f"3 (1 + 2/N)^L with its finite-N correction (|z| <= {CLAIM_Z}) wherever the fourth moment is in "
              "Monte Carlo reach.",
              kurtosis_test, exact,
              {"proportional limit 3 e^(2 lambda)": replace(exact, law="limit"),
               "first order 3 e^(2 lambda) (1 - 2 lambda / N)": replace(exact, law="first_order"),
               "NNGP Gaussian: 3": replace(exact, law="gauss")}, resolves=("depth_factor", "variance_factor")),
        Claim(8, "the kernel is the NNGP's",
              f"E f_a^2 = E f_b^2 = 1 and E f_a f_b = 0 for orthogonal inputs at every lambda whose standard "
              f"error is reliable (|z| <= {CLAIM_Z}): the variance is not the typical network's e^(E ln s).",
              kernel_test, exact, {"variance = typical scale e^(E ln s)": replace(exact, law="typical")},
              resolves=("variance_factor",)),
        Claim(8, "uncorrelated but dependent outputs",
              f"Cov(|f_a|, |f_b|) of orthogonal inputs equals (2/pi)(1 - (E sqrt s)^2) (eq-deep-linear-covariance) "
              f"at every lambda whose standard error is reliable (|z| <= {CLAIM_Z}), not the zero of the NNGP.",
              dependence_test, exact, {"independent outputs (NNGP): 0": replace(exact, law="nngp")},
              resolves=("variance_factor",)),
    ]


def claims(experiment: DeepLinear, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 8's quantitative claims on the tables of ``experiment``'s sweeps (``outputs``,
    ``kurtosis``), each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    return [*_law_claims(experiment, tables["outputs"]),
            *_moment_claims(experiment, tables["outputs"], tables["kurtosis"])]
