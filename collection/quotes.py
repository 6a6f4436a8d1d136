"""1-second quote bars from best bid/ask updates: per symbol the last bid, ask and sizes in each second and the
half-spread weighted by how long each quote stood in it; spans without quotes (a disconnect, a stall) are gaps.

The feed's socket thread adds quotes; the writer takes the finished bars and gaps in batches. A second is finished
when a later quote arrives, or when it is over by the writer's clock moved back by how late the symbol's last quote
was read (a socket thread behind its stream never finds a second finished before it read all of it); the quote
standing at its end is carried into the next second, exactly as if it had been re-sent. A break in the stream ends
the open second at its last quote and carries nothing across the hole."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from data_feed import Quote, QuoteBar

SECOND_MS = 1000


@dataclass(frozen=True)
class QuoteHole:
    """A span [from_ts, to_ts) of a symbol without quotes: the last quote before a break and the first after it."""

    symbol: str
    from_ts: int
    to_ts: int
    note: str


@dataclass
class _Open:
    """The second being built for one symbol: the quote in force since `since` (ms), weighted half-spread so far."""

    second: int
    quote: Quote
    since: int
    weighted: float = 0.0
    duration: int = 0

    def advance(self, until: int) -> None:
        """The quote in force stood from `since` to `until` (within the second)."""
        span = until - self.since
        if span > 0:
            self.weighted += span * (self.quote.ask - self.quote.bid) / 2
            self.duration += span
        self.since = max(self.since, until)

    def bar(self) -> QuoteBar:
        q = self.quote
        half = self.weighted / self.duration if self.duration else (q.ask - q.bid) / 2
        return QuoteBar(q.symbol, self.second, q.bid, q.ask, q.bid_size, q.ask_size, half)


class QuoteBook:
    """Builds quote bars for every symbol; thread-safe (one lock: a quote's update is a few attribute writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._carry: dict[str, Quote] = {}  # the quote standing at the end of a symbol's last finished second
        self._broken: dict[str, tuple[int, str]] = {}  # symbol: (last quote time before a break, why)
        self._done: dict[str, int] = {}  # symbol: its last finished second (a bar is never written twice)
        self._behind: dict[str, int] = {}  # symbol: how long after its exchange time its last quote was read (ms)
        self._bars: list[QuoteBar] = []
        self._holes: list[QuoteHole] = []
        self.quotes = 0
        self.late = 0  # updates of a second already finished (not in any bar; the latest still carries on)

    def add(self, q: Quote) -> None:
        """Take one best bid/ask update (in exchange-time order per symbol)."""
        second = q.timestamp - q.timestamp % SECOND_MS
        with self._lock:
            self.quotes += 1
            self._behind[q.symbol] = q.received_at - q.timestamp if q.received_at else 0  # 0: no receive time
            hole = self._broken.pop(q.symbol, None)
            if hole is not None and q.timestamp > hole[0]:
                self._holes.append(QuoteHole(q.symbol, hole[0], q.timestamp, hole[1]))
            current = self._open.get(q.symbol)
            if second <= self._done.get(q.symbol, -1) or (current is not None and second < current.second):
                self.late += 1  # its second is finished (by the clock, or a break): it still stands after it
                if q.symbol in self._carry:
                    self._carry[q.symbol] = q
                return
            if current is not None and second > current.second:
                self._finish(current, current.second + SECOND_MS, carry=True)
                current = None
            if current is None:
                carried = self._carry.pop(q.symbol, None)
                current = self._open[q.symbol] = _Open(second, carried or q, second if carried else q.timestamp)
            current.advance(q.timestamp)
            current.quote = q

    def finish_before(self, cutoff_ms: int) -> None:
        """Finish every open second that ended at or before `cutoff_ms` (local clock) less how late its symbol's
        last quote was read: its stream has then moved past it (the quote standing carries on)."""
        with self._lock:
            ended = [c for c in self._open.values() if c.second + SECOND_MS <= cutoff_ms - self._behind[c.quote.symbol]]
            for current in ended:
                self._finish(current, current.second + SECOND_MS, carry=True)

    def break_stream(self, symbols: list[str] | None, note: str) -> None:
        """The stream of these symbols (None: all) broke: finish their open seconds at their last quote, carry
        nothing over the hole, and record it when their next quote arrives."""
        with self._lock:
            chosen = list(self._open.keys() | self._carry.keys()) if symbols is None else symbols
            for symbol in chosen:
                current = self._open.get(symbol)
                last = current.quote if current is not None else self._carry.get(symbol)
                if current is not None:
                    self._finish(current, current.quote.timestamp, carry=False)
                self._carry.pop(symbol, None)
                if last is not None and symbol not in self._broken:
                    self._broken[symbol] = (last.timestamp, note)

    def resume_after(self, last_seconds: dict[str, int], note: str) -> None:
        """Quotes resume after stored ones (a restart): each symbol's span from the end of its last stored second
        to its first quote here is a hole, recorded when that quote arrives."""
        with self._lock:
            for symbol, second in last_seconds.items():
                self._broken[symbol] = (second + SECOND_MS, note)

    def take(self) -> tuple[list[QuoteBar], list[QuoteHole]]:
        """The finished bars and the holes found since the last take."""
        with self._lock:
            bars, holes = self._bars, self._holes
            self._bars, self._holes = [], []
            return bars, holes

    def pending(self) -> int:
        """Finished bars not yet taken."""
        return len(self._bars)

    def _finish(self, current: _Open, until: int, carry: bool) -> None:
        current.advance(until)
        self._bars.append(current.bar())
        del self._open[current.quote.symbol]
        self._done[current.quote.symbol] = current.second
        if carry:
            self._carry[current.quote.symbol] = current.quote
