"""The Collector: runs one feed into one database until stopped — validates symbols, starts the writer and repair
threads (collection.writer, collection.repair), connects the feed, and reports its counters as CollectorStats."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

import database
from collection.pipeline import Pipeline, Retention
from collection.queue import TickQueue
from collection.quotes import QuoteBook
from collection.records import BackfillProgress, CollectorState, CollectorStats, ImportBatch, RulesBatch
from collection.repair import run_repairs
from collection.retention_pass import run_retention
from collection.writer import run_writer
from config import parse_symbols
from core.clock import now_ms
from core.contracts import ContractRules
from core.symbols import DEFAULT_QUOTE, UNIVERSE
from data_feed import (
    BinanceArchive,
    BinanceRest,
    BinanceRestError,
    DataFeed,
    EventKind,
    FeedEvent,
    NoArchive,
    NoRest,
    SymbolInfo,
    Tick,
    UnknownSymbolError,
)

log = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0  # ticks/s is measured over this trailing window
WRITER_THREAD = "collector-writer"


class Collector:
    """Runs one feed into one database until stopped; see the collection package docstring for its threads."""

    def __init__(
        self,
        db_target: str,
        feed: DataFeed,
        *,
        batch_size: int = 2000,
        flush_interval_ms: int = 250,
        queue_max: int = 500_000,
        rest: BinanceRest | None = None,
        repair_gaps: bool = True,
        backfill_minutes: int = 0,
        backfill_kline_hours: int = 0,
        archive: BinanceArchive | None = None,
        on_event: Callable[[FeedEvent], None] | None = None,
        universe_quote: str = DEFAULT_QUOTE,
        retention: Retention | None = None,
        record_quotes: bool = False,
        record_funding: bool = False,
        funding_days: int = 0,
        side_feeds: Sequence[DataFeed] = (),
    ) -> None:
        # Null clients stand in for "none": the code asks `.available`, never checks for None.
        rest_client: BinanceRest = rest if rest is not None else NoRest(f"no REST endpoint for the {feed.kind} feed")
        repair = repair_gaps and rest_client.available
        self.batch_size = batch_size
        self.symbol_rules: dict[str, dict] = {}
        self.started_at = 0
        self.universe_quote = universe_quote
        self._on_event = on_event
        self._threads: list[threading.Thread] = []
        self.pipe = Pipeline(
            db_target,
            feed,
            rest_client,
            archive if archive is not None and repair else NoArchive("archive repair is off"),
            TickQueue(queue_max, batch_size),
            flush_interval_ms / 1000,
            repair,
            backfill_minutes if rest_client.available else 0,
            backfill_kline_hours if rest_client.available else 0,
            retention,
        )
        self.pipe.quotes = QuoteBook() if record_quotes else None
        self.pipe.record_funding = record_funding
        self.pipe.funding_days = funding_days
        self.side_feeds = tuple(side_feeds)  # the bookTicker and markPrice streams' own connections (binance feed)
        # Clients and queue never change after construction; the mutable state lives in the pipeline.
        p = self.pipe
        self.db_target, self.feed, self.rest, self.archive, self.queue = p.db_target, p.feed, p.rest, p.archive, p.queue

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.pipe.symbols

    @property
    def state(self) -> CollectorState:
        return self.pipe.state

    @property
    def last_error(self) -> str:
        return self.pipe.last_error

    @property
    def backfill_progress(self) -> dict[str, BackfillProgress]:
        return self.pipe.backfill_progress

    @property
    def written(self) -> int:
        """Ticks stored so far (cheap: no snapshot, safe to poll)."""
        return self.pipe.counters.written

    @property
    def running(self) -> bool:
        return self.state in (CollectorState.STARTING, CollectorState.RUNNING)

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self, symbols: Sequence[str]) -> Collector:
        """Validate symbols (REST exchangeInfo when available), start the writer, repair/backfill and the feed."""
        p = self.pipe
        p.symbols = tuple(parse_symbols(",".join(symbols)))
        if p.symbols == (UNIVERSE,):
            p.symbols = self._universe()
        elif p.rest.available:
            self._validate_symbols()
        self.started_at = now_ms()
        p.state = CollectorState.STARTING
        self.start_writer()
        p.writer_ready.wait()  # set once the database is open, or failed: checking and upgrading a file take a while
        if p.state is CollectorState.FAILED:
            raise RuntimeError(p.last_error)
        if p.repair_gaps or p.backfill_minutes or p.backfill_kline_hours or (p.record_funding and p.rest.available):
            self._spawn("collector-repair", lambda: run_repairs(p))
        if p.retention is not None:  # passes run in a process of their own, beside the writer
            self._spawn("collector-retention", lambda: run_retention(p))
        p.feed.set_callback(p.queue.put)
        p.feed.set_event_callback(self._handle_event)
        p.feed.set_side_callback(p.take_side)
        p.feed.connect(p.symbols)
        for side in self.side_feeds:
            side.set_side_callback(p.take_side)
            side.set_event_callback(self._handle_side_event)
            side.connect(p.symbols)
        p.state = CollectorState.RUNNING
        log.info(
            "collector started: %s feed, symbols %s, db %s",
            p.feed.kind,
            ",".join(p.symbols),
            database.describe_target(p.db_target),
        )
        return self

    def start_writer(self) -> None:
        """Start only the writer thread (start() does this first; tests drive the queue directly through it)."""
        self._spawn(WRITER_THREAD, lambda: run_writer(self.pipe, self.batch_size))

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect the feed, flush every queued tick, and join the threads (idempotent)."""
        p = self.pipe
        if p.stop.is_set():
            if p.state is CollectorState.FAILED:  # the writer stopped it: make sure the feed is down too
                for feed in (p.feed, *self.side_feeds):
                    feed.disconnect()
                self._join(timeout)  # (the writer may be disconnecting it at this moment)
            return
        if p.state is not CollectorState.FAILED:  # (the writer may have failed a moment ago: that stays the news)
            p.state = CollectorState.STOPPING
        p.feed.disconnect()
        for side in self.side_feeds:
            side.disconnect()
        p.stop.set()
        p.queue.ready.set()
        p.repair_wake.set()
        self._join(timeout)
        if p.state is not CollectorState.FAILED:
            p.state = CollectorState.STOPPED
        log.info(
            "collector stopped: %d written, %d duplicates ignored, %d dropped",
            p.counters.written,
            p.counters.duplicates,
            p.queue.dropped,
        )

    def _join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.1, deadline - time.monotonic()))

    def import_ticks(self, ticks: list[Tick], timeout_s: float = 120.0) -> ImportBatch:
        """Store a bounded slice of an imported file through this collector's writer, between its live batches
        (so an import never holds the write lock against it); waits until the slice is committed."""
        batch = ImportBatch(ticks)
        self.pipe.push(batch)
        deadline = time.monotonic() + timeout_s
        while not batch.done.wait(0.1):
            if self.pipe.finished.is_set() or self.pipe.stop.is_set() or time.monotonic() > deadline:
                batch.error = batch.error or f"the collector stopped ({self.pipe.last_error or self.state})"
                break
        return batch

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until a finite feed (replay) has ended and everything it produced is stored."""
        return self.pipe.finished.wait(timeout)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.collector = self  # type: ignore[attr-defined]  # lets service.current_collector() find it
        thread.start()
        self._threads.append(thread)

    def _universe(self) -> tuple[str, ...]:
        """SYMBOLS=ALL: every TRADING perpetual of the quote asset, from exchangeInfo (the feed spreads them over
        connections of STREAMS_PER_CONNECTION streams)."""
        if not self.pipe.rest.available:
            raise ValueError(
                f"SYMBOLS={UNIVERSE} lists the exchange's universe, which needs the Binance feed; "
                "offline, store a simulated universe from the Scanner tab"
            )
        symbols = tuple(self.pipe.rest.universe(self.universe_quote))
        if not symbols:
            raise ValueError(f"exchangeInfo lists no TRADING perpetual quoted in {self.universe_quote}")
        log.info("universe: %d %s perpetuals", len(symbols), self.universe_quote)
        return symbols

    def _validate_symbols(self) -> None:
        """exchangeInfo check before subscribing; one quick attempt, so a machine with no network starts at once
        (the feed then reports its own connection errors)."""
        quick = BinanceRest(self.rest.base_url, timeout_s=5.0, max_retries=0)
        try:
            infos = quick.symbol_info(self.symbols)
            self.symbol_rules = {
                s: {
                    "tick_size": i.tick_size,
                    "step_size": i.step_size,
                    "min_notional": i.min_notional,
                    "status": i.status,
                }
                for s, i in infos.items()
            }
            self.pipe.push(RulesBatch(contract_rules(infos.values())))
        except UnknownSymbolError:
            raise
        except BinanceRestError as exc:
            self.pipe.last_error = f"symbols not validated: {exc}"
            log.warning("could not validate symbols over REST (%s); subscribing anyway", exc)

    def _handle_side_event(self, event: FeedEvent) -> None:
        """A quote or mark-price stream's event: a disconnect or a stall is a hole in the quotes (recorded when they
        resume); trouble is the collector's last error, as for trades."""
        if event.kind in (EventKind.DISCONNECTED, EventKind.STALLED) and self.pipe.quotes is not None:
            self.pipe.quotes.break_stream([event.symbol] if event.symbol else None, f"{event.kind}: {event.message}")
        if event.kind.is_trouble:
            self.pipe.last_error = f"{event.kind}: {event.message}"
        if self._on_event is not None:
            self._on_event(event)

    def _handle_event(self, event: FeedEvent) -> None:
        p = self.pipe
        if event.kind in (EventKind.CONNECTED, EventKind.DISCONNECTED, EventKind.STALLED) and p.repair_gaps:
            p.schedule_catchups()
        if event.kind.is_trouble:
            p.last_error = f"{event.kind}: {event.message}"
        if event.kind is EventKind.FINISHED:
            p.state = CollectorState.DRAINING
            p.queue.ready.set()
        if self._on_event is not None:
            self._on_event(event)

    # --------------------------------------------------------------------------------------------------- stats
    def stats(self) -> CollectorStats:
        """Counters for status lines and the dashboard; safe to call from any thread."""
        p, c = self.pipe, self.pipe.counters
        now = time.monotonic()
        recent = [m for m in list(c.rate_marks) if now - m[0] <= RATE_WINDOW_S]
        rate = 0.0
        if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
            rate = (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])
        tracks = dict(p.tracks)
        queued, dropped = len(p.queue.items), p.queue.dropped
        return CollectorStats(
            state=p.state,
            feed_kind=p.feed.kind,
            symbols=p.symbols,
            received=c.processed + queued + dropped,
            written=c.written,
            duplicates=c.duplicates,
            dropped=dropped,
            rejected=c.rejected,
            quarantined=c.quarantined + p.feed.get_stats().quarantined,
            queue_depth=queued,
            ticks_per_s=rate,
            batches=c.batches,
            commit_latency_ms=_percentiles(list(c.latencies)),
            last_tick_ms={s: t.last_ts for s, t in tracks.items() if t.last_ts is not None and s in p.symbols},
            last_receive_ms={s: t.last_receive for s, t in tracks.items() if t.last_receive is not None},
            gaps_detected=c.gaps_detected,
            gaps_repaired=c.gaps_repaired,
            gaps_unrepairable=c.gaps_unrepairable,
            repaired_ticks=c.repaired_ticks,
            quotes=p.quotes.quotes if p.quotes is not None else 0,
            quote_bars=c.quote_bars,
            quote_gaps=c.quote_gaps,
            settlements=c.settlements,
            backfill=dict(p.backfill_progress),
            symbol_rules=dict(self.symbol_rules),
            last_error=p.last_error,
            feed=p.feed.get_stats(),
            started_at=self.started_at,
        )


def contract_rules(infos: Iterable[SymbolInfo]) -> list[ContractRules]:
    """The contract rules of the symbols whose exchangeInfo filters make a usable set (tick and step positive)."""
    out = []
    for info in infos:
        try:
            out.append(ContractRules(info.symbol, info.tick_size, info.step_size, info.min_notional))
        except ValueError as exc:
            log.warning("contract rules not stored: %s", exc)
    return out


def _percentiles(values: list[int]) -> dict[str, float]:
    """p50/p99/max of recent receive-to-commit latencies (ms); empty when nothing was written yet."""
    if not values:
        return {}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(max(values))}
