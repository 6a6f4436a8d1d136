"""The ticks table: batched writes (one row per (symbol, id space, trade_id)) that keep the 1s/1min rollups and
per-symbol totals current, and windowed or streamed reads."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from storage.cursors import IdCursor, save_cursors
from storage.rollups import merge_rollups, refresh_rollups
from storage.sql import SPACE_CODES, Connection, in_clause, limit_clause, transaction

if TYPE_CHECKING:
    from data_feed import Tick

TICK_COLUMNS = ["symbol", "trade_id", "timestamp", "price", "size", "is_buyer_maker", "received_at", "id_space"]
_SELECT_TICKS = (
    "SELECT symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at, CASE id_space "
    + " ".join(f"WHEN {code} THEN '{space}'" for space, code in SPACE_CODES.items())
    + " END FROM ticks"
)


@dataclass
class WriteResult:
    """What one batch did: rows inserted per symbol and re-sent ticks that were already stored."""

    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())


_UPSERT_STATS = (
    "INSERT INTO symbol_stats(symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(symbol) DO UPDATE SET "
    "tick_count=symbol_stats.tick_count+excluded.tick_count, "
    "first_ts=CASE WHEN symbol_stats.first_ts <= excluded.first_ts THEN symbol_stats.first_ts "
    "ELSE excluded.first_ts END, "
    "last_ts=CASE WHEN symbol_stats.last_ts >= excluded.last_ts THEN symbol_stats.last_ts ELSE excluded.last_ts END, "
    "max_trade_id=CASE WHEN excluded.max_trade_id IS NULL OR symbol_stats.max_trade_id >= excluded.max_trade_id "
    "THEN coalesce(symbol_stats.max_trade_id, excluded.max_trade_id) ELSE excluded.max_trade_id END, "
    "last_received_at=CASE WHEN symbol_stats.last_received_at >= excluded.last_received_at "
    "THEN symbol_stats.last_received_at ELSE excluded.last_received_at END"
)  # CASE: both backends' SQL


_TICK_ROW = operator.attrgetter("symbol", "trade_id", "timestamp", "price", "size", "is_buyer_maker", "received_at")


def write_ticks(conn: Connection, ticks: Sequence[Tick], cursors: Sequence[IdCursor] = ()) -> WriteResult:
    """Store a batch in one transaction: ticks once per (symbol, id space, trade_id), then bring the 1s/1min rollups
    up to date — merged from the batch when it extends the stored series (the live path), recomputed from stored ticks
    when it lands inside it (repairs, replays); a live batch's id cursors commit with it."""
    result = WriteResult()
    if not ticks:
        return result
    codes = SPACE_CODES
    rows = [(*_TICK_ROW(t), codes[t.space]) for t in ticks]
    symbols = sorted({r[0] for r in rows})  # one order for every writer: their row locks never cross
    conn.prepare_write(r[2] for r in rows)
    with transaction(conn):
        by_symbol = {s: rows if len(symbols) == 1 else [r for r in rows if r[0] == s] for s in symbols}
        lasts = {
            s: conn.execute(
                "SELECT timestamp, trade_id FROM ticks WHERE symbol=? "
                "ORDER BY timestamp DESC, id_space DESC, trade_id DESC LIMIT 1",
                (s,),
            ).fetchone()
            for s in symbols
        }
        counts = conn.insert_ticks(by_symbol)
        for symbol, mine in by_symbol.items():
            last, inserted = lasts[symbol], counts.get(symbol, 0)
            result.inserted[symbol] = inserted
            result.duplicates += len(mine) - inserted
            if not inserted:
                continue
            n = len(mine)
            stamps = np.fromiter(map(operator.itemgetter(2), mine), np.int64, n)
            ids = [r[1] for r in mine if r[1] > 0]
            conn.execute(
                _UPSERT_STATS,
                (
                    symbol,
                    inserted,
                    int(stamps.min()),
                    int(stamps.max()),
                    max(ids) if ids else None,
                    max(r[6] for r in mine),
                ),
            )
            first = min((r[2], r[1]) for r in mine)
            if inserted == n and (last is None or first > last):
                merge_rollups(conn, symbol, mine, stamps)
            else:
                refresh_rollups(conn, symbol, int(stamps.min()), int(stamps.max()))
        save_cursors(conn, cursors)
    return result


def read_ticks(
    conn: Connection,
    symbols: Sequence[str],
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> pd.DataFrame:
    """Raw ticks for some symbols in [start_ms, end_ms), optionally capped to `limit` rows."""
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"{_SELECT_TICKS} WHERE symbol IN ({in_clause(symbols)}) "
        f"AND timestamp>=? AND timestamp<? ORDER BY timestamp {order}, id_space {order}, trade_id {order}"
        f"{limit_clause(limit)}"
    )
    rows = conn.execute(sql, (*symbols, start_ms or 0, end_ms or 2**62)).fetchall()
    return pd.DataFrame(rows, columns=TICK_COLUMNS)


@dataclass(frozen=True)
class SymbolSummary:
    """Per-symbol totals kept by the writer, so status reads are O(symbols), not O(ticks)."""

    symbol: str
    tick_count: int
    first_ts: int | None
    last_ts: int | None
    max_trade_id: int | None
    last_received_at: int | None


def symbol_summaries(conn: Connection) -> list[SymbolSummary]:
    """Totals per stored symbol (tick count, first/last exchange time, highest trade id)."""
    rows = conn.execute(
        "SELECT symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at FROM symbol_stats ORDER BY symbol"
    ).fetchall()
    return [SymbolSummary(*r) for r in rows]


def last_prices(conn: Connection, symbols: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Latest (exchange time ms, price) per symbol; one index seek per symbol."""
    out = {}
    for symbol in symbols:
        row = conn.execute(
            "SELECT timestamp, price FROM ticks WHERE symbol=? ORDER BY timestamp DESC LIMIT 1", (symbol,)
        ).fetchone()
        if row:
            out[symbol] = (row[0], row[1])
    return out


def stream_ticks(
    conn: Connection,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    chunk_rows: int = 50_000,
) -> Iterator[list[tuple]]:
    """Ticks in (symbol, time) order as chunks from a server-side cursor: a 10M-row export never sits in memory."""
    chosen = list(symbols) if symbols else [s.symbol for s in symbol_summaries(conn)]
    sql = f"{_SELECT_TICKS} WHERE symbol=? AND timestamp>=? AND timestamp<? ORDER BY timestamp, id_space, trade_id"
    for symbol in chosen:
        yield from conn.stream(sql, (symbol, start_ms or 0, end_ms or 2**62), chunk_rows)
