"""What every table module shares: the connection type both backends satisfy, their errors, the transaction block,
small SQL helpers. Table modules write one SQL text for both backends (`?` placeholders, ON CONFLICT, RETURNING,
CASE instead of SQLite's two-argument min/max); only storage.connection, storage.schema and storage.postgres know
which backend they talk to."""
from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from core.vocabulary import IdSpace

log = logging.getLogger(__name__)


class Connection(Protocol):
    """The DB-API subset the table modules use; sqlite3.Connection has it, storage.postgres.PgConnection adds it
    to a psycopg connection (translating `?` placeholders)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


@dataclass(frozen=True)
class StoreInfo:
    """What a database target runs on, as Data Management shows it: the engine and its version, how raw ticks are
    laid out, and what the server offers that this program does not use."""

    engine: str
    layout: str
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "; ".join((self.engine, self.layout, *self.notes))


SPACE_CODES = {IdSpace.AGG_TRADE: 0, IdSpace.TRADE: 1, IdSpace.UPLOAD: 2, IdSpace.SIMULATED: 3}   # ticks.id_space
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)   # a row broke a CHECK or NOT NULL constraint
DatabaseError = (sqlite3.Error, psycopg.Error)


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
    return isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected,
                            psycopg.errors.SerializationFailure))


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


def apply_migrations(execute: Callable[[str], Any], migrations: Sequence[str], version: int,
                     record: Callable[[int], Any]) -> None:
    """Run the migrations after `version`, statement by statement, recording each version reached (inside the
    caller's transaction, so a failure leaves the schema as it was); refuse a database newer than this code."""
    if version > len(migrations):
        raise RuntimeError(f"database schema v{version} is newer than this program understands "
                           f"(v{len(migrations)})")
    for target in range(version + 1, len(migrations) + 1):
        for statement in migrations[target - 1].split(";"):
            if statement.strip():
                execute(statement)
        record(target)
        log.info("database migrated to schema v%d", target)


def is_postgres(target: str) -> bool:
    """Whether a database target (CRYPTO_DB_PATH / DATABASE_URL / --db) names a PostgreSQL server."""
    return target.startswith(("postgresql://", "postgres://"))
