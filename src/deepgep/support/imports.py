"""One home for importing a callable named ``"package.module:function"`` (a sweep's task, a
user's activation): importlib, never ``eval``; every part a Python identifier."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["import_callable"]


def import_callable(path: str, what: str) -> Callable[..., Any]:
    """The callable named by ``"package.module:attribute"`` (the attribute may be a dotted path,
    ``"module:Class.method"``). Raises ``ValueError`` starting with ``what`` (e.g. ``"task
    'x:y'"``) and naming what is wrong: the form, a module that cannot be imported (or fails as
    it is imported), a missing attribute, or an object that is not callable."""
    text = str(path).strip()
    module_name, sep, attribute = text.partition(":")
    parts = module_name.split(".") + attribute.split(".")
    if not sep or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{what}: expected package.module:function with Python identifiers, got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError, or the module failing as it is imported
        raise ValueError(f"{what}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{what}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{what}: {attribute!r} is a {type(target).__name__}, not a function")
    return target
