"""The command line (deepgep.cli): outputs against the library and the book's reference values, error handling.

Most tests call ``main(argv)`` in-process and read stdout/stderr with ``capsys``; two run the
real entry points (``python -m deepgep`` and the installed ``deepgep`` console script).
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepgep import cli
from deepgep.cli import RECORD_KEYS, main, parse_alpha_grid
from deepgep.cli import timing
from deepgep.theory.channels import make_channel
from deepgep.theory.hypotheses import TheoremWarning
from deepgep.theory.layers import equivalent_glm, layer_coefficients
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form

TANH2 = ["--activation", "tanh", "--gain", "2", "--depth", "2"]
EQUIVALENT_KEYS = {"activation", "gain", "depth", "readout_gain", "readout_noise", "sigma", "rho",
                   "eps", "mean", "eta", "gamma", "eta0", "gamma0", "kappa", "satisfies_theorem",
                   "widths", "d_min"}
MODEL_KEYS = {"activation", "gain", "depth", "readout_gain", "readout_noise", "eta0", "gamma0",
              "kappa", "channel", "noise", "satisfies_theorem"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


def read_csv(text: str) -> pd.DataFrame:
    """The CSV as a reader parses it: pandas with no option (no comment lines to skip)."""
    return pd.read_csv(io.StringIO(text))


BAYES_CSV_COLUMNS = [*RECORD_KEYS, "activation", "gain", "depth", "readout_gain", "readout_noise", "eta0",
                     "gamma0", "kappa", "channel", "noise", "satisfies_theorem", "damping", "tol", "max_iter"]
EQUIVALENT_CSV_COLUMNS = ["layer", "width", "sigma", "rho", "eps", "mean", "eta", "gamma", "activation", "gain",
                          "depth", "readout_gain", "readout_noise", "eta0", "gamma0", "kappa", "satisfies_theorem",
                          "d_min"]


# --- equivalent ------------------------------------------------------------------------------


def test_equivalent_reference_values_of_science_md(capsys):
    """Cui et al.'s example (book eq-composition): eta0^2 = 0.409095, gamma0 = 0.152506."""
    doc = run_json(capsys, "equivalent", *TANH2)
    assert set(doc) == EQUIVALENT_KEYS
    assert doc["kappa"] == pytest.approx(0.409095, abs=1e-6)
    assert doc["eta0"] ** 2 == pytest.approx(doc["kappa"], rel=1e-15)
    assert doc["gamma0"] == pytest.approx(0.152506, abs=1e-6)
    np.testing.assert_allclose(doc["sigma"], [1.0, 0.635261, 0.561601], atol=1e-6)
    np.testing.assert_allclose(doc["rho"], [0.729478, 0.876799], atol=1e-6)
    np.testing.assert_allclose(doc["eps"], [0.103124, 0.073227], atol=1e-6)
    np.testing.assert_allclose(doc["mean"], [0.0, 0.0], atol=1e-12)
    assert len(doc["eta"]) == len(doc["gamma"]) == 3
    assert doc["eta"][0] == doc["eta0"] and doc["gamma"][0] == doc["gamma0"]
    assert (doc["eta"][2], doc["gamma"][2]) == (1.0, 0.0)
    assert doc["satisfies_theorem"] is True
    assert doc["widths"] is None and doc["d_min"] is None
    assert (doc["activation"], doc["gain"], doc["depth"]) == ("tanh", 2.0, 2)


def test_equivalent_readout_and_widths(capsys):
    base = run_json(capsys, "equivalent", *TANH2)
    doc = run_json(capsys, "equivalent", *TANH2, "--rho", "1.5", "--eps", "0.2",
                   "--widths", "400,300,200")
    assert doc["widths"] == [400, 300, 200] and doc["d_min"] == 200
    assert doc["sigma"] == base["sigma"]  # the widths do not enter the asymptotic coefficients
    assert doc["kappa"] == pytest.approx(1.5**2 * base["kappa"], rel=1e-14)
    assert doc["gamma0"] == pytest.approx(0.2 + 1.5**2 * base["gamma0"], rel=1e-14)
    assert (doc["readout_gain"], doc["readout_noise"]) == (1.5, 0.2)


