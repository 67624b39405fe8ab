"""The files of a sweep on disk: where they are, atomic writes, the lock, the metadata's JSON.

``<results_dir>/ch<N>/<experiment>-<preset>.csv`` holds the rows (:mod:`.table`) and
``<experiment>-<preset>.meta.json`` the description of the sweep and of its runs
(:mod:`.metadata`). A file is replaced by writing ``<name>.tmp``, fsync-ing it and renaming it
onto ``<name>`` (a kill leaves at most the ``.tmp`` behind); ``<experiment>-<preset>.lock``
(flock) keeps two runs of one sweep apart and is removed when the run ends (a killed run
leaves it behind, harmlessly).

The metadata is JSON with sorted keys, indented, with flat lists and dicts on one line (one
grid point per line).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from deepgep.support.sweeps.spec import Sweep, SweepError

__all__ = [
    "locate", "fsync_write", "write_atomic", "locked", "json_text", "read_meta", "write_meta",
]


def locate(target: Sweep | str | os.PathLike, results_dir: str | os.PathLike) -> tuple[Path, Path]:
    """The CSV and metadata paths of a sweep, of a ``.csv`` or of a ``.meta.json``."""
    if isinstance(target, Sweep):
        return target.csv_path(results_dir), target.meta_path(results_dir)
    path = Path(target)
    name = path.name
    if name.endswith(".meta.json"):
        stem = path.with_name(name[: -len(".meta.json")])
    elif name.endswith(".csv"):
        stem = path.with_name(name[: -len(".csv")])
    else:
        raise SweepError(f"{path} is neither a .csv table nor a .meta.json file")
    return stem.with_suffix(".csv"), stem.with_suffix(".meta.json")


def fsync_write(handle: Any, text: str) -> None:
    """Write ``text`` with one ``write``, flush it and fsync it."""
    handle.write(text)
    handle.flush()
    os.fsync(handle.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file, fsync it, and rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf8", newline="") as handle:
        fsync_write(handle, text)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(stem: Path) -> Iterator[None]:
    """An exclusive flock on ``<stem>.lock`` (removed afterwards)."""
    lock = stem.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w", encoding="utf8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"{lock} is held: another process is running this sweep") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def json_text(value: Any, level: int = 0) -> str:
    """Sorted, indented JSON with every container of scalars on one line."""
    containers = isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values())
    containers |= isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    if not containers:
        return json.dumps(value, sort_keys=True)
    pad, end = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {json_text(value[k], level + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    return "[\n" + ",\n".join(pad + json_text(v, level + 1) for v in value) + "\n" + end + "]"


def read_meta(path: Path) -> dict[str, Any] | None:
    """The metadata stored at ``path`` (``None`` if there is no file)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path} is not valid JSON ({exc})") from None


def write_meta(path: Path, meta: Mapping[str, Any]) -> None:
    write_atomic(path, json_text(meta) + "\n")
