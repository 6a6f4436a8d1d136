"""Background collection: feed → bounded queue → batching writer thread → SQLite, plus gap repair and backfill.

The feed's socket thread only appends to a bounded queue (overflow is counted, never silent). One writer thread owns
the only write connection and commits a batch by size or every FLUSH_INTERVAL_MS. It checks trade-id continuity per
symbol; gaps are recorded in the `gaps` table and, for the Binance aggTrade feed, repaired by a repair thread (over
REST inside Binance's 48 h aggTrades window, from the data.binance.vision daily archive before it) whose ticks go
through the same writer. `start_service()`/`current_collector()` keep the one collector of a process (the dashboard
shares it across browser tabs); `main()` is the headless CLI.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import logging
import math
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

import database
from config import ConfigError, Settings, configure_logging, load_settings, parse_symbols
from core.vocabulary import FeedKind, StreamKind
from data_feed import (
    ArchiveError,
    BinanceArchive,
    BinanceFuturesFeed,
    BinanceRest,
    BinanceRestError,
    DataFeed,
    FeedEvent,
    FeedStats,
    FrameRecorder,
    NoArchive,
    NoRest,
    ReplayFeed,
    SimulatedFeed,
    Tick,
    UnknownSymbolError,
)

log = logging.getLogger(__name__)

REST_HISTORY_MS = 48 * 3600 * 1000          # Binance serves aggTrades of the last 48 h only (2026)
REST_SAFETY_MS = 15 * 60 * 1000             # do not ask for ids right at the edge of that window
REPAIR_PAGE = 1000
OLDER_THAN_REST = "older than the 48 h REST window"
ARCHIVE_BACKLOG = 8                         # archive batches queued for the writer before the download waits
CATCHUP_DELAY_S = 1.0                       # after a (re)connect, give live ticks this long to reveal the hole
CATCHUP_MAX_PAGES = 100                     # beyond this the live stream's gap detection takes over
RATE_WINDOW_S = 5.0


@dataclass
class RepairBatch:
    """Ticks fetched over REST for a gap or a backfill; `outcome` (status, repaired, note) closes a gap."""

    ticks: list[Tick]
    gap_id: int | None = None
    outcome: tuple[str, int, str] | None = None
    catchup: bool = False


@dataclass
class BarBatch:
    """Exchange bars (1-minute klines) to store in ohlc_data."""

    symbol: str
    timeframe: str
    rows: list[tuple]


@dataclass
class BackfillState:
    """Progress of a resumable backfill job, persisted through the writer; `done_ms` is the exchange time reached."""

    symbol: str
    kind: str
    start_ms: int
    end_ms: int
    cursor: int | None
    status: str
    done_ms: int


@dataclass(frozen=True)
class BackfillProgress:
    """How far one backfill job has got: the committed share of its time span, or why it stopped."""

    symbol: str
    kind: str
    fraction: float = 0.0
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.kind}"

    def __str__(self) -> str:
        return f"{self.label} failed: {self.error}" if self.error else f"{self.label} {self.fraction:.0%}"


@dataclass
class CollectorStats:
    """A snapshot of the collector's counters for the status line and the dashboard."""

    state: str
    feed_kind: FeedKind
    symbols: tuple[str, ...]
    received: int
    written: int
    duplicates: int
    dropped: int
    rejected: int
    queue_depth: int
    ticks_per_s: float
    batches: int
    commit_latency_ms: dict[str, float]
    last_tick_ms: dict[str, int]
    last_receive_ms: dict[str, int]
    gaps_detected: int
    gaps_repaired: int
    gaps_unrepairable: int
    repaired_ticks: int
    backfill: dict[str, BackfillProgress]
    symbol_rules: dict[str, dict]
    last_error: str
    feed: FeedStats
    started_at: int

    def to_dict(self) -> dict:
        return asdict(self)


def _utc_day(ms: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).date()


def _beyond_rest(ts: int | None, now: int) -> bool:
    """True when a trade at ts is (nearly) out of the 48 h window that REST aggTrades still serves."""
    return ts is not None and now - ts > REST_HISTORY_MS - REST_SAFETY_MS


def _storable(t: Tick) -> bool:
    """A tick the database accepts: finite positive price, finite non-negative size."""
    return (isinstance(t.price, (int, float)) and math.isfinite(t.price) and t.price > 0
            and isinstance(t.size, (int, float)) and math.isfinite(t.size) and t.size >= 0)


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


@dataclass
class _SymbolTrack:
    last_id: int | None = None
    last_ts: int | None = None
    last_receive: int | None = None
    first_live_id: int | None = None


