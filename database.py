"""SQLite storage: schema and migrations, batched tick writes with 1s/1min rollups, windowed reads, streaming exports.

All SQL of the platform lives here. Every statement is parameterised. Connections are per thread: the collector's
writer owns one write connection; readers (dashboard reruns, exports) open short-lived read-only connections.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import itertools
import logging
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from data_feed import Tick

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
ROLLUP_SOURCE = "ticks"
BAR_COLUMNS = ["symbol", "timestamp", "open", "high", "low", "close", "volume", "trade_count", "quote_volume"]
TICK_COLUMNS = ["symbol", "trade_id", "timestamp", "price", "size", "is_buyer_maker", "received_at"]

_MIGRATIONS: tuple[str, ...] = (
    # v1: the whole initial schema.
    """
    CREATE TABLE ticks(
        symbol TEXT NOT NULL,
        trade_id INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        price REAL NOT NULL CHECK (price > 0),
        size REAL NOT NULL CHECK (size >= 0),
        is_buyer_maker INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (symbol, trade_id)
    ) WITHOUT ROWID;
    CREATE INDEX ix_ticks_symbol_time ON ticks(symbol, timestamp);
    CREATE TABLE ohlc_data(
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        open REAL NOT NULL,
        high REAL NOT NULL,
        low REAL NOT NULL,
        close REAL NOT NULL,
        volume REAL NOT NULL,
        trade_count INTEGER NOT NULL,
        quote_volume REAL,
        source TEXT NOT NULL DEFAULT 'ticks',
        PRIMARY KEY (symbol, timeframe, timestamp)
    ) WITHOUT ROWID;
    CREATE TABLE symbol_stats(
        symbol TEXT PRIMARY KEY,
        tick_count INTEGER NOT NULL,
        first_ts INTEGER,
        last_ts INTEGER,
        max_trade_id INTEGER,
        last_received_at INTEGER
    );
    CREATE TABLE gaps(
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        first_missing_id INTEGER NOT NULL,
        last_missing_id INTEGER NOT NULL,
        from_ts INTEGER,
        to_ts INTEGER,
        detected_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        repaired_count INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ix_gaps_symbol ON gaps(symbol, status);
    CREATE TABLE alert_rules(
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        symbol_x TEXT NOT NULL,
        symbol_y TEXT NOT NULL DEFAULT '',
        op TEXT NOT NULL,
        threshold REAL NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        last_value REAL,
        last_fired_at INTEGER
    );
    CREATE TABLE alert_events(
        id INTEGER PRIMARY KEY,
        rule_id INTEGER NOT NULL,
        fired_at INTEGER NOT NULL,
        value REAL NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX ix_alert_events_time ON alert_events(fired_at);
    CREATE TABLE backfill_state(
        symbol TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        cursor INTEGER,
        status TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (symbol, kind)
    );
    """,
    # v2: paper-trading positions (the Portfolio tab), persisted instead of living in one browser session.
    """
    CREATE TABLE paper_positions(
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
        quantity REAL NOT NULL CHECK (quantity > 0),
        entry_price REAL NOT NULL CHECK (entry_price > 0),
        opened_at INTEGER NOT NULL,
        exit_price REAL,
        closed_at INTEGER,
        realized_pnl REAL
    );
    """,
)


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------------------------------------- connections
def _apply_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=67108864")


def open_writer(path: str) -> sqlite3.Connection:
    """Open (creating and migrating if needed) a write connection in WAL mode; use it only in the calling thread."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    _apply_pragmas(conn)
    migrate(conn)
    return conn


def open_reader(path: str) -> sqlite3.Connection:
    """Open a read-only connection (cheap: open one per rerun or export and close it)."""
    if not os.path.exists(path):
        ensure_database(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    _apply_pragmas(conn)
    return conn


def ensure_database(path: str) -> None:
    """Create the database file and bring its schema up to date."""
    open_writer(path).close()


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending schema migrations (PRAGMA user_version); refuse a database newer than this code."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"database schema v{version} is newer than this program understands (v{SCHEMA_VERSION})")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[target - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("database migrated to schema v%d", target)
    return SCHEMA_VERSION


# -------------------------------------------------------------------------------------------------------------- writes
@dataclass
class WriteResult:
    """What one batch did: rows inserted per symbol and re-sent ticks that were already stored."""

    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())


_INSERT_CHUNKS = (1024, 128, 16, 1)   # rows per INSERT statement; few distinct sizes keep the statement cache warm


@functools.cache
def _insert_ticks_sql(rows: int) -> str:
    values = ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (f"INSERT INTO ticks(symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at) VALUES {values} "
            "ON CONFLICT(symbol, trade_id) DO NOTHING")


def _insert_ticks(conn: sqlite3.Connection, rows: list[tuple]) -> int:
    """Insert tick rows with multi-row statements and return how many were new. One statement step per chunk
    instead of one per row (executemany) halves the cost and, above all, the GIL hand-offs with the socket thread."""
    inserted = done = 0
    for size in _INSERT_CHUNKS:
        sql = _insert_ticks_sql(size)
        while len(rows) - done >= size:
            inserted += conn.execute(sql, list(itertools.chain.from_iterable(rows[done:done + size]))).rowcount
            done += size
    return inserted
_UPSERT_ROLLUP = (
    "INSERT INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, volume, trade_count, quote_volume, "
    "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ticks') "
    "ON CONFLICT(symbol, timeframe, timestamp) DO UPDATE SET open=excluded.open, high=excluded.high, "
    "low=excluded.low, close=excluded.close, volume=excluded.volume, trade_count=excluded.trade_count, "
    "quote_volume=excluded.quote_volume WHERE ohlc_data.source='ticks'")
_MERGE_ROLLUP = (
    "INSERT INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, volume, trade_count, quote_volume, "
    "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ticks') "
    "ON CONFLICT(symbol, timeframe, timestamp) DO UPDATE SET high=max(high, excluded.high), "
    "low=min(low, excluded.low), close=excluded.close, volume=volume+excluded.volume, "
    "trade_count=trade_count+excluded.trade_count, quote_volume=quote_volume+excluded.quote_volume "
    "WHERE ohlc_data.source='ticks'")
_UPSERT_STATS = (
    "INSERT INTO symbol_stats(symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(symbol) DO UPDATE SET tick_count=tick_count+excluded.tick_count, "
    "first_ts=min(coalesce(first_ts, excluded.first_ts), excluded.first_ts), "
    "last_ts=max(coalesce(last_ts, excluded.last_ts), excluded.last_ts), "
    "max_trade_id=max(coalesce(max_trade_id, excluded.max_trade_id), coalesce(excluded.max_trade_id, max_trade_id)), "
    "last_received_at=max(coalesce(last_received_at, 0), excluded.last_received_at)")


_TICK_ROW = operator.attrgetter("symbol", "trade_id", "timestamp", "price", "size", "is_buyer_maker", "received_at")


def write_ticks(conn: sqlite3.Connection, ticks: Sequence[Tick]) -> WriteResult:
    """Store a batch in one transaction: ticks once per (symbol, trade_id), then bring the 1s/1min rollups up to
    date — merged from the batch when it extends the stored series (the live path), recomputed from stored ticks
    when it lands inside it (repairs, replays)."""
    result = WriteResult()
    if not ticks:
        return result
    rows = list(map(_TICK_ROW, ticks))
    symbols = {r[0] for r in rows}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for symbol in symbols:
            mine = rows if len(symbols) == 1 else [r for r in rows if r[0] == symbol]
            last = conn.execute("SELECT timestamp, trade_id FROM ticks WHERE symbol=? "
                                "ORDER BY timestamp DESC, trade_id DESC LIMIT 1", (symbol,)).fetchone()
            inserted = _insert_ticks(conn, mine)
            result.inserted[symbol] = inserted
            result.duplicates += len(mine) - inserted
            if not inserted:
                continue
            n = len(mine)
            stamps = np.fromiter(map(operator.itemgetter(2), mine), np.int64, n)
            ids = [r[1] for r in mine if r[1] > 0]
            conn.execute(_UPSERT_STATS, (symbol, inserted, int(stamps.min()), int(stamps.max()),
                                         max(ids) if ids else None, max(r[6] for r in mine)))
            first = min((r[2], r[1]) for r in mine)
            if inserted == n and (last is None or first > last):
                _merge_rollups(conn, symbol, mine, stamps)
            else:
                _refresh_rollups(conn, symbol, int(stamps.min()), int(stamps.max()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


def _aggregate(stamps: np.ndarray, bucket_ms: int, opens: np.ndarray, highs: np.ndarray, lows: np.ndarray,
               closes: np.ndarray, volumes: np.ndarray, counts: np.ndarray, quotes: np.ndarray) -> list[tuple]:
    """OHLCV of time-sorted rows grouped into `bucket_ms` buckets (numpy reduceat: no per-row Python work)."""
    buckets = stamps // bucket_ms * bucket_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)] - 1
    return list(zip(buckets[starts].tolist(), opens[starts].tolist(), np.maximum.reduceat(highs, starts).tolist(),
                    np.minimum.reduceat(lows, starts).tolist(), closes[ends].tolist(),
                    np.add.reduceat(volumes, starts).tolist(), np.add.reduceat(counts, starts).tolist(),
                    np.add.reduceat(quotes, starts).tolist()))


def _merge_rollups(conn: sqlite3.Connection, symbol: str, rows: list[tuple], stamps: np.ndarray) -> None:
    """Fold a batch that is newer than everything stored into its 1s and 1min bars (open kept, close replaced)."""
    n = len(rows)
    ids = np.fromiter(map(operator.itemgetter(1), rows), np.int64, n)
    order = np.lexsort((ids, stamps))
    stamps = stamps[order]
    price = np.fromiter(map(operator.itemgetter(3), rows), np.float64, n)[order]
    size = np.fromiter(map(operator.itemgetter(4), rows), np.float64, n)[order]
    ones, quote = np.ones(n, np.int64), price * size
    for timeframe, bucket in (("1s", 1000), ("1min", 60_000)):
        bars = _aggregate(stamps, bucket, price, price, price, price, size, ones, quote)
        conn.executemany(_MERGE_ROLLUP, [(symbol, timeframe, *b) for b in bars])


def _refresh_rollups(conn: sqlite3.Connection, symbol: str, first_ms: int, last_ms: int) -> None:
    """Recompute the 1s and 1min bars touched by a batch from stored rows, so late or repaired ticks land exactly."""
    sec_lo, sec_hi = first_ms // 1000 * 1000, last_ms // 1000 * 1000 + 1000
    rows = conn.execute("SELECT timestamp, price, size FROM ticks WHERE symbol=? AND timestamp>=? AND timestamp<? "
                        "ORDER BY timestamp, trade_id", (symbol, sec_lo, sec_hi)).fetchall()
    arr = np.array(rows, dtype=np.float64)
    stamps = arr[:, 0].astype(np.int64)
    price, size = arr[:, 1], arr[:, 2]
    bars = _aggregate(stamps, 1000, price, price, price, price, size, np.ones(len(size), np.int64), price * size)
    conn.executemany(_UPSERT_ROLLUP, [(symbol, "1s", *b) for b in bars])
    min_lo, min_hi = first_ms // 60_000 * 60_000, last_ms // 60_000 * 60_000 + 60_000
    rows = conn.execute("SELECT timestamp, open, high, low, close, volume, trade_count, quote_volume FROM ohlc_data "
                        "WHERE symbol=? AND timeframe='1s' AND timestamp>=? AND timestamp<? ORDER BY timestamp",
                        (symbol, min_lo, min_hi)).fetchall()
    sec = np.array(rows, dtype=np.float64)
    minutes = _aggregate(sec[:, 0].astype(np.int64), 60_000, sec[:, 1], sec[:, 2], sec[:, 3], sec[:, 4], sec[:, 5],
                         sec[:, 6].astype(np.int64), sec[:, 7])
    conn.executemany(_UPSERT_ROLLUP, [(symbol, "1min", *b) for b in minutes])


def write_bars(conn: sqlite3.Connection, timeframe: str, bars_by_symbol: Mapping[str, Iterable[Sequence]],
               source: str) -> int:
    """Store uploaded or exchange bars — per symbol, rows of (timestamp, open, high, low, close, volume,
    trade_count, quote_volume) — in one transaction; they replace any bar at the same time (exchange/upload data
    beats our rollups)."""
    rows = [(symbol, timeframe, int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]), float(b[5]),
             int(b[6]) if len(b) > 6 and b[6] is not None else 0,
             float(b[7]) if len(b) > 7 and b[7] is not None else None, source)
            for symbol, bars in bars_by_symbol.items() for b in bars]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT OR REPLACE INTO ohlc_data(symbol, timeframe, timestamp, open, high, low, close, "
                         "volume, trade_count, quote_volume, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection: committed when the block ends, rolled back (and the
    error re-raised) when it fails, so nothing is ever left half-done or open."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def clear_all(conn: sqlite3.Connection) -> None:
    """Delete every tick, bar, gap, alert and backfill record (all or nothing), then reclaim the space."""
    with _transaction(conn):
        for table in ("ticks", "ohlc_data", "symbol_stats", "gaps", "alert_events", "alert_rules", "backfill_state",
                      "paper_positions"):
            conn.execute(f"DELETE FROM {table}")  # table names are the fixed literals above
    conn.execute("VACUUM")


# --------------------------------------------------------------------------------------------------------------- reads
def _in_clause(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))


def read_bars(conn: sqlite3.Connection, symbols: Sequence[str], timeframe: str, start_ms: int | None = None,
              end_ms: int | None = None) -> pd.DataFrame:
    """Bars of one stored timeframe for some symbols in [start_ms, end_ms) — index-backed, cost ∝ window."""
    sql = (f"SELECT {', '.join(BAR_COLUMNS)} FROM ohlc_data WHERE timeframe=? AND symbol IN ({_in_clause(symbols)})"
           " AND timestamp>=? AND timestamp<? ORDER BY symbol, timestamp")
    rows = conn.execute(sql, (timeframe, *symbols, start_ms or 0, end_ms or 2**62)).fetchall()
    return pd.DataFrame(rows, columns=BAR_COLUMNS)


def read_ticks(conn: sqlite3.Connection, symbols: Sequence[str], start_ms: int | None = None,
               end_ms: int | None = None, limit: int | None = None, newest_first: bool = False) -> pd.DataFrame:
    """Raw ticks for some symbols in [start_ms, end_ms), optionally capped to `limit` rows."""
    order = "DESC" if newest_first else "ASC"
    sql = (f"SELECT {', '.join(TICK_COLUMNS)} FROM ticks WHERE symbol IN ({_in_clause(symbols)}) "
           f"AND timestamp>=? AND timestamp<? ORDER BY timestamp {order}, trade_id {order} LIMIT ?")
    rows = conn.execute(sql, (*symbols, start_ms or 0, end_ms or 2**62, -1 if limit is None else limit)).fetchall()
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


def symbol_summaries(conn: sqlite3.Connection) -> list[SymbolSummary]:
    """Totals per stored symbol (tick count, first/last exchange time, highest trade id)."""
    rows = conn.execute("SELECT symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at "
                        "FROM symbol_stats ORDER BY symbol").fetchall()
    return [SymbolSummary(*r) for r in rows]


def last_prices(conn: sqlite3.Connection, symbols: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Latest (exchange time ms, price) per symbol; one index seek per symbol."""
    out = {}
    for symbol in symbols:
        row = conn.execute("SELECT timestamp, price FROM ticks WHERE symbol=? ORDER BY timestamp DESC LIMIT 1",
                           (symbol,)).fetchone()
        if row:
            out[symbol] = (row[0], row[1])
    return out


def database_size_bytes(path: str) -> int:
    """Bytes on disk of the database and its WAL."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


# ---------------------------------------------------------------------------------------------------------------- gaps
@dataclass(frozen=True)
class Gap:
    """A run of missing trade ids for one symbol and what became of it (open, repaired, unrepairable)."""

    id: int
    symbol: str
    first_missing_id: int
    last_missing_id: int
    from_ts: int | None
    to_ts: int | None
    detected_at: int
    status: str
    repaired_count: int
    note: str


# Gap's fields in order: rows are selected by name, so a column added to the table later cannot shift them.
_GAP_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Gap))


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just created (always set after a successful single-row INSERT)."""
    if cur.lastrowid is None:
        raise sqlite3.OperationalError("INSERT created no row")
    return cur.lastrowid


def record_gap(conn: sqlite3.Connection, symbol: str, first_id: int, last_id: int, from_ts: int | None,
               to_ts: int | None, status: str = "open", note: str = "", repaired_count: int = 0) -> int:
    """Insert a detected gap and return its id."""
    cur = conn.execute("INSERT INTO gaps(symbol, first_missing_id, last_missing_id, from_ts, to_ts, detected_at, "
                       "status, note, repaired_count) VALUES (?,?,?,?,?,?,?,?,?)",
                       (symbol, first_id, last_id, from_ts, to_ts, now_ms(), status, note, repaired_count))
    return _inserted_id(cur)


def update_gap(conn: sqlite3.Connection, gap_id: int, status: str, repaired_count: int, note: str = "") -> None:
    """Set a gap's outcome after a repair attempt."""
    conn.execute("UPDATE gaps SET status=?, repaired_count=?, note=? WHERE id=?",
                 (status, repaired_count, note, gap_id))


