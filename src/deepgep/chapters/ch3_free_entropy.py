"""Chapter 3: the replica formula of the Bayes-optimal GLM checked at finite size: the exact
mutual information of the linear GLM (book eq-linear-exact-mi) against the formula, GAMP against
state evolution on sampled instances, and the concentration of the free entropy (Camilli et al.
2025, Theorem 2; book thm-concentration, eq-concentration) on the linear GLM, where ``log Z``
is exact; then the Bayes-optimal errors of deep random networks through their equivalent GLM.

:class:`FreeEntropy` is the chapter's experiment: the deep model (activation, gain, depth) whose
equivalent GLM (``kappa``, ``gamma0``: derived, book eq-composition) the simulations use; its
three sweeps run the tasks of :mod:`deepgep.chapters.ch3_free_entropy_tasks`. This module
summarises their tables (pandas DataFrames, long format) and :func:`claims` tests the theory on
them with the wrong theories each test must reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch3_free_entropy_tasks import PROBLEMS, TASKS_MODULE, problem_channel
from deepgep.theory.hypotheses import outside_theorem_on_purpose
from deepgep.support.claims import CLAIM_Z, Claim, max_abs_z, scaled, z_test
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import Fit, fit_inverse, fit_power
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_alpha, check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.channels import make_channel
from deepgep.theory.glm import control_variate_estimate
from deepgep.theory.layers import GLMTheory
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form, state_evolution_trajectory

__all__ = ["NOISELESS", "FreeEntropy", "EXPERIMENT", "depth_models", "bayes_depth_curves", "information_extrapolation",
           "pooled_variances", "gamp_summary", "state_evolution_mse", "RateTheory", "claims"]


#: ``gamma0`` below this fraction of the label variance ``kappa + gamma0`` is zero: the
#: quadrature of the coefficients is exact to about 1e-13 (a linear activation gives 1e-30).
NOISELESS = 1e-12


@dataclass(frozen=True)
class FreeEntropy(Experiment):
    """Chapter 3's parameters: the deep model ``activation(gain x)`` of ``depth`` layers whose
    equivalent GLM the simulations use (``kappa`` and ``gamma0`` are derived); the sample ratio
    ``alpha`` of the finite-size checks (exact information over ``information_d0s``, with
    ``information_matrices`` input matrices each; the concentration over ``concentration_ns``,
    ``concentration_batches`` batches of ``concentration_batch_datasets`` datasets); the
    identities' ratios; the depths of the Bayes-optimal curves, their grid ``alpha_step``,
    ``2 alpha_step``, ... ``alpha_max`` (:attr:`alphas`) and the label noise ``noise`` of
    regression; GAMP; phase retrieval."""

    CHAPTER: ClassVar[int] = 3

    base_seed: int
    activation: str
    gain: float
    depth: int
    alpha: float
    information_d0s: tuple[int, ...]
    information_matrices: int
    identity_alphas: tuple[float, ...]
    concentration_ns: tuple[int, ...]
    concentration_batch_datasets: int
    concentration_batches: int
    depths: tuple[int, ...]
    noise: float
    alpha_step: float
    alpha_max: float
    gamp_d0: int
    gamp_alphas: tuple[float, ...]
    gamp_teachers: int
    gamp_iterations: int
    phase_retrieval_noise: float
    phase_retrieval_alphas: tuple[float, ...]

    @classmethod
    def paper(cls) -> FreeEntropy:
        return cls(base_seed=2025, activation="tanh", gain=2.0, depth=2, alpha=2.0,
                   information_d0s=(100, 200, 400, 1000, 2000, 4000), information_matrices=12,
                   identity_alphas=(0.5, 2.0, 5.0), concentration_ns=(50, 100, 200, 400, 800, 1600),
                   concentration_batch_datasets=50, concentration_batches=20, depths=(0, 1, 2, 3), noise=0.05,
                   alpha_step=0.25, alpha_max=7.0, gamp_d0=2000, gamp_alphas=(1.0, 3.0),
                   gamp_teachers=20, gamp_iterations=15, phase_retrieval_noise=1e-5,
                   phase_retrieval_alphas=(0.9, 1.0, 1.05, 1.1, 1.15, 1.2))

    @classmethod
    def fast(cls) -> FreeEntropy:
        return replace(cls.paper(), information_d0s=(100, 200, 400, 1000), information_matrices=10,
                       concentration_ns=(50, 100, 200, 400), concentration_batches=4, gamp_teachers=5)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain, positive=True))
        check_count("depth", self.depth)
        check_alpha(self.alpha)
        for name in ("information_d0s", "concentration_ns"):
            values = getattr(self, name)
            if len(values) < 3 or list(values) != sorted(set(values)):
                raise ExperimentError(f"{name} must be at least 3 increasing sizes (the fits have 2 parameters), "
                                      f"got {list(values)}")
            for size in values:
                check_count(name, size, 2)
        if check_count("information_matrices", self.information_matrices) < 5:
            raise ExperimentError("information_matrices must be at least 5 (the control-variate fit spends 4 "
                                  "degrees of freedom)")
        for name in ("concentration_batch_datasets", "concentration_batches", "gamp_teachers"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over them)")
        check_count("gamp_d0", self.gamp_d0, 2)
        check_count("gamp_iterations", self.gamp_iterations)
        if not self.depths or list(self.depths) != sorted(set(self.depths)) or self.depth not in self.depths:
            raise ExperimentError(f"depths must be increasing distinct depths that include depth = {self.depth}, "
                                  f"got {list(self.depths)}")
        for depth in self.depths:
            check_count("depths", depth, 0)
        if check_real("noise", self.noise) == 0.0 and 0 in self.depths:
            raise ExperimentError("noise must be > 0 when depths includes 0 (the plain GLM has no other noise)")
        check_real("phase_retrieval_noise", self.phase_retrieval_noise, positive=True)
        steps = check_alpha(self.alpha_max) / check_real("alpha_step", self.alpha_step, positive=True)
        if abs(steps - round(steps)) > 1e-9:
            raise ExperimentError(f"alpha_max / alpha_step must be an integer (the curves' grid ends at alpha_max), "
                                  f"got {self.alpha_max:g} / {self.alpha_step:g}")
        for name in ("identity_alphas", "gamp_alphas", "phase_retrieval_alphas"):
            if not getattr(self, name):
                raise ExperimentError(f"{name} must not be empty")
            for a in getattr(self, name):
                check_alpha(a)
        if self.gamma0 <= NOISELESS * (self.kappa + self.gamma0):
            raise ExperimentError(f"{self.activation}({self.gain:g} x) at depth {self.depth} has gamma0 = 0 (to the "
                                  "quadrature's precision): the linear GLM of the finite-size checks would have no noise")

    @property
    def glm(self) -> GLMTheory:
        """The equivalent GLM of the deep model (book eq-equivalent-glm), label noise ``noise``."""
        return GLMTheory.of(self.activation, self.gain, self.depth, self.noise)

    @property
    def kappa(self) -> float:
        """``kappa = eta0^2`` of the equivalent GLM (book eq-composition)."""
        return self.glm.kappa

    @property
    def gamma0(self) -> float:
        """``gamma0`` of the equivalent GLM (book eq-composition)."""
        return self.glm.gamma0

    @property
    def alphas(self) -> tuple[float, ...]:
        """The sample ratios of the Bayes-optimal curves: ``alpha_step k``, ``k = 1, 2, ...``, up
        to ``alpha_max``."""
        return tuple(self.alpha_step * k for k in range(1, round(self.alpha_max / self.alpha_step) + 1))

    def derived(self) -> dict[str, Any]:
        return {"kappa = eta0^2": self.kappa, "gamma0": self.gamma0,
                "curves: points alpha_step k up to alpha_max": len(self.alphas)}

    def sweeps(self) -> dict[str, Sweep]:
        """``information`` (per input width and matrix), ``concentration`` (per ``n`` and batch)
        and ``gamp`` (per problem, alpha and teacher; one row per iteration). The finite-size
        checks use the linear GLM of noise ``gamma0`` (no label noise)."""
        common = {"base_seed": self.base_seed, "kappa": self.kappa}
        return {
            "information": Sweep(3, "information", f"{TASKS_MODULE}:information_task",
                                 grid=grid_product(d0=list(self.information_d0s)), seeds=range(self.information_matrices),
                                 constants={**common, "alpha": self.alpha, "total_noise": self.gamma0}),
            "concentration": Sweep(3, "concentration", f"{TASKS_MODULE}:concentration_task",
                                   grid=grid_product(n=list(self.concentration_ns)),
                                   seeds=range(self.concentration_batches),
                                   constants={**common, "alpha": self.alpha, "total_noise": self.gamma0,
                                              "datasets": self.concentration_batch_datasets}),
            "gamp": Sweep(3, "gamp", f"{TASKS_MODULE}:gamp_task",
                          grid=grid_product(problem=list(PROBLEMS), alpha=list(self.gamp_alphas)),
                          seeds=range(self.gamp_teachers), index=("iteration",),
                          constants={**common, "d0": self.gamp_d0, "gamma0": self.gamma0, "noise": self.noise,
                                     "iterations": self.gamp_iterations}),
        }


EXPERIMENT = FreeEntropy


def depth_models(activation: str, gain: float, depths: Sequence[int], noise: float) -> dict[int, GLMTheory]:
    """The equivalent GLM of the network of each depth (depth 0: the plain GLM, ``kappa = 1``,
    ``gamma0 = 0``), label noise ``noise``."""
    return {int(L): GLMTheory.of(activation, gain, int(L), noise) for L in depths}


def bayes_depth_curves(models: Mapping[int, GLMTheory],
                       alphas: Sequence[float]) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Bayes-optimal curves (:func:`deepgep.theory.state_evolution.bayes_optimal_curve`) of each
    depth's GLM, keyed ``(problem, depth)``: ``"regression"`` (linear channel, the model's label
    noise) with ``relative_error`` the test error over the label variance
    ``kappa + gamma0 + noise``, and ``"classification"`` (sign channel, no label noise) with
    ``relative_error`` the error rate itself."""
    curves = {}
    for depth, m in models.items():
        reg = bayes_optimal_curve(make_channel("linear", gamma0=m.gamma0, noise=m.noise), m.kappa, alphas)
        reg["relative_error"] = reg["test_error"] / (m.kappa + m.total_noise)
        with outside_theorem_on_purpose():  # the sign readout: the conjecture's case, said in the chapter
            cls = bayes_optimal_curve(make_channel("sign", gamma0=m.gamma0), m.kappa, alphas)
        cls["relative_error"] = cls["test_error"]
        curves["regression", depth], curves["classification", depth] = reg, cls
    return curves


