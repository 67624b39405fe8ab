"""Shared fixtures and hooks of the test suite.

The unit tests mirror the library: ``tests/<floor>/test_<module>.py`` tests
``src/deepgep/<floor>/<module>.py`` (floors theory, simulate, chapters, support); the book-level
tests are the ``tests/test_*.py`` files. This conftest applies to every subfolder.

Fixtures: ``mp_gauss`` (30-digit Gaussian expectations), ``reference`` (arrays stored under
``tests/reference/``, rewritten by ``pytest --update-references``) and ``sphere_inputs`` (the
inputs of the deep-equilibrium tests of tests/theory, tests/simulate and tests/chapters). Hooks:
the ``browser`` and ``rerun`` markers, figures compared by nbval through the hash of their PNG,
the notebooks that nbval reproduced stored in the book's execution cache, and a table of the time
spent per notebook and per test file at the end of the run.

The compiled kernels of deepgep are cached by numba in ``_build/numba_cache`` (the Makefile
exports ``NUMBA_CACHE_DIR``); set the same default here, before any test module imports numba,
so that a bare ``pytest`` run reuses the cache instead of recompiling.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))

import mpmath  # noqa: E402
import pytest  # noqa: E402

#: Working precision (decimal digits) of the mpmath reference integrals.
MP_DIGITS = 30


def _mp_gaussian_expectation(f, var=1.0):
    """``E f(sqrt(var) Z)`` by tanh-sinh quadrature at 30 digits; ``f`` takes an mpf.

    Returns ``(value, error_estimate)``. The real line is split at multiples of the standard
    deviation so that every piece sees a smooth, well-resolved part of the Gaussian weight.
    """
    with mpmath.workdps(MP_DIGITS):
        s = mpmath.sqrt(mpmath.mpf(var))
        pts = [-mpmath.inf, -6, -3, -2, -1, 0, 1, 2, 3, 6, mpmath.inf]
        value, err = mpmath.quad(
            lambda z: f(s * z) * mpmath.exp(-z * z / 2), pts, error=True, maxdegree=10
        )
        norm = mpmath.sqrt(2 * mpmath.pi)
        return value / norm, err / norm


@pytest.fixture(scope="session")
def mp_gauss():
    """The 30-digit reference ``E f(sqrt(var) Z)``; asserts its own error estimate < 1e-20."""

    def expectation(f, var=1.0):
        value, err = _mp_gaussian_expectation(f, var)
        # The reference must be far more accurate than every tolerance it is used with (>= 1e-14).
        assert err < 1e-20, f"mpmath reference not converged (error estimate {err})"
        return float(value)

    return expectation


@pytest.fixture(scope="session")
def sphere_inputs():
    """``sphere_inputs(p, d, seed=0)``: ``p`` standard Gaussian inputs of dimension ``d``, each
    rescaled to norm ``sqrt(d)`` (shared by the deep-equilibrium tests of three floors)."""
    import numpy as np

    def make(p: int, d: int, seed: int = 0):
        X = np.random.default_rng(seed).standard_normal((p, d))
        return X * (math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True))

    return make


# ---- options and markers ----------------------------------------------------------------------

#: Reference data of figures and tables too large to print (see README, "Reference data").
REFERENCE_DIR = ROOT / "tests" / "reference"


def pytest_addoption(parser):
    parser.addoption(
        "--update-references", action="store_true", default=False,
        help="rewrite tests/reference/*.json from the current results instead of comparing")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: builds the book and opens every page in headless Chromium "
        "(skipped when /usr/bin/chromium is missing; `make test-browser` installs it)")
    config.addinivalue_line(
        "markers", "rerun: executes a chapter with papermill (about half a minute)")
    config.addinivalue_line(
        "markers", "claims: evaluates the book's claims on the recorded tables, with their wrong theories")
    config.addinivalue_line(
        "markers", "reference: compares with tests/reference/ (set on every test using the "
                   "`reference` fixture; `make references` reruns them with --update-references)")
    config.pluginmanager.register(_Timings(), "deepgep-timings")
    config.pluginmanager.register(_Collection(), "deepgep-collection")
    config.pluginmanager.register(_BookCache(config), "deepgep-book-cache")


# ---- reference data ---------------------------------------------------------------------------


class Reference:
    """Named arrays stored as JSON under ``tests/reference/``, compared with a stated tolerance.

    ``check(name, data, rtol=..., atol=...)`` compares every array of ``data`` with the stored
    ``tests/reference/<name>.json`` by ``numpy.testing.assert_allclose``. With
    ``pytest --update-references`` it writes the file instead (with the tolerance, for the
    reader of the diff) and the test passes; review the diff before keeping it.
    """

    def __init__(self, directory: Path, update: bool):
        self.directory = directory
        self.update = update

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def check(self, name: str, data: dict, *, rtol: float, atol: float = 0.0) -> None:
        import numpy as np

        arrays = {key: np.asarray(value, dtype=np.float64) for key, value in data.items()}
        path = self.path(name)
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            payload = {"rtol": rtol, "atol": atol,
                       "data": {key: value.tolist() for key, value in arrays.items()}}
            path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf8")
            return
        if not path.is_file():
            pytest.fail(f"no reference data {os.path.relpath(path, ROOT)}: create it with "
                        "`pytest --update-references` and review it")
        stored = json.loads(path.read_text(encoding="utf8"))["data"]
        assert set(stored) == set(arrays), (
            f"{path.name}: stored keys {sorted(stored)} != computed keys {sorted(arrays)}; "
            "rerun with --update-references if the change is intended")
        for key, value in arrays.items():
            np.testing.assert_allclose(
                value, np.asarray(stored[key], dtype=np.float64), rtol=rtol, atol=atol,
                err_msg=f"{path.name}[{key!r}] differs from the reference "
                        "(--update-references rewrites it if the change is intended)")


@pytest.fixture
def reference(request) -> Reference:
    """The :class:`Reference` store; ``--update-references`` switches it to writing."""
    return Reference(REFERENCE_DIR, request.config.getoption("--update-references"))


# ---- figures in nbval: compared by the hash of their PNG ------------------------------------


def _hash_figures(outputs):
    """Copies of ``outputs`` whose PNG images are replaced by their sha256 digest."""
    hashed = []
    for out in outputs:
        data = out.get("data") if hasattr(out, "get") else None
        if data and "image/png" in data:
            out = copy.deepcopy(out)
            digest = hashlib.sha256(str(out["data"]["image/png"]).encode()).hexdigest()
            out["data"]["image/png"] = f"PNG with sha256 {digest}"
        hashed.append(out)
    return hashed


def _compare_figures_too(item) -> None:
    """Make an nbval cell compare its figures as well as its text.

    nbval skips images by default. Matplotlib's Agg backend writes identical PNG bytes for
    identical data (no time stamp in the file), so two executions of a chapter must give
    identical figures; comparing their hashes with the stored ones is the reproducibility test
    of the figures at no extra cost (nbval executes every notebook anyway).
    """
    parent = item.parent
    skip = tuple(k for k in parent.skip_compare if k != "image/png")
    original = item.compare_outputs

    def compare_outputs(test, ref, skip_compare=None):
        return original(_hash_figures(test), _hash_figures(ref), skip_compare=skip_compare or skip)

    item.compare_outputs = compare_outputs


class _Collection:
    """Marks the tests using ``reference``; makes nbval cells compare figures. A plugin
    registered in :func:`pytest_configure`, so that it sees the notebooks' items too."""

    def pytest_collection_modifyitems(self, config, items):
        for item in items:
            if "reference" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.reference)
            if type(item).__name__ == "IPyNbCell" and hasattr(item.parent, "skip_compare"):
                _compare_figures_too(item)


