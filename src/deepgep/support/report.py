"""Plain-text tables of rounded numbers: what notebooks print and nbval compares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["format_table"]


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
