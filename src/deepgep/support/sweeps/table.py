"""The CSV table of a sweep: cells, reading, appending, and the public readers.

The CSV has a header line, then one line per finished task, ``\\n``-terminated. Columns: the
grid's parameters (in the order of the first grid point), ``seed``, the record's fields (in
order of first appearance; a record without a field leaves its cell empty), then ``wall_time``
and ``cpu_time`` (seconds spent in the task, rounded to microseconds) and ``error`` (empty, or
``Type: message`` on one line, at most ``ERROR_CHARS`` characters, for a task that raised; its
record cells are empty). Cells are written as ``repr`` for floats (the shortest text that reads
back to the same double, so values round-trip bit for bit: ``nan``, ``inf``, ``-0.0``
included), ``str`` for ints, ``True``/``False`` for booleans and the text itself for strings.
Reading types a cell back as bool, int, float or str, in that order of trial (a string record
value that looks like a number therefore reads back as a number; parameters read back exactly
from the grid stored in the metadata; an empty record cell reads as ``None``).

A line cut short by a kill in mid-write (no final newline) or with the wrong number of cells
is dropped with a warning. Each new row is written with one ``write``, flushed and fsync-ed; a
record with a field the header lacks rewrites the table (atomically) with the extra column.

:func:`load_table` and :func:`as_columns` read one table, :func:`list_tables` summarises every
stored sweep.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgep.support.sweeps.files import fsync_write, locate, read_meta, write_atomic
from deepgep.support.sweeps.spec import CPU, ERROR, RESERVED, SEED, WALL, Sweep, SweepError

__all__ = [
    "cell",
    "parse_cell",
    "is_number",
    "Table",
    "param_columns",
    "read_table",
    "table_text",
    "TableWriter",
    "id_cells",
    "row_id",
    "task_index",
    "table_counts",
    "load_table",
    "as_columns",
    "field_matrix",
    "list_tables",
]

#: The texts that read back as ints and floats (what ``str`` and ``repr`` write).
INT_TEXT = re.compile(r"^-?\d+$")
FLOAT_TEXT = re.compile(r"^-?(\d+\.\d*|\d*\.\d+|\d+)(e[-+]?\d+)?$|^-?(inf|nan)$")


# ---- cells --------------------------------------------------------------------------------


def cell(value: bool | int | float | str) -> str:
    """The text of one scalar: exact for floats."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(float(value))
    return str(value)


