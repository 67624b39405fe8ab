"""Output channels of the generalised linear model and their replica quantities.

A registry by name, :func:`make_channel`; one module per channel family, each implementing the
protocol of :mod:`deepgep.theory.channels.base` (adding a channel is adding a module and a line
below):

* :class:`GaussianChannel` ``(total_noise)``: ``y = z + sqrt(total_noise) xi``, closed form;
* :class:`SignChannel` ``(total_noise)``: ``y = sign(z + sqrt(total_noise) xi)``, a probit
  channel, compiled one-dimensional averages;
* :class:`AbsChannel` ``(gamma0, noise)``: phase retrieval, ``Z_out`` in closed form;
* :class:`OutputFunctionChannel` ``(function, gamma0, noise)``: ``y = f(z + sqrt(gamma0) xi) +
  sqrt(noise) xi'`` for a built-in ``f``, by quadrature.
"""

from __future__ import annotations

from deepgep.support.validation import check_real
from deepgep.theory.activations import OUTPUT_FUNCTIONS
from deepgep.theory.channels.base import Channel, GAMPChannel
from deepgep.theory.channels.gaussian import GaussianChannel
from deepgep.theory.channels.output_function import OutputFunctionChannel
from deepgep.theory.channels.phase_retrieval import AbsChannel
from deepgep.theory.channels.sign import SignChannel

__all__ = ["Channel", "GAMPChannel", "GaussianChannel", "SignChannel", "AbsChannel",
           "OutputFunctionChannel", "make_channel", "known_channels"]


def known_channels() -> tuple[str, ...]:
    """Names accepted by :func:`make_channel`."""
    return ("linear", "sign", "tanh", "erf", "sin", "relu", "abs")


def make_channel(name: str, gamma0: float = 0.0, noise: float = 0.0) -> Channel:
    """The channel ``y = f(z + sqrt(gamma0) xi) + sqrt(noise) xi'`` of the equivalent GLM.

    ``linear`` and ``sign`` reduce to the closed-form channels with total noise
    ``total_noise = gamma0 + noise`` (for ``sign`` the noise enters before the sign, book
    eq-probit-qhat);
    other names give an :class:`OutputFunctionChannel`.
    """
    key = str(name).strip().lower()
    g = check_real("gamma0", gamma0)
    n = check_real("noise", noise)
    if key == "linear":
        if g + n == 0.0:
            raise ValueError("the linear channel needs gamma0 + noise > 0 (else the mutual "
                             "information is infinite)")
        return GaussianChannel(g + n)
    if key == "sign":
        return SignChannel(g + n)
    if key == "abs":
        return AbsChannel(g, n)
    if key in OUTPUT_FUNCTIONS:
        return OutputFunctionChannel(key, g, n)
    raise ValueError(f"unknown channel {name!r}; known: {', '.join(known_channels())}")