@dataclass
class _Counters:
    written: int = 0
    processed: int = 0
    duplicates: int = 0
    batches: int = 0
    rejected: int = 0
    gaps_detected: int = 0
    gaps_repaired: int = 0
    gaps_unrepairable: int = 0
    repaired_ticks: int = 0
    rate_marks: deque = field(default_factory=lambda: deque(maxlen=64))
    latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))


class Collector:
    """Runs one feed into one database until stopped; see the module docstring for the threads involved."""

    def __init__(self, db_path: str, feed: DataFeed, *, batch_size: int = 2000, flush_interval_ms: int = 250,
                 queue_max: int = 500_000, rest: BinanceRest | None = None, repair_gaps: bool = True,
                 backfill_minutes: int = 0, backfill_kline_hours: int = 0, archive: BinanceArchive | None = None,
                 on_event: Callable[[FeedEvent], None] | None = None) -> None:
        self.db_path = db_path
        self.feed = feed
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_ms / 1000
        # Null clients stand in for "none": the code below asks `.available`, never checks for None.
        self.rest: BinanceRest = rest if rest is not None else NoRest(f"no REST endpoint for the {feed.kind} feed")
        self.repair_gaps = repair_gaps and self.rest.available
        self.archive: BinanceArchive = (archive if archive is not None and self.repair_gaps
                                        else NoArchive("archive repair is off"))
        self.backfill_minutes = backfill_minutes if self.rest.available else 0
        self.backfill_kline_hours = backfill_kline_hours if self.rest.available else 0
        self.queue = TickQueue(queue_max, batch_size)
        self.symbols: tuple[str, ...] = ()
        self.state = "idle"
        self.last_error = ""
        self.started_at = 0
        self.backfill_progress: dict[str, BackfillProgress] = {}
        self.symbol_rules: dict[str, dict] = {}
        self._on_event = on_event
        self._side: deque[RepairBatch | BarBatch | BackfillState] = deque()
        self._repairs: deque[tuple] = deque()
        self._catchups: dict[str, float] = {}
        self._repair_wake = threading.Event()
        self._tracks: dict[str, _SymbolTrack] = {}
        self._counters = _Counters()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._writer_ready = threading.Event()
        self._finished = threading.Event()

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self, symbols: Sequence[str]) -> Collector:
        """Validate symbols (REST exchangeInfo when available), start the writer, repair/backfill and the feed."""
        self.symbols = tuple(parse_symbols(",".join(symbols)))
        if self.rest.available:
            self._validate_symbols()
        self.started_at = database.now_ms()
        self.state = "starting"
        self._spawn("collector-writer", self._writer_loop)
        if not self._writer_ready.wait(10):
            raise RuntimeError(f"database writer did not start for {self.db_path}: {self.last_error}")
        if self.last_error and self.state == "failed":
            raise RuntimeError(self.last_error)
        if self.repair_gaps or self.backfill_minutes or self.backfill_kline_hours:
            self._spawn("collector-repair", self._repair_loop)
        self.feed.set_callback(self.queue.put)
        self.feed.set_event_callback(self._handle_event)
        self.feed.connect(self.symbols)
        self.state = "running"
        log.info("collector started: %s feed, symbols %s, db %s", self.feed.kind, ",".join(self.symbols),
                 self.db_path)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect the feed, flush every queued tick, and join the threads (idempotent)."""
        if self._stop.is_set():
            return
        self.state = "stopping"
        self.feed.disconnect()
        self._stop.set()
        self.queue.ready.set()
        self._repair_wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self.state = "stopped"
        log.info("collector stopped: %d written, %d duplicates ignored, %d dropped", self._counters.written,
                 self._counters.duplicates, self.queue.dropped)

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until a finite feed (replay) has ended and everything it produced is stored."""
        return self._finished.wait(timeout)

    @property
    def written(self) -> int:
        """Ticks stored so far (cheap: no snapshot, safe to poll)."""
        return self._counters.written

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running")

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.collector = self  # type: ignore[attr-defined]  # lets current_collector() find it
        thread.start()
        self._threads.append(thread)

    def _validate_symbols(self) -> None:
        """exchangeInfo check before subscribing; one quick attempt, so a machine with no network starts at once
        (the feed then reports its own connection errors)."""
        quick = BinanceRest(self.rest.base_url, timeout_s=5.0, max_retries=0)
        try:
            self.symbol_rules = {s: {"tick_size": i.tick_size, "step_size": i.step_size, "status": i.status}
                                 for s, i in quick.symbol_info(self.symbols).items()}
        except UnknownSymbolError:
            raise
        except BinanceRestError as exc:
            self.last_error = f"symbols not validated: {exc}"
            log.warning("could not validate symbols over REST (%s); subscribing anyway", exc)

    def _handle_event(self, event: FeedEvent) -> None:
        if event.kind in ("connected", "disconnected", "stalled") and self.repair_gaps:
            self._schedule_catchups()
        if event.kind in ("disconnected", "stalled", "subscribe_error", "error"):
            self.last_error = f"{event.kind}: {event.message}"
        if event.kind == "finished":
            self.state = "draining"
            self.queue.ready.set()
        if self._on_event is not None:
            self._on_event(event)

    # -------------------------------------------------------------------------------------------------- writer
    def _writer_loop(self) -> None:
        try:
            conn = database.open_writer(self.db_path)
        except Exception as exc:
            self.last_error = f"cannot open database {self.db_path}: {exc}"
            self.state = "failed"
            self._writer_ready.set()
            return
        try:
            for summary in database.symbol_summaries(conn):
                self._tracks[summary.symbol] = _SymbolTrack(summary.max_trade_id, summary.last_ts)
            if not self._unrepairable_reason():      # repairs a stop or a crash interrupted resume now
                for gap in database.open_gaps(conn, self.symbols):
                    self._repairs.append((gap.id, gap.symbol, gap.first_missing_id, gap.last_missing_id, gap.from_ts))
            self._writer_ready.set()
            next_flush = time.monotonic() + self.flush_interval_s
            while True:
                stopping = self._stop.is_set()
                did_work = self._write_side(conn)
                queued, now = len(self.queue.items), time.monotonic()
                if queued and (queued >= self.batch_size or now >= next_flush or stopping
                               or self.state == "draining"):
                    self._write_live(conn, self.queue.take(self.batch_size))   # a full batch, or the deadline
                    next_flush = now + self.flush_interval_s
                    continue
                if did_work:
                    continue
                if stopping:
                    break
                if self.state == "draining" and not queued and not self._repairs and not self._side:
                    self._finished.set()
                self.queue.ready.wait(max(0.0, next_flush - now) if queued else self.flush_interval_s)
                self.queue.ready.clear()
        except Exception as exc:
            self.last_error = f"database writer failed: {exc}"
            self.state = "failed"
            log.exception("database writer failed")
        finally:
            conn.close()
            self._finished.set()

    def _write_live(self, conn, ticks: list[Tick]) -> None:
        gaps = self._detect_gaps(ticks)
        try:
            result = database.write_ticks(conn, ticks)
        except sqlite3.IntegrityError as exc:
            good = [t for t in ticks if _storable(t)]
            self._counters.rejected += len(ticks) - len(good)
            log.warning("rejected %d invalid ticks (%s)", len(ticks) - len(good), exc)
            result = database.write_ticks(conn, good)
        now = database.now_ms()
        c = self._counters
        c.latencies.extend([now - t.received_at for t in ticks])
        c.processed += len(ticks)
        c.written += result.total_inserted
        c.duplicates += result.duplicates
        c.batches += 1
        c.rate_marks.append((time.monotonic(), c.processed))
        for symbol, first, last, from_ts, to_ts in gaps:
            self._open_gap(conn, symbol, first, last, from_ts, to_ts, now)

    def _detect_gaps(self, ticks: list[Tick]) -> list[tuple]:
        """Trade-id continuity per symbol (ids ≤ 0 come from id-less files and are not checked; a simulated
        market's id sequence restarts with each session, so it is not checked either)."""
        gaps = []
        check = self.feed.kind is not FeedKind.SIMULATED
        tracks = self._tracks
        for t in ticks:
            track = tracks.get(t.symbol)
            if track is None:
                track = tracks[t.symbol] = _SymbolTrack()
            track.last_receive = t.received_at
            if t.trade_id <= 0:
                continue
            if track.first_live_id is None:
                track.first_live_id = t.trade_id
            last = track.last_id
            if check and last is not None and t.trade_id > last + 1:
                gaps.append((t.symbol, last + 1, t.trade_id - 1, track.last_ts, t.timestamp))
            if last is None or t.trade_id > last:
                track.last_id, track.last_ts = t.trade_id, t.timestamp
        return gaps

    def _is_placeholder_run(self, symbol: str, first: int, last: int) -> bool:
        """On a trade stream, zero-price placeholder rows (NA/ADL/insurance) consume ids without being trades."""
        if self.feed.stream is not StreamKind.TRADE or last - first > 10_000:
            return False
        skipped = set(self.feed.get_stats().placeholder_ids.get(symbol, ()))
        return all(i in skipped for i in range(first, last + 1))

    def _open_gap(self, conn, symbol: str, first: int, last: int, from_ts: int | None, to_ts: int, now: int) -> None:
        if self._is_placeholder_run(symbol, first, last):
            return
        self._counters.gaps_detected += 1
        reason = self._unrepairable_reason() or (
            OLDER_THAN_REST if not self.archive.available and _beyond_rest(to_ts, now) else "")
        status = "unrepairable" if reason else "open"
        gap_id = database.record_gap(conn, symbol, first, last, from_ts, to_ts, status, reason)
        log.warning("gap in %s: ids %d..%d (%d trades) %s", symbol, first, last, last - first + 1,
                    reason or "- repairing over REST")
        if reason:
            self._counters.gaps_unrepairable += 1
        else:
            self._repairs.append((gap_id, symbol, first, last, from_ts))
            self._repair_wake.set()

    def _unrepairable_reason(self) -> str:
        """Why this collector cannot repair any gap ("" when it can)."""
        if not self.repair_gaps:
            return f"no REST repair for the {self.feed.kind.lower()} feed"
        if self.feed.stream is not StreamKind.AGG_TRADE:
            return "only aggTrade ids can be repaired over REST"
        return ""

    def _record_catchup(self, conn, ticks: list[Tick], inserted: int) -> None:
        """A catch-up that continued the stored id sequence filled a real hole: log it as a repaired gap."""
        first, last = ticks[0], ticks[-1]
        track = self._tracks[first.symbol]
        if track.last_id is None or first.trade_id != track.last_id + 1:
            return
        database.record_gap(conn, first.symbol, first.trade_id, last.trade_id, track.last_ts, last.timestamp,
                            "repaired", "filled over REST after a (re)connect", inserted)
        track.last_id, track.last_ts = last.trade_id, last.timestamp
        self._counters.gaps_detected += 1
        self._counters.gaps_repaired += 1
        log.info("caught up %s over REST: ids %d..%d (%d new)", first.symbol, first.trade_id, last.trade_id, inserted)

    def _write_side(self, conn) -> bool:
        """Store REST batches (repairs, backfill, klines) queued by the repair thread; True if any was stored."""
        if not self._side:
            return False
        item = self._side.popleft()
        if isinstance(item, BarBatch):
            database.write_bars(conn, item.timeframe, {item.symbol: item.rows}, source="klines")
            return True
        if isinstance(item, BackfillState):
            database.save_backfill(conn, item.symbol, item.kind, item.start_ms, item.end_ms, item.cursor, item.status)
            self._progress(item)   # published only now, so 100% means every page before it is committed
            return True
        result = database.write_ticks(conn, item.ticks)
        self._counters.written += result.total_inserted
        self._counters.duplicates += result.duplicates
        self._counters.repaired_ticks += result.total_inserted
        if item.catchup:
            self._record_catchup(conn, item.ticks, result.total_inserted)
        if item.outcome is not None and item.gap_id is not None:
            database.update_gap(conn, item.gap_id, *item.outcome)
            if item.outcome[0] == "repaired":
                self._counters.gaps_repaired += 1
            else:
                self._counters.gaps_unrepairable += 1
        return True

    # ------------------------------------------------------------------------------------------ repair + backfill
    def _repair_loop(self) -> None:
        """Repairs gaps first; between repairs, advances the backfill one REST page at a time."""
        backfill = self._backfill_steps()
        while not self._stop.is_set():
            try:
                catchup = self._due_catchup()
                if self._repairs:
                    self._repair_gap(*self._repairs.popleft())
                elif catchup is not None:
                    self._catch_up(catchup)
                elif backfill is not None:
                    if next(backfill, StopIteration) is StopIteration:
                        backfill = None
                else:
                    self._repair_wake.wait(0.2 if self._catchups else 0.5)
                    self._repair_wake.clear()
            except Exception as exc:
                self.last_error = f"repair failed: {exc}"
                log.exception("repair thread error")

    def _schedule_catchups(self) -> None:
        """After a (re)connect, disconnect or stall, plan a REST catch-up from each symbol's last stored id: a hole
        at the end of a stream (then a quiet market, a flapping link or a restart) is otherwise invisible until the
        next live trade reveals it."""
        due = time.monotonic() + CATCHUP_DELAY_S
        for symbol in self.symbols:
            self._catchups.setdefault(symbol, due)   # a flapping link must not postpone a pending catch-up
        self._repair_wake.set()

    def _due_catchup(self) -> str | None:
        now = time.monotonic()
        for symbol, due in list(self._catchups.items()):
            if due <= now:
                del self._catchups[symbol]
                return symbol
        return None

    def _catch_up(self, symbol: str) -> None:
        """Fetch aggTrades after the last stored id, unless live ticks are flowing (gap detection covers that)."""
        track = self._tracks.get(symbol)
        now = database.now_ms()
        if (track is None or track.last_id is None or now - (track.last_receive or 0) < CATCHUP_DELAY_S * 1000
                or self._unrepairable_reason() or _beyond_rest(track.last_ts, now)):
            return
        ticks: list[Tick] = []
        from_id = track.last_id + 1
        for _ in range(CATCHUP_MAX_PAGES):
            if self._stop.is_set():
                break
            page = self.rest.agg_trades(symbol, from_id=from_id, limit=REPAIR_PAGE)
            ticks += page
            if len(page) < REPAIR_PAGE:
                break
            from_id = page[-1].trade_id + 1
        if ticks:
            self._push(RepairBatch(ticks, catchup=True))

    def _push(self, item: RepairBatch | BarBatch | BackfillState) -> None:
        self._side.append(item)
        self.queue.ready.set()

    def _repair_gap(self, gap_id: int, symbol: str, first: int, last: int, from_ts: int | None) -> None:
        """Fill a gap and close it: the part inside the 48 h REST window over REST aggTrades, anything older from
        the daily archive (when enabled); each batch goes to the writer, which then records the outcome."""
        expected, notes, rest_from = last - first + 1, [], first
        now = database.now_ms()
        window_start = now - REST_HISTORY_MS + REST_SAFETY_MS
        if _beyond_rest(from_ts, now):
            try:
                edge = self._first_id_since(symbol, window_start, now)
            except BinanceRestError as exc:
                edge, notes = last + 1, [f"REST error: {exc}"]
            rest_from = last + 1 if edge is None else max(first, edge)
        fetched, note = self._fetch_rest(symbol, rest_from, last)
        notes += [note] if note else []
        rest_fetched = fetched
        if rest_from > first:
            old_last = min(last, rest_from - 1)
            if not self.archive.available:
                notes.append(f"ids {first}..{old_last} {OLDER_THAN_REST}")
            else:
                assert from_ts is not None  # rest_from passes `first` only for a gap dated beyond the REST window
                from_archive, archive_notes = self._fetch_archive(symbol, first, old_last, from_ts, window_start)
                fetched += from_archive
                notes += archive_notes
        if self._stop.is_set():
            return                                  # the gap stays open and is repaired on the next start
        missing = expected - fetched
        if missing and not notes:
            notes.append(f"{missing} of {expected} trades not available over REST")
        if missing and rest_fetched:
            notes.append(f"{rest_fetched} repaired over REST")
        status = "repaired" if not missing else "unrepairable"
        self._push(RepairBatch([], gap_id, (status, fetched, "; ".join(notes))))
        log.info("gap %d in %s: %s (%d of %d trades)", gap_id, symbol, status, fetched, expected)

    def _fetch_rest(self, symbol: str, first: int, last: int) -> tuple[int, str]:
        """Queue aggTrades first..last from REST, 1000 per request; (trades fetched, the error if one stopped it)."""
        fetched, from_id = 0, first
        while from_id <= last and not self._stop.is_set():
            try:
                page = [t for t in self.rest.agg_trades(symbol, from_id=from_id, limit=REPAIR_PAGE)
                        if t.trade_id <= last]
            except BinanceRestError as exc:
                return fetched, f"REST error: {exc}"
            if not page:
                break
            fetched += len(page)
            from_id = page[-1].trade_id + 1
            self._push(RepairBatch(page))
        return fetched, ""

    def _fetch_archive(self, symbol: str, first: int, last: int, from_ts: int, until_ms: int) -> tuple[int, list[str]]:
        """Queue aggTrades first..last from the daily archive files of the UTC days from_ts..until_ms (whole files
        are downloaded, so the writer is given time to keep up); (trades fetched, notes)."""
        fetched, errors, next_id = 0, [], first
        day, last_day = _utc_day(from_ts), _utc_day(until_ms)
        while day <= last_day and next_id <= last and not self._stop.is_set():
            try:
                with contextlib.closing(self.archive.iter_agg_trades(
                        symbol, day, first_id=next_id, last_id=last)) as chunks:
                    for chunk in chunks:
                        self._push(RepairBatch(chunk))
                        fetched += len(chunk)
                        next_id = max(next_id, chunk[-1].trade_id + 1)
                        while len(self._side) > ARCHIVE_BACKLOG and not self._stop.is_set():
                            time.sleep(0.05)
                        if self._stop.is_set():
                            break
            except ArchiveError as exc:
                errors.append(f"archive {day}: {exc}")
            day += datetime.timedelta(days=1)
        notes = errors + ([f"{fetched} of ids {first}..{last} from the daily archive"] if fetched else [])
        if next_id <= last and not errors:
            notes.append(f"ids {next_id}..{last} {OLDER_THAN_REST} and not in the daily archive")
        return fetched, notes

    def _first_id_since(self, symbol: str, start_ms: int, end_ms: int) -> int | None:
        """Id of the first aggTrade at or after start_ms, probing an hour at a time (Binance's startTime..endTime
        limit) up to end_ms; None when there is no trade in between."""
        probe = start_ms
        while probe < end_ms and not self._stop.is_set():
            first = self.rest.agg_trades(symbol, start_time=probe, end_time=min(end_ms, probe + 3_599_999),
                                         limit=1)
            if first:
                return first[0].trade_id
            probe += 3_600_000
        return None

    def _backfill_steps(self):
        """Generator: one REST page of klines, then of aggTrades, per step, for every symbol; resumable."""
        if self.backfill_kline_hours:
            for symbol in self.symbols:
                yield from self._backfill_klines(symbol)
        if self.backfill_minutes:
            for symbol in self.symbols:
                yield from self._backfill_trades(symbol)

    def _resume_point(self, symbol: str, kind: str, start_ms: int, end_ms: int) -> int | None:
        reader = database.open_reader(self.db_path)
        try:
            saved = database.get_backfill(reader, symbol, kind)
        finally:
            reader.close()
        if saved and saved[3] != "done" and saved[0] <= start_ms + 60_000 and saved[2] is not None:
            log.info("resuming %s backfill of %s at %s", kind, symbol, saved[2])
            return int(saved[2])
        return None

    def _progress(self, state: BackfillState) -> None:
        """Publish a committed backfill step as a percentage of its time span (called by the writer)."""
        span = max(1, state.end_ms - state.start_ms)
        pct = 100.0 * min(1.0, max(0.0, (state.done_ms - state.start_ms) / span))
        progress = BackfillProgress(state.symbol, state.kind, pct / 100)
        self.backfill_progress[progress.label] = progress
        log.info("backfill %s %s: %.0f%%", state.symbol, state.kind, pct)

    def _backfill_failed(self, symbol: str, kind: str, exc: Exception) -> None:
        progress = BackfillProgress(symbol, kind, error=str(exc))
        self.backfill_progress[progress.label] = progress
        log.warning("backfill %s: %s", progress.label, exc)

    def _backfill_klines(self, symbol: str):
        end = database.now_ms() // 60_000 * 60_000
        start = end - self.backfill_kline_hours * 3_600_000
        cursor = self._resume_point(symbol, "klines", start, end) or start
        while cursor < end and not self._stop.is_set():
            try:
                bars = [b for b in self.rest.klines(symbol, "1m", start_time=cursor, limit=1500)
                        if b.open_time < end]
            except BinanceRestError as exc:
                self._backfill_failed(symbol, "klines", exc)
                return
            if not bars:
                break
            rows = [(b.open_time, b.open, b.high, b.low, b.close, b.volume, b.trades, b.quote_volume) for b in bars]
            self._push(BarBatch(symbol, "1min", rows))
            cursor = bars[-1].open_time + 60_000
            self._push(BackfillState(symbol, "klines", start, end, cursor, "running", cursor))
            yield
        if not self._stop.is_set():   # an interrupted job stays "running" and resumes at its cursor next start
            self._push(BackfillState(symbol, "klines", start, end, cursor, "done", end))

    def _backfill_trades(self, symbol: str):
        end = database.now_ms()
        start = end - self.backfill_minutes * 60_000
        from_id = self._resume_point(symbol, "aggTrades", start, end)
        if from_id is None:
            try:
                from_id = self._first_id_since(symbol, start, end)
            except BinanceRestError as exc:
                self._backfill_failed(symbol, "aggTrades", exc)
                return
            yield
        while from_id is not None and not self._stop.is_set():
            live = self._tracks.get(symbol)
            stop_id = live.first_live_id if live and live.first_live_id else None
            if stop_id is not None and from_id >= stop_id:
                break
            try:
                page = self.rest.agg_trades(symbol, from_id=from_id, limit=REPAIR_PAGE)
            except BinanceRestError as exc:
                self._backfill_failed(symbol, "aggTrades", exc)
                return
            if stop_id is not None:
                page = [t for t in page if t.trade_id < stop_id]
            if not page:
                break
            self._push(RepairBatch(page))
            from_id = page[-1].trade_id + 1
            self._push(BackfillState(symbol, "aggTrades", start, end, from_id, "running", page[-1].timestamp))
            if len(page) < REPAIR_PAGE and stop_id is None:
                break
            yield
        if not self._stop.is_set():
            self._push(BackfillState(symbol, "aggTrades", start, end, from_id, "done", end))

    # --------------------------------------------------------------------------------------------------- stats
    def stats(self) -> CollectorStats:
        """Counters for status lines and the dashboard; safe to call from any thread."""
        c = self._counters
        marks = list(c.rate_marks)
        now = time.monotonic()
        recent = [m for m in marks if now - m[0] <= RATE_WINDOW_S]
        rate = 0.0
        if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
            rate = (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])
        tracks = dict(self._tracks)
        return CollectorStats(
            state=self.state, feed_kind=self.feed.kind, symbols=self.symbols,
            received=c.processed + len(self.queue.items) + self.queue.dropped, written=c.written,
            duplicates=c.duplicates, dropped=self.queue.dropped, rejected=c.rejected, queue_depth=len(self.queue.items),
            ticks_per_s=rate, batches=c.batches, commit_latency_ms=_percentiles(list(c.latencies)),
            last_tick_ms={s: t.last_ts for s, t in tracks.items() if t.last_ts is not None and s in self.symbols},
            last_receive_ms={s: t.last_receive for s, t in tracks.items() if t.last_receive is not None},
            gaps_detected=c.gaps_detected, gaps_repaired=c.gaps_repaired, gaps_unrepairable=c.gaps_unrepairable,
            repaired_ticks=c.repaired_ticks, backfill=dict(self.backfill_progress),
            symbol_rules=dict(self.symbol_rules), last_error=self.last_error,
            feed=self.feed.get_stats(), started_at=self.started_at)


