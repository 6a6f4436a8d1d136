"""The ohlc_data table: rollups, exchange klines and uploaded bars by (symbol, timeframe, time); windowed reads
and index-only inventories for the dashboard."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from storage.sql import Connection, in_clause, transaction

BAR_COLUMNS = ["symbol", "timestamp", "open", "high", "low", "close", "volume", "trade_count", "quote_volume"]


def write_bars(conn: Connection, timeframe: str, bars_by_symbol: Mapping[str, Iterable[Sequence]], source: str) -> int:
    """Store uploaded or exchange bars — per symbol, rows of (timestamp, open, high, low, close, volume,
    trade_count, quote_volume) — in one transaction; they replace any bar at the same time (exchange/upload data
    beats our rollups)."""
    rows = [
        (
            symbol,
            timeframe,
            int(b[0]),
            float(b[1]),
            float(b[2]),
            float(b[3]),
            float(b[4]),
            float(b[5]),
            int(b[6]) if len(b) > 6 and b[6] is not None else 0,
            float(b[7]) if len(b) > 7 and b[7] is not None else None,
            source,
        )
        for symbol, bars in bars_by_symbol.items()
        for b in bars
    ]
    with transaction(conn):
        conn.executemany(
            "INSERT INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, volume, "
            "trade_count, quote_volume, source) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(symbol, timeframe, timestamp) DO UPDATE SET open=excluded.open, "
            "high=excluded.high, low=excluded.low, close=excluded.close, volume=excluded.volume, "
            "trade_count=excluded.trade_count, quote_volume=excluded.quote_volume, "
            "source=excluded.source",
            rows,
        )
    return len(rows)


def read_bars(
    conn: Connection, symbols: Sequence[str], timeframe: str, start_ms: int | None = None, end_ms: int | None = None
) -> pd.DataFrame:
    """Bars of one stored timeframe for some symbols in [start_ms, end_ms) — index-backed, cost ∝ window."""
    sql = (
        f"SELECT {', '.join(BAR_COLUMNS)} FROM ohlc_data WHERE timeframe=? AND symbol IN ({in_clause(symbols)})"
        " AND timestamp>=? AND timestamp<? ORDER BY symbol, timestamp"
    )
    rows = conn.execute(sql, (timeframe, *symbols, start_ms or 0, end_ms or 2**62)).fetchall()
    return pd.DataFrame(rows, columns=BAR_COLUMNS)


def stored_symbols(conn: Connection) -> list[str]:
    """Every symbol with ticks or bars (uploads included), by index seeks: O(symbols), not O(rows)."""
    rows = conn.execute(
        "WITH RECURSIVE s(sym) AS (SELECT min(symbol) FROM ohlc_data UNION ALL "
        "SELECT (SELECT min(symbol) FROM ohlc_data WHERE symbol > s.sym) FROM s WHERE s.sym IS NOT NULL) "
        "SELECT sym FROM s WHERE sym IS NOT NULL UNION SELECT symbol FROM symbol_stats ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def bar_series(conn: Connection) -> list[tuple[str, str, int, int]]:
    """(symbol, timeframe, first bar ms, last bar ms) of every stored bar series, by index seeks only (a row count
    would scan every bar, which a live dashboard refresh must not do)."""
    out = []
    key = conn.execute("SELECT symbol, timeframe FROM ohlc_data ORDER BY symbol, timeframe LIMIT 1").fetchone()
    while key is not None:
        first, last = conn.execute(
            "SELECT (SELECT min(timestamp) FROM ohlc_data WHERE symbol=? AND timeframe=?), "
            "(SELECT max(timestamp) FROM ohlc_data WHERE symbol=? AND timeframe=?)",
            (*key, *key),
        ).fetchone()
        out.append((key[0], key[1], first, last))
        key = conn.execute(
            "SELECT symbol, timeframe FROM ohlc_data WHERE (symbol, timeframe, timestamp) > (?, ?, ?) "
            "ORDER BY symbol, timeframe, timestamp LIMIT 1",
            (*key, last),
        ).fetchone()
    return out
