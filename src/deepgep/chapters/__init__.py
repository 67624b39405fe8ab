"""The top floor: one module per chapter of the book, holding only that chapter's scans and
tables. Chapters import the floors below (:mod:`deepgep.simulate`, :mod:`deepgep.theory`,
:mod:`deepgep.support`), never each other."""

__all__: list[str] = []
