"""Tests of deepgep.support.imports: a callable found by its import path, and each way a path can
be wrong refused with a message that names it."""

from __future__ import annotations


import pytest

from deepgep.support.imports import import_callable


def test_a_function_and_a_dotted_attribute_are_found():
    assert import_callable("math:sqrt", "x")(4.0) == 2.0
    assert import_callable("collections:OrderedDict.fromkeys", "x")("ab") == {"a": None, "b": None}


@pytest.mark.parametrize("path, message", [
    ("math.sqrt", "expected package.module:function"),
    ("math:sq rt", "expected package.module:function"),
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("math:nope", "has no attribute 'nope'"),
    ("math:pi", "'pi' is a float, not a function"),
])
def test_bad_paths_are_refused_naming_the_problem(path, message):
    with pytest.raises(ValueError, match="^what: ") as info:
        import_callable(path, "what")
    assert message in str(info.value)
