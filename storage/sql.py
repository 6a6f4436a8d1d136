"""What every table module shares: the connection type both backends satisfy, their errors, the transaction block,
small SQL helpers. Table modules write one SQL text for both backends (`?` placeholders, ON CONFLICT, RETURNING,
CASE instead of SQLite's two-argument min/max) and call the Connection's own methods where the backends work
differently; only storage.connection (which opens them), storage.sqlite (and storage.sqlite_upgrade, a file's schema
upgrade), storage.postgres and storage.timescale know which backend they talk to."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import psycopg

from core.vocabulary import IdSpace

log = logging.getLogger(__name__)


class Connection(Protocol):
    """What the table modules may do with a connection: the DB-API subset they use (storage.sqlite.SqliteConnection
    is a sqlite3.Connection; storage.postgres.PgConnection gives a psycopg session the same methods, translating `?`
    placeholders), and the operations each backend does its own way. Table modules call these and never ask which
    backend they hold."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...

    @property
    def lost(self) -> bool:
        """The server session behind the connection is gone (restart, failover, network cut, terminated), as the
        last failed statement found; never for a SQLite file."""
        ...

    def reopen(self) -> None:
        """Give a lost connection a new server session in place (nothing to do for a SQLite file); raises a
        DATABASE_ERRORS while the server cannot be reached."""
        ...

    def store_info(self) -> StoreInfo:
        """What the database runs on (engine, version, the ticks' layout, unused server features)."""
        ...

    def prepare_write(self, stamps_ms: Iterable[int]) -> None:
        """Before a tick batch's transaction: whatever the batch's rows need to exist first (PostgreSQL: its day
        partitions and the session's staging table), made outside the transaction so a failed batch cannot roll
        them back."""
        ...

    def insert_ticks(self, by_symbol: Mapping[str, list[tuple]]) -> dict[str, int]:
        """Insert a batch's tick rows (symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at,
        id_space code), grouped by symbol in symbol order, once per key inside the caller's transaction; returns
        how many were new per symbol (a symbol with none may be left out)."""
        ...

    def stream(self, sql: str, parameters: Any, chunk_rows: int) -> Iterator[list[tuple]]:
        """A query's rows in chunks of at most `chunk_rows`, never the whole result in memory at once."""
        ...

    def try_advisory_lock(self, key: int) -> bool:
        """Take a lock shared by every session of the database's server, if free (PostgreSQL's advisory lock: one
        collector of several sharing a server does a job); True when held. A SQLite file is written from one
        machine, whose writers its write lock serialises: always True."""
        ...

    def advisory_unlock(self, key: int) -> None:
        """Release a lock taken by try_advisory_lock."""
        ...

    def drop_ticks_day(self, day: int, exported: Sequence[ExportedTicks]) -> DayDrop:
        """Remove the raw ticks of one UTC day (day number since the epoch) that were `exported` to the cold tier,
        and exactly those: the rows are re-counted inside the transaction that deletes them, and a count that moved
        since the export (a late write: a repair, an import, a backfill) keeps them for the next pass, which merges
        them into the day's file. symbol_stats changes in the same transaction as the rows, so a crash at any point
        leaves it true. Returns what was removed and whether the whole day left (PostgreSQL: not when the table was
        busy)."""
        ...

    def clear(self, tables: Sequence[str]) -> None:
        """Empty the given tables, all or nothing, and give their space back."""
        ...


@dataclass(frozen=True)
class StoreInfo:
    """What a database target runs on, as Data Management shows it: the engine and its version, how raw ticks are
    laid out, and what the server offers that this program does not use."""

    engine: str
    layout: str
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "; ".join((self.engine, self.layout, *self.notes))


MINUTE_MS = 60_000


@dataclass(frozen=True)
class ExportedTicks:
    """One symbol-day's ticks as the database held them when retention wrote them to the cold tier: how many in
    each minute of exchange time. Ticks are only ever added, so a drop that counts the same rows in a time range
    inside its own transaction is deleting exactly rows that are in the file."""

    symbol: str
    day: int  # UTC day number since the epoch
    minutes: tuple[tuple[int, int], ...]  # (minute number since the epoch, ticks), ascending; minutes without none

    @property
    def count(self) -> int:
        return sum(n for _, n in self.minutes)

    def between(self, start_ms: int, end_ms: int) -> int:
        """Ticks exported in [start_ms, end_ms) (bounds on whole minutes)."""
        return sum(n for minute, n in self.minutes if start_ms <= minute * MINUTE_MS < end_ms)


