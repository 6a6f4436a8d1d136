"""Retention and the Parquet cold tier: raw ticks older than N days leave the database, each closed symbol-day first
written to its Parquet file (zstd, with page checksums; ~5 bytes per trade instead of ~90 in SQLite or ~170 in
PostgreSQL), which replay, import and the tick parsers read back, every page's CRC checked. Bars (1 s / 1 min
rollups, klines, uploads) stay: charts, analytics and the scanner keep working over the dropped days.

A day's file only ever grows. A pass merges what the database holds of the day into what the file already holds
(a tick once per (symbol, id space, trade id): the file's copy is kept), writes the result under a hidden temporary
name in the same folder, fsyncs it and renames it over the file, and only then drops from the database the rows it
exported: how a day leaves the database is the connection's own (Connection.drop_ticks_day — PostgreSQL drops a whole
day partition at once, SQLite deletes the day in short slices so a collector's live batches are never held up for
long), and both re-count the rows inside the transaction that deletes them, leaving a day (or a slice) that gained a
tick since its export for the next pass. A crash at any point therefore leaves every trade in the database or in the
file, and the next pass finishes the job: a leftover temporary file is removed, a file that already holds every stored
tick of its day is not rewritten, and the drop goes on.

Files written before page checksums were added are read as they are (feed.parquet logs that damage inside them
cannot be detected) and get checksums when a pass next merges new ticks into them. A cold file that fails its
checksums is never overwritten: its day stays in the database, with an error in the log naming the file."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.clock import DAY_MS
from storage.sql import MINUTE_MS, Connection, ExportedTicks
from storage.ticks import TICK_COLUMNS, stream_ticks, symbol_summaries

log = logging.getLogger(__name__)

_RETENTION_LOCK = 7_432_003  # advisory lock: one collector on a server applies retention at a time
_DIR_LOCK = ".retention.lock"  # and one pass at a time writes a cold folder (a collector and `collector.py retention`)
_PARTIAL = ".partial"  # a file being written: COLD_DIR/SYMBOL/.SYMBOL-ticks-DAY.parquet.partial (hidden from replay)
_ROW_GROUP = 200_000
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


class DamagedColdFile(RuntimeError):
    """A symbol-day's Parquet file cannot be read back whole (a page fails its checksum, the file is cut off): it is
    left as it is, and its day's ticks stay in the database."""


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass did: symbol-day files written, ticks removed from the database, and expired
    symbol-days left for the next pass (ticks written since their export, a busy table, a damaged cold file)."""

    files: list[Path]
    ticks_removed: int
    deferred: int = 0

    def __str__(self) -> str:
        text = f"{len(self.files)} symbol-day file(s) written, {self.ticks_removed:,} ticks removed"
        return text + (f", {self.deferred} symbol-day(s) left for the next pass" if self.deferred else "")


@dataclass(frozen=True)
class ColdExport:
    """One symbol-day merged into its cold file: the file, the ticks the database held of the day (the rows a drop
    may delete), how many of them the file did not hold yet (0: it was not rewritten), and the file's rows now."""

    path: Path
    ticks: ExportedTicks
    added: int
    rows: int


def cold_path(cold_dir: str | Path, symbol: str, day: int) -> Path:
    """The Parquet file of one symbol-day: COLD_DIR/SYMBOL/SYMBOL-ticks-YYYY-MM-DD.parquet."""
    return Path(cold_dir) / symbol / f"{symbol}-ticks-{_date(day)}.parquet"


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


