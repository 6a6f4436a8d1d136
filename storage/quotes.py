"""The quote tables: quote_bars (one row per symbol-second with quotes: last bid/ask and sizes, time-weighted
half-spread) written in batches by the collector, and quote_gaps (spans without quotes: a disconnect, a stall)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from core.clock import now_ms
from storage.connection import open_reader
from storage.sql import Connection, bound_ms, in_clause, transaction

if TYPE_CHECKING:
    from data_feed import QuoteBar

QUOTE_COLUMNS = ["bid", "ask", "bid_size", "ask_size", "half_spread"]


@dataclass(frozen=True)
class QuoteGap:
    """A span (epoch ms) in which a symbol's quotes were not received: [from_ts, to_ts), and why."""

    id: int
    symbol: str
    from_ts: int
    to_ts: int
    detected_at: int
    note: str


def write_quote_bars(conn: Connection, bars: Sequence[QuoteBar]) -> int:
    """Store quote bars in one transaction, once per (symbol, second): a second written again (a bar completed
    across two batches is never split; a replay) replaces the stored one. Returns the rows written."""
    if not bars:
        return 0
    with transaction(conn):
        conn.executemany(
            "INSERT INTO quote_bars(symbol, timestamp, bid, ask, bid_size, ask_size, half_spread) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(symbol, timestamp) DO UPDATE SET bid=excluded.bid, "
            "ask=excluded.ask, bid_size=excluded.bid_size, ask_size=excluded.ask_size, "
            "half_spread=excluded.half_spread",
            [(b.symbol, b.second, b.bid, b.ask, b.bid_size, b.ask_size, b.half_spread) for b in bars],
        )
    return len(bars)


def quote_bars(
    db_target: str, symbol: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """1-second quote bars of a symbol in [start, end), indexed by the bar's second (UTC, named "time"): the last
    bid, ask, bid_size, ask_size in the second and its time-weighted half_spread. Only seconds with quotes are
    rows."""
    with contextlib.closing(open_reader(db_target)) as conn:
        rows = conn.execute(
            f"SELECT timestamp, {', '.join(QUOTE_COLUMNS)} FROM quote_bars WHERE symbol=? AND timestamp>=? "
            "AND timestamp<? ORDER BY timestamp",
            (symbol, bound_ms(start, 0), bound_ms(end, 2**62)),
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["time", *QUOTE_COLUMNS])
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("time"), unit="ms", utc=True), name="time").as_unit("ns")
    return frame.set_index(index).astype(float)


def last_quote_seconds(conn: Connection, symbols: Sequence[str]) -> dict[str, int]:
    """The latest stored quote bar's second (epoch ms) of each of these symbols that has any: where a restarted
    collector's quotes resume, the span up to its first quote being a gap."""
    if not symbols:
        return {}
    rows = conn.execute(
        f"SELECT symbol, max(timestamp) FROM quote_bars WHERE symbol IN ({in_clause(symbols)}) GROUP BY symbol",
        tuple(symbols),
    ).fetchall()
    return {symbol: int(second) for symbol, second in rows}


def record_quote_gaps(conn: Connection, gaps: Sequence[tuple[str, int, int, str]]) -> int:
    """Record spans without quotes — (symbol, from_ts, to_ts, why) each — in one transaction; returns how many."""
    if not gaps:
        return 0
    stamp = now_ms()
    with transaction(conn):
        conn.executemany(
            "INSERT INTO quote_gaps(symbol, from_ts, to_ts, detected_at, note) VALUES (?,?,?,?,?)",
            [(symbol, lo, hi, stamp, note) for symbol, lo, hi, note in gaps],
        )
    return len(gaps)


def quote_gaps(conn: Connection, symbols: Sequence[str] | None = None, limit: int = 500) -> list[QuoteGap]:
    """The most recent quote gaps first, optionally of some symbols only."""
    where = f" WHERE symbol IN ({in_clause(symbols)})" if symbols else ""
    rows = conn.execute(
        f"SELECT id, symbol, from_ts, to_ts, detected_at, note FROM quote_gaps{where} ORDER BY id DESC LIMIT ?",
        (*(symbols or ()), limit),
    ).fetchall()
    return [QuoteGap(*r) for r in rows]
