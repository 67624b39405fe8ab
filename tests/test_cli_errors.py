"""The command line's errors (issue 25): every input the issue lists gives one line on stderr,
nothing on stdout, and the documented exit status — 2 bad input (or a results folder that
cannot be written), 5 damaged results, 130 interrupted — and the caps and float64 ranges of
deepgep.cli.limits hold at their edges (the largest accepted value computes, the next is refused).

Commands run in-process through ``main(argv)``. The recorded tables are tampered with in a
copy of Chapter 3's folder, read through ``$DEEPGEP_RESULTS``. Permission and disk-full faults
are a mocked ``os.open`` / ``os.fsync`` that refuses only the sweep's own files and calls the
real function for every other file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from deepgep import cli
from deepgep.cli import main
from deepgep.cli.limits import MAX_ALPHA_POINTS, MAX_DEPTH, MAX_ITERATIONS, SCALE_RANGE
from deepgep.cli.output import EXIT_DAMAGED, EXIT_INTERRUPTED, EXIT_USAGE
from deepgep.support.sweeps import TableDamagedError
from deepgep.support.sweeps import files

ROOT = Path(__file__).resolve().parents[1]
SIGN = ["bayes", "--activation", "tanh", "--gain", "2", "--depth", "2", "--channel", "sign"]
#: A tiny Chapter 8 (a few seconds), as in test_cli.
TINY8 = ["run", "--chapter", "8", "--preset", "fast", "--set", "batches=2", "--set", "batch_networks=500",
         "--set", "kurtosis_batches=2", "--set", "kurtosis_batch_networks=500", "--set", "kurtosis_widths=[4]",
         "--scheduler", "serial", "--no-notebook", "--no-progress"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(capsys, code: int, *argv: str, reported: tuple[str, ...] = ()) -> str:
    """Run ``argv``; assert exit status ``code``, one error line on stderr and nothing on
    stdout but the reports of the tables named in ``reported``; the error line."""
    status, out, err = run(capsys, *argv)
    lines = err.splitlines()
    assert status == code, err
    assert len(lines) == 1 and lines[0].startswith("deepgep: error: "), err
    assert all(any(name in line for name in reported) for line in out.splitlines()), out
    return lines[0]


# ---- numbers outside float64's sense, and the caps ------------------------------------------


@pytest.mark.parametrize("argv, says", [
    (["equivalent", "--gain", "1e-200", "--depth", "2"], "--gain = 1e-200 is outside 1e-100..1e100"),
    (["equivalent", "--gain", "1e-40", "--depth", "3"], "the variance of layer 3"),
    (["equivalent", "--activation", "relu", "--gain", "1e30", "--depth", "4"], "about 1e+239"),
    (["equivalent", "--depth", "0", "--rho", "1e200"], "rho^2 would be about 1e+400"),
    (["bayes", "--depth", "0", "--rho", "1e200", "--channel", "linear", "--alpha", "1"], "rho^2"),
    (["equivalent", "--gain", "2", "--depth", str(MAX_DEPTH)], "kappa = eta0^2 = 0.0"),
    (["equivalent", "--depth", str(MAX_DEPTH + 1)], f"--depth must be at most {MAX_DEPTH}"),
    ([*SIGN, "--alpha", "0.1:7:3", "--max-iter", "99999999999999999999"], f"at most {MAX_ITERATIONS}"),
    ([*SIGN, "--alpha", "0.1:7:10000000"], f"10000000 points, at most {MAX_ALPHA_POINTS}"),
    ([*SIGN, "--alpha", ",".join(str(1 + k) for k in range(MAX_ALPHA_POINTS + 1))], "points, at most"),
    ([*SIGN, "--alpha", "1e200"], "alpha = 1e+200 is outside"),
    ([*SIGN, "--alpha", "1", "--noise", "1e200"], "--noise"),
])
def test_out_of_range_numbers_are_refused_before_any_arithmetic(capsys, argv, says):
    assert says in one_line(capsys, EXIT_USAGE, *argv)


def test_the_edges_of_the_ranges_compute(capsys):
    """The largest accepted values give finite output: the caps do not refuse what works."""
    low, high = SCALE_RANGE
    edges = [
        ["equivalent", "--depth", "0", "--rho", repr(high ** 0.5)],
        ["equivalent", "--gain", "1e-50", "--depth", "1"],  # sigma_1 = 1e-100, the lower edge
        ["bayes", "--depth", "0", "--channel", "linear", "--rho", repr(low ** 0.5), "--noise", repr(high),
         "--alpha", f"{low!r},1,{high!r}"],
        ["bayes", "--depth", "0", "--channel", "sign", "--rho", repr(high ** 0.5), "--noise", repr(low),
         "--alpha", f"{low!r},1,{high!r}"],
        [*SIGN, "--alpha", f"0.1:7:{MAX_ALPHA_POINTS}", "--max-iter", str(MAX_ITERATIONS)],
    ]
    for argv in edges:
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
        assert "NaN" not in out and "Infinity" not in out
    assert len(json.loads(out)["records"]) == MAX_ALPHA_POINTS


# ---- damaged results: exit 5 --------------------------------------------------------------


@pytest.fixture
def chapter3(tmp_path, monkeypatch) -> Path:
    """A copy of Chapter 3's recorded tables, read through $DEEPGEP_RESULTS."""
    shutil.copytree(ROOT / "results" / "ch3", tmp_path / "ch3", ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    return tmp_path / "ch3"


def _a_table(folder: Path) -> Path:
    return sorted(folder.glob("*.csv"))[0]


def _with_bom(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _renamed_column(path: Path) -> None:
    header, rest = path.read_text(encoding="utf8").split("\n", 1)
    path.write_text(header.replace("seed", "seeds", 1) + "\n" + rest, encoding="utf8")


@pytest.mark.parametrize("tamper", [_with_bom, _renamed_column], ids=["utf-8 BOM", "renamed column"])
@pytest.mark.parametrize("command", [["results", "list"], ["claims", "--chapter", "3"],
                                     ["results", "verify", "--chapter", "3", "--sample", "1"]],
                         ids=["list", "claims", "verify"])
def test_a_damaged_table_is_one_line_and_exit_5(capsys, chapter3, tamper, command):
    table = _a_table(chapter3)
    tamper(table)
    others = tuple(p.name for p in chapter3.glob("*.csv") if p != table)  # verify reports them as it goes
    line = one_line(capsys, EXIT_DAMAGED, *command, reported=others if "verify" in command else ())
    assert line.startswith("deepgep: error: damaged results: ") and table.name in line


# ---- a results folder that cannot be written: exit 2 --------------------------------------


def _refusing(real, code: int, refuse):
    """``real`` (``os.open`` or ``os.fsync``), except that it raises ``OSError(code)`` when
    ``refuse(path)`` holds for the file it is called on."""
    def fake(target, *args, **kwargs):
        path = os.readlink(f"/proc/self/fd/{target}") if isinstance(target, int) else os.fspath(target)
        if refuse(path):
            raise OSError(code, os.strerror(code))
        return real(target, *args, **kwargs)
    return fake


def test_a_read_only_results_folder_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    monkeypatch.setattr(files.os, "open", _refusing(os.open, errno.EACCES, lambda p: p.endswith(".lock")))
    line = one_line(capsys, EXIT_USAGE, *TINY8)
    assert "cannot open the lock file" in line and "permission denied: the results folder must be writable" in line


def test_a_full_disk_in_mid_row_is_one_line(capsys, tmp_path, monkeypatch):
    """The header is written (a replace of a temporary file); the first row's fsync fails."""
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    monkeypatch.setattr(files.os, "fsync", _refusing(os.fsync, errno.ENOSPC, lambda p: p.endswith(".csv")))
    line = one_line(capsys, EXIT_USAGE, *TINY8)
    assert line.endswith("the disk is full: free some space and run again (the stored rows are kept)")
    assert ".csv" in line and not list(tmp_path.rglob("*.tmp"))
    monkeypatch.undo()  # space again: the next run resumes and completes
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    code, out, err = run(capsys, *TINY8)
    assert code == 0 and "skipped, 0 errors" in out, err


# ---- what main() makes of the rest -------------------------------------------------------


@pytest.mark.parametrize("raised, code, says", [
    (TableDamagedError("results/ch3/x.csv: 79 of 80 tasks"), EXIT_DAMAGED, "damaged results: results/ch3/x.csv"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/y.csv"), EXIT_USAGE, "cannot use /x/y.csv"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted"),
])
def test_main_turns_errors_into_one_line(capsys, monkeypatch, raised, code, says):
    def fail(args):
        raise raised

    monkeypatch.setattr(cli, "run_equivalent", fail)
    assert says in one_line(capsys, code, "equivalent", "--depth", "1")


@pytest.mark.parametrize("argv, says", [
    (["claims", "--chapter", "99"], "no chapter 99"),
    (["results", "list", "--results-dir", "/nonexistent"], "no results folder /nonexistent"),
    (["results", "verify", "--results-dir", "/nonexistent"], "no results folder /nonexistent"),
])
def test_missing_things_are_bad_input_not_silence(capsys, argv, says):
    assert says in one_line(capsys, EXIT_USAGE, *argv)


def test_the_exit_statuses_are_documented():
    doc = cli.__doc__
    for status, words in [(1, "a claim does not hold"), (2, "bad input"), (5, "the results are damaged"),
                          (6, "deepgep run"), (130, "interrupted")]:
        assert f"* {status} " in doc and words in doc
