"""Tests of deepgep.support.presets: the parameters-cell convention of every chapter, and its parser."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import pytest

from deepgep.support.presets import (
    PAPER_MARKER,
    default_preset,
    Parameter,
    ParametersError,
    find_chapter,
    header_comments,
    main,
    parameters_source,
    parse_parameters,
    preset_values,
    presets_table,
    read_presets,
    rerun,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("ch*_*.ipynb"))

GOOD = """\
# Fast preset: 20 s on 2 cores (measured). Paper preset: 30 min (estimated).

SEED = 2025
# a comment on its own line
WIDTHS = [100, 200]        # paper: [200, 400, 800]
N = 1_000                  # paper: 10_000
NAME = "tanh"
GAIN = 2.0                 # paper: 2.0
"""


# ---- the parser ---------------------------------------------------------------------------


def test_parse_reads_names_fast_and_paper_values_in_order():
    params = parse_parameters(GOOD)
    assert list(params) == ["SEED", "WIDTHS", "N", "NAME", "GAIN"]
    assert params["WIDTHS"] == Parameter("WIDTHS", [100, 200], [200, 400, 800], 5)
    assert params["N"].fast == 1000 and params["N"].paper == 10000
    assert params["SEED"].paper == 2025 and not params["SEED"].differs
    assert not params["GAIN"].differs  # a marker equal to the default changes nothing


def test_preset_values_inject_only_what_changes():
    params = parse_parameters(GOOD)
    assert preset_values(params, "fast") == {}
    assert preset_values(params, "paper") == {"WIDTHS": [200, 400, 800], "N": 10000}
    with pytest.raises(ValueError, match="'huge'"):
        preset_values(params, "huge")


def test_int_and_float_of_equal_value_differ():
    assert parse_parameters("X = 1  # paper: 1.0\n")["X"].differs


def test_header_comments_stop_at_the_first_other_line():
    assert header_comments(GOOD) == [
        "Fast preset: 20 s on 2 cores (measured). Paper preset: 30 min (estimated)."]


@pytest.mark.parametrize("source, message", [
    ("A, B = 1, 2\n", "one assignment"),
    ("A = B = 1\n", "one assignment"),
    ("A += 1\n", "one assignment"),
    ("import numpy\n", "one assignment"),
    ("A = [k for k in range(3)]\n", "not a Python literal"),
    ("A = [1,\n     2]\n", "one line"),
    ("A = 1\nA = 2\n", "assigned twice"),
    ("A = 1   # paper scale: 10\n", "end-of-line comments"),
    ("A = 1   # paper: ten\n", "not a Python literal"),
    ("A = 1\n# paper: 10\n", "must end an assignment"),
    ("A = (\n", "not valid Python"),
])
def test_parse_rejects_what_breaks_the_convention(source, message):
    with pytest.raises(ParametersError, match=message):
        parse_parameters(source)


def test_error_names_the_line():
    with pytest.raises(ParametersError, match=r"line 2 \('B = 1  # note'\)"):
        parse_parameters("A = 1\nB = 1  # note\n")


def _notebook(path: Path, sources: list[str]) -> Path:
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": s,
              "outputs": [], "execution_count": None} for s in sources]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf8")
    return path


def test_a_notebook_needs_exactly_one_parameters_cell(tmp_path):
    with pytest.raises(ParametersError, match="found 2"):
        parameters_source(_notebook(tmp_path / "two.ipynb", ["A = 1\n", "B = 2\n"]))
    with pytest.raises(ParametersError, match="found 0"):
        parameters_source(_notebook(tmp_path / "none.ipynb", []))
    with pytest.raises(FileNotFoundError, match="missing"):
        parameters_source(tmp_path / "missing.ipynb")
    assert read_presets(_notebook(tmp_path / "one.ipynb", [GOOD]))["N"].paper == 10000


def test_presets_table_shows_both_presets():
    table = presets_table(parse_parameters(GOOD)).splitlines()
    assert table[0].split() == ["name", "fast", "->", "paper"]
    assert table[2].split() == ["WIDTHS", "[100,", "200]", "->", "[200,", "400,", "800]"]
    assert table[1].split() == ["SEED", "2025", "->", "(same)"]


# ---- chapter selection --------------------------------------------------------------------


def test_find_chapter_accepts_padded_numbers(tmp_path):
    for name in ("ch3_free_entropy.ipynb", "ch12_other.ipynb", "ch1_first.ipynb"):
        (tmp_path / name).write_text("{}")
    for key in (3, "3", "03", "ch3", "CH03"):
        assert find_chapter(key, tmp_path).name == "ch3_free_entropy.ipynb"
    assert find_chapter("12", tmp_path).name == "ch12_other.ipynb"
    assert find_chapter(str(tmp_path / "ch1_first.ipynb")).name == "ch1_first.ipynb"


@pytest.mark.parametrize("key, message", [("x3", "a number"), ("9", "found \\[\\]"),
                                          ("", "a number")])
def test_find_chapter_errors(tmp_path, key, message):
    (tmp_path / "ch3_a.ipynb").write_text("{}")
    with pytest.raises(ValueError, match=message):
        find_chapter(key, tmp_path)


def test_rerun_rejects_unknown_overrides_before_running(tmp_path):
    nb = _notebook(tmp_path / "ch1_x.ipynb", [GOOD])
    with pytest.raises(ParametersError, match="unknown parameters \\['WIDTH'\\]"):
        rerun(nb, tmp_path / "out", overrides={"WIDTH": 3})
    assert not (tmp_path / "out").exists()


def test_rerun_refuses_to_overwrite_its_source(tmp_path):
    nb = _notebook(tmp_path / "ch1_x.ipynb", [GOOD])
    with pytest.raises(ValueError, match="overwrite"):
        rerun(nb, tmp_path, preset="fast")


def test_command_line_show_and_errors(tmp_path, capsys):
    _notebook(tmp_path / "ch2_x.ipynb", [GOOD])
    assert main(["02", "--notebooks", str(tmp_path), "--show"]) == 0
    out = capsys.readouterr().out
    assert "ch2_x.ipynb" in out and "[200, 400, 800]" in out
    assert main(["7", "--notebooks", str(tmp_path)]) == 2
    assert "chapter '7'" in capsys.readouterr().err
    assert main(["2", "--notebooks", str(tmp_path), "--set", "NOPE=1"]) == 2
    assert "unknown parameters" in capsys.readouterr().err
    assert main(["2", "--notebooks", str(tmp_path), "--set", "N=ten"]) == 2
    assert "not a Python literal" in capsys.readouterr().err


# ---- every chapter of the book follows the convention ------------------------------------


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


def _kind(value) -> type:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return numbers.Real
    return type(value)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_parameters_follow_the_convention(nb):
    params = read_presets(nb)  # raises, naming the line, if a line breaks the convention
    assert params, f"{nb.name}: empty parameters cell"
    changed = [p for p in params.values() if p.differs]
    assert changed, f"{nb.name}: no '{PAPER_MARKER} <literal>' marker: document the paper preset"
    for p in changed:
        assert _kind(p.paper) is _kind(p.fast), (
            f"{nb.name}: {p.name} is {type(p.fast).__name__} but its paper value "
            f"{p.paper!r} is {type(p.paper).__name__}")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_parameters_cell_states_both_run_times(nb):
    header = " ".join(header_comments(parameters_source(nb))).lower()
    assert "fast" in header and "paper" in header, (
        f"{nb.name}: the parameters cell must open with comment lines giving the run time of "
        "the fast preset and of the paper preset")
    assert any(ch.isdigit() for ch in header), f"{nb.name}: the header states no run time"


def test_a_paper_default_cell_takes_fast_markers():
    """A cell whose ``PRESET`` is "paper" writes the paper values; ``# fast:`` gives the others,
    and papermill injects them (and only them) for the fast preset."""
    source = 'PRESET = "paper"  # fast: "fast"\nN = 10_000  # fast: 1_000\nSEED = 2025\n'
    params = parse_parameters(source)
    assert default_preset(params) == "paper"
    assert (params["N"].fast, params["N"].paper) == (1000, 10000) and not params["SEED"].differs
    assert preset_values(params, "paper") == {}
    assert preset_values(params, "fast") == {"PRESET": "fast", "N": 1000}
    with pytest.raises(ParametersError, match="# fast: <literal>"):
        parse_parameters('PRESET = "paper"\nN = 10  # paper: 100\n')
    with pytest.raises(ParametersError, match="PRESET must be one of"):
        parse_parameters('PRESET = "huge"\n')
