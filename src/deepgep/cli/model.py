"""``deepgep equivalent`` and ``deepgep bayes``: the equivalent GLM of a network and its
Bayes-optimal curves.

``equivalent`` prints the coefficients of Theorem 1 for every layer and their composition into
the equivalent GLM (book eq-layer-coefficients and eq-composition,
:func:`deepgep.theory.layers.layer_coefficients` and :func:`deepgep.theory.layers.equivalent_glm`).
``bayes`` solves the replica-symmetric state evolution of that GLM over a grid of
``alpha = n / d0`` (book eq-state-evolution,
:func:`deepgep.theory.state_evolution.bayes_optimal_curve`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable
from typing import Any

from deepgep.cli.formats import BAYES_MODEL_KEYS, bayes_csv, equivalent_csv
from deepgep.cli.limits import (check_alpha_count, check_coefficients, check_depth, check_max_iter,
                                check_network_scales, check_state_evolution_scales)
from deepgep.cli.output import (EXIT_OK, PROG, TABLE_DIGITS, aligned, emit, key_values, python_scalar, require_finite,
                                text, theorem_warnings, warn)
from deepgep.cli.timing import slow_channel_note
from deepgep.support.validation import check_alpha
from deepgep.theory.activations import known_activations
from deepgep.theory.channels import known_channels, make_channel
from deepgep.theory.layers import check_readout, equivalent_glm, layer_coefficients
from deepgep.theory.state_evolution import bayes_optimal_curve

__all__ = ["RECORD_KEYS", "parse_alpha_grid", "parse_widths", "equivalent_model", "run_equivalent",
           "run_bayes", "add_model_options", "EQUIVALENT_EPILOG", "BAYES_EPILOG"]
#: Order of the per-alpha record keys in every output format.
RECORD_KEYS = (
    "alpha",
    "q",
    "q_hat",
    "mse",
    "test_error",
    "free_entropy",
    "mutual_information",
    "mutual_information_per_sample",
    "iterations",
    "q_uninformed",
    "q_informed",
    "branches_disagree",
)


def _parse_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None


def parse_alpha_grid(text: str) -> list[float]:
    """``start:stop:count`` (inclusive linspace) or a comma list ``a1,a2,...``; every ``alpha``
    positive and finite, the grid strictly increasing.

    Raises ``ValueError`` with a one-line message on a malformed grid.
    """
    spec = text.strip()
    if ":" in spec:
        parts = [p.strip() for p in spec.split(":")]
        if len(parts) != 3:
            raise ValueError(
                f"--alpha {text!r}: a range is start:stop:count (three fields), e.g. 0.1:7:50"
            )
        start = _parse_float(parts[0], f"--alpha {text!r}: start")
        stop = _parse_float(parts[1], f"--alpha {text!r}: stop")
        try:
            count = int(parts[2])
        except ValueError:
            raise ValueError(f"--alpha {text!r}: count {parts[2]!r} is not an integer") from None
        if count < 1:
            raise ValueError(f"--alpha {text!r}: count must be at least 1, got {count}")
        check_alpha_count(count, f"--alpha {text!r}")
        for value in (start, stop):
            _check_alpha_value(value, text)
        if stop < start:
            raise ValueError(f"--alpha {text!r}: stop {stop!r} is below start {start!r}")
        if count == 1:
            if stop != start:
                raise ValueError(f"--alpha {text!r}: a one-point range needs start == stop")
            return [start]
        if stop == start:
            raise ValueError(f"--alpha {text!r}: start == stop needs count 1")
        step = (stop - start) / (count - 1)
        grid = [start + i * step for i in range(count - 1)] + [stop]
    else:
        fields = [p.strip() for p in spec.split(",")]
        if not fields or any(f == "" for f in fields):
            raise ValueError(f"--alpha {text!r}: empty entry in the comma list")
        check_alpha_count(len(fields), f"--alpha {text[:40]!r}...")
        grid = [_parse_float(f, f"--alpha {text!r}") for f in fields]
    for value in grid:
        _check_alpha_value(value, text)
    if any(b <= a for a, b in zip(grid, grid[1:])):
        raise ValueError(f"--alpha {text!r}: the values must be strictly increasing")
    return grid


def _check_alpha_value(value: float, text: str) -> None:
    try:
        check_alpha(value)
    except ValueError as exc:
        raise ValueError(f"--alpha {text!r}: {exc}") from None


def parse_widths(text: str, depth: int) -> list[int]:
    """Comma list of the ``depth + 1`` widths ``d_0, ..., d_L`` (positive integers)."""
    fields = [p.strip() for p in text.split(",")]
    widths = []
    for f in fields:
        try:
            widths.append(int(f))
        except ValueError:
            raise ValueError(f"--widths {text!r}: {f!r} is not an integer") from None
    if len(widths) != depth + 1:
        raise ValueError(
            f"--widths {text!r}: needs depth + 1 = {depth + 1} comma-separated widths "
            f"d_0,...,d_L, got {len(widths)}"
        )
    if any(w <= 0 for w in widths):
        raise ValueError(f"--widths {text!r}: widths must be positive integers")
    return widths


def equivalent_model(args: argparse.Namespace) -> dict[str, Any]:
    """Layer coefficients and equivalent GLM as plain Python values (floats, lists, bools).

    ``--depth 0`` is the plain GLM: ``eta0 = rho``, ``gamma0 = eps``, no layer (the activation
    and gain are ignored and reported as ``None``).
    """
    depth = check_depth(args.depth)
    check_network_scales(args.activation, args.gain, depth, args.rho, args.eps)
    if depth == 0:
        rho, eps = check_readout(args.rho, args.eps)
        if args.activation is not None or args.gain is not None:
            warn("--activation and --gain are ignored at --depth 0 (the plain GLM)")
        return {
            "activation": None,
            "gain": None,
            "depth": 0,
            "readout_gain": rho,
            "readout_noise": eps,
            "sigma": [1.0],
            "rho": [],
            "eps": [],
            "mean": [],
            "eta": [rho],
            "gamma": [eps],
            "eta0": rho,
            "gamma0": eps,
            "kappa": rho * rho,
            "activation_satisfies_theorem": True,
        }
    name = "tanh" if args.activation is None else args.activation
    gain = 1.0 if args.gain is None else args.gain
    if ":" in name and not {"", os.getcwd()} & set(sys.path):
        sys.path.insert(0, os.getcwd())  # module:function finds a module of the working folder
    coefficients = layer_coefficients(name, depth, gain)
    glm = equivalent_glm(coefficients, args.rho, args.eps)
    check_coefficients(glm.eta, glm.kappa, glm.gamma0)
    act = coefficients.activation
    return {
        "activation": act.name,
        "gain": float(act.gain),
        "depth": depth,
        "readout_gain": float(glm.readout_gain),
        "readout_noise": float(glm.readout_noise),
        "sigma": _floats(coefficients.sigma),
        "rho": _floats(coefficients.rho),
        "eps": _floats(coefficients.eps),
        "mean": _floats(coefficients.mean),
        "eta": _floats(glm.eta),
        "gamma": _floats(glm.gamma),
        "eta0": glm.eta0,
        "gamma0": glm.gamma0,
        "kappa": glm.kappa,
        "activation_satisfies_theorem": bool(act.satisfies_theorem),
    }


def _floats(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def run_equivalent(args: argparse.Namespace) -> int:
    depth = check_depth(args.depth)
    widths = parse_widths(args.widths, depth) if args.widths is not None else None
    with theorem_warnings():  # the library's warnings (relu, a callable outside the theorem)
        model = equivalent_model(args)
    out = {key: value for key, value in model.items() if key != "activation_satisfies_theorem"}
    out["satisfies_theorem"] = model["activation_satisfies_theorem"]
    out["widths"] = widths
    out["d_min"] = min(widths) if widths else None
    require_finite(out)
    if args.format == "json":
        emit([json.dumps(out, indent=2, allow_nan=False)])
        return EXIT_OK
    if args.format == "csv":
        equivalent_csv(out)
        return EXIT_OK
    summary = {k: out[k] for k in ("activation", "gain", "depth", "readout_gain",
                                   "readout_noise", "eta0", "gamma0", "kappa",
                                   "satisfies_theorem")}
    if widths:
        summary["widths"] = widths
        summary["d_min"] = out["d_min"]
    rows = []
    for ell in range(depth + 1):
        layer = [str(ell), text(out["sigma"][ell], TABLE_DIGITS)]
        if ell == 0:
            layer += ["", "", ""]
        else:
            layer += [text(out[k][ell - 1], TABLE_DIGITS) for k in ("rho", "eps", "mean")]
        layer += [text(out["eta"][ell], TABLE_DIGITS), text(out["gamma"][ell], TABLE_DIGITS)]
        rows.append(layer)
    header = ["l/k", "sigma_l", "rho_l", "eps_l", "mean_l", "eta_k", "gamma_k"]
    emit(key_values(summary) + [""] + aligned(header, rows))
    return EXIT_OK


def _check_solver_options(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.damping) and 0.0 <= args.damping < 1.0):
        raise ValueError(f"--damping must be in [0, 1), got {args.damping!r}")
    if not (math.isfinite(args.tol) and args.tol > 0.0):
        raise ValueError(f"--tol must be positive and finite, got {args.tol!r}")
    check_max_iter(args.max_iter)
    if not math.isfinite(args.noise) or args.noise < 0.0:
        raise ValueError(f"--noise must be a finite non-negative variance, got {args.noise!r}")


def _check_channel_name(name: str) -> None:
    if name.strip().lower() not in known_channels():
        raise ValueError(f"unknown channel {name!r}; known: {', '.join(known_channels())}")


def run_bayes(args: argparse.Namespace) -> int:
    # Cheap checks first, so that bad input fails before any quadrature.
    check_depth(args.depth)
    _check_solver_options(args)
    _check_channel_name(args.channel)
    alphas = parse_alpha_grid(args.alpha)
    with theorem_warnings():  # the library's warnings: the activation's, then the readout's
        model = equivalent_model(args)
        check_state_evolution_scales(model["kappa"], model["gamma0"], args.noise, alphas)
        channel = make_channel(args.channel, gamma0=model["gamma0"], noise=args.noise)
        note = slow_channel_note(channel, model["kappa"], len(alphas))
        if note:
            warn(note)
        curve = bayes_optimal_curve(
            channel,
            model["kappa"],
            alphas,
            damping=args.damping,
            tol=args.tol,
            max_iter=args.max_iter,
            progress=args.progress or bool(note),
        )
    records = [
        {key: python_scalar(curve[key][i]) for key in RECORD_KEYS} for i in range(len(alphas))
    ]
    values = {**model, "channel": channel.name, "noise": float(args.noise),
              "satisfies_theorem": model["activation_satisfies_theorem"] and channel.satisfies_theorem}
    header = {key: values[key] for key in BAYES_MODEL_KEYS}
    solver = {"damping": float(args.damping), "tol": float(args.tol), "max_iter": args.max_iter}
    require_finite(header, "model")
    require_finite(records, "records")

    if args.format == "json":
        doc = {"model": header, "solver": solver, "records": records}
        emit([json.dumps(doc, indent=2, allow_nan=False)])
    elif args.format == "csv":
        bayes_csv(header, solver, records, RECORD_KEYS)
    else:
        rows = [[text(rec[k], TABLE_DIGITS) for k in RECORD_KEYS] for rec in records]
        emit(key_values({**header, **solver}) + [""] + aligned(RECORD_KEYS, rows))
    return EXIT_OK


EQUIVALENT_EPILOG = f"""\
The printed keys: sigma (sigma_0..sigma_L), rho, eps, mean (per layer l = 1..L; mean is zero for
an odd activation), eta, gamma (k = 0..L), eta0, gamma0, kappa = eta0^2, satisfies_theorem,
readout_gain (--rho), readout_noise (--eps), widths and d_min (null without --widths).
The csv output has one row per l = 0..L with the columns layer, width (d_l), sigma, rho, eps,
mean (empty at l = 0), eta, gamma, then the model's columns, the same on every row (activation,
gain, depth, readout_gain, readout_noise, eta0, gamma0, kappa, satisfies_theorem, d_min):
pandas.read_csv reads it as it is.

