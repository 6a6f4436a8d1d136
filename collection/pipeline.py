"""The state a collector's threads share: its clients, the queues between them, per-symbol tracks and counters.

The feed thread fills `queue`; the repair thread fills `side` (REST/archive batches, bars, backfill states) and
takes `repairs` (gaps the writer recorded) and `catchups`; the writer thread is the only one that touches the
database for writing. Counters are plain ints written by one thread and read by any (a torn read is impossible
under the GIL and a snapshot may be a batch old).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

import database
from collection.queue import TickQueue
from collection.quotes import QuoteBook
from collection.records import BackfillProgress, CollectorState, FundingBatch, GapJob, SideItem
from core.vocabulary import StreamKind
from data_feed import BinanceArchive, BinanceRest, DataFeed, FundingRate, MarkPrice, Quote

CATCHUP_DELAY_S = 1.0  # after a (re)connect, give live ticks this long to reveal the hole
SETTLEMENT_DELAY_S = 5.0  # after a settlement passed, give REST this long to publish its row
RETRY_MAX_S = 60.0  # a repair hit by transient failures is retried at most this far apart


@dataclass
class SymbolTrack:
    """The last stored trade of a symbol (continuity check) and when its last tick arrived."""

    last_id: int | None = None
    last_ts: int | None = None
    last_receive: int | None = None
    first_live_id: int | None = None


@dataclass
class Counters:
    """Totals since start; `rate_marks` and `latencies` are bounded windows for the rate and commit latency."""

    written: int = 0
    processed: int = 0
    duplicates: int = 0
    batches: int = 0
    rejected: int = 0
    quarantined: int = 0
    gaps_detected: int = 0
    gaps_repaired: int = 0
    gaps_unrepairable: int = 0
    repaired_ticks: int = 0
    quote_bars: int = 0
    quote_gaps: int = 0
    settlements: int = 0
    rate_marks: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))
    latencies: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))


@dataclass(frozen=True)
class Retention:
    """Keep raw ticks `keep_days` whole UTC days; older symbol-days go to Parquet files under `cold_dir`."""

    keep_days: int
    cold_dir: str


@dataclass
class Pipeline:
    """Everything the writer, repair and backfill code of one collector reads and writes."""

    db_target: str
    feed: DataFeed
    rest: BinanceRest
    archive: BinanceArchive
    queue: TickQueue
    flush_interval_s: float
    repair_gaps: bool
    backfill_minutes: int
    backfill_kline_hours: int
    retention: Retention | None = None  # TICK_RETENTION_DAYS > 0: passes move old days to Parquet (retention_pass)
    symbols: tuple[str, ...] = ()
    state: CollectorState = CollectorState.IDLE
    last_error: str = ""
    side: deque[SideItem] = field(default_factory=deque)
    locks: database.RepairLocks | None = None  # per-symbol repair coordination on a shared server
    repairs: deque[GapJob] = field(default_factory=deque)
    catchups: dict[str, float] = field(default_factory=dict)
    deferred: list[tuple[float, GapJob]] = field(default_factory=list)
    tracks: dict[str, SymbolTrack] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    backfill_progress: dict[str, BackfillProgress] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    repair_wake: threading.Event = field(default_factory=threading.Event)
    writer_ready: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    quotes: QuoteBook | None = None  # RECORD_QUOTES: bookTicker updates become 1-second bars here
    record_funding: bool = False  # RECORD_FUNDING: settlements over REST, the markPrice stream's next settlement
    funding_days: int = 0  # how far back the first funding fetch of a symbol goes
    marks: dict[str, MarkPrice] = field(default_factory=dict)  # latest markPrice update per symbol, not yet written
    next_funding_ms: dict[str, int] = field(default_factory=dict)  # next settlement per symbol, as last streamed
    settled: dict[str, float] = field(default_factory=dict)  # symbol: when to fetch the settlement that just passed
    funding_intervals: dict[str, float] = field(default_factory=dict)  # fundingInfo: adjusted intervals (hours)

    def take_side(self, record: Quote | MarkPrice | FundingRate) -> None:
        """A feed's side record (its socket thread): a quote goes into the quote bars, a mark-price update is kept
        as the symbol's latest (a next funding time that moved on means a settlement passed: fetch it shortly), a
        settlement (the simulated market's) goes to the writer."""
        if isinstance(record, Quote):
            if self.quotes is not None:
                self.quotes.add(record)
        elif isinstance(record, MarkPrice):
            before = self.next_funding_ms.get(record.symbol)
            if before is not None and record.next_funding_time > before and self.record_funding:
                self.settled.setdefault(record.symbol, time.monotonic() + SETTLEMENT_DELAY_S)
                self.repair_wake.set()
            self.next_funding_ms[record.symbol] = record.next_funding_time
            self.marks[record.symbol] = record
        else:
            self.push(FundingBatch([record]))

    def push(self, item: SideItem) -> None:
        """Hand a batch from the repair thread to the writer and wake it."""
        self.side.append(item)
        self.queue.ready.set()

    def queue_repair(self, job: GapJob) -> None:
        """Hand a recorded gap to the repair thread and wake it."""
        self.repairs.append(job)
        self.repair_wake.set()

    def retry_later(self, job: GapJob, reason: str) -> None:
        """A repair hit a transient failure: try it again after a capped exponential backoff (the gap stays open,
        so a restart in the meantime resumes it)."""
        delay = min(RETRY_MAX_S, 2.0**job.attempt)
        self.deferred.append((time.monotonic() + delay, replace(job, attempt=job.attempt + 1)))
        self.last_error = f"gap repair for {job.symbol} deferred {delay:.0f} s: {reason}"

    def due_retries(self) -> None:
        """Move deferred repairs whose time has come back to the repair queue."""
        now = time.monotonic()
        for item in [d for d in self.deferred if d[0] <= now]:
            self.deferred.remove(item)
            self.repairs.append(item[1])

    def fail(self, message: str) -> None:
        """Mark the collector failed with the reason shown to the user."""
        self.last_error = message
        self.state = CollectorState.FAILED

    def unrepairable_reason(self) -> str:
        """Why this collector cannot repair any gap ("" when it can)."""
        if not self.repair_gaps:
            return f"no REST repair for the {self.feed.kind.lower()} feed"
        if self.feed.stream is not StreamKind.AGG_TRADE:
            return "only aggTrade ids can be repaired over REST"
        return ""

    def schedule_catchups(self) -> None:
        """After a (re)connect, disconnect or stall, plan a REST catch-up from each symbol's last stored id: a hole
        at the end of a stream (then a quiet market, a flapping link or a restart) is otherwise invisible until the
        next live trade reveals it."""
        due = time.monotonic() + CATCHUP_DELAY_S
        for symbol in self.symbols:
            self.catchups.setdefault(symbol, due)  # a flapping link must not postpone a pending catch-up
        self.repair_wake.set()

    def idle(self) -> bool:
        """No tick, repair or side batch is waiting."""
        return not self.queue.items and not self.repairs and not self.side and not self.deferred and not self.marks
