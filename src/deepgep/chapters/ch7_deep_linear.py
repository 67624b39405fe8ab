"""Chapter 7: deep linear networks whose depth grows with their width, ``L = lambda N``.

The output of one input is exactly the Gaussian scale mixture ``f = sqrt(q0 s) g`` (book
thm-deep-linear-exact, eq-deep-linear-exact) and, as ``L / N -> lambda``, ``ln s ->
N(-lambda, 2 lambda)`` (Bassetti, Ladelli & Rotondo 2024; book thm-deep-linear-limit,
eq-deep-linear-limit): not the Gaussian of the NNGP that a fixed depth gives. The chapter's
Monte Carlo are two sweeps of batches of networks sampled matrix by matrix
(:func:`deepgep.simulate.deep_linear.sample_deep_linear`), each batch with its own random stream:

* :func:`outputs_task`: ``networks`` networks of width ``N`` and depth ``L = lambda N`` on two
  orthogonal inputs of ``q0 = 1``; the record holds the histogram of the first output on fixed
  bins, its Kolmogorov-Smirnov statistics against the exact law, the limit and the Gaussian, and
  the batch means of the moments of eq-deep-linear-covariance;
* :func:`kurtosis_task`: one input at small widths, the batch means of ``f^4`` and ``s^2``
  (eq-deep-linear-kurtosis: both estimate ``3 (1 + 2/N)^L`` without bias).

:func:`claims` tests the theory on the recorded batches, with the wrong theories each test must
reject. The closed-form tables of the chapter (:func:`log_scale_rows`; the contrast with fixed depth is
:func:`deepgep.theory.deep_linear.depth_contrast`) are
here too; the notebook only prints, plots and asserts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from deepgep.simulate.deep_linear import sample_deep_linear
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z
from deepgep.support.stats import ks_statistic, standard_error
from deepgep.support.sweeps import Sweep, as_columns, grid_product
from deepgep.theory.deep_linear import (fourth_moment_tail_ratio, kurtosis, limit_kurtosis, log_scale_law,
                                        log_scale_mean_variance, monte_carlo_relative_se, scale_moment)
from deepgep.theory.deep_linear_outputs import (gaussian_distance, limit_output_cdf, limit_two_input_moments,
                                                output_cdf, two_input_moments)

__all__ = ["X_PAIR", "KOLMOGOROV_MEAN", "depth_of", "histogram_edges", "outputs_task", "kurtosis_task",
           "sweeps", "illustration_sample", "law_cdf", "pooled_histogram", "pearson_z", "ks_mean_z",
           "second_moment_reliable", "output_law_rows", "two_input_rows", "kurtosis_rows",
           "log_scale_rows", "claims"]

#: Two orthogonal inputs of R^2 with ``q0 = |x|^2 / d = 1`` (columns): ``G = I``.
X_PAIR = math.sqrt(2.0) * np.eye(2)

#: Mean of the Kolmogorov distribution, ``sqrt(pi / 2) ln 2``: the limit of ``E sqrt(n) D_n``
#: for the KS statistic ``D_n`` of ``n`` samples against their own law; at finite ``n``,
#: ``E sqrt(n) D_n = KOLMOGOROV_MEAN - 1 / (6 sqrt(n)) + O(1/n)`` (the first correction of the
#: law of ``sqrt(n) D_n``, ``P(sqrt(n) D_n <= x) ~ K(x + 1 / (6 sqrt(n)))``).
KOLMOGOROV_MEAN = math.sqrt(math.pi / 2.0) * math.log(2.0)

#: Tags of the two experiments in the seeds of their random streams.
_OUTPUTS, _KURTOSIS = 1, 2

#: The laws of one output the records and the claims compare with.
LAWS = ("exact", "limit", "gauss")


def depth_of(width: int, lam: float) -> int:
    """``L = lambda N``, which must be an integer."""
    depth = round(float(lam) * int(width))
    if abs(depth - float(lam) * int(width)) > 1e-9:
        raise ValueError(f"lambda * width must be an integer, got {lam!r} * {width!r}")
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
    """One independent stream per (chapter seed, experiment, width, lambda, batch)."""
    return np.random.default_rng([int(params["base_seed"]), tag, int(params["width"]),
                                  round(1000 * float(params["lam"])), int(seed)])


def _unbiased_cov(u: np.ndarray, v: np.ndarray) -> float:
    return float(u.size / (u.size - 1) * (np.mean(u * v) - u.mean() * v.mean()))


def outputs_task(params: Mapping, seed: int) -> dict[str, float | int]:
    """One batch of ``networks`` networks of width ``width`` and depth ``lam * width`` on the two
    orthogonal inputs :data:`X_PAIR`. Record: ``networks``; ``count_j`` (``j = 0..K+1``) the histogram of the
    first output ``f_a`` on :func:`histogram_edges` (``hist_max``, ``hist_bin``) with the
    overflow bins first and last; ``ks_<law>`` the KS statistic ``sqrt(n) D`` of ``f_a`` against
    each law of :data:`LAWS`; batch means ``fa2``, ``fb2``, ``fafb``, ``fa4``, ``abs_ab``
    (``|f_a| |f_b|``) and the unbiased batch covariances ``cov_abs`` of ``|f_a|, |f_b|`` and
    ``cov_sq`` of ``f_a^2, f_b^2`` (each an unbiased estimate of its expectation)."""
    width, lam, n = int(params["width"]), float(params["lam"]), int(params["networks"])
    depth = depth_of(width, lam)
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
    """One batch of ``networks`` networks of width ``width`` and depth ``lam * width`` on one input
    of ``q0 = 1``. Record ``networks`` and the batch means ``f2``, ``f4`` of the output and ``s``, ``s2`` of its
    scale (``s = exp(log_scale)``, exactly the ``s`` of eq-deep-linear-exact for one input):
    ``E f^2 = E s = 1`` and ``E f^4 = 3 E s^2 = 3 (1 + 2/N)^L`` (eq-deep-linear-kurtosis)."""
    width, lam, n = int(params["width"]), float(params["lam"]), int(params["networks"])
    sample = sample_deep_linear(np.ones(1), width, depth_of(width, lam), n, _rng(params, seed, _KURTOSIS))
    f, s = sample.outputs[:, 0], np.exp(sample.log_scale)
    return {"networks": n, "f2": float(np.mean(f**2)), "f4": float(np.mean(f**4)), "s": float(np.mean(s)),
            "s2": float(np.mean(s * s))}


_MODULE = "deepgep.chapters.ch7_deep_linear"


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's two sweeps from the notebook's parameters ``p``: ``outputs`` (one task per
    lambda of ``LAMBDAS`` at ``WIDTH`` and batch) and ``kurtosis`` (per width of
    ``KURTOSIS_WIDTHS``, lambda of ``KURTOSIS_LAMBDAS`` and batch)."""
    return {
        "outputs": Sweep(7, "outputs", preset, f"{_MODULE}:outputs_task",
                         grid=grid_product(width=[p["WIDTH"]], lam=p["LAMBDAS"]), seeds=range(p["N_BATCHES"]),
                         constants={"base_seed": p["SEED"], "networks": p["BATCH_NETWORKS"],
                                    "hist_max": p["HIST_MAX"], "hist_bin": p["HIST_BIN"]}),
        "kurtosis": Sweep(7, "kurtosis", preset, f"{_MODULE}:kurtosis_task",
                          grid=grid_product(width=p["KURTOSIS_WIDTHS"], lam=p["KURTOSIS_LAMBDAS"]),
                          seeds=range(p["KURTOSIS_BATCHES"]),
                          constants={"base_seed": p["SEED"], "networks": p["KURTOSIS_BATCH_NETWORKS"]}),
    }


