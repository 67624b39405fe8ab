"""The book as a reader sees it: every page opened in headless Chromium, with the network off.

The book is built from the notebooks' stored outputs (execution off: nbval already checks that
the stored outputs are what a fresh execution prints) into ``_build/browser/``, unless
``_build/html`` is newer than every source, in which case that build is used. It is served on
127.0.0.1 (``DEEPGEP_BOOK_HTML=<folder>`` serves another build) and every page of ``_toc.yml``
is opened; a request to any other host is aborted and fails the test. On every page: MathJax
has typeset every formula (no TeX error, no raw ``$$`` or ``\\(`` left in the prose), every image
is visible (loaded, drawn at a non-zero size, not hidden by CSS) and every figure stored in the
notebook is on the page, every citation links to an entry of the bibliography page, no citation
is unresolved, and the console shows no error. Every chapter offers its notebook in the theme's
download menu, and the linked ``.ipynb`` is served and is that notebook. A full-page
screenshot of every chapter is saved under ``_build/screenshots/``.

Every page -- those of ``_toc.yml`` and the API reference's page of every module of
``src/deepgep`` -- must fit a window :data:`WINDOW_WIDTH` pixels wide: no horizontal scroll bar on
the page, and no table cut off (neither an HTML table nor a printed text table, ``pre`` of a cell's
output, may be wider than the box that shows it: ``scrollWidth <= clientWidth`` for the table's
boxes up to the page's main column). Pages known to fail are listed in :data:`KNOWN_TOO_WIDE`
with the reason, as strict expected failures: the day a page fits, its entry must go.

Runs where Chromium is installed at ``/usr/bin/chromium`` (or ``$CHROMIUM``); elsewhere it is
skipped with the reason, except under ``CI=true``, where a missing browser fails the test
(``.ci/run`` installs it first). ``make test-browser`` installs it with apt and runs this file
alone.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BUILD = ROOT / "_build"
SCREENSHOTS = BUILD / "screenshots"
#: CI must run this test: there a missing Chromium is a failure, not a skip.
IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
MISSING_CHROMIUM = (f"Chromium not found at {CHROMIUM}: `make test-browser` installs it "
                    "(apt-get install chromium) and runs the browser test")
#: Milliseconds a page may take to load and typeset its formulas on a busy 2-core machine.
PAGE_TIMEOUT_MS = 60_000
#: Sources whose change makes a previous ``_build/html`` stale (the API pages are made from
#: the library's docstrings).
SOURCES = ["_toc.yml", "_config.yml", "notebooks/*.ipynb", "book/*.md", "book/*.bib",
           "book/_ext/*.py", "book/_templates/**/*", "src/deepgep/**/*.py"]
#: The width of the browser window, in CSS pixels: every page must fit it.
WINDOW_WIDTH = 1400
#: Pages too wide for :data:`WINDOW_WIDTH` today, with the reason; each is a strict expected
#: failure, so a fix is noticed: the day a page fits, its entry must go. None since the chapters'
#: tables became HTML tables (deepgep.support.report.Table) and printed lines wrap
#: (book/_static/outputs.css): every page fits.
KNOWN_TOO_WIDE: dict[str, str] = {}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI, reason=MISSING_CHROMIUM),
]

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
#: TeX left in the prose after MathJax ran: display or inline delimiters, environments.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$\n]{0,80}\$")


# ---- the pages ----------------------------------------------------------------------------


def toc_pages() -> list[str]:
    """Every page of _toc.yml (the root first), as source paths without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key, value in node.items():
                if key != "file":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(p).with_suffix("")) for p in pages]


#: The folder of the API reference's pages (sphinx-autoapi's ``autoapi_root``).
API_ROOT = "book/api"


