"""Fast checks of the book's sources; nothing is built or executed here.

`make book` is the real test of the book (it executes every notebook and fails on any Sphinx
warning). These checks catch the common mistakes in seconds: a chapter missing from the table
of contents, a notebook that papermill cannot parametrise, a citation key that is not in the
bibliography, a heading structure that Sphinx would warn about, figures lost to a
non-interactive matplotlib backend, a configuration that would reach the network or publish a
failing notebook.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
BIB = ROOT / "book" / "references.bib"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BOOK_MD = sorted((ROOT / "book").rglob("*.md"))

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
BIB_KEY = re.compile(r"^\s*@(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)
MD_HEADING = re.compile(r"^(#{1,6})\s+\S")
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$")


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf8") as fh:
        return yaml.safe_load(fh)


def _toc_files() -> list[str]:
    """Every `root` and `file` entry of _toc.yml, in order."""
    toc = _load_yaml(TOC)
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def _resolve(entry: str) -> Path | None:
    """The source file a toc entry refers to (entries may omit the extension)."""
    path = ROOT / entry
    if path.suffix in {".md", ".ipynb"}:
        return path if path.is_file() else None
    for suffix in (".md", ".ipynb"):
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    return None


def _cells(nb_path: Path) -> list[dict]:
    return json.loads(nb_path.read_text(encoding="utf8"))["cells"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf8")


def _headings(markdown: str) -> list[int]:
    """Levels of the ATX headings outside fenced blocks (code cells, directives)."""
    levels, fenced = [], None
    for line in markdown.splitlines():
        fence = FENCE.match(line)
        if fence:
            marker, rest = fence.group(1), fence.group(2).strip()
            if fenced is None:
                fenced = marker
            elif marker[0] == fenced[0] and len(marker) >= len(fenced) and not rest:
                fenced = None
            continue
        if fenced is None:
            match = MD_HEADING.match(line)
            if match:
                levels.append(len(match.group(1)))
    return levels


def _entry(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


# ---- table of contents ------------------------------------------------------------------


def test_every_toc_entry_exists():
    missing = [entry for entry in _toc_files() if _resolve(entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {str(Path(entry).with_suffix("")) for entry in _toc_files()}
    absent = [_entry(nb) for nb in NOTEBOOKS if _entry(nb) not in listed]
    assert not absent, f"notebooks missing from _toc.yml (they would not be built): {absent}"


def test_toc_entries_are_unique():
    entries = [str(Path(e).with_suffix("")) for e in _toc_files()]
    assert len(entries) == len(set(entries)), "a file is listed twice in _toc.yml"


# ---- notebooks ----------------------------------------------------------------------------


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell(nb):
    tagged = [
        c for c in _cells(nb)
        if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(tagged) == 1, f"{nb.name}: expected one code cell tagged 'parameters', found {len(tagged)}"


PLOTTING = re.compile(r"\b(plt|matplotlib|fig|plot\w*)\b")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_figures_survive_a_non_interactive_backend(nb):
    """`make` exports MPLBACKEND=Agg, and the kernel inherits it: without `%matplotlib inline`
    every `plt.show()` figure silently disappears from the built book."""
    code = "\n".join(_source(c) for c in _cells(nb) if c["cell_type"] == "code")
    if PLOTTING.search(code):
        assert re.search(r"^\s*%matplotlib inline\s*$", code, re.MULTILINE), (
            f"{nb.name} plots: add `%matplotlib inline` to its first code cell"
        )


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_numbered_with_a_caption_of_its_own(nb):
    """A cell that draws a figure carries MyST-NB's ``mystnb.figure`` metadata (a caption and a
    name: Sphinx numbers it, "Fig. 4.2"), and draws nothing else: the metadata wraps every
    displayed output of the cell, so a table shown in the same cell would become a second figure
    with the same caption."""
    names = []
    for i, c in enumerate(_cells(nb)):
        if c["cell_type"] != "code":
            continue
        shown = [o for o in c.get("outputs", []) if o.get("output_type") in ("display_data", "execute_result")]
        images = [o for o in shown if "image/png" in o.get("data", {})]
        figure = c["metadata"].get("mystnb", {}).get("figure", {})
        if images:
            assert figure.get("caption", "").strip() and figure.get("name", "").startswith("fig-"), (
                f"{nb.name} cell {i} draws a figure without mystnb.figure caption and name")
            assert len(shown) == 1, f"{nb.name} cell {i}: a figure cell shows {len(shown)} outputs; split the cell"
            names.append(figure["name"])
        else:
            assert not figure, f"{nb.name} cell {i} has a figure caption but draws no figure"
    assert len(names) == len(set(names)), f"{nb.name}: figure names repeat: {names}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_and_assertions_are_folded(nb):
    """The reader sees the narration, the tables and the figures; the code that imports and the
    code that asserts is folded (tag ``hide-input``: still executed, still compared by nbval)."""
    for i, c in enumerate(_cells(nb)):
        src = _source(c)
        if c["cell_type"] != "code" or "parameters" in c["metadata"].get("tags", []):
            continue
        if re.search(r"^\s*assert ", src, re.MULTILINE) or re.search(r"^(import|from) \S+", src, re.MULTILINE):
            assert "hide-input" in c["metadata"].get("tags", []), f"{nb.name} cell {i}: fold it (tag hide-input)"


@pytest.mark.parametrize("page", NOTEBOOKS + BOOK_MD, ids=lambda p: p.name)
def test_headings_start_with_one_title_and_never_skip_a_level(page):
    levels = _headings(_markdown_of(page))
    assert levels, f"{page.name}: no heading; a page must open with a '# Title'"
    assert levels[0] == 1, f"{page.name}: the first heading must be a level-1 title"
    assert levels.count(1) == 1, f"{page.name}: more than one level-1 heading"
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, f"{page.name}: heading level jumps from {before} to {after}"


# ---- citations ----------------------------------------------------------------------------


def _bib_keys() -> set[str]:
    return {key for _, key in BIB_KEY.findall(BIB.read_text(encoding="utf8"))}


def test_bibliography_keys_are_unique():
    keys = [key for _, key in BIB_KEY.findall(BIB.read_text(encoding="utf8"))]
    assert keys and len(keys) == len(set(keys))


@pytest.mark.parametrize("page", NOTEBOOKS + BOOK_MD, ids=lambda p: p.name)
def test_every_cited_key_is_in_the_bibliography(page):
    known = _bib_keys()
    cited = {
        key.strip()
        for group in CITE_ROLE.findall(_markdown_of(page))
        for key in group.split(",")
        if key.strip()
    }
    unknown = sorted(cited - known)
    assert not unknown, f"{page.name} cites keys missing from {BIB.name}: {unknown}"


#: ``{eq}`label``` references and the labels that pages define (``$$ (label)`` after a display,
#: or a ``:label:`` option of a directive such as ``prf:theorem`` for ``{prf:ref}``).
EQ_REF = re.compile(r"\{eq\}`([^`]+)`")
PRF_REF = re.compile(r"\{prf:ref\}`([^`]+)`")
EQ_LABEL = re.compile(r"^\$\$\s*\(([^)]+)\)", re.M)
DIRECTIVE_LABEL = re.compile(r"^:label:\s*(\S+)", re.M)


def _labels() -> tuple[set[str], set[str]]:
    texts = [_markdown_of(page) for page in NOTEBOOKS + BOOK_MD]
    return ({m for t in texts for m in EQ_LABEL.findall(t)}, {m for t in texts for m in DIRECTIVE_LABEL.findall(t)})


@pytest.mark.parametrize("page", NOTEBOOKS + BOOK_MD, ids=lambda p: p.name)
def test_every_equation_and_theorem_reference_has_its_label(page):
    """An unknown label is a warning of `make book -W` (the build fails), which the browser
    test's build would not report: caught here, in seconds."""
    equations, directives = _labels()
    text = _markdown_of(page)
    missing = sorted(set(EQ_REF.findall(text)) - equations) + sorted(set(PRF_REF.findall(text)) - directives)
    assert not missing, f"{page.name} refers to labels no page defines: {missing}"


