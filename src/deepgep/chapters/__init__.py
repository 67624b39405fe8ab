"""The top floor: one module per chapter of the book, holding only that chapter's experiment, its
scans and its tables. Chapters import the floors below (:mod:`deepgep.simulate`,
:mod:`deepgep.theory`, :mod:`deepgep.support`), never each other.

Every chapter module ``ch<N>_<topic>`` (its notebook is ``notebooks/ch<N>_<topic>.ipynb``)
defines ``EXPERIMENT``, its :class:`~deepgep.support.experiment.Experiment` subclass, and
``claims(experiment, tables) -> list[Claim]``, its quantitative claims on the tables of the
experiment's sweeps (a dict name -> DataFrame). :data:`CHAPTERS` lists them;
:func:`chapter_module` and :func:`experiment_class` find them by number.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["CHAPTERS", "chapter_module", "experiment_class", "notebook_name"]

#: The chapters of the book, by number: the module (and notebook) name.
CHAPTERS = {
    1: "ch1_gaussian_equivalence",
    2: "ch2_reduction_to_glm",
    3: "ch3_free_entropy",
    4: "ch4_bayes_optimal_generalisation",
    5: "ch5_posterior_sampling",
    6: "ch6_deep_free_entropy",
    7: "ch7_kernel_renormalisation",
    8: "ch8_deep_linear",
    9: "ch9_deep_equilibrium",
}


def _number(chapter: int | str) -> int:
    text = str(chapter).strip().lower().removeprefix("ch")
    if not text.isdigit() or int(text) not in CHAPTERS:
        raise ValueError(f"no chapter {chapter!r}; chapters: {', '.join(map(str, sorted(CHAPTERS)))}")
    return int(text)


def chapter_module(chapter: int | str) -> ModuleType:
    """The module of a chapter (``3``, ``"03"`` and ``"ch3"`` are the same)."""
    return importlib.import_module(f"{__name__}.{CHAPTERS[_number(chapter)]}")


def experiment_class(chapter: int | str) -> type:
    """The :class:`~deepgep.support.experiment.Experiment` subclass of a chapter."""
    return chapter_module(chapter).EXPERIMENT


def notebook_name(chapter: int | str) -> str:
    """The file name of a chapter's notebook (in ``notebooks/``)."""
    return f"{CHAPTERS[_number(chapter)]}.ipynb"