def test_equivalent_depth_zero_is_the_plain_glm(capsys):
    doc = run_json(capsys, "equivalent", "--depth", "0", "--rho", "2", "--eps", "0.1")
    assert (doc["eta0"], doc["gamma0"], doc["kappa"]) == (2.0, 0.1, 4.0)
    assert doc["sigma"] == [1.0] and doc["rho"] == doc["eps"] == doc["mean"] == []
    assert doc["activation"] is None and doc["gain"] is None


def test_equivalent_table(capsys):
    code, out, err = run(capsys, "equivalent", *TANH2, "--widths", "4,3,2", "--format", "table")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert any(line.split() == ["kappa", "0.40909452"] for line in lines)
    assert any(line.split() == ["d_min", "2"] for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["l/k", "sigma_l"])
    assert len(lines) == header + 1 + 3  # one row per l = 0..L
    assert len({len(line) for line in lines[header:]}) == 1  # aligned columns


def test_relu_activation_warns_but_computes(capsys):
    code, out, err = run(capsys, "equivalent", "--activation", "relu", "--depth", "1")
    assert code == 0
    assert json.loads(out)["satisfies_theorem"] is False
    assert err.startswith("deepgep: warning: outside the theorem's hypotheses: ")
    assert len(err.splitlines()) == 1
    # which hypotheses fail, measured: not odd, and a kink (not C^2)
    assert "'relu'" in err and "not odd" in err and "not C^2" in err and "kink" in err


def test_equivalent_csv_reads_with_pandas_as_is(capsys):
    """One row per l = 0..L, the model in columns on every row; the same numbers as the json
    (full precision) and the types a reader expects."""
    doc = run_json(capsys, "equivalent", *TANH2, "--widths", "400,300,200")
    code, out, err = run(capsys, "equivalent", *TANH2, "--widths", "400,300,200", "--format", "csv")
    assert code == 0 and err == ""
    df = read_csv(out)
    assert list(df.columns) == EQUIVALENT_CSV_COLUMNS
    assert list(df["layer"]) == [0, 1, 2] and list(df["width"]) == [400, 300, 200]
    for key in ("layer", "width", "depth", "d_min"):
        assert df[key].dtype == np.int64, key
    for key in ("sigma", "rho", "eps", "mean", "eta", "gamma", "gain", "eta0", "gamma0", "kappa"):
        assert df[key].dtype == np.float64, key
    assert df["satisfies_theorem"].dtype == bool and df["satisfies_theorem"].all()
    assert set(df["activation"]) == {"tanh"}
    assert list(df["sigma"]) == doc["sigma"] and list(df["rho"][1:]) == doc["rho"]
    assert list(df["eps"][1:]) == doc["eps"] and list(df["eta"]) == doc["eta"]
    assert list(df["gamma"]) == doc["gamma"]
    assert df["rho"].isna()[0] and df["eps"].isna()[0] and df["mean"].isna()[0]  # layer 0: the input
    assert (df["kappa"] == doc["kappa"]).all() and (df["gamma0"] == doc["gamma0"]).all()


def test_equivalent_csv_without_widths_and_at_depth_zero(capsys):
    _, out, _ = run(capsys, "equivalent", *TANH2, "--format", "csv")
    df = read_csv(out)
    assert len(df) == 3 and df["width"].isna().all() and df["d_min"].isna().all()
    _, out, _ = run(capsys, "equivalent", "--depth", "0", "--rho", "2", "--format", "csv")
    df = read_csv(out)
    assert len(df) == 1 and df["kappa"][0] == 4.0 and df["activation"].isna().all()


