"""Every command the README shows works as a new user would type it.

The ``bash`` blocks of README.md are run line by line (``make book``, ``make test`` and ``pip
install`` excepted: ``make test`` is this very run, the browser test builds the book, and
``tests/test_install.py`` installs the library into a fresh virtual environment), from the root of the
repository, with the recorded tables of reruns written to a fresh folder; each must exit 0. The
``text`` block is the output of the command just before it, verbatim. The ``python`` block runs
and prints what its comment says.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
#: Commands not run here, and why (see the module docstring).
NOT_RUN = ("make book", "make test", "pip install")

pytestmark = pytest.mark.rerun


def _commands(text: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    return [line.split("#")[0].strip() for line in joined.splitlines()
            if line.split("#")[0].strip() and not line.strip().startswith(NOT_RUN)]


COMMANDS = [cmd for kind, text in BLOCKS if kind == "bash" for cmd in _commands(text)]


def _env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {**os.environ, "DEEPGEP_RESULTS": str(tmp_path / "results"),
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}


def _run(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    argv[0] = str(ROOT / argv[0]) if argv[0].startswith(".venv/") else argv[0]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=_env(tmp_path))


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 4 and any("deepgep run" in c for c in COMMANDS) and any("papermill" in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_of_the_readme_works(command, tmp_path):
    proc = _run(command, tmp_path)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"


def test_the_shown_output_is_what_the_command_prints(tmp_path):
    shown = [(i, text) for i, (kind, text) in enumerate(BLOCKS) if kind == "text"]
    assert shown
    for i, text in shown:
        kind, before = BLOCKS[i - 1]
        assert kind == "bash"
        [command] = _commands(before)
        assert _run(command, tmp_path).stdout == text


def test_the_python_example_prints_what_it_says():
    [code] = [text for kind, text in BLOCKS if kind == "python"]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    expected = re.search(r"#\s*([\d.]+)\.\.\.\s+([\d.]+)\.\.\.", code).groups()
    printed = proc.stdout.split()
    assert all(p.startswith(e) for p, e in zip(printed, expected)) and len(printed) == 2