def export_day(conn: Connection, symbol: str, day: int, cold_dir: str | Path) -> ColdExport:
    """Merge one symbol-day's stored ticks into its Parquet file (streamed in chunks, bounded memory): the ticks the
    file lacks are added, in time order, and the result replaces the file atomically (a temporary name, fsync,
    rename, fsync of the folder); a file that already holds them all is left as it is. Raises DamagedColdFile when
    the file there cannot be read back whole (it is never overwritten then)."""
    path = cold_path(cold_dir, symbol, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = _ColdFile.open(path)
    minutes: dict[int, int] = {}
    fresh = _fresh(_stored(conn, symbol, day, minutes), old)
    first = next(fresh, None)
    added, rows = 0, old.rows if old else 0
    if first is not None:
        partial = path.with_name(f".{path.name}{_PARTIAL}")
        stored = _Counted(_chain(first, fresh))
        merged = _merged(old.batches() if old else iter(()), stored)
        with pq.ParquetWriter(
            partial,
            PARQUET_SCHEMA,
            compression="zstd",
            compression_level=9,
            use_dictionary=["symbol", "id_space", "is_buyer_maker", "size"],
            column_encoding=_ENCODINGS,
            write_page_checksum=True,
        ) as writer:
            for table in _regrouped(merged):
                writer.write_table(table, row_group_size=_ROW_GROUP)
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        added = stored.rows
        rows += added
        _publish(partial, path)
    ticks = ExportedTicks(symbol, day, tuple(sorted(minutes.items())))
    return ColdExport(path, ticks, added, rows)


def apply_retention(conn: Connection, keep_days: int, cold_dir: str | Path, now_ms: int) -> RetentionReport:
    """Move every expired symbol-day to Parquet, then out of the database, oldest day first (see the module
    docstring for why a crash at any point loses nothing). A day whose export fails stays in the database. On a
    shared server one collector at a time applies it, and one pass at a time writes a cold folder; a day that
    cannot be dropped whole now ends the pass (the rest waits for the next one)."""
    if not conn.try_advisory_lock(_RETENTION_LOCK):
        return RetentionReport([], 0)  # another collector on this server is applying it
    try:
        with _folder_lock(Path(cold_dir)) as held:
            if not held:
                log.info("retention: another pass is writing %s; this one is skipped", cold_dir)
                return RetentionReport([], 0)
            return _apply(conn, keep_days, Path(cold_dir), now_ms)
    finally:
        conn.advisory_unlock(_RETENTION_LOCK)


def _apply(conn: Connection, keep_days: int, cold_dir: Path, now_ms: int) -> RetentionReport:
    by_day: dict[int, list[str]] = {}
    for symbol, day in list(expired_days(conn, keep_days, now_ms)):
        by_day.setdefault(day, []).append(symbol)
    files: list[Path] = []
    removed = deferred = 0
    for day in sorted(by_day):
        exports: list[ColdExport] = []
        try:
            for symbol in by_day[day]:
                export = export_day(conn, symbol, day, cold_dir)
                exports.append(export)
                if export.added:
                    files.append(export.path)
                log.info(
                    "retention: %s of %s → %s (%d ticks stored, %d of them new to the file, which holds %d)",
                    symbol,
                    _date(day),
                    export.path,
                    export.ticks.count,
                    export.added,
                    export.rows,
                )
        except DamagedColdFile as exc:
            log.error("retention: %s; the ticks of %s stay in the database", exc, _date(day))
            deferred += len(by_day[day])
            continue
        drop = conn.drop_ticks_day(day, [export.ticks for export in exports])
        removed += drop.removed
        if not drop.complete:
            return RetentionReport(files, removed, deferred + sum(len(by_day[d]) for d in by_day if d >= day))
    return RetentionReport(files, removed, deferred)


def cold_tier_usage(cold_dir: str | Path) -> tuple[int, int]:
    """(files, bytes) of the Parquet cold tier."""
    files = list(Path(cold_dir).glob("*/*.parquet")) if Path(cold_dir).is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)


