"""Chapter 7: kernel renormalisation at finite width (Pacelli et al. 2023; book
thm-kernel-renormalisation, eq-effective-action, eq-renormalised-predictor): the renormalised
predictor against the NNGP, against the sampled posterior of the actual network (sweep
``sampling``, and its confirmation on fresh instances ``sampling_confirmation``) and against the
GLM reduction (sweep ``glm``; eq-renormalisation-glm, eq-linear-closed-form; Camilli et al. 2025,
Theorem 4).

:class:`KernelRenormalisation` is the chapter's experiment; its sweeps run the tasks of
:mod:`deepgep.chapters.ch7_kernel_renormalisation_tasks`. The summaries of their tables (pandas
DataFrames, one row per instance) and :func:`claims`, which tests the theory on them with the
wrong theories each test must reject, are in :mod:`deepgep.chapters.ch7_kernel_renormalisation_claims`
and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from deepgep.chapters.ch7_kernel_renormalisation_claims import (CLAIM_MAX_ALPHA1, PERTURBED_SCALE, ApproachRate,
                                                                KernelTheory, LadderFinding, claims, glm_summary,
                                                                ladder_deviations, relative_deviation,
                                                                sampling_summary, width_effect_ratio)
from deepgep.chapters.ch7_kernel_renormalisation_tasks import TASKS_MODULE, glm_size
from deepgep.simulate.posterior import JAX_ACTIVATIONS
from deepgep.support.experiment import CONFIRMATION_FIRST_SEED, Experiment, ExperimentError
from deepgep.support.sweeps import Sweep
from deepgep.support.validation import check_alpha, check_choice, check_count, check_nonzero, check_real
from deepgep.theory.layers import GLMTheory
from deepgep.theory.renormalisation import glm_prediction
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = ["PERTURBED_SCALE", "CLAIM_MAX_ALPHA1", "KernelRenormalisation", "EXPERIMENT",
           "relative_deviation", "sampling_summary", "width_effect_ratio", "glm_summary", "ladder_deviations",
           "KernelTheory", "ApproachRate", "LadderFinding", "claims"]


@dataclass(frozen=True)
class KernelRenormalisation(Experiment):
    """Chapter 7's parameters. Part 1 (no sweep): two classes of the digits (``digits_n``
    training pairs) and synthetic teachers (``teacher_*``), ``n_test`` test inputs each, at
    ``temperature``, across ``alpha1s`` and ``hidden_widths``, and the comparison of finite and
    infinite width over ``readout_variances`` and ``temperatures``. Part 2 (sweep ``sampling``):
    the network sampled by NUTS on ``sampling_d0`` inputs, along the ladder ``sampling_ladder``
    of ``(n, N1)`` pairs and at the hidden widths ``sampling_hidden_widths`` at fixed
    ``n = sampling_n``, ``sampling_teachers`` instances per point, and the same points on
    ``sampling_confirmation_teachers`` fresh instances (sweep ``sampling_confirmation``: the
    claims restricted after the first table are evaluated on it). Part 4 (sweep ``glm``): the
    common instance of the GLM reduction at the input widths ``glm_d0s``."""

    CHAPTER: ClassVar[int] = 7

    base_seed: int
    activation: str
    digits: tuple[int, int]
    digits_n: int
    n_test: int
    temperature: float
    alpha1s: tuple[float, ...]
    hidden_widths: tuple[int, ...]
    teacher_d0: int
    teacher_width: int
    teacher_n: int
    teacher_readout_gains: tuple[float, ...]
    readout_variances: tuple[float, ...]
    temperatures: tuple[float, ...]
    sampling_d0: int
    sampling_ladder: tuple[tuple[int, int], ...]
    sampling_n: int
    sampling_hidden_widths: tuple[int, ...]
    sampling_n_test: int
    sampling_temperature: float
    sampling_readout_gain: float
    sampling_teachers: int
    sampling_confirmation_teachers: int
    n_chains: int
    n_warmup: int
    n_samples: int
    glm_d0s: tuple[int, ...]
    glm_alpha: float
    glm_alpha1: float
    glm_noise: float
    glm_teachers: int
    glm_n_test: int

    @classmethod
    def paper(cls) -> KernelRenormalisation:
        return cls(base_seed=2025, activation="erf", digits=(3, 8), digits_n=200, n_test=150, temperature=0.01,
                   alpha1s=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
                   hidden_widths=(5, 10, 20, 50, 100, 200, 500, 1000, 10000, 1000000), teacher_d0=50,
                   teacher_width=50, teacher_n=200, teacher_readout_gains=(0.3, 1.0), readout_variances=(1.0, 20.0),
                   temperatures=(0.0001, 0.01, 0.1), sampling_d0=30, sampling_ladder=((40, 10), (80, 20), (160, 40)),
                   sampling_n=40, sampling_hidden_widths=(10, 40, 160), sampling_n_test=100,
                   sampling_temperature=0.05, sampling_readout_gain=0.5, sampling_teachers=10,
                   sampling_confirmation_teachers=10, n_chains=4,
                   n_warmup=300, n_samples=300, glm_d0s=(100, 200, 400, 800), glm_alpha=2.0, glm_alpha1=2.0,
                   glm_noise=0.1, glm_teachers=20, glm_n_test=2000)

    @classmethod
    def fast(cls) -> KernelRenormalisation:
        return cls.paper().replace(sampling_ladder=((40, 10),), sampling_hidden_widths=(10, 40), sampling_teachers=3,
                                   sampling_confirmation_teachers=3, glm_d0s=(50, 100, 200), glm_teachers=8,
                                   glm_n_test=1000)

    def validate(self) -> None:
        check_choice("activation", self.activation, JAX_ACTIVATIONS)
        if len(set(self.digits)) != 2 or not all(0 <= d <= 9 for d in self.digits):
            raise ExperimentError(f"digits must be two distinct digits 0-9, got {self.digits}")
        for name in ("digits_n", "n_test", "teacher_d0", "teacher_width", "teacher_n", "sampling_d0", "sampling_n",
                     "sampling_n_test", "n_warmup", "glm_n_test"):
            check_count(name, getattr(self, name))
        for name in ("temperature", "sampling_temperature", "glm_noise"):
            check_real(name, getattr(self, name), positive=True)
        check_nonzero("sampling_readout_gain", self.sampling_readout_gain)
        for name, check in (("alpha1s", check_alpha),
                            ("temperatures", lambda v: check_real("temperatures", v, positive=True)),
                            ("readout_variances", lambda v: check_real("readout_variances", v, positive=True)),
                            ("teacher_readout_gains", lambda v: check_nonzero("teacher_readout_gains", v)),
                            ("hidden_widths", lambda v: check_count("hidden_widths", v)),
                            ("sampling_hidden_widths", lambda v: check_count("sampling_hidden_widths", v)),
                            ("glm_d0s", lambda v: check_count("glm_d0s", v))):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ExperimentError(f"{name} must be distinct values, at least one, got {values}")
            for value in values:
                check(value)
        for n, width in self.sampling_ladder:
            check_count("sampling_ladder n", n), check_count("sampling_ladder width", width)
        if len(self.hidden_widths) < 3:
            raise ExperimentError("hidden_widths needs at least three widths (the approach to the NNGP)")
        if len(self.sampling_hidden_widths) < 2:
            raise ExperimentError("sampling_hidden_widths needs at least two widths (the rate between the two largest)")
        if len(self.glm_d0s) < 3:
            raise ExperimentError(f"glm_d0s needs at least three input widths (fitted as E + c/d0), got {self.glm_d0s}")
        for name, minimum, why in (("sampling_teachers", 2, "standard errors are over instances"),
                                   ("sampling_confirmation_teachers", 2, "standard errors are over instances"),
                                   ("glm_teachers", 2, "standard errors are over instances"),
                                   ("n_chains", 2, "standard errors of one instance are over chains"),
                                   ("n_samples", 4, "split R-hat halves each chain")):
            if check_count(name, getattr(self, name)) < minimum:
                raise ExperimentError(f"{name} must be at least {minimum} ({why}), got {getattr(self, name)}")
        check_alpha(self.glm_alpha), check_alpha(self.glm_alpha1)
        for d0 in self.glm_d0s:
            glm_size(d0, self.glm_alpha, self.glm_alpha1)
        self.glm_theory  # noqa: B018 - the GLM reduction needs an odd activation: raises otherwise

    @property
    def sampling_points(self) -> list[dict[str, int]]:
        """The ``(n, width)`` points of the sampling sweep: the proportional ladder (``n`` and
        ``N1`` grown together at fixed ``alpha1``), then the hidden widths at fixed
        ``n = sampling_n`` (towards the NNGP), each point once, in that order."""
        pairs = [*self.sampling_ladder, *((self.sampling_n, w) for w in self.sampling_hidden_widths)]
        return [{"n": n, "width": w} for n, w in dict.fromkeys(pairs)]

    @property
    def claim_widths(self) -> list[int]:
        """The hidden widths at fixed ``n`` where the claims compare with the theory
        (``alpha1 = n/N1 <= CLAIM_MAX_ALPHA1``)."""
        return sorted(w for w in self.sampling_hidden_widths if self.sampling_n / w <= CLAIM_MAX_ALPHA1)

    @property
    def glm_theory(self) -> GLMTheory:
        """The GLM reduction of the common instance (eq-renormalisation-glm): ``kappa = rho1^2``,
        ``gamma0 = eps1`` of the one-hidden-layer network, label noise ``glm_noise``."""
        closed = glm_prediction(self.activation, noise=self.glm_noise, alpha=self.glm_alpha)
        return GLMTheory(closed["kappa"], closed["gamma0"], self.glm_noise)

    def derived(self) -> dict[str, Any]:
        glm, sizes = self.glm_theory, [glm_size(d0, self.glm_alpha, self.glm_alpha1) for d0 in self.glm_d0s]
        return {"sampling points (n, N1)": [[p["n"], p["width"]] for p in self.sampling_points],
                "alpha1 = n/N1 of the points": [p["n"] / p["width"] for p in self.sampling_points],
                "claimed N1 at fixed n": self.claim_widths,
                "confirmation seeds": [CONFIRMATION_FIRST_SEED,
                                       CONFIRMATION_FIRST_SEED + self.sampling_confirmation_teachers - 1],
                "glm n = alpha d0": [n for n, _ in sizes], "glm N1 = n/alpha1": [w for _, w in sizes],
                "glm kappa, gamma0": [glm.kappa, glm.gamma0],
                "glm Bayes error E": gaussian_closed_form(glm.kappa, glm.total_noise, self.glm_alpha)["test_error"]}

    def sweeps(self) -> dict[str, Sweep]:
        """``sampling`` (one NUTS task per point of :attr:`sampling_points` and instance),
        ``sampling_confirmation`` (the same tasks on the fresh instances ``CONFIRMATION_FIRST_SEED``,
        ...) and ``glm`` (one task per input width and instance)."""
        base = {"base_seed": self.base_seed, "activation": self.activation}
        sampling = {**base, "d0": self.sampling_d0, "n_test": self.sampling_n_test,
                    "temperature": self.sampling_temperature, "readout_gain": self.sampling_readout_gain,
                    "n_chains": self.n_chains, "n_warmup": self.n_warmup, "n_samples": self.n_samples,
                    "perturbed_scale": PERTURBED_SCALE}
        fresh = range(CONFIRMATION_FIRST_SEED, CONFIRMATION_FIRST_SEED + self.sampling_confirmation_teachers)
        return {
            "sampling": Sweep(7, "sampling", f"{TASKS_MODULE}:sampling_task", grid=self.sampling_points,
                              seeds=range(self.sampling_teachers), constants=sampling),
            "sampling_confirmation": Sweep(7, "sampling_confirmation", f"{TASKS_MODULE}:sampling_task",
                                           grid=self.sampling_points, seeds=fresh, constants=sampling),
            "glm": Sweep(7, "glm", f"{TASKS_MODULE}:glm_task", grid=[{"d0": d0} for d0 in self.glm_d0s],
                         seeds=range(self.glm_teachers),
                         constants={**base, "alpha": self.glm_alpha, "alpha1": self.glm_alpha1,
                                    "noise": self.glm_noise, "n_test": self.glm_n_test}),
        }


EXPERIMENT = KernelRenormalisation
