"""Command line of deepgep: ``deepgep equivalent`` and ``deepgep bayes``.

``equivalent`` prints the coefficients of Theorem 1 for every layer and their composition into
the equivalent GLM (SCIENCE.md sections 2-3, :func:`deepgep.layers.layer_coefficients` and
:func:`deepgep.layers.equivalent_glm`). ``bayes`` solves the replica-symmetric state evolution of
that GLM over a grid of ``alpha = n / d0`` (SCIENCE.md section 4,
:func:`deepgep.state_evolution.bayes_optimal_curve`).

Data go to stdout, warnings and errors to stderr. Exit status: 0 on success, 2 on bad input
(one line ``deepgep: error: ...`` on stderr), 3 when the fixed-point iteration does not
converge, 4 when a result is not finite (a bug: the CLI refuses to print NaN).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

PROG = "deepgep"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
EXIT_NON_FINITE = 4

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

#: Significant digits of floats in ``--format table`` (json and csv print full precision).
TABLE_DIGITS = 8


class NonFiniteResultError(RuntimeError):
    """A computed quantity is NaN or infinite: never printed, reported as an internal error."""


class _ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        _print_error(message)
        raise SystemExit(EXIT_USAGE)


def _print_error(message: str) -> None:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


# --- parsing of option values ---------------------------------------------------------------


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
    from deepgep.state_evolution import check_alpha

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
        for value in (start, stop):
            _check_alpha_value(value, text, check_alpha)
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
        grid = [_parse_float(f, f"--alpha {text!r}") for f in fields]
    for value in grid:
        _check_alpha_value(value, text, check_alpha)
    if any(b <= a for a, b in zip(grid, grid[1:])):
        raise ValueError(f"--alpha {text!r}: the values must be strictly increasing")
    return grid


def _check_alpha_value(value: float, text: str, check_alpha) -> None:
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


def _check_depth(depth: int) -> int:
    if depth < 0:
        raise ValueError(f"--depth must be a non-negative integer, got {depth}")
    return depth


# --- the model: equivalent GLM of a depth-L network -----------------------------------------


def _equivalent_model(args: argparse.Namespace) -> dict[str, Any]:
    """Layer coefficients and equivalent GLM as plain Python values (floats, lists, bools).

    ``--depth 0`` is the plain GLM: ``eta0 = rho``, ``gamma0 = eps``, no layer (the activation
    and gain are ignored and reported as ``None``).
    """
    from deepgep.layers import equivalent_glm, layer_coefficients

    depth = _check_depth(args.depth)
    if depth == 0:
        rho, eps = _check_readout(args.rho, args.eps)
        if args.activation is not None or args.gain is not None:
            _warn("--activation and --gain are ignored at --depth 0 (the plain GLM)")
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
    coefficients = layer_coefficients(name, depth, gain)
    glm = equivalent_glm(coefficients, args.rho, args.eps)
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


def _check_readout(rho: float, eps: float) -> tuple[float, float]:
    """The checks of :func:`deepgep.layers.equivalent_glm` for the depth-0 model."""
    if not math.isfinite(rho) or rho == 0.0:
        raise ValueError(f"readout gain rho must be finite and non-zero, got {rho!r}")
    if not math.isfinite(eps) or eps < 0.0:
        raise ValueError(f"readout noise eps must be a non-negative variance, got {eps!r}")
    return float(rho), float(eps)


def _floats(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def _activation_issue(model: dict[str, Any]) -> str | None:
    if model["activation_satisfies_theorem"]:
        return None
    return (f"activation {model['activation']!r} is not odd and smooth (its mean "
            f"mu_l is not zero and is ignored by the linearisation)")


# --- output ---------------------------------------------------------------------------------


def _require_finite(obj: Any, where: str = "output") -> None:
    """Raise :class:`NonFiniteResultError` if any float in ``obj`` is NaN or infinite."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise NonFiniteResultError(f"non-finite value {obj!r} in {where}")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            _require_finite(value, f"{where}.{key}")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _require_finite(value, f"{where}[{i}]")
        return
    raise TypeError(f"unexpected {type(obj).__name__} in {where}")