def list_gaps(conn: sqlite3.Connection, symbols: Sequence[str] | None = None, limit: int = 500) -> list[Gap]:
    """Most recent gaps first, optionally for some symbols only."""
    if symbols:
        rows = conn.execute(f"SELECT {_GAP_COLUMNS} FROM gaps WHERE symbol IN ({_in_clause(symbols)}) "
                            "ORDER BY id DESC LIMIT ?", (*symbols, limit)).fetchall()
    else:
        rows = conn.execute(f"SELECT {_GAP_COLUMNS} FROM gaps ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [Gap(*r) for r in rows]


def open_gaps(conn: sqlite3.Connection, symbols: Sequence[str]) -> list[Gap]:
    """Gaps still waiting for a repair (one was interrupted by a stop or a crash), oldest first."""
    if not symbols:
        return []
    rows = conn.execute(f"SELECT {_GAP_COLUMNS} FROM gaps WHERE status='open' AND symbol IN "
                        f"({_in_clause(symbols)}) ORDER BY id", tuple(symbols)).fetchall()
    return [Gap(*r) for r in rows]


# -------------------------------------------------------------------------------------------------------------- alerts
@dataclass(frozen=True)
class AlertRule:
    """A stored alert: metric (zscore, spread or price) of a pair or symbol compared with a threshold."""

    id: int
    metric: str
    symbol_x: str
    symbol_y: str
    op: str
    threshold: float
    enabled: bool
    created_at: int
    last_value: float | None
    last_fired_at: int | None


def add_alert_rule(conn: sqlite3.Connection, metric: str, symbol_x: str, symbol_y: str, op: str,
                   threshold: float) -> int:
    """Store a new alert rule and return its id."""
    cur = conn.execute("INSERT INTO alert_rules(metric, symbol_x, symbol_y, op, threshold, created_at) "
                       "VALUES (?,?,?,?,?,?)", (metric, symbol_x, symbol_y, op, float(threshold), now_ms()))
    return _inserted_id(cur)


def list_alert_rules(conn: sqlite3.Connection) -> list[AlertRule]:
    """Every stored alert rule, oldest first."""
    rows = conn.execute("SELECT id, metric, symbol_x, symbol_y, op, threshold, enabled, created_at, last_value, "
                        "last_fired_at FROM alert_rules ORDER BY id").fetchall()
    return [AlertRule(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9]) for r in rows]


