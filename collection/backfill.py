"""History on start: 1-minute klines and aggTrades over REST, one page per step, resumable after a stop.

Each step pushes a page and then a BackfillState to the writer, so a job's saved cursor never runs ahead of the
rows committed before it; an interrupted job stays "running" and resumes at its cursor on the next start."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import database
from collection.pipeline import Pipeline
from collection.records import BackfillKind, BackfillProgress, BackfillState, BarBatch, RepairBatch
from collection.rest_history import REST_PAGE, first_id_since
from core.clock import now_ms
from core.vocabulary import BackfillStatus, Timeframe
from data_feed import BinanceRestError

log = logging.getLogger(__name__)

KLINE_PAGE = 1500  # klines per request (the endpoint's maximum)
MINUTE_MS = 60_000
RUNNING, DONE = BackfillStatus.RUNNING, BackfillStatus.DONE


def backfill_steps(p: Pipeline) -> Iterator[None] | None:
    """Generator of backfill steps for every symbol (klines first), or None when no backfill is configured."""
    if not (p.backfill_kline_hours or p.backfill_minutes):
        return None
    return _steps(p)


def _steps(p: Pipeline) -> Iterator[None]:
    if p.backfill_kline_hours:
        for symbol in p.symbols:
            yield from _klines(p, symbol)
    if p.backfill_minutes:
        for symbol in p.symbols:
            yield from _agg_trades(p, symbol)


def _resume_point(p: Pipeline, symbol: str, kind: BackfillKind, start_ms: int) -> int | None:
    """The saved cursor of an unfinished job over (about) the same span, if any."""
    reader = database.open_reader(p.db_target)
    try:
        saved = database.get_backfill(reader, symbol, kind)
    finally:
        reader.close()
    if saved and saved.status is not DONE and saved.start_ms <= start_ms + MINUTE_MS and saved.cursor is not None:
        log.info("resuming %s backfill of %s at %s", kind, symbol, saved.cursor)
        return int(saved.cursor)
    return None


def _failed(p: Pipeline, symbol: str, kind: BackfillKind, exc: Exception) -> None:
    progress = BackfillProgress(symbol, kind, error=str(exc))
    p.backfill_progress[progress.label] = progress
    log.warning("backfill %s: %s", progress.label, exc)


def _klines(p: Pipeline, symbol: str) -> Iterator[None]:
    kind = BackfillKind.KLINES
    end = now_ms() // MINUTE_MS * MINUTE_MS
    start = end - p.backfill_kline_hours * 3_600_000
    cursor = _resume_point(p, symbol, kind, start) or start
    while cursor < end and not p.stop.is_set():
        try:
            bars = [b for b in p.rest.klines(symbol, "1m", start_time=cursor, limit=KLINE_PAGE) if b.open_time < end]
        except BinanceRestError as exc:
            _failed(p, symbol, kind, exc)
            return
        if not bars:
            break
        rows = [(b.open_time, b.open, b.high, b.low, b.close, b.volume, b.trades, b.quote_volume) for b in bars]
        p.push(BarBatch(symbol, Timeframe.M1, rows))
        cursor = bars[-1].open_time + MINUTE_MS
        p.push(BackfillState(symbol, kind, start, end, cursor, RUNNING, cursor))
        yield
    if not p.stop.is_set():
        p.push(BackfillState(symbol, kind, start, end, cursor, DONE, end))


def _agg_trades(p: Pipeline, symbol: str) -> Iterator[None]:
    """aggTrades from `backfill_minutes` ago up to the first live id (so live and backfill never overlap)."""
    kind = BackfillKind.AGG_TRADES
    end = now_ms()
    start = end - p.backfill_minutes * MINUTE_MS
    from_id = _resume_point(p, symbol, kind, start)
    if from_id is None:
        try:
            from_id = first_id_since(p.rest, symbol, start, end, p.stop)
        except BinanceRestError as exc:
            _failed(p, symbol, kind, exc)
            return
        yield
    while from_id is not None and not p.stop.is_set():
        live = p.tracks.get(symbol)
        stop_id = live.first_live_id if live and live.first_live_id else None
        if stop_id is not None and from_id >= stop_id:
            break
        try:
            page = p.rest.agg_trades(symbol, from_id=from_id, limit=REST_PAGE)
        except BinanceRestError as exc:
            _failed(p, symbol, kind, exc)
            return
        if stop_id is not None:
            page = [t for t in page if t.trade_id < stop_id]
        if not page:
            break
        p.push(RepairBatch(page))
        from_id = page[-1].trade_id + 1
        p.push(BackfillState(symbol, kind, start, end, from_id, RUNNING, page[-1].timestamp))
        if len(page) < REST_PAGE and stop_id is None:
            break
        yield
    if not p.stop.is_set():
        p.push(BackfillState(symbol, kind, start, end, from_id, DONE, end))