# ---- time per notebook and per test file ------------------------------------------------------


class _Timings:
    """Sums the duration of every test (setup, call, teardown) per notebook and per test file.

    Registered as a plugin in :func:`pytest_configure`: a hook defined directly in this
    conftest would only see the items under ``tests/``, not the nbval items of ``notebooks/``.
    """

    def __init__(self):
        self.durations: dict[str, list] = {}

    def pytest_runtest_logreport(self, report):
        entry = self.durations.setdefault(report.nodeid.split("::", 1)[0], [0.0, 0])
        entry[0] += report.duration
        if report.when == "call":
            entry[1] += 1

    def pytest_terminal_summary(self, terminalreporter):
        """The table, slowest first within notebooks and within test files, with totals."""
        if not self.durations:
            return
        groups: dict[str, dict] = {"notebook": {}, "test file": {}}
        for path, (seconds, count) in self.durations.items():
            groups["notebook" if path.endswith(".ipynb") else "test file"][path] = (seconds, count)
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "time per notebook and per test file")
        width = max(len(p) for p in self.durations) + 2
        for kind, rows in groups.items():
            if not rows:
                continue
            write(f"{kind.ljust(width)}  {'items':>5}  {'seconds':>8}")
            for path, (seconds, count) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
                write(f"{path.ljust(width)}  {count:>5}  {seconds:>8.1f}")
            total = sum(s for s, _ in rows.values())
            count = sum(c for _, c in rows.values())
            write(f"{('all ' + kind + 's').ljust(width)}  {count:>5}  {total:>8.1f}")


