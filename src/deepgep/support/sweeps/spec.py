"""What a sweep is: a task named by import path, a grid of parameter points, seeds, constants.

A :class:`Sweep` names the task by import path (``"package.module:function"``), the grid of
parameter points, the seeds, the constants shared by every task and the relative tolerance
within which a recomputed record counts as the stored one (see :mod:`.verify`).

Tasks and keys
    The tasks are every (grid point, seed), seed-major: all grid points of the first seed come
    first, so that an interrupted sweep already holds whole curves. The task function is called
    as ``task({**constants, **point}, seed)`` and returns a flat dict of scalars (``float``,
    ``int``, ``str`` without line breaks, ``bool``; numpy scalars are converted), or a list of
    such dicts that each hold the sweep's ``index`` columns (the long format). A task's key is
    the canonical JSON ``[point, seed]`` (sorted keys, no spaces), e.g.
    ``[{"alpha":0.5,"width":100},3]``; reports name tasks by it. A sweep's key (its table's
    name) is a digest of the parameters that determine its rows.

This module also holds what the rest of the package checks against: the errors, the names of
the columns every table has, and the checks of a column name and of a scalar cell value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgep.support.imports import import_callable
from deepgep.support.validation import check_count, check_real

__all__ = [
    "SweepError",
    "TableDamagedError",
    "Sweep",
    "KEY_DIGITS",
    "SEED",
    "TASK_ROWS",
    "WALL",
    "CPU",
    "ERROR",
    "RESERVED",
    "checked",
    "check_column_name",
    "check_scalar",
    "json_copy",
    "grid_product",
    "task_key",
    "resolve_task",
]

#: Columns every table has besides the parameters, the index and the record: the task's seed,
#: the number of rows the task wrote (the same on each of them: a task cut short is seen), its
#: wall and CPU seconds (the same on each of its rows) and its error text.
SEED, TASK_ROWS, WALL, CPU, ERROR = "seed", "task_rows", "wall_time", "cpu_time", "error"
RESERVED = (SEED, TASK_ROWS, WALL, CPU, ERROR)
TASK_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
#: Hex digits of a sweep's key in its file names (48 bits: a collision among a chapter's few
#: dozen tables is out of reach).
KEY_DIGITS = 12
SCALARS = (bool, int, float, str)


class SweepError(ValueError):
    """A sweep, a grid, a task path or a table that cannot be used."""


class TableDamagedError(SweepError):
    """A recorded table or its metadata is missing, unreadable, incomplete or altered: the
    results are damaged (the command line exits with its own status)."""


def checked(check: Callable[..., Any], name: str, value: Any, *args: Any) -> Any:
    """``check(name, value, *args)``, a check of :mod:`deepgep.support.validation`, whose
    ``ValueError`` is raised again as a :class:`SweepError` with the same message."""
    try:
        return check(name, value, *args)
    except ValueError as exc:
        raise SweepError(str(exc)) from None


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A grid of independent tasks ``task({**constants, **point}, seed) -> record(s)``.

    ``name`` names the experiment of the chapter (``"ridge"``); ``grid`` is a sequence of dicts
    with the same keys and JSON-scalar values (bool, int, finite float, str); ``seeds`` distinct
    ints; ``constants`` JSON values passed to every task. A task returns one record (a flat dict
    of scalars) or, when ``index`` names columns, a list of records each holding those columns
    (the long format: one row per measured point of the task, e.g. ``index=("depth",
    "alpha")``). ``tolerance`` is the relative tolerance of :func:`verify_table` (0.0: bit
    for bit), ``tolerances`` overrides it per record field; both come from the code that
    defines the sweep (the reason is in the task's docstring), never from a stored file.

    The sweep's :attr:`key` is a digest of what determines its rows: the name, the task's
    function name, the grid, the seeds, the constants and the index. Its table is
    ``<results_dir>/ch<N>/<name>-<key>.csv``: a sweep with other parameters has another table,
    so stored rows are never refused for, nor mixed with, other parameters.
    """

    chapter: int
    name: str
    task: str
    grid: Sequence[Mapping[str, Any]]
    seeds: Sequence[int]
    constants: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    index: Sequence[str] = ()
    tolerance: float = 0.0
    tolerances: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "chapter", checked(check_count, "chapter", self.chapter, 0))
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise SweepError(f"name must be a name of letters, digits, '_' and '.', got {self.name!r}")
        if not isinstance(self.task, str) or not TASK_PATH.match(self.task):
            raise SweepError(f"task must be an import path 'package.module:function', got {self.task!r}")
        object.__setattr__(self, "grid", _check_grid(self.grid))
        object.__setattr__(self, "seeds", _check_seeds(self.seeds))
        object.__setattr__(self, "constants", _check_constants(self.constants, self.param_names))
        index = tuple(self.index) if not isinstance(self.index, str) else (self.index,)
        for column in index:
            check_column_name("index column", column, (*RESERVED, *self.param_names))
        if len(set(index)) != len(index):
            raise SweepError(f"index has duplicate columns: {index}")
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "tolerance", checked(check_real, "tolerance", self.tolerance))
        if not isinstance(self.tolerances, Mapping):
            raise SweepError("tolerances must be a dict field -> relative tolerance")
        object.__setattr__(self, "tolerances", {str(k): checked(check_real, f"tolerance of {k}", v)
                                                for k, v in self.tolerances.items()})

    @property
    def param_names(self) -> tuple[str, ...]:
        """The grid's parameter names (the first columns of the table)."""
        return tuple(self.grid[0])

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The columns that name a row: the parameters, the seed and the index."""
        return (*self.param_names, SEED, *self.index)

    @property
    def n_tasks(self) -> int:
        return len(self.grid) * len(self.seeds)

    def tasks(self) -> list[tuple[dict[str, Any], int]]:
        """Every ``(point, seed)``, seed-major."""
        return [(dict(point), seed) for seed in self.seeds for point in self.grid]

    def tolerance_of(self, field: str) -> float:
        """The relative tolerance of one record field."""
        return self.tolerances.get(field, self.tolerance)

    def identity(self) -> dict[str, Any]:
        """What determines the rows (the digest's input)."""
        return {"name": self.name, "function": self.task.split(":")[1], "grid": [dict(p) for p in self.grid],
                "seeds": list(self.seeds), "constants": dict(self.constants), "index": list(self.index)}

    @property
    def key(self) -> str:
        """The first 12 hex digits of the SHA-256 of :meth:`identity` as canonical JSON."""
        text = json.dumps(json_copy(self.identity()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf8")).hexdigest()[:KEY_DIGITS]

    def stem(self, results_dir: str | os.PathLike = "results") -> Path:
        """``<results_dir>/ch<N>/<name>-<key>`` (add ``.csv`` or ``.meta.json``)."""
        return Path(results_dir) / f"ch{self.chapter}" / f"{self.name}-{self.key}"

    def csv_path(self, results_dir: str | os.PathLike = "results") -> Path:
        return self.stem(results_dir).with_suffix(".csv")

    def meta_path(self, results_dir: str | os.PathLike = "results") -> Path:
        return self.stem(results_dir).with_suffix(".meta.json")

    def description(self) -> dict[str, Any]:
        """The sweep as JSON values (the first keys of the metadata)."""
        return {
            "chapter": self.chapter,
            "name": self.name,
            "key": self.key,
            "task": self.task,
            "grid": [dict(point) for point in self.grid],
            "seeds": list(self.seeds),
            "constants": dict(self.constants),
            "index": list(self.index),
            "tolerance": self.tolerance,
            "tolerances": dict(self.tolerances),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Sweep:
        """The sweep a metadata file describes (its tolerances are the file's: for information
        only; :func:`verify_table` takes them from the code)."""
        try:
            fields = {field.name: meta[field.name] for field in dataclasses.fields(cls)}
        except KeyError as exc:
            raise TableDamagedError(f"metadata lacks the key {exc.args[0]!r}") from None
        return cls(**fields)


def check_column_name(what: str, name: Any, taken: Sequence[str]) -> str:
    """A column name: a non-empty string on one line, not one of ``taken``."""
    if not isinstance(name, str) or not name or "\n" in name or "\r" in name or name in taken:
        raise SweepError(f"{what} {name!r} is not allowed (empty, more than one line, or taken: {', '.join(taken)})")
    return name


def check_scalar(where: str, value: Any, *, finite: bool) -> bool | int | float | str:
    """A Python bool, int, float or str on one line (numpy scalars converted)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, SCALARS):
        raise SweepError(f"{where} must be a bool, int, float or str, got {type(value).__name__}")
    if finite and isinstance(value, float) and not math.isfinite(value):
        raise SweepError(f"{where} must be finite, got {value!r}")
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise SweepError(f"{where} must not contain a line break")
    return value


def _check_sequence(what: str, values: Any, of: str) -> tuple:
    """``values`` as a non-empty tuple (not a string or a dict)."""
    if isinstance(values, (str, Mapping)) or not isinstance(values, Iterable):
        raise SweepError(f"{what} must be a sequence of {of}")
    clean = tuple(values)
    if not clean:
        raise SweepError(f"{what} is empty")
    return clean


def _check_grid(grid: Any) -> tuple[dict[str, Any], ...]:
    points = _check_sequence("grid", grid, "parameter dicts")
    names = None
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise SweepError(f"grid point {i} is {type(point).__name__}, not a dict")
        if names is None:
            names = [check_column_name("parameter", name, RESERVED) for name in point]
        elif set(point) != set(names):
            raise SweepError(f"grid point {i} has parameters {sorted(point)}, grid point 0 {sorted(names)}")
    clean = tuple({name: check_scalar(f"grid point {i}, parameter {name!r}", point[name], finite=True)
                   for name in names} for i, point in enumerate(points))
    keys = [task_key(point, 0) for point in clean]
    if len(set(keys)) != len(keys):
        raise SweepError("grid has duplicate points")
    return clean


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    """Distinct ints (Python or numpy; not bools, not integral floats: a seed names a task)."""
    clean = _check_sequence("seeds", seeds, "ints")
    for seed in clean:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise SweepError(f"seed {seed!r} is not an int")
    clean = tuple(int(seed) for seed in clean)
    if len(set(clean)) != len(clean):
        raise SweepError("seeds has duplicates")
    return clean


def _check_constants(constants: Any, param_names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(constants, Mapping):
        raise SweepError("constants must be a dict")
    clean = dict(constants)
    for name in clean:
        if not isinstance(name, str) or name in RESERVED or name in param_names:
            raise SweepError(f"constant {name!r} is reserved or is also a grid parameter")
    try:
        json.dumps(clean, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"constants must be JSON values: {exc}") from None
    return json_copy(clean)


def json_copy(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value))


def grid_product(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """The full product grid, last axis fastest: ``grid_product(a=[1, 2], b=["x"])``."""
    names = list(axes)
    values = [list(axis) for axis in axes.values()]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def task_key(params: Mapping[str, Any], seed: int) -> str:
    """The canonical JSON ``[params, seed]`` naming a task."""
    return json.dumps([dict(params), seed], sort_keys=True, separators=(",", ":"))


def resolve_task(path: str) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """Import the function named by ``"package.module:function"`` (clear error otherwise)."""
    if not isinstance(path, str) or not TASK_PATH.match(path):
        raise SweepError(f"task must be an import path 'package.module:function', got {path!r}")
    try:
        return import_callable(path, f"task {path!r}")
    except ValueError as exc:
        raise SweepError(str(exc)) from None
