"""``DataFeed``: the interface every feed implements (callbacks, connect/disconnect, stats, events), plus the
rate-limited logger the feeds use so a flood of bad frames cannot flood the log, and ``join_thread`` for stopping
feed threads (safe from inside a callback on that very thread).
"""

from __future__ import annotations

import abc
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from core.clock import now_ms
from core.vocabulary import FeedKind, StreamKind
from feed.recorder import FrameRecorder
from feed.records import EventKind, FeedEvent, FeedStats, FundingRate, MarkPrice, Quote, Tick

SideRecord = Quote | MarkPrice | FundingRate  # what a feed may deliver besides ticks

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ================================================================================================ feed interface/base
class _RateLimitedLog:
    """Log at most one message per key per interval and report how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval_s
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, level: int, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-math.inf, 0))
        if now - last < self._interval:
            self._last[key] = (last, suppressed + 1)
            return
        if suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, msg, *args, **kwargs)
        self._last[key] = (now, 0)


class DataFeed(abc.ABC):
    """Pluggable tick source: ``connect`` starts its own thread(s), ticks and events arrive through callbacks."""

    kind: ClassVar[FeedKind]
    #: Which trade-id sequence the ticks carry (Binance aggTrade or trade ids); None when the ids are not the
    #: exchange's (simulated ids, files without ids), so no REST repair applies.
    stream: StreamKind | None = None
    #: Where raw frames are recorded (``--record``); None when not recording.
    recorder: FrameRecorder | None = None

    def __init__(self) -> None:
        self._callback: Callable[[Tick], None] | None = None
        self._event_callback: Callable[[FeedEvent], None] | None = None
        self._side_callback: Callable[[SideRecord], None] | None = None
        self._lock = threading.RLock()
        self._stats = FeedStats(kind=self.kind)
        self._ratelog = _RateLimitedLog(log)

    def set_callback(self, callback: Callable[[Tick], None]) -> None:
        """Receive every tick (called on the feed's thread; must be cheap, e.g. append to a queue)."""
        self._callback = callback

    def set_side_callback(self, callback: Callable[[SideRecord], None]) -> None:
        """Receive quotes, mark-price updates and funding settlements, from feeds that carry them (a Binance
        bookTicker or markPrice stream, the simulated market with quotes or funding on); same rules as the tick
        callback."""
        self._side_callback = callback

    def set_event_callback(self, callback: Callable[[FeedEvent], None]) -> None:
        """Receive FeedEvents (connected, stalled, rotated, ...)."""
        self._event_callback = callback

    @abc.abstractmethod
    def connect(self, symbols: Sequence[str]) -> None:
        """Start delivering ticks for these symbols on background thread(s); returns at once."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop promptly (< 1 s), join the threads; idempotent."""

    @abc.abstractmethod
    def is_connected(self) -> bool:
        """True while the feed is delivering (or able to deliver) ticks."""

    def get_stats(self) -> FeedStats:
        """A snapshot of the feed's counters and state."""
        with self._lock:
            return self._stats.copy()

    def _emit(self, kind: EventKind, message: str, symbol: str | None = None) -> None:
        """Log an event and pass it to the event callback (its exceptions are logged, never propagated)."""
        level = logging.WARNING if kind.is_trouble else logging.INFO
        log.log(level, "%s feed %s%s: %s", self.kind, kind, f" [{symbol}]" if symbol else "", message)
        callback = self._event_callback
        if callback is None:
            return
        try:
            callback(FeedEvent(kind, symbol, message, now_ms()))
        except Exception:  # broad on purpose: a broken UI callback must not stop the feed
            log.exception("event callback failed")

    def _deliver(self, tick: Tick) -> None:
        """Count and hand one tick to the callback (caller holds ``self._lock``)."""
        stats = self._stats
        stats.ticks += 1
        stats.last_tick_at[tick.symbol] = tick.received_at
        callback = self._callback
        if callback is None:
            return
        try:
            callback(tick)
        except Exception:  # broad on purpose: a failing consumer must not kill the socket thread
            stats.callback_errors += 1
            self._ratelog(logging.ERROR, "callback", "tick callback failed", exc_info=True)

    def _deliver_side(self, record: SideRecord) -> None:
        """Count and hand one side record to the side callback (caller holds ``self._lock``)."""
        self._stats.side_records += 1
        callback = self._side_callback
        if callback is None:
            return
        try:
            callback(record)
        except Exception:  # broad on purpose: a failing consumer must not kill the socket thread
            self._stats.callback_errors += 1
            self._ratelog(logging.ERROR, "side-callback", "quote/mark callback failed", exc_info=True)


def join_thread(thread: threading.Thread, timeout: float) -> None:
    """Join with a timeout, tolerating a call from that very thread (e.g. disconnect() inside a callback)."""
    if thread is not threading.current_thread():
        thread.join(timeout=max(0.0, timeout))
