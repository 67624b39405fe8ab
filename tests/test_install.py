"""deepgep installs into an environment that is not the book's (issue 26).

The core alone (``pip install .``) goes into a new virtual environment beside ``numpy<2.4``, with
no constraints file, as a researcher would install it into an existing environment; from there
``deepgep equivalent``, ``deepgep bayes``, ``deepgep --version`` and the public API run, and
``pip install --dry-run`` resolves the extras. The command line of the book's environment
imports none of the optional packages. The tests marked ``install`` need PyPI or pip's cache
(3 minutes in all on the shared 2-core machine, most of it pip).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from deepgep.cli import main

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]["version"]
#: Import names of the optional packages (extras sampling, sweeps, cluster, learners, plot).
OPTIONAL = ("jax", "jaxlib", "blackjax", "arviz", "xarray", "dask", "distributed", "dask_jobqueue",
            "matplotlib", "sklearn")
EQUIVALENT = ["equivalent", "--activation", "tanh", "--gain", "2", "--depth", "2", "--format", "json"]
BAYES = ["bayes", "--activation", "tanh", "--gain", "2", "--depth", "2", "--channel", "sign",
         "--noise", "0.1", "--alpha", "0.5,1,2", "--format", "json"]
#: The numbers of the command line, compared between the book's environment and the core one
#: (other numpy, scipy and numba builds). Both sum the same quadrature rule; summation order and
#: libm round each term at 1e-16 relative, so 1e-12 leaves four orders of margin and is the
#: resolution: a change of the theory by more than 1e-12 (relative) is rejected.
REL = 1e-12
#: Seconds allowed to pip to build deepgep and install numpy, scipy, numba, pandas (a cold cache
#: downloads about 110 MB).
PIP_SECONDS = 900


def _environment(tmp: Path) -> dict[str, str]:
    """This process's environment without what would leak the book's environment into the new
    one (PYTHONPATH, VIRTUAL_ENV, a constraints file), with a numba cache of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_CONSTRAINT")}
    env["NUMBA_CACHE_DIR"] = str(tmp / "numba_cache")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def _source_copy(dest: Path) -> Path:
    """What a source distribution holds (pyproject.toml, README.md, LICENSE, src/), so that pip's
    build does not write build/ or *.egg-info into the shared work tree."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


class CoreVenv:
    """A virtual environment holding deepgep's core dependencies only, beside numpy<2.4."""

    def __init__(self, root: Path):
        self.root = root
        self.env = _environment(root)
        self.source = _source_copy(root / "source")
        self.bin = root / "venv" / "bin"
        made = _run([sys.executable, "-m", "venv", root / "venv"], self.env, root)
        assert made.returncode == 0, made.stderr
        self.install = _run([self.bin / "python", "-m", "pip", "install", "--quiet", self.source,
                             "numpy<2.4"], self.env, root, timeout=PIP_SECONDS)

    def run(self, program: str, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return _run([self.bin / program, *argv], self.env, self.root, timeout=timeout)

    def python(self, code: str) -> subprocess.CompletedProcess:
        return self.run("python", "-c", code)


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> CoreVenv:
    venv = CoreVenv(tmp_path_factory.mktemp("core-install"))
    assert venv.install.returncode == 0, f"pip install . 'numpy<2.4' failed:\n{venv.install.stderr}"
    return venv


def _book_output(capsys, argv: list[str]) -> dict:
    """The same command in this process (the book's environment)."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _assert_same_numbers(a, b, path: str = "") -> None:
    """Equal structure and strings; numbers within REL (see above)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, a, b)
        for key in a:
            _assert_same_numbers(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=REL, abs_tol=1e-300), (path, a, b)
    else:
        assert a == b, (path, a, b)


# --- the core alone, in a new virtual environment ---------------------------------------------


