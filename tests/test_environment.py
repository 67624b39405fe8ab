"""The three descriptions of the environment agree: pyproject.toml (compatible ranges),
constraints.txt (the exact version of every package ``make venv`` installs) and environment.yml
(the conda equivalent), and the environment running the tests is the locked one."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "deepgep"
#: A line ``name==version`` of constraints.txt or of environment.yml's pip section.
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*$")
#: The extras that make (and environment.yml) install: the Makefile's ``EXTRAS :=``.
MAKE_EXTRAS = re.compile(r"^EXTRAS\s*:=\s*(\S+)\s*$", re.M)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]


def requirement_groups() -> dict[str, list[Requirement]]:
    """``{"": core, extra: its requirements}`` of pyproject.toml."""
    project = pyproject()
    groups = {"": project.get("dependencies", [])} | project.get("optional-dependencies", {})
    return {name: [Requirement(r) for r in reqs] for name, reqs in groups.items()}


def installed_extras(extras: set[str]) -> set[str]:
    """``extras`` and every extra they name through ``deepgep[...]`` (book -> sampling, ...)."""
    groups, todo, out = requirement_groups(), set(extras), {""}
    while todo:
        extra = todo.pop()
        assert extra in groups, f"no extra [{extra}] in pyproject.toml"
        out.add(extra)
        todo |= {e for r in groups[extra] if canonicalize_name(r.name) == PROJECT for e in r.extras} - out
    return out


def make_extras() -> set[str]:
    match = MAKE_EXTRAS.search((ROOT / "Makefile").read_text(encoding="utf8"))
    assert match, "the Makefile sets no EXTRAS := ..."
    return set(match.group(1).split(","))


def direct_requirements(extras: set[str]) -> list[Requirement]:
    """The requirements of the core and of ``extras`` (expanded), without deepgep itself."""
    groups = requirement_groups()
    return [r for e in sorted(installed_extras(extras)) for r in groups[e]
            if canonicalize_name(r.name) != PROJECT]


def pins(lines: list[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"{where}: {line!r} is not name==version"
        name = canonicalize_name(match.group(1))
        assert name not in out, f"{where}: {name} pinned twice"
        out[name] = match.group(2)
    return out


def constraints() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text(encoding="utf8").splitlines()
    return pins([line for line in lines if line.strip() and not line.lstrip().startswith("#")],
                "constraints.txt")


def environment_pip() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    sections = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, "environment.yml must have exactly one pip: section"
    return [str(line).strip() for line in sections[0]]


def environment_pins() -> dict[str, str]:
    return pins([line for line in environment_pip() if not line.startswith("-")], "environment.yml")


# --- pyproject.toml: ranges -------------------------------------------------------------------


def test_core_dependencies_are_ranges_not_pins():
    """`pip install deepgep` must fit an existing environment (issue: `pip install . "numpy<2.4"`
    was ResolutionImpossible with twelve `==` pins)."""
    for req in requirement_groups()[""]:
        assert req.specifier, f"{req} has no version range"
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"{req} is an exact pin"


def test_no_exact_pin_anywhere_in_pyproject():
    """Exact versions belong to constraints.txt; pyproject.toml states what is compatible."""
    for extra, reqs in requirement_groups().items():
        for req in reqs:
            if canonicalize_name(req.name) != PROJECT:
                assert req.specifier, f"[{extra}] {req} has no version range"
                assert not any(s.operator in ("==", "===") for s in req.specifier), f"[{extra}] {req}"


def test_the_core_needs_none_of_the_heavy_packages():
    heavy = {"jax", "jaxlib", "blackjax", "dask", "distributed", "dask-jobqueue", "matplotlib",
             "scikit-learn", "jupyter-book"}
    core = {canonicalize_name(r.name) for r in requirement_groups()[""]}
    assert not core & heavy, core & heavy


def test_the_extras_of_the_issue_exist():
    groups = requirement_groups()
    assert {"sampling", "sweeps", "cluster", "book", "test"} <= set(groups)
    names = {extra: {canonicalize_name(r.name) for r in reqs} for extra, reqs in groups.items()}
    assert {"jax", "jaxlib", "blackjax"} <= names["sampling"]
    assert {"dask", "distributed"} <= names["sweeps"]
    assert "dask-jobqueue" in names["cluster"] and "sweeps" in installed_extras({"cluster"})
    assert installed_extras({"book"}) >= {"sampling", "sweeps"}


def test_every_range_admits_its_locked_version():
    lock = constraints()
    for extra, reqs in requirement_groups().items():
        for req in reqs:
            name = canonicalize_name(req.name)
            if name != PROJECT and name in lock:
                assert req.specifier.contains(lock[name], prereleases=True), (
                    f"[{extra or 'core'}] {req} excludes the locked {name}=={lock[name]}")


def test_the_ranges_exclude_the_versions_known_to_fail():
    """numpy 2.0-2.2 build the quadrature rule 13 times less accurately and threadpoolctl < 3.5
    does not find numpy 2's OpenBLAS (pyproject.toml's comment); Jupyter Book 2 (MyST-MD) drops
    the Sphinx build of _config.yml and _toc.yml."""
    specs = {canonicalize_name(r.name): r.specifier for reqs in requirement_groups().values()
             for r in reqs}
    assert "2.2.6" not in specs["numpy"] and "2.3.0" in specs["numpy"]
    assert "3.4.0" not in specs["threadpoolctl"] and "3.5.0" in specs["threadpoolctl"]
    assert "2.0.0" not in specs["jupyter-book"]


def test_python_versions_agree():
    requires = SpecifierSet(pyproject()["requires-python"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    version = re.fullmatch(r"python\s*=+\s*(\d+\.\d+)", conda_python.strip())
    assert version, conda_python
    assert requires.contains(version.group(1) + ".0")
    # the lock was made on this Python (its header says so)
    assert f"CPython {version.group(1)}" in (ROOT / "constraints.txt").read_text(encoding="utf8")


# --- constraints.txt: the lock ----------------------------------------------------------------


def test_constraints_lock_every_package_make_installs():
    """The closure of the requirements of deepgep[EXTRAS] (from the installed metadata) is in
    constraints.txt, so `pip install -c constraints.txt` leaves pip no choice."""
    lock = constraints()
    assert PROJECT not in lock, "constraints.txt must not lock the project itself"
    seen: set[str] = set()
    todo = [(PROJECT, frozenset(make_extras()))]
    while todo:
        name, extras = todo.pop()
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            env = [{"extra": e} for e in (extras or {""})]
            if req.marker is not None and not any(req.marker.evaluate(e) for e in env):
                continue
            dep = canonicalize_name(req.name)
            if dep == PROJECT:
                todo.append((dep, frozenset(req.extras)))
                continue
            assert dep in lock, f"{dep} (required by {name}) is not in constraints.txt"
            key = f"{dep}[{','.join(sorted(req.extras))}]"
            if key not in seen:
                seen.add(key)
                todo.append((dep, frozenset(req.extras)))
    assert {"numpy", "jax", "dask", "jupyter-book", "pytest"} <= {k.split("[")[0] for k in seen}


def test_constraints_pin_pip_and_the_build_tools():
    """make installs pip from the lock first (`pip install -c constraints.txt pip`)."""
    assert {"pip", "setuptools", "wheel"} <= set(constraints())


def _lock_for_parametrize() -> list[tuple[str, str]]:
    """The locked versions, or nothing if constraints.txt is malformed (the tests above fail)."""
    try:
        return sorted(constraints().items())
    except (AssertionError, OSError):
        return []


@pytest.mark.parametrize("name,version", _lock_for_parametrize())
def test_installed_versions_are_the_locked_ones(name, version):
    """The environment running the tests is the locked one (make venv installs constraints.txt)."""
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name} is locked but not installed")
    assert Version(installed) == Version(version)


def test_installed_packages_are_consistent():
    """pip check: every installed package's requirements hold (the lock is a valid resolution)."""
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the Makefile and environment.yml ---------------------------------------------------------


