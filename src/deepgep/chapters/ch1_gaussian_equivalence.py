"""Chapter 1: finite-size experiments on the Gaussian equivalence of a layer (Theorem 1 of
Camilli et al. 2025; book thm-layer-equivalence, eq-layer-equivalent, eq-kernel-linearisation).

:class:`GaussianEquivalence` is the chapter's experiment; its three sweeps of independent random
networks run the tasks of :mod:`deepgep.chapters.ch1_gaussian_equivalence_tasks` (one row per
layer of a network, or per sample ratio). This module summarises their tables (pandas
DataFrames, long format) for the notebook, and :func:`claims` tests the theory on them with the
wrong theories each test must reject. The theorem bounds a change of mutual information; the
distances measured here are proxies of it, compared with the SHAPE of its bound (book
eq-theorem1-bound), not the bound itself: the kernel proxy's decay in the width at fixed n/d, and
the growth in n at fixed width of the non-white part of the first layer's kernel, unnormalised
(normalised by ||Lin||_op, which grows like n/d itself, it would hide that growth).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch1_gaussian_equivalence_tasks import (MOMENTS, SAMPLE_SIZE_TOLERANCE, TASKS_MODULE,
                                                             WIDTH_TOLERANCE, samples_of)
from deepgep.support.claims import Claim, Test, bonferroni_z, joint_max_z
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import Fit, fit_inverse, fit_power
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_alpha, check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import GLMTheory, LayerCoefficients, layer_coefficients, theorem1_bound_shape

__all__ = ["RELU_ACTIVATION", "RELU_GAIN", "RELU_TAG", "COEFFICIENTS", "GaussianEquivalence", "EXPERIMENT",
           "bound_shape_curve", "width_values", "width_arrays", "width_means", "exponent_fit", "coefficient_limits",
           "sample_size_arrays", "growth_exponents", "LayerTheory", "RateTheory", "SpectrumTheory", "GrowthTheory",
           "claims"]

#: The non-odd activation of the ``relu`` sweep (outside the theorem: a mean mu != 0), at gain 1
#: and one layer: its spike n mu^2 does not depend on the reader's activation.
RELU_ACTIVATION, RELU_GAIN = "relu", 1.0
#: ``tag`` of the two width sweeps in their random streams (0: the chapter's activation).
RELU_TAG = 1
#: The coefficients of Theorem 1 measured on the layers (``<name>_hat`` in the width table).
COEFFICIENTS = ("rho", "eps", "sigma")


@dataclass(frozen=True)
class GaussianEquivalence(Experiment):
    """Chapter 1's parameters: the activation ``activation(gain x)`` of networks of ``depth``
    layers whose widths (input included) are all equal, the scanned ``widths`` at ``n = alpha
    width`` samples (``width_networks`` networks each; ``relu_networks`` for the relu contrast),
    the width of the spectra figure, the sample-size scan at fixed width (``sample_size_widths``,
    ``n = alpha width`` for every ``alpha`` of ``sample_size_alphas``, ``sample_size_networks``)
    and the Monte Carlo check of the coefficients. The coefficients are derived."""

    CHAPTER: ClassVar[int] = 1

    base_seed: int
    activation: str
    gain: float
    depth: int
    widths: tuple[int, ...]
    alpha: float
    width_networks: int
    relu_networks: int
    spectra_width: int
    sample_size_widths: tuple[int, ...]
    sample_size_alphas: tuple[float, ...]
    sample_size_networks: int
    monte_carlo_samples: int

    @classmethod
    def paper(cls) -> GaussianEquivalence:
        return cls(base_seed=2025, activation="tanh", gain=2.0, depth=3, widths=(100, 200, 400, 800, 1600), alpha=1.0,
                   width_networks=40, relu_networks=10, spectra_width=1600, sample_size_widths=(50, 100),
                   sample_size_alphas=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), sample_size_networks=10,
                   monte_carlo_samples=1_000_000)

    @classmethod
    def fast(cls) -> GaussianEquivalence:
        return replace(cls.paper(), widths=(100, 200, 400, 800), width_networks=6, relu_networks=3, spectra_width=800,
                       sample_size_alphas=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0), sample_size_networks=3)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain, positive=True))
        check_count("depth", self.depth)
        check_alpha(self.alpha)
        for name, minimum in (("widths", 3), ("sample_size_widths", 1), ("sample_size_alphas", 3)):
            values = getattr(self, name)
            if len(values) < minimum or list(values) != sorted(set(values)):
                raise ExperimentError(f"{name} must be at least {minimum} increasing distinct values (the fits "
                                      f"limit + c/size and power laws need 3 points), got {list(values)}")
        for name in ("widths", "sample_size_widths"):
            for width in getattr(self, name):
                check_count(name, width, 2)
        for alpha in self.sample_size_alphas:
            check_alpha(alpha)
        for name in ("width_networks", "relu_networks", "sample_size_networks"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over networks)")
        check_count("spectra_width", self.spectra_width, 2)
        check_count("monte_carlo_samples", self.monte_carlo_samples, 2)

    @property
    def coefficients(self) -> LayerCoefficients:
        """The coefficients of Theorem 1 of every layer (book eq-layer-coefficients)."""
        return layer_coefficients(get_activation(self.activation, self.gain), self.depth)

    @property
    def samples(self) -> tuple[int, ...]:
        """``n = round(alpha width)`` of every width of :attr:`widths`."""
        return tuple(samples_of(self.alpha, d) for d in self.widths)

    def derived(self) -> dict[str, Any]:
        coef, glm = self.coefficients, GLMTheory.of(self.activation, self.gain, self.depth)
        return {"samples n = alpha width": list(self.samples), "rho_l": [float(r) for r in coef.rho],
                "eps_l": [float(e) for e in coef.eps], "kappa = eta0^2 (depth L)": glm.kappa,
                "gamma0 (depth L)": glm.gamma0, "theorem applies": coef.activation.satisfies_theorem}

    def sweeps(self) -> dict[str, Sweep]:
        """``width`` (one task per width and network, one row per layer), ``relu`` (the same task
        for relu, one layer) and ``sample_size`` (one task per width and network, one row per
        ``alpha``, all from one draw)."""
        common = {"base_seed": self.base_seed, "alpha": self.alpha}
        return {
            "width": Sweep(1, "width", f"{TASKS_MODULE}:width_task", grid=grid_product(width=list(self.widths)),
                           seeds=range(self.width_networks), index=("layer",), tolerance=WIDTH_TOLERANCE,
                           constants={**common, "activation": self.activation, "gain": self.gain,
                                      "depth": self.depth, "tag": 0}),
            "relu": Sweep(1, "relu", f"{TASKS_MODULE}:width_task", grid=grid_product(width=list(self.widths)),
                          seeds=range(self.relu_networks), index=("layer",), tolerance=WIDTH_TOLERANCE,
                          constants={**common, "activation": RELU_ACTIVATION, "gain": RELU_GAIN, "depth": 1,
                                     "tag": RELU_TAG}),
            "sample_size": Sweep(1, "sample_size", f"{TASKS_MODULE}:sample_size_task",
                                 grid=grid_product(width=list(self.sample_size_widths)),
                                 seeds=range(self.sample_size_networks), index=("alpha",),
                                 tolerance=SAMPLE_SIZE_TOLERANCE,
                                 constants={"base_seed": self.base_seed, "activation": self.activation,
                                            "gain": self.gain, "alphas": list(self.sample_size_alphas)}),
        }


EXPERIMENT = GaussianEquivalence


def bound_shape_curve(width: int, n_min: float, n_max: float, points: int = 200) -> dict[str, np.ndarray]:
    """The shape of Theorem 1's bound at width ``width`` on a dense geometric grid of ``n`` from
    ``n_min`` to ``n_max`` (the curve drawn with the sample-size scan's measurements)."""
    n = np.geomspace(float(n_min), float(n_max), points)
    return {"n": n, "rate": np.array([theorem1_bound_shape(float(m), width) for m in n])}


# --- summaries of the tables (DataFrames: one row per network and layer, or network and alpha) ----

def width_values(table: pd.DataFrame, name: str, layer: int) -> dict[int, np.ndarray]:
    """Per width: ``name`` at ``layer`` over the networks (in seed order)."""
    chosen = table[table["layer"] == layer]
    if chosen.empty:
        raise ValueError(f"no rows with layer = {layer}")
    return {int(w): g.sort_values("seed")[name].to_numpy(dtype=float) for w, g in chosen.groupby("width")}


def _grid(table: pd.DataFrame, names: Sequence[str], by: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The table's ``names`` as arrays of shape ``(values of by[0], seeds, values of by[1:]...)``
    (sorted), and the values of ``by[0]``; the table must hold every combination once."""
    order = [by[0], "seed", *by[1:]]
    t = table.sort_values(order)
    shape = tuple(t[c].nunique() for c in order)
    if len(t) != int(np.prod(shape)):
        raise ValueError(f"the table is not a full grid of {', '.join(order)}: {len(t)} rows for {shape}")
    return np.sort(t[by[0]].unique()), {name: t[name].to_numpy(dtype=float).reshape(shape) for name in names}


def width_arrays(table: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The width table's ``names`` as arrays ``(widths, networks, layers)`` and ``d`` (the
    widths): the layout :func:`deepgep.support.plotting.layer_width_figure` draws."""
    widths, arrays = _grid(table, names, ("width", "layer"))
    return {"d": widths.astype(int), **arrays}


def width_means(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """``mean``, ``se`` (over the networks) of ``name`` per width (rows) and layer (columns
    ``(mean|se, layer)``)."""
    groups = table.groupby(["width", "layer"])[name]
    return pd.DataFrame({"mean": groups.mean(), "se": groups.agg(standard_error)}).unstack("layer")


def exponent_fit(table: pd.DataFrame, name: str, layer: int) -> Fit:
    """The weighted power law ``mean(width) = prefactor width^exponent`` of ``name`` at ``layer``
    (:func:`deepgep.support.fits.fit_power`, chi-square-inflated errors)."""
    values = width_values(table, name, layer)
    widths = sorted(values)
    return fit_power(widths, [np.mean(values[d]) for d in widths], [standard_error(values[d]) for d in widths])


def _limit(values: Mapping[int, np.ndarray]) -> tuple[float, float]:
    """``limit +- se`` of the weighted fit ``mean(width) = limit + c / width`` (errors inflated)."""
    widths = sorted(values)
    fit = fit_inverse(widths, [np.mean(values[d]) for d in widths], [standard_error(values[d]) for d in widths])
    return fit.values["limit"], fit.errors["limit"]


def coefficient_limits(table: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per layer and coefficient (``rho``, ``eps``, ``sigma``): the measured value at the largest
    width (mean over networks) and its extrapolation ``limit + c / width`` with its error."""
    rows = []
    for ell in range(1, depth + 1):
        for q in COEFFICIENTS:
            values = width_values(table, f"{q}_hat", ell)
            limit, se = _limit(values)
            rows.append({"layer": ell, "coefficient": q, "largest width": float(values[max(values)].mean()),
                         "limit": limit, "se": se})
    return pd.DataFrame(rows)


def sample_size_arrays(table: pd.DataFrame, width: int) -> dict[str, np.ndarray]:
    """The sample-size table at one width: ``n`` per alpha and, with shape ``(alphas, networks)``,
    ``kernel_vs_linear``, ``gram_vs_kernel`` and ``nonlinear_offdiag`` (the layout of
    :func:`deepgep.support.plotting.sample_size_figure`)."""
    chosen = table[table["width"] == width]
    if chosen.empty:
        raise ValueError(f"no rows with width = {width}")
    alphas, arrays = _grid(chosen, ["kernel_op", "gram_vs_kernel", "offdiag"], ("alpha",))
    out = {key: arrays[name] for key, name in
           (("kernel_vs_linear", "kernel_op"), ("gram_vs_kernel", "gram_vs_kernel"), ("nonlinear_offdiag", "offdiag"))}
    out["n"] = np.array([samples_of(a, width) for a in alphas])
    return out


def growth_exponents(table: pd.DataFrame, width: int, regressor: str) -> np.ndarray:
    """Per network of the sample-size table at ``width``: the least-squares slope of
    ``log(||offdiag(K - Lin)||_op / eps_1)`` against ``log x`` over the scanned ``n``, with ``x``
    the shape of Theorem 1's bound ``(1 + sqrt(n/d) + n/d)/sqrt(d)`` (``regressor="bound"``) or
    ``n`` (``"n"``). The ``n`` of one network are nested prefixes of one draw, so the points of a
    network are correlated: the slopes of independent networks are the independent estimates."""
    rec = sample_size_arrays(table, width)
    if regressor == "bound":
        x = np.array([theorem1_bound_shape(float(n), width) for n in rec["n"]])
    elif regressor == "n":
        x = rec["n"].astype(float)
    else:
        raise ValueError(f"regressor must be 'bound' or 'n', got {regressor!r}")
    return np.array([fit_power(x, y).values["exponent"] for y in rec["nonlinear_offdiag"].T])


# --- the chapter's claims -----------------------------------------------------------------------

@dataclass(frozen=True)
class LayerTheory:
    """The coefficients a claim compares the measured layers with: those of Theorem 1 for
    ``activation(gain x)`` at ``depth`` (book eq-layer-coefficients), with the noise ``eps_l``
    scaled by ``noise_factor`` and ``sigma_l = rho_l^2 sigma_{l-1} + noise_factor eps_l``
    (``noise_factor = 0``: a purely linear layer)."""

    activation: str
    gain: float
    depth: int
    noise_factor: float = 1.0

    def values(self) -> dict[str, np.ndarray]:
        coef = layer_coefficients(get_activation(self.activation, self.gain), self.depth)
        return {"rho": np.asarray(coef.rho), "eps": self.noise_factor * coef.eps,
                "sigma": coef.sigma[1:] + (self.noise_factor - 1.0) * coef.eps}


@dataclass(frozen=True)
class RateTheory:
    """The exponent of the decay ``width^exponent`` of the kernel proxy at fixed ``n / width``."""

    exponent: float = -0.5


@dataclass(frozen=True)
class GrowthTheory:
    """How the non-white part of the first layer's kernel, ``||offdiag(K - Lin)||_op / eps_1``
    unnormalised, grows with ``n`` at fixed width: like ``x^exponent`` with ``x`` the shape of
    Theorem 1's bound in ``n`` and ``d`` (``regressor="bound"``) or ``n`` itself (``"n"``)."""

    regressor: str = "bound"
    exponent: float = 1.0


@dataclass(frozen=True)
class SpectrumTheory:
    """The network whose spectral moments a layer's equal: ``equivalent`` (Gaussian-equivalent
    features, eq-layer-equivalent) or ``noiseless`` (the same without its noise term), up to a
    relative ``deviation`` of every moment in the wide limit (0: equal)."""

    model: str = "equivalent"
    deviation: float = 0.0


def _worst(zs: Mapping[str, float], what: str) -> Test:
    """The largest ``|z|`` of a claim over several values, against the Bonferroni threshold of
    their number (:func:`deepgep.support.claims.bonferroni_z`: a joint test at the book's level)."""
    key = max(zs, key=lambda k: abs(zs[k]))
    return Test(abs(zs[key]), bonferroni_z(len(zs)), f"{what}: worst {key}: |z| = {abs(zs[key]):.2f} over "
                f"{len(zs)} values")


def claims(experiment: GaussianEquivalence, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 1's quantitative claims on the ``width`` and ``sample_size`` tables of
    ``experiment``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    L, width = experiment.depth, tables["width"]
    layers = range(1, L + 1)
    limits = {(ell, q): _limit(width_values(width, f"{q}_hat", ell)) for ell in layers for q in COEFFICIENTS}
    rates = {ell: exponent_fit(width, "kernel_frob", ell) for ell in layers}
    moments = {}
    for model in ("equivalent", "noiseless"):
        for ell in layers:
            for k in MOMENTS:
                gram, other = width_values(width, f"m{k}_gram", ell), width_values(width, f"m{k}_{model}", ell)
                moments[model, ell, k] = _limit({d: gram[d] / other[d] - 1.0 for d in gram})

    def coefficient_test(t: LayerTheory) -> Test:
        theory = t.values()
        zs = {f"{q}_{ell}": (limits[ell, q][0] - theory[q][ell - 1]) / limits[ell, q][1]
              for ell in layers for q in COEFFICIENTS}
        return _worst(zs, "limit + c/width of the measured coefficients vs theory")

    def rate_test(t: RateTheory) -> Test:
        zs = {f"layer {ell} (exponent {fit.values['exponent']:.3f} +- {fit.errors['exponent']:.3f})":
              fit.z("exponent", t.exponent) for ell, fit in rates.items()}
        return _worst(zs, "fitted exponent of ||K - Lin||_F / ||Lin||_F in width")

    def spectrum_test(t: SpectrumTheory) -> Test:
        zs = {f"m{k} layer {ell}": (moments[t.model, ell, k][0] - t.deviation) / moments[t.model, ell, k][1]
              for ell in layers for k in MOMENTS}
        return _worst(zs, f"limit + c/width of m_k(G) / m_k({t.model}) - 1")

    sizes = tables["sample_size"]
    slopes = {(d, x): growth_exponents(sizes, d, x) for d in experiment.sample_size_widths for x in ("bound", "n")}

    def growth_test(t: GrowthTheory) -> Test:
        ds = list(experiment.sample_size_widths)
        est = [slopes[d, t.regressor].mean() for d in ds]
        se = [standard_error(slopes[d, t.regressor]) for d in ds]
        return joint_max_z(est, se, [t.exponent] * len(ds), f"per-network slope of log(offdiag/eps_1) against log "
                           f"{'bound shape' if t.regressor == 'bound' else 'n'} at d = {ds}: "
                           + ", ".join(f"{e:.3f} +- {s:.3f}" for e, s in zip(est, se)) + "; ")

    layer = LayerTheory(experiment.activation, experiment.gain, L)
    other = "erf" if experiment.activation != "erf" else "tanh"
    return [
        Claim(1, "layer statistics = Theorem 1's coefficients",
              f"The measured rho_l, eps_l and sigma_l of every layer (regression of the post-activations on "
              f"the pre-activations), extrapolated in 1/width, equal the recursion's coefficients (joint over the "
              f"{3 * L} values, Bonferroni |z| <= {bonferroni_z(3 * L):.2f}).",
              coefficient_test, layer,
              {"eps dropped (purely linear layer)": replace(layer, noise_factor=0.0),
               f"coefficients of {other}({experiment.gain:g} x)": replace(layer, activation=other)},
              resolves=("gain", "noise_factor")),
        Claim(1, "kernel proxy decays like d^(-1/2)",
              f"||K_l - Lin_l||_F / ||Lin_l||_F decays with the width at the exponent -1/2 of the bound's shape at "
              f"fixed n/d (weighted log-log fit, chi-square-inflated errors; joint over the {L} layers, Bonferroni "
              f"|z| <= {bonferroni_z(L):.2f}).",
              rate_test, RateTheory(), {"no convergence (exponent 0)": RateTheory(0.0),
                                        "exponent -1": RateTheory(-1.0)}, resolves=("exponent",)),
        Claim(1, "spectrum of a layer = spectrum of its Gaussian equivalent",
              f"The spectral moments m_k = tr(G^k)/n, k = 1, 2, 3, of every layer's Gram matrix equal those of "
              f"the Gaussian-equivalent network on the same weights as the width grows (limit + c/width; joint over "
              f"the {len(MOMENTS) * L} values, Bonferroni |z| <= {bonferroni_z(len(MOMENTS) * L):.2f}).",
              spectrum_test, SpectrumTheory(), {"noise term dropped (eps_l = 0)": SpectrumTheory("noiseless")},
              resolves=("deviation",), absolute=("deviation",)),
        Claim(1, "non-white part of the kernel grows like the bound's shape",
              f"At fixed width (d = {list(experiment.sample_size_widths)}), the unnormalised non-white part of the "
              f"first layer's kernel, ||offdiag(K - Lin)||_op / eps_1, grows with n (from n = "
              f"{min(experiment.sample_size_alphas):g} d to {max(experiment.sample_size_alphas):g} d) like the shape "
              f"(1 + sqrt(n/d) + n/d)/sqrt(d) of Theorem 1's bound: the slope of its logarithm against that of the "
              f"shape, one per network (nested samples of one draw), is 1 (joint over the widths, Bonferroni |z| <= "
              f"{bonferroni_z(len(experiment.sample_size_widths)):.2f}). "
              f"Rejected: no growth (the normalised proxy's flat reading), growth like n (the bound's leading term "
              f"alone) and like sqrt(n) (unstructured noise).",
              growth_test, GrowthTheory(),
              {"no growth with n": GrowthTheory("bound", 0.0), "grows like n": GrowthTheory("n", 1.0),
               "grows like sqrt(n)": GrowthTheory("n", 0.5)}, resolves=("exponent",)),
    ]
