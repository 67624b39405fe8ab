"""Chapter 9: deep equilibrium models as Gaussian processes (Gao et al. 2023; book thm-deq-gp,
thm-deq-pd, eq-deq-kernel, eq-deq-contraction, eq-deq-rate): the finite-width DEQ against its kernel
fixed point, the order of the limits, the smallest eigenvalue of the kernel, ridge on the digits.

:class:`DeepEquilibrium` is the chapter's experiment; its four sweeps of independent networks run
the tasks of :mod:`deepgep.chapters.ch9_deep_equilibrium_tasks`, which also reads their tables
(pandas DataFrames, long format) into arrays per width. :func:`claims` tests the theory on them,
with the finite-width corrections fitted by :mod:`deepgep.support.fits` (chi-square-inflated
errors), and the wrong theories each test must reject. The contraction hypothesis of thm-deq-gp and
its diagnostics are in :mod:`deepgep.simulate.deq`; the fixed point in :mod:`deepgep.theory.deq`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from deepgep.chapters.ch9_deep_equilibrium_tasks import (DEQ_DEPTH, TASKS_MODULE, digit_inputs, gaussianity_summary,
                                                         kernel_samples, mean_entries, sphere_inputs, width_means)
from deepgep.support.claims import CLAIM_Z, Claim, Test, scaled
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import Fit, fit_inverse, fit_linear, fit_power
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_choice, check_count, check_real
from deepgep.theory.deq import (LIPSCHITZ_AT_ZERO, ContractionError, activation_lipschitz, deq_kernel, input_kernel,
                                min_eigenvalue_scan, weight_tied_kernels)

__all__ = ["GAUSSIANITY_FIT_MIN_WIDTH", "CORRECTION_POWERS", "VERIFY_TOLERANCE", "DIGITS", "DeepEquilibrium",
           "EXPERIMENT", "correction_columns", "correction_curve", "KernelTheory", "RateTheory", "KurtosisTheory", "LimitsTheory", "claims"]

#: The output-law fits use the widths from 8 on: below, draws outside the contraction hypothesis
#: are not rare (about 1% at widths 2 and 4) and higher orders of 1/n are not negligible.
GAUSSIANITY_FIT_MIN_WIDTH = 8
#: Powers of ``1/n`` of the finite-width corrections fitted to the excess kurtosis of one output and
#: to ``lambda_min(K_n)``: ``c/n`` and its correction ``d/n^2`` (Lawley 1956 for the eigenvalue).
CORRECTION_POWERS = (1.0, 2.0)
#: Relative tolerance of ``deepgep results verify``: the forward iteration stops at a residual of
#: 1e-10, so another machine's BLAS summation order may move a recorded value in its last digits.
VERIFY_TOLERANCE = 1e-8
#: Images of scikit-learn's ``digits`` data set (eigenvalue inputs and the ridge split draw from them).
DIGITS = 1797


@dataclass(frozen=True)
class DeepEquilibrium(Experiment):
    """Chapter 9's parameters: the DEQ (``activation``, ``sigma_w``, ``sigma_u``) on ``n_inputs``
    inputs of dimension ``d0`` and its iteration budget; the live convergence checks
    (``convergence_width``, the scan ``scan_sigma_ws``); the four sweeps (widths and independent
    networks or batches of each); the smallest eigenvalue on ``eigen_n_inputs`` digits
    (``eigen_activation`` at ``eigen_sigma_w``, the fixed point's also over ``eigen_sigma_ws``); and
    the ridge split of the digits. The contraction constants are derived."""

    CHAPTER: ClassVar[int] = 9

    base_seed: int
    activation: str
    sigma_w: float
    sigma_u: float
    n_inputs: int
    d0: int
    max_iter: int
    convergence_width: int
    scan_sigma_ws: tuple[float, ...]
    scan_max_iter: int
    kernel_widths: tuple[int, ...]
    kernel_networks: int
    gaussianity_widths: tuple[int, ...]
    gaussianity_batches: int
    gaussianity_batch_networks: int
    limits_widths: tuple[int, ...]
    limits_depths: tuple[int, ...]
    limits_networks: int
    eigen_activation: str
    eigen_sigma_w: float
    eigen_sigma_ws: tuple[float, ...]
    eigen_n_inputs: int
    eigen_widths: tuple[int, ...]
    eigen_networks: int
    ridge_n: int
    ridge_n_test: int
    ridge_penalties: tuple[float, ...]

    @classmethod
    def paper(cls) -> DeepEquilibrium:
        widths = (100, 200, 400, 800, 1600, 3200)
        return cls(base_seed=2025, activation="tanh", sigma_w=0.4, sigma_u=1.0, n_inputs=8, d0=10, max_iter=2000,
                   convergence_width=2000, scan_sigma_ws=(0.4, 1.0, 1.5, 2.5), scan_max_iter=400,
                   kernel_widths=widths, kernel_networks=40, gaussianity_widths=(2, 4, 8, 16, 32, 64, 128),
                   gaussianity_batches=20, gaussianity_batch_networks=5000, limits_widths=widths,
                   limits_depths=(1, 2, 3, 4, 8, 16), limits_networks=40, eigen_activation="erf", eigen_sigma_w=0.4,
                   eigen_sigma_ws=(0.25, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5), eigen_n_inputs=100,
                   eigen_widths=(50, 200, 400, 800, 1600, 3200), eigen_networks=30, ridge_n=1000, ridge_n_test=797,
                   ridge_penalties=(1e-4, 1e-3, 1e-2, 1e-1, 1.0))

    @classmethod
    def fast(cls) -> DeepEquilibrium:
        widths = (100, 200, 400, 800)
        return replace(cls.paper(), convergence_width=1000, kernel_widths=widths, kernel_networks=10,
                       gaussianity_widths=(2, 4, 8, 16, 32, 64), gaussianity_batches=8, gaussianity_batch_networks=1000,
                       limits_widths=widths, limits_networks=10, eigen_widths=(50, 200, 400, 800), eigen_networks=6,
                       ridge_n=600, ridge_n_test=600)

    def validate(self) -> None:
        for name in ("activation", "eigen_activation"):
            check_choice(name, getattr(self, name), LIPSCHITZ_AT_ZERO)
        for name in ("sigma_w", "sigma_u", "eigen_sigma_w"):
            check_real(name, getattr(self, name), positive=True)
        for name in ("n_inputs", "eigen_n_inputs"):
            check_count(name, getattr(self, name), 2)
        for name in ("d0", "max_iter", "convergence_width", "scan_max_iter", "gaussianity_batch_networks"):
            check_count(name, getattr(self, name))
        for name in ("kernel_networks", "gaussianity_batches", "limits_networks", "eigen_networks"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over them)")
        for name in ("scan_sigma_ws", "eigen_sigma_ws", "ridge_penalties"):
            if not getattr(self, name):
                raise ExperimentError(f"{name} must not be empty")
            for value in getattr(self, name):
                check_real(name, value, positive=True)
        for name, fitted, least in (("kernel_widths", self.kernel_widths, 3), ("limits_widths", self.limits_widths, 3),
                                    ("gaussianity_widths", self.gaussianity_fit_widths, 4),
                                    ("eigen_widths", self.eigen_fit_widths, 3)):
            if len(set(getattr(self, name))) != len(getattr(self, name)) or len(fitted) < least:
                raise ExperimentError(f"{name} must be distinct and hold at least {least} fitted widths, got "
                                      f"{list(fitted)} of {list(getattr(self, name))} (module docstring)")
            for width in getattr(self, name):
                check_count(name, width)
        if not self.limits_depths or list(self.limits_depths) != sorted(set(self.limits_depths)):
            raise ExperimentError(f"limits_depths must be increasing, got {list(self.limits_depths)}")
        for depth in self.limits_depths:
            check_count("limits_depths", depth)
        if self.eigen_n_inputs >= DIGITS or self.ridge_n + self.ridge_n_test > DIGITS:
            raise ExperimentError(f"eigen_n_inputs < {DIGITS} and ridge_n + ridge_n_test <= {DIGITS} (the digits)")
        check_count("ridge_n", self.ridge_n, 4)
        check_count("ridge_n_test", self.ridge_n_test)
        for name, activation, sigma_ws in (("sigma_w", self.activation, (self.sigma_w,)),
                                           ("eigen_sigma_w", self.eigen_activation, (self.eigen_sigma_w,)),
                                           ("eigen_sigma_ws", self.eigen_activation, self.eigen_sigma_ws)):
            for sigma_w in sigma_ws:
                try:
                    self.lipschitz(sigma_w, activation)
                except ContractionError as exc:
                    raise ExperimentError(f"{name}: {exc} (the kernel fixed point needs ell < 1)") from None

    def lipschitz(self, sigma_w: float, activation: str) -> float:
        """``ell`` of the kernel map at its fixed point (eq-deq-contraction) for inputs with
        ``<x, x>/d0 = 1`` (the chapter's and the digits): it depends on the diagonal only."""
        return deq_kernel(np.array([[self.sigma_u**2]]), activation, sigma_w).lipschitz

    @property
    def hypothesis_factor(self) -> float:
        """``2 sigma_w Lip(phi)``: below 1, a wide DEQ is a contraction (thm-deq-gp)."""
        return 2.0 * self.sigma_w * activation_lipschitz(self.activation)

    @property
    def gaussianity_fit_widths(self) -> tuple[int, ...]:
        return tuple(n for n in self.gaussianity_widths if n >= GAUSSIANITY_FIT_MIN_WIDTH)

    @property
    def eigen_fit_widths(self) -> tuple[int, ...]:
        """The widths above the number of digits (below, ``K_n`` has rank ``n``: ``lambda_min = 0``)."""
        return tuple(n for n in self.eigen_widths if n > self.eigen_n_inputs)

    def derived(self) -> dict[str, Any]:
        return {"2 sigma_w Lip(phi)": self.hypothesis_factor, "ell": self.lipschitz(self.sigma_w, self.activation),
                "2 eigen_sigma_w Lip(eigen_activation)": 2.0 * self.eigen_sigma_w * activation_lipschitz(
                    self.eigen_activation), "gaussianity fit widths": list(self.gaussianity_fit_widths),
                "eigen fit widths": list(self.eigen_fit_widths)}

    def sweeps(self) -> dict[str, Sweep]:
        """``kernel``, ``gaussianity``, ``limits`` (``activation``, ``sigma_w``, the chapter's
        inputs) and ``eigen`` (``eigen_activation``, ``eigen_sigma_w``, the digits): one task per
        width and network (or batch)."""
        common = {"base_seed": self.base_seed, "sigma_u": self.sigma_u, "max_iter": self.max_iter}
        model = {**common, "activation": self.activation, "sigma_w": self.sigma_w, "n_inputs": self.n_inputs,
                 "d0": self.d0}

        def sweep(name: str, widths: Sequence[int], seeds: int, constants: dict, index: tuple = ()) -> Sweep:
            return Sweep(9, name, f"{TASKS_MODULE}:{name}_task", grid=grid_product(width=list(widths)),
                         seeds=range(seeds), constants=constants, index=index, tolerance=VERIFY_TOLERANCE)

        return {"kernel": sweep("kernel", self.kernel_widths, self.kernel_networks, model, ("i", "j")),
                "gaussianity": sweep("gaussianity", self.gaussianity_widths, self.gaussianity_batches,
                                     {**model, "networks": self.gaussianity_batch_networks}),
                "limits": sweep("limits", self.limits_widths, self.limits_networks,
                                {**model, "depths": list(self.limits_depths)}, ("depth",)),
                "eigen": sweep("eigen", self.eigen_widths, self.eigen_networks,
                               {**common, "activation": self.eigen_activation, "sigma_w": self.eigen_sigma_w,
                                "n_inputs": self.eigen_n_inputs})}


EXPERIMENT = DeepEquilibrium


# --- the finite-width corrections fitted (deepgep.support.fits) ------------------------------------

def correction_columns(widths: Sequence[float], powers: Sequence[float] = CORRECTION_POWERS) -> dict[str, np.ndarray]:
    """The columns of ``limit + sum_k c_k / n^powers[k]`` (``fits.fit_linear``): ``limit`` and
    ``n^-p`` for each power."""
    n = np.asarray(widths, dtype=float)
    return {"limit": np.ones_like(n), **{f"n^-{p:g}": n ** -float(p) for p in powers}}


def correction_curve(fit: Fit, widths: Sequence[float], powers: Sequence[float] = CORRECTION_POWERS) -> np.ndarray:
    """The fitted ``limit + sum_k c_k / n^powers[k]`` at ``widths``."""
    return sum(fit.values[name] * column for name, column in correction_columns(widths, powers).items())


# --- the chapter's claims -------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelTheory:
    """The kernel of a wide DEQ: the fixed point ``Sigma*`` of the kernel map at ``sigma_w``
    (``depth`` None, eq-deq-kernel), or the infinite-width kernel ``Sigma^depth`` of the weight-tied
    network of that depth (``depth=1``: the one-layer kernel, a wrong theory)."""

    sigma_w: float
    depth: int | None = None


@dataclass(frozen=True)
class RateTheory:
    """``E ||K_n - Sigma*||_F^2 ~ n^exponent``: ``-1`` for fluctuations of order ``n^(-1/2)``."""

    exponent: float = -1.0


@dataclass(frozen=True)
class KurtosisTheory:
    """The excess kurtosis of one output is ``limit + sum_k c_k / n^powers[k]`` with ``limit = 0``
    (Gaussian as ``n -> inf``); ``powers=()``: a constant, i.e. no finite-width correction."""

    powers: tuple[float, ...] = CORRECTION_POWERS


@dataclass(frozen=True)
class LimitsTheory:
    """The ``n -> inf`` kernels at ``sigma_w``: ``Sigma^L`` at each finite depth and ``Sigma*`` for
    the DEQ (the limits commute); wrong theories: the DEQ tends to ``Sigma^deq_depth``, or every
    depth to ``Sigma*`` (``depth_blind``)."""

    sigma_w: float
    deq_depth: int | None = None
    depth_blind: bool = False


def _kernels(experiment: DeepEquilibrium):
    """``kernel(sigma_w, depth, inputs)``: ``Sigma*`` (depth None) or ``Sigma^depth`` on the first
    ``inputs`` of the chapter's inputs (all if None), cached (the depths up to the largest of
    ``limits_depths`` in one pass)."""
    X = sphere_inputs(experiment.base_seed, experiment.n_inputs, experiment.d0)
    deepest = max(experiment.limits_depths)
    cache: dict[tuple, np.ndarray] = {}

    def kernel(sigma_w: float, depth: int | None, inputs: int | None = None) -> np.ndarray:
        key = (sigma_w, None if depth is None else max(deepest, depth), inputs)
        if key not in cache:
            S1 = input_kernel(X[:inputs], experiment.sigma_u)
            cache[key] = (deq_kernel(S1, experiment.activation, sigma_w).sigma if depth is None else
                          weight_tied_kernels(S1, experiment.activation, sigma_w, key[1]))
        return cache[key] if depth is None else cache[key][depth]

    return kernel


def _z(fit: Fit, reference: float) -> float:
    return abs(fit.z("limit", reference))


def _kernel_claims(experiment: DeepEquilibrium, kernel_table: pd.DataFrame, kernel) -> list[Claim]:
    kw, P = list(experiment.kernel_widths), experiment.n_inputs
    samples = {n: kernel_samples(kernel_table, n, P) for n in kw}
    pairs = [(int(i), int(j)) for i, j in zip(*np.triu_indices(P))]
    fits = [fit_inverse(kw, [samples[n][:, i, j].mean() for n in kw], [standard_error(samples[n][:, i, j]) for n in kw])
            for i, j in pairs]

    def kernel_test(t: KernelTheory) -> Test:
        ref = kernel(t.sigma_w, t.depth)
        zs = [_z(f, ref[i, j]) for f, (i, j) in zip(fits, pairs)]
        k = int(np.argmax(zs))
        return Test(zs[k], CLAIM_Z, f"limit + b/n fit of each of the {len(pairs)} entries over n = {kw[0]}..{kw[-1]}: "
                    f"worst entry {pairs[k]}, |z| = {zs[k]:.2f}")

    star = kernel(experiment.sigma_w, None)
    mse = [np.sum((samples[n] - star) ** 2, axis=(1, 2)) / np.sum(star * star) for n in kw]
    slope = fit_power(kw, [m.mean() for m in mse], [standard_error(m) for m in mse])

    def rate_test(t: RateTheory) -> Test:
        value, se = slope.values["exponent"], slope.errors["exponent"]
        return Test(abs(slope.z("exponent", t.exponent)), CLAIM_Z,
                    f"slope of log E||K_n - Sigma*||^2 against log n: {value:.3f} +- {se:.3f} vs {t.exponent:g}")

    fixed = KernelTheory(experiment.sigma_w)
    return [
        Claim(9, "DEQ kernel -> Sigma* (fixed point)", f"Every entry of the DEQ kernel, extrapolated by a fitted limit "
              f"+ b/n over {kw[0]} <= n <= {kw[-1]}, is the kernel fixed point Sigma* (|z| <= {CLAIM_Z}).", kernel_test,
              fixed, {"sigma_w -> 1.1 sigma_w": scaled(fixed, sigma_w=1.1),
                      "one-layer kernel Sigma^1 instead of the fixed point": replace(fixed, depth=1)},
              resolves=("sigma_w",)),
        Claim(9, "kernel fluctuations ~ n^(-1/2)", f"E ||K_n - Sigma*||_F^2 decays like 1/n (fitted log-log slope "
              f"within {CLAIM_Z} standard errors of -1).", rate_test, RateTheory(),
              {"error ~ n^(-1/4)": RateTheory(-0.5), "error ~ 1/n (no fluctuations)": RateTheory(-2.0)},
              resolves=("exponent",)),
    ]


def _output_claims(experiment: DeepEquilibrium, gaussianity: pd.DataFrame, kernel) -> list[Claim]:
    gw = list(experiment.gaussianity_fit_widths)
    x_star = kernel(experiment.sigma_w, None, 1)[0, 0]
    summary = gaussianity_summary(gaussianity, gw)

    def variance_test(t: KernelTheory) -> Test:
        means, ses = width_means(gaussianity, "k1", gw)
        ratio = x_star / kernel(t.sigma_w, t.depth, 1)[0, 0]  # E f^2 / variance(theory) = k * ratio
        fit = fit_inverse(gw, means * ratio, ses * ratio)
        return Test(_z(fit, 1.0), CLAIM_Z, f"limit of E f^2 / Sigma(x, x) over n = {gw[0]}..{gw[-1]}: "
                    f"{fit.values['limit']:.5f} +- {fit.errors['limit']:.5f}")

    def kurtosis_test(t: KurtosisTheory) -> Test:
        fit = fit_linear(correction_columns(gw, t.powers), summary["kurtosis"], summary["kurtosis_se"])
        form = float(stats.norm.isf(fit.p_value / 2.0))  # the goodness of fit as a two-sided z (nan: no dof)
        return Test(math.nan if math.isnan(form) else max(_z(fit, 0.0), form), CLAIM_Z, f"excess kurtosis, fit with the powers {t.powers} of 1/n: "
                    f"limit {fit.values['limit']:.5f} +- {fit.errors['limit']:.5f}, chi2 {fit.chi2:.1f} on {fit.dof}")

    fixed = KernelTheory(experiment.sigma_w)
    return [
        Claim(9, "output variance -> Sigma*(x, x)", f"The variance of one output, extrapolated from n = "
              f"{gw[0]}..{gw[-1]} by limit + b/n, is Sigma*(x, x) (|z| <= {CLAIM_Z}).", variance_test, fixed,
              {"sigma_w -> 1.1 sigma_w": scaled(fixed, sigma_w=1.1), "one-layer variance Sigma^1(x, x)":
               replace(fixed, depth=1)}, resolves=("sigma_w",)),
        Claim(9, "output Gaussian as n -> inf, kurtosis ~ c/n", f"The excess kurtosis of one output, fitted by "
              f"limit + c/n + d/n^2 over n = {gw[0]}..{gw[-1]}, fits (its chi-square's p-value as a z) and has the "
              f"Gaussian limit 0 (both |z| <= {CLAIM_Z}).", kurtosis_test, KurtosisTheory(),
              {"Gaussian at every width (no 1/n correction)": KurtosisTheory(())}),
    ]


def _limit_claims(experiment: DeepEquilibrium, limits: pd.DataFrame, kernel) -> list[Claim]:
    lw, depths = list(experiment.limits_widths), [*experiment.limits_depths, DEQ_DEPTH]
    fits = {(L, name): fit_inverse(lw, *width_means(limits[limits["depth"] == L], name, lw))
            for L in depths for name in ("diag", "off")}

    def limits_test(t: LimitsTheory) -> Test:
        zs, names = [], []
        for L in depths:
            depth = t.deq_depth if L == DEQ_DEPTH else (None if t.depth_blind else int(L))
            for name, value in zip(("diag", "off"), mean_entries(kernel(t.sigma_w, depth))):
                zs.append(_z(fits[L, name], value))
                names.append(f"{name} at depth {L:g}")
        k = int(np.argmax(zs))
        return Test(zs[k], CLAIM_Z, f"n -> inf limits of the mean diagonal and off-diagonal kernel entries at depths "
                    f"{list(experiment.limits_depths)} and inf: worst {names[k]}, |z| = {zs[k]:.2f}")

    commuting = LimitsTheory(experiment.sigma_w)
    return [Claim(9, "commuting limits", f"Width first at each depth L (n -> inf limits of the weight-tied networks) "
                  f"gives Sigma^L, depth first (the DEQ) gives Sigma* = lim Sigma^L (|z| <= {CLAIM_Z}).", limits_test,
                  commuting, {"limits do not commute: the wide DEQ -> the depth-1 kernel": replace(commuting, deq_depth=1),
                              "width limit blind to depth: every depth -> Sigma*": replace(commuting, depth_blind=True)},
                  resolves=("sigma_w",))]


def _eigen_claim(experiment: DeepEquilibrium, eigen: pd.DataFrame) -> Claim:
    ew = list(experiment.eigen_fit_widths)
    sigma1 = input_kernel(digit_inputs(experiment.base_seed, experiment.eigen_n_inputs), experiment.sigma_u)
    fit = fit_linear(correction_columns(ew), *width_means(eigen, "lambda_min", ew))

    def eigen_test(t: KernelTheory) -> Test:
        ref = float(min_eigenvalue_scan(sigma1, experiment.eigen_activation, [t.sigma_w])[0])
        return Test(_z(fit, ref), CLAIM_Z, f"limit of lambda_min(K_n) (fit a + b/n + c/n^2 over n = {ew[0]}..{ew[-1]}): "
                    f"{fit.values['limit']:.3e} +- {fit.errors['limit']:.1e} vs {ref:.3e}")

    fixed = KernelTheory(experiment.eigen_sigma_w)
    return Claim(9, "lambda_min(K_n) -> lambda_min(Sigma*) > 0", f"On {experiment.eigen_n_inputs} digits (Sigma1 "
                 f"singular) the extrapolated smallest eigenvalue of the DEQ kernel is lambda_min(Sigma*) > 0 "
                 f"(|z| <= {CLAIM_Z}).", eigen_test, fixed,
                 {"lambda_min = 0 (Sigma1's, no gain from phi)": KernelTheory(0.0),
                  "sigma_w -> 1.25 sigma_w": scaled(fixed, sigma_w=1.25)}, resolves=("sigma_w",))


def claims(experiment: DeepEquilibrium, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 9's quantitative claims on the tables of ``experiment``'s sweeps (``kernel``,
    ``gaussianity``, ``limits``, ``eigen``), each with the wrong theories it must reject
    (:mod:`deepgep.support.claims`)."""
    kernel = _kernels(experiment)
    return [*_kernel_claims(experiment, tables["kernel"], kernel),
            *_output_claims(experiment, tables["gaussianity"], kernel),
            *_limit_claims(experiment, tables["limits"], kernel), _eigen_claim(experiment, tables["eigen"])]
