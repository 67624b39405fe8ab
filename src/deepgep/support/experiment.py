"""A chapter's experiment: its parameters as one typed, validated, frozen object.

Each chapter module of :mod:`deepgep.chapters` defines one subclass of :class:`Experiment`, a
frozen dataclass whose fields are the parameters a reader changes (the physical ones:
activation, gain, depth, noise...; and the sizes: widths, sample ratios, teachers...), with

* ``paper()`` and ``fast()``: the two presets (what the online book shows; everything from
  scratch in a minute or two);
* ``validate()``: a clear :class:`ExperimentError` for any field out of range;
* the *derived* quantities as properties (``kappa``, ``gamma0``, ``lambda_star`` ... computed
  from activation, gain and depth, never set by hand), listed by ``derived()``;
* ``sweeps()``: the chapter's expensive experiments as :class:`~deepgep.support.sweeps.Sweep`
  objects built from the fields.

Values are coerced to the fields' annotated types (``float``, ``int``, ``str``, ``bool``,
``tuple[float, ...]`` and nested tuples, ``X | None``), so that ``papermill -p GAIN 2`` (an
int) and ``GAIN = 2.0`` give the same experiment, and a list given for a tuple field becomes a
tuple: equal parameters give equal experiments, equal sweeps and the same recorded tables.

A notebook's ``parameters`` cell holds ``PRESET`` and one ``NAME = None`` line per field
(``NAME`` the field's name in capitals; ``None`` keeps the preset's value); the next cell builds
the experiment with :meth:`Experiment.from_cell` and shows :meth:`Experiment.banner`, which
says which parameters differ from the book's. The library never reads a notebook.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

__all__ = ["ExperimentError", "Experiment", "PRESETS", "CONFIRMATION_FIRST_SEED", "parse_assignment", "cell_name"]

#: The presets every experiment has: what the book shows, and a small one for minutes.
PRESETS = ("paper", "fast")

#: The first seed of every chapter's confirmation sweep (recorded after the claim it tests was
#: committed): its instances are fresh, since the chapters' other sweeps number their teachers
#: 0, 1, ... and none has 1000 of them.
CONFIRMATION_FIRST_SEED = 1000

E = TypeVar("E", bound="Experiment")


class ExperimentError(ValueError):
    """A parameter of an experiment that is unknown, of the wrong type or out of range."""


def cell_name(field: str) -> str:
    """The name of a field in a notebook's ``parameters`` cell: in capitals."""
    return field.upper()


