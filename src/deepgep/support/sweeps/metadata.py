"""What the metadata file says: the sweep, the package, the machine, the run sessions, the totals.

The metadata (``<experiment>-<preset>.meta.json``, written as :mod:`.files` says) holds the
sweep (chapter, experiment, preset, task, grid, seeds, constants, tolerance), the package
version, the git commit of the package's source tree and whether tracked files were modified,
the machine (platform, CPU model, cores, memory, Python), the scheduler and worker count of the
latest run, one entry per run session (start and end in ISO UTC, rows added, errors, CPU and
wall seconds, scheduler, workers, version, commit), and the totals: CPU seconds over all
sessions, rows, error rows, tasks, and ``complete`` (every task stored without error).

It is rewritten at the start and end of a session and at most every ``META_FLUSH_SECONDS`` in
between; a session killed before its end keeps ``"end": null``.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from deepgep.support.sweeps.files import write_meta
from deepgep.support.sweeps.schedulers import Backend, usable_cores
from deepgep.support.sweeps.spec import Sweep, json_copy
from deepgep.support.sweeps.table import Table, table_counts

__all__ = ["META_FLUSH_SECONDS", "differences", "new_meta", "refresh_counts", "Session"]

#: Longest interval between two writes of the metadata while a sweep runs.
META_FLUSH_SECONDS = 10.0
#: Seconds allowed to the git queries describing the source tree.
GIT_SECONDS = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _package_version() -> str | None:
    try:
        return metadata.version("deepgep")
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any] | None:
    """The commit of the package's source tree and whether tracked files differ from it."""
    where = str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=GIT_SECONDS, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=GIT_SECONDS, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


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
    for field in ("task", "grid", "seeds", "constants"):
        stored = meta.get(field)
        if stored != now[field]:
            if isinstance(stored, list) and isinstance(now[field], list):
                out.append(f"{field} (stored {len(stored)} entries, now {len(now[field])}, not the same)")
            else:
                out.append(f"{field} (stored {stored!r}, now {now[field]!r})")
    return out


def new_meta(sweep: Sweep, meta: dict | None, backend: Backend) -> dict[str, Any]:
    """The metadata of a new session: the sweep, the sessions so far, this run's setting."""
    return {
        **sweep.description(),
        "sessions": list((meta or {}).get("sessions", [])),
        "package_version": _package_version(),
        "git": _git(),
        "machine": _machine(),
        "scheduler": backend.label,
        "workers": backend.workers,
    }


def refresh_counts(sweep: Sweep, meta: dict[str, Any], table: Table, path: Path) -> None:
    """Bring the metadata's totals up to date (a run killed before its last metadata write)."""
    counts = table_counts(sweep, table)
    if any(meta.get(name) != value for name, value in counts.items()):
        write_meta(path, {**meta, **counts})


class Session:
    """The running session's entry in the metadata, written at most every META_FLUSH_SECONDS."""

    def __init__(self, sweep: Sweep, path: Path, meta: dict[str, Any]) -> None:
        self.sweep, self.path, self.meta = sweep, path, meta
        self.entry = {
            "start": _now(), "end": None, "rows_added": 0, "errors": 0, "cpu_seconds": 0.0,
            "wall_seconds": 0.0, "scheduler": meta["scheduler"], "workers": meta["workers"],
            "package_version": meta["package_version"],
            "commit": (meta["git"] or {}).get("commit"),
        }
        meta["sessions"].append(self.entry)
        self.started, self.flushed = time.perf_counter(), -math.inf

    def add(self, outcome: Mapping[str, Any]) -> None:
        self.entry["rows_added"] += 1
        self.entry["errors"] += bool(outcome["error"])
        self.entry["cpu_seconds"] = round(self.entry["cpu_seconds"] + outcome["cpu"], 6)

    def write(self, table: Table, *, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self.flushed < META_FLUSH_SECONDS:
            return
        self.entry["wall_seconds"] = round(now - self.started, 3)
        if final:
            self.entry["end"] = _now()
        self.meta["cpu_seconds"] = round(sum(s["cpu_seconds"] for s in self.meta["sessions"]), 6)
        self.meta.update(table_counts(self.sweep, table))
        write_meta(self.path, self.meta)
        self.flushed = now
