"""Opening SQLite databases: one write connection per writer thread (WAL, schema migrated on open), short-lived
read-only ones per rerun or export; and the file's size on disk."""
from __future__ import annotations

import os
import sqlite3

from storage.schema import migrate
from storage.sql import Connection


def _apply_pragmas(conn: Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=67108864")


def open_writer(path: str) -> Connection:
    """Open (creating and migrating if needed) a write connection in WAL mode; use it only in the calling thread."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
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
