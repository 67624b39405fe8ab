"""The API reference's extension (book/_ext/api_reference.py) and the docstrings it renders, in
seconds, without building the book.

``make book`` (``-W -n``) is the real test: every warning of an API page fails it. These checks
find the usual causes first: a docstring that is not valid reST once napoleon and the
extension's escaping have read it, as sphinx-autoapi renders it (an indentation error, a
definition list broken by a line break, an unclosed literal); a label of the book cited in a
docstring that no page defines. The label matching, the escaping, the summaries, the names
autoapi cannot see and the resolution of a name to its one home are tested on small examples.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import types
from pathlib import Path

import pytest
from docutils.core import publish_doctree
from docutils.parsers.rst import roles
from docutils.utils import Reporter

import deepgep

ROOT = Path(__file__).resolve().parents[1]


def _extension():
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "book" / "_ext" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXT = _extension()


# ---- the extension on small examples -----------------------------------------------------


def test_bars_touching_text_are_escaped_outside_literals_and_roles():
    assert EXT.escape_bars("|z| <= 3.5 and ||K||_F") == r"\|z\| <= 3.5 and \|\|K\|\|_F"
    assert EXT.escape_bars("``|z|`` and :math:`|x|` stay") == "``|z|`` and :math:`|x|` stay"
    assert EXT.escape_bars("int | None, a multi-line ``lit\n|x|`` too") == "int | None, a multi-line ``lit\n|x|`` too"
    assert EXT.escape_bars(r"already \|x\|") == r"already \|x\|"


def test_the_first_sentence_never_cuts_a_literal():
    assert EXT.first_sentence("Run ``a. b`` now. Then more.\n\nNext.") == "Run ``a. b`` now."
    assert EXT.first_sentence("The sample ratio: 2 if\nlisted.") == "The sample ratio:"
    assert EXT.first_sentence("No full stop\nat all") == "No full stop at all"


def test_label_words():
    text = "the recursion (book eq-composition, paper eq. 3) and thm-reduction; log-log fits; x.eq-no"
    words = [w for _, _, w in EXT.label_words(text)]
    assert words == ["eq-composition", "thm-reduction", "log-log"]
    start, end, word = EXT.label_words(text)[0]
    assert text[start:end] == word


def test_names_assigned_by_tuple_unpacking_are_found_with_their_comment(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text('__all__ = ["A", "B", "C", "f"]\n#: Codes of the built-in\n#: activations.\n'
                      'A, B = 0, "b"\nC = 1\nX, Y = 2, 3\n\ndef f():\n    pass\n')
    module = types.SimpleNamespace(all=["A", "B", "C", "f"], obj={"file_path": str(source)},
                                   children=[types.SimpleNamespace(name="C"), types.SimpleNamespace(name="f")])
    found = EXT.unpacked_constants(module)
    assert found == [{"name": "A", "value": "0", "doc": "Codes of the built-in activations."},
                     {"name": "B", "value": "'b'", "doc": "Codes of the built-in activations."}]
    module.children += [types.SimpleNamespace(name="A"), types.SimpleNamespace(name="B")]
    assert EXT.unpacked_constants(module) == []


def _obj(type_="function", original=None, bases=()):
    data = {} if original is None else {"original_path": original}
    return types.SimpleNamespace(type=type_, imported=original is not None, obj=data, bases=list(bases))


def test_a_name_resolves_to_its_one_home():
    objects = {
        "pkg": _obj("package"), "pkg.sweeps": _obj("package"), "pkg.sweeps.spec": _obj("module"),
        "pkg.sweeps.spec.Sweep": _obj("class"), "pkg.sweeps.spec.Sweep.csv_path": _obj("method"),
        "pkg.sweeps.Sweep": _obj("class", "pkg.sweeps.spec.Sweep"),  # re-exported
        "pkg.Sweep": _obj("class", "pkg.sweeps.Sweep"),  # re-exported again
        "pkg.chapter.Experiment": _obj("class", bases=["pkg.sweeps.spec.Sweep"]),
    }
    assert EXT.home_of("pkg.Sweep", objects) == "pkg.sweeps.spec.Sweep"
    assert EXT.home_of("pkg.sweeps.Sweep.csv_path", objects) == "pkg.sweeps.spec.Sweep.csv_path"
    assert EXT.home_of("pkg.chapter.Experiment.csv_path", objects) == "pkg.sweeps.spec.Sweep.csv_path"
    assert EXT.home_of("pkg.sweeps.spec.Sweep", objects) == "pkg.sweeps.spec.Sweep"
    assert EXT.home_of("pkg.sweeps.nothing", objects) is None
    assert EXT.home_of("numpy.ndarray", objects) is None


def test_only_the_api_pages_carry_the_style_that_breaks_long_names():
    app = types.SimpleNamespace(config=types.SimpleNamespace(autoapi_root="book/api"))
    api, chapter = {"metatags": "<meta>"}, {"metatags": "<meta>"}
    EXT._api_page_style(app, "book/api/deepgep/chapters/ch4_bayes_optimal_generalisation_tables/index",
                        "page.html", api, None)
    EXT._api_page_style(app, "notebooks/ch4_bayes_optimal_generalisation", "page.html", chapter, None)
    assert api["metatags"] == f"<meta>\n<style>{EXT.PAGE_STYLE}</style>" and chapter == {"metatags": "<meta>"}
    assert "overflow-wrap: anywhere" in EXT.PAGE_STYLE and "h1" in EXT.PAGE_STYLE


# ---- the docstrings as the API pages render them -----------------------------------------


def _modules() -> list[types.ModuleType]:
    names = ["deepgep"] + [m.name for m in pkgutil.walk_packages(deepgep.__path__, "deepgep.")
                           if not m.name.endswith("__main__")]
    return [importlib.import_module(name) for name in names]


def _docstrings() -> dict[str, tuple[str, str]]:
    """Full name -> (what, docstring) for every module, every public name defined in its module,
    and the methods and properties of the public classes."""
    found = {}
    for module in _modules():
        found[module.__name__] = ("module", inspect.getdoc(module) or "")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if getattr(obj, "__module__", module.__name__) != module.__name__:
                continue  # documented in its own module
            if inspect.isclass(obj):
                found[f"{module.__name__}.{name}"] = ("class", inspect.getdoc(obj) or "")
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    what = "property" if isinstance(value, property) else "method"
                    doc = inspect.getdoc(value) if callable(value) or isinstance(value, property) else None
                    if doc:
                        found[f"{module.__name__}.{name}.{member}"] = (what, doc)
            elif callable(obj):
                found[f"{module.__name__}.{name}"] = ("function", inspect.getdoc(obj) or "")
    return found


DOCSTRINGS = _docstrings()
#: Sphinx roles the docstrings use, known to plain docutils here.
SPHINX_ROLES = ("func", "class", "mod", "meth", "attr", "data", "obj", "exc", "ref", "doc", "eq", "math",
                "term", "confval", "cite", "py:func", "py:class", "py:mod", "py:meth", "py:attr", "py:data",
                "py:obj", "py:exc", "prf:ref")


@pytest.fixture(scope="module")
def sphinx_roles():
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        from docutils import nodes
        return [nodes.literal(rawtext, text)], []
    for name in SPHINX_ROLES:
        roles.register_local_role(name, role)
    return SPHINX_ROLES


def _rest_problems(text: str) -> list[str]:
    stream = io.StringIO()
    publish_doctree(text, settings_overrides={"report_level": Reporter.WARNING_LEVEL, "halt_level": 5,
                                              "warning_stream": stream, "input_encoding": "unicode"})
    return [line for line in stream.getvalue().splitlines() if re.search(r"\((WARNING|ERROR|SEVERE)/", line)]


@pytest.mark.parametrize("name", sorted(DOCSTRINGS))
def test_docstring_is_valid_rest(name, sphinx_roles):
    """What napoleon and the extension make of the docstring parses without a docutils warning
    (a warning of an API page fails ``make book``)."""
    what, doc = DOCSTRINGS[name]
    lines = doc.splitlines()
    EXT._process_docstring(None, what, name, None, None, lines)
    problems = _rest_problems("\n".join(lines))
    assert not problems, f"{name}: the docstring is not valid reST:\n  " + "\n  ".join(problems)


def _book_labels() -> set[str]:
    text = (ROOT / "book" / "mathematics.md").read_text(encoding="utf8")
    for page in [*(ROOT / "book").glob("*.md"), *(ROOT / "notebooks").glob("*.ipynb")]:
        text += page.read_text(encoding="utf8")
    return set(re.findall(r"^\$\$\s*\(([^)]+)\)", text, re.M)) | set(re.findall(r":label:\s*([\w-]+)", text))


def test_every_label_cited_in_a_docstring_is_defined():
    """A docstring's ``eq-...`` or ``thm-...`` is a link in the API pages only if a page of the
    book defines it (otherwise it stays text and the build only lists it)."""
    labels = _book_labels()
    cited = {word: name for name, (_, doc) in DOCSTRINGS.items() for _, _, word in EXT.label_words(doc)
             if word.split("-")[0] in EXT.LABEL_PREFIXES}
    missing = {word: name for word, name in cited.items() if word not in labels}
    assert not missing, f"labels cited in docstrings that no page of the book defines (label: where): {missing}"