def illustration_sample(width: int, lam: float, n_networks: int, seed: int) -> np.ndarray:
    """``(n_networks, 2)`` outputs on :data:`X_PAIR` of a few fresh networks, for a scatter plot
    only (no claim rests on them)."""
    rng = np.random.default_rng([int(seed), 99, int(width), round(1000 * float(lam))])
    return sample_deep_linear(X_PAIR, width, depth_of(width, lam), n_networks, rng).outputs


# --- summaries of the recorded batches -----------------------------------------------------------

def _select(rows: Sequence[Mapping[str, Any]], **where: Any) -> dict[str, np.ndarray]:
    """The columns of the rows whose parameters equal ``where``."""
    chosen = [r for r in rows if all(r[k] == v for k, v in where.items())]
    if not chosen:
        raise ValueError(f"no rows with {where}")
    return {k: np.asarray(v) for k, v in as_columns(chosen).items()}


def _batch_mean(cols: Mapping[str, np.ndarray], name: str) -> tuple[float, float]:
    values = np.asarray(cols[name], dtype=float)
    return float(values.mean()), standard_error(values)


def pooled_histogram(rows: Sequence[Mapping[str, Any]], width: int, lam: float, edges: np.ndarray) -> dict[str, Any]:
    """The counts of every bin summed over the batches (``counts``, overflow bins first and
    last), the number of networks, and the density on the inner bins with its binomial s.e."""
    cols = _select(rows, width=width, lam=lam)
    counts = np.array([cols[f"count_{j}"].sum() for j in range(edges.size + 1)], dtype=float)
    total = float(counts.sum())
    inner = counts[1:-1] / total
    width_bins = np.diff(edges)
    return {"counts": counts, "networks": int(total), "centres": 0.5 * (edges[1:] + edges[:-1]),
            "density": inner / width_bins, "density_se": np.sqrt(inner * (1 - inner) / total) / width_bins}


