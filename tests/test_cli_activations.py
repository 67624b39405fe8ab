"""The command line with an activation given as ``module:function`` (deepgep.cli.model,
deepgep.theory.activations.resolve_function): the same coefficients as the built-ins when the
function is the same, a warning naming the hypothesis that fails otherwise, a user's module of
the working folder, and one-line errors for what cannot be resolved or evaluated.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepgep.cli import main
from deepgep.theory.layers import erf_coefficients

ROOT = Path(__file__).resolve().parents[1]
SOFTPLUS_MODULE = '''\
import numpy as np


def softplus(u):
    return np.logaddexp(0.0, u)


def odd_softsign(u):
    return u / (1.0 + np.abs(u)) + 0.0 * u


def smooth_odd(u):
    return np.arctan(u)
'''


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module ``acts_for_test.py`` in a fresh working folder, as a user would write it."""
    (tmp_path / "acts_for_test.py").write_text(SOFTPLUS_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "acts_for_test"
    sys.modules.pop("acts_for_test", None)


def test_numpy_tanh_by_name_is_the_builtin_tanh(capsys):
    """Identity: the callable numpy:tanh runs the recursion in Python on the same quadrature rule
    as the compiled built-in, so every coefficient agrees to rounding (measured 4e-16): 1e-13."""
    argv = ("equivalent", "--gain", "2", "--depth", "3", "--rho", "1.5", "--eps", "0.1")
    code, out, err = run(capsys, *argv, "--activation", "numpy:tanh")
    assert code == 0 and err == ""
    user = json.loads(out)
    builtin = json.loads(run(capsys, *argv, "--activation", "tanh")[1])
    assert user["activation"] == "numpy:tanh" and user["satisfies_theorem"] is True
    for key in ("sigma", "rho", "eps", "eta", "gamma"):
        np.testing.assert_allclose(user[key], builtin[key], rtol=1e-13, atol=1e-15, err_msg=key)


def test_scipy_erf_against_the_closed_forms(capsys):
    """scipy.special:erf against the closed forms of book eq-erf-coefficients (Williams 1997):
    an independent check of the callable path, 1e-12 (the default rule reaches 1e-14 on them)."""
    code, out, err = run(capsys, "equivalent", "--activation", "scipy.special:erf", "--gain", "1.5", "--depth", "3")
    assert code == 0 and err == ""
    doc = json.loads(out)
    sigma, rho = erf_coefficients(3, gain=1.5)
    np.testing.assert_allclose(doc["sigma"], sigma, rtol=1e-12)
    np.testing.assert_allclose(doc["rho"], rho, rtol=1e-12)


def test_an_activation_satisfying_the_theorem_gives_no_warning(capsys):
    """arcsinh is odd, with f' = (1 + u^2)^(-1/2) and f'' bounded: inside the theorem."""
    code, out, err = run(capsys, "bayes", "--activation", "numpy:arcsinh", "--gain", "2", "--depth", "2",
                         "--channel", "linear", "--noise", "0.1", "--alpha", "0.5,1", "--format", "csv")
    assert code == 0 and err == ""
    df = pd.read_csv(io.StringIO(out))
    assert set(df["activation"]) == {"numpy:arcsinh"} and df["satisfies_theorem"].all()


@pytest.mark.parametrize("spec, words", [
    ("numpy:sinh", ["f' is unbounded", "still grows at |u| = 50"]),
    ("numpy:cbrt", ["not continuously differentiable", "infinite slope"]),
    ("numpy:abs", ["not odd", "not C^2", "kink", "mean mu_l"]),
])
def test_activation_outside_the_theorem_warns_which_hypothesis_fails(capsys, spec, words):
    code, out, err = run(capsys, "equivalent", "--activation", spec, "--depth", "1")
    assert code == 0 and json.loads(out)["satisfies_theorem"] is False
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"deepgep: warning: outside the theorem's hypotheses: activation {spec!r}: ")
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_a_users_module_in_the_working_folder(capsys, user_module):
    """softplus (not odd) warns; arctan (odd, smooth, bounded derivatives) does not."""
    code, out, err = run(capsys, "equivalent", "--activation", f"{user_module}:softplus", "--depth", "2")
    assert code == 0 and "not odd" in err and "unbounded" not in err and "C^2" not in err
    doc = json.loads(out)
    assert doc["activation"] == f"{user_module}:softplus" and doc["mean"][0] > 0.5  # E softplus(Z) = 0.806
    code, out, err = run(capsys, "equivalent", "--activation", f"{user_module}:smooth_odd", "--depth", "2")
    assert code == 0 and err == "" and json.loads(out)["satisfies_theorem"] is True


def test_softsign_is_flagged_for_its_second_derivative(capsys, user_module):
    """u / (1 + |u|) is odd and C^1, but f'' jumps from -2 to 2 at 0: not C^2."""
    code, _, err = run(capsys, "equivalent", "--activation", f"{user_module}:odd_softsign", "--depth", "1")
    assert code == 0 and "not C^2" in err and "not odd" not in err


def test_console_script_finds_a_module_of_the_working_folder(tmp_path):
    """The installed ``deepgep`` (whose sys.path[0] is the scripts folder, not the working folder)
    imports a user's module from where it runs, as ``python -m`` would."""
    (tmp_path / "acts_for_test.py").write_text(SOFTPLUS_MODULE)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(Path(sys.executable).parent / "deepgep"), "equivalent", "--activation",
                           "acts_for_test:smooth_odd", "--depth", "1", "--format", "csv"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(io.StringIO(proc.stdout))
    assert list(df["layer"]) == [0, 1] and set(df["activation"]) == {"acts_for_test:smooth_odd"}


@pytest.mark.parametrize("spec, message", [
    ("numpy:sinhh", "'numpy' has no attribute 'sinhh'"),
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("math:sinh", "must act elementwise on numpy arrays"),
    ("numpy:pi", "not a function"),
    ("os:system;ls", "module:function with Python identifiers"),
    ("numpy:", "module:function with Python identifiers"),
    ("softplus", "unknown activation 'softplus'"),
])
def test_unresolvable_activations_are_one_line_errors(capsys, spec, message):
    code, out, err = run(capsys, "equivalent", "--activation", spec, "--depth", "1")
    assert code == 2 and out == ""
    assert err.startswith("deepgep: error:") and err.count("\n") == 1 and message in err, err


def test_an_activation_that_overflows_is_refused_in_one_line(capsys):
    """exp grows so fast that the layer variance is not finite at depth 4, gain 3."""
    code, out, err = run(capsys, "equivalent", "--activation", "numpy:exp", "--gain", "3", "--depth", "4")
    assert code == 2 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("deepgep: error:")]
    assert len(errors) == 1 and "finite" in errors[0]
