"""Funding settlements over REST (RECORD_FUNDING): on start each symbol's history from FUNDING_HISTORY_DAYS ago, or
from its last stored settlement (so a restart resumes), a page per step; and, whenever the markPrice stream shows a
settlement passed, that settlement. Each settlement carries the interval since the one before it (fundingInfo's
for a symbol's first); settlements further apart than Binance's longest interval are listed as gaps."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import database
from collection.pipeline import Pipeline
from collection.records import FundingBatch
from core.clock import DAY_MS, now_ms
from data_feed import BinanceRestError
from feed.funding import DEFAULT_INTERVAL_HOURS, NEXT_PAGE_MS, funding_gaps, with_intervals

log = logging.getLogger(__name__)

FUNDING_PAGE = 1000  # settlements per request (the endpoint's maximum)


def funding_steps(p: Pipeline) -> Iterator[None] | None:
    """Generator of funding-history steps for every symbol, or None when funding is not recorded over REST."""
    if not (p.record_funding and p.rest.available):
        return None
    return _steps(p)


def _steps(p: Pipeline) -> Iterator[None]:
    try:
        p.funding_intervals.update(p.rest.funding_intervals())
    except BinanceRestError as exc:
        log.warning("fundingInfo not read (%s): intervals come from the settlements' spacing alone", exc)
    yield
    for symbol in p.symbols:
        yield from settlements_since_stored(p, symbol)


def due_settlement(p: Pipeline) -> str | None:
    """A symbol whose passed settlement is now due to be fetched (the markPrice stream said it passed)."""
    now = time.monotonic()
    for symbol, due in list(p.settled.items()):
        if due <= now:
            del p.settled[symbol]
            return symbol
    return None


def settlements_since_stored(p: Pipeline, symbol: str) -> Iterator[None]:
    """Fetch a symbol's settlements after its last stored one (or funding_days back), a page per step, each page
    handed to the writer with intervals from the spacing; failures are logged and end the symbol's fetch (the next
    start, or the next settlement, resumes from what is stored)."""
    with contextlib.closing(database.open_reader(p.db_target)) as reader:
        last = database.last_funding_time(reader, symbol)
    start = last + NEXT_PAGE_MS if last is not None else now_ms() - p.funding_days * DAY_MS
    fallback = p.funding_intervals.get(symbol, DEFAULT_INTERVAL_HOURS)
    try:
        previous = last
        if previous is None:
            before = p.rest.funding_rates(symbol, end_time=start - 1, limit=1)
            previous = before[-1].funding_time if before else None
        while not p.stop.is_set():
            page = p.rest.funding_rates(symbol, start_time=start, limit=FUNDING_PAGE)
            rows = with_intervals(page, previous, fallback)
            if rows:
                times = [previous] if previous is not None else []
                for after, before_ms in funding_gaps([*times, *(r.funding_time for r in rows)]):
                    log.warning("funding of %s: settlements missing between %d and %d (ms)", symbol, after, before_ms)
                p.push(FundingBatch(rows))
                previous, fallback = rows[-1].funding_time, rows[-1].interval_hours
            if len(page) < FUNDING_PAGE:
                return
            start = page[-1].funding_time + NEXT_PAGE_MS
            yield
    except BinanceRestError as exc:
        p.last_error = f"funding of {symbol} not fetched: {exc}"
        log.warning("%s", p.last_error)