def delete_alert_rule(conn: sqlite3.Connection, rule_id: int) -> None:
    """Remove a rule and its history (both or neither)."""
    with _transaction(conn):
        conn.execute("DELETE FROM alert_events WHERE rule_id=?", (rule_id,))
        conn.execute("DELETE FROM alert_rules WHERE id=?", (rule_id,))


def record_alert_check(conn: sqlite3.Connection, rule_id: int, value: float, fired_message: str | None) -> None:
    """Remember a rule's latest value (for crossing rules) and, when it fired, log the event (all or nothing)."""
    with _transaction(conn):
        if fired_message is None:
            conn.execute("UPDATE alert_rules SET last_value=? WHERE id=?", (value, rule_id))
        else:
            stamp = now_ms()
            conn.execute("UPDATE alert_rules SET last_value=?, last_fired_at=? WHERE id=?", (value, stamp, rule_id))
            conn.execute("INSERT INTO alert_events(rule_id, fired_at, value, message) VALUES (?,?,?,?)",
                         (rule_id, stamp, value, fired_message))


def alert_history(conn: sqlite3.Connection, limit: int = 200) -> pd.DataFrame:
    """Latest fired alerts, newest first."""
    rows = conn.execute("SELECT fired_at, rule_id, value, message FROM alert_events ORDER BY id DESC LIMIT ?",
                        (limit,)).fetchall()
    return pd.DataFrame(rows, columns=["fired_at", "rule_id", "value", "message"])