def _text(value: Any, digits: int | None = None) -> str:
    """A value as text: booleans ``true``/``false``, ``None`` as ``null``, floats at full
    precision (``repr``) or ``digits`` significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(float(value)) if digits is None else f"{float(value):.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v, digits) for v in value)
    return str(value)


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns right-aligned to their widest cell, separated by two spaces."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return lines


def _key_values(pairs: dict[str, Any]) -> list[str]:
    width = max(len(k) for k in pairs)
    return [f"{k.ljust(width)}  {_text(v, TABLE_DIGITS)}" for k, v in pairs.items()]


def _emit(lines: Iterable[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))


# --- subcommand: equivalent -----------------------------------------------------------------


def _run_equivalent(args: argparse.Namespace) -> int:
    depth = _check_depth(args.depth)
    widths = parse_widths(args.widths, depth) if args.widths is not None else None
    model = _equivalent_model(args)
    issue = _activation_issue(model)
    if issue:
        _warn(f"outside the theorem's hypotheses: {issue}")
    out = {key: value for key, value in model.items() if key != "activation_satisfies_theorem"}
    out["satisfies_theorem"] = model["activation_satisfies_theorem"]
    out["widths"] = widths
    out["d_min"] = min(widths) if widths else None
    _require_finite(out)
    if args.format == "json":
        _emit([json.dumps(out, indent=2, allow_nan=False)])
        return EXIT_OK
    summary = {k: out[k] for k in ("activation", "gain", "depth", "readout_gain",
                                   "readout_noise", "eta0", "gamma0", "kappa",
                                   "satisfies_theorem")}
    if widths:
        summary["widths"] = widths
        summary["d_min"] = out["d_min"]
    rows = []
    for ell in range(depth + 1):
        layer = [str(ell), _text(out["sigma"][ell], TABLE_DIGITS)]
        if ell == 0:
            layer += ["", "", ""]
        else:
            layer += [_text(out[k][ell - 1], TABLE_DIGITS) for k in ("rho", "eps", "mean")]
        layer += [_text(out["eta"][ell], TABLE_DIGITS), _text(out["gamma"][ell], TABLE_DIGITS)]
        rows.append(layer)
    header = ["l/k", "sigma_l", "rho_l", "eps_l", "mean_l", "eta_k", "gamma_k"]
    _emit(_key_values(summary) + [""] + _aligned(header, rows))
    return EXIT_OK


# --- subcommand: bayes ----------------------------------------------------------------------


def _check_solver_options(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.damping) and 0.0 <= args.damping < 1.0):
        raise ValueError(f"--damping must be in [0, 1), got {args.damping!r}")
    if not (math.isfinite(args.tol) and args.tol > 0.0):
        raise ValueError(f"--tol must be positive and finite, got {args.tol!r}")
    if args.max_iter < 1:
        raise ValueError(f"--max-iter must be at least 1, got {args.max_iter}")
    if not math.isfinite(args.noise) or args.noise < 0.0:
        raise ValueError(f"--noise must be a finite non-negative variance, got {args.noise!r}")


def _check_channel_name(name: str) -> None:
    from deepgep.channels import known_channels

    if name.strip().lower() not in known_channels():
        raise ValueError(f"unknown channel {name!r}; known: {', '.join(known_channels())}")


def _run_bayes(args: argparse.Namespace) -> int:
    from deepgep.channels import make_channel
    from deepgep.state_evolution import bayes_optimal_curve

    # Cheap checks first, so that bad input fails before any quadrature.
    _check_depth(args.depth)
    _check_solver_options(args)
    _check_channel_name(args.channel)
    alphas = parse_alpha_grid(args.alpha)
    model = _equivalent_model(args)
    channel = make_channel(args.channel, gamma0=model["gamma0"], noise=args.noise)

    issues = []
    activation_issue = _activation_issue(model)
    if activation_issue:
        issues.append(activation_issue)
    if not channel.satisfies_theorem:
        issues.append(f"channel {channel.name!r} is not an odd output function")
    if issues:
        _warn("outside the theorem's hypotheses: " + "; ".join(issues))

    curve = bayes_optimal_curve(
        channel,
        model["kappa"],
        alphas,
        gamma0=model["gamma0"],
        noise=args.noise,
        damping=args.damping,
        tol=args.tol,
        max_iter=args.max_iter,
        progress=args.progress,
    )
    records = [
        {key: _python_scalar(curve[key][i]) for key in RECORD_KEYS} for i in range(len(alphas))
    ]
    header = {
        "activation": model["activation"],
        "gain": model["gain"],
        "depth": model["depth"],
        "readout_gain": model["readout_gain"],
        "readout_noise": model["readout_noise"],
        "eta0": model["eta0"],
        "gamma0": model["gamma0"],
        "kappa": model["kappa"],
        "channel": channel.name,
        "noise": float(args.noise),
        "satisfies_theorem": not issues,
    }
    solver = {"damping": float(args.damping), "tol": float(args.tol), "max_iter": args.max_iter}
    _require_finite(header, "model")
    _require_finite(records, "records")

    if args.format == "json":
        doc = {"model": header, "solver": solver, "records": records}
        _emit([json.dumps(doc, indent=2, allow_nan=False)])
    elif args.format == "csv":
        _emit(f"# {k}={_text(v)}" for k, v in {**header, **solver}.items())
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(RECORD_KEYS)
        for rec in records:
            writer.writerow([_text(rec[k]) for k in RECORD_KEYS])
    else:
        rows = [[_text(rec[k], TABLE_DIGITS) for k in RECORD_KEYS] for rec in records]
        _emit(_key_values({**header, **solver}) + [""] + _aligned(RECORD_KEYS, rows))
    return EXIT_OK


def _python_scalar(value: Any) -> bool | int | float:
    """A numpy (or Python) scalar as a plain ``bool``, ``int`` or ``float``."""
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(value, bool) or kind == "b":
        return bool(value)
    if kind in ("i", "u") or (kind is None and isinstance(value, int)):
        return int(value)
    return float(value)


# --- parser ---------------------------------------------------------------------------------

_MAIN_EPILOG = f"""\
examples:
  {PROG} equivalent --activation tanh --gain 2 --depth 2
  {PROG} bayes --activation tanh --gain 2 --depth 2 --channel sign --alpha 0.1:7:50 --format csv

