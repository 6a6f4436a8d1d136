"""The writer thread: the only write connection; commits live batches by size or deadline, checks trade-id
continuity, records gaps, and stores what the repair thread hands over (repairs, catch-ups, bars, backfill states)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import database
from collection.pipeline import Pipeline, SymbolTrack
from collection.records import (
    BackfillProgress,
    BackfillState,
    BarBatch,
    CollectorState,
    FundingBatch,
    GapJob,
    IdGap,
    ImportBatch,
    RepairBatch,
    RulesBatch,
)
from collection.rest_history import OLDER_THAN_REST, beyond_rest
from core.clock import now_ms
from core.trade_ids import implausible_jump
from core.vocabulary import FeedKind, GapStatus, StreamKind
from data_feed import Tick

log = logging.getLogger(__name__)

PLACEHOLDER_SCAN_MAX = 10_000  # longer id runs are never all placeholders
BUSY_TIMEOUT_S = 5.0  # storage's busy_timeout: each failed try has already waited this long
BUSY_WAIT_MAX_S = 120.0  # a lock held longer than this stops the writer
RECONNECT_EVERY_S = 1.0  # a lost server session: how often to try a new one
RECONNECT_MAX_S = 300.0  # a server unreachable this long stops the writer
RECONNECT_LOG_EVERY_S = 30.0  # while it is, say so this often (not at every try)
QUOTE_SETTLE_MS = 2000  # a second of quotes is finished by the clock this long after its stream passed it
T = TypeVar("T")


@dataclass
class InHand:
    """The received ticks the writer holds while it writes them (a live batch taken from the queue, a repair batch
    taken from the side queue): if that write fails they are lost with the queue's."""

    ticks: int = 0


def run_writer(p: Pipeline, batch_size: int) -> None:
    """Thread body: open the writer connection (checking the file and upgrading its schema first, which takes
    minutes for a large old file: `writer_ready` is set once it is open, or has failed, whatever that takes), resume
    interrupted repairs, then loop until stopped."""
    try:
        conn = database.open_writer(p.db_target, verify=True)
    except Exception as exc:
        p.fail(f"cannot open database {database.describe_target(p.db_target)}: {database.error_line(exc)}")
        p.writer_ready.set()
        return
    hand = InHand()
    try:
        for cursor in database.load_cursors(conn, id_space(p)).values():
            p.tracks[cursor.symbol] = SymbolTrack(cursor.last_id, cursor.last_ts)
        if p.quotes is not None:  # the quotes a stop or a crash missed are a gap, as the trades are
            p.quotes.resume_after(database.last_quote_seconds(conn, p.symbols), "collector restarted")
        if not p.unrepairable_reason():  # repairs a stop or a crash interrupted resume now
            for gap in database.open_gaps(conn, p.symbols):
                p.repairs.append(GapJob(gap.id, gap.symbol, gap.first_missing_id, gap.last_missing_id, gap.from_ts))
        p.writer_ready.set()
        _loop(p, conn, batch_size, hand)
    except Exception as exc:
        _stop_on_failure(p, exc, hand.ticks)
    finally:
        p.writer_ready.set()  # (failed before the loop: the start must not wait for it)
        conn.close()
        p.finished.set()


def _stop_on_failure(p: Pipeline, exc: Exception, in_hand: int) -> None:
    """The writer cannot go on (disk full, I/O error, damaged file): stop the feed at once, so no more ticks are
    taken in that cannot be stored, and report the real error and what was lost — the batch it was writing, then
    everything queued once the feed has stopped (counted before, the ticks arriving meanwhile went untold)."""
    p.stop.set()
    p.feed.disconnect()
    lost = in_hand + len(p.queue.items) + sum(len(item.ticks) for item in p.side if isinstance(item, RepairBatch))
    p.fail(
        f"database writer failed: {type(exc).__name__}: {database.error_line(exc)} - collection stopped, "
        f"{lost} received ticks not stored"
    )
    log.error("%s", p.last_error, exc_info=exc)
    p.repair_wake.set()


