"""How long ``deepgep bayes`` will take, said before it starts when that is long.

The state evolution (book eq-state-evolution) evaluates the channel's averages ``E[g_out^2]`` and
``Psi_out`` some tens of times per ``alpha``; a channel integrated by quadrature costs from a few
milliseconds (``tanh``, ``erf``, ``sin``: the adaptive rule of
:mod:`deepgep.theory.channels.output_function`) to tens of milliseconds (``relu``, whose kink
keeps the fine fixed rule) per average. :func:`slow_channel_note` times one average and, when
the expected run time exceeds ``SLOW_SECONDS``, returns the note the command line prints (it
then shows progress bars).
"""

from __future__ import annotations

import time

from deepgep.theory.channels import Channel

__all__ = ["AVERAGES_PER_ALPHA", "SLOW_SECONDS", "slow_channel_note"]

#: Channel averages per ``alpha`` of :func:`deepgep.theory.state_evolution.bayes_optimal_curve`
#: (both branches, warm-started, and the free entropy at each), measured with the tanh channel
#: of the reference model: 22 on 100 points of 0.1:20, 28 on 30 points of 0.1:7, 36 at one
#: point (warm starts help less on a coarse grid).
AVERAGES_PER_ALPHA = 30
#: Expected seconds above which ``bayes`` says how long it will take and shows its progress.
SLOW_SECONDS = 20.0
#: The overlap at which one average is timed (the cost hardly depends on it).
_PROBE_OVERLAP = 0.5


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def slow_channel_note(channel: Channel, kappa: float, n_alpha: int) -> str | None:
    """``None``, or the one-line note that ``bayes`` over ``n_alpha`` points will take about
    ``AVERAGES_PER_ALPHA * n_alpha`` times one average of ``channel`` (timed here, after a first
    call that loads the compiled kernel) when that exceeds ``SLOW_SECONDS``."""
    channel.mean_g_out_squared(kappa, _PROBE_OVERLAP)
    start = time.perf_counter()
    channel.mean_g_out_squared(kappa, _PROBE_OVERLAP)
    per_average = time.perf_counter() - start
    expected = per_average * AVERAGES_PER_ALPHA * n_alpha
    if expected <= SLOW_SECONDS:
        return None
    return (f"the {channel.name} channel is integrated by quadrature ({per_average * 1e3:.0f} ms per average, "
            f"about {AVERAGES_PER_ALPHA} averages per alpha): expect about {_duration(expected)} for {n_alpha} "
            "alpha points; progress bars follow on stderr")