def pearson_z(counts: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
    """Pearson's ``X^2 = sum_j (C_j - n p_j)^2 / (n p_j)`` of pooled multinomial counts, and
    ``z = (X^2 - (K - 1)) / sd``: under the law ``p``, ``E X^2 = K - 1`` and
    ``Var X^2 = 2 (K - 1) + (sum_j 1/p_j - K^2 - 2K + 2) / n`` exactly (``K`` bins)."""
    counts, p = np.asarray(counts, dtype=float), np.asarray(probabilities, dtype=float)
    n, k = counts.sum(), counts.size
    x2 = float(np.sum((counts - n * p) ** 2 / (n * p)))
    var = 2.0 * (k - 1) + (np.sum(1.0 / p) - k * k - 2 * k + 2) / n
    return x2, (x2 - (k - 1)) / math.sqrt(var)


def _bin_probabilities(law: str, width: int, depth: int, edges: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[0.0], law_cdf(law, width, depth)(edges), [1.0]]))


def ks_mean_z(rows: Sequence[Mapping[str, Any]], width: int, lam: float, law: str) -> dict[str, float]:
    """Mean over batches of ``sqrt(n) D`` against ``law``, its s.e. over batches, the value
    under the true law (:data:`KOLMOGOROV_MEAN` ``- 1/(6 sqrt(n))``) and the two-sided z."""
    cols = _select(rows, width=width, lam=lam)
    mean, se = _batch_mean(cols, f"ks_{law}")
    ref = KOLMOGOROV_MEAN - 1.0 / (6.0 * math.sqrt(int(cols["networks"][0])))
    return {"mean": mean, "se": se, "reference": ref, "z": (mean - ref) / se}


def second_moment_reliable(width: int, depth: int, networks: int, max_relative_se: float) -> bool:
    """Whether a standard error of a second moment (``f_a^2``, ``f_a f_b``, ``|f_a||f_b|``) over
    ``networks`` networks is itself known to ``max_relative_se``: its relative error is half the
    relative error of the sample mean of ``f^4`` (eq-deep-linear-tail), which must be below
    ``2 max_relative_se``; beyond, the s.e. is carried by networks too rare to be sampled."""
    return monte_carlo_relative_se(width, depth, networks, "f4") / 2.0 < max_relative_se


def output_law_rows(rows, width: int, lambdas: Sequence[float], edges: np.ndarray) -> dict[str, list]:
    """Per lambda: the pooled Pearson z against each law of :data:`LAWS`, the mean over batches of
    ``sqrt(n) D`` against the exact law (s.e., z) and against the Gaussian, that KS distance
    ``D Gauss`` itself and the exact Kolmogorov distance between the two laws, which it estimates."""
    out: dict[str, list] = {k: [] for k in ("lambda", "L", "networks", "z exact", "z limit", "z Gauss",
                                             "sqrt(n) D exact", "+-", "z KS", "D Gauss", "distance")}
    for lam in lambdas:
        depth, hist = depth_of(width, lam), pooled_histogram(rows, width, lam, edges)
        zs = [pearson_z(hist["counts"], _bin_probabilities(law, width, depth, edges))[1] for law in LAWS]
        ks, ks_g = ks_mean_z(rows, width, lam, "exact"), ks_mean_z(rows, width, lam, "gauss")
        d_gauss = ks_g["mean"] / math.sqrt(_select(rows, width=width, lam=lam)["networks"][0])
        for key, val in zip(out, (lam, depth, hist["networks"], *zs, ks["mean"], ks["se"], ks["z"], d_gauss,
                                  gaussian_distance(width, depth))):
            out[key].append(val)
    return out


