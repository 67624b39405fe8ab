"""The CSV table of a sweep in long format: cells, rows of a task, reading and appending.

The CSV has a header line, then the rows of every finished task, ``\\n``-terminated. Columns:
the grid's parameters (in the order of the first grid point), ``seed``, the sweep's ``index``
columns (which tell apart the rows of one task), the record's fields (in order of first
appearance; a record without a field leaves its cell empty), then ``task_rows`` (how many rows
the task wrote, the same on each of them), ``wall_time`` and ``cpu_time`` (the task's seconds,
rounded to microseconds, the same on each of its rows) and ``error`` (empty, or ``Type:
message`` on one line, for a task that raised: one row whose index and record cells are empty).
No column name encodes a parameter value: a parameter is a column.

Cells are written as ``repr`` for floats (the shortest text that reads back to the same double,
so values round-trip bit for bit: ``nan``, ``inf``, ``-0.0`` included), ``str`` for ints,
``True``/``False`` for booleans and the text itself for strings. Reading types a cell back as
bool, int, float or str, in that order of trial; parameters read back exactly from the grid.

All rows of a task are written with one ``write`` of the file opened for appending, flushed and
fsync-ed. A line cut short by a kill in mid-write (no final newline), a line with the wrong
number of cells, or the rows of a task that has fewer rows than its ``task_rows`` are dropped
with a warning when a run resumes (:func:`read_table`); :mod:`.integrity` refuses them when a
table is read as evidence.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deepgep.support.sweeps.files import fsync_write, open_append, write_atomic
from deepgep.support.sweeps.spec import CPU, ERROR, RESERVED, SEED, TASK_ROWS, WALL, Sweep, TableDamagedError

__all__ = [
    "BOM",
    "cell",
    "parse_cell",
    "is_number",
    "Table",
    "param_columns",
    "read_table",
    "table_text",
    "TableWriter",
    "id_cells",
    "task_id",
    "task_index",
    "task_groups",
    "outcome_rows",
    "typed_rows",
]

#: The texts that read back as ints and floats (what ``str`` and ``repr`` write).
INT_TEXT = re.compile(r"^-?\d+$")
FLOAT_TEXT = re.compile(r"^-?(\d+\.\d*|\d*\.\d+|\d+)(e[-+]?\d+)?$|^-?(inf|nan)$")
#: The UTF-8 byte order mark: never written by the library; a table that starts with it was
#: rewritten by another program.
BOM = "\ufeff"


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
    """A table as text cells: ``header`` and ``rows`` (dicts column -> cell); ``dropped``
    counts the lines dropped on reading (cut off, malformed, or of a task cut short)."""

    header: list[str]
    rows: list[dict[str, str]]
    dropped: int = 0

    def record_fields(self, sweep: Sweep) -> list[str]:
        """The measured columns: neither a parameter, nor the index, nor reserved."""
        taken = {*sweep.param_names, *sweep.index, *RESERVED}
        return [c for c in self.header if c not in taken]


def param_columns(header: Sequence[str]) -> list[str]:
    return list(header[: header.index(SEED)]) if SEED in header else []


def _split_lines(path: Path, text: str) -> tuple[list[list[str]], int]:
    """The parsed lines of ``text`` (a cut-off last line dropped with a warning)."""
    lines = text.split("\n")
    cut = lines.pop() if lines else ""
    dropped = 0
    if cut:
        warnings.warn(f"{path}: dropping the last line, cut off in mid-write: {cut[:80]!r}", stacklevel=4)
        dropped += 1
    return list(csv.reader(lines)), dropped


def read_table(path: Path) -> Table:
    """Read a table; drop (with a warning) a cut-off last line, a malformed line, and the rows of
    a task that holds fewer rows than its ``task_rows`` (a write cut short). A missing file is
    an empty table; a file that is not a sweep table raises :class:`TableDamagedError`."""
    if not path.exists():
        return Table([], [])
    try:
        text = path.read_text(encoding="utf8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableDamagedError(f"{path} cannot be read as UTF-8 text ({exc})") from None
    if text.startswith(BOM):
        raise TableDamagedError(f"{path} starts with a byte order mark: it was rewritten by another program")
    parsed, dropped = _split_lines(path, text)
    if not parsed:
        return Table([], [], dropped)
    header = parsed[0]
    if SEED not in header or header[-4:] != [TASK_ROWS, WALL, CPU, ERROR]:
        raise TableDamagedError(f"{path} is not a sweep table (header {header[:6]}...)")
    rows = []
    for number, cells in enumerate(parsed[1:], start=2):
        if len(cells) != len(header):
            warnings.warn(f"{path}: dropping line {number}, {len(cells)} cells for {len(header)} columns", stacklevel=3)
            dropped += 1
            continue
        rows.append(dict(zip(header, cells)))
    kept = [row for group in _groups(rows, param_columns(header)).values()
            if _whole(group) for row in group]
    if len(kept) != len(rows):
        warnings.warn(f"{path}: dropping {len(rows) - len(kept)} rows of tasks cut short", stacklevel=3)
    return Table(header, kept, dropped + len(rows) - len(kept))


def _whole(group: Sequence[Mapping[str, str]]) -> bool:
    """Whether a task's rows are all there: as many as each of them says."""
    return all(row[TASK_ROWS] == str(len(group)) for row in group)