def _percentiles(values: list[int]) -> dict[str, float]:
    """p50/p99/max of recent receive-to-commit latencies (ms); empty when nothing was written yet."""
    if not values:
        return {}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(max(values))}


# ------------------------------------------------------------------------------------------------------ construction
def make_feed(settings: Settings, kind: str | None = None, *, replay_file: str | None = None,
              speed: float | None = None, record: str | None = None) -> DataFeed:
    """Build the feed the settings (or the caller) choose: binance, simulated or replay."""
    kind = kind or settings.data_feed
    if kind == "binance":
        return BinanceFuturesFeed(settings.ws_url, stream=settings.stream, stall_first_s=settings.stall_first_s,
                                  stall_idle_s=settings.stall_idle_s,
                                  recorder=FrameRecorder(record) if record else None)
    if kind == "simulated":
        return SimulatedFeed(speed=speed or 1.0)
    if kind == "replay":
        path = replay_file or settings.replay_file
        if not path:
            raise ConfigError("the replay feed needs a file: set REPLAY_FILE or pass --replay-file")
        return ReplayFeed(path, speed=settings.replay_speed if speed is None else speed)
    raise ConfigError(f"unknown feed {kind!r}: expected binance, simulated or replay")


def make_collector(settings: Settings, feed: DataFeed, db_path: str | None = None) -> Collector:
    """A collector wired with the settings' batching, REST and archive repair and backfill choices."""
    live = feed.kind is FeedKind.BINANCE
    rest = BinanceRest(settings.rest_url, max_weight_per_min=settings.rest_max_weight_per_min) if live else None
    archive = BinanceArchive(settings.archive_url) if live and settings.archive_repair else None
    return Collector(db_path or settings.db_path, feed, batch_size=settings.batch_size,
                     flush_interval_ms=settings.flush_interval_ms, queue_max=settings.queue_max, rest=rest,
                     repair_gaps=settings.repair_gaps, backfill_minutes=settings.backfill_minutes,
                     backfill_kline_hours=settings.backfill_kline_hours, archive=archive)