# --- bayes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rho, eps, noise", [(1.0, 0.0, 0.5), (1.5, 0.2, 0.1)])
def test_depth_zero_linear_channel_matches_closed_form(capsys, rho, eps, noise):
    """Plain GLM y = z + sqrt(Delta) xi (book eq-linear-closed-form): q, errors and mutual
    information against state_evolution.gaussian_closed_form with noise gamma0 + Delta."""
    alphas = [0.25, 1.0, 3.0, 8.0]
    doc = run_json(capsys, "bayes", "--depth", "0", "--rho", str(rho), "--eps", str(eps),
                   "--channel", "linear", "--noise", str(noise), "--tol", "1e-14",
                   "--alpha", ",".join(map(str, alphas)))
    assert doc["model"]["kappa"] == rho**2 and doc["model"]["gamma0"] == eps
    assert [r["alpha"] for r in doc["records"]] == alphas
    for rec in doc["records"]:
        exact = gaussian_closed_form(rho**2, eps + noise, rec["alpha"])
        for key in ("q", "q_hat", "mse", "test_error", "mutual_information"):
            assert rec[key] == pytest.approx(exact[key], rel=1e-9, abs=1e-11), key
        assert rec["branches_disagree"] is False


def test_bayes_json_has_every_key(capsys):
    doc = run_json(capsys, "bayes", *TANH2, "--channel", "sign", "--alpha", "0.5,1,2")
    assert set(doc) == {"model", "solver", "records"}
    assert MODEL_KEYS <= set(doc["model"])
    model = doc["model"]
    assert model["kappa"] == pytest.approx(0.409095, abs=1e-6)
    assert model["gamma0"] == pytest.approx(0.152506, abs=1e-6)
    # sign is odd but not C^2: outside the proof (the conjecture of Cui et al. covers it)
    assert (model["channel"], model["noise"], model["satisfies_theorem"]) == ("sign", 0.0, False)
    assert doc["solver"] == {"damping": 0.0, "tol": 1e-10, "max_iter": 10000}
    assert len(doc["records"]) == 3
    for rec in doc["records"]:
        assert list(rec) == list(RECORD_KEYS)
        assert isinstance(rec["iterations"], int) and isinstance(rec["branches_disagree"], bool)
        assert 0.0 < rec["q"] < 1.0 and rec["mse"] == pytest.approx(1.0 - rec["q"], abs=1e-15)
        assert rec["mutual_information_per_sample"] == pytest.approx(
            rec["mutual_information"] / rec["alpha"], rel=1e-14)
        # Bayes classification error of the probit channel (book eq-classification-error)
        rho_tot = model["kappa"] + model["gamma0"]
        assert rec["test_error"] == pytest.approx(
            math.acos(math.sqrt(model["kappa"] * rec["q"] / rho_tot)) / math.pi, rel=1e-12)


def test_bayes_csv_one_row_per_alpha(capsys):
    """pandas reads the csv as it is: one header row (no comment lines), the records' columns,
    then the model's and the solver's, repeated on every row, with their types."""
    code, out, err = run(capsys, "bayes", *TANH2, "--channel", "sign", "--alpha", "0.1:7:12",
                         "--format", "csv")
    # the sign readout is outside the proof: the CLI says so, and still answers
    assert code == 0 and "not C^2" in err and "Cui et al." in err
    assert not out.startswith("#")
    df = read_csv(out)
    assert list(df.columns) == BAYES_CSV_COLUMNS and MODEL_KEYS <= set(df.columns)
    assert len(df) == 12
    assert set(df["channel"]) == {"sign"} and set(df["depth"]) == {2} and set(df["activation"]) == {"tanh"}
    assert df["kappa"].nunique() == 1 and df["kappa"][0] == pytest.approx(0.409095, abs=1e-6)
    for key in ("iterations", "depth", "max_iter"):
        assert df[key].dtype == np.int64, key
    for key in ("alpha", "q", "q_hat", "mse", "free_entropy", "kappa", "gamma0", "noise", "tol", "gain"):
        assert df[key].dtype == np.float64, key
    assert df["branches_disagree"].dtype == bool and df["satisfies_theorem"].dtype == bool
    assert not df["satisfies_theorem"].any()  # the sign readout
    np.testing.assert_allclose(df["alpha"], np.linspace(0.1, 7, 12), rtol=1e-15)
    assert df["q"].is_monotonic_increasing  # the overlap grows with alpha


