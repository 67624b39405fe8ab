"""Executing a chapter's notebook: with papermill into another file, or in place.

:func:`execute` runs a notebook with papermill, injecting ``parameters`` (cell names, e.g.
``{"PRESET": "fast", "GAIN": 1.5}``) after its ``parameters`` cell, into ``target``;
:func:`store` executes it as written and keeps the outputs in the notebook itself (what the
book shows and nbval compares). Both run the kernel in the notebook's folder, as the book build
does. papermill, nbformat and nbclient are book dependencies, imported when used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_NAME", "PARAMETERS_TAG", "execute", "store"]

#: The Jupyter kernel the book executes with (registered by the Makefile's bootstrap).
KERNEL_NAME = "python3"
#: The cell tag papermill looks for.
PARAMETERS_TAG = "parameters"


def _absolute_numba_cache() -> None:
    """The kernel runs in the notebook's folder: make a relative ``NUMBA_CACHE_DIR`` absolute."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if cache and not os.path.isabs(cache):
        os.environ["NUMBA_CACHE_DIR"] = os.path.abspath(cache)


def _book_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeError(f"executing a notebook needs {name} (pip install 'deepgep[book]')") from exc


def execute(notebook: str | Path, target: str | Path, parameters: Mapping[str, Any], *,
            progress: bool = True) -> Path:
    """Execute ``notebook`` with papermill into ``target`` with ``parameters`` injected. The
    notebook's own assertions run: a failing one raises papermill's
    ``PapermillExecutionError``. Returns ``target``."""
    papermill = _book_module("papermill")
    source, target = Path(notebook), Path(target)
    if not source.is_file():
        raise FileNotFoundError(f"no notebook {source}")
    if target.resolve() == source.resolve():
        raise ValueError(f"{target} would overwrite the notebook itself (use store)")
    target.parent.mkdir(parents=True, exist_ok=True)
    _absolute_numba_cache()
    papermill.execute_notebook(str(source), str(target), parameters=dict(parameters), kernel_name=KERNEL_NAME,
                               cwd=str(source.resolve().parent), progress_bar=progress)
    return target


def store(notebook: str | Path, *, timeout: int = 3000) -> Path:
    """Execute ``notebook`` as written in a fresh kernel in its own folder and keep the outputs
    IN the notebook, without timing or execution metadata (outputs must be reproducible)."""
    nbformat = _book_module("nbformat")
    client = _book_module("nbclient")
    path = Path(notebook)
    _absolute_numba_cache()
    nb = nbformat.read(path, as_version=4)
    client.NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, record_timing=False,
                          resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return path
