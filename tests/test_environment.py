"""pyproject.toml and environment.yml pin the same packages at the same exact versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*$")


def normalise(name: str) -> str:
    """PEP 503 name normalisation (jupyter_book == Jupyter-Book == jupyter-book)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))
    project = data["project"]
    reqs = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        reqs.extend(group)
    return reqs


def environment_requirements() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    pips = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(pips) == 1, "environment.yml must have exactly one pip: section"
    return [req for req in pips[0] if req.strip() != "-e ."]


def pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        match = PIN.match(req)
        assert match, f"{req!r} is not an exact pin name==version"
        name = normalise(match.group(1))
        assert name not in out, f"{name} pinned twice"
        out[name] = match.group(3)
    return out


def test_every_requirement_is_an_exact_pin():
    for req in pyproject_requirements() + environment_requirements():
        assert PIN.match(req), f"{req!r} is not pinned with =="


def test_pyproject_and_environment_pin_the_same_versions():
    a, b = pins(pyproject_requirements()), pins(environment_requirements())
    assert a == b, {
        "only in pyproject.toml": sorted(set(a) - set(b)),
        "only in environment.yml": sorted(set(b) - set(a)),
        "different versions": sorted(k for k in set(a) & set(b) if a[k] != b[k]),
    }


def test_environment_installs_the_project_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    assert "-e ." in [p.strip() for p in pip]
    assert "pip" in env["dependencies"]


def test_python_versions_agree():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))
    requires = data["project"]["requires-python"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf8"))
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)", requires.strip())
    version = re.fullmatch(r"python\s*=+\s*(\d+)\.(\d+)", conda_python.strip())
    assert minimum and version, (requires, conda_python)
    assert tuple(map(int, version.groups())) >= tuple(map(int, minimum.groups()))


def test_jupyter_book_is_pinned_below_2():
    """Jupyter Book 2 (MyST-MD) drops the Sphinx _config.yml/_toc.yml build this book uses."""
    version = pins(pyproject_requirements())["jupyter-book"]
    assert int(version.split(".")[0]) < 2


def _pins_for_parametrize() -> list[tuple[str, str]]:
    """The pins, or nothing if pyproject.toml is malformed (the tests above then fail)."""
    try:
        return sorted(pins(pyproject_requirements()).items())
    except (AssertionError, KeyError, OSError, tomllib.TOMLDecodeError):
        return []


@pytest.mark.parametrize("name,version", _pins_for_parametrize())
def test_installed_versions_match_the_pins(name, version):
    """The environment running the tests is the pinned one (make venv installs the pins)."""
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name} is pinned but not installed")
    assert installed == version
