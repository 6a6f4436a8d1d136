"""Wall-clock time in the platform's unit: epoch milliseconds (int), as stored and sent on the wire; and the time
left of a job at its rate so far."""

from __future__ import annotations

import time

DAY_MS = 86_400_000  # one UTC day in the platform's unit


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def time_left(started: float, fraction: float) -> float | None:
    """Seconds left for a job begun at `started` (time.monotonic) with `fraction` done, at its rate so far (None
    before the first 5 %, when the rate says nothing yet)."""
    if fraction < 0.05:
        return None
    return (time.monotonic() - started) * (1 - fraction) / fraction
