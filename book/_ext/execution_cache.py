"""Reuse the notebooks' executions across builds of the book; forget them when the library changes.

With ``execute_notebooks: cache`` (``_config.yml``) MyST-NB keeps every successful execution in
jupyter-cache (``_build/.jupyter_cache``), keyed by the notebook's code cells and their
metadata: an unchanged chapter is not executed again, an edited one is. That key knows nothing
of the code the cells import, so a change of ``deepgep`` would leave outputs of the old library
in the book. This extension closes the gap. Before any page is read it hashes the environment
the kernel runs in -- every file of the installed ``deepgep`` package (``src/deepgep`` for the
editable install of ``make``), ``pyproject.toml`` and the installed distributions with their
versions -- and compares the digest with the one stored in the cache folder
(``library.sha256``). When they differ (or there is none), it empties the cache, stores the new
digest and makes Sphinx re-read every page, so that every chapter runs again.

``tests/conftest.py`` uses :func:`library_hash`, :func:`sync` and :func:`store` to put a notebook
in the same cache after nbval has executed it and reproduced every stored output; README.md
("Building the book: execution cache") says why that is sound.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from importlib import metadata
from pathlib import Path

__version__ = "1.0"

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "deepgep"
#: The file in the cache folder holding the digest of the library the cached outputs come from.
STAMP = "library.sha256"


def library_files(package: str = PACKAGE) -> list[Path]:
    """Every file of the installed ``package`` (compiled caches excluded), sorted."""
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed in this environment")
    files = []
    for location in spec.submodule_search_locations:
        files += [p for p in Path(location).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return sorted(files)


def library_hash(package: str = PACKAGE, project: Path = ROOT / "pyproject.toml") -> str:
    """sha256 over the package's files (names and contents), ``project`` and the installed
    distributions (name and version): any change of the code the notebooks import changes it."""
    digest = hashlib.sha256()
    files = library_files(package)
    base = Path(importlib.util.find_spec(package).submodule_search_locations[0]).parent
    for path in files:
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        digest.update(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    digest.update(b"pyproject.toml\0" + project.read_bytes() + b"\n")
    installed = sorted(f"{d.metadata['Name']}=={d.version}".lower() for d in metadata.distributions()
                       if d.metadata["Name"])
    digest.update("\n".join(installed).encode())
    return digest.hexdigest()


def sync(cache: Path, digest: str) -> bool:
    """Empty ``cache`` unless its outputs come from the library with ``digest``; True if emptied."""
    stamp = cache / STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf8").strip() == digest:
        return False
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    stamp.write_text(digest + "\n", encoding="utf8")
    return True


def store(cache: Path, notebook, uri: str, seconds: float | None = None) -> None:
    """Put an executed ``notebook`` (an nbformat node, outputs included) in the cache, under the
    key MyST-NB looks up: the hash of its code cells."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    get_cache(str(cache)).cache_notebook_bundle(
        CacheBundleIn(notebook, uri, data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True)


def default_cache(outdir: Path) -> Path:
    """MyST-NB's cache folder for a build into ``outdir`` when ``execute.cache`` is empty."""
    return Path(outdir).parent / ".jupyter_cache"


# ---- the Sphinx extension ---------------------------------------------------------------------


def _forget_stale_executions(app) -> None:
    app.deepgep_cache_emptied = False
    if getattr(app.config, "nb_execution_mode", None) != "cache":
        return
    configured = app.config.nb_execution_cache_path
    cache = Path(configured).resolve() if configured else default_cache(Path(app.outdir))
    if sync(cache, library_hash()):
        app.deepgep_cache_emptied = True
        from sphinx.util import logging

        logging.getLogger(__name__).info(
            f"execution cache {cache}: no outputs of the installed {PACKAGE} and pyproject.toml "
            "(changed, or first build); emptied, every notebook is executed")


def _reread_everything(app, env, added, changed, removed) -> list[str]:
    """After the cache was emptied, an incremental build (without ``--all``) must still re-read
    the unchanged notebooks, or their pages keep the outputs of the old library."""
    return sorted(env.found_docs) if getattr(app, "deepgep_cache_emptied", False) else []


def setup(app):
    app.connect("builder-inited", _forget_stale_executions)
    app.connect("env-get-outdated", _reread_everything)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
