"""The equations of the book (first floor): each module states the formulas it computes and
cites the book's labels (eq-..., thm-...). Imports only :mod:`deepgep.support`."""

__all__: list[str] = []