# ------------------------------------------------------------------------------------------------------ paper trading
@dataclass(frozen=True)
class PaperPosition:
    """A simulated position opened at a stored price; closed ones carry their realised P&L."""

    id: int
    symbol: str
    side: str
    quantity: float
    entry_price: float
    opened_at: int
    exit_price: float | None
    closed_at: int | None
    realized_pnl: float | None

    def unrealized_pnl(self, price: float) -> float:
        """P&L in quote currency if closed at `price` (long gains when price rises)."""
        sign = 1.0 if self.side == "LONG" else -1.0
        return sign * (price - self.entry_price) * self.quantity


_POSITION_COLUMNS = ", ".join(f.name for f in dataclasses.fields(PaperPosition))


def open_paper_position(conn: sqlite3.Connection, symbol: str, side: str, notional: float, price: float) -> int:
    """Open a LONG or SHORT paper position worth `notional` quote units at `price`; return its id."""
    if side not in ("LONG", "SHORT") or notional <= 0 or price <= 0:
        raise ValueError(f"cannot open a {side} position of {notional} at {price}: need LONG/SHORT and positive sizes")
    cur = conn.execute("INSERT INTO paper_positions(symbol, side, quantity, entry_price, opened_at) VALUES (?,?,?,?,?)",
                       (symbol, side, notional / price, price, now_ms()))
    return _inserted_id(cur)


