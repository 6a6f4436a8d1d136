"""The schema: every table as numbered migrations (PRAGMA user_version), applied on open; and clearing it all."""

from __future__ import annotations

from storage.sql import Connection
from storage.sqlite_upgrade import upgrade, user_version

SCHEMA_VERSION = 8  # = len(MIGRATIONS)
TABLES = (
    "ticks",
    "ohlc_data",
    "symbol_stats",
    "gaps",
    "alert_events",
    "alert_rules",
    "backfill_state",
    "paper_positions",
    "id_cursors",
    "funding_rates",
    "funding_now",
    "quote_bars",
    "quote_gaps",
    "contract_rules",
    "delivery_attempts",
    "watchlist",
    "signal_events",
    "pair_positions",
)

MIGRATIONS: tuple[str, ...] = (
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
    # v3: live id cursors per (symbol, id space); earlier databases held aggTrade ids from the default stream.
    """
    CREATE TABLE id_cursors(
        symbol TEXT NOT NULL,
        space TEXT NOT NULL,
        last_id INTEGER NOT NULL,
        last_ts INTEGER,
        PRIMARY KEY (symbol, space)
    );
    INSERT INTO id_cursors(symbol, space, last_id, last_ts)
        SELECT symbol, 'aggTrade', max_trade_id, last_ts FROM symbol_stats WHERE max_trade_id IS NOT NULL
    """,
    # v4: a tick is unique per (symbol, id space, id) - aggTrade, trade, upload and simulated ids are different
    # numberings (codes: storage.ticks.SPACE_CODES). Earlier rows with positive ids came from the default aggTrade
    # stream (or REST repairs of it); non-positive ids were given to id-less uploaded rows.
    """
    CREATE TABLE ticks_v4(
        symbol TEXT NOT NULL,
        id_space INTEGER NOT NULL,
        trade_id INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        price REAL NOT NULL CHECK (price > 0),
        size REAL NOT NULL CHECK (size >= 0),
        is_buyer_maker INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (symbol, id_space, trade_id)
    ) WITHOUT ROWID;
    INSERT INTO ticks_v4(symbol, id_space, trade_id, timestamp, price, size, is_buyer_maker, received_at)
        SELECT symbol, CASE WHEN trade_id > 0 THEN 0 ELSE 2 END, trade_id, timestamp, price, size, is_buyer_maker,
               received_at FROM ticks;
    DROP TABLE ticks;
    ALTER TABLE ticks_v4 RENAME TO ticks;
    CREATE INDEX ix_ticks_symbol_time ON ticks(symbol, timestamp)
    """,
    # v5: symbol_stats.symbol NOT NULL, as PostgreSQL's key is (SQLite lets a rowid table's TEXT PRIMARY KEY hold
    # NULLs, a legacy quirk; tests/test_schema_parity.py found it). The program never wrote a NULL symbol: such a row
    # could be no symbol's totals and is not carried over.
    """
    CREATE TABLE symbol_stats_v5(
        symbol TEXT NOT NULL PRIMARY KEY,
        tick_count INTEGER NOT NULL,
        first_ts INTEGER,
        last_ts INTEGER,
        max_trade_id INTEGER,
        last_received_at INTEGER
    );
    INSERT INTO symbol_stats_v5(symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at)
        SELECT symbol, tick_count, first_ts, last_ts, max_trade_id, last_received_at FROM symbol_stats
        WHERE symbol IS NOT NULL;
    DROP TABLE symbol_stats;
    ALTER TABLE symbol_stats_v5 RENAME TO symbol_stats
    """,
    # v6: what a trade really costs on a perpetual (issue 26): funding settlements (rate, mark price, interval: never
    # assumed 8 h), the live markPrice stream's next settlement, 1-second quote bars from bookTicker and the spans
    # without quotes, and each symbol's contract rules from exchangeInfo.
    """
    CREATE TABLE funding_rates(
        symbol TEXT NOT NULL,
        funding_time INTEGER NOT NULL,
        rate REAL NOT NULL,
        mark_price REAL,
        interval_hours REAL NOT NULL,
        PRIMARY KEY (symbol, funding_time)
    ) WITHOUT ROWID;
    CREATE TABLE funding_now(
        symbol TEXT NOT NULL PRIMARY KEY,
        rate REAL NOT NULL,
        next_funding_time INTEGER NOT NULL,
        mark_price REAL NOT NULL,
        interval_hours REAL,
        as_of INTEGER NOT NULL
    );
    CREATE TABLE quote_bars(
        symbol TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        bid REAL NOT NULL,
        ask REAL NOT NULL,
        bid_size REAL NOT NULL,
        ask_size REAL NOT NULL,
        half_spread REAL NOT NULL,
        PRIMARY KEY (symbol, timestamp)
    ) WITHOUT ROWID;
    CREATE TABLE quote_gaps(
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        from_ts INTEGER NOT NULL,
        to_ts INTEGER NOT NULL,
        detected_at INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ix_quote_gaps_symbol ON quote_gaps(symbol);
    CREATE TABLE contract_rules(
        symbol TEXT NOT NULL PRIMARY KEY,
        tick_size REAL NOT NULL,
        step_size REAL NOT NULL,
        min_notional REAL NOT NULL,
        updated_at INTEGER NOT NULL
    )
    """,
    # v7: every attempt to deliver a notification to a webhook, Telegram, Discord or Slack (dead letters included).
    """
    CREATE TABLE delivery_attempts(
        id INTEGER PRIMARY KEY,
        delivery_id TEXT NOT NULL,
        notice_kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        message TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        http_status INTEGER,
        error TEXT NOT NULL DEFAULT '',
        elapsed_ms INTEGER NOT NULL,
        attempted_at INTEGER NOT NULL
    );
    CREATE INDEX ix_delivery_attempts_status ON delivery_attempts(status, id)
    """,
    # v8: the watchlist (pairs followed with their hedge, windows and bands), the signal events the monitor writes on
    # each new bar (one per watched pair, bar and kind: a restart never writes one twice) and two-leg paper positions
    # (at most one open per watched pair: two tabs or API clients cannot open it twice).
    """
    CREATE TABLE watchlist(
        id INTEGER PRIMARY KEY,
        symbol_x TEXT NOT NULL,
        symbol_y TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        hedge_method TEXT NOT NULL,
        hedge_window INTEGER NOT NULL,
        z_window INTEGER NOT NULL,
        band_kind TEXT NOT NULL,
        entry REAL NOT NULL,
        exit REAL NOT NULL,
        stop REAL,
        max_hold_bars INTEGER,
        capital REAL NOT NULL CHECK (capital > 0),
        fee_bps REAL NOT NULL CHECK (fee_bps >= 0),
        cost_bps REAL NOT NULL CHECK (cost_bps >= 0),
        auto_trade INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        evaluated_ms INTEGER,
        rearm INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX ux_watchlist_pair ON watchlist(symbol_x, symbol_y, timeframe);
    CREATE TABLE signal_events(
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL,
        bar_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        zscore REAL,
        spread REAL,
        beta REAL,
        price_x REAL NOT NULL,
        price_y REAL NOT NULL,
        recorded_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX ux_signal_events_bar ON signal_events(watch_id, bar_ms, kind);
    CREATE TABLE pair_positions(
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL,
        symbol_x TEXT NOT NULL,
        symbol_y TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
        qty_x REAL NOT NULL,
        qty_y REAL NOT NULL,
        beta REAL NOT NULL,
        entry_price_x REAL NOT NULL CHECK (entry_price_x > 0),
        entry_price_y REAL NOT NULL CHECK (entry_price_y > 0),
        opened_at INTEGER NOT NULL,
        entry_fees REAL NOT NULL,
        entry_spread REAL NOT NULL,
        leg_status TEXT NOT NULL,
        imbalance REAL NOT NULL,
        entry_signal_id INTEGER,
        exit_price_x REAL,
        exit_price_y REAL,
        closed_at INTEGER,
        exit_fees REAL,
        exit_spread REAL,
        exit_signal_id INTEGER,
        close_reason TEXT,
        realized_pnl REAL
    );
    CREATE UNIQUE INDEX ux_pair_positions_open ON pair_positions(watch_id) WHERE closed_at IS NULL;
    CREATE UNIQUE INDEX ux_pair_positions_signal ON pair_positions(entry_signal_id)
    """,
)