def test_make_installs_with_the_constraints():
    text = (ROOT / "Makefile").read_text(encoding="utf8")
    rule = re.search(r"^\$\(STAMP\):(.*?)(?=^\S|\Z)", text, re.M | re.S)
    assert rule, "no $(STAMP) rule in the Makefile"
    assert "$(CONSTRAINTS)" in rule.group(1).splitlines()[0], "the stamp must depend on the lock"
    assert re.search(r"^CONSTRAINTS\s*:=\s*constraints\.txt\s*$", text, re.M)
    installs = [line for line in rule.group(1).splitlines() if "pip install" in line]
    assert installs and all("-c $(CONSTRAINTS)" in line for line in installs), installs
    assert any('-e ".[$(EXTRAS)]"' in line for line in installs), installs
    assert "--upgrade" not in rule.group(1), "an upgrade would leave the lock"


def test_environment_pins_the_direct_dependencies_at_their_locked_versions():
    env, lock = environment_pins(), constraints()
    wanted = {canonicalize_name(r.name) for r in direct_requirements(make_extras())}
    assert set(env) == wanted, {"missing from environment.yml": sorted(wanted - set(env)),
                                "not a direct dependency": sorted(set(env) - wanted)}
    differ = {name: (env[name], lock.get(name)) for name in env if env[name] != lock.get(name)}
    assert not differ, f"environment.yml and constraints.txt differ (yml, lock): {differ}"


def test_environment_installs_the_project_with_makes_extras_under_the_lock():
    pip = environment_pip()
    assert "-c constraints.txt" in pip
    editable = [line for line in pip if line.startswith("-e")]
    assert len(editable) == 1, editable
    match = re.fullmatch(r"-e\s+\.\[([^\]]+)\]", editable[0])
    assert match and set(match.group(1).split(",")) == make_extras(), editable[0]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    assert "pip" in env["dependencies"]