# --- summaries of the tables --------------------------------------------------------------------

def information_extrapolation(table: pd.DataFrame) -> dict[str, Any]:
    """Per input width ``d0`` the control-variate estimate of ``E I(a; Y | X)/d0``
    (:func:`deepgep.theory.glm.control_variate_estimate` over the matrices), and the weighted fit
    ``I_d0 = I_inf + c/d0`` (:func:`deepgep.support.fits.fit_inverse`, errors inflated)."""
    k = sum(name.startswith("control_") for name in table.columns)
    d0s, values, errors = [], [], []
    for d0, chosen in table.groupby("d0"):
        est, se = control_variate_estimate(chosen["value"].to_numpy(dtype=float),
                                           chosen[[f"control_{i}" for i in range(k)]].to_numpy(dtype=float),
                                           chosen[[f"mean_{i}" for i in range(k)]].iloc[0].to_numpy(dtype=float))
        d0s.append(int(d0)), values.append(est), errors.append(se)
    return {"d0": np.array(d0s), "value": np.array(values), "se": np.array(errors),
            "fit": fit_inverse(d0s, values, errors)}


def pooled_variances(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per ``n`` the variance of ``(1/n) log Z`` pooled over the batches of the concentration
    sweep (each batch's sum of squares about its own mean plus the spread of the batch means),
    and its standard error ``variance sqrt(2/(N - 1))`` for Gaussian draws."""
    out: dict[str, list] = {"n": [], "variance": [], "variance_se": [], "datasets": []}
    for n, chosen in table.groupby("n"):
        counts, means = chosen["count"].to_numpy(dtype=float), chosen["mean"].to_numpy(dtype=float)
        total = counts.sum()
        grand = float(np.sum(counts * means) / total)
        var = (float(chosen["m2"].sum()) + float(np.sum(counts * (means - grand) ** 2))) / (total - 1)
        for key, value in zip(out, (int(n), var, var * math.sqrt(2.0 / (total - 1)), int(total))):
            out[key].append(value)
    return {k: np.asarray(v) for k, v in out.items()}


def gamp_summary(table: pd.DataFrame, problem: str, alpha: float, theory: GLMTheory) -> pd.DataFrame:
    """GAMP on one problem and ``alpha``: per iteration the mean MSE over the teachers, its
    standard error and state evolution's prediction ``1 - q_t`` for ``theory``."""
    chosen = table[(table["problem"] == problem) & (table["alpha"] == alpha)]
    if chosen.empty:
        raise ValueError(f"no rows with problem = {problem!r}, alpha = {alpha}")
    groups = chosen.groupby("iteration")["mse"]
    out = pd.DataFrame({"mse": groups.mean(), "se": groups.agg(standard_error)}).reset_index()
    out["state_evolution"] = state_evolution_mse(theory, problem, alpha, int(out["iteration"].max()))
    return out


def state_evolution_mse(theory: GLMTheory, problem: str, alpha: float, iterations: int) -> np.ndarray:
    """``1 - q_t``, ``t = 0..iterations``: the MSE of GAMP that state evolution predicts for the
    GLM ``theory`` on one problem (regression with the theory's label noise, or classification)."""
    output, noise = problem_channel(problem, theory.gamma0, theory.noise)
    channel = make_channel(output, gamma0=theory.gamma0, noise=noise)
    return 1.0 - state_evolution_trajectory(channel, theory.kappa, alpha, iterations)


# --- the chapter's claims ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RateTheory:
    """The exponent of the decay ``n^exponent`` of ``Var(log Z / n)``."""

    exponent: float = -1.0


def claims(experiment: FreeEntropy, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 3's quantitative claims on the tables of ``experiment``'s sweeps
    (``information``, ``concentration``, ``gamp``), each with the wrong theories it must reject
    (:mod:`deepgep.support.claims`)."""
    e, glm = experiment, experiment.glm
    fit = information_extrapolation(tables["information"])["fit"]
    variances = pooled_variances(tables["concentration"])
    slope: Fit = fit_power(variances["n"], variances["variance"], variances["variance_se"])

    def information_test(t: GLMTheory):
        reference = gaussian_closed_form(t.kappa, t.gamma0, e.alpha)["mutual_information"]
        return z_test(fit.values["limit"], fit.errors["limit"], reference, CLAIM_Z,
                      f"I_inf (fit I_inf + c/d0 over d0 = {list(e.information_d0s)}) ")

    runs = {(problem, a): gamp_summary(tables["gamp"], problem, a, glm).query("iteration >= 1")
            for problem in PROBLEMS for a in e.gamp_alphas}

    def gamp_test(t: GLMTheory):
        ests, ses, refs = [], [], []
        for (problem, a), s in runs.items():
            ests, ses = [*ests, *s["mse"]], [*ses, *s["se"]]
            refs = [*refs, *state_evolution_mse(t, problem, a, e.gamp_iterations)[s["iteration"].to_numpy()]]
        return max_abs_z(ests, ses, refs, CLAIM_Z, f"d0 = {e.gamp_d0}, iterations 1..{e.gamp_iterations}: ")

    def concentration_test(t: RateTheory):
        return z_test(slope.values["exponent"], slope.errors["exponent"], t.exponent, CLAIM_Z,
                      "weighted log-log slope of Var(log Z / n) ")

    # the nearest competitors (10 % changes, the GLMs of the neighbouring depths) and one large
    # change as a sanity check
    wrong = {"gamma0 -> 1.1 gamma0": scaled(glm, gamma0=1.1), "kappa -> 0.9 kappa": scaled(glm, kappa=0.9),
             **{f"GLM of depth {d}": GLMTheory.of(e.activation, e.gain, d, e.noise)
                for d in (e.depth - 1, e.depth + 1) if d >= 1},
             "gamma0 -> gamma0/2 (sanity)": scaled(glm, gamma0=0.5)}
    return [
        Claim(3, "replica formula = limit of the exact mutual information",
              f"For the linear GLM at alpha = {e.alpha:g}, the exact finite-size mutual information, "
              f"extrapolated in 1/d0 (chi-square-inflated error), equals the replica formula (|z| <= {CLAIM_Z}).",
              information_test, glm, wrong, resolves=("kappa", "gamma0")),
        Claim(3, "GAMP = state evolution",
              f"GAMP on instances of the equivalent GLM (d0 = {e.gamp_d0}) has, at every iteration, the MSE "
              f"1 - q_t that state evolution predicts, in regression and classification (|z| <= {CLAIM_Z}).",
              gamp_test, glm, wrong, resolves=("kappa", "gamma0")),
        Claim(3, "free entropy concentrates at rate 1/n (linear GLM)",
              f"Var(log Z / n) of the linear GLM decays like n^-1 over n = {list(e.concentration_ns)} "
              f"(weighted fitted exponent, |z| <= {CLAIM_Z}); only the linear GLM is tested (Theorem 2's 1/d_m "
              "term and the deep model are not).",
              concentration_test, RateTheory(), {"rate n^-1/2": RateTheory(-0.5)}, resolves=("exponent",)),
    ]
