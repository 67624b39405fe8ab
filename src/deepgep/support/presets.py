"""The two presets of a chapter's ``parameters`` cell, and reruns of a chapter in either.

Every notebook of the book has one code cell tagged ``parameters`` (the cell papermill
overrides). Its convention, shared by all chapters and checked by
``tests/support/test_presets.py``:

* the cell opens with comment lines stating the run time of both presets;
* every other line is blank, a comment on its own line, or one assignment ``NAME = <literal>``
  (one name, one line, a value that :func:`ast.literal_eval` accepts);
* the values written are those of the cell's DEFAULT preset: ``"paper"`` when the cell assigns
  ``PRESET = "paper"`` (the chapters whose stored outputs are drawn from the recorded paper-scale
  tables under ``results/``), ``"fast"`` otherwise;
* an assignment whose value in the OTHER preset differs ends with the marker ``# fast:
  <literal>`` (default paper) or ``# paper: <literal>`` (default fast); no other comment sits
  at the end of an assignment line.

:func:`read_presets` turns such a cell into :class:`Parameter` records (fast and paper values),
and :func:`rerun` executes a chapter with papermill in either preset (into ``_build/<preset>/``);
:func:`store` executes it as written and keeps the outputs in the notebook itself (what the book
shows and nbval compares). From the command line::

    python -m deepgep.support.presets 4 --show           # the two presets side by side
    python -m deepgep.support.presets 4 --preset fast    # rerun Chapter 4 from scratch, fast
    python -m deepgep.support.presets 4 --store          # execute in place (paper: from the tables)
    python -m deepgep.support.presets 1 --preset fast --set GAIN=1.5 --output-dir /tmp
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import sys
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PAPER_MARKER", "FAST_MARKER", "PRESET_NAME", "default_preset", "store", "PARAMETERS_TAG", "PRESETS", "ParametersError", "Parameter",
    "header_comments", "parse_parameters", "parameters_source", "read_presets", "preset_values",
    "find_chapter", "rerun", "presets_table", "main",
]

#: The markers that end an assignment line whose value in the other preset differs.
PAPER_MARKER = "# paper:"
FAST_MARKER = "# fast:"
#: The parameter naming a cell's default preset (absent: ``"fast"``).
PRESET_NAME = "PRESET"
#: The cell tag papermill looks for.
PARAMETERS_TAG = "parameters"
#: The presets a chapter can be rerun with.
PRESETS = ("fast", "paper")
#: Where ``make paper`` writes its reruns (relative to the repository root, the make cwd).
DEFAULT_OUTPUT = Path("_build")
#: Chapter notebooks are ``notebooks/ch<N>_<topic>.ipynb``.
CHAPTER_GLOB = "ch{number}_*.ipynb"
#: The Jupyter kernel the book executes with (registered by the Makefile's bootstrap).
KERNEL_NAME = "python3"

_CHAPTER = re.compile(r"^(?:ch)?0*(\d+)$", re.IGNORECASE)


class ParametersError(ValueError):
    """A ``parameters`` cell that breaks the convention, or a bad override of it."""


@dataclass(frozen=True)
class Parameter:
    """One line of a ``parameters`` cell: its name, its fast and its paper value."""

    name: str
    fast: Any
    paper: Any
    line: int

    @property
    def differs(self) -> bool:
        """Whether the two presets give this parameter different values."""
        return self.paper != self.fast or type(self.paper) is not type(self.fast)


# ---- parsing --------------------------------------------------------------------------------


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """Comment text by line number, with whether the comment is alone on its line."""
    found: dict[int, tuple[str, bool]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError) as err:
        raise ParametersError(f"parameters cell does not tokenize: {err}") from err
    code_lines = {
        row
        for tok in tokens
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                            tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)
        for row in range(tok.start[0], tok.end[0] + 1)
    }
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            found[tok.start[0]] = (tok.string, tok.start[0] not in code_lines)
    return found


def _literal(text: str, where: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise ParametersError(f"{where}: {text.strip()!r} is not a Python literal") from err


def header_comments(source: str) -> list[str]:
    """The comment lines that open the cell (the run times of both presets), without ``#``."""
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    return lines