def patiently(
    conn: database.Connection,
    write: Callable[[], T],
    stop: threading.Event | None = None,
    reconnect: Callable[[Exception], None] | None = None,
) -> T:
    """Run one idempotent write, waiting out a lock held longer than busy_timeout (another process's long
    transaction) or a deadlock the server broke by failing this side (TimescaleDB's compression job), for up to
    BUSY_WAIT_MAX_S; with `reconnect`, a lost server session too (a PostgreSQL restart or failover, a network cut).
    The batch stays in hand and is written again (a batch that had committed is then all duplicates), nothing is
    lost. Other errors, and any at a stop, propagate."""
    waited = 0.0
    while True:
        try:
            return write()
        except database.DATABASE_ERRORS as exc:
            stopping = stop is not None and stop.is_set()
            if reconnect is not None and database.session_lost(conn) and not stopping:
                reconnect(exc)
                continue
            if not database.is_busy(exc) or waited >= BUSY_WAIT_MAX_S or stopping:
                raise
            log.warning("database busy (%s); retrying the batch", database.error_line(exc))
            time.sleep(0.2)
            waited += 0.2 + BUSY_TIMEOUT_S


def _patiently(p: Pipeline, conn: database.Connection, write: Callable[[], T]) -> T:
    """The writer thread's writes: patient, and they reconnect a lost server session."""
    return patiently(conn, write, p.stop, lambda exc: _reconnect(p, conn, exc))


def _reconnect(p: Pipeline, conn: database.Connection, cause: Exception) -> None:
    """Open a new server session in place of the lost one, trying every RECONNECT_EVERY_S while the server is
    unreachable (the feed goes on; the bounded queue buffers and counts what it cannot hold); give up after
    RECONNECT_MAX_S, or at a stop, with the last error."""
    log.warning(
        "database connection lost (%s); reconnecting every %.0f s", database.error_line(cause), RECONNECT_EVERY_S
    )
    started = time.monotonic()
    said = started
    while True:
        try:
            database.reopen(conn)
        except database.DATABASE_ERRORS as exc:
            now = time.monotonic()
            if now - started >= RECONNECT_MAX_S or p.stop.is_set():
                raise
            if now - said >= RECONNECT_LOG_EVERY_S:
                said = now
                log.warning("database still unreachable after %.0f s (%s)", now - started, database.error_line(exc))
            p.stop.wait(RECONNECT_EVERY_S)
            continue
        log.info("database connection restored after %.0f s", time.monotonic() - started)
        return


def _loop(p: Pipeline, conn: database.Connection, batch_size: int, hand: InHand) -> None:
    next_flush = time.monotonic() + p.flush_interval_s
    next_side = next_flush
    while True:
        stopping = p.stop.is_set()
        if time.monotonic() >= next_side or stopping:
            _write_quotes(p, conn, final=stopping)
            next_side = time.monotonic() + p.flush_interval_s
        did_work = _write_side(p, conn, hand)
        queued, now = len(p.queue.items), time.monotonic()
        draining = p.state is CollectorState.DRAINING
        if queued and (queued >= batch_size or now >= next_flush or stopping or draining):
            _write_live(p, conn, p.queue.take(batch_size), hand)  # a full batch, or the deadline
            next_flush = now + p.flush_interval_s
            continue
        if did_work:
            continue
        if stopping:
            return
        if draining and p.idle():
            p.finished.set()
        p.queue.ready.wait(max(0.0, next_flush - now) if queued else p.flush_interval_s)
        p.queue.ready.clear()


def _write_quotes(p: Pipeline, conn: database.Connection, final: bool = False) -> None:
    """Store the finished quote bars and the holes found since the last time, and the latest mark-price update per
    symbol (one row each: the next settlement), in the writer's rhythm; at a stop the open seconds are finished at
    their last quote."""
    book = p.quotes
    if book is not None:
        if final:
            book.break_stream(None, "collector stopped")
        else:
            book.finish_before(now_ms() - QUOTE_SETTLE_MS)
        bars, holes = book.take()
        if bars:
            _patiently(p, conn, lambda: database.write_quote_bars(conn, bars))
            p.counters.quote_bars += len(bars)
        rows = [(h.symbol, h.from_ts, h.to_ts, h.note) for h in holes]
        p.counters.quote_gaps += _patiently(p, conn, lambda: database.record_quote_gaps(conn, rows))
        for hole in holes:
            log.warning("quote gap in %s: %d ms without quotes (%s)", hole.symbol, hole.to_ts - hole.from_ts, hole.note)
    if p.marks:
        marks = [p.marks.pop(symbol) for symbol in list(p.marks)]
        _patiently(p, conn, lambda: database.write_mark_prices(conn, marks, p.funding_intervals))


def storable(t: Tick) -> bool:
    """A tick the database accepts: finite positive price, finite non-negative size."""
    return (
        isinstance(t.price, (int, float))
        and math.isfinite(t.price)
        and t.price > 0
        and isinstance(t.size, (int, float))
        and math.isfinite(t.size)
        and t.size >= 0
    )