def table_text(header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> str:
    return "".join(_line(cells) for cells in [header, *([row.get(c, "") for c in header] for row in rows)])


class TableWriter:
    """Appends the rows of one task with one fsync-ed write; adds columns by rewriting it."""

    def __init__(self, path: Path, table: Table, sweep: Sweep) -> None:
        self.path = path
        self.header = table.header or [*sweep.param_names, SEED, *sweep.index, TASK_ROWS, WALL, CPU, ERROR]
        self.rows = list(table.rows)
        self.handle = None

    def __enter__(self) -> TableWriter:
        if not self.path.exists():
            write_atomic(self.path, table_text(self.header, []))
        self.handle = open_append(self.path)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()

    def append(self, rows: Sequence[dict[str, str]]) -> bool:
        """Store the rows of one task; whether the table was rewritten (a new column)."""
        new = list(dict.fromkeys(c for row in rows for c in row if c not in self.header))
        self.rows.extend(rows)
        if new:
            at = self.header.index(TASK_ROWS)
            self.header[at:at] = new
            self.handle.close()
            write_atomic(self.path, table_text(self.header, self.rows))
            self.handle = open_append(self.path)
            return True
        fsync_write(self.handle, "".join(_line([row.get(c, "") for c in self.header]) for row in rows))
        return False


# ---- rows and tasks -----------------------------------------------------------------------


def id_cells(point: Mapping[str, Any], seed: int) -> dict[str, str]:
    """The cells naming a task in its rows: the parameters and the seed."""
    return {**{name: cell(value) for name, value in point.items()}, SEED: str(seed)}


def task_id(cells: Mapping[str, str], param_names: Sequence[str]) -> tuple[str, ...]:
    """The task a row belongs to: the cells of its parameters and its seed."""
    return tuple(cells[name] for name in param_names) + (cells[SEED],)


def task_index(sweep: Sweep) -> dict[tuple[str, ...], tuple[dict[str, Any], int]]:
    """Task identity (the cells of the parameters and the seed) -> ``(point, seed)``."""
    return {task_id(id_cells(point, seed), sweep.param_names): (point, seed) for point, seed in sweep.tasks()}


def _groups(rows: Iterable[Mapping[str, str]], param_names: Sequence[str]) -> dict[tuple[str, ...], list]:
    out: dict[tuple[str, ...], list] = {}
    for row in rows:
        out.setdefault(task_id(row, param_names), []).append(row)
    return out


def task_groups(table: Table, sweep: Sweep) -> dict[tuple[str, ...], list[dict[str, str]]]:
    """The rows of each stored task, by task identity, in table order."""
    return _groups(table.rows, sweep.param_names)


def outcome_rows(sweep: Sweep, point: Mapping[str, Any], seed: int, outcome: Mapping[str, Any]) -> list[dict[str, str]]:
    """The table rows of a task's outcome (``records``, ``error``, ``wall``, ``cpu``): one per
    record, or one error row. A record of a sweep with an index must hold every index column."""
    records = [] if outcome["error"] else list(outcome["records"])
    error = outcome["error"] or ("" if records else "ValueError: the task returned no record")
    if not error and sweep.index:
        missing = [c for r in records for c in sweep.index if c not in r]
        if missing:
            error = f"ValueError: a record lacks the index column {missing[0]!r}"
        elif len({tuple(cell(r[c]) for c in sweep.index) for r in records}) != len(records):
            error = "ValueError: two records of the task have the same index"
    if error:
        records = [{}]
    common = {TASK_ROWS: str(len(records)), WALL: cell(round(float(outcome["wall"]), 6)),
              CPU: cell(round(float(outcome["cpu"]), 6)), ERROR: error}
    return [{**id_cells(point, seed), **{k: cell(v) for k, v in record.items()}, **common} for record in records]


def typed_rows(table: Table, sweep: Sweep) -> list[dict[str, Any]]:
    """The rows as dicts of typed values; parameters are the grid's own values."""
    index = task_index(sweep)
    out = []
    for cells in table.rows:
        row: dict[str, Any] = {name: parse_cell(text) for name, text in cells.items()}
        if (task := index.get(task_id(cells, sweep.param_names))) is not None:
            row.update(task[0])
        row[ERROR] = cells[ERROR]
        out.append(row)
    return out