# How a reader sees the ticks of a file from before v4 (ticks keyed without their id space) while it is not upgraded:
# each row as migration v4 will store it (positive ids from the default aggTrade stream, the others id-less uploads).
OLD_TICKS_VIEW = (
    "CREATE TEMP VIEW ticks AS SELECT symbol, CASE WHEN trade_id > 0 THEN 0 ELSE 2 END AS id_space, trade_id, "
    "timestamp, price, size, is_buyer_maker, received_at FROM main.ticks"
)


def migrate(conn: Connection) -> int:
    """Apply pending schema migrations (PRAGMA user_version) in one write transaction; the version is read inside
    it, so processes opening a file at once run each migration once, and while one upgrades a large file the others
    wait for it, saying so (storage.sqlite_upgrade). Refuse a database newer than this code."""
    upgrade(conn, MIGRATIONS)
    return SCHEMA_VERSION


def read_as_current(conn: Connection) -> None:
    """Let a read-only connection read a file of an older schema as the current one: a ticks table without its id
    space (before v4) is read through OLD_TICKS_VIEW (a TEMP view, which hides main.ticks by name), inside one read
    transaction held until the connection closes, so every query sees that old file even if an upgrade commits
    meanwhile."""
    if user_version(conn) >= 4:
        return
    conn.execute("BEGIN")
    columns = {row[1] for row in conn.execute("PRAGMA main.table_info(ticks)")}
    if columns and "id_space" not in columns:
        conn.execute(OLD_TICKS_VIEW)
    else:
        conn.execute("COMMIT")  # nothing to translate (a file being created, or its upgrade just committed)


def clear_all(conn: Connection) -> None:
    """Delete every tick, bar, gap, alert and backfill record (all or nothing), then reclaim the space."""
    conn.clear(TABLES)
