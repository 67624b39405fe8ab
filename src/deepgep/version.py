"""The version of deepgep, :data:`VERSION` (also ``deepgep.__version__`` and ``deepgep --version``).

It is the version of the installed distribution (``importlib.metadata``), so that a wheel, an
editable install and ``pip show deepgep`` agree. A source tree that is on ``sys.path`` without
being installed (``PYTHONPATH=src``) has no distribution metadata: the version is then read from
the ``pyproject.toml`` two folders above this file, and is ``0+unknown`` if there is none.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "VERSION", "GIT_SECONDS", "source_tree_version", "source_state"]

#: The name of the distribution on the package index (``pip install deepgep``).
DISTRIBUTION = "deepgep"

#: The version reported when neither the distribution nor a source tree's pyproject.toml is found
#: (a PEP 440 local version, so that it still compares as a version).
UNKNOWN_VERSION = "0+unknown"


def source_tree_version(pyproject: Path) -> str | None:
    """The ``[project] version`` of ``pyproject`` if that file exists and describes deepgep,
    else ``None``."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"]


def _find_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        here = Path(__file__).resolve()
        return source_tree_version(here.parents[2] / "pyproject.toml") or UNKNOWN_VERSION


#: Seconds allowed to ``git`` when the commit of the source tree is read.
GIT_SECONDS = 10.0


#: The folder of the recorded tables at the top of the checkout (excluded from "dirty").
RESULTS_FOLDER = "results"


def source_state(where: str | os.PathLike | None = None) -> tuple[str | None, bool]:
    """``(commit, dirty)`` of the git checkout this deepgep is imported from: ``(None, False)``
    for an installed wheel (no checkout) or without git; ``dirty`` if tracked files outside the
    recorded tables (``results/``: data, not code) differ from the commit, so that verifying one
    table and stamping its metadata does not make the code of the next one "dirty". The one home
    of this question (the recorded tables' metadata and the cluster's worker check both ask it)."""
    where = str(where if where is not None else Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=GIT_SECONDS, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no", "--",
                                 ":(top)", f":(top,exclude){RESULTS_FOLDER}"],
                                capture_output=True, text=True, timeout=GIT_SECONDS, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status.strip())


#: The version of this deepgep (PEP 440 string, e.g. ``"0.1.0"``).
VERSION: str = _find_version()
