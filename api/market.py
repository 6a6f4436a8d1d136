"""Symbols, bars and bar exports: the stored bars of a bounded window, read through the dashboard's model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

import database
from api import params
from api.errors import ApiError
from config import Settings
from service.window import load_window, reader

BAR_FIELDS = ("open", "high", "low", "close", "volume")
TS_FORMAT = "%Y-%m-%d %H:%M:%S"  # the seed's bar timestamps (UTC)


def symbols(settings: Settings) -> dict[str, Any]:
    """`{"symbols": [...]}`: every symbol with stored ticks or bars, lower-case as the seed answered."""
    with reader(settings.db_target) as conn:
        return {"symbols": [s.lower() for s in database.stored_symbols(conn)]}


def bar_rows(settings: Settings, raw_symbol: str, q: Mapping[str, str]) -> list[tuple]:
    """(ts text, open, high, low, close, volume) of the window's bars, oldest first, the last `limit` only."""
    sym = params.symbol(raw_symbol)
    limit = params.integer(q, "limit", params.DEFAULT_LIMIT, 1, params.MAX_LIMIT)
    c = params.controls(q, settings, (sym,))
    with reader(settings.db_target) as conn:
        window = load_window(conn, c)
    bars = window.bars.get(sym)
    if bars is None or bars.empty:
        return []
    tail = bars.iloc[-int(limit or params.DEFAULT_LIMIT) :]
    stamps = list(pd.DatetimeIndex(tail.index).strftime(TS_FORMAT))
    cols = [tail[f].astype(float).tolist() for f in BAR_FIELDS]
    return list(zip(stamps, *cols, strict=True))


def resampled(settings: Settings, raw_symbol: str, q: Mapping[str, str]) -> dict[str, Any]:
    """`{"data": [{"ts", "open", "high", "low", "close", "volume"}, ...]}` oldest first."""
    return {"data": [dict(zip(("ts", *BAR_FIELDS), row, strict=True)) for row in bar_rows(settings, raw_symbol, q)]}


def ticks_csv(settings: Settings, q: Mapping[str, str]) -> Iterator[str]:
    """Raw ticks of `symbols` in [start, end) (epoch ms) as CSV, streamed from a server-side cursor chunk by chunk:
    memory stays bounded whatever the window holds (the dashboard's "Raw ticks (CSV)" link is this)."""
    syms = params.symbols(q.get("symbols", ""))
    start = params.integer(q, "start", 0, 0, 2**53) or 0
    end = params.integer(q, "end", None, 0, 2**53)
    if end is not None and start >= end:
        raise ApiError(400, "start", f"start={start} must be before end={end}")
    conn = database.open_reader(settings.db_target, any_thread=True)  # the response pulls chunks from worker threads
    try:
        body = database.tick_csv_chunks(conn, syms, start, end)  # reads now: an error answer, never a 200 cut short
    except BaseException:
        conn.close()
        raise

    def chunks() -> Iterator[str]:
        try:
            yield from body
        finally:
            conn.close()

    return chunks()


def export_csv(settings: Settings, raw_symbol: str, q: Mapping[str, str]) -> Iterator[str]:
    """CSV `ts,open,high,low,close,volume` of the same bars, streamed by storage's neutralising writer."""
    rows = bar_rows(settings, raw_symbol, q)
    return database.csv_chunks(("ts", *BAR_FIELDS), [rows])