@dataclass(frozen=True)
class DayDrop:
    """What a backend's drop of one day did: ticks removed, and whether the day left whole (False: some or all of
    its ticks stay for the next pass)."""

    removed: int
    complete: bool


SPACE_CODES = {IdSpace.AGG_TRADE: 0, IdSpace.TRADE: 1, IdSpace.UPLOAD: 2, IdSpace.SIMULATED: 3}  # ticks.id_space
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)  # a row broke a CHECK or NOT NULL constraint
DATABASE_ERRORS = (sqlite3.Error, psycopg.Error)  # any failure of either backend: catch with `except DATABASE_ERRORS`


class DamagedDatabase(RuntimeError):
    """The database file failed SQLite's quick_check: writing into it could spread the damage."""


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection: committed when the block ends, rolled back (and the
    error re-raised) when it fails, so nothing is ever left half-done or open. A BEGIN that fails (SQLite: another
    connection held the write lock past busy_timeout) opened nothing; a COMMIT that fails (SQLite keeps the
    transaction open after a busy or a deferred constraint's COMMIT) is rolled back like the block, so the caller
    may simply write again."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: Connection) -> None:
    """Roll back the open transaction, if the database has not already done so itself (SQLite does after
    SQLITE_FULL and some I/O errors): a failing ROLLBACK must never hide the error that caused it."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def is_busy(exc: BaseException) -> bool:
    """The database was locked by another connection for longer than its lock timeout (worth waiting for, unlike a
    full disk or a damaged file)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    return isinstance(
        exc, (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
    )


def is_unreachable(exc: BaseException) -> bool:
    """The database server cannot be reached now (down, restarting, failing over, a network cut, or it ended the
    session), as opposed to a fault of the query or the data: worth showing as an outage and retrying."""
    code = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.OperationalError) and (code is None or code.startswith(("08", "57P")))


def error_line(exc: BaseException) -> str:
    """A database error's first line (the server's message; libpq adds hint lines such as "Is the server running
    on that host…?"), for logs and the page."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def in_clause(values: Sequence[str]) -> str:
    """Placeholders for `IN (...)` with one parameter per value."""
    return ",".join("?" * len(values))


def inserted_id(cur: Any) -> int:
    """The id an `INSERT … RETURNING id` created (RETURNING works on SQLite ≥ 3.35 and PostgreSQL alike)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("INSERT created no row")
    return int(row[0])


def limit_clause(limit: int | None) -> str:
    """`LIMIT n` for a row cap, nothing for none (SQLite refuses LIMIT NULL, PostgreSQL LIMIT -1)."""
    return "" if limit is None else f" LIMIT {int(limit)}"


def apply_migrations(
    execute: Callable[[str], Any], migrations: Sequence[str], version: int, record: Callable[[int], Any]
) -> None:
    """Run the migrations after `version`, statement by statement, recording each version reached (inside the
    caller's transaction, so a failure leaves the schema as it was); refuse a database newer than this code."""
    if version > len(migrations):
        raise RuntimeError(f"database schema v{version} is newer than this program understands (v{len(migrations)})")
    for target in range(version + 1, len(migrations) + 1):
        for statement in migrations[target - 1].split(";"):
            if statement.strip():
                execute(statement)
        record(target)
        log.info("database schema v%d applied (the migrations commit together)", target)


def bound_ms(when: Any, default: int) -> int:
    """Epoch ms of a read's time bound (a pandas Timestamp or anything it takes; naive is UTC), `default` for
    None."""
    if when is None:
        return default
    stamp = pd.Timestamp(when)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value // 1_000_000)


def is_postgres(target: str) -> bool:
    """Whether a database target (CRYPTO_DB_PATH / DATABASE_URL / --db) names a PostgreSQL server."""
    return target.startswith(("postgresql://", "postgres://"))