def id_space(p: Pipeline) -> str:
    """The numbering the feed's ids belong to: the stream (aggTrade or trade ids) of a live feed, else the feed
    kind (a replayed file's or a simulated market's ids never continue a live sequence)."""
    return str(p.feed.stream) if p.feed.kind is FeedKind.BINANCE and p.feed.stream else str(p.feed.kind)


def _cursors(p: Pipeline, symbols: set[str]) -> list[database.IdCursor]:
    space = id_space(p)
    return [
        database.IdCursor(s, space, t.last_id, t.last_ts)
        for s in symbols
        if (t := p.tracks.get(s)) is not None and t.last_id is not None
    ]


def _write_live(p: Pipeline, conn: database.Connection, ticks: list[Tick], hand: InHand) -> None:
    hand.ticks = len(ticks)
    gaps, ticks = detect_gaps(p, ticks)
    hand.ticks = len(ticks)  # (the quarantined ones are counted as such)
    cursors = _cursors(p, {t.symbol for t in ticks})
    try:
        result = _patiently(p, conn, lambda: database.write_ticks(conn, ticks, cursors))
    except database.INTEGRITY_ERRORS as exc:
        good = [t for t in ticks if storable(t)]
        p.counters.rejected += len(ticks) - len(good)
        log.warning("rejected %d invalid ticks (%s)", len(ticks) - len(good), exc)
        hand.ticks = len(good)
        result = _patiently(p, conn, lambda: database.write_ticks(conn, good, cursors))
    now = now_ms()
    c = p.counters
    c.latencies.extend([now - t.received_at for t in ticks])
    c.processed += len(ticks)
    c.written += result.total_inserted
    c.duplicates += result.duplicates
    c.batches += 1
    c.rate_marks.append((time.monotonic(), c.processed))
    hand.ticks = 0
    for gap in gaps:
        _open_gap(p, conn, gap, now)


def detect_gaps(p: Pipeline, ticks: list[Tick]) -> tuple[list[IdGap], list[Tick]]:
    """Trade-id continuity per symbol in the feed's id space (ids ≤ 0 come from id-less files and are not checked;
    a simulated market's id sequence restarts with each session, so it is not checked either). Returns the gaps
    and the ticks to store: an id implausibly far beyond the cursor is quarantined (counted, reported, not
    stored), so it can neither hide a gap nor turn every later trade into a "duplicate"."""
    gaps = []
    check = p.feed.kind is not FeedKind.SIMULATED
    tracks = p.tracks
    quarantined: set[int] = set()
    for i, t in enumerate(ticks):
        track = tracks.get(t.symbol)
        if track is None:
            track = tracks[t.symbol] = SymbolTrack()
        track.last_receive = t.received_at
        if t.trade_id <= 0:
            continue
        if track.first_live_id is None:
            track.first_live_id = t.trade_id
        last = track.last_id
        if check and last is not None and implausible_jump(last, track.last_ts, t.trade_id, t.timestamp):
            quarantined.add(i)
            p.counters.quarantined += 1
            p.last_error = f"{t.symbol}: implausible trade id {t.trade_id} after {last} quarantined (not stored)"
            log.warning("%s", p.last_error)
            continue
        if check and last is not None and t.trade_id > last + 1:
            gaps.append(IdGap(t.symbol, last + 1, t.trade_id - 1, track.last_ts, t.timestamp))
        if last is None or t.trade_id > last:
            track.last_id, track.last_ts = t.trade_id, t.timestamp
    return gaps, [t for i, t in enumerate(ticks) if i not in quarantined] if quarantined else ticks


def _is_placeholder_run(p: Pipeline, gap: IdGap) -> bool:
    """On a trade stream, zero-price placeholder rows (NA/ADL/insurance) consume ids without being trades."""
    if p.feed.stream is not StreamKind.TRADE or gap.last - gap.first > PLACEHOLDER_SCAN_MAX:
        return False
    skipped = set(p.feed.get_stats().placeholder_ids.get(gap.symbol, ()))
    return all(i in skipped for i in range(gap.first, gap.last + 1))


def _open_gap(p: Pipeline, conn: database.Connection, gap: IdGap, now: int) -> None:
    if _is_placeholder_run(p, gap):
        return
    p.counters.gaps_detected += 1
    reason = p.unrepairable_reason() or (
        OLDER_THAN_REST if not p.archive.available and beyond_rest(gap.to_ts, now) else ""
    )
    status = GapStatus.UNREPAIRABLE if reason else GapStatus.OPEN
    gap_id = _patiently(
        p,
        conn,
        lambda: database.record_gap(conn, gap.symbol, gap.first, gap.last, gap.from_ts, gap.to_ts, status, reason),
    )
    log.warning(
        "gap in %s: ids %d..%d (%d trades) %s",
        gap.symbol,
        gap.first,
        gap.last,
        gap.last - gap.first + 1,
        reason or "- repairing over REST",
    )
    if reason:
        p.counters.gaps_unrepairable += 1
    else:
        p.queue_repair(GapJob(gap_id, gap.symbol, gap.first, gap.last, gap.from_ts))


