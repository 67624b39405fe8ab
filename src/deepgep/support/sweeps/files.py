"""The files of a sweep on disk: where they are, atomic writes, the lock, the metadata's JSON.

``<results_dir>/ch<N>/<experiment>-<key>.csv`` holds the rows (:mod:`.table`) and
``<experiment>-<key>.meta.json`` the description of the sweep and of its runs
(:mod:`.metadata`).

Atomic replace
    A file is replaced by writing a temporary file of this process,
    ``<name>.<pid>.<8 hex digits>.tmp`` (created exclusively: two writers never share one),
    fsync-ing it, renaming it onto ``<name>`` with :func:`os.replace` and fsync-ing the folder.
    A kill leaves at most a ``.tmp`` behind and ``<name>`` whole, old or new; the next holder of
    the lock removes such leftovers.
The lock
    ``<experiment>-<key>.lock`` keeps two runs of one sweep apart: an exclusive ``flock`` held
    for the whole run. The file is never removed (removing it on release let two processes
    hold "the" lock at once: one on the unlinked file, one on its replacement); it is empty but
    for the pid of its last holder, and ignored by git. The OS drops the lock when its holder
    dies, so a killed run never blocks the next one.
Errors
    Every failure to create, write or rename a file (a read-only folder, a full disk, a missing
    permission) is one :class:`SweepError` line naming the file and the reason, never a
    traceback.

The metadata is JSON with sorted keys, indented, with flat lists and dicts on one line (one
grid point per line).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from deepgep.support.sweeps.spec import Sweep, SweepError, TableDamagedError

__all__ = [
    "locate", "io_error", "fsync_write", "open_append", "write_atomic", "temporary_name", "locked",
    "json_text", "read_meta", "write_meta",
]

#: What to do about the commonest reasons a results file cannot be written.
_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space and run again (the stored rows are kept)",
    errno.EDQUOT: "the disk quota is exhausted: free some space and run again (the stored rows are kept)",
    errno.EACCES: "permission denied: the results folder must be writable (or pass another results folder)",
    errno.EPERM: "operation not permitted: the results folder must be writable (or pass another results folder)",
    errno.EROFS: "the file system is read-only: pass a results folder on a writable one",
}


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


def io_error(action: str, path: os.PathLike | str, exc: OSError) -> SweepError:
    """One line for an ``OSError`` on a results file: the action, the file and the reason."""
    reason = None if action == "read" else _ADVICE.get(exc.errno)
    reason = reason or (exc.strerror or type(exc).__name__).lower()
    return SweepError(f"cannot {action} {path}: {reason}")


def fsync_write(handle: TextIO, text: str) -> None:
    """Write ``text`` with one ``write``, flush it and fsync it (a :class:`SweepError` line if
    the disk refuses: a full disk leaves at most a line cut short, which a resume drops)."""
    try:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    except OSError as exc:
        raise io_error("write", getattr(handle, "name", "a results file"), exc) from None


def open_append(path: Path) -> TextIO:
    """``path`` opened to append text (UTF-8, no newline translation); a :class:`SweepError`
    line if it cannot be."""
    try:
        return open(path, "a", encoding="utf8", newline="")
    except OSError as exc:
        raise io_error("open", path, exc) from None


def temporary_name(path: Path) -> Path:
    """A temporary file of this process beside ``path``: ``<name>.<pid>.<8 hex>.tmp``."""
    return path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error("create the folder", folder, exc) from None


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the OS lets a folder be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file of this process, fsync it and rename it onto ``path``.

    On any failure the temporary file is removed, ``path`` is left as it was and a
    :class:`SweepError` names the file and the reason.
    """
    _mkdir(path.parent)
    tmp = temporary_name(path)
    try:
        with open(tmp, "x", encoding="utf8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise io_error("write", path, exc) from None
    _fsync_folder(path.parent)


def _leftovers(stem: Path) -> list[Path]:
    """Temporary files of the sweep ``stem`` (``<stem>.<suffix>[.<pid>.<hex>].tmp``)."""
    pattern = re.compile(re.escape(stem.name) + r"\.[A-Za-z.]+(\.\d+\.[0-9a-f]+)?\.tmp")
    return [p for p in stem.parent.glob(f"{stem.name}.*.tmp") if pattern.fullmatch(p.name)]


@contextlib.contextmanager
def locked(stem: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<stem>.lock`` for the block (the file is kept).

    Raises :class:`SweepError` at once if another process holds it, or if the lock file cannot
    be created. The holder removes the temporary files that killed runs left beside the sweep.
    """
    lock = stem.with_suffix(".lock")
    _mkdir(lock.parent)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise io_error("open the lock file", lock, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            by = f" (by process {holder})" if holder.isdigit() else ""
            raise SweepError(f"{lock} is held{by}: another process is running this sweep") from None
        with contextlib.suppress(OSError):  # who holds it, for the message above; not essential
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        for tmp in _leftovers(stem):
            with contextlib.suppress(OSError):
                tmp.unlink()
        yield
    finally:
        os.close(fd)  # releases the flock; the file stays


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
    """The metadata stored at ``path`` (``None`` if there is no file); metadata that is not
    JSON is damage (:class:`TableDamagedError`)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TableDamagedError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise io_error("read", path, exc) from None


def write_meta(path: Path, meta: Mapping[str, Any]) -> None:
    write_atomic(path, json_text(meta) + "\n")
