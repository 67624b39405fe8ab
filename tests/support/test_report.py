"""The tables notebooks show: text for nbval, HTML that fits the page (deepgep.support.report)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from deepgep.support.claims import resolution_text
from deepgep.support.report import TABLE_CLASS, TABLE_CSS, Table, claim_tables, format_table, html_table


def test_html_table_escapes_aligns_numbers_and_wraps_lists():
    html = html_table({"n": [1, 20], "what": ["a < b & c", ["first", "second"]], "x": [0.123456, -0.0]},
                      digits=3, caption="T")
    assert html.startswith(f"<style>{TABLE_CSS}</style>") and f'<table class="{TABLE_CLASS}">' in html
    assert "<caption>T</caption>" in html
    assert "a &lt; b &amp; c" in html and "first<br>second" in html
    assert '<th class="num">n</th><th>what</th><th class="num">x</th>' in html
    assert '<td class="num">0.123</td>' in html and '<td class="num">0.000</td>' in html  # -0.0 as 0.0
    assert " id=" not in html, "generated ids would make nbval's comparison of the HTML fail"
    assert html == html_table({"n": [1, 20], "what": ["a < b & c", ["first", "second"]],
                               "x": [0.123456, -0.0]}, digits=3, caption="T")


def test_html_table_tooltips_and_errors():
    html = html_table({"k": [1, 2], "name": ["a", "b"]}, titles=["says <a>", ""], title_column="name")
    assert '<td title="says &lt;a&gt;">a</td>' in html and "<td>b</td>" in html
    with pytest.raises(ValueError, match="equal lengths"):
        html_table({"a": [1], "b": [1, 2]})
    with pytest.raises(ValueError, match="one title per row"):
        html_table({"a": [1, 2]}, titles=["x"])
    with pytest.raises(ValueError, match="is not a column"):
        html_table({"a": [1]}, titles=["x"], title_column="b")
    assert '<td colspan="2">none</td>' in html_table({"a": [], "b": []})


def test_the_style_fills_the_page_and_wraps_everything_but_numbers():
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", TABLE_CSS))
    table = rules[f"table.{TABLE_CLASS} "]
    assert "width: 100%" in table
    cells = rules[f" table.{TABLE_CLASS} th, table.{TABLE_CLASS} td "]
    assert "overflow-wrap: anywhere" in cells and "white-space: normal" in cells
    assert "white-space: nowrap" in rules[f" table.{TABLE_CLASS} .num "]
    assert "white-space: normal" in rules[f" table.{TABLE_CLASS} th.num "]  # a long title wraps


def test_a_table_of_a_dataframe_is_the_table_of_its_columns():
    frame = pd.DataFrame({"d0": [8, 16], "mean": [0.5, 0.25]})
    table = Table(frame, digits=2)
    assert repr(table) == format_table({"d0": [8, 16], "mean": [0.5, 0.25]}, digits=2)
    assert table._repr_html_() == html_table({"d0": [8, 16], "mean": [0.5, 0.25]}, 2)


def test_a_table_is_html_in_the_book_and_format_table_text_for_nbval():
    columns = {"depth": [1, 2], "error": [0.25, 0.125], "notes": [["a", "b"], "c"]}
    table = Table(columns, digits=3, caption="Errors")
    assert repr(table) == "Errors\n" + format_table({"depth": [1, 2], "error": [0.25, 0.125],
                                                     "notes": ["a; b", "c"]}, digits=3)
    assert table._repr_html_() == html_table(columns, 3, "Errors")
    assert repr(Table({"a": [], "b": []})) == "a  b\n(none)"
    with pytest.raises(ValueError, match="equal lengths"):
        Table({"a": [1], "b": []})


def _verdict(name, kind="claim", holds=True, statistic=1.0, perturbations=(), resolution=()):
    return {"chapter": 2, "kind": kind, "name": name, "statement": f"{name} holds.",
            "statistic": statistic, "threshold": 3.5, "holds": holds, "detail": "",
            "perturbations": list(perturbations), "resolution": list(resolution)}


def test_claim_tables_split_claims_from_identities():
    gamma = {"parameter": "gamma0", "lower": -0.027, "upper": 0.05}
    verdicts = [
        _verdict("ridge = GLM", statistic=1.234, resolution=[gamma],
                 perturbations=[{"name": "gamma0 -> gamma0/2", "statistic": 45.51, "holds": False},
                                {"name": "depth 1", "statistic": None, "holds": False}]),
        _verdict("optimal ridge = Bayes", kind="identity", statistic=1e-15),
        _verdict("weak", perturbations=[{"name": "close", "statistic": 1.0, "holds": True}]),
    ]
    claims, identities = claim_tables(verdicts)
    assert claims.caption == "Claims (2)" and identities.caption == "Identities (1)"
    assert claims.columns["claim"] == ["ridge = GLM", "weak"]
    assert claims.columns["statistic"] == ["1.23", "1"]
    assert claims.columns["wrong theories rejected (statistic)"][0] == ["gamma0 -> gamma0/2 (45.5)", "depth 1 (inf)"]
    assert claims.columns["wrong theories rejected (statistic)"][1] == ["close (1): NOT rejected"]
    assert claims.columns["resolves"] == [[resolution_text(gamma)], ["-"]]
    assert claims.titles == ["ridge = GLM holds.", "weak holds."]
    assert identities.columns == {"chapter": [2], "identity": ["optimal ridge = Bayes"], "statistic": ["1e-15"],
                                  "threshold": ["3.5"], "holds": ["yes"]}
    with pytest.raises(ValueError, match="unknown kind"):
        claim_tables([_verdict("x", kind="lemma")])