def two_input_rows(rows, width: int, lambdas: Sequence[float], max_relative_se: float) -> dict[str, list]:
    """Per lambda: batch means and s.e. of ``f_a^2``, ``f_a f_b``, ``Cov(|f_a|, |f_b|)`` and
    ``Cov(f_a^2, f_b^2)`` (NaN where this fourth moment is out of Monte Carlo reach) with the exact
    and limiting values (eq-deep-linear-covariance), and whether the second moments' s.e. is
    reliable (:func:`second_moment_reliable`)."""
    x_a, x_b = X_PAIR[:, 0], X_PAIR[:, 1]
    keys = ("lambda", "L", "E fa^2", "+-", "E fa fb", "+- ", "Cov|f| exact", "limit", "sampled", "+-  ",
            "Cov f^2 exact", "limit ", "sampled ", "+-   ", "s.e. reliable")
    out: dict[str, list] = {k: [] for k in keys}
    for lam in lambdas:
        depth, cols = depth_of(width, lam), _select(rows, width=width, lam=lam)
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


def kurtosis_rows(rows, widths: Sequence[int], lambdas: Sequence[float], max_relative_se: float) -> dict[str, list]:
    """Per (N, lambda): the exact kurtosis ``3 (1 + 2/N)^L``, its limit ``3 e^{2 lambda}``, the
    batch means of ``f^4`` and ``3 s^2`` with their s.e. over batches, and whether the
    predicted relative error of the ``f^4`` mean is below ``max_relative_se`` (``compared``)."""
    keys = ("N", "L", "lambda", "exact", "limit", "sampled f^4", "+-", "from s", "+- ", "z exact", "z limit",
            "compared")
    out: dict[str, list] = {k: [] for k in keys}
    for width in widths:
        for lam in lambdas:
            depth, cols = depth_of(width, lam), _select(rows, width=width, lam=lam)
            n = int(cols["networks"].sum())
            f4, s2 = _batch_mean(cols, "f4"), _batch_mean(cols, "s2")
            exact, limit = kurtosis(width, depth), limit_kurtosis(lam)
            vals = (width, depth, lam, exact, limit, *f4, 3 * s2[0], 3 * s2[1], (3 * s2[0] - exact) / (3 * s2[1]),
                    (3 * s2[0] - limit) / (3 * s2[1]),
                    "yes" if monte_carlo_relative_se(width, depth, n, "f4") < max_relative_se else "no")
            for key, val in zip(keys, vals):
                out[key].append(val)
    return out


def bin_rows(rows, width: int, lambdas: Sequence[float], edges: np.ndarray,
             starts: Sequence[float]) -> dict[str, list]:
    """The pooled density in the recorded bins starting nearest to ``starts`` (with its binomial
    s.e.) against the exact, limiting and Gaussian probabilities of the same bin over its width."""
    out: dict[str, list] = {k: [] for k in ("lambda", "bin from", "to", "sampled", "+-", "exact", "limit", "Gauss")}
    for lam in lambdas:
        depth, hist = depth_of(width, lam), pooled_histogram(rows, width, lam, edges)
        for c in starts:
            j = int(np.argmin(np.abs(edges[:-1] - c)))
            lo_hi = edges[j : j + 2]
            theory = [float(np.diff(law_cdf(law, width, depth)(lo_hi))[0]) / float(np.diff(lo_hi)[0]) for law in LAWS]
            for key, val in zip(out, (lam, *lo_hi, hist["density"][j], hist["density_se"][j], *theory)):
                out[key].append(val)
    return out


def fourth_moment_reach(width: int, lambdas: Sequence[float], networks: int, max_relative_se: float) -> dict[str, list]:
    """Per lambda with ``R`` (eq-deep-linear-tail) too large: the predicted relative error of the
    sample mean of ``f^4`` over ``networks`` networks and the networks it would take to reach
    ``max_relative_se``."""
    out: dict[str, list] = {k: [] for k in ("lambda", "L", "R", "rel. error at n", "networks needed")}
    for lam in lambdas:
        depth = depth_of(width, lam)
        rel = monte_carlo_relative_se(width, depth, networks, "f4")
        if rel >= max_relative_se:
            needed = monte_carlo_relative_se(width, depth, 1, "f4") ** 2 / max_relative_se**2
            for key, val in zip(out, (lam, depth, fourth_moment_tail_ratio(width, depth), rel, needed)):
                out[key].append(val)
    return out


