"""What the command line prints: one-line errors and warnings on stderr, and values as JSON,
CSV or aligned text on stdout; a NaN is never printed (:func:`require_finite`).

The CSV is what ``pandas.read_csv`` parses as it is: one header row, then one row per record
(no comment lines), floats at full precision, booleans ``true``/``false`` (read as ``bool``),
``None`` as an empty cell (read as ``NaN``). The library's warnings that a computation is
outside the theorem's hypotheses (:class:`deepgep.theory.hypotheses.TheoremWarning`) are printed
by :func:`theorem_warnings` as ``deepgep: warning:`` lines, each once, as they are issued.
"""

from __future__ import annotations

import contextlib
import csv
import math
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from deepgep.theory.hypotheses import TheoremWarning

__all__ = ["PROG", "EXIT_OK", "EXIT_USAGE", "EXIT_NOT_CONVERGED", "EXIT_NON_FINITE", "EXIT_DAMAGED",
           "EXIT_INTERRUPTED", "TABLE_DIGITS", "NonFiniteResultError", "print_error", "warn", "require_finite",
           "text", "aligned", "key_values", "emit", "python_scalar", "csv_cell", "write_csv",
           "theorem_warnings"]

PROG = "deepgep"

#: Exit status of the command line (also in ``deepgep --help``).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
EXIT_NON_FINITE = 4
#: The results are damaged: a recorded table or its metadata is missing, unreadable,
#: incomplete or altered (:class:`deepgep.support.sweeps.TableDamagedError`).
EXIT_DAMAGED = 5
#: Interrupted (Ctrl-C or SIGTERM): 128 + SIGINT, the shell's convention.
EXIT_INTERRUPTED = 130
#: Significant digits of floats in ``--format table`` (json and csv print full precision).
TABLE_DIGITS = 8


class NonFiniteResultError(RuntimeError):
    """A computed quantity is NaN or infinite: never printed, reported as an internal error."""


def print_error(message: str) -> None:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


def require_finite(obj: Any, where: str = "output") -> None:
    """Raise :class:`NonFiniteResultError` if any float in ``obj`` is NaN or infinite."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise NonFiniteResultError(f"non-finite value {obj!r} in {where}")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            require_finite(value, f"{where}.{key}")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            require_finite(value, f"{where}[{i}]")
        return
    raise TypeError(f"unexpected {type(obj).__name__} in {where}")


def text(value: Any, digits: int | None = None) -> str:
    """A value as text: booleans ``true``/``false``, ``None`` as ``null``, floats at full
    precision (``repr``) or ``digits`` significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(float(value)) if digits is None else f"{float(value):.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ",".join(text(v, digits) for v in value)
    return str(value)


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns right-aligned to their widest cell, separated by two spaces."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return lines


def key_values(pairs: dict[str, Any]) -> list[str]:
    width = max(len(k) for k in pairs)
    return [f"{k.ljust(width)}  {text(v, TABLE_DIGITS)}" for k, v in pairs.items()]


def emit(lines: Iterable[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))


def python_scalar(value: Any) -> bool | int | float:
    """A numpy (or Python) scalar as a plain ``bool``, ``int`` or ``float``."""
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(value, bool) or kind == "b":
        return bool(value)
    if kind in ("i", "u") or (kind is None and isinstance(value, int)):
        return int(value)
    return float(value)


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: :func:`text`, but ``None`` as an empty cell (``NaN`` in pandas)."""
    return "" if value is None else text(value)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """The header row and the rows on stdout (see the module docstring)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])


@contextlib.contextmanager
def theorem_warnings() -> Iterator[None]:
    """Within the block, print every :class:`TheoremWarning` the library issues as one
    ``deepgep: warning:`` line when it is issued (each text once); other warnings as usual."""
    printed: set[str] = set()
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, TheoremWarning):
            if str(message) not in printed:
                printed.add(str(message))
                warn(str(message))
            return
        original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", TheoremWarning)
        warnings.showwarning = show
        yield
