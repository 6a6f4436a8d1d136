"""Wall-clock time in the platform's unit: epoch milliseconds (int), as stored and sent on the wire."""

from __future__ import annotations

import time

DAY_MS = 86_400_000  # one UTC day in the platform's unit


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000
