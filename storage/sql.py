"""What every table module shares: the connection type, its errors, the transaction block, small SQL helpers."""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence

Connection = sqlite3.Connection
IntegrityError = sqlite3.IntegrityError      # a row broke a CHECK or NOT NULL constraint (e.g. a NaN price)
DatabaseError = sqlite3.Error


class DamagedDatabase(RuntimeError):
    """The database file failed SQLite's quick_check: writing into it could spread the damage."""


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection: committed when the block ends, rolled back (and the
    error re-raised) when it fails, so nothing is ever left half-done or open."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")


def rollback(conn: Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so itself (it does after SQLITE_FULL and
    some I/O errors): a failing ROLLBACK must never hide the error that caused it."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def is_busy(exc: BaseException) -> bool:
    """The database was locked by another connection for longer than busy_timeout (worth waiting for, unlike a
    full disk or a damaged file)."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def in_clause(values: Sequence[str]) -> str:
    """Placeholders for `IN (...)` with one parameter per value."""
    return ",".join("?" * len(values))


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just created (always set after a successful single-row INSERT)."""
    if cur.lastrowid is None:
        raise sqlite3.OperationalError("INSERT created no row")
    return cur.lastrowid
