"""The SQLite backend's connection: a sqlite3.Connection (storage.connection opens it with `factory=`) with the
storage.sql.Connection operations SQLite does its own way — multi-row INSERTs for tick batches, cursor streaming,
retention deleting a day in short slices, clearing with DELETE and VACUUM. Its schema is storage/schema.py."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from core.clock import DAY_MS
from storage.sql import StoreInfo, transaction

SLICE_MS = 10 * 60_000  # retention deletes a day in 10-minute slices (one short transaction each)
_INSERT_CHUNKS = (1024, 128, 16, 1)  # rows per INSERT statement; few distinct sizes keep the statement cache warm


@functools.cache
def _insert_ticks_sql(rows: int) -> str:
    values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO ticks(symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at, id_space) "
        f"VALUES {values} ON CONFLICT DO NOTHING"
    )


class SqliteConnection(sqlite3.Connection):
    """A connection to one SQLite file (autocommit: transactions are explicit, storage.sql.transaction)."""

    @property
    def lost(self) -> bool:
        return False  # a file has no session to lose

    def reopen(self) -> None:
        pass

    def store_info(self) -> StoreInfo:
        return StoreInfo(
            f"SQLite {sqlite3.sqlite_version}",
            "raw ticks in one table (WAL: readers never block the writer; retention deletes a day in 10-minute slices)",
        )

    def prepare_write(self, stamps_ms: Iterable[int]) -> None:
        pass  # one table, nothing to make first

    def insert_ticks(self, by_symbol: Mapping[str, list[tuple]]) -> dict[str, int]:
        """Insert tick rows symbol by symbol with multi-row statements, counting the new ones by each statement's
        rowcount. One statement step per chunk instead of one per row (executemany) halves the cost and, above all,
        the GIL hand-offs with the socket thread."""
        return {symbol: self._insert(rows) for symbol, rows in by_symbol.items()}

    def _insert(self, rows: list[tuple]) -> int:
        inserted = done = 0
        for size in _INSERT_CHUNKS:
            sql = _insert_ticks_sql(size)
            while len(rows) - done >= size:
                inserted += self.execute(sql, list(itertools.chain.from_iterable(rows[done : done + size]))).rowcount
                done += size
        return inserted

    def stream(self, sql: str, parameters: Any, chunk_rows: int) -> Iterator[list[tuple]]:
        cur = self.execute(sql, parameters)
        while rows := cur.fetchmany(chunk_rows):
            yield rows

    def try_advisory_lock(self, key: int) -> bool:
        return True  # one machine: the file's write lock serialises its writers

    def advisory_unlock(self, key: int) -> None:
        pass

    def drop_ticks_day(self, day: int, exported: dict[str, int]) -> int | None:
        """Delete each exported symbol's ticks of the day in SLICE_MS slices, one short transaction each, so a
        collector's live batches are never held up for long; then correct its symbol_stats row."""
        return sum(self._drop_symbol_day(symbol, day) for symbol in exported)

    def _drop_symbol_day(self, symbol: str, day: int) -> int:
        lo, hi = day * DAY_MS, (day + 1) * DAY_MS
        removed = 0
        for start in range(lo, hi, SLICE_MS):
            with transaction(self):
                removed += self.execute(
                    "DELETE FROM ticks WHERE symbol=? AND timestamp>=? AND timestamp<?",
                    (symbol, start, min(hi, start + SLICE_MS)),
                ).rowcount
        with transaction(self):
            (first,) = self.execute("SELECT min(timestamp) FROM ticks WHERE symbol=?", (symbol,)).fetchone()
            self.execute(
                "UPDATE symbol_stats SET tick_count=tick_count-?, first_ts=? WHERE symbol=?", (removed, first, symbol)
            )
        return removed

    def clear(self, tables: Sequence[str]) -> None:
        """DELETE every table's rows in one transaction, then VACUUM the file down."""
        with transaction(self):
            for table in tables:
                self.execute(f"DELETE FROM {table}")  # table names are the caller's fixed literals
        self.execute("VACUUM")