def parse_assignment(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` (the command line's ``--set``): the name in lower case and the value as a
    Python literal, or as the text itself when it is not one (``activation=erf``)."""
    name, sep, value = str(text).partition("=")
    if not sep or not name.strip().isidentifier():
        raise ExperimentError(f"--set expects NAME=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        parsed = value.strip()
    return name.strip().lower(), parsed


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """``value`` as the annotated type ``hint`` (see the module docstring), or an error."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            return _coerce(where, value, others[0])
        for option in others:
            try:
                return _coerce(where, value, option)
            except ExperimentError:
                continue
        raise ExperimentError(f"{where} must be {_describe(hint)}, got {value!r}")
    if origin is tuple:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
            raise ExperimentError(f"{where} must be a list or tuple, got {value!r}")
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(f"{where}[{i}]", v, args[0]) for i, v in enumerate(items))
        if len(items) != len(args):
            raise ExperimentError(f"{where} must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(f"{where}[{i}]", v, a) for i, (v, a) in enumerate(zip(items, args)))
    if hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ExperimentError(f"{where} must be True or False, got {value!r}")
    if hint is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ExperimentError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ExperimentError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ExperimentError(f"{where} must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ExperimentError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported annotation {hint!r}")


def _json(value: Any) -> Any:
    """A field's value as JSON (tuples as lists)."""
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value


def _text(value: Any) -> str:
    """A value as the parameters cell would write it (``[4, 8]``, ``'tanh'``, ``2.0``); a float
    that is not a field's value is rounded to 6 significant digits."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)) and float(value) != round(float(value), 6):
        return f"{float(value):.6g}"
    return repr(value) if isinstance(value, str) else str(value)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """The parameters of a chapter (subclass with ``@dataclass(frozen=True)``; see the module
    docstring). ``CHAPTER`` is the chapter's number."""

    CHAPTER: ClassVar[int] = 0

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            where = f"{type(self).__name__}.{field.name}"
            object.__setattr__(self, field.name, _coerce(where, getattr(self, field.name), hints[field.name]))
        try:
            self.validate()
        except ExperimentError:
            raise
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"{type(self).__name__}: {exc}") from None

    # ---- what a chapter defines ----------------------------------------------------------

    @classmethod
    def paper(cls: type[E]) -> E:
        """The preset the online book shows."""
        raise NotImplementedError(f"{cls.__name__} defines no paper preset")

    @classmethod
    def fast(cls: type[E]) -> E:
        """The preset that runs from scratch in minutes."""
        raise NotImplementedError(f"{cls.__name__} defines no fast preset")

    def validate(self) -> None:
        """Raise :class:`ExperimentError` (or ``ValueError``) for a field out of range."""

    def sweeps(self) -> dict[str, Any]:
        """The chapter's expensive experiments, by name (``{}`` if it has none)."""
        return {}

    def derived(self) -> dict[str, Any]:
        """The quantities computed from the fields (shown by :meth:`summary`)."""
        return {}

    # ---- building ------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def preset(cls: type[E], name: str) -> E:
        """``paper()`` or ``fast()`` by name."""
        if name not in PRESETS:
            raise ExperimentError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
        return cls.paper() if name == "paper" else cls.fast()

    def replace(self: E, **changes: Any) -> E:
        """A copy with ``changes`` (field names), coerced and validated."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ExperimentError(f"{type(self).__name__} has no parameter {', '.join(unknown)}; "
                                  f"its parameters: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_cell(cls: type[E], preset: str, **values: Any) -> E:
        """The experiment of a notebook's ``parameters`` cell: the preset, with every value that
        is not ``None`` put in (``values`` by field name, lower case)."""
        return cls.preset(preset).replace(**{k: v for k, v in values.items() if v is not None})

    # ---- describing ----------------------------------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """The fields as JSON values."""
        return {name: _json(getattr(self, name)) for name in self.field_names()}

    def description(self) -> dict[str, Any]:
        """What the metadata of a recorded table stores of the experiment that defined it."""
        cls = type(self)
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "parameters": self.parameters()}

    @property
    def is_book(self) -> bool:
        """Whether these are the book's parameters (the paper preset)."""
        return self == type(self).paper()

    def preset_name(self) -> str | None:
        """``"paper"`` or ``"fast"`` if the experiment is that preset, else ``None``."""
        return next((name for name in PRESETS if self == type(self).preset(name)), None)

    def differences(self, other: Experiment | None = None) -> list[tuple[str, Any, Any]]:
        """``(field, other's value, this value)`` for every field that differs from ``other``
        (default: the book's paper preset)."""
        other = type(self).paper() if other is None else other
        return [(name, getattr(other, name), getattr(self, name)) for name in self.field_names()
                if getattr(other, name) != getattr(self, name)]

    def summary(self) -> dict[str, list[str]]:
        """Columns ``parameter``, ``this run``, ``book (paper)``, ``fast`` (as text) for every
        field, then the derived quantities (their presets' columns empty)."""
        paper, fast = type(self).paper(), type(self).fast()
        out: dict[str, list[str]] = {"parameter": [], "this run": [], "book (paper)": [], "fast": []}
        for name in self.field_names():
            values = (getattr(self, name), getattr(paper, name), getattr(fast, name))
            for column, text in zip(out, (cell_name(name), *map(_text, values))):
                out[column].append(text)
        for name, value in self.derived().items():
            for column, text in zip(out, (name, _text(value), "", "")):
                out[column].append(text)
        return out

    def banner(self) -> str:
        """One paragraph (Markdown) saying whether this run is the book's and, if not, which
        parameters differ from the book's."""
        if self.is_book:
            return ("**These are the book's parameters** (the paper preset): the numbers and figures below are "
                    "the book's, drawn from its recorded tables.")
        changed = ", ".join(f"`{cell_name(n)}` = {_json(v)!r} (book: {_json(b)!r})" for n, b, v in self.differences())
        which = "the fast preset" if self.preset_name() == "fast" else "other parameters"
        return (f"**This run differs from the book** ({which}): {changed}. Its numbers and figures are not the "
                "book's; its simulations are computed for these parameters (or read from a table recorded for "
                "exactly them).")
