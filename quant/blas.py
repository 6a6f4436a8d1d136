"""One BLAS thread for small linear algebra.

Why: OpenBLAS splits even a 7,000 × 37 product over its threads; on a loaded 2-core machine (collector, dashboard and
browser all busy) the threads wait on each other and one ADF fit takes ~195 ms instead of ~2 ms (measured). The tests'
regressions are small, so one thread is always faster; the scanner's large matrix products keep every thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

_CONTROLLER = ThreadpoolController()
P = ParamSpec("P")
R = TypeVar("R")


def one_blas_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with BLAS limited to one thread (~10 µs to enter and leave)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return run