def test_bayes_csv_at_depth_zero_has_empty_activation(capsys):
    _, out, _ = run(capsys, "bayes", "--depth", "0", "--channel", "linear", "--noise", "0.5",
                    "--alpha", "0.5,1", "--format", "csv")
    df = read_csv(out)
    assert len(df) == 2 and df["activation"].isna().all() and df["gain"].isna().all()
    assert df["satisfies_theorem"].all() and list(df["depth"]) == [0, 0]


def test_csv_and_json_agree_to_full_precision(capsys):
    argv = ("bayes", "--depth", "1", "--activation", "erf", "--channel", "sign", "--noise", "0.1",
            "--alpha", "0.5,2")
    doc = run_json(capsys, *argv)
    _, out, _ = run(capsys, *argv, "--format", "csv")
    df = read_csv(out)
    for key in RECORD_KEYS:
        assert list(df[key]) == [rec[key] for rec in doc["records"]], key
    for key, value in {**doc["model"], **doc["solver"]}.items():
        assert set(df[key]) == {value}, key


def test_bayes_table(capsys):
    code, out, err = run(capsys, "bayes", "--depth", "0", "--channel", "linear", "--noise", "0.5",
                         "--alpha", "0.5,1,2", "--format", "table")
    assert code == 0 and err == ""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["alpha", "q"])
    assert lines[header].split() == list(RECORD_KEYS)
    assert [line.split()[0] for line in lines[header + 1:]] == ["0.5", "1", "2"]
    assert len({len(line) for line in lines[header:]}) == 1


@pytest.mark.parametrize("spec, expected", [
    ("0.5,1,2", [0.5, 1.0, 2.0]),
    ("3", [3.0]),
    ("0.5:2:4", [0.5, 1.0, 1.5, 2.0]),
    ("0.1:7:50", list(np.linspace(0.1, 7, 50))),
    ("2:2:1", [2.0]),
])
def test_alpha_grids(spec, expected):
    grid = parse_alpha_grid(spec)
    np.testing.assert_allclose(grid, expected, rtol=1e-15)
    assert grid[-1] == expected[-1]  # the stop value is exact


def test_comma_and_range_grids_give_the_same_records(capsys):
    common = ("bayes", *TANH2, "--channel", "sign")
    a = run_json(capsys, *common, "--alpha", "1:3:3")["records"]
    b = run_json(capsys, *common, "--alpha", "1,2,3")["records"]
    assert a == b


def test_warning_for_a_channel_outside_the_theorem(capsys):
    """relu output: computed, one warning line. (--tol 1 keeps the quadrature channel fast.)"""
    code, out, err = run(capsys, "bayes", "--depth", "1", "--channel", "relu", "--noise", "0.1",
                         "--alpha", "1", "--tol", "1")
    assert code == 0
    assert json.loads(out)["model"]["satisfies_theorem"] is False
    # one theorem warning; on a loaded machine a timing warning (the quadrature channel is slow)
    # may come first, and the progress bars after
    warnings = [line for line in err.splitlines() if line.startswith("deepgep: warning: outside the theorem's")]
    assert len(warnings) == 1, err
    assert "'relu'" in err and len(err.splitlines()) == 1


def test_warning_for_relu_activation_in_bayes(capsys):
    """Two hypotheses fail, one warning line each, in the order the library meets them: the
    activation (layer_coefficients), then the readout (bayes_optimal_curve)."""
    code, out, err = run(capsys, "bayes", "--depth", "2", "--activation", "relu", "--channel",
                         "sign", "--alpha", "1,2")
    assert code == 0 and len(json.loads(out)["records"]) == 2
    lines = err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("deepgep: warning: outside the theorem's hypotheses: ") for line in lines)
    assert "'relu'" in lines[0] and "sign readout" in lines[1]


