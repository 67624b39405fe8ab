"""Every stored table of a results folder, summarised from its metadata and its rows."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from deepgep.support.sweeps.files import locate, read_meta
from deepgep.support.sweeps.metadata import table_counts, table_cpu_seconds
from deepgep.support.sweeps.spec import Sweep, SweepError, TableDamagedError
from deepgep.support.sweeps.table import read_table

__all__ = ["list_tables"]


def _summary(meta_path: Path, results_dir: Path) -> dict[str, Any]:
    meta = read_meta(meta_path)
    if not isinstance(meta, dict):
        raise TableDamagedError(f"{meta_path}: the metadata is not a JSON object")
    sweep = Sweep.from_metadata(meta)
    csv_path, _ = locate(meta_path, results_dir)
    if not csv_path.exists():
        raise TableDamagedError(f"{csv_path}: the table is missing (its metadata {meta_path.name} exists)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = read_table(csv_path)
    counts = table_counts(sweep, table)
    cpu = table_cpu_seconds(table, sweep) + float(meta.get("retried_cpu_seconds", 0.0))
    return {
        "chapter": sweep.chapter,
        "name": sweep.name,
        "key": sweep.key,
        "rows": counts["rows"],
        "tasks_stored": counts["tasks_stored"],
        "error_tasks": counts["error_tasks"],
        "tasks": counts["tasks"],
        "complete": counts["complete"],
        "cpu_hours": round(cpu / 3600, 6),
        "experiment": (meta.get("experiment") or {}).get("class"),
        "path": str(csv_path),
    }


def list_tables(results_dir: str | os.PathLike = "results") -> list[dict[str, Any]]:
    """One dict per stored sweep under ``results_dir``: chapter, name, key, rows, tasks_stored,
    error_tasks, tasks, complete, cpu_hours (the CPU time of every stored task, killed sessions
    included, plus retried error rows), experiment (the class that defined it), path; sorted by
    chapter and name. A missing folder, or a table that cannot be read, raises
    :class:`SweepError` / :class:`TableDamagedError` naming it."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise SweepError(f"no results folder {folder}")
    out = [_summary(meta_path, folder) for meta_path in sorted(folder.glob("ch*/*.meta.json"))]
    return sorted(out, key=lambda t: (t["chapter"], t["name"], t["key"]))