#: Python-domain roles need autodoc, which the book does not run: under ``-n`` (``make book``)
#: each one is an unresolved-reference warning, so the build fails. Write ``deepgep.x`` instead.
PY_ROLE = re.compile(r"\{(?:py:)?(?:mod|func|class|meth|attr|obj)\}`")


@pytest.mark.parametrize("page", NOTEBOOKS + BOOK_MD, ids=lambda p: p.name)
def test_no_python_domain_roles(page):
    found = PY_ROLE.findall(_markdown_of(page))
    assert not found, f"{page.name} uses {found}: the book has no API pages to link to"


# ---- configuration ------------------------------------------------------------------------


def test_config_executes_every_notebook_and_fails_on_errors():
    execute = _load_yaml(CONFIG)["execute"]
    # executions are cached (jupyter-cache); book/_ext/execution_cache.py ties the cache to the
    # library, and tests/conftest.py fills the default folder, _build/.jupyter_cache
    assert execute["execute_notebooks"] == "cache"
    assert not execute.get("cache"), "conftest.py and the README assume the default cache folder"
    assert execute["allow_errors"] is False
    assert execute["raise_on_error"] is True
    assert execute.get("timeout", 0) >= 600


def test_make_book_reads_every_page_and_fails_on_warnings():
    """`--all`: a fresh Sphinx environment at every build, so the warnings of unchanged pages are
    checked again (only the executions are reused)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf8")
    recipe = re.search(r"^book:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    build = next(line for line in recipe.splitlines() if "jupyter-book build" in line)
    assert all(flag in build.split() for flag in ("--all", "-W", "-n", "--keep-going")), build


def test_config_keeps_the_notebook_download_button():
    """sphinx-book-theme's download menu offers each chapter's .ipynb (tests/test_browser.py
    checks it in the built book); nothing may switch it off."""
    config = _load_yaml(CONFIG)
    theme = config.get("sphinx", {}).get("config", {}).get("html_theme_options", {})
    assert theme.get("use_download_button", True) is not False
    assert config.get("sphinx", {}).get("config", {}).get("html_copy_source", True) is not False


def test_config_has_no_launch_buttons_or_network_features():
    config = _load_yaml(CONFIG)
    launch = config.get("launch_buttons", {})
    for key in ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url"):
        assert not launch.get(key), f"launch_buttons.{key} must be empty"
    assert launch.get("thebe") is False
    html = config.get("html", {})
    for key in ("use_repository_button", "use_edit_page_button", "use_issues_button"):
        assert html.get(key) is False, f"html.{key} must be false"
    assert not any(html.get("comments", {}).values()), "comments need the network"
    assert not any(html.get("analytics", {}).values()), "analytics need the network"


def test_config_bibliography_and_extensions():
    config = _load_yaml(CONFIG)
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    sphinx = config["sphinx"]
    assert "sphinx_proof" in sphinx["extra_extensions"]
    assert sphinx["local_extensions"] == {"offline_mathjax": "book/_ext",
                                          "execution_cache": "book/_ext",
                                          "api_reference": "book/_ext"}
    assert sphinx["config"]["bibtex_reference_style"] == "author_year"
    assert sphinx["config"]["mathjax3_config"]["tex"]["macros"]


def test_offline_mathjax_finds_its_bundle():
    """The MathJax files the extension copies are present in the installed wheel."""
    spec = importlib.util.spec_from_file_location(
        "offline_mathjax", ROOT / "book" / "_ext" / "offline_mathjax.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for bundle in ("tex-svg-full.js", "tex-chtml.js"):
        for part in module._parts(bundle):
            if part != "LICENSE":
                assert (module.ES5 / part).exists(), f"{part} missing from the mathjax wheel"


# ---- the execution cache ------------------------------------------------------------------


def _execution_cache():
    spec = importlib.util.spec_from_file_location(
        "execution_cache", ROOT / "book" / "_ext" / "execution_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_library_hash_changes_with_any_file_of_the_package_and_with_pyproject(tmp_path, monkeypatch):
    cache = _execution_cache()
    package = tmp_path / "fakelib"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "data.json").write_text("[1]\n")
    (package / "__pycache__").mkdir()
    project = tmp_path / "pyproject.toml"
    project.write_text("[project]\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def digest():
        return cache.library_hash("fakelib", project)

    first = digest()
    assert digest() == first
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    assert digest() == first, "compiled caches are not the library"
    (package / "sub" / "data.json").write_text("[2]\n")
    second = digest()
    assert second != first, "a data file of the package changed"
    (package / "sub" / "data.json").rename(package / "sub" / "other.json")
    assert digest() != second, "a file was renamed"
    third = digest()
    project.write_text("[project]\ndependencies = ['numpy==2']\n")
    assert digest() != third, "pyproject.toml changed"


def test_sync_empties_the_cache_only_when_the_library_changed(tmp_path):
    cache = _execution_cache()
    folder = tmp_path / ".jupyter_cache"
    assert cache.sync(folder, "a") is True, "no stamp: the cache is not trusted"
    (folder / "executed").mkdir()
    assert cache.sync(folder, "a") is False and (folder / "executed").exists()
    assert cache.sync(folder, "b") is True and not (folder / "executed").exists()
    assert (folder / cache.STAMP).read_text().strip() == "b"


def test_a_stored_notebook_is_what_the_book_build_finds(tmp_path):
    """What conftest.py stores after nbval is matched by the lookup MyST-NB's cache mode makes,
    by the code cells only, and its outputs are merged into the page."""
    import nbformat
    from jupyter_cache import get_cache

    cache = _execution_cache()
    folder = tmp_path / ".jupyter_cache"
    executed = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("print(1)", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="1\n")]),
    ])
    executed.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    cache.sync(folder, "digest")
    cache.store(folder, executed, "ch.ipynb", 1.0)
    source = nbformat.from_dict(executed)
    source.cells[0].source = "# Another title"  # prose changes are no reason to execute again
    source.cells[1].outputs = []
    _, merged = get_cache(str(folder)).merge_match_into_notebook(source)
    assert merged.cells[1].outputs[0]["text"] == "1\n"
    source.cells[1].source = "print(2)"
    with pytest.raises(KeyError):
        get_cache(str(folder)).match_cache_notebook(source)