def test_cli_warnings_are_the_library_warnings(capsys):
    """The CLI prints the TheoremWarnings of the Python API (one home of the texts)."""
    with pytest.warns(TheoremWarning) as caught:
        glm = equivalent_glm(layer_coefficients("relu", 2))
        bayes_optimal_curve(make_channel("sign", glm.gamma0), glm.kappa, [1.0, 2.0])
    library = [str(w.message) for w in caught]
    _, _, err = run(capsys, "bayes", "--depth", "2", "--activation", "relu", "--channel", "sign",
                    "--alpha", "1,2")
    assert [line.removeprefix("deepgep: warning: ") for line in err.splitlines()] == library


def test_slow_channel_says_how_long_and_shows_progress(capsys, monkeypatch):
    """A run expected to exceed SLOW_SECONDS prints the expected time (from one timed average)
    and turns the progress bars on; a fast one prints nothing."""
    argv = ("bayes", "--depth", "1", "--channel", "tanh", "--noise", "0.1", "--alpha", "1,2", "--tol", "1e-3")
    code, _, err = run(capsys, *argv)
    assert code == 0 and err == ""
    monkeypatch.setattr(timing, "SLOW_SECONDS", 0.0)
    code, out, err = run(capsys, *argv)
    assert code == 0 and len(json.loads(out)["records"]) == 2
    note = err.splitlines()[0]
    assert note.startswith("deepgep: warning: the tanh channel is integrated by quadrature (")
    assert "ms per average" in note and "for 2 alpha points" in note and "uninformed" in err


def test_depth_zero_ignores_activation_with_a_note(capsys):
    code, out, err = run(capsys, "bayes", "--depth", "0", "--activation", "relu", "--channel",
                         "linear", "--noise", "1", "--alpha", "1")
    assert code == 0 and json.loads(out)["model"]["activation"] is None
    assert "ignored" in err and "outside the theorem" not in err


def test_progress_goes_to_stderr(capsys):
    code, out, err = run(capsys, "bayes", "--depth", "0", "--channel", "linear", "--noise", "1",
                         "--alpha", "1,2", "--progress", "--format", "csv")
    assert code == 0 and "uninformed" in err
    assert len(read_csv(out)) == 2


# --- errors ----------------------------------------------------------------------------------

BAYES_OK = ["bayes", *TANH2, "--channel", "sign"]


