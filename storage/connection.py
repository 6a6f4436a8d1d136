"""Opening databases: a target is a SQLite file path or a postgresql:// URL (storage.postgres). One write connection
per writer thread (SQLite: WAL, schema migrated on open), short-lived read-only ones per rerun or export; and the
database's size on disk."""

from __future__ import annotations

import os
import sqlite3
import time

from storage import postgres
from storage.schema import migrate, read_as_current
from storage.sql import Connection, DamagedDatabase, StoreInfo, is_postgres
from storage.sqlite import SqliteConnection


def _apply_pragmas(conn: Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=67108864")


def open_writer(path: str, *, verify: bool = False) -> Connection:
    """Open (creating and migrating if needed) a write connection in WAL mode; use it only in the calling thread.
    With `verify` (a collector's start) a damaged file is refused before anything is written into it. A
    postgresql:// target opens a server session instead (its own integrity is the server's business)."""
    if is_postgres(path):
        return postgres.connect(path)
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, factory=SqliteConnection)
    try:
        if verify:
            check_integrity(conn, path)
        _enable_wal(conn)
        _apply_pragmas(conn)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: Connection, timeout_s: float = 5.0) -> None:
    """Switch to WAL mode. Switching needs the file to itself and SQLite does not wait for that (no busy
    handler), so a process opening a fresh file while another does retries until the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def check_integrity(conn: Connection, path: str) -> None:
    """SQLite's quick_check (pages, records, indexes' structure; linear in the file size); raise
    DamagedDatabase naming the file and the first problems found."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise DamagedDatabase(
            f"database {path} is damaged (quick_check: {'; '.join(problems)}); nothing was written to it - "
            "restore it from a backup, or move it aside to start a new one (the sqlite3 shell's .recover "
            "can salvage what is readable)"
        )


def open_reader(path: str, *, any_thread: bool = False) -> Connection:
    """Open a read-only connection (cheap: open one per rerun or export and close it). `any_thread` lets a
    streamed HTTP response pull its chunks from whichever worker thread runs next (one at a time, never at once).
    A file of an older schema that no writer has upgraded yet (or one is upgrading now) is read as the current
    schema (storage.schema.read_as_current), never refused or half-read."""
    if is_postgres(path):
        return postgres.connect(path, read_only=True)
    if not os.path.exists(path):
        ensure_database(path)
    conn = sqlite3.connect(
        f"file:{path}?mode=ro",
        uri=True,
        timeout=5.0,
        isolation_level=None,
        check_same_thread=not any_thread,
        factory=SqliteConnection,
    )
    try:
        _apply_pragmas(conn)
        read_as_current(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def ensure_database(path: str) -> None:
    """Create the database (file or schema) and bring its schema up to date."""
    open_writer(path).close()


def database_size_bytes(path: str) -> int:
    """Bytes on disk of the database (SQLite: the file and its WAL; PostgreSQL: the server's database)."""
    if is_postgres(path):
        conn = postgres.connect(path, read_only=True)
        try:
            return postgres.size_bytes(conn)
        finally:
            conn.close()
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def database_exists(path: str) -> bool:
    """Whether a target holds a database already (a SQLite file exists; a server is always there to ask)."""
    return is_postgres(path) or os.path.exists(path)


def repair_locks(path: str) -> postgres.RepairLocks | None:
    """Per-symbol repair coordination between collectors sharing a PostgreSQL server; None for SQLite (one
    machine: the file's write lock serialises writers and the ticks key drops the overlap)."""
    return postgres.RepairLocks(path) if is_postgres(path) else None


def same_target(a: str, b: str) -> bool:
    """Whether two targets name one database (the same file, however spelt; the same URL)."""
    if is_postgres(a) or is_postgres(b):
        return a == b
    return os.path.realpath(a) == os.path.realpath(b)


def describe_target(path: str) -> str:
    """A target as it may be shown in logs and the dashboard (a URL's password hidden)."""
    return postgres.redact(path)


def store_info(conn: Connection) -> StoreInfo:
    """What the open database runs on (engine, version, tick layout, unused server features) for Data Management."""
    return conn.store_info()


def session_lost(conn: Connection) -> bool:
    """Whether the server session behind `conn` is gone (PostgreSQL restarted or failed over, a network cut, the
    session terminated), as the last failed statement found; a SQLite connection to its file never is."""
    return conn.lost


def reopen(conn: Connection) -> None:
    """Give a lost connection a new server session in place (the same object goes on being used); raises
    DATABASE_ERRORS while the server cannot be reached."""
    conn.reopen()
