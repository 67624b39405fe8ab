"""Chapter 9: deep equilibrium models as Gaussian processes (Gao et al. 2023; book thm-deq-gp,
thm-deq-pd, eq-deq-kernel, eq-deq-contraction, eq-deq-rate): the finite-width DEQ against its kernel
fixed point, the order of the limits, the infinite depth of the equilibrium, the smallest eigenvalue
of the kernel, ridge on the digits.

:class:`DeepEquilibrium` is the chapter's experiment; its four sweeps of independent networks run
the tasks of :mod:`deepgep.chapters.ch9_deep_equilibrium_tasks`, which also reads their tables
(pandas DataFrames, long format) into arrays per width. :func:`claims` (built in
:mod:`deepgep.chapters.ch9_deep_equilibrium_claims`) tests the theory on them, with the
finite-width corrections fitted by :mod:`deepgep.support.fits` (chi-square-inflated errors), and
the wrong theories each test must reject. The contraction hypothesis of thm-deq-gp and its
diagnostics are in :mod:`deepgep.simulate.deq`; the fixed point and the distances of the
finite-depth states to the equilibrium in :mod:`deepgep.theory.deq`.

The book's instance is ``tanh`` at ``sigma_w = 0.49``: ``2 sigma_w Lip(phi) = 0.98``, just inside
the contraction hypothesis, where ``ell = 0.1075`` is close to the largest the hypothesis allows at
these inputs (``ell <= sigma_w^2 < 1/4``; 0.112 as ``sigma_w -> 1/2``) and the forward solver needs 23 to 25
layers to reach its tolerance 1e-10 (median 23 at width 3200; at ``sigma_w = 0.4``: 20, with the
kernel within 8e-4 of ``Sigma*`` after two).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch9_deep_equilibrium_claims import (CORRECTION_POWERS, DepthTheory, KernelTheory, KurtosisTheory,
                                                          LimitsTheory, RateTheory, correction_columns,
                                                          correction_curve, depth_claims, eigen_claim, kernel_claims,
                                                          kernel_functions, limit_claims, output_claims)
from deepgep.chapters.ch9_deep_equilibrium_tasks import TASKS_MODULE
from deepgep.support.claims import Claim
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_choice, check_count, check_real
from deepgep.theory.deq import LIPSCHITZ_AT_ZERO, ContractionError, activation_lipschitz, deq_kernel

__all__ = ["GAUSSIANITY_FIT_MIN_WIDTH", "CORRECTION_POWERS", "VERIFY_TOLERANCE", "DIGITS", "DeepEquilibrium",
           "EXPERIMENT", "correction_columns", "correction_curve", "KernelTheory", "RateTheory", "KurtosisTheory",
           "LimitsTheory", "DepthTheory", "claims"]

#: The output-law fits use the widths from 8 on (fixed at sigma_w = 0.4, kept at 0.49): below,
#: higher orders of 1/n are not negligible and some draws do not converge (3 per 1000 at width 2,
#: 2 per 10^4 at width 4 at sigma_w = 0.49, none from 8 on; the 6-7 % of the draws with q >= 1 at
#: widths 2 to 32 converge, since the Jacobian's spectral radius, about sqrt(ell) = 0.33, is what
#: the iteration needs: they are counted in the tables, and their share vanishes with the width).
GAUSSIANITY_FIT_MIN_WIDTH = 8
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
        return cls(base_seed=2025, activation="tanh", sigma_w=0.49, sigma_u=1.0, n_inputs=8, d0=10, max_iter=2000,
                   convergence_width=2000, scan_sigma_ws=(0.49, 1.0, 1.5, 2.5), scan_max_iter=400,
                   kernel_widths=widths, kernel_networks=40, gaussianity_widths=(2, 4, 8, 16, 32, 64, 128),
                   gaussianity_batches=20, gaussianity_batch_networks=5000, limits_widths=widths,
                   limits_depths=(1, 2, 3, 4, 6, 8, 12, 16), limits_networks=40, eigen_activation="erf", eigen_sigma_w=0.4,
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
        for name, fitted, least in (("kernel_widths", self.kernel_widths, 3), ("limits_widths", self.limits_widths, 4),
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


def claims(experiment: DeepEquilibrium, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 9's quantitative claims on the tables of ``experiment``'s sweeps (``kernel``,
    ``gaussianity``, ``limits``, ``eigen``), each with the wrong theories it must reject
    (:mod:`deepgep.support.claims`; built in :mod:`deepgep.chapters.ch9_deep_equilibrium_claims`)."""
    kernel, distances = kernel_functions(experiment)
    return [*kernel_claims(experiment, tables["kernel"], kernel),
            *output_claims(experiment, tables["gaussianity"], kernel),
            *limit_claims(experiment, tables["limits"], kernel),
            *depth_claims(experiment, tables["limits"], tables["kernel"], kernel, distances),
            eigen_claim(experiment, tables["eigen"])]