@pytest.mark.parametrize("argv", [
    [*BAYES_OK, "--alpha", "0"],
    [*BAYES_OK, "--alpha=-1"],
    [*BAYES_OK, "--alpha", "nan"],
    [*BAYES_OK, "--alpha", "inf"],
    [*BAYES_OK, "--alpha", "1:2"],
    [*BAYES_OK, "--alpha", "1:2:3:4"],
    [*BAYES_OK, "--alpha", "a,b"],
    [*BAYES_OK, "--alpha", "1,,2"],
    [*BAYES_OK, "--alpha", "2,1"],
    [*BAYES_OK, "--alpha", "1:2:0"],
    [*BAYES_OK, "--alpha", "1:2:x"],
    [*BAYES_OK, "--alpha", "2:1:3"],
    [*BAYES_OK, "--alpha", "0:1:3"],
    [*BAYES_OK, "--alpha", "1", "--noise", "-0.1"],
    [*BAYES_OK, "--alpha", "1", "--noise", "nan"],
    [*BAYES_OK, "--alpha", "1", "--damping", "1"],
    [*BAYES_OK, "--alpha", "1", "--tol", "0"],
    [*BAYES_OK, "--alpha", "1", "--max-iter", "0"],
    [*BAYES_OK, "--alpha", "1", "--format", "xml"],
    ["bayes", *TANH2, "--channel", "softmax", "--alpha", "1"],
    ["bayes", "--activation", "swish", "--depth", "1", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--gain", "0", "--depth", "1", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--gain", "-2", "--depth", "1", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--depth", "-1", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--depth", "1.5", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--depth", "0", "--channel", "linear", "--alpha", "1"],  # gamma0 + Delta = 0
    ["bayes", "--depth", "1", "--channel", "tanh", "--noise", "0.001", "--alpha", "1"],
    ["bayes", "--depth", "1", "--rho", "0", "--channel", "sign", "--alpha", "1"],
    ["bayes", "--depth", "1", "--channel", "sign"],  # --alpha missing
    ["equivalent", *TANH2, "--widths", "100,150"],
    ["equivalent", *TANH2, "--widths", "100,0,150"],
    ["equivalent", *TANH2, "--widths", "100,x,150"],
    ["equivalent", *TANH2, "--eps", "-1"],
    ["equivalent", "--depth", "0", "--rho", "inf"],
    ["equivalent", "--activation", "swish", "--depth", "1"],
    ["equivalent", "--depth", "-2"],
    ["equivalent"],
    ["frobnicate"],
    [],
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("deepgep: error:") and err.count("\n") == 1, err


@pytest.mark.parametrize("what, argv, known", [
    ("channel", ["bayes", *TANH2, "--channel", "softmax", "--alpha", "1"],
     ["linear", "sign", "tanh", "erf", "sin", "relu", "abs"]),
    ("activation", ["equivalent", "--activation", "swish", "--depth", "1"],
     ["linear", "tanh", "erf", "sin", "relu"]),
])
def test_unknown_names_list_the_known_ones(capsys, what, argv, known):
    _, _, err = run(capsys, *argv)
    assert f"unknown {what}" in err and all(name in err for name in known)


def test_no_convergence_is_exit_code_3(capsys):
    code, out, err = run(capsys, *BAYES_OK, "--alpha", "0.5,1", "--max-iter", "2")
    assert code == 3 and out == ""
    # one error line, after the caveat that the sign readout is outside the proof
    errors = [line for line in err.splitlines() if line.startswith("deepgep: error:")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0]
    assert "--damping" in err and "--max-iter" in err


def test_non_finite_results_are_refused(capsys, monkeypatch):
    """A NaN from the solver is an internal error (exit 4), never printed."""
    from deepgep.cli import model

    real = model.bayes_optimal_curve

    def poisoned(*args, **kwargs):
        rec = real(*args, **kwargs)
        rec["free_entropy"] = rec["free_entropy"] * np.nan
        return rec

    monkeypatch.setattr(model, "bayes_optimal_curve", poisoned)
    code, out, err = run(capsys, *BAYES_OK, "--alpha", "1")
    assert code == cli.EXIT_NON_FINITE and out == ""
    assert "deepgep: error:" in err and "free_entropy" in err


# --- help ------------------------------------------------------------------------------------

EQUIVALENT_OPTIONS = ["--activation", "--gain", "--depth", "--rho", "--eps", "--widths",
                      "--format"]
BAYES_OPTIONS = ["--activation", "--gain", "--depth", "--rho", "--eps", "--channel", "--noise",
                 "--alpha", "--format", "--damping", "--tol", "--max-iter", "--progress"]


@pytest.mark.parametrize("command, options", [
    ([], ["equivalent", "bayes", "run", "results", "claims"]),
    (["run"], ["--chapter", "--preset", "--set", "--scheduler", "--show", "--store", "--no-notebook"]),
    (["equivalent"], EQUIVALENT_OPTIONS),
    (["bayes"], BAYES_OPTIONS),
])
def test_help_documents_every_option(capsys, command, options):
    code, out, err = run(capsys, *command, "--help")
    assert code == 0 and err == ""
    for option in options:
        assert option in out, option
    assert "example" in out and "deepgep " in out
    # and every option the parser itself declares (nothing added later goes undocumented)
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    actions = commands[command[0]]._actions if command else parser._actions  # noqa: SLF001
    for action in actions:
        for option in action.option_strings:
            assert option in out, option
    if not command:
        assert set(commands) == {"equivalent", "bayes", "run", "results", "claims"}


# --- entry points ----------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / "_build" /
                                          "numba_cache"))
    return env


def test_python_dash_m_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "deepgep", "equivalent", *TANH2],
        capture_output=True, text=True, timeout=120, env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["gamma0"] == pytest.approx(0.152506, abs=1e-6)


