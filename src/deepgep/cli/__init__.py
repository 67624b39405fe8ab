"""Command line of deepgep: ``deepgep equivalent`` and ``deepgep bayes`` (the equivalent GLM of a
network and its Bayes-optimal curves, :mod:`deepgep.cli.model`), ``deepgep results`` (the recorded
paper-scale tables, :mod:`deepgep.cli.results`).

Data go to stdout, warnings and errors to stderr; every error is one line
``deepgep: error: ...`` on stderr, never a traceback. Exit status:

* 0 success;
* 1 a claim does not hold or a wrong theory is not rejected (``deepgep claims``), or a
  recomputed row differs from its table (``deepgep results verify``);
* 2 bad input: an unknown name, a malformed or out-of-range number (with the cap or the
  float64 range it breaks, :mod:`deepgep.cli.limits`), or a results folder that cannot be
  written (read-only, full disk);
* 3 the fixed-point iteration did not converge;
* 4 a result is not finite (a bug: the CLI refuses to print NaN);
* 5 the results are damaged: a recorded table or its metadata is missing, unreadable,
  incomplete or altered (the line names the table and what to run);
* 6 a task of ``deepgep run`` raised (its error row is kept and retried by the next run);
* 130 interrupted (Ctrl-C or SIGTERM).
"""


from __future__ import annotations

import argparse
import os
import sys
import textwrap
from typing import NoReturn

from deepgep.cli.model import (BAYES_EPILOG, EQUIVALENT_EPILOG, RECORD_KEYS, add_model_options,
                               parse_alpha_grid, run_bayes, run_equivalent)
from deepgep.cli.claims import add_claims_parser
from deepgep.cli.results import add_results_parser
from deepgep.cli.run import add_run_parser
from deepgep.cli.output import (EXIT_DAMAGED, EXIT_INTERRUPTED, EXIT_NON_FINITE, EXIT_NOT_CONVERGED, EXIT_OK,
                                EXIT_USAGE, PROG, NonFiniteResultError, print_error)
from deepgep.support.sweeps import TableDamagedError
from deepgep.theory.channels import known_channels
from deepgep.theory.state_evolution import ConvergenceError
from deepgep.version import VERSION

__all__ = ["EXIT_OK", "EXIT_USAGE", "EXIT_NOT_CONVERGED", "EXIT_NON_FINITE", "RECORD_KEYS",
           "parse_alpha_grid", "build_parser", "main"]


class _ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print_error(message)
        raise SystemExit(EXIT_USAGE)


_MAIN_EPILOG = f"""\
examples:
  {PROG} equivalent --activation tanh --gain 2 --depth 2
  {PROG} bayes --activation tanh --gain 2 --depth 2 --channel sign --alpha 0.1:7:50 --format csv

  {PROG} run --chapter 8 --preset fast --set width=8   # a chapter at your parameters
  {PROG} results list --format json     # the recorded paper-scale tables
  {PROG} results verify --chapter 4 --sample 3

Run '{PROG} COMMAND --help' for the options of a command.
exit status: 0 success, 1 a claim does not hold (or a verified row differs),
2 bad input, 3 state evolution did not converge, 4 non-finite result (a bug;
nothing is printed on stdout), 5 damaged results, 6 a task of a sweep failed,
130 interrupted."""


def _wrap(text: str) -> str:
    """Fill a description (RawDescriptionHelpFormatter keeps it as written)."""
    return textwrap.fill(text, width=79)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deepgep`` program and its subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog=PROG, formatter_class=fmt, epilog=_MAIN_EPILOG,
        description=_wrap("Deep Gaussian equivalence (Camilli, Tieplova, Bergamin, Barbier 2025): "
                    "the GLM equivalent to a deep random network, and its Bayes-optimal "
                    "errors and mutual information."))
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}",
                        help="print the program's name and version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    eq = sub.add_parser(
        "equivalent", formatter_class=fmt, epilog=EQUIVALENT_EPILOG,
        help="layer coefficients (Theorem 1) and the equivalent GLM (eta0, gamma0, kappa)",
        description=_wrap("Coefficients sigma_l, rho_l, eps_l of every layer (Theorem 1) and their "
                    "composition eta_k, gamma_k into the equivalent GLM "
                    "Y ~ P_out(. | eta0 a.X0/sqrt(d0) + sqrt(gamma0) xi), for inputs of unit "
                    "variance."))
    add_model_options(eq)
    eq.add_argument(
        "--widths", metavar="D0,...,DL", default=None,
        help="comma list of the depth+1 widths d_0,d_1,...,d_L (input first), echoed with "
             "d_min = their minimum (the d_m of the theorems' finite-size bounds). Widths do "
             "not change the coefficients, which are asymptotic (proportional regime).")
    eq.add_argument("--format", choices=("json", "csv", "table"), default="json",
                    help="output format (default: json)")

    bayes = sub.add_parser(
        "bayes", formatter_class=fmt, epilog=BAYES_EPILOG,
        help="Bayes-optimal errors and mutual information of the equivalent GLM over alpha",
        description=_wrap("Replica-symmetric state evolution of the equivalent GLM (Barbier et al. "
                    "2019) over a grid of alpha = n/d0, channel y = f(z + sqrt(gamma0) xi) + "
                    "sqrt(noise) xi' with kappa = eta0^2 (the Bayes-optimal fixed point is the "
                    "one of largest free entropy among an uninformed and an informed start)."))
    add_model_options(bayes)
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

    eq.set_defaults(run=run_equivalent)
    bayes.set_defaults(run=run_bayes)
    add_run_parser(sub, fmt)
    add_results_parser(sub, fmt)
    add_claims_parser(sub, fmt)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when ``None``); return the exit
    status (see the module docstring). Every error is reported in one line on stderr."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already reported)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except ConvergenceError as exc:
        print_error(f"state evolution did not converge: {exc}; "
                     f"try e.g. --damping 0.5 or a larger --max-iter")
        return EXIT_NOT_CONVERGED
    except NonFiniteResultError as exc:
        print_error(f"internal error, please report: {exc}")
        return EXIT_NON_FINITE
    except TableDamagedError as exc:  # before ValueError: it is a SweepError, a ValueError
        print_error(f"damaged results: {exc}")
        return EXIT_DAMAGED
    except ValueError as exc:
        print_error(exc)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:  # a file that cannot be read or written, outside the sweeps' own checks
        where = f" {exc.filename}" if exc.filename else ""
        print_error(f"cannot use{where}: {(exc.strerror or str(exc)).lower()}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print_error("interrupted")
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
