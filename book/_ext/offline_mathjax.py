"""Serve MathJax 3 from the ``django-static-mathjax`` wheel, so the book renders math offline.

Sphinx loads MathJax from a CDN by default. This extension points ``mathjax_path`` at a copy
of MathJax shipped inside the book's own ``_static`` folder and copies, after the HTML build,
only the parts of the package's ``es5`` tree that the chosen bundle can ask for at run time.

``offline_mathjax_bundle`` picks the combined file. The default, ``tex-svg-full.js``, draws
glyphs as inline SVG paths: it needs no web fonts, so it also works when the HTML is opened
from disk (``file://``) in browsers that refuse to load fonts across folders. With a
``tex-chtml*.js`` bundle the woff fonts are copied too.
``mathjax3_config`` (macros, and the ``processHtmlClass`` that MyST adds) is untouched: Sphinx
writes it as ``window.MathJax = {...}`` before the deferred script, whatever its path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mathjax  # the django-static-mathjax distribution

__version__ = "1.0"

ES5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"

# Loaded on demand by every bundle when a reader uses the MathJax menu (accessibility, speech).
_LAZY = ["ui", "a11y", "sre", "LICENSE"]


def _parts(bundle: str) -> list[str]:
    parts = [bundle, *_LAZY]
    if "-full" not in bundle:  # the other bundles autoload TeX packages such as \cancel
        parts.append("input/tex/extensions")
    if "-chtml" in bundle:  # CommonHTML output draws with these web fonts
        parts.append("output/chtml/fonts/woff-v2")
    return parts


def _use_local_mathjax(app, config) -> None:
    bundle = config.offline_mathjax_bundle
    if not (ES5 / bundle).is_file():
        raise FileNotFoundError(f"offline_mathjax: no {bundle} in {ES5}")
    # A relative path is resolved against _static/ by the HTML builder.
    config.mathjax_path = f"mathjax/{bundle}"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    # LICENSE sits one level above es5/ in the package.
    sources = {"LICENSE": ES5.parent / "LICENSE"}
    for part in _parts(app.config.offline_mathjax_bundle):
        src = sources.get(part, ES5 / part)
        if not src.exists():
            continue
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src, target)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep each script once. Sphinx 7.4 lists the inline scripts of some extensions twice on
    every page; sphinx-thebe's ``const THEBE_JS_URL`` declared twice is a script error in the
    browser (tests/test_browser.py fails on console errors)."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        attrs = tuple(sorted((k, str(v)) for k, v in js.attributes.items() if k != "priority"))
        key = (js.filename or "", attrs)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.setup_extension("sphinx.ext.mathjax")
    app.add_config_value("offline_mathjax_bundle", "tex-svg-full.js", "html", [str])
    app.connect("config-inited", _use_local_mathjax)
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
