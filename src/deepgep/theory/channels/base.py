"""What every output channel of the GLM provides (book eq-zout, eq-psi-out, eq-state-evolution).

The GLM of the book (eq-equivalent-glm): ``z = eta0 a.x / sqrt(d)`` has variance
``kappa = eta0^2``; the label is drawn from ``P_out(y | z)``. A :class:`Channel` provides

* ``mean_g_out_squared(kappa, q)``: ``E[g_out^2]`` at ``omega = sqrt(kappa q) zeta``,
  ``V = kappa (1 - q)``, ``y ~ Z_out(., omega, V)`` (Nishimori), so that the state-evolution
  update is ``q_hat = alpha kappa E[g_out^2]`` (book eq-state-evolution);
* ``psi_out(kappa, q) = E ln Z_out``, the channel part of the replica free entropy
  (Barbier, Krzakala, Macris, Miolane, Zdeborova 2019, eq. (7); book eq-psi-out);
  ``psi_out(kappa, 1)`` is ``E ln P_out(y | z)``, minus the conditional entropy of the labels;
* ``bayes_test_error(kappa, q)``: the Bayes-optimal test error on a new label;
* ``sample(z, rng)``: labels for given pre-activations.

The linear and sign channels also provide ``log_z_out(y, omega, V)`` and ``g_out(y, omega, V)``
(with its ``omega``-derivative), ``Z_out(y, omega, V) = E_{z ~ N(omega, V)} P_out(y | z)`` and
``g_out = d log Z_out / d omega``, which GAMP iterates (:class:`GAMPChannel`).

Naming, the same across the library: ``noise`` is the label noise ``Delta`` added after the
output function, ``gamma0`` the Gaussian noise of the equivalent GLM added before it, and
``total_noise = gamma0 + Delta`` the single noise of the linear and sign channels, where the two
combine.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Channel", "GAMPChannel", "LOG_2PI", "SQRT2", "SIGN_CAVEAT"]

LOG_2PI = math.log(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
#: Why a sign readout is outside the proved theorem (book thm-reduction needs a readout that is
#: odd, C^2 and with bounded derivatives): the conjecture of Cui et al. (2023) covers it.
SIGN_CAVEAT = ("the sign readout is odd but not C^2 with bounded derivatives: covered by the "
               "conjecture of Cui et al. (2023), not by the proof of Camilli et al. (2025)")


@runtime_checkable
class Channel(Protocol):
    """An output channel ``P_out(y | z)``: what state evolution and the CLI need."""

    name: str
    #: Whether the deep-network theorem (book thm-reduction) covers a readout of this form, and
    #: if not, why (``caveat``, empty when it does).
    satisfies_theorem: bool
    caveat: str

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def mean_g_out_squared(self, kappa: float, q: float) -> float: ...

    def psi_out(self, kappa: float, q: float) -> float: ...

    def bayes_test_error(self, kappa: float, q: float) -> float: ...


@runtime_checkable
class GAMPChannel(Protocol):
    """What GAMP needs of a channel: ``g_out`` and its derivative in closed form, and
    ``E[g_out^2]`` for the state-evolution prediction of its trajectory."""

    def g_out(self, y: np.ndarray, omega: np.ndarray, V: float) -> tuple[np.ndarray, np.ndarray]: ...

    def mean_g_out_squared(self, kappa: float, q: float) -> float: ...
