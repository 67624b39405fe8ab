"""The version of deepgep, :data:`VERSION` (also ``deepgep.__version__`` and ``deepgep --version``).

It is the version of the installed distribution (``importlib.metadata``), so that a wheel, an
editable install and ``pip show deepgep`` agree. A source tree that is on ``sys.path`` without
being installed (``PYTHONPATH=src``) has no distribution metadata: the version is then read from
the ``pyproject.toml`` two folders above this file, and is ``0+unknown`` if there is none.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "VERSION", "source_tree_version"]

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


#: The version of this deepgep (PEP 440 string, e.g. ``"0.1.0"``).
VERSION: str = _find_version()
