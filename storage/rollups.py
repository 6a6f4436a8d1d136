"""1s and 1min bars kept from stored ticks (source 'ticks'): merged from a batch that extends the series, recomputed
from stored rows where late or repaired ticks land inside it. Exchange and uploaded bars are never overwritten."""

from __future__ import annotations

import operator

import numpy as np

from storage.sql import Connection

ROLLUP_SOURCE = "ticks"
ROLLUP_TIMEFRAMES = (("1s", 1000), ("1min", 60_000))


_UPSERT_ROLLUP = (
    "INSERT INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, volume, trade_count, quote_volume, "
    f"source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {ROLLUP_SOURCE!r}) "
    "ON CONFLICT(symbol, timeframe, timestamp) DO UPDATE SET open=excluded.open, high=excluded.high, "
    "low=excluded.low, close=excluded.close, volume=excluded.volume, trade_count=excluded.trade_count, "
    f"quote_volume=excluded.quote_volume WHERE ohlc_data.source={ROLLUP_SOURCE!r}"
)
_MERGE_ROLLUP = (
    "INSERT INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, volume, trade_count, quote_volume, "
    f"source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {ROLLUP_SOURCE!r}) "
    "ON CONFLICT(symbol, timeframe, timestamp) DO UPDATE SET "
    "high=CASE WHEN excluded.high > ohlc_data.high THEN excluded.high ELSE ohlc_data.high END, "
    "low=CASE WHEN excluded.low < ohlc_data.low THEN excluded.low ELSE ohlc_data.low END, close=excluded.close, "
    "volume=ohlc_data.volume+excluded.volume, trade_count=ohlc_data.trade_count+excluded.trade_count, "
    "quote_volume=ohlc_data.quote_volume+excluded.quote_volume "
    f"WHERE ohlc_data.source={ROLLUP_SOURCE!r}"
)


def _aggregate(
    stamps: np.ndarray,
    bucket_ms: int,
    opens: np.ndarray,
    highs: np.ndarray,
    lows: np.ndarray,
    closes: np.ndarray,
    volumes: np.ndarray,
    counts: np.ndarray,
    quotes: np.ndarray,
) -> list[tuple]:
    """OHLCV of time-sorted rows grouped into `bucket_ms` buckets (numpy reduceat: no per-row Python work)."""
    buckets = stamps // bucket_ms * bucket_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)] - 1
    return list(
        zip(
            buckets[starts].tolist(),
            opens[starts].tolist(),
            np.maximum.reduceat(highs, starts).tolist(),
            np.minimum.reduceat(lows, starts).tolist(),
            closes[ends].tolist(),
            np.add.reduceat(volumes, starts).tolist(),
            np.add.reduceat(counts, starts).tolist(),
            np.add.reduceat(quotes, starts).tolist(),
        )
    )


def merge_rollups(conn: Connection, symbol: str, rows: list[tuple], stamps: np.ndarray) -> None:
    """Fold a batch that is newer than everything stored into its 1s and 1min bars (open kept, close replaced)."""
    n = len(rows)
    ids = np.fromiter(map(operator.itemgetter(1), rows), np.int64, n)
    order = np.lexsort((ids, stamps))
    stamps = stamps[order]
    price = np.fromiter(map(operator.itemgetter(3), rows), np.float64, n)[order]
    size = np.fromiter(map(operator.itemgetter(4), rows), np.float64, n)[order]
    ones, quote = np.ones(n, np.int64), price * size
    for timeframe, bucket in ROLLUP_TIMEFRAMES:
        bars = _aggregate(stamps, bucket, price, price, price, price, size, ones, quote)
        conn.executemany(_MERGE_ROLLUP, [(symbol, timeframe, *b) for b in bars])


def refresh_rollups(conn: Connection, symbol: str, first_ms: int, last_ms: int) -> None:
    """Recompute the 1s and 1min bars touched by a batch from stored rows, so late or repaired ticks land exactly."""
    sec_lo, sec_hi = first_ms // 1000 * 1000, last_ms // 1000 * 1000 + 1000
    rows = conn.execute(
        "SELECT timestamp, price, size FROM ticks WHERE symbol=? AND timestamp>=? AND timestamp<? "
        "ORDER BY timestamp, id_space, trade_id",
        (symbol, sec_lo, sec_hi),
    ).fetchall()
    arr = np.array(rows, dtype=np.float64)
    stamps = arr[:, 0].astype(np.int64)
    price, size = arr[:, 1], arr[:, 2]
    bars = _aggregate(stamps, 1000, price, price, price, price, size, np.ones(len(size), np.int64), price * size)
    conn.executemany(_UPSERT_ROLLUP, [(symbol, "1s", *b) for b in bars])
    min_lo, min_hi = first_ms // 60_000 * 60_000, last_ms // 60_000 * 60_000 + 60_000
    rows = conn.execute(
        "SELECT timestamp, open, high, low, close, volume, trade_count, quote_volume FROM ohlc_data "
        "WHERE symbol=? AND timeframe='1s' AND timestamp>=? AND timestamp<? ORDER BY timestamp",
        (symbol, min_lo, min_hi),
    ).fetchall()
    sec = np.array(rows, dtype=np.float64)
    minutes = _aggregate(
        sec[:, 0].astype(np.int64),
        60_000,
        sec[:, 1],
        sec[:, 2],
        sec[:, 3],
        sec[:, 4],
        sec[:, 5],
        sec[:, 6].astype(np.int64),
        sec[:, 7],
    )
    conn.executemany(_UPSERT_ROLLUP, [(symbol, "1min", *b) for b in minutes])
