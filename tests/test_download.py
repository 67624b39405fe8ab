"""A notebook downloaded from the book runs outside the repository, on the recorded tables that
ship with the installed package (deepgep.support.recorded.book_results_dir).

The book offers every chapter's ``.ipynb`` (tests/test_browser.py checks the download link and
that the file is the chapter's notebook). Outside a clone there is no ``results/`` above the
notebook: the book's tables are then read from the package data ``deepgep/results/``
(``[tool.setuptools.package-data]`` in pyproject.toml; in the repository ``src/deepgep/results``
is a symlink to ``results/``, which setuptools follows).

The first tests run in seconds in the book's environment (an editable install, which reads the
tables through the symlink). The tests marked ``install`` build deepgep as pip does, from a copy
of what a clone holds: the sdist must hold the tables as files (not the symlink), and both the
wheel built from the sdist and the wheel built from the clone must hold every table, byte for
byte, and no sweep's ``.lock``; an editable install must see them. Then, as a reader does, the
chapter's executed notebook (the file the book's download button serves, ``_build/html/_sources``,
else ``notebooks/``) is copied into an empty folder and executed by a kernel of a new virtual
environment holding the wheel (its other packages are the book environment's, so that pip
installs nothing else): it must print what the book prints. Chapter 8 is the chapter executed
(its notebook reads recorded tables; about a minute, most of it numba compiling into an empty
cache). PyPI or pip's cache provides setuptools and wheel for the build (about 2 minutes in all).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

from deepgep.chapters import notebook_name
from deepgep.support import recorded
from deepgep.support.recorded import RESULTS_ENV, book_results_dir, book_root
from deepgep.support.sweeps import TableDamagedError

ROOT = Path(__file__).resolve().parents[1]
#: The chapter executed outside the repository (its notebook reads recorded tables).
CHAPTER = 8
#: The files of a recorded table (its CSV and its metadata); nothing else of results/ ships.
TABLE_FILES = ("*.csv", "*.meta.json")
#: Where the package holds its copy of the tables.
PACKAGED = "deepgep/results"
#: The build tools installed into the build environment (pyproject.toml's [build-system]).
BUILD_REQUIRES = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["build-system"]["requires"]
#: Seconds allowed to pip (setuptools and wheel from PyPI or its cache; builds; installs).
PIP_SECONDS = 600
#: Seconds allowed to the chapter's execution in the new environment (numba compiles afresh).
EXECUTE_SECONDS = 900


def recorded_tables(results: Path = ROOT / "results") -> list[str]:
    """The files of the recorded tables, relative to ``results``: ``ch8/outputs-....csv``."""
    return sorted(p.relative_to(results).as_posix() for p in results.glob("ch*/*")
                  if p.is_file() and any(fnmatch(p.name, pattern) for pattern in TABLE_FILES))


# ---- in the book's environment (seconds) ---------------------------------------------------


@pytest.fixture()
def outside(tmp_path, monkeypatch) -> Path:
    """A folder outside the repository as the current folder, without ``$DEEPGEP_RESULTS``."""
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    folder = tmp_path / "downloads"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert book_root(folder) is None, f"{folder} is inside a book's repository"
    return folder


def test_outside_a_clone_the_tables_come_with_the_package(outside):
    folder = book_results_dir()
    assert folder == Path(str(importlib.resources.files("deepgep"))) / "results"
    assert recorded_tables(folder) == recorded_tables()


def test_without_recorded_tables_the_error_says_what_to_do(outside, monkeypatch):
    monkeypatch.setattr(recorded, "_PACKAGED_RESULTS", "no-such-folder")
    with pytest.raises(TableDamagedError) as error:
        book_results_dir()
    message = str(error.value)
    assert "not inside the book's repository" in message and RESULTS_ENV in message
    assert "install deepgep from the book's repository" in message


def test_every_recorded_table_is_package_data():
    """pyproject.toml ships every file a notebook reads: the CSV and metadata of every table."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))
    patterns = config.get("tool", {}).get("setuptools", {}).get("package-data", {}).get("deepgep", [])
    tables = [f"results/{t}" for t in recorded_tables()]
    assert tables
    missing = [t for t in tables if not any(fnmatch(t, pattern) for pattern in patterns)]
    assert not missing, (f"recorded tables not shipped with the package (pyproject.toml "
                         f"[tool.setuptools.package-data] deepgep = {patterns}): {missing[:5]}")
    assert not any(fnmatch("results/ch1/t.lock", p) or fnmatch("results/ch1/t.csv.tmp", p) for p in patterns)
    link = ROOT / "src" / "deepgep" / "results"
    assert link.is_symlink() and link.resolve() == (ROOT / "results").resolve()


# ---- built as pip builds it ---------------------------------------------------------------


def _environment(tmp: Path) -> dict[str, str]:
    """This process's environment without what would leak the book's environment into a new one."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_CONSTRAINT", RESULTS_ENV)}
    env["NUMBA_CACHE_DIR"] = str(tmp / "numba_cache")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["JUPYTER_PATH"] = str(tmp / "jupyter")
    return env


def _run(argv: list, env: dict[str, str], cwd: Path, timeout: float = PIP_SECONDS) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clone(dest: Path) -> Path:
    """What a clone holds for a build: pyproject.toml, README.md, LICENSE, src/ with its symlink
    ``src/deepgep/results -> ../../results`` kept as a symlink, and results/ (a sweep's lock
    left beside the tables, which must not ship)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    for table in recorded_tables():
        (dest / "results" / table).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "results" / table, dest / "results" / table)
    (dest / "results" / "ch1" / "left-by-a-sweep.lock").write_text("", encoding="utf8")
    assert (dest / "src" / "deepgep" / "results").is_symlink()
    return dest


