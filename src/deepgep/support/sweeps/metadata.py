"""What the metadata file says: the sweep, the package, the machine, the run sessions, the totals.

The metadata (``<name>-<key>.meta.json``, written as :mod:`.files` says) holds the sweep
(chapter, name, key, task, grid, seeds, constants, index, tolerances), the experiment that
defined it (its class and parameters, when a chapter ran it), the package version, the git
commit of the package's source tree and whether tracked files were modified, the machine
(platform, CPU model, cores, memory, Python), the scheduler and worker count of the latest run,
the recorded verifications (``verifications``: the clean commit that recomputed a sample of it,
the tasks checked, the mismatches), one entry per run session (start and end in ISO UTC, tasks
added, errors, CPU and wall seconds,
scheduler, workers, version, commit), and the totals: ``cpu_seconds`` (the CPU time of every
task stored in the table, read from its rows, plus that of the error rows later retried: a
session killed before its last metadata write is counted in full), rows, tasks stored, error
tasks, ``complete`` (every task stored without error) and ``sha256``, the digest of the CSV's
bytes, which :mod:`.integrity` compares whenever the table is read as evidence.

It is rewritten at the start and end of a session and at most every ``META_FLUSH_SECONDS`` in
between; a session stopped by SIGTERM or Ctrl-C writes its end; one killed outright keeps
``"end": null`` (its rows, and their CPU time, are in the table).
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deepgep.support.sweeps.files import write_meta
from deepgep.support.sweeps.schedulers import Backend, usable_cores
from deepgep.support.sweeps.spec import CPU, ERROR, Sweep, json_copy
from deepgep.support.sweeps.table import Table, task_groups, task_index
from deepgep.version import VERSION, source_state

__all__ = ["META_FLUSH_SECONDS", "differences", "file_digest", "table_counts", "table_cpu_seconds", "new_meta",
           "totals", "refresh_counts", "Session"]

#: Longest interval between two writes of the metadata while a sweep runs.
META_FLUSH_SECONDS = 10.0


def table_counts(sweep: Sweep, table: Table) -> dict[str, Any]:
    """Rows in the table, tasks stored without error, error tasks, tasks of the sweep, and
    whether every task of the sweep is stored without error."""
    groups = task_groups(table, sweep)
    errors = sum(1 for rows in groups.values() if rows[0][ERROR])
    done = {tid for tid, rows in groups.items() if not rows[0][ERROR]}
    return {"rows": len(table.rows), "tasks_stored": len(done), "error_tasks": errors, "tasks": sweep.n_tasks,
            "complete": len(done & set(task_index(sweep))) == sweep.n_tasks}


def table_cpu_seconds(table: Table, sweep: Sweep) -> float:
    """The CPU seconds of the tasks stored in the table (each task's rows repeat its time)."""
    return sum(float(rows[0][CPU] or 0.0) for rows in task_groups(table, sweep).values())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _git() -> dict[str, Any] | None:
    """The commit of the package's source tree and whether tracked files differ from it."""
    commit, dirty = source_state()
    return None if commit is None else {"commit": commit, "dirty": dirty}


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, OSError, ValueError):
        return None


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
    }


def differences(sweep: Sweep, meta: Mapping[str, Any]) -> list[str]:
    """The parts of the sweep that the stored metadata describes otherwise."""
    now = json_copy(sweep.description())
    out = []
    for field in ("key", "grid", "seeds", "constants", "index"):
        stored = meta.get(field)
        if stored != now[field]:
            if isinstance(stored, list) and isinstance(now[field], list):
                out.append(f"{field} (stored {len(stored)} entries, now {len(now[field])}, not the same)")
            else:
                out.append(f"{field} (stored {stored!r}, now {now[field]!r})")
    return out


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": digest}`` of a file (``None`` values if there is none)."""
    if not path.exists():
        return {"bytes": None, "sha256": None}
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def new_meta(sweep: Sweep, meta: dict | None, backend: Backend,
             about: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of a new session: the sweep, the experiment that defined it (``about``),
    the sessions so far, this run's setting."""
    old = meta or {}
    return {
        **sweep.description(),
        "experiment": json_copy(about) if about is not None else old.get("experiment"),
        "retried_cpu_seconds": old.get("retried_cpu_seconds", 0.0),
        **{key: old[key] for key in ("converted_from", "verifications", "recorded_from") if key in old},
        "sessions": list(old.get("sessions", [])),
        "package_version": VERSION,
        "git": _git(),
        "machine": _machine(),
        "scheduler": backend.label,
        "workers": backend.workers,
    }


def totals(sweep: Sweep, meta: Mapping[str, Any], table: Table, csv_path: Path) -> dict[str, Any]:
    """The totals of the metadata, computed from the table itself (:func:`table_counts`, the
    CPU seconds of its tasks plus those retried, and the digest of the CSV)."""
    return {**table_counts(sweep, table),
            "cpu_seconds": round(table_cpu_seconds(table, sweep) + float(meta.get("retried_cpu_seconds", 0.0)), 6),
            **file_digest(csv_path)}


def refresh_counts(sweep: Sweep, meta: dict[str, Any], table: Table, csv_path: Path, path: Path) -> None:
    """Bring the metadata's totals up to date (a run killed before its last metadata write)."""
    now = totals(sweep, meta, table, csv_path)
    if any(meta.get(name) != value for name, value in now.items()):
        write_meta(path, {**meta, **now})


class Session:
    """The running session's entry in the metadata, written at most every META_FLUSH_SECONDS."""

    def __init__(self, sweep: Sweep, path: Path, meta: dict[str, Any], csv_path: Path) -> None:
        self.sweep, self.path, self.meta, self.csv_path = sweep, path, meta, csv_path
        self.entry = {
            "start": _now(), "end": None, "tasks_added": 0, "errors": 0, "cpu_seconds": 0.0,
            "wall_seconds": 0.0, "scheduler": meta["scheduler"], "workers": meta["workers"],
            "package_version": meta["package_version"],
            "commit": (meta["git"] or {}).get("commit"),
        }
        meta["sessions"].append(self.entry)
        self.started, self.flushed = time.perf_counter(), -math.inf

    def add(self, outcome: Mapping[str, Any]) -> None:
        self.entry["tasks_added"] += 1
        self.entry["errors"] += bool(outcome["error"])
        self.entry["cpu_seconds"] = round(self.entry["cpu_seconds"] + outcome["cpu"], 6)

    def write(self, table: Table, *, final: bool = False, force: bool = False) -> None:
        """Write the metadata (at most every META_FLUSH_SECONDS unless ``final`` or ``force``:
        after the table was rewritten, its digest must be stored at once)."""
        now = time.perf_counter()
        if not (final or force) and now - self.flushed < META_FLUSH_SECONDS:
            return
        self.entry["wall_seconds"] = round(now - self.started, 3)
        if final:
            self.entry["end"] = _now()
        self.meta.update(totals(self.sweep, self.meta, table, self.csv_path))
        write_meta(self.path, self.meta)
        self.flushed = now