def log_scale_rows(width: int, lambdas: Sequence[float]) -> dict[str, list]:
    """The exact mean, variance and kurtosis of ``ln s`` at ``(N, lambda N)`` against the limit
    (eq-deep-linear-moments, eq-deep-linear-limit), and ``quadrature``: the largest error of the
    Fourier-inverted density of ``ln s`` on its mean, its variance (relative) and ``E s^{-1/2}``
    (relative) — zero at ``L = 0``."""
    keys = ("lambda", "L", "E ln s", "limit", "Var ln s", "limit ", "kurtosis", "3 e^(2 lambda)", "quadrature")
    out: dict[str, list] = {k: [] for k in keys}
    for lam in lambdas:
        depth = depth_of(width, lam)
        mean, var = log_scale_mean_variance(width, depth)
        error = 0.0
        if depth > 0:
            law = log_scale_law(width, depth)
            error = max(abs(law.expectation(lambda y: y) - mean),
                        abs(law.expectation(lambda y: (y - mean) ** 2) / var - 1),
                        abs(law.expectation(lambda y: np.exp(-0.5 * y)) / scale_moment(-0.5, width, depth) - 1))
        for key, val in zip(keys, (lam, depth, mean, -lam, var, 2 * lam, kurtosis(width, depth), limit_kurtosis(lam), error)):
            out[key].append(val)
    return out


# --- the chapter's claims ------------------------------------------------------------------------

def _kurtosis_theory(name: str, width: int, depth: int) -> float:
    """``E f^4`` (``q0 = 1``) under the theory ``name``: ``exact`` ``3 (1 + 2/N)^L``, ``limit``
    ``3 e^{2 lambda}``, ``first_order`` ``3 e^{2 lambda} (1 - 2 lambda / N)`` (the limit with its
    first correction in ``1/N``: ``L ln(1 + 2/N) = 2 lambda - 2 lambda / N + O(lambda / N^2)``),
    ``gauss`` ``3``."""
    lam = depth / width
    return {"exact": kurtosis(width, depth), "limit": limit_kurtosis(lam),
            "first_order": limit_kurtosis(lam) * (1.0 - 2.0 * lam / width), "gauss": 3.0}[name]