class Built:
    """deepgep built from a clone: an sdist, a wheel built from the sdist, a wheel built from the
    clone itself, in a build environment holding pyproject.toml's build requirements."""

    def __init__(self, root: Path):
        self.root = root
        self.env = _environment(root)
        self.clone = _clone(root / "clone")
        self.tools = root / "build-venv" / "bin"
        _run([sys.executable, "-m", "venv", root / "build-venv"], self.env, root)
        _run([self.tools / "python", "-m", "pip", "install", "--quiet", *BUILD_REQUIRES], self.env, root)
        dist = root / "dist"
        dist.mkdir()
        _run([self.tools / "python", "-c",
              f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"], self.env, self.clone)
        (self.sdist,) = dist.glob("*.tar.gz")
        pip_wheel = [self.tools / "python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        _run([*pip_wheel, "-w", root / "from-sdist", self.sdist], self.env, root)
        _run([*pip_wheel, "-w", root / "from-clone", self.clone], self.env, root)
        (self.wheel,) = (root / "from-sdist").glob("*.whl")
        (self.clone_wheel,) = (root / "from-clone").glob("*.whl")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("download"))


@pytest.mark.install
def test_the_sdist_holds_every_table_as_a_file(built):
    with tarfile.open(built.sdist) as sdist:
        members = [m for m in sdist.getmembers() if f"/src/{PACKAGED}/" in m.name]
        shipped = sorted(m.name.split(f"/src/{PACKAGED}/", 1)[1] for m in members if m.isfile())
        assert not [m.name for m in members if m.issym() or m.islnk()], "the sdist holds a link, not the tables"
        assert shipped == recorded_tables(), "the sdist's tables are not the recorded tables"
        link = [m for m in sdist.getmembers() if m.name.endswith(f"/src/{PACKAGED}")]
        assert all(m.isdir() for m in link), "src/deepgep/results is not a folder in the sdist"


@pytest.mark.install
@pytest.mark.parametrize("which", ["wheel", "clone_wheel"])
def test_the_wheel_holds_every_table_byte_for_byte(built, which):
    """Both wheels (from the sdist, as pip installs an sdist; from the clone, as ``pip install .``)."""
    with zipfile.ZipFile(getattr(built, which)) as wheel:
        names = [n for n in wheel.namelist() if n.startswith(PACKAGED + "/")]
        assert sorted(n[len(PACKAGED) + 1:] for n in names) == recorded_tables()
        for table in recorded_tables():
            assert wheel.read(f"{PACKAGED}/{table}") == (ROOT / "results" / table).read_bytes(), table


@pytest.mark.install
def test_an_editable_install_reads_the_tables_through_the_symlink(built):
    """``pip install -e .`` (into the build environment, once the wheels are built)."""
    _run([built.tools / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
          "-e", built.clone], built.env, built.root)
    found = _run([built.tools / "python", "-c", "import importlib.util; "
                  "print(importlib.util.find_spec('deepgep').submodule_search_locations[0])"], built.env, built.root)
    package = Path(found.strip())
    assert package == built.clone / "src" / "deepgep"
    assert recorded_tables(package / "results") == recorded_tables()


def _outputs(nb: Path) -> list[str]:
    """The text a notebook printed or displayed, cell by cell (figures left out), with the rules
    nbval applies before comparing (tests/nbval_sanitize.cfg: memory addresses)."""
    rules = re.findall(r"^regex: (.*)\nreplace: (.*)$",
                       (ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf8"), re.M)
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    texts = ["".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
             for c in cells if c["cell_type"] == "code" for out in c.get("outputs", [])
             if "image/png" not in out.get("data", {})]
    for regex, replace in rules:
        texts = [re.sub(regex, replace, text) for text in texts]
    return texts


def downloaded_notebook(chapter: int) -> Path:
    """The file the book's download button serves (the built book's copy), else the stored one."""
    name = notebook_name(chapter)
    served = ROOT / "_build" / "html" / "_sources" / "notebooks" / name
    return served if served.is_file() else ROOT / "notebooks" / name


#: Run in the new environment: execute the notebook as it was downloaded, in its folder.
_EXECUTE = """import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, kernel_name="python3", timeout=int(sys.argv[3]),
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[1])
"""


@pytest.mark.install
@pytest.mark.rerun
def test_a_downloaded_chapter_runs_in_an_empty_folder(built, tmp_path):
    """The wheel built from the sdist, in a new virtual environment whose other packages are the
    book environment's (a ``.pth`` line: a folder added that way has its own ``.pth`` files --
    the book's editable deepgep -- left unread); the notebook in an empty folder, no
    ``$DEEPGEP_RESULTS``, no clone above it."""
    venv = tmp_path / "reader"
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "venv", venv], built.env, tmp_path)
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", built.wheel], built.env, tmp_path)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     built.env, tmp_path).strip())
    (site / "book-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf8")
    spec = Path(built.env["JUPYTER_PATH"]) / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reader", "language": "python"}), encoding="utf8")
    where = _run([python, "-c", "import deepgep; print(deepgep.__file__)"], built.env, tmp_path).strip()
    assert Path(where).is_relative_to(site), f"the new environment imports deepgep from {where}"

    folder = tmp_path / "downloads"
    folder.mkdir()
    assert book_root(folder) is None
    source = downloaded_notebook(CHAPTER)
    downloaded = Path(shutil.copy(source, folder / source.name))
    _run([python, "-c", _EXECUTE, downloaded, folder, EXECUTE_SECONDS], built.env, folder,
         timeout=EXECUTE_SECONDS + 60)
    assert _outputs(downloaded) == _outputs(source), "outside the repository the chapter prints other numbers"
    assert sorted(p.name for p in folder.iterdir()) == [source.name], "the chapter wrote files beside itself"
