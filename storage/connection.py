"""Opening SQLite databases: one write connection per writer thread (WAL, schema migrated on open), short-lived
read-only ones per rerun or export; and the file's size on disk."""
from __future__ import annotations

import os
import sqlite3
import time

from storage.schema import migrate
from storage.sql import Connection


def _apply_pragmas(conn: Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=67108864")


def _enable_wal(conn: Connection, timeout_s: float = 5.0) -> None:
    """Switch a (new) file to WAL mode. SQLite answers "locked" at once, without its busy handler, while another
    process creates the same file, so this retries for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_writer(path: str) -> Connection:
    """Open (creating and migrating if needed) a write connection in WAL mode; use it only in the calling thread."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    _enable_wal(conn)
    _apply_pragmas(conn)
    migrate(conn)
    return conn


def open_reader(path: str) -> Connection:
    """Open a read-only connection (cheap: open one per rerun or export and close it)."""
    if not os.path.exists(path):
        ensure_database(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    _apply_pragmas(conn)
    return conn


def ensure_database(path: str) -> None:
    """Create the database file and bring its schema up to date."""
    open_writer(path).close()


def database_size_bytes(path: str) -> int:
    """Bytes on disk of the database and its WAL."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