def close_paper_position(conn: sqlite3.Connection, position_id: int, price: float) -> float:
    """Close an open paper position at `price`, store and return the realised P&L. Read and update are one
    transaction and the update requires the position still open, so two tabs cannot close it twice."""
    with _transaction(conn):
        row = conn.execute(f"SELECT {_POSITION_COLUMNS} FROM paper_positions WHERE id=? AND closed_at IS NULL",
                           (position_id,)).fetchone()
        if row is None:
            raise ValueError(f"paper position {position_id} is not open (already closed, or no such position)")
        pnl = PaperPosition(*row).unrealized_pnl(price)
        cur = conn.execute("UPDATE paper_positions SET exit_price=?, closed_at=?, realized_pnl=? "
                           "WHERE id=? AND closed_at IS NULL", (price, now_ms(), pnl, position_id))
        if cur.rowcount != 1:
            raise ValueError(f"paper position {position_id} was closed by someone else meanwhile")
    return pnl


def list_paper_positions(conn: sqlite3.Connection) -> list[PaperPosition]:
    """Every paper position, open ones first, newest first."""
    rows = conn.execute(f"SELECT {_POSITION_COLUMNS} FROM paper_positions "
                        "ORDER BY closed_at IS NOT NULL, id DESC").fetchall()
    return [PaperPosition(*r) for r in rows]


