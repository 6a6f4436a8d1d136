"""Wall-clock time in the platform's unit: epoch milliseconds (int), as stored and sent on the wire."""
from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000
