"""The parameters flow down, never up: every chapter notebook's ``parameters`` cell is its
experiment's fields (``PRESET`` and one ``NAME = None`` line per field, in the dataclass's
order), no notebook hands ``globals()`` to the library, no module of ``src/`` opens a notebook,
and the cell's values reach the experiment (``from_cell`` is called with every field)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from deepgep.chapters import CHAPTERS, experiment_class, notebook_name
from deepgep.support.experiment import cell_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf8"))["cells"]


def _code(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_the_parameters_cell_is_the_experiments_fields(chapter):
    cells = _cells(ROOT / "notebooks" / notebook_name(chapter))
    tagged = [c for c in cells if c["cell_type"] == "code" and "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    tree = ast.parse(_code(tagged[0]))
    assigned = [(s.targets[0].id, ast.literal_eval(s.value)) for s in tree.body]
    assert all(isinstance(s, ast.Assign) and len(s.targets) == 1 for s in tree.body)
    fields = experiment_class(chapter).field_names()
    assert assigned == [("PRESET", "paper"), *[(cell_name(f), None) for f in fields]]
    # the next code cell builds the experiment from every one of them, by keyword
    after = cells[cells.index(tagged[0]) + 1:]
    builder = next(_code(c) for c in after if c["cell_type"] == "code")
    calls = [n for n in ast.walk(ast.parse(builder.replace("%matplotlib inline", "")))
             if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "from_cell"]
    assert len(calls) == 1
    keywords = {k.arg: k.value.id for k in calls[0].keywords}
    assert keywords == {f: cell_name(f) for f in fields} and calls[0].args[0].id == "PRESET"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_hands_its_globals_to_the_library(path):
    assert not any("globals()" in _code(c) for c in _cells(path) if c["cell_type"] == "code")


def test_no_module_of_the_library_opens_a_notebook():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py")
                 if ".ipynb" in p.read_text() and p.name != "notebooks.py" and "chapters/__init__" not in str(p)]
    assert not offenders, offenders