# ------------------------------------------------------------------------------------------------------------ backfill
def get_backfill(conn: sqlite3.Connection, symbol: str, kind: str) -> tuple[int, int, int | None, str] | None:
    """(start_ms, end_ms, cursor, status) of a backfill job, or None when there is none."""
    return conn.execute("SELECT start_ms, end_ms, cursor, status FROM backfill_state WHERE symbol=? AND kind=?",
                        (symbol, kind)).fetchone()


def save_backfill(conn: sqlite3.Connection, symbol: str, kind: str, start_ms: int, end_ms: int, cursor: int | None,
                  status: str) -> None:
    """Persist a backfill job's progress so an interrupted backfill resumes where it stopped."""
    conn.execute("INSERT OR REPLACE INTO backfill_state(symbol, kind, start_ms, end_ms, cursor, status, updated_at) "
                 "VALUES (?,?,?,?,?,?,?)", (symbol, kind, start_ms, end_ms, cursor, status, now_ms()))


# ------------------------------------------------------------------------------------------------------------- exports
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """Defuse spreadsheet formula injection: a text cell starting with = + - @ that is not a number gets a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def csv_chunks(columns: Sequence[str], row_chunks: Iterable[Sequence[Sequence]]) -> Iterator[str]:
    """CSV text chunk by chunk (header first), every cell neutralised; memory stays bounded by one chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    yield buf.getvalue()
    for rows in row_chunks:
        buf.seek(0)
        buf.truncate()
        writer.writerows([[neutralise_cell(v) for v in row] for row in rows])
        yield buf.getvalue()


