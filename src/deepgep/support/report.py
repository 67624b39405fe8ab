"""The tables notebooks show: plain text of rounded numbers (what nbval compares), and HTML that
fits the book's page.

:func:`format_table` gives aligned text. :class:`Table` holds the same columns and shows itself
as an HTML table in the book and in Jupyter (``_repr_html_``, :func:`html_table`) and as the text
of :func:`format_table` everywhere else (``repr``, and the ``text/plain`` copy stored in the
notebook that nbval compares). The HTML is deterministic (no generated ids), so nbval compares
it too. Its style (:data:`TABLE_CSS`, written into each table so that a notebook shows it as the
book does) fills the width of the page and wraps long text, in every column but the numbers:
a table never needs a horizontal scroll bar. :func:`claim_tables` makes the two tables of the
claims page from the verdicts of :func:`deepgep.support.claims.evaluate`, :func:`statements` the
table of their statements.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepgep.support.claims import resolution_text

__all__ = ["format_table", "TABLE_CLASS", "TABLE_CSS", "html_table", "Table", "claim_tables", "statements"]


def format_table(columns: Mapping[str, Sequence[float]], digits: int = 4) -> str:
    """Columns of equal length as an aligned text table, numbers rounded to ``digits``.

    Integers print as integers; ``-0.0`` prints as ``0.0`` so that rounding noise around zero
    does not change the text.
    """
    names = list(columns)
    values = [np.asarray(columns[k]) for k in names]
    rows = {len(v) for v in values}
    if len(rows) != 1:
        raise ValueError(f"columns must have equal lengths, got {sorted(rows)}")
    cells = [[_fmt(x, digits) for x in v] for v in values]
    widths = [max(len(k), *(len(c) for c in col)) for k, col in zip(names, cells)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(names, widths))]
    for i in range(rows.pop()):
        lines.append("  ".join(col[i].rjust(w) for col, w in zip(cells, widths)))
    return "\n".join(lines)


def _fmt(x: object, digits: int) -> str:
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, str):
        return x
    v = round(float(x), digits)
    return f"{0.0 if v == 0 else v:.{digits}f}"


#: The class of the book's HTML tables; :data:`TABLE_CSS` styles only tables of this class.
TABLE_CLASS = "deepgep-table"
#: The style of the HTML tables: the full width of the page, text wrapped where it must be (long
#: words too), numbers right-aligned and never broken (a numeric column's title may wrap, so that a
#: long title does not widen its column of short numbers).
TABLE_CSS = (f"table.{TABLE_CLASS} {{width: 100%; border-collapse: collapse; font-size: 0.85em; "
             "line-height: 1.35; margin: 0.5em 0;} "
             f"table.{TABLE_CLASS} caption {{caption-side: top; text-align: left; font-weight: 600; "
             "padding: 0.2em 0;} "
             f"table.{TABLE_CLASS} th, table.{TABLE_CLASS} td {{padding: 0.25em 0.45em; text-align: left; "
             "vertical-align: top; border-bottom: 1px solid #d0d0d0; overflow-wrap: anywhere; "
             "white-space: normal;} "
             f"table.{TABLE_CLASS} th {{border-bottom: 2px solid #888;}} "
             f"table.{TABLE_CLASS} .num {{text-align: right; white-space: nowrap; "
             "font-variant-numeric: tabular-nums;} "
             f"table.{TABLE_CLASS} th.num {{white-space: normal;}}")

#: The attribute of a numeric cell (right-aligned, never wrapped).
NUM = ' class="num"'
#: What a cell may hold: a number (rounded to the table's digits), a string, or several lines.
Cell = Any


def _cell_text(x: Cell, digits: int) -> str:
    """A cell as one line of text (several lines joined by ``"; "``)."""
    if isinstance(x, (list, tuple)):
        return "; ".join(_cell_text(v, digits) for v in x)
    return _fmt(x, digits)


def _is_number(x: Cell) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.integer, np.floating)):
        return True
    if isinstance(x, str):
        try:
            float(x.replace("\u2212", "-"))
        except ValueError:
            return False
        return True
    return False


def html_table(columns: Mapping[str, Sequence[Cell]], digits: int = 4, caption: str = "",
               titles: Sequence[str] | None = None, title_column: str | None = None) -> str:
    """Columns of equal length as an HTML table of class :data:`TABLE_CLASS` with its style.

    Numbers are rounded as by :func:`format_table`; a column whose cells are all numbers is
    right-aligned and never wrapped; a cell that is a list shows one line per item; ``titles``
    (one per row) become the tooltips of the cells of ``title_column`` (default: the first
    column). All text is escaped.
    """
    names = list(columns)
    values = [list(columns[k]) for k in names]
    rows = {len(v) for v in values}
    if len(rows) != 1:
        raise ValueError(f"columns must have equal lengths, got {sorted(rows)}")
    n_rows = rows.pop()
    if titles is not None and len(titles) != n_rows:
        raise ValueError(f"titles must give one title per row ({n_rows}), got {len(titles)}")
    numeric = [bool(col) and all(_is_number(x) for x in col) for col in values]
    if title_column is not None and title_column not in columns:
        raise ValueError(f"title_column {title_column!r} is not a column ({', '.join(names)})")
    titled = names.index(title_column) if title_column is not None else 0

    def cell(x: Cell) -> str:
        items = x if isinstance(x, (list, tuple)) else [x]
        return "<br>".join(html.escape(_fmt(v, digits)) for v in items)

    def td(x: Cell, j: int, i: int) -> str:
        attrs = NUM if numeric[j] else ""
        if j == titled and titles is not None and titles[i]:
            attrs += f' title="{html.escape(titles[i])}"'
        return f"<td{attrs}>{cell(x)}</td>"

    head = "".join(f"<th{NUM if numeric[j] else ''}>{html.escape(k)}</th>" for j, k in enumerate(names))
    body = "\n".join("<tr>" + "".join(td(values[j][i], j, i) for j in range(len(names))) + "</tr>"
                     for i in range(n_rows)) or f'<tr><td colspan="{len(names)}">none</td></tr>'

    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<style>{TABLE_CSS}</style>\n<table class=\"{TABLE_CLASS}\">{cap}\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>")


@dataclass(frozen=True)
class Table:
    """Columns shown as an HTML table (:func:`html_table`) in the book and in Jupyter, and as the
    aligned text of :func:`format_table` (a list cell joined by ``"; "``) by ``repr``: the
    ``text/plain`` copy a notebook stores next to the HTML, which nbval compares."""

    columns: Mapping[str, Sequence[Cell]]
    digits: int = 4
    caption: str = ""
    titles: Sequence[str] | None = field(default=None)
    title_column: str | None = None

    def __post_init__(self) -> None:
        # any mapping of columns (a pandas DataFrame too) as a plain dict of its columns
        object.__setattr__(self, "columns", {k: self.columns[k] for k in self.columns})
        self._repr_html_()  # checks the shape

    def text(self) -> str:
        """The table as aligned text, with its caption as a first line."""
        if not any(len(v) for v in self.columns.values()):
            table = "  ".join(self.columns) + "\n(none)"
        else:
            table = format_table({k: [_cell_text(x, self.digits) for x in v] for k, v in self.columns.items()},
                                 self.digits)
        return f"{self.caption}\n{table}" if self.caption else table

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_table(self.columns, self.digits, self.caption, self.titles, self.title_column)


def _significant(x: float | None) -> str:
    """Three significant digits, ``inf`` for ``None`` (a statistic that is not finite)."""
    return "inf" if x is None or not math.isfinite(x) else f"{x:.3g}"


def claim_tables(verdicts: Sequence[Mapping[str, Any]]) -> tuple[Table, Table]:
    """The claims page's two tables from the verdicts of :func:`deepgep.support.claims.evaluate`:
    the claims (``kind == "claim"``: chapter, claim, statistic, threshold, holds, each wrong theory
    with the statistic it reached, and the measured resolution, one line per parameter) and the
    identities (checks that hold by construction: chapter, identity, statistic, threshold,
    holds). The tooltip of each claim's name is its statement."""
    unknown = sorted({str(v.get("kind")) for v in verdicts} - {"claim", "identity"})
    if unknown:
        raise ValueError(f"unknown kind of verdict: {', '.join(unknown)} (expected claim or identity)")
    claims = [v for v in verdicts if v["kind"] == "claim"]
    identities = [v for v in verdicts if v["kind"] == "identity"]

    def common(vs: Sequence[Mapping[str, Any]], what: str) -> dict[str, list]:
        return {"chapter": [v["chapter"] for v in vs], what: [v["name"] for v in vs],
                "statistic": [_significant(v["statistic"]) for v in vs],
                "threshold": [_significant(v["threshold"]) for v in vs],
                "holds": ["yes" if v["holds"] else "NO" for v in vs]}

    columns = common(claims, "claim")
    columns["wrong theories rejected (statistic)"] = [
        [f"{p['name']} ({_significant(p['statistic'])}){'' if not p['holds'] else ': NOT rejected'}"
         for p in v["perturbations"]] for v in claims]
    columns["resolves"] = [[resolution_text(r) for r in v.get("resolution", [])] or ["-"] for v in claims]
    return (Table(columns, caption=f"Claims ({len(claims)})", titles=[v["statement"] for v in claims],
                  title_column="claim"),
            Table(common(identities, "identity"), caption=f"Identities ({len(identities)})",
                  titles=[v["statement"] for v in identities], title_column="identity"))


def statements(verdicts: Sequence[Mapping[str, Any]]) -> Table:
    """Every verdict's chapter, kind, name, statement and ``detail`` (the numbers behind its
    test) as a :class:`Table`: the claims page's sentences, wrapped to the page."""
    return Table({"chapter": [v["chapter"] for v in verdicts], "kind": [v["kind"] for v in verdicts],
                  "claim": [v["name"] for v in verdicts], "statement": [v["statement"] for v in verdicts],
                  "the test's numbers": [v["detail"] for v in verdicts]})
