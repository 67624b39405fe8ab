"""deepgep.version: one version for the distribution, ``deepgep.__version__`` and
``deepgep --version`` (the installed one's is checked in a new environment by test_install.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.version import Version

import deepgep
from deepgep.cli import main
from deepgep.version import DISTRIBUTION, UNKNOWN_VERSION, VERSION, source_state, source_tree_version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]["version"]


def test_one_version_everywhere():
    assert VERSION == deepgep.__version__ == metadata.version(DISTRIBUTION) == PYPROJECT_VERSION
    assert str(Version(VERSION)) == VERSION  # PEP 440, normalised


def test_dash_dash_version_prints_name_and_version(capsys):
    assert main(["--version"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"deepgep {VERSION}\n", "")


def test_dash_dash_version_is_in_the_help(capsys):
    assert main(["--help"]) == 0
    assert "--version" in capsys.readouterr().out


def test_source_tree_version_reads_deepgeps_pyproject_only(tmp_path):
    assert source_tree_version(ROOT / "pyproject.toml") == PYPROJECT_VERSION
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "another"\nversion = "9.9"\n', encoding="utf8")
    assert source_tree_version(other) is None
    other.write_text('[project]\nname = "deepgep"\nversion = "1.2.3"\n', encoding="utf8")
    assert source_tree_version(other) == "1.2.3"
    other.write_text("[project\n", encoding="utf8")
    assert source_tree_version(other) is None
    assert source_tree_version(tmp_path / "missing.toml") is None
    assert str(Version(UNKNOWN_VERSION)) == UNKNOWN_VERSION


def test_a_source_tree_without_metadata_reads_its_pyproject(tmp_path):
    """PYTHONPATH=src with no distribution installed: the fallback gives pyproject's version."""
    src = tmp_path / "tree" / "src"
    (src / "deepgep").mkdir(parents=True)
    (src / "deepgep" / "version.py").write_text((ROOT / "src/deepgep/version.py").read_text())
    (tmp_path / "tree" / "pyproject.toml").write_text(
        '[project]\nname = "deepgep"\nversion = "7.0.1"\n', encoding="utf8")
    # `-S`: no site-packages, so no installed deepgep distribution is found
    code = ("import importlib.util; spec = importlib.util.spec_from_file_location('v', "
            f"{str(src / 'deepgep' / 'version.py')!r}); m = importlib.util.module_from_spec(spec); "
            "spec.loader.exec_module(m); print(m.VERSION)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "7.0.1\n"


def test_source_state_is_dirty_for_code_not_for_the_recorded_tables(tmp_path):
    """A changed file under results/ (a table's metadata stamped by a verification) leaves the
    code clean; a changed source file makes it dirty."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    (tmp_path / "src").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "t.meta.json").write_text("{}\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    commit, dirty = source_state(tmp_path / "src")
    assert commit and len(commit) == 40 and dirty is False
    (tmp_path / "results" / "t.meta.json").write_text('{"verifications": []}\n')
    assert source_state(tmp_path / "src") == (commit, False)
    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert source_state(tmp_path / "src") == (commit, True)