examples (Cui et al.'s reference: eta0^2 = 0.409095, gamma0 = 0.152506):
  {PROG} equivalent --activation tanh --gain 2 --depth 2 --widths 400,300,200 --format table
  {PROG} equivalent --activation numpy:arcsinh --gain 2 --depth 3 --format csv"""

BAYES_EPILOG = f"""\
One record per alpha: alpha, q, q_hat, mse (= 1 - q), test_error, free_entropy,
mutual_information (per input dimension), mutual_information_per_sample, iterations,
q_uninformed, q_informed, branches_disagree (the uninformed and informed fixed points differ:
a first-order transition). The json output is {{"model": ..., "solver": ..., "records": [...]}};
the csv output has one header row, then one row per alpha: the record's columns, then the
model's and the solver's (activation, gain, depth, readout_gain, readout_noise, eta0, gamma0,
kappa, channel, noise, satisfies_theorem, damping, tol, max_iter), the same on every row:
pandas.read_csv reads it as it is. A run expected to take over 20 s says how long, then shows
progress bars.

examples:
  {PROG} bayes --activation tanh --gain 2 --depth 2 --channel sign --alpha 0.1:7:50
  {PROG} bayes --depth 0 --channel linear --noise 0.5 --alpha 0.5,1,2 --format table"""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network")
    group.add_argument(
        "--activation", metavar="NAME", default=None,
        help=f"hidden-layer activation act in phi(x) = act(gain x): one of "
             f"{', '.join(known_activations())} (default: tanh), or any function acting elementwise on "
             f"numpy arrays given as module:function (e.g. numpy:arcsinh, or mypkg.acts:softplus for "
             f"a module mypkg/acts.py of the working folder or the environment; imported, never "
             f"evaluated). The theorem needs an odd activation, C^2 with bounded derivatives: "
             f"checked numerically, and a warning says which hypothesis fails (relu: not odd, not "
             f"C^2). Ignored at --depth 0.")
    group.add_argument(
        "--gain", type=float, metavar="G", default=None,
        help="the gain g > 0 in act(g x) (default: 1). Ignored at --depth 0.")
    group.add_argument(
        "--depth", type=int, metavar="L", required=True,
        help="number of hidden layers L >= 0; 0 is the plain GLM z = rho a.x/sqrt(d) "
             "(eta0 = rho, gamma0 = eps, no activation).")
    group.add_argument(
        "--rho", type=float, metavar="RHO", default=1.0,
        help="readout gain rho != 0 in rho a.X^L/sqrt(d_L) + sqrt(eps) xi (default: 1)")
    group.add_argument(
        "--eps", type=float, metavar="EPS", default=0.0,
        help="readout noise variance eps >= 0 (default: 0)")