Run '{PROG} COMMAND --help' for the options of a command.
exit status: 0 success, 2 bad input, 3 state evolution did not converge,
4 non-finite result (a bug; nothing is printed on stdout)."""

_EQUIVALENT_EPILOG = f"""\
The printed keys: sigma (sigma_0..sigma_L), rho, eps, mean (per layer l = 1..L; mean is zero for
an odd activation), eta, gamma (k = 0..L), eta0, gamma0, kappa = eta0^2, satisfies_theorem,
readout_gain (--rho), readout_noise (--eps), widths and d_min (null without --widths).

example (Cui et al.'s reference: eta0^2 = 0.409095, gamma0 = 0.152506):
  {PROG} equivalent --activation tanh --gain 2 --depth 2 --widths 400,300,200 --format table"""

_BAYES_EPILOG = f"""\
One record per alpha: alpha, q, q_hat, mse (= 1 - q), test_error, free_entropy,
mutual_information (per input dimension), mutual_information_per_sample, iterations,
q_uninformed, q_informed, branches_disagree (the uninformed and informed fixed points differ:
a first-order transition). The json output is {{"model": ..., "solver": ..., "records": [...]}};
the csv output starts with '# key=value' lines (model and solver), then a header row.

examples:
  {PROG} bayes --activation tanh --gain 2 --depth 2 --channel sign --alpha 0.1:7:50
  {PROG} bayes --depth 0 --channel linear --noise 0.5 --alpha 0.5,1,2 --format table"""


def _wrap(text: str) -> str:
    """Fill a description (RawDescriptionHelpFormatter keeps it as written)."""
    return textwrap.fill(text, width=79)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from deepgep.activations import known_activations

    group = parser.add_argument_group("network")
    group.add_argument(
        "--activation", metavar="NAME", default=None,
        help=f"hidden-layer activation act in phi(x) = act(gain x); one of "
             f"{', '.join(known_activations())} (default: tanh). Only odd smooth ones satisfy "
             f"the theorem; relu is computed with a warning. Ignored at --depth 0.")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deepgep`` program and its subcommands."""
    from deepgep.channels import known_channels

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog=PROG, formatter_class=fmt, epilog=_MAIN_EPILOG,
        description=_wrap("Deep Gaussian equivalence (Camilli, Tieplova, Bergamin, Barbier 2025): "
                    "the GLM equivalent to a deep random network, and its Bayes-optimal "
                    "errors and mutual information."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    eq = sub.add_parser(
        "equivalent", formatter_class=fmt, epilog=_EQUIVALENT_EPILOG,
        help="layer coefficients (Theorem 1) and the equivalent GLM (eta0, gamma0, kappa)",
        description=_wrap("Coefficients sigma_l, rho_l, eps_l of every layer (Theorem 1) and their "
                    "composition eta_k, gamma_k into the equivalent GLM "
                    "Y ~ P_out(. | eta0 a.X0/sqrt(d0) + sqrt(gamma0) xi), for inputs of unit "
                    "variance."))
    _add_model_options(eq)
    eq.add_argument(
        "--widths", metavar="D0,...,DL", default=None,
        help="comma list of the depth+1 widths d_0,d_1,...,d_L (input first), echoed with "
             "d_min = their minimum (the d_m of the theorems' finite-size bounds). Widths do "
             "not change the coefficients, which are asymptotic (proportional regime).")
    eq.add_argument("--format", choices=("json", "table"), default="json",
                    help="output format (default: json)")

    bayes = sub.add_parser(
        "bayes", formatter_class=fmt, epilog=_BAYES_EPILOG,
        help="Bayes-optimal errors and mutual information of the equivalent GLM over alpha",
        description=_wrap("Replica-symmetric state evolution of the equivalent GLM (Barbier et al. "
                    "2019) over a grid of alpha = n/d0, channel y = f(z + sqrt(gamma0) xi) + "
                    "sqrt(noise) xi' with kappa = eta0^2 (the Bayes-optimal fixed point is the "
                    "one of largest free entropy among an uninformed and an informed start)."))
    _add_model_options(bayes)
    bayes.add_argument(
        "--channel", metavar="NAME", required=True,
        help=f"output function f; one of {', '.join(known_channels())}. linear and sign are in "
             f"closed form (for sign the noise enters before the sign); the others need "
             f"gamma0 + noise >= 0.01; relu and abs are computed with a warning.")
    bayes.add_argument(
        "--noise", type=float, metavar="DELTA", default=0.0,
        help="label noise variance Delta >= 0 (default: 0; linear needs gamma0 + Delta > 0)")
    bayes.add_argument(
        "--alpha", metavar="GRID", required=True,
        help="sample ratios alpha = n/d0 > 0: start:stop:count (inclusive, evenly spaced, "
             "e.g. 0.1:7:50) or a strictly increasing comma list (e.g. 0.5,1,2)")
    bayes.add_argument("--format", choices=("json", "csv", "table"), default="json",
                       help="output format (default: json)")
    solver = bayes.add_argument_group("solver")
    solver.add_argument(
        "--damping", type=float, metavar="D", default=0.0,
        help="damping in [0, 1) of the fixed-point map q <- (1-D) q_hat/(1+q_hat) + D q "
             "(default: 0)")
    solver.add_argument("--tol", type=float, metavar="TOL", default=1e-10,
                        help="stop when |q_{t+1} - q_t| < TOL (default: 1e-10)")
    solver.add_argument("--max-iter", type=int, metavar="N", default=10_000,
                        help="iterations allowed per alpha and start (default: 10000)")
    solver.add_argument("--progress", action="store_true",
                        help="show progress bars on stderr")

    eq.set_defaults(run=_run_equivalent)
    bayes.set_defaults(run=_run_bayes)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when ``None``); return the exit
    status. Bad input and non-convergence are reported in one line on stderr."""
    from deepgep.state_evolution import ConvergenceError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already reported)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except ConvergenceError as exc:
        _print_error(f"state evolution did not converge: {exc}; "
                     f"try e.g. --damping 0.5 or a larger --max-iter")
        return EXIT_NOT_CONVERGED
    except NonFiniteResultError as exc:
        _print_error(f"internal error, please report: {exc}")
        return EXIT_NON_FINITE
    except ValueError as exc:
        _print_error(exc)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
