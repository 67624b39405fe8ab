"""The library's layout rules, checked on the source (``src/deepgep``, see the docstring of
``deepgep``): floors import only downwards, no module is too long to read at once, no private
name crosses a module boundary, every module declares its public names, and nothing in the
project cites notes that live outside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "deepgep"
#: Longest module, in lines (the layout issue's limit).
MAX_LINES = 450
#: What each floor may import from deepgep (besides itself).
ALLOWED = {
    "support": {"support"},
    "theory": {"support", "theory"},
    "simulate": {"support", "theory", "simulate"},
    "chapters": {"support", "theory", "simulate", "chapters"},
    "cli": {"support", "theory", "simulate", "chapters", "cli"},
}
MODULES = sorted(PACKAGE.rglob("*.py"))


def _floor(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _deepgep_imports(tree: ast.AST):
    """``(node, module, names)`` of every import of a deepgep module, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "deepgep":
            yield node, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "deepgep":
                    yield node, alias.name, []


def _chapter_of(name: str) -> str:
    """``ch3`` of ``ch3_free_entropy`` (a chapter's companion modules share it)."""
    return name.split("_")[0]


def _ids(paths):
    return [str(p.relative_to(PACKAGE)) for p in paths]


def test_the_package_has_the_four_floors():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} >= {
        "support", "theory", "simulate", "chapters"}


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_module_rules(path: Path):
    source = path.read_text()
    tree = ast.parse(source)
    assert len(source.splitlines()) <= MAX_LINES, f"{path.name} has more than {MAX_LINES} lines"
    assert any(isinstance(n, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.unparse(n)
               for n in tree.body), f"{path.name} declares no __all__"
    floor = _floor(path)
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(node) for f in functions for node in ast.walk(f) if node is not f}
    for node, module, names in _deepgep_imports(tree):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else None
        if floor is not None and target in ALLOWED:
            assert target in ALLOWED[floor], f"{path.name}: the {floor} floor imports {module}"
        if floor == "chapters" and target == "chapters" and _chapter_of(module.split(".")[-1]) != _chapter_of(path.stem):
            pytest.fail(f"{path.name}: a chapter imports another chapter ({module})")
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{path.name} imports the private {private} from {module}"
        assert id(node) not in nested, f"{path.name}: function-level import of {module}"


def test_no_citation_of_notes_outside_the_project():
    files = [p for pattern in ("src/**/*.py", "tests/**/*.py", "notebooks/*.ipynb", "book/*.md",
                               "benchmarks/*.py", "README.md", "Makefile", "_config.yml", "_toc.yml")
             for p in ROOT.glob(pattern)]
    offenders = [str(p.relative_to(ROOT)) for p in files if "SCIENCE" + ".md" in p.read_text()]
    assert not offenders, f"these files cite notes that readers cannot open: {offenders}"