def parse_cell(text: str) -> Any:
    """bool, int, float or str, tried in that order ("" reads as None)."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if INT_TEXT.match(text):
        return int(text)
    if FLOAT_TEXT.match(text):
        return float(text)
    return text


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _line(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


# ---- the table as text --------------------------------------------------------------------


@dataclasses.dataclass
class Table:
    """A table as text cells: ``header`` and ``rows`` (dicts column -> cell)."""

    header: list[str]
    rows: list[dict[str, str]]
    dropped: int = 0

    def record_fields(self) -> list[str]:
        params = param_columns(self.header)
        return [c for c in self.header if c not in params and c not in RESERVED]


def param_columns(header: Sequence[str]) -> list[str]:
    return list(header[: header.index(SEED)]) if SEED in header else []


def read_table(path: Path) -> Table:
    """Read a table, dropping (with a warning) a cut-off last line or a malformed line."""
    if not path.exists():
        return Table([], [])
    text = path.read_text(encoding="utf8")
    lines = text.split("\n")
    cut = lines.pop() if lines else ""
    dropped = 0
    if cut:
        warnings.warn(f"{path}: dropping the last line, cut off in mid-write: {cut[:80]!r}", stacklevel=3)
        dropped += 1
    if not lines:
        return Table([], [], dropped)
    parsed = list(csv.reader(lines))
    header, rows = parsed[0], []
    for number, cells in enumerate(parsed[1:], start=2):
        if len(cells) != len(header):
            warnings.warn(f"{path}: dropping line {number}, {len(cells)} cells for {len(header)} columns", stacklevel=3)
            dropped += 1
            continue
        rows.append(dict(zip(header, cells)))
    if SEED not in header or header[-3:] != [WALL, CPU, ERROR]:
        raise SweepError(f"{path} is not a sweep table (header {header})")
    return Table(header, rows, dropped)


def table_text(header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> str:
    return "".join(_line(cells) for cells in [header, *([row.get(c, "") for c in header] for row in rows)])


class TableWriter:
    """Appends rows to the CSV, one fsync-ed write per row; adds columns by rewriting it."""

    def __init__(self, path: Path, table: Table, param_names: Sequence[str]) -> None:
        self.path = path
        self.header = table.header or [*param_names, SEED, WALL, CPU, ERROR]
        self.rows = list(table.rows)
        self.handle = None

    def __enter__(self) -> TableWriter:
        if not self.path.exists():
            write_atomic(self.path, table_text(self.header, []))
        self.handle = open(self.path, "a", encoding="utf8", newline="")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()

    def append(self, row: dict[str, str]) -> None:
        new = [c for c in row if c not in self.header]
        self.rows.append(row)
        if new:
            at = self.header.index(WALL)
            self.header[at:at] = new
            self.handle.close()
            write_atomic(self.path, table_text(self.header, self.rows))
            self.handle = open(self.path, "a", encoding="utf8", newline="")
        else:
            fsync_write(self.handle, _line([row.get(c, "") for c in self.header]))


# ---- rows and tasks -----------------------------------------------------------------------


def id_cells(point: Mapping[str, Any], seed: int) -> dict[str, str]:
    """The cells naming a task in its row: the parameters and the seed."""
    return {**{name: cell(value) for name, value in point.items()}, SEED: str(seed)}


def row_id(cells: Mapping[str, str], param_names: Sequence[str]) -> tuple[str, ...]:
    return tuple(cells[name] for name in param_names) + (cells[SEED],)


def task_index(sweep: Sweep) -> dict[tuple[str, ...], tuple[dict[str, Any], int]]:
    """Row identity (the cells of the parameters and the seed) -> ``(point, seed)``."""
    return {row_id(id_cells(point, seed), sweep.param_names): (point, seed) for point, seed in sweep.tasks()}


def table_counts(sweep: Sweep, table: Table) -> dict[str, Any]:
    """The totals of the metadata: rows, error rows, tasks, and whether every task is stored."""
    errors = sum(1 for row in table.rows if row[ERROR])
    done = {row_id(row, sweep.param_names) for row in table.rows if not row[ERROR]}
    return {
        "rows": len(table.rows),
        "error_rows": errors,
        "tasks": sweep.n_tasks,
        "complete": len(done & set(task_index(sweep))) == sweep.n_tasks,
    }


# ---- reading ------------------------------------------------------------------------------


def _typed_rows(table: Table, sweep: Sweep | None) -> list[dict[str, Any]]:
    index = task_index(sweep) if sweep else {}
    out = []
    for cells in table.rows:
        row: dict[str, Any] = {name: parse_cell(text) for name, text in cells.items()}
        if sweep and (task := index.get(row_id(cells, sweep.param_names))):
            row.update(task[0])
        row[ERROR] = cells[ERROR]
        out.append(row)
    return out


def load_table(target: Sweep | str | os.PathLike, *, results_dir: str | os.PathLike = "results") -> list[dict[str, Any]]:
    """The stored rows of a sweep (or of a ``.csv`` path), as a list of dicts, one per row.

    Keys are the CSV columns; values are typed (bool, int, float, str; ``None`` for an empty
    record cell; ``error`` is ``""`` for a row without error). Parameters are the grid's own
    values when the metadata file is present. A cut-off last line is dropped with a warning.
    Error rows are included (filter on ``row["error"]``).
    """
    csv_path, meta_path = locate(target, results_dir)
    if not csv_path.exists():
        raise SweepError(f"no table at {csv_path}")
    meta = read_meta(meta_path)
    sweep = target if isinstance(target, Sweep) else (Sweep.from_metadata(meta) if meta else None)
    return _typed_rows(read_table(csv_path), sweep)


def as_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Rows as columns: ``{name: numpy array}`` (for plotting)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: np.asarray([row.get(name) for row in rows]) for name in names}


def field_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str], **where: Any) -> np.ndarray:
    """``values[i, t]``: record field ``names[i]`` of the ``t``-th row (in seed order) among the
    rows whose parameters equal ``where`` (e.g. ``d0=400``): one column per independent task."""
    chosen = sorted((r for r in rows if all(r[k] == v for k, v in where.items())), key=lambda r: r[SEED])
    return np.array([[float(r[name]) for r in chosen] for name in names])


def list_tables(results_dir: str | os.PathLike = "results") -> list[dict[str, Any]]:
    """One dict per stored sweep under ``results_dir``: chapter, experiment, preset, rows
    (rows in the table, error rows included), errors, tasks, complete, cpu_hours, path;
    sorted by chapter, experiment, preset."""
    out = []
    for meta_path in sorted(Path(results_dir).glob("ch*/*.meta.json")):
        meta = read_meta(meta_path)
        sweep = Sweep.from_metadata(meta)
        csv_path, _ = locate(meta_path, results_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            counts = table_counts(sweep, read_table(csv_path))
        out.append({
            "chapter": sweep.chapter,
            "experiment": sweep.experiment,
            "preset": sweep.preset,
            "rows": counts["rows"],
            "errors": counts["error_rows"],
            "tasks": counts["tasks"],
            "complete": counts["complete"],
            "cpu_hours": round(float(meta.get("cpu_seconds", 0.0)) / 3600, 6),
            "path": str(csv_path),
        })
    return sorted(out, key=lambda t: (t["chapter"], t["experiment"], t["preset"]))
