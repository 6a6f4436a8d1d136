"""TimescaleDB, when the server offers it (detected, never required): a new database keeps raw ticks in a hypertable
of one-day chunks instead of declarative day partitions, TimescaleDB's own background policy compresses each closed
day (columnar, segmented by symbol, ordered by the key), and retention drops whole chunks. A database keeps the
layout it was created with; everything else (tables, SQL, the key) is the same on both layouts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from core.clock import DAY_MS
from storage.sql import error_line

log = logging.getLogger(__name__)

COMPRESS_AFTER_MS = 2 * 3_600_000  # a day is compressed 2 h after it closes: late repairs land before
# Run after the ticks table exists (created without PARTITION BY), inside the migration's transaction. Integer time
# (ms since the epoch) needs a "now" function for the policy; chunks are UTC days as the partitions were.
HYPERTABLE_SETUP: tuple[str, ...] = (
    f"SELECT create_hypertable('ticks', by_range('timestamp', {DAY_MS}::bigint))",
    "CREATE FUNCTION ticks_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE "
    "AS $$ SELECT (extract(epoch FROM now()) * 1000)::BIGINT $$",
    "SELECT set_integer_now_func('ticks', 'ticks_now_ms')",
    "ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol', "
    "timescaledb.compress_orderby = 'timestamp, id_space, trade_id')",
    f"SELECT add_compression_policy('ticks', compress_after => {COMPRESS_AFTER_MS}::bigint)",
)


def enable(raw: psycopg.Connection) -> bool:
    """Whether a new database can hold its ticks in a hypertable: the extension is installed in it, or is on offer,
    preloaded by the server (asking for it otherwise ends the session) and can be created now (the role may need
    rights); when it cannot, why is logged and the plain day partitions serve. Runs inside the migration's
    transaction (a refused CREATE EXTENSION is rolled back to a savepoint). Preloading shows as the loader's own
    settings, which any role may read (shared_preload_libraries itself only a superuser may)."""
    row = raw.execute(
        "SELECT installed_version, current_setting('timescaledb.max_background_workers', true) "
        "FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return False
    installed, loader = row
    why = "" if loader is not None else "the server does not preload it: add it to shared_preload_libraries"
    if installed is None and not why:
        try:
            with raw.transaction():
                raw.execute("CREATE EXTENSION timescaledb")
        except psycopg.Error as exc:
            why = error_line(exc)
    if why:
        log.warning(
            "TimescaleDB is on the server but cannot be used in this database (%s); raw ticks go to plain "
            "day partitions",
            why,
        )
    return not why


def is_hypertable(raw: psycopg.Connection) -> bool:
    """Whether this database's ticks table is a hypertable (a plain table at the top; the partitioned layout's is a
    partitioned table) — read from the catalogue, so it works whether or not the extension is installed."""
    row = raw.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('ticks')").fetchone()
    return row is not None and row[0] == "r"


def day_chunks(raw: psycopg.Connection, day: int) -> list[str]:
    """The chunk tables holding one UTC day's ticks (one, as chunks are days)."""
    return [
        r[0]
        for r in raw.execute(
            "SELECT show_chunks('ticks', newer_than => %s::bigint, older_than => %s::bigint)::text",
            (day * DAY_MS, (day + 1) * DAY_MS),
        ).fetchall()
    ]


def drop_day(raw: psycopg.Connection, day: int) -> None:
    """Drop the chunks of one UTC day (inside the caller's transaction)."""
    raw.execute(
        "SELECT drop_chunks('ticks', newer_than => %s::bigint, older_than => %s::bigint)",
        (day * DAY_MS, (day + 1) * DAY_MS),
    )


@dataclass(frozen=True)
class ChunkStats:
    """The hypertable's chunks: how many, how many compressed, and the compressed ones' size before and after."""

    chunks: int
    compressed: int
    before_bytes: int
    after_bytes: int

    def __str__(self) -> str:
        text = (
            f"raw ticks in a TimescaleDB hypertable: {self.chunks:,} day chunk{'' if self.chunks == 1 else 's'}, "
            f"{self.compressed:,} compressed"
        )
        if self.compressed:
            text += f" ({self.before_bytes / 2**20:,.1f} MB → {self.after_bytes / 2**20:,.1f} MB)"
        return text + "; retention drops whole days"


def chunk_stats(raw: psycopg.Connection) -> ChunkStats:
    """Chunk counts and compression figures from TimescaleDB's own views."""
    counted = raw.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'ticks'"
    ).fetchone()
    sizes = raw.execute(
        "SELECT coalesce(before_compression_total_bytes, 0), "
        "coalesce(after_compression_total_bytes, 0) FROM hypertable_compression_stats('ticks')"
    ).fetchone()
    chunks, compressed = counted or (0, 0)
    before, after = sizes or (0, 0)
    return ChunkStats(int(chunks), int(compressed), int(before), int(after))
