"""One BLAS thread for the small dense linear algebra of the book.

The matrices of the training loops and of the renormalisation theory are at most a few thousand
wide, where one thread is as fast as two. Two reasons to pin it to one:

- speed on a loaded machine: two OpenBLAS threads spin-wait; a 200 x 200 ``eigh`` took 13 ms
  with one thread and 530 ms with two (measured with a load average of 14 on 2 cores);
- reproducibility: a multi-threaded BLAS may sum in a different order from run to run, and a
  non-convex optimisation (L-BFGS on a network in :mod:`deepgep.simulate.training`) can amplify a last-bit
  difference into a different minimum, so a printed test error changes between two executions of
  the same notebook. With one thread every run of the same code on the same machine is
  bit-identical (tests/test_reproducibility.py, nbval).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]


@functools.lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas(func: Callable) -> Callable:
    """Decorator: run ``func`` with one BLAS thread (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _threadpools().limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
