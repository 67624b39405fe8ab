"""The book's API reference: sphinx-autoapi's pages of ``deepgep``, with the book's labels as links.

sphinx-autoapi (``_config.yml``) writes one page per module of ``src/deepgep`` under
``book/api/`` from the docstrings, by static analysis, keeping the names of each module's
``__all__``; the templates in ``book/_templates/autoapi`` write no toctree (``_toc.yml`` globs
the pages). This extension does the rest, without asking anything of the docstrings:

* **labels as links**: a word of a docstring that is a label of the book -- an equation of
  ``book/mathematics.md`` (``eq-ridge-bayes``) or a theorem of a chapter (``thm-reduction``) --
  becomes a link to it, its number in the link's title. A word shaped like a label
  (``eq-...``, ``thm-...``) that no page defines stays plain text and is listed once in the
  build log (:func:`label_words`, :data:`LABEL_PREFIXES`);
* **one home per name**: a reference to a name where it is imported or re-exported
  (``:class:`~deepgep.support.sweeps.Sweep``` for ``deepgep.support.sweeps.spec.Sweep``, or a
  bare ``:func:`run_sweep``` in a module that imports it) is resolved to the page of the module
  that defines it (:func:`home_of`); a name outside ``deepgep`` (``numpy.ndarray``,
  ``collections.abc.Sequence``) is shown as code, without a link, since the book is built offline
  without intersphinx inventories;
* **every public name**: names of an ``__all__`` that static analysis does not see (assigned by
  tuple unpacking, ``LINEAR, TANH = 0, 1``) are documented from the module's source, with their
  ``#:`` comment (:func:`unpacked_constants`, a template global), and once the pages are read a
  name of an ``__all__`` that has no entry in the reference is a warning (so ``make book -W``
  fails);
* **pages that fit the window**: a module's title is its dotted name, one word as long as
  ``deepgep.chapters.ch4_bayes_optimal_generalisation_tables`` that a browser never breaks; the
  API pages carry a style (:data:`PAGE_STYLE`) that lets headings and signatures break inside a
  word where they would not fit (tests/test_browser.py measures every page at 1400 px);
* **docstrings as they are written**: numpydoc sections (``Parameters``, ``Raises``...) of
  functions and classes are read by napoleon, and a ``|`` that reST would take for a
  substitution (``|z| <= 3.5``) is escaped outside literals and roles (:func:`escape_bars`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.ext.napoleon import Config as NapoleonConfig
from sphinx.ext.napoleon.docstring import NumpyDocstring
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

__version__ = "1.0"

LOGGER = logging.getLogger(__name__)
#: The package documented.
PACKAGE = "deepgep"
#: Words of these prefixes are meant as labels: one that no page defines is reported.
LABEL_PREFIXES = ("eq", "thm")
#: A word that may be a label: lower-case parts joined by hyphens (``eq-ridge-bayes``).
LABEL_WORD = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w/]|-\w)")
#: Spans of a docstring left as they are by :func:`escape_bars`: literals, roles, math.
_VERBATIM = re.compile(r"(``.+?``|:[\w:+.-]+:`[^`]*`|`[^`]*`_*)", re.S)
#: A ``|`` next to a non-space character, which reST reads as a substitution's start or end.
_BAR = re.compile(r"(?<!\\)\|(?=\S)|(?<=\S)(?<!\\)\|")
#: The API pages' style: a heading or a signature too long for the page's column (a dotted name
#: has no space to break at) breaks inside the word instead of widening the page.
PAGE_STYLE = ".bd-article :is(h1, h2, h3, dt.sig) { overflow-wrap: anywhere; }"
#: Nodes whose text is never turned into a link.
_KEEP = (nodes.literal, nodes.literal_block, nodes.reference, nodes.raw, nodes.math,
         nodes.math_block, nodes.FixedTextElement)


# ---- docstrings ------------------------------------------------------------------------------


def escape_bars(text: str) -> str:
    """``text`` with every ``|`` touching a non-space character escaped (``\\|``), except in
    literals (````...````), roles and interpreted text: reST would read ``|z|`` as a
    substitution reference, and the docstrings write absolute values and norms that way."""
    parts = _VERBATIM.split(text)
    return "".join(part if i % 2 else _BAR.sub(r"\\|", part) for i, part in enumerate(parts))


#: napoleon's reading of numpydoc sections (Parameters, Returns, Raises, Warns, Attributes as
#: ``:ivar:`` fields, so that a dataclass's fields are not described twice).
NAPOLEON = NapoleonConfig(napoleon_google_docstring=False, napoleon_use_ivar=True)
#: What napoleon reads: not properties and data, whose docstrings napoleon would read as
#: ``type: description`` ("The sample ratio of the validations: 2 if ..." is no type).
NAPOLEON_WHAT = ("function", "method", "class", "exception", "module", "package")


def _process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    # autoapi emits this event for every object it reads (all of deepgep), ``name`` being short
    if what in NAPOLEON_WHAT:
        lines[:] = NumpyDocstring(lines, NAPOLEON, app, what, name, obj, options).lines()
    lines[:] = escape_bars("\n".join(lines)).split("\n")


def first_sentence(docstring: str) -> str:
    """The first sentence of a docstring's first paragraph (to its first ``". "`` outside a
    literal), for the summary lists of the module pages; never cuts a literal in two."""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    for match in re.finditer(r"[.:](?:\s|$)", paragraph):
        head = paragraph[:match.start() + 1]
        if head.count("``") % 2 == 0 and head.count("`") % 2 == 0:
            return head
    return paragraph


def unpacked_constants(module: Any) -> list[dict[str, str]]:
    """The names of ``module.all`` (an autoapi module) assigned by tuple unpacking at the top
    level of its source (``LINEAR, TANH = 0, 1``), which autoapi does not document: for each,
    ``name``, ``value`` (its source) and ``doc`` (the ``#:`` comment above the assignment)."""
    public = set(getattr(module, "all", None) or [])
    documented = {child.name for child in module.children}
    path = module.obj.get("file_path")
    if not public - documented or not path:
        return []
    source = Path(path).read_text(encoding="utf8")
    tree = ast.parse(source)
    lines = source.splitlines()
    found = []
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if not isinstance(target, ast.Tuple):
                continue
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [None] * len(target.elts)
            for element, value in zip(target.elts, values):
                if isinstance(element, ast.Name) and element.id in public - documented:
                    found.append({"name": element.id,
                                  "value": ast.unparse(value) if value is not None else "",
                                  "doc": _comment_above(lines, node.lineno)})
    return found


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), as text."""
    comment = []
    i = lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        comment.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return escape_bars(" ".join(comment))


def _prepare_jinja(jinja_env) -> None:
    jinja_env.globals.update(unpacked_constants=unpacked_constants, first_sentence=first_sentence)


def _use_templates(app, config) -> None:
    config.autoapi_prepare_jinja_env = _prepare_jinja


# ---- one home per name -----------------------------------------------------------------------


def home_of(name: str, objects: dict[str, Any], _depth: int = 0) -> str | None:
    """The full name of the object ``name`` is, in the one module that defines it: the longest
    prefix of ``name`` that is an object of ``objects`` (autoapi's, by full name) is followed
    through imports and re-exports (``original_path``) to its definition, and a member a class
    inherits is looked up in its bases. ``None`` if ``name`` is no object of ``objects``."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head not in objects:
            continue
        seen = set()
        while getattr(objects[head], "imported", False) and head not in seen:
            seen.add(head)
            origin = objects[head].obj.get("original_path")
            if origin not in objects:
                break
            head = origin
        rest = parts[cut:]
        full = ".".join([head, *rest])
        if not rest or full in objects:
            return full
        if objects[head].type in ("class", "exception") and _depth < 10:
            for base in getattr(objects[head], "bases", []) or []:
                found = home_of(".".join([base, *rest]), objects, _depth + 1)
                if found is not None:
                    return found
        return None
    return None


def _candidates(node) -> list[str]:
    target = node["reftarget"].lstrip(".~")
    module, klass = node.get("py:module"), node.get("py:class")
    names = []
    if module and klass:
        names.append(f"{module}.{klass}.{target}")
    if module:
        names.append(f"{module}.{target}")
    names.append(target)
    return names


def _resolve_python(app, env, node, contnode):
    """A Python reference Sphinx did not resolve: to the documented home of the name (through
    imports, re-exports, bases, or a bare name defined in one module only); as code without a
    link for a name of deepgep that is not public (not in an ``__all__``: it has no entry) or a
    name outside deepgep; left unresolved (a warning) if deepgep has no such name."""
    if node.get("refdomain") != "py":
        return None
    objects = getattr(env, "autoapi_all_objects", None) or {}
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip(".~")
    homes = [home_of(name, objects) for name in _candidates(node)]
    if not any(homes) and "." not in target:
        homes = {home_of(name, objects) for name in objects if name.endswith("." + target)}
        if len({h for h in homes if h in domain.objects}) > 1:
            homes = set()  # ambiguous: Sphinx's warning stands
    for home in homes:
        if home is not None and home in domain.objects:
            resolved = domain.resolve_xref(env, node["refdoc"], app.builder, "obj", home, node, contnode)
            if resolved is not None:
                return resolved
    if any(homes):
        return contnode  # a name of deepgep outside every __all__: no entry to link to
    if "." in target and target.split(".")[0] != PACKAGE:
        return contnode  # outside deepgep: code without a link (no intersphinx offline)
    return None


def _every_public_name_documented(app, env) -> None:
    objects = getattr(env, "autoapi_all_objects", None) or {}
    documented = set(env.get_domain("py").objects)
    for module in objects.values():
        if module.type not in ("module", "package") or not module.all:
            continue
        for name in module.all:
            full = f"{module.name}.{name}"
            home = home_of(full, objects)
            if full not in documented and home not in documented:
                LOGGER.warning(f"public name {full} (in {module.name}.__all__) has no entry in the API "
                               "reference", type="api_reference", subtype="public_name")


# ---- labels as links -------------------------------------------------------------------------


def label_words(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` of every word of ``text`` shaped like a label."""
    return [(m.start(1), m.end(1), m.group(1)) for m in LABEL_WORD.finditer(text)]


def _targets(env) -> dict[str, tuple[str, str, str]]:
    """label -> (docname, anchor, title) for the equations and the proof-directive labels."""
    found = {}
    math = env.get_domain("math")
    for label, (docname, number) in math.equations.items():
        anchor = nodes.make_id(f"equation-{label}")
        shown = env.toc_fignumbers.get(docname, {}).get("displaymath", {}).get(anchor)
        found[label] = (docname, anchor, f"equation ({'.'.join(map(str, shown)) if shown else number})")
    for label, entry in (getattr(env, "proof_list", None) or {}).items():
        numbers = env.toc_fignumbers.get(entry["docname"], {}).get(entry.get("countertype"), {}).get(label)
        kind = str(entry.get("realtype", "statement")).title()
        found[label] = (entry["docname"], label, f"{kind} {'.'.join(map(str, numbers))}" if numbers else kind)
    return found


class LabelLinks(SphinxPostTransform):
    """Turn the label words of the API pages into links to their equation or theorem."""

    default_priority = 5

    def run(self, **kwargs: Any) -> None:
        root = self.config.autoapi_root.rstrip("/") + "/"
        if not self.env.docname.startswith(root):
            return
        targets = _targets(self.env)
        unknown = self.env.__dict__.setdefault("api_reference_unknown_labels", {})
        for text in list(self.document.findall(nodes.Text)):
            if any(isinstance(parent, _KEEP) for parent in _ancestors(text)):
                continue
            words = label_words(str(text))
            if not words:
                continue
            pieces, last = [], 0
            for start, end, word in words:
                if word not in targets:
                    if word.split("-")[0] in LABEL_PREFIXES:
                        unknown.setdefault(word, set()).add(self.env.docname)
                    continue
                docname, anchor, title = targets[word]
                pieces.append(nodes.Text(str(text)[last:start]))
                link = make_refnode(self.app.builder, self.env.docname, docname, anchor,
                                    nodes.Text(word), title)
                link["classes"].append("book-label")
                pieces.append(link)
                last = end
            if not pieces:
                continue
            pieces.append(nodes.Text(str(text)[last:]))
            text.parent.replace(text, [p for p in pieces if not (isinstance(p, nodes.Text) and not str(p))])


def _ancestors(node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _report_unknown_labels(app, exception) -> None:
    unknown = getattr(app.env, "api_reference_unknown_labels", {}) if app.env else {}
    if unknown:
        LOGGER.info(f"api_reference: {len(unknown)} label(s) cited in docstrings that no page defines, "
                    f"left as text: {', '.join(sorted(unknown))}")


def _api_page_style(app, pagename, templatename, context, doctree) -> None:
    if pagename.startswith(app.config.autoapi_root.rstrip("/") + "/"):
        context["metatags"] = context.get("metatags", "") + f"\n<style>{PAGE_STYLE}</style>"


def setup(app):
    app.setup_extension("autoapi.extension")
    app.connect("config-inited", _use_templates)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("missing-reference", _resolve_python)
    app.connect("env-check-consistency", _every_public_name_documented)
    app.connect("build-finished", _report_unknown_labels)
    app.connect("html-page-context", _api_page_style)
    app.add_post_transform(LabelLinks)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
