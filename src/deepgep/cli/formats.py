"""The CSV layouts of ``deepgep equivalent`` and ``deepgep bayes``: one header row and one row
per layer or per ``alpha``, the model's description in columns repeated on every row, so that
``pandas.read_csv(io.StringIO(out))`` gives every column with its type (floats, ``int64``
counts, ``bool`` flags, ``str`` names; an empty cell, e.g. ``rho`` of layer 0, is ``NaN``).
The cells are written by :func:`deepgep.cli.output.write_csv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepgep.cli.output import write_csv

__all__ = ["EQUIVALENT_LAYER_KEYS", "EQUIVALENT_MODEL_KEYS", "BAYES_MODEL_KEYS", "SOLVER_KEYS",
           "equivalent_csv", "bayes_csv"]

#: Per-layer columns of ``equivalent --format csv``: row ``layer = l`` (0..L) holds the width
#: ``d_l`` (empty without ``--widths``), ``sigma_l``; ``rho_l``, ``eps_l``, ``mean_l`` of layer
#: ``l`` (empty at ``l = 0``, the input); and ``eta_l``, ``gamma_l`` (the model in which layers
#: ``l+1..L`` are replaced by their Gaussian equivalents, book eq-composition).
EQUIVALENT_LAYER_KEYS = ("layer", "width", "sigma", "rho", "eps", "mean", "eta", "gamma")
#: The model's columns of ``equivalent --format csv``, the same on every row.
EQUIVALENT_MODEL_KEYS = ("activation", "gain", "depth", "readout_gain", "readout_noise", "eta0", "gamma0",
                         "kappa", "satisfies_theorem", "d_min")
#: The model's keys of ``bayes`` (the json ``"model"`` object and csv columns).
BAYES_MODEL_KEYS = ("activation", "gain", "depth", "readout_gain", "readout_noise", "eta0", "gamma0", "kappa",
                    "channel", "noise", "satisfies_theorem")
#: The solver's keys of ``bayes`` (the json ``"solver"`` object and csv columns).
SOLVER_KEYS = ("damping", "tol", "max_iter")


def equivalent_csv(out: dict[str, Any]) -> None:
    """The output of ``equivalent`` (its json keys) as one row per layer ``l = 0..L``."""
    depth, widths = out["depth"], out["widths"]
    model = [out[key] for key in EQUIVALENT_MODEL_KEYS]
    rows = []
    for ell in range(depth + 1):
        layer = [None if ell == 0 else out[key][ell - 1] for key in ("rho", "eps", "mean")]
        rows.append([ell, widths[ell] if widths else None, out["sigma"][ell], *layer,
                     out["eta"][ell], out["gamma"][ell], *model])
    write_csv(EQUIVALENT_LAYER_KEYS + EQUIVALENT_MODEL_KEYS, rows)


def bayes_csv(model: dict[str, Any], solver: dict[str, Any], records: Sequence[dict[str, Any]],
              record_keys: Sequence[str]) -> None:
    """The records of ``bayes`` (columns ``record_keys``), then the model's and the solver's
    columns, one row per ``alpha``."""
    fixed = [model[key] for key in BAYES_MODEL_KEYS] + [solver[key] for key in SOLVER_KEYS]
    write_csv(tuple(record_keys) + BAYES_MODEL_KEYS + SOLVER_KEYS,
              ([rec[key] for key in record_keys] + fixed for rec in records))
