"""Retention and the Parquet cold tier: raw ticks older than N days leave the database, each closed symbol-day first
written to one Parquet file (zstd; ~5 bytes per trade instead of ~90 in SQLite or ~170 in PostgreSQL), which replay,
import and the tick parsers read back. Bars (1 s / 1 min rollups, klines, uploads) stay: charts, analytics and the
scanner keep working over the dropped days. How a day leaves the database is the connection's own
(Connection.drop_ticks_day): PostgreSQL drops a whole day partition at once; SQLite deletes the day in short slices so
a collector's live batches are never held up for long."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.clock import DAY_MS
from storage.sql import Connection
from storage.ticks import TICK_COLUMNS, stream_ticks, symbol_summaries

log = logging.getLogger(__name__)

_RETENTION_LOCK = 7_432_003  # advisory lock: one collector on a server applies retention at a time
_ARROW_TYPES = {
    "symbol": pa.string(),
    "trade_id": pa.int64(),
    "timestamp": pa.int64(),
    "price": pa.float64(),
    "size": pa.float64(),
    "is_buyer_maker": pa.bool_(),
    "received_at": pa.int64(),
    "id_space": pa.string(),
}
# Ids and times grow steadily: delta-packed they take a few bits each; prices split into byte streams, which zstd
# compresses far better than whole doubles; trade sizes repeat (0.001, 0.002, … lots), so a dictionary wins there.
_ENCODINGS = {
    "trade_id": "DELTA_BINARY_PACKED",
    "timestamp": "DELTA_BINARY_PACKED",
    "received_at": "DELTA_BINARY_PACKED",
    "price": "BYTE_STREAM_SPLIT",
}
PARQUET_SCHEMA = pa.schema([(name, _ARROW_TYPES[name]) for name in TICK_COLUMNS])  # the export's columns, typed


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass did: symbol-days moved to Parquet, ticks removed from the database, and expired
    symbol-days left for the next pass (PostgreSQL: the ticks table was busy, or the day changed after its export)."""

    files: list[Path]
    ticks_removed: int
    deferred: int = 0

    def __str__(self) -> str:
        text = f"{len(self.files)} symbol-day file(s) written, {self.ticks_removed:,} ticks removed"
        return text + (f", {self.deferred} symbol-day(s) left for the next pass" if self.deferred else "")


def cold_path(cold_dir: str | Path, symbol: str, day: int) -> Path:
    """The Parquet file of one symbol-day: COLD_DIR/SYMBOL/SYMBOL-ticks-YYYY-MM-DD.parquet."""
    date = dt.datetime.fromtimestamp(day * DAY_MS / 1000, dt.UTC).date()
    return Path(cold_dir) / symbol / f"{symbol}-ticks-{date.isoformat()}.parquet"


def expired_days(conn: Connection, keep_days: int, now_ms: int) -> Iterator[tuple[str, int]]:
    """(symbol, day number) of every day with stored ticks that ended more than `keep_days` days ago: per symbol
    an index seek per day from its first tick, never a scan of the ticks themselves."""
    cutoff_day = now_ms // DAY_MS - keep_days  # days before this one are expired (whole UTC days only)
    for summary in symbol_summaries(conn):
        if summary.first_ts is None:
            continue
        for day in range(summary.first_ts // DAY_MS, cutoff_day):
            if conn.execute(
                "SELECT 1 FROM ticks WHERE symbol=? AND timestamp>=? AND timestamp<? LIMIT 1",
                (summary.symbol, day * DAY_MS, (day + 1) * DAY_MS),
            ).fetchone():
                yield summary.symbol, day


def export_day(conn: Connection, symbol: str, day: int, cold_dir: str | Path) -> tuple[Path, int]:
    """Write one symbol-day's ticks to Parquet (streamed in chunks; written to a temporary name, fsynced, then
    renamed, so a crash never leaves a half file under the real name); returns the file and its row count."""
    path = cold_path(cold_dir, symbol, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    rows = 0
    with pq.ParquetWriter(
        partial,
        PARQUET_SCHEMA,
        compression="zstd",
        compression_level=9,
        use_dictionary=["symbol", "id_space", "is_buyer_maker", "size"],
        column_encoding=_ENCODINGS,
    ) as writer:
        for chunk in stream_ticks(conn, [symbol], day * DAY_MS, (day + 1) * DAY_MS, chunk_rows=200_000):
            columns = list(zip(*chunk, strict=True))
            arrays = [
                pa.array([bool(v) for v in col] if field.type == pa.bool_() else col, type=field.type)
                for col, field in zip(columns, PARQUET_SCHEMA, strict=True)
            ]  # SQLite's flag is 0/1
            writer.write_batch(pa.record_batch(arrays, schema=PARQUET_SCHEMA))
            rows += len(chunk)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)
    return path, rows


def apply_retention(conn: Connection, keep_days: int, cold_dir: str | Path, now_ms: int) -> RetentionReport:
    """Move every expired symbol-day to Parquet, then out of the database, oldest day first. A day whose export
    fails stays in the database (nothing is dropped that is not safely on disk); an export already on disk is
    written again (the database is the source until the drop). On a shared server one collector at a time applies
    it, and a day that cannot be dropped now ends the pass (the rest waits for the next one)."""
    if not conn.try_advisory_lock(_RETENTION_LOCK):
        return RetentionReport([], 0)  # another collector on this server is applying it
    try:
        return _apply(conn, keep_days, cold_dir, now_ms)
    finally:
        conn.advisory_unlock(_RETENTION_LOCK)


def _apply(conn: Connection, keep_days: int, cold_dir: str | Path, now_ms: int) -> RetentionReport:
    by_day: dict[int, list[str]] = {}
    for symbol, day in list(expired_days(conn, keep_days, now_ms)):
        by_day.setdefault(day, []).append(symbol)
    files: list[Path] = []
    removed = 0
    for day in sorted(by_day):
        exported: dict[str, int] = {}
        for symbol in by_day[day]:
            path, exported[symbol] = export_day(conn, symbol, day, cold_dir)
            files.append(path)
            log.info(
                "retention: %s of %s → %s (%d ticks)",
                symbol,
                path.stem.rsplit("-ticks-", 1)[-1],
                path,
                exported[symbol],
            )
        if (dropped := conn.drop_ticks_day(day, exported)) is not None:
            removed += dropped
        else:
            return RetentionReport(files, removed, sum(len(by_day[d]) for d in by_day if d >= day))
    return RetentionReport(files, removed)


def cold_tier_usage(cold_dir: str | Path) -> tuple[int, int]:
    """(files, bytes) of the Parquet cold tier."""
    files = list(Path(cold_dir).glob("*/*.parquet")) if Path(cold_dir).is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)