# ---- notebooks reproduced by nbval go to the book's execution cache --------------------------


def _execution_cache_module():
    """book/_ext/execution_cache.py, the Sphinx extension that owns the cache, as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "execution_cache", ROOT / "book" / "_ext" / "execution_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _BookCache:
    """Stores every notebook that nbval has just reproduced in ``_build/.jupyter_cache``, where
    ``make book`` (``execute_notebooks: cache``) finds it instead of executing the chapter again.

    Why this is sound: nbval executed the notebook top to bottom in a fresh kernel of the same
    environment and working directory as the book's execution, and every output of every cell
    (text, errors and figures, the figures by their PNG hash, see above) equals the output stored
    in the notebook, up to the memory addresses that ``tests/nbval_sanitize.cfg`` hides. So the
    stored notebook is what the book's own execution would cache. Only a notebook qualifies
    whose every code cell ran, was compared (strict ``--nbval``, no skip, no ignored output, no
    expected error) and passed. What is stored is the notebook as nbval read it at collection,
    and jupyter-cache keys it by its code cells, so a later edit of the file is a cache miss.
    The library digest of book/_ext/execution_cache.py is taken before the first and after the
    last test: if the library changed during the run, nothing is stored; otherwise the cache is
    first emptied unless it belongs to that digest, exactly as the book build does.
    """

    def __init__(self, config):
        option = config.option
        self.active = bool(getattr(option, "nbval", False)) and not getattr(option, "nbval_lax", False)
        self.digest = None
        self.notebooks: dict[str, dict] = {}  # node id of the file -> what nbval did with it
        self.stored: list[str] = []
        self.problem = ""

    def pytest_sessionstart(self, session):
        if self.active:
            try:
                self.digest = _execution_cache_module().library_hash()
            except Exception as exc:  # e.g. deepgep not installed: nothing can be cached
                self.active, self.problem = False, f"no library hash ({exc}): nothing cached"

    def pytest_collection_modifyitems(self, config, items):
        if not self.active:
            return
        for item in items:
            if type(item).__name__ != "IPyNbCell":
                continue
            path = item.nodeid.split("::", 1)[0]
            entry = self.notebooks.get(path)
            if entry is None:
                nb = copy.deepcopy(item.parent.nb)  # as nbval read it, before any cell runs
                entry = self.notebooks[path] = {
                    "nb": nb, "cells": sum(c.cell_type == "code" for c in nb.cells),
                    "passed": 0, "spoiled": False, "seconds": 0.0}
            options = item.options
            if options["skip"] or not options["check"] or options["check_exception"]:
                entry["spoiled"] = True

    def pytest_runtest_logreport(self, report):
        entry = self.notebooks.get(report.nodeid.split("::", 1)[0])
        if entry is None:
            return
        entry["seconds"] += report.duration
        if report.failed or report.skipped:
            entry["spoiled"] = True
        elif report.when == "call":
            entry["passed"] += 1

    def pytest_sessionfinish(self, session, exitstatus):
        proven = {path: e for path, e in self.notebooks.items()
                  if not e["spoiled"] and e["passed"] == e["cells"] > 0}
        if not (self.active and proven):
            return
        try:
            module = _execution_cache_module()
            if module.library_hash() != self.digest:
                self.problem = "the library changed during the run: no notebook cached"
                return
            cache = module.default_cache(ROOT / "_build" / "html")
            module.sync(cache, self.digest)
            for path, entry in sorted(proven.items()):
                module.store(cache, entry["nb"], str(ROOT / path), entry["seconds"])
                self.stored.append(path)
        except Exception as exc:  # a cache problem must not hide the test results
            self.problem = f"caching failed: {exc!r}"

    def pytest_terminal_summary(self, terminalreporter):
        if self.stored:
            terminalreporter.write_line(
                f"execution cache: {len(self.stored)} notebook(s) reproduced by nbval stored in "
                "_build/.jupyter_cache; make book reuses them")
        if self.problem:
            terminalreporter.write_line(f"execution cache: {self.problem}")