def test_console_script_entry_point():
    exe = Path(sys.executable).parent / "deepgep"
    assert exe.exists(), f"console script not installed at {exe}"
    proc = subprocess.run(
        [str(exe), "bayes", *TANH2, "--channel", "sign", "--alpha", "0.5:2:4", "--format", "csv"],
        capture_output=True, text=True, timeout=120, env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    df = read_csv(proc.stdout)
    assert set(df["channel"]) == {"sign"} and len(df) == 4
    bad = subprocess.run([str(exe), "bayes", *TANH2, "--channel", "sign", "--alpha", "0"],
                         capture_output=True, text=True, timeout=120, env=_env())
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("deepgep: error:") and bad.stderr.count("\n") == 1


# --- run and results: the recorded tables -----------------------------------------------------

#: A tiny Chapter 8 (a few seconds): the fast preset with fewer, smaller batches.
TINY8 = ["--set", "batches=2", "--set", "batch_networks=500", "--set", "kurtosis_batches=2",
         "--set", "kurtosis_batch_networks=500", "--set", "kurtosis_widths=[4]"]


def test_run_show_lists_parameters_and_tables(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    code, out, err = run(capsys, "run", "--chapter", "8", "--preset", "fast", "--set", "width=8", "--show")
    assert code == 0, err
    assert "WIDTH" in out and "DEPTH_RATIOS" in out and "depths L = lambda N" in out
    assert "outputs:" in out and str(tmp_path) in out and not list(tmp_path.iterdir())  # nothing ran


def test_run_computes_the_tables_then_reads_them(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path))
    argv = ["run", "--chapter", "8", "--preset", "fast", *TINY8, "--scheduler", "serial", "--no-notebook",
            "--no-progress"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert out.count("tasks added") == 2 and "0 errors" in out
    code, out, err = run(capsys, *argv)  # again: everything is stored
    assert code == 0 and "0 tasks added" in out
    code, out, err = run(capsys, "results", "list", "--format", "json", "--results-dir", str(tmp_path))
    assert code == 0
    entries = json.loads(out)
    assert [(e["chapter"], e["name"], e["complete"], e["book"]) for e in entries] == [
        (8, "kurtosis", True, False), (8, "outputs", True, False)]


@pytest.mark.parametrize("argv, message", [
    (["run", "--chapter", "99"], "no chapter"),
    (["run", "--chapter", "8", "--set", "widht=8", "--show"], "no parameter widht"),
    (["run", "--chapter", "8", "--set", "width=8.5", "--show"], "width must be an integer"),
    (["run", "--chapter", "8", "--set", "width", "--show"], "NAME=VALUE"),
    (["run", "--chapter", "8", "--preset", "fast", "--store"], "--store"),
    (["claims", "--chapter", "99"], "no chapter 99"),
    (["results", "list", "--chapter", "99"], "no chapter 99"),
])
def test_run_and_results_refuse_bad_input_in_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_results_verify_checks_the_books_tables(capsys):
    code, out, err = run(capsys, "results", "verify", "--chapter", "8", "--sample", "1")
    assert code == 0, err
    assert out.count("0 mismatches") == 2 and "P(one altered task is recomputed)" in out


def test_claims_report_on_the_recorded_tables(capsys):
    """`deepgep claims --format json` on the committed tables: every claim holds and every
    named wrong theory is rejected (exit 0), with the documented keys."""
    code, out, err = run(capsys, "claims", "--chapter", "8", "--format", "json")
    assert code == 0, err
    verdicts = json.loads(out)
    assert len(verdicts) >= 3
    for v in verdicts:
        assert set(v) == {"chapter", "kind", "name", "statement", "statistic", "threshold", "holds", "detail",
                          "perturbations", "resolution"}
        assert v["holds"] and v["perturbations"] and not any(p["holds"] for p in v["perturbations"])
    assert any(r["parameter"] == "depth_factor" for v in verdicts for r in v["resolution"])