def _record_catchup(p: Pipeline, conn: database.Connection, ticks: list[Tick], inserted: int) -> None:
    """A catch-up that continued the stored id sequence filled a real hole: log it as a repaired gap."""
    first, last = ticks[0], ticks[-1]
    track = p.tracks[first.symbol]
    if track.last_id is None or first.trade_id != track.last_id + 1:
        return
    _patiently(
        p,
        conn,
        lambda: database.record_gap(
            conn,
            first.symbol,
            first.trade_id,
            last.trade_id,
            track.last_ts,
            last.timestamp,
            GapStatus.REPAIRED,
            "filled over REST after a (re)connect",
            inserted,
        ),
    )
    track.last_id, track.last_ts = last.trade_id, last.timestamp
    p.counters.gaps_detected += 1
    p.counters.gaps_repaired += 1
    log.info("caught up %s over REST: ids %d..%d (%d new)", first.symbol, first.trade_id, last.trade_id, inserted)


def _write_side(p: Pipeline, conn: database.Connection, hand: InHand) -> bool:
    """Store one batch queued by the repair thread; True if there was one."""
    if not p.side:
        return False
    item = p.side.popleft()
    if isinstance(item, BarBatch):
        _patiently(
            p, conn, lambda: database.write_bars(conn, item.timeframe, {item.symbol: item.rows}, source="klines")
        )
    elif isinstance(item, ImportBatch):
        _write_import(p, conn, item)
    elif isinstance(item, FundingBatch):
        p.counters.settlements += _patiently(p, conn, lambda: database.write_funding_rates(conn, item.rates))
    elif isinstance(item, RulesBatch):
        _patiently(p, conn, lambda: database.write_contract_rules(conn, item.rules))
    elif isinstance(item, BackfillState):
        _patiently(
            p,
            conn,
            lambda: database.save_backfill(
                conn, item.symbol, item.kind, item.start_ms, item.end_ms, item.cursor, item.status
            ),
        )
        _publish_progress(p, item)  # only now, so 100% means every page before it is committed
    else:
        hand.ticks = len(item.ticks)
        _write_repair(p, conn, item)
        hand.ticks = 0
    return True


def _write_import(p: Pipeline, conn: database.Connection, item: ImportBatch) -> None:
    """A slice of an imported file: stored like any batch, but it never moves a live cursor or opens a gap."""
    try:
        result = _patiently(p, conn, lambda: database.write_ticks(conn, item.ticks))
    except database.INTEGRITY_ERRORS as exc:
        item.error = str(exc)  # the import is told; the live collection goes on
    except Exception as exc:
        item.error = f"the collector's writer failed: {database.error_line(exc)}"  # (never "done" without it)
        raise
    else:
        item.inserted, item.duplicates = dict(result.inserted), result.duplicates
    finally:
        item.done.set()


def _write_repair(p: Pipeline, conn: database.Connection, item: RepairBatch) -> None:
    result = _patiently(p, conn, lambda: database.write_ticks(conn, item.ticks))
    c = p.counters
    c.written += result.total_inserted
    c.duplicates += result.duplicates
    c.repaired_ticks += result.total_inserted
    if item.catchup:
        _record_catchup(p, conn, item.ticks, result.total_inserted)
    gap_id, outcome = item.gap_id, item.outcome
    if outcome is not None and gap_id is not None:
        _patiently(p, conn, lambda: database.update_gap(conn, gap_id, outcome.status, outcome.repaired, outcome.note))
        if outcome.status is GapStatus.REPAIRED:
            c.gaps_repaired += 1
        else:
            c.gaps_unrepairable += 1
    item.committed.set()  # the repair thread holds the symbol's repair lock until now


def _publish_progress(p: Pipeline, state: BackfillState) -> None:
    """Publish a committed backfill step as the share of its time span it has reached."""
    span = max(1, state.end_ms - state.start_ms)
    fraction = min(1.0, max(0.0, (state.done_ms - state.start_ms) / span))
    progress = BackfillProgress(state.symbol, state.kind, fraction)
    p.backfill_progress[progress.label] = progress
    log.info("backfill %s %s: %.0f%%", state.symbol, state.kind, 100 * fraction)