def api_pages() -> list[str]:
    """The API reference's page of every module and package of ``src/deepgep`` (but
    ``__main__``), as paths without extension: ``book/api/deepgep/theory/layers/index``."""
    src = ROOT / "src"
    pages = []
    for path in sorted((src / "deepgep").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        pages.append("/".join([API_ROOT, *parts, "index"]))
    return pages


def _source(page: str) -> Path | None:
    """The notebook or markdown file of a page; ``None`` for a page generated from the library
    (the API reference)."""
    for suffix in (".ipynb", ".md"):
        if (ROOT / page).with_suffix(suffix).is_file():
            return (ROOT / page).with_suffix(suffix)
    if page.startswith(API_ROOT + "/"):
        return None
    raise FileNotFoundError(page)


def stored_figures(page: str) -> int:
    """The number of PNG figures stored in a notebook page (0 for a markdown or API page)."""
    path = _source(page)
    if path is None or path.suffix != ".ipynb":
        return 0
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    return sum("image/png" in out.get("data", {})
               for c in cells if c["cell_type"] == "code" for out in c.get("outputs", []))


def cites(page: str) -> bool:
    path = _source(page)
    if path is None:
        return False
    text = path.read_text(encoding="utf8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return bool(CITE_ROLE.search(text))


# ---- build and serve ----------------------------------------------------------------------


def _newest_source() -> float:
    return max(p.stat().st_mtime for pattern in SOURCES for p in ROOT.glob(pattern))


def _build_from_stored_outputs() -> Path:
    """jupyter-book with execution off, into _build/browser/_build/html."""
    out = BUILD / "browser"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    config["execute"]["execute_notebooks"] = "off"
    # local extension folders are resolved against the config file's folder
    config["sphinx"]["local_extensions"] = {
        name: str((ROOT / path).resolve()) for name, path in config["sphinx"]["local_extensions"].items()}
    (out / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf8")
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
           "--config", str(out / "_config.yml"), "--path-output", str(out), "-n", "--keep-going"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    html = out / "_build" / "html"
    assert done.returncode == 0 and (html / "index.html").is_file(), (
        f"book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return html


@pytest.fixture(scope="module")
def html_dir() -> Path:
    """``$DEEPGEP_BOOK_HTML`` if set, else a fresh ``_build/html``, else a build from the stored
    outputs."""
    given = os.environ.get("DEEPGEP_BOOK_HTML")
    if given:
        assert (Path(given) / "index.html").is_file(), f"DEEPGEP_BOOK_HTML={given} has no index.html"
        return Path(given)
    fresh = BUILD / "html"
    if (fresh / "index.html").is_file() and (fresh / "index.html").stat().st_mtime > _newest_source():
        return fresh
    return _build_from_stored_outputs()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def server(html_dir):
    """``html_dir`` served on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_chromium_is_installed():
    """Under CI=true the page tests below must run, not skip: fail here with the reason."""
    assert CHROMIUM.exists(), MISSING_CHROMIUM


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(MISSING_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


# ---- what a page looks like to a reader ----------------------------------------------------

_WAIT_FOR_MATHJAX = """async () => {
    if (!window.MathJax || !MathJax.startup) return false;
    await MathJax.startup.promise;
    return true;
}"""

_INSPECT = """async () => {
    const page = document.documentElement;
    const images = await Promise.all(Array.from(document.images).map(async (img) => {
        img.loading = "eager";
        try { await img.decode(); } catch (e) { }
        const box = img.getBoundingClientRect();
        return {
            src: img.getAttribute("src"),
            width: img.naturalWidth,  // 0: the file did not load or decode
            shownWidth: box.width,
            shownHeight: box.height,
            // display:none on it or an ancestor, visibility:hidden, opacity 0, content-visibility
            visible: img.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}),
            onPage: box.right + window.scrollX > 0 && box.bottom + window.scrollY > 0
                    && box.left + window.scrollX < page.scrollWidth
                    && box.top + window.scrollY < page.scrollHeight,
        };
    }));
    const math = Array.from(document.querySelectorAll(".math"));
    const prose = document.querySelector("main") || document.body;
    const clone = prose.cloneNode(true);
    clone.querySelectorAll("pre, code, .highlight, mjx-container, script, style, .cell_output")
         .forEach((e) => e.remove());
    return {
        images: images,
        math: math.length,
        typeset: math.filter((e) => e.querySelector("mjx-container")).length,
        texErrors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
        prose: clone.textContent,
        citations: Array.from(document.querySelectorAll("a[href*='bibliography.html#']"))
                        .map((a) => a.getAttribute("href").split("#")[1]),
        citationLabels: Array.from(document.querySelectorAll("a[href*='bibliography.html#']"))
                        .map((a) => a.textContent.trim()),
        anchors: Array.from(document.querySelectorAll(".citation[id]")).map((e) => e.id),
    };
}"""


#: What does not fit the window: the page's horizontal overflow, and every table -- an HTML
#: ``table`` or a printed text table (``pre`` of a cell's output) -- wider than one of its boxes
#: up to the page's main column (``scrollWidth > clientWidth``: cut off, or scrolled sideways).
_MEASURE_WIDTH = """() => {
    const page = document.documentElement;
    const main = document.querySelector("main") || document.body;
    const label = (e) => {
        const cell = e.closest(".cell");
        const text = (e.innerText || "").trim().split("\\n")[0].slice(0, 60);
        const section = e.closest("section[id]");
        return (section ? "#" + section.id + " " : "") + (cell ? "cell " : "")
               + "'" + text + "'";
    };
    const tables = [];
    const check = (e, kind) => {
        for (let box = e; box && box !== main.parentElement; box = box.parentElement) {
            if (box.scrollWidth > box.clientWidth + 1) {
                const style = getComputedStyle(box);
                tables.push({kind: kind, where: label(e), width: box.scrollWidth,
                             shown: box.clientWidth, box: box.tagName.toLowerCase()
                             + (box.className ? "." + String(box.className).split(" ")[0] : ""),
                             overflow: style.overflowX});
                return;
            }
        }
    };
    main.querySelectorAll("table").forEach((t) => check(t, "HTML table"));
    main.querySelectorAll(".cell_output pre, .output pre").forEach((p) => check(p, "text output"));
    return {pageWidth: page.scrollWidth, windowWidth: page.clientWidth, tables: tables};
}"""


def _width_defects(found: dict) -> list[str]:
    """Why a page does not fit the window (empty if it does)."""
    width = found["width"]
    defects = []
    if width["pageWidth"] > width["windowWidth"]:
        defects.append(f"the page scrolls sideways: {width['pageWidth']} px wide in a "
                       f"{width['windowWidth']} px window")
    for t in width["tables"]:
        defects.append(f"{t['kind']} {t['where']} is {t['width']} px wide in a {t['shown']} px box "
                       f"({t['box']}, overflow-x {t['overflow']})")
    return defects


#: The theme's download menu: its toggle, and the notebook among its links.
DOWNLOAD_TOGGLE = ".dropdown-download-buttons > button"
DOWNLOAD_IPYNB = ".dropdown-download-buttons a[href$='.ipynb']"


def _download_menu(page) -> dict:
    """Open the download menu as a reader would; the .ipynb links it shows (absolute URLs)."""
    toggle = page.locator(DOWNLOAD_TOGGLE)
    if toggle.count() != 1 or not toggle.is_visible():
        return {"toggle": False, "links": []}
    toggle.click()
    links = page.locator(DOWNLOAD_IPYNB)
    links.first.wait_for(state="visible", timeout=5_000) if links.count() else None
    return {"toggle": True,
            "links": [{"href": links.nth(i).evaluate("a => a.href"),
                       "visible": links.nth(i).is_visible()} for i in range(links.count())]}


def _open(browser, url: str, screenshot: Path | None = None, download: bool = False) -> dict:
    """Load ``url`` with every non-local request aborted; what the page shows, and its problems.
    With ``download``, the download menu is opened after the screenshot (see _download_menu)."""
    context = browser.new_context(viewport={"width": WINDOW_WIDTH, "height": 900})
    problems: list[str] = []
    external: list[str] = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if host == "127.0.0.1":
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    try:
        page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        has_mathjax = page.evaluate(_WAIT_FOR_MATHJAX)
        found = page.evaluate(_INSPECT)
        found["width"] = page.evaluate(_MEASURE_WIDTH)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        if download:
            found["download"] = _download_menu(page)
    finally:
        context.close()
    found.update(problems=problems, external=external, mathjax=has_mathjax)
    return found


@pytest.fixture(scope="module")
def bibliography_anchors(browser, server) -> set[str]:
    found = _open(browser, server + "book/bibliography.html")
    assert found["anchors"], "the bibliography page lists no entry"
    return set(found["anchors"])


PAGES = toc_pages()
#: The chapters: every notebook page. Each gets a full-page screenshot and a download check.
CHAPTERS = [p for p in PAGES if _source(p).suffix == ".ipynb"]
#: Every page of the book: the table of contents' and the API reference's.
ALL_PAGES = PAGES + [p for p in api_pages() if p not in PAGES]


def _defects(page: str, found: dict, bibliography_anchors: set[str]) -> list[str]:
    """Everything a reader would see wrong on ``page``, as messages (empty if none)."""
    defects = []
    if found["external"]:
        defects.append(f"requests outside 127.0.0.1: {found['external']}")
    defects += found["problems"]  # console errors, page errors, failed requests, HTTP errors
    # math: every formula typeset by the bundled MathJax, without TeX errors or raw TeX left
    if found["math"] and not found["mathjax"]:
        defects.append(f"{found['math']} formulas but MathJax did not load")
    if found["typeset"] != found["math"]:
        defects.append(f"{found['math'] - found['typeset']} of {found['math']} formulas not typeset")
    if found["texErrors"]:
        defects.append(f"{found['texErrors']} TeX errors")
    raw = RAW_TEX.findall(found["prose"])
    if raw:
        defects.append(f"raw TeX left in the text: {raw[:5]}")
    # figures: every image loads and is visible, and every figure stored in the notebook is on
    # the page
    broken = [img["src"] for img in found["images"] if img["width"] == 0]
    if broken:
        defects.append(f"images that do not load: {broken}")
    empty = [img["src"] for img in found["images"]
             if not (img["shownWidth"] > 0 and img["shownHeight"] > 0)]
    if empty:
        defects.append(f"images drawn at zero size: {empty}")
    hidden = [img["src"] for img in found["images"] if not img["visible"]]
    if hidden:
        defects.append(f"images hidden (display, visibility or opacity): {hidden}")
    off_page = [img["src"] for img in found["images"] if not img["onPage"]]
    if off_page:
        defects.append(f"images outside the page: {off_page}")
    figures = sum("_images/" in (img["src"] or "") for img in found["images"])
    if figures != stored_figures(page):
        defects.append(f"{figures} figures on the page, {stored_figures(page)} in the notebook")
    # bibliography: citations resolve to entries of the bibliography page
    if cites(page) and not found["citations"]:
        defects.append("the page cites papers but has no link to the bibliography")
    missing = sorted(set(found["citations"]) - bibliography_anchors)
    if missing:
        defects.append(f"citations pointing to no bibliography entry: {missing}")
    unresolved = [label for label in found["citationLabels"] if "?" in label or not label]
    if unresolved or "??" in found["prose"]:
        defects.append(f"unresolved citations: {unresolved}")
    return defects


def _download_defects(page: str, download: dict, html_dir: Path, server: str) -> list[str]:
    """What is wrong with the chapter's notebook download (empty if nothing): the menu shows a
    link to ``_sources/<page>.ipynb``, the server returns it, and it is this chapter's notebook,
    the file in the served build."""
    if not download["toggle"]:
        return ["no visible download button"]
    expected = server + f"_sources/{page}.ipynb"
    links = [link for link in download["links"] if link["href"] == expected]
    if not links:
        return [f"the download menu offers no {expected} (it offers "
                f"{[link['href'] for link in download['links']]})"]
    if not all(link["visible"] for link in links):
        return ["the .ipynb link stays hidden when the download menu is opened"]
    on_disk = html_dir / "_sources" / f"{page}.ipynb"
    if not on_disk.is_file():
        return [f"{on_disk} does not exist"]
    try:
        with urllib.request.urlopen(expected, timeout=30) as response:
            served = response.read()
    except OSError as exc:
        return [f"downloading {expected} fails: {exc}"]
    if served != on_disk.read_bytes():
        return [f"{expected} is not the file {on_disk}"]
    code = [c["source"] for c in json.loads(served)["cells"] if c["cell_type"] == "code"]
    source = _source(page)
    if code != [c["source"] for c in json.loads(source.read_text(encoding="utf8"))["cells"]
                if c["cell_type"] == "code"]:
        return [f"the downloaded notebook is not {source.relative_to(ROOT)}"]
    return []


def test_every_chapter_is_checked():
    assert CHAPTERS and all(p.startswith("notebooks/") for p in CHAPTERS), CHAPTERS


@pytest.fixture(scope="module")
def visits() -> dict[str, dict]:
    """What each page showed when test_page_renders_offline opened it (page -> found), so that
    test_page_fits_the_window measures it without opening it again."""
    return {}


@pytest.mark.parametrize("page", ALL_PAGES)
def test_page_renders_offline(page, browser, server, html_dir, bibliography_anchors, visits):
    chapter = page in CHAPTERS
    shot = SCREENSHOTS / f"{Path(page).name}.png" if chapter else None
    if shot is not None and shot.exists():
        shot.unlink()  # never report an old screenshot as this run's
    if not (html_dir / f"{page}.html").is_file():
        pytest.fail(f"{page}.html is not in the built book")
    found = visits[page] = _open(browser, server + page + ".html", shot, download=chapter)
    defects = _defects(page, found, bibliography_anchors)
    if chapter:
        defects += _download_defects(page, found["download"], html_dir, server)
    assert not defects, f"{page}:\n  " + "\n  ".join(defects)
    if shot is not None:
        assert shot.stat().st_size > 10_000, f"screenshot {shot} is (nearly) empty"


@pytest.mark.parametrize("page", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_TOO_WIDE[p])) if p in KNOWN_TOO_WIDE else p
    for p in ALL_PAGES])
def test_page_fits_the_window(page, browser, server, html_dir, visits):
    """At WINDOW_WIDTH pixels nothing is cut off: no sideways scroll bar, no table wider than its box."""
    if not (html_dir / f"{page}.html").is_file():
        pytest.fail(f"{page}.html is not in the built book")
    found = visits.get(page) or _open(browser, server + page + ".html")
    defects = _width_defects(found)
    assert not defects, f"{page} at {WINDOW_WIDTH} px:\n  " + "\n  ".join(defects)
