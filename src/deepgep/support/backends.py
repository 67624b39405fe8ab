"""Optional numerical back ends, imported only by the code that needs them.

JAX is slow to import (about a second) and is used only to sample posteriors (Chapters 5 and 7),
so ``import deepgep`` does not start it; :func:`jax_float64` imports it on first use with
float64 enabled (JAX defaults to float32; the book computes in float64 throughout).
"""

from __future__ import annotations

import functools
from types import ModuleType

__all__ = ["jax_float64"]


@functools.lru_cache(maxsize=1)
def jax_float64() -> ModuleType:
    """The ``jax`` module, with ``jax_enable_x64`` set."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax
