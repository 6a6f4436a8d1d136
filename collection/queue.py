"""The hand-off between the feed's socket thread and the writer: a bounded FIFO that never blocks the socket."""

from __future__ import annotations

import threading
from collections import deque

from data_feed import Tick


class TickQueue:
    """Bounded FIFO between the socket thread and the writer; appends are lock-free, overflow is counted."""

    def __init__(self, maxlen: int, batch_size: int) -> None:
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.items: deque[Tick] = deque()
        self.dropped = 0
        self.ready = threading.Event()
        self._drop_lock = threading.Lock()

    def put(self, tick: Tick) -> None:
        """Called for every tick on the socket thread: O(1), never blocks."""
        if len(self.items) >= self.maxlen:
            with self._drop_lock:
                self.dropped += 1
            return
        self.items.append(tick)
        if len(self.items) >= self.batch_size and not self.ready.is_set():
            self.ready.set()

    def take(self, limit: int) -> list[Tick]:
        """Pop up to `limit` ticks (writer thread only)."""
        items, pop = self.items, self.items.popleft
        return [pop() for _ in range(min(limit, len(items)))]