# ------------------------------------------------------------------------------------------- one collector per process
_SERVICE_LOCK = threading.Lock()


def current_collector() -> Collector | None:
    """The process's running collector, found through its live writer thread (survives module reloads)."""
    for thread in threading.enumerate():
        found = getattr(thread, "collector", None)
        if thread.name == "collector-writer" and found is not None and found.state != "stopped":
            return found
    return None


def start_service(settings: Settings, feed_kind: str, symbols: Sequence[str], *,
                  replay_file: str | None = None) -> Collector:
    """Start the process-wide collector (stopping a previous one first); shared by every browser session."""
    with _SERVICE_LOCK:
        previous = current_collector()
        if previous is not None:
            previous.stop()
        feed = make_feed(settings, feed_kind, replay_file=replay_file)
        collector = make_collector(settings, feed)
        try:
            collector.start(symbols)
        except BaseException:
            collector.stop()
            raise
        return collector


def stop_service() -> None:
    """Stop the process-wide collector, flushing everything queued (also run once at interpreter exit)."""
    with _SERVICE_LOCK:
        running = current_collector()
        if running is not None:
            running.stop()


# One exit hook for the process (not one per Start, which kept every stopped Collector alive).
atexit.register(stop_service)


# ------------------------------------------------------------------------------------------------------------- CLI
def _status_line(stats: CollectorStats) -> str:
    now = database.now_ms()
    ages = " ".join(f"{s}:{(now - t) / 1000:.1f}s" for s, t in sorted(stats.last_receive_ms.items()))
    feed = stats.feed
    return (f"[{stats.feed_kind} {feed.state}] written={stats.written} "
            f"rate={stats.ticks_per_s:.0f}/s dup={stats.duplicates} dropped={stats.dropped} "
            f"queue={stats.queue_depth} p99={stats.commit_latency_ms.get('p99', 0):.0f}ms "
            f"reconnects={feed.reconnects} gaps={stats.gaps_detected}"
            f"(repaired {stats.gaps_repaired}, unrepairable {stats.gaps_unrepairable}) age {ages or '-'}"
            + (f" backfill {', '.join(map(str, stats.backfill.values()))}" if stats.backfill else "")
            + (f" last_error: {stats.last_error}" if stats.last_error else ""))


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the headless collector."""
    p = argparse.ArgumentParser(prog="collector.py", description="Collect Binance USD-M trades into SQLite, headless "
                                "(24/7 next to the dashboard). Environment variables give the defaults.")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. btcusdt,ethusdt (default: SYMBOLS)")
    p.add_argument("--feed", choices=("binance", "simulated", "replay"), help="data feed (default: DATA_FEED)")
    p.add_argument("--replay-file", help="file to replay with --feed replay (NDJSON, archive CSV/zip, frames .gz)")
    p.add_argument("--speed", type=float, help="replay/simulation speed multiplier; 0 = as fast as possible")
    p.add_argument("--db", help="SQLite database path (default: CRYPTO_DB_PATH)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--record", help="record raw Binance frames to FILE (.gz compresses) for later replay")
    p.add_argument("--backfill-minutes", type=int, help="fetch this many minutes of aggTrades over REST on start")
    p.add_argument("--backfill-kline-hours", type=int, help="fetch this many hours of 1m klines on start")
    p.add_argument("--status-interval", type=float, default=5.0, help="seconds between status lines (default 5)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the collector until SIGINT/SIGTERM, --duration, or the end of a replay; flush and exit 0."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        overrides = {k: v for k, v in {"backfill_minutes": args.backfill_minutes,
                                       "backfill_kline_hours": args.backfill_kline_hours}.items() if v is not None}
        if overrides:
            settings = Settings(**{**asdict(settings), **overrides})
        symbols = parse_symbols(args.symbols) if args.symbols else settings.symbols
        configure_logging(settings.log_level)
        feed = make_feed(settings, args.feed, replay_file=args.replay_file, speed=args.speed, record=args.record)
        collector = make_collector(settings, feed, args.db)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"collector.py: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        collector.start(symbols)
    except (UnknownSymbolError, RuntimeError, OSError) as exc:
        print(f"collector.py: {exc}", file=sys.stderr)
        collector.stop()
        return 2
    deadline = time.monotonic() + args.duration if args.duration else None
    next_status = time.monotonic() + args.status_interval
    while not stop.is_set():
        if collector.wait_finished(0.2) or (deadline and time.monotonic() >= deadline):
            break
        if time.monotonic() >= next_status:
            log.info(_status_line(collector.stats()))
            next_status += args.status_interval
    collector.stop()
    log.info(_status_line(collector.stats()))
    if feed.recorder is not None:
        feed.recorder.close()
    return 0 if collector.state != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