def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 7's quantitative claims on the recorded batches and the notebook's parameters
    ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    width, lambdas = int(p["WIDTH"]), [float(x) for x in p["LAMBDAS"]]
    edges = histogram_edges(p["HIST_MAX"], p["HIST_BIN"])
    outputs, kurt = rows["outputs"], rows["kurtosis"]
    counts = {lam: pooled_histogram(outputs, width, lam, edges)["counts"] for lam in lambdas}
    totals = {lam: int(_select(outputs, width=width, lam=lam)["networks"].sum()) for lam in lambdas}

    def law_test(t):
        zs = [pearson_z(counts[lam], _bin_probabilities(t["law"], width, round(t["depth_factor"] * depth_of(width, lam)),
                                                        edges))[1] for lam in lambdas]
        k = int(np.argmax(zs))
        return Test(zs[k], CLAIM_Z, f"largest z = (X^2 - {edges.size}) / sd over lambda: {zs[k]:.2f} at "
                                    f"lambda = {lambdas[k]:g} ({edges.size + 1} bins, {totals[lambdas[k]]} networks)")

    def ks_test(t):
        zs = [ks_mean_z(outputs, width, lam, t["law"]) for lam in lambdas]
        return max_abs_z([z["mean"] for z in zs], [z["se"] for z in zs], [z["reference"] for z in zs], CLAIM_Z,
                         "mean over batches of sqrt(n) D, over lambda: ")

    kurt_points = [(w, lam) for w in p["KURTOSIS_WIDTHS"] for lam in p["KURTOSIS_LAMBDAS"]
                   if monte_carlo_relative_se(w, depth_of(w, lam), int(_select(kurt, width=w, lam=lam)["networks"].sum()),
                                              "f4") < p["MAX_RELATIVE_SE"]]

    def kurtosis_test(t):
        est, ses, refs = [], [], []
        for w, lam in kurt_points:
            cols, ref = _select(kurt, width=w, lam=lam), _kurtosis_theory(t["kurtosis"], w, depth_of(w, lam))
            for name, factor in (("f4", 1.0), ("s2", 3.0)):
                m, se = _batch_mean(cols, name)
                est.append(factor * m), ses.append(factor * se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"E f^4 and 3 E s^2 at {len(kurt_points)} (N, lambda): ")

    second = [lam for lam in lambdas if second_moment_reliable(width, depth_of(width, lam), totals[lam],
                                                                 p["MAX_RELATIVE_SE"])]

    def kernel_test(t):
        est, ses, refs = [], [], []
        for lam in second:
            cols, depth = _select(outputs, width=width, lam=lam), depth_of(width, lam)
            variance = 1.0 if t["variance"] == "exact" else math.exp(log_scale_mean_variance(width, depth)[0])
            for name, ref in (("fa2", variance), ("fb2", variance), ("fafb", 0.0)):
                m, se = _batch_mean(cols, name)
                est.append(m), ses.append(se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"E f_a^2, E f_b^2, E f_a f_b at lambda in {second}: ")

    def dependence_test(t):
        x_a, x_b = X_PAIR[:, 0], X_PAIR[:, 1]
        est, ses, refs = [], [], []
        for lam in second:
            m, se = _batch_mean(_select(outputs, width=width, lam=lam), "cov_abs")
            ref = two_input_moments(x_a, x_b, width, depth_of(width, lam))["cov_abs_f"] if t["cov_abs"] == "exact" else 0.0
            est.append(m), ses.append(se), refs.append(ref)
        return max_abs_z(est, ses, refs, CLAIM_Z, f"Cov(|f_a|, |f_b|) at lambda in {second}: ")

    law = {"law": "exact", "depth_factor": 1.0}
    return [
        Claim(7, "output law = exact scale mixture (pooled chi-square)",
              f"At N = {width} and every lambda, the histogram of one output pooled over the batches fits the exact "
              f"mixture of eq-deep-linear-exact: Pearson's X^2 exceeds its null mean by at most {CLAIM_Z} of its "
              "exact null standard deviation.",
              law_test, law, {"NNGP Gaussian (fixed depth)": {"law": "gauss"},
                              "proportional limit (no finite-N correction)": {"law": "limit"},
                              "depth L -> 0.8 L": {"depth_factor": 0.8}}),
        Claim(7, "output law = exact scale mixture (KS over batches)",
              f"The mean over batches of the Kolmogorov-Smirnov statistic sqrt(n) D of one output against the exact "
              f"law equals the Kolmogorov law's mean at every lambda (|z| <= {CLAIM_Z}, s.e. over batches).",
              ks_test, {"law": "exact"}, {"NNGP Gaussian (fixed depth)": {"law": "gauss"}}),
        Claim(7, "kurtosis = 3 (1 + 2/N)^L",
              f"At the small widths, E f^4 (the kurtosis, as E f^2 = 1) and 3 E s^2 measured over batches equal "
              f"3 (1 + 2/N)^L with its finite-N correction (|z| <= {CLAIM_Z}) wherever the fourth moment is in "
              "Monte Carlo reach.",
              kurtosis_test, {"kurtosis": "exact"},
              {"proportional limit 3 e^(2 lambda)": {"kurtosis": "limit"},
               "first order 3 e^(2 lambda) (1 - 2 lambda / N)": {"kurtosis": "first_order"},
               "NNGP Gaussian: 3": {"kurtosis": "gauss"}}),
        Claim(7, "the kernel is the NNGP's",
              f"E f_a^2 = E f_b^2 = 1 and E f_a f_b = 0 for orthogonal inputs at every lambda whose standard "
              f"error is reliable (|z| <= {CLAIM_Z}): the variance is not the typical network's e^(E ln s).",
              kernel_test, {"variance": "exact"}, {"variance = typical scale e^(E ln s)": {"variance": "typical"}}),
        Claim(7, "uncorrelated but dependent outputs",
              f"Cov(|f_a|, |f_b|) of orthogonal inputs equals (2/pi)(1 - (E sqrt s)^2) (eq-deep-linear-covariance) "
              f"at every lambda whose standard error is reliable (|z| <= {CLAIM_Z}), not the zero of the NNGP.",
              dependence_test, {"cov_abs": "exact"}, {"independent outputs (NNGP): 0": {"cov_abs": "nngp"}}),
    ]