@pytest.mark.install
def test_core_installs_beside_numpy_below_2_4_and_nothing_optional(core):
    """The issue's `pip install . "numpy<2.4"` resolves, and installs none of the extras."""
    versions = core.python("import json, numpy, scipy, numba, pandas; print(json.dumps({m.__name__: "
                           "m.__version__ for m in (numpy, scipy, numba, pandas)}))")
    assert versions.returncode == 0, versions.stderr
    found = json.loads(versions.stdout)
    assert Version("2.3") <= Version(found["numpy"]) < Version("2.4"), found
    optional = core.python(f"import importlib.util; print([m for m in {OPTIONAL!r} "
                           f"if importlib.util.find_spec(m)])")
    assert optional.returncode == 0 and optional.stdout.strip() == "[]", optional.stdout + optional.stderr
    check = core.run("python", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.install
def test_installed_version_and_dash_dash_version(core):
    done = core.run("deepgep", "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"deepgep {VERSION}\n", "")
    attr = core.python("import deepgep; print(deepgep.__version__)")
    assert attr.returncode == 0 and attr.stdout == f"{VERSION}\n", attr.stderr


@pytest.mark.install
def test_equivalent_runs_from_the_core_install(core, capsys):
    """Cui et al.'s example (book eq-composition): kappa = eta0^2 = 0.409095, gamma0 = 0.152506,
    and every number equal to the book's environment's within REL."""
    done = core.run("deepgep", *EQUIVALENT)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kappa"] == pytest.approx(0.409095, abs=1e-6)
    assert doc["gamma0"] == pytest.approx(0.152506, abs=1e-6)
    assert doc["satisfies_theorem"] is True
    _assert_same_numbers(doc, _book_output(capsys, EQUIVALENT))


@pytest.mark.install
def test_bayes_runs_from_the_core_install(core, capsys):
    done = core.run("deepgep", *BAYES)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    _assert_same_numbers(doc, _book_output(capsys, BAYES))


@pytest.mark.install
def test_public_api_with_the_core_alone(core):
    """Every name of deepgep.__all__ is there without the extras, and importing them loads none
    of the optional packages (they are imported by the functions that use them)."""
    code = ("import json, sys, deepgep; "
            "missing = [n for n in deepgep.__all__ if not hasattr(deepgep, n)]; "
            f"print(json.dumps({{'missing': missing, 'loaded': [m for m in {OPTIONAL!r} if m in sys.modules]}}))")
    done = core.python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"missing": [], "loaded": []}


@pytest.mark.install
@pytest.mark.parametrize("extras,expected", [
    ("sampling,sweeps", {"jax", "jaxlib", "blackjax", "dask", "distributed"}),
    ("cluster,learners,plot", {"dask-jobqueue", "dask", "distributed", "scikit-learn", "matplotlib"}),
])
def test_extras_resolve_beside_numpy_below_2_4(core, extras, expected):
    report = core.root / f"report-{extras.replace(',', '-')}.json"
    done = core.run("python", "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                    f"{core.source}[{extras}]", "numpy<2.4", timeout=PIP_SECONDS)
    assert done.returncode == 0, done.stderr
    install = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
               for item in json.loads(report.read_text(encoding="utf8"))["install"]}
    assert expected <= set(install), sorted(expected - set(install))
    assert "numpy" not in install or Version(install["numpy"]) < Version("2.4"), install["numpy"]


# --- the book's environment: what the command line imports ------------------------------------


def test_equivalent_and_bayes_import_no_optional_package():
    """In the book's environment, where every extra is installed, `import deepgep` and the two
    commands of the theory floor load none of them (jax alone takes about a second)."""
    code = ("import contextlib, io, json, sys\n"
            "import deepgep\n"
            f"after_import = [m for m in {OPTIONAL!r} if m in sys.modules]\n"
            "from deepgep.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    codes = [main({EQUIVALENT!r}), main({BAYES!r})]\n"
            f"print(json.dumps([after_import, codes, [m for m in {OPTIONAL!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], [0, 0], []]
    # the check can fail: the optional packages are importable here
    probe = subprocess.run([sys.executable, "-c", "import jax, dask, matplotlib, sklearn"],
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