def parse_parameters(source: str) -> dict[str, Parameter]:
    """The parameters of a cell's source, by name, in the order of the cell.

    Raises :class:`ParametersError` naming the line that breaks the convention of this
    module's docstring: a statement that is not a one-line ``NAME = <literal>``, a name
    assigned twice, an end-of-line comment that is not the marker of the other preset
    followed by a literal, or a marker on a line of its own.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ParametersError(f"parameters cell is not valid Python: {err}") from err
    comments = _comments(source)
    lines = source.splitlines()
    values: dict[str, tuple[Any, str | None, int]] = {}
    for stmt in tree.body:
        where = f"line {stmt.lineno} ({lines[stmt.lineno - 1].strip()!r})"
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise ParametersError(f"{where}: expected one assignment NAME = <literal>")
        if stmt.end_lineno != stmt.lineno:
            raise ParametersError(f"{where}: an assignment must fit on one line")
        name = stmt.targets[0].id
        if name in values:
            raise ParametersError(f"{where}: {name} is assigned twice")
        comment = comments.get(stmt.lineno)
        values[name] = (_literal(ast.get_source_segment(source, stmt.value) or "", where),
                        comment[0] if comment else None, stmt.lineno)
    default = values[PRESET_NAME][0] if PRESET_NAME in values else "fast"
    if default not in PRESETS:
        raise ParametersError(f"{PRESET_NAME} must be one of {PRESETS}, got {default!r}")
    marker = FAST_MARKER if default == "paper" else PAPER_MARKER
    params: dict[str, Parameter] = {}
    for name, (value, text, row) in values.items():
        other = value
        if text is not None:
            if not text.startswith(marker):
                raise ParametersError(
                    f"line {row} ({lines[row - 1].strip()!r}): end-of-line comments must be "
                    f"'{marker} <literal>' (the default preset is {default}); put explanations "
                    "on their own line above")
            other = _literal(text[len(marker):], f"line {row}")
        fast, paper = (other, value) if default == "paper" else (value, other)
        params[name] = Parameter(name, fast, paper, row)
    for row, (text, alone) in comments.items():
        if alone and text.startswith((PAPER_MARKER, FAST_MARKER)):
            raise ParametersError(f"line {row}: a '{text.split(':')[0]}:' marker must end an assignment line")
    return params


def default_preset(params: Mapping[str, Parameter]) -> str:
    """The preset whose values the cell writes (``PRESET``'s value, ``"fast"`` without it)."""
    return params[PRESET_NAME].paper if PRESET_NAME in params else "fast"


# ---- notebooks ------------------------------------------------------------------------------


def parameters_source(notebook: str | Path) -> str:
    """The source of the one code cell tagged ``parameters`` of ``notebook``."""
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}")
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    tagged = [c for c in cells if c["cell_type"] == "code"
              and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ParametersError(f"{path.name}: expected one code cell tagged "
                              f"'{PARAMETERS_TAG}', found {len(tagged)}")
    src = tagged[0]["source"]
    return "".join(src) if isinstance(src, list) else src


def read_presets(notebook: str | Path) -> dict[str, Parameter]:
    """The parameters (fast and paper values) of ``notebook``'s ``parameters`` cell."""
    try:
        return parse_parameters(parameters_source(notebook))
    except ParametersError as err:
        raise ParametersError(f"{Path(notebook).name}: {err}") from err


def preset_values(params: Mapping[str, Parameter], preset: str) -> dict[str, Any]:
    """The values papermill must inject for ``preset``: nothing for the cell's default preset,
    the changed values for the other one."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if preset == default_preset(params):
        return {}
    return {p.name: getattr(p, preset) for p in params.values() if p.differs}


def find_chapter(chapter: str | int, notebooks: str | Path = "notebooks") -> Path:
    """The notebook of chapter ``chapter`` (``3``, ``"03"`` and ``"ch3"`` are the same), or a
    path to a notebook given directly."""
    text = str(chapter).strip()
    if text.endswith(".ipynb"):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no notebook {path}")
        return path
    match = _CHAPTER.match(text)
    if match is None:
        raise ValueError(f"chapter must be a number such as 3 or 03, got {chapter!r}")
    folder = Path(notebooks)
    found = sorted(folder.glob(CHAPTER_GLOB.format(number=int(match.group(1)))))
    if len(found) != 1:
        raise ValueError(f"chapter {chapter!r}: expected one notebook "
                         f"{CHAPTER_GLOB.format(number=int(match.group(1)))} in {folder}, "
                         f"found {[p.name for p in found]}")
    return found[0]


def _check_overrides(params: Mapping[str, Parameter], overrides: Mapping[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ParametersError(f"unknown parameters {unknown}; the cell defines {sorted(params)}")


def rerun(notebook: str | Path, output_dir: str | Path | None = None, *, preset: str = "paper",
          overrides: Mapping[str, Any] | None = None, progress: bool = True) -> Path:
    """Execute ``notebook`` with papermill in ``preset``, ``overrides`` applied last.

    The executed copy is written to ``output_dir/<notebook name>`` (default
    ``_build/<preset>/``); the kernel runs in the notebook's folder, as in the book build, so a
    relative ``NUMBA_CACHE_DIR`` is made absolute first (relative to the current folder).
    The notebook's own assertions run at the new scale: a broken claim raises papermill's
    ``PapermillExecutionError``. Returns the path of the executed copy.
    """
    import papermill  # imported here: papermill is a book dependency, not a library one

    path = Path(notebook)
    params = read_presets(path)
    overrides = dict(overrides or {})
    _check_overrides(params, overrides)
    values = {**preset_values(params, preset), **overrides}
    _absolute_numba_cache()
    out_dir = Path(output_dir) if output_dir is not None else DEFAULT_OUTPUT / preset
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    if target.resolve() == path.resolve():
        raise ValueError(f"output_dir {out_dir} would overwrite the source notebook {path}")
    papermill.execute_notebook(str(path), str(target), parameters=values,
                               kernel_name=KERNEL_NAME, cwd=str(path.resolve().parent),
                               progress_bar=progress)
    return target


def store(notebook: str | Path, *, timeout: int = 3000) -> Path:
    """Execute ``notebook`` as written (its default preset; paper: drawn from the recorded
    tables) in a fresh kernel in its own folder, and keep the outputs IN the notebook: the
    stored outputs that the book shows and nbval compares. No timing or execution metadata is
    stored (outputs must be reproducible). Returns the notebook's path."""
    import nbformat  # imported here: nbformat and nbclient are book dependencies
    from nbclient import NotebookClient

    path = Path(notebook)
    _absolute_numba_cache()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, record_timing=False,
                   resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return path


def _absolute_numba_cache() -> None:
    """The kernel runs in the notebook's folder: make a relative ``NUMBA_CACHE_DIR`` absolute."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if cache and not os.path.isabs(cache):
        os.environ["NUMBA_CACHE_DIR"] = os.path.abspath(cache)


# ---- command line ---------------------------------------------------------------------------


def _parse_assignment(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ParametersError(f"--set expects NAME=LITERAL, got {text!r}")
    return name.strip(), _literal(value, f"--set {name.strip()}")


def presets_table(params: Mapping[str, Parameter]) -> str:
    """The two presets side by side, one parameter per line."""
    width = max((len(n) for n in params), default=4)
    rows = [f"{'name'.ljust(width)}  fast  ->  paper"]
    for p in params.values():
        paper = repr(p.paper) if p.differs else "(same)"
        rows.append(f"{p.name.ljust(width)}  {p.fast!r}  ->  {paper}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepgep.support.presets CHAPTER``: rerun or store a chapter (see module doc)."""
    parser = argparse.ArgumentParser(
        prog="python -m deepgep.support.presets",
        description="Rerun a chapter of the book with papermill in a preset, or execute it in place.")
    parser.add_argument("chapter", help="chapter number (3 or 03) or a notebook path")
    parser.add_argument("--preset", choices=PRESETS, default="paper")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="NAME=LITERAL", help="override one parameter (repeatable)")
    parser.add_argument("--output-dir", default=None,
                        help="where the executed notebook goes (default _build/<preset>)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of the chapters")
    parser.add_argument("--show", action="store_true", help="print both presets and exit")
    parser.add_argument("--store", action="store_true",
                        help="execute the notebook as written and keep its outputs in place")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        notebook = find_chapter(args.chapter, args.notebooks)
        params = read_presets(notebook)
        overrides = dict(_parse_assignment(a) for a in args.overrides)
        _check_overrides(params, overrides)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.show:
        print(notebook)
        print(presets_table(params))
        return 0
    if args.store:
        print(f"outputs stored in {store(notebook)}")
        return 0
    values = {**preset_values(params, args.preset), **overrides}
    print(f"{notebook} ({args.preset} preset): " + (", ".join(f"{k}={v!r}" for k, v in values.items())
                                                    or "no parameter changed"), file=sys.stderr)
    target = rerun(notebook, args.output_dir, preset=args.preset, overrides=overrides,
                   progress=not args.no_progress)
    print(f"executed notebook written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