def dataframe_to_csv(df: pd.DataFrame, index: bool = False) -> bytes:
    """Whole-frame CSV bytes with formula-injection neutralisation (for window-sized exports)."""
    frame = df.reset_index() if index else df
    rows = frame.itertuples(index=False, name=None)
    return "".join(csv_chunks([str(c) for c in frame.columns], [list(rows)])).encode()


def stream_ticks(conn: sqlite3.Connection, symbols: Sequence[str] | None = None, start_ms: int | None = None,
                 end_ms: int | None = None, chunk_rows: int = 50_000) -> Iterator[list[tuple]]:
    """Ticks in (symbol, time) order as chunks from a server-side cursor: a 10M-row export never sits in memory."""
    chosen = list(symbols) if symbols else [s.symbol for s in symbol_summaries(conn)]
    for symbol in chosen:
        cur = conn.execute(f"SELECT {', '.join(TICK_COLUMNS)} FROM ticks WHERE symbol=? AND timestamp>=? "
                           "AND timestamp<? ORDER BY timestamp, trade_id", (symbol, start_ms or 0, end_ms or 2**62))
        while rows := cur.fetchmany(chunk_rows):
            yield rows


def export_ticks_csv(db_path: str, out_path: str, symbols: Sequence[str] | None = None,
                     start_ms: int | None = None, end_ms: int | None = None) -> int:
    """Stream ticks into a CSV file and return the row count."""
    conn = open_reader(db_path)
    count = 0
    try:
        with open(out_path, "w", encoding="utf-8", newline="") as out:
            def counted() -> Iterator[list[tuple]]:
                nonlocal count
                for rows in stream_ticks(conn, symbols, start_ms, end_ms):
                    count += len(rows)
                    yield rows
            for text in csv_chunks(TICK_COLUMNS, counted()):
                out.write(text)
    finally:
        conn.close()
    return count


# ------------------------------------------------------------------------------------------------------- dashboard
def stored_symbols(conn: sqlite3.Connection) -> list[str]:
    """Every symbol with ticks or bars (uploads included), by index seeks: O(symbols), not O(rows)."""
    rows = conn.execute(
        "WITH RECURSIVE s(sym) AS (SELECT min(symbol) FROM ohlc_data UNION ALL "
        "SELECT (SELECT min(symbol) FROM ohlc_data WHERE symbol > s.sym) FROM s WHERE s.sym IS NOT NULL) "
        "SELECT sym FROM s WHERE sym IS NOT NULL UNION SELECT symbol FROM symbol_stats ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def bar_series(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """(symbol, timeframe, first bar ms, last bar ms) of every stored bar series, by index seeks only (a row count
    would scan every bar, which a live dashboard refresh must not do)."""
    out = []
    key = conn.execute("SELECT symbol, timeframe FROM ohlc_data ORDER BY symbol, timeframe LIMIT 1").fetchone()
    while key is not None:
        first, last = conn.execute(
            "SELECT (SELECT min(timestamp) FROM ohlc_data WHERE symbol=?1 AND timeframe=?2), "
            "(SELECT max(timestamp) FROM ohlc_data WHERE symbol=?1 AND timeframe=?2)", key).fetchone()
        out.append((key[0], key[1], first, last))
        key = conn.execute("SELECT symbol, timeframe FROM ohlc_data WHERE (symbol, timeframe, timestamp) > (?, ?, ?) "
                           "ORDER BY symbol, timeframe, timestamp LIMIT 1", (*key, last)).fetchone()
    return out
