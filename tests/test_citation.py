"""CITATION.cff and LICENSE: the software and the paper it accompanies, valid Citation File
Format 1.2.0 (checked by cffconvert), and the same version, licence and authors as pyproject.toml.

cffconvert 2.0.0 requires jsonschema<4 while the book's tools need jsonschema 4 (its install
would downgrade jsonschema to 3.2), so it runs from a virtual environment of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CFFCONVERT = "cffconvert==2.0.0"
VALID = "Citation metadata are valid according to schema version 1.2.0."


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf8"))


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]


def test_citation_describes_this_release_of_the_software():
    cff, proj = citation(), project()
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == proj["version"]
    assert cff["license"] == proj["license"] == "MIT"
    assert [a["name"] for a in cff["authors"]] == [a["name"] for a in proj["authors"]]
    assert proj["name"] in cff["title"]


def test_citation_names_the_paper_and_the_conjecture():
    cff = citation()
    paper = cff["preferred-citation"]
    assert [a["family-names"] for a in paper["authors"]] == ["Camilli", "Tieplova", "Bergamin", "Barbier"]
    assert paper["title"].startswith("Information-theoretic reduction of deep neural networks to linear models")
    assert paper["year"] == 2025 and "COLT 2025" in paper["conference"]["name"]
    assert paper["doi"] == "10.48550/arXiv.2505.03577"
    (cui,) = [r for r in cff["references"] if r.get("doi") == "10.48550/arXiv.2302.00375"]
    assert [a["family-names"] for a in cui["authors"]] == ["Cui", "Krzakala", "Zdeborová"]
    assert cui["year"] == 2023


def test_licence_file_is_mit_of_the_authors():
    text = (ROOT / "LICENSE").read_text(encoding="utf8")
    assert text.startswith("MIT License\n")
    holder = project()["authors"][0]["name"]
    assert f"Copyright (c) 2026 {holder}\n" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    assert project()["license-files"] == ["LICENSE"]


@pytest.fixture(scope="module")
def cffconvert(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cffconvert")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_CONSTRAINT")}
    made = subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], capture_output=True,
                          text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([str(root / "venv/bin/python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", CFFCONVERT], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    return root / "venv/bin/cffconvert"


def _validate(program: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), "--validate", "-i", str(path)], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.install
def test_citation_validates_with_cffconvert(cffconvert):
    done = _validate(cffconvert, ROOT / "CITATION.cff")
    assert done.returncode == 0 and done.stdout.strip() == VALID, done.stdout + done.stderr


@pytest.mark.install
@pytest.mark.parametrize("key,value", [("authors", None), ("doi", "not-a-doi"), ("license", "MIT-ish")])
def test_cffconvert_rejects_a_broken_citation(cffconvert, tmp_path, key, value):
    """The validation can fail: the same file without its authors, with a malformed DOI (on the
    paper) or an unknown SPDX licence is refused."""
    cff = citation()
    if key == "doi":
        cff["preferred-citation"]["doi"] = value
    elif value is None:
        del cff[key]
    else:
        cff[key] = value
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump(cff, allow_unicode=True, sort_keys=False), encoding="utf8")
    done = _validate(cffconvert, broken)
    assert done.returncode != 0, done.stdout
