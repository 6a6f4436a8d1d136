"""Polling helper shared by the tests that wait on background threads and the fake server."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, step: float = 0.01) -> bool:
    """Poll `predicate` every `step` seconds until it is truthy (True) or `timeout` passes (its last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