@contextlib.contextmanager
def _folder_lock(cold_dir: Path) -> Iterator[bool]:
    """Hold the cold folder's lock file for a pass (True), or say another process holds it (False); a temporary
    file left by a pass that crashed is removed once the lock is held."""
    cold_dir.mkdir(parents=True, exist_ok=True)
    with open(cold_dir / _DIR_LOCK, "a+b") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            for stale in cold_dir.glob(f"*/.*{_PARTIAL}"):
                log.info("retention: removing %s, left by a pass that did not finish", stale)
                stale.unlink(missing_ok=True)
            yield True
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _publish(partial: Path, path: Path) -> None:
    """Put a written, fsynced file in place of the day's file in one step, and make the rename itself durable."""
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class _ColdFile:
    """A symbol-day's existing Parquet file, read back whole once (every page's CRC checked where the file has
    them) before anything relies on it: its rows, the (id space, trade id) keys it holds, its batches."""

    def __init__(self, path: Path, rows: int, keys: dict[str, np.ndarray]) -> None:
        self.path, self.rows, self._keys = path, rows, keys

    @classmethod
    def open(cls, path: Path) -> _ColdFile | None:
        if not path.exists():
            return None
        keys: dict[str, list[np.ndarray]] = {}
        rows = 0
        try:
            for batch in _read(path):  # every column: a damaged page anywhere refuses the file
                rows += batch.num_rows
                spaces = batch.column("id_space")
                ids = batch.column("trade_id")
                for space in pc.unique(spaces).drop_null().to_pylist():
                    keys.setdefault(space, []).append(ids.filter(pc.equal(spaces, space)).to_numpy())
        except (pa.ArrowException, OSError) as exc:
            raise DamagedColdFile(f"{path} cannot be read back ({exc}); it is left as it is") from None
        return cls(path, rows, {space: np.unique(np.concatenate(parts)) for space, parts in keys.items()})

    def holds(self, batch: pa.RecordBatch) -> np.ndarray:
        """Which rows of a batch the file already holds (by id space and trade id)."""
        held = np.zeros(batch.num_rows, dtype=bool)
        spaces = batch.column("id_space").to_numpy(zero_copy_only=False)
        ids = batch.column("trade_id").to_numpy()
        for space, known in self._keys.items():
            mine = spaces == space
            if mine.any():
                held[mine] = np.isin(ids[mine], known, assume_unique=False)
        return held

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from _read(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise DamagedColdFile(f"{self.path} cannot be read back ({exc}); it is left as it is") from None


def _read(path: Path) -> Iterator[pa.RecordBatch]:
    """A cold file's rows in PARQUET_SCHEMA, batch by batch, every page's CRC checked."""
    table = pq.ParquetFile(path, page_checksum_verification=True)
    for batch in table.iter_batches(batch_size=_ROW_GROUP, columns=PARQUET_SCHEMA.names):
        yield pa.RecordBatch.from_arrays(
            [batch.column(name).cast(field.type) for name, field in zip(PARQUET_SCHEMA.names, PARQUET_SCHEMA)],
            schema=PARQUET_SCHEMA,
        )


def _stored(conn: Connection, symbol: str, day: int, minutes: dict[int, int]) -> Iterator[pa.RecordBatch]:
    """The day's stored ticks as batches in time order, counted per minute into `minutes` as they go by."""
    for chunk in stream_ticks(conn, [symbol], day * DAY_MS, (day + 1) * DAY_MS, chunk_rows=_ROW_GROUP):
        columns = list(zip(*chunk, strict=True))
        arrays = [
            pa.array([bool(v) for v in col] if field.type == pa.bool_() else col, type=field.type)
            for col, field in zip(columns, PARQUET_SCHEMA, strict=True)
        ]  # SQLite's flag is 0/1
        batch = pa.record_batch(arrays, schema=PARQUET_SCHEMA)
        found, counts = np.unique(batch.column("timestamp").to_numpy() // MINUTE_MS, return_counts=True)
        for minute, n in zip(found.tolist(), counts.tolist(), strict=True):
            minutes[minute] = minutes.get(minute, 0) + n
        yield batch


def _fresh(stored: Iterator[pa.RecordBatch], old: _ColdFile | None) -> Iterator[pa.RecordBatch]:
    """The stored ticks the cold file does not hold yet (all of them when there is no file)."""
    for batch in stored:
        if old is not None:
            batch = batch.filter(pa.array(~old.holds(batch)))
        if batch.num_rows:
            yield batch


class _Counted:
    """An iterator of batches that counts the rows it hands out."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches, self.rows = batches, 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        batch = next(self._batches)
        self.rows += batch.num_rows
        return batch


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _merged(a: Iterator[pa.RecordBatch], b: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Two streams of batches, each in time order, as one in time order, holding about a batch of each: rows up to
    the smaller of the two held batches' last times go out (neither source can send an earlier one later)."""
    sources = [a, b]
    held = [PARQUET_SCHEMA.empty_table(), PARQUET_SCHEMA.empty_table()]
    ended = [False, False]
    while True:
        for i, source in enumerate(sources):
            while not ended[i] and held[i].num_rows == 0:
                batch = next(source, None)
                if batch is None:
                    ended[i] = True
                else:
                    held[i] = pa.Table.from_batches([batch])
        if not any(table.num_rows for table in held):
            return
        marks = [table.column("timestamp")[-1].as_py() for table, done in zip(held, ended, strict=True) if not done]
        mark = min(marks) if marks else None
        out = []
        for i, table in enumerate(held):
            cut = (
                table.num_rows
                if mark is None
                else int(np.searchsorted(table.column("timestamp").to_numpy(), mark, "right"))
            )
            out.append(table.slice(0, cut))
            held[i] = table.slice(cut)
        yield pa.concat_tables(out).sort_by([("timestamp", "ascending"), ("trade_id", "ascending")])


def _regrouped(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Tables gathered into about _ROW_GROUP rows each (a merge can emit many small ones)."""
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        if table.num_rows:
            pending.append(table)
            rows += table.num_rows
        if rows >= _ROW_GROUP:
            yield pa.concat_tables(pending).combine_chunks()
            pending, rows = [], 0
    if pending:
        yield pa.concat_tables(pending).combine_chunks()


def _date(day: int) -> str:
    return dt.datetime.fromtimestamp(day * DAY_MS / 1000, dt.UTC).date().isoformat()
