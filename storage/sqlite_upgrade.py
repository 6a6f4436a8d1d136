"""Upgrading a SQLite file's schema (storage.schema.MIGRATIONS): once, by whichever process opens the file first, in
one write transaction (a kill leaves the old version, never half of the new one).

A large file's upgrade takes a while (schema v4 rebuilds the ticks table: 8M ticks took 17–72 s on a shared 2-core
machine, by its load). Meanwhile the upgrading process logs its progress and keeps a mark beside the file
(`FILE-upgrade`: its pid, the step, rows done of rows to do; rewritten every second); any other process opening the
file for writing waits for the write lock as long as that mark is fresh, saying every few seconds what it waits for,
where it used to fail after busy_timeout ("database is locked"). A lock held that long by a program that is not
upgrading (no fresh mark) is waited out for FOREIGN_LOCK_MAX_S, then refused naming it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.sql import Connection, apply_migrations, is_busy, rollback

log = logging.getLogger(__name__)

MARK_SUFFIX = "-upgrade"  # FILE-upgrade: who upgrades FILE and how far, while they do
TOUCH_EVERY_S = 1.0  # the upgrading process rewrites its mark this often...
MARK_FRESH_S = 15.0  # ...so a mark older than this belongs to a process that died or hangs
LOG_EVERY_S = 5.0  # progress lines, and the lines of a process waiting for an upgrade, this often
POLL_S = 1.0  # a process waiting for the write lock looks at the upgrade mark this often (its busy_timeout meanwhile)
FOREIGN_LOCK_MAX_S = 120.0  # the write lock held by a program that is not upgrading: waited out this long
SLICE_ROWS = 250_000  # a big table's copy runs in key ranges of this many rows, each reported when done

# A copy step of a migration: `INSERT INTO new(...) SELECT ... FROM old` with no WHERE. It runs in ranges of the old
# table's primary key (the same statement, the same transaction), so its progress can be reported.
_COPY = re.compile(r"\s*INSERT\s+INTO\s+\w+\s*\([^)]*\)\s*SELECT\s.+\sFROM\s+(\w+)\s*", re.S | re.I)
_STEPS = (  # a migration statement → what the progress line calls it
    (re.compile(r"\s*CREATE\s+INDEX\s+\w+\s+ON\s+(\w+)", re.I), "indexing {}"),
    (re.compile(r"\s*CREATE\s+TABLE\s+(\w+)", re.I), "creating {}"),
    (re.compile(r"\s*DROP\s+TABLE\s+(\w+)", re.I), "dropping the old {}"),
    (re.compile(r"\s*ALTER\s+TABLE\s+(\w+)", re.I), "renaming {}"),
)


@dataclass(frozen=True)
class UpgradeMark:
    """What the upgrading process says about its upgrade (the content of FILE-upgrade)."""

    pid: int
    from_version: int
    to_version: int
    step: str
    done: int
    total: int
    started: float  # epoch seconds

    def progress(self) -> str:
        """`copying ticks, 2,000,000 of 8,000,000 rows (25%)`, or the step alone when it counts no rows."""
        if not self.total:
            return self.step
        return f"{self.step}, {self.done:,} of {self.total:,} rows ({100 * self.done / self.total:.0f}%)"


def mark_path(path: str) -> str:
    return path + MARK_SUFFIX


def read_mark(path: str) -> UpgradeMark | None:
    """The mark of an upgrade of `path` in progress: None when there is none, or when it was not rewritten for
    MARK_FRESH_S (its process died or hangs)."""
    try:
        with open(mark_path(path), encoding="utf-8") as f:
            if time.time() - os.fstat(f.fileno()).st_mtime > MARK_FRESH_S:
                return None
            return UpgradeMark(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None


def main_file(conn: Connection) -> str:
    """The file path of a connection's main database ("" for an in-memory one)."""
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file or "")
    return ""


def user_version(conn: Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def upgrade(conn: Connection, migrations: Sequence[str]) -> None:
    """Bring the file's schema to len(migrations), once: the version is read again inside the write transaction, so
    processes opening one file at once run each migration once; the others wait for that transaction (see the
    module docstring) and find the file current. Refuse a file newer than this program."""
    target = len(migrations)
    version = user_version(conn)
    if version == target:
        return
    if version > target:
        raise RuntimeError(f"database schema v{version} is newer than this program understands (v{target})")
    path = main_file(conn)
    busy_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout={int(POLL_S * 1000)}")
    try:
        begun = _begin(conn, path, version, target)
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    if not begun:
        return  # another process upgraded it meanwhile
    try:
        version = user_version(conn)
        if version == target:
            conn.execute("COMMIT")
            return
        with _Upgrading(path, version, target, conn) as up:
            apply_migrations(up.execute, migrations, version, lambda v: conn.execute(f"PRAGMA user_version={v}"))
            up.step("committing")
            conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _begin(conn: Connection, path: str, version: int, target: int) -> bool:
    """Take the write lock (BEGIN IMMEDIATE), waiting for whoever holds it: as long as a fresh mark says another
    process is upgrading the file (saying so at once, then every LOG_EVERY_S), else for FOREIGN_LOCK_MAX_S. False
    when the file turned current meanwhile."""
    foreign_since: float | None = None
    next_say = 0.0
    while True:
        mark = read_mark(path) if path else None
        attempt = time.monotonic()
        if mark is not None:
            foreign_since = None
            if attempt >= next_say:
                next_say = attempt + LOG_EVERY_S
                log.info(
                    "waiting for process %d, which is upgrading database %s from schema v%d to v%d (%s, %.0f s so "
                    "far); this program goes on once it is done",
                    mark.pid,
                    path,
                    mark.from_version,
                    mark.to_version,
                    mark.progress(),
                    time.time() - mark.started,
                )
        try:
            conn.execute("BEGIN IMMEDIATE")  # waits busy_timeout (POLL_S) for the lock by itself
            return True
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            cause = exc
        with contextlib.suppress(sqlite3.OperationalError):  # (a rollback-journal file may refuse even a read)
            if user_version(conn) == target:
                return False
        if mark is not None or (path and read_mark(path) is not None):
            continue
        foreign_since = attempt if foreign_since is None else foreign_since
        held = time.monotonic() - foreign_since
        if held >= FOREIGN_LOCK_MAX_S:
            raise sqlite3.OperationalError(
                f"database {path} stayed locked by another program for {held:.0f} s: its schema v{version} could "
                f"not be upgraded to v{target} ({cause})"
            ) from cause
        if time.monotonic() >= next_say:
            next_say = time.monotonic() + LOG_EVERY_S
            log.warning(
                "waiting for the write lock of database %s to upgrade its schema v%d to v%d (another program has "
                "held it for %.0f s; waiting up to %.0f s)",
                path,
                version,
                target,
                held,
                FOREIGN_LOCK_MAX_S,
            )


class _Upgrading:
    """One upgrade in progress: runs its statements (a big copy in key ranges), keeps the mark beside the file
    fresh and logs progress from a heartbeat thread (long single statements, an index build or the commit, report
    no progress of their own), and removes the mark at the end."""

    def __init__(self, path: str, version: int, target: int, conn: Connection) -> None:
        self.path, self.conn = path, conn
        self.mark = UpgradeMark(os.getpid(), version, target, "starting", 0, 0, time.time())
        self.said = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="schema-upgrade", daemon=True)

    def __enter__(self) -> _Upgrading:
        if self.mark.from_version:  # (a new file's schema takes milliseconds: nothing to say)
            log.info(
                "upgrading database %s from schema v%d to v%d in one transaction (other programs opening it wait)",
                self.path,
                self.mark.from_version,
                self.mark.to_version,
            )
        self._write_mark()
        self.thread.start()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        with contextlib.suppress(OSError):
            os.remove(mark_path(self.path))
        if exc_type is None and self.mark.from_version:
            log.info(
                "upgraded database %s from schema v%d to v%d in %.0f s",
                self.path,
                self.mark.from_version,
                self.mark.to_version,
                time.time() - self.mark.started,
            )

    def step(self, step: str, done: int = 0, total: int = 0) -> None:
        self.mark = UpgradeMark(
            self.mark.pid, self.mark.from_version, self.mark.to_version, step, done, total, self.mark.started
        )

    def execute(self, statement: str) -> Any:
        """Run one migration statement (apply_migrations' `execute`)."""
        copy = _COPY.fullmatch(statement)
        if copy is not None and self._copy(statement, copy[1]):
            return None
        self.step(next((words.format(m[1]) for rx, words in _STEPS if (m := rx.match(statement))), "migrating"))
        return self.conn.execute(statement)

    def _copy(self, statement: str, source: str) -> bool:
        """Run a copy from `source` in ranges of its primary key, SLICE_ROWS at a time (False: it has no key)."""
        columns = sorted(self.conn.execute(f"PRAGMA table_info({source})"), key=lambda row: row[5])
        key = [row[1] for row in columns if row[5]]  # the primary key's columns, in its order
        if not key:
            return False
        cols, marks = ", ".join(key), ", ".join("?" * len(key))
        total = int(self.conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0])
        done, low = 0, None
        self.step(f"copying {source}", done, total)
        while True:
            after = f" WHERE ({cols}) > ({marks})" if low else ""
            high = self.conn.execute(
                f"SELECT {cols} FROM {source}{after} ORDER BY {cols} LIMIT 1 OFFSET {SLICE_ROWS - 1}", low or ()
            ).fetchone()
            bounds = ([f"({cols}) > ({marks})"] if low else []) + ([f"({cols}) <= ({marks})"] if high else [])
            where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
            done += self.conn.execute(statement + where, (*(low or ()), *(high or ()))).rowcount
            self.step(f"copying {source}", done, total)
            self._say(force=high is None and total > SLICE_ROWS)
            if high is None:
                return True
            low = high

    def _say(self, force: bool = False) -> None:
        if force or time.monotonic() - self.said >= LOG_EVERY_S:
            self.said = time.monotonic()
            log.info(
                "upgrading database %s from schema v%d to v%d: %s, %.0f s so far",
                self.path,
                self.mark.from_version,
                self.mark.to_version,
                self.mark.progress(),
                time.time() - self.mark.started,
            )

    def _beat(self) -> None:
        while not self.stop.wait(TOUCH_EVERY_S):
            self._write_mark()
            self._say()

    def _write_mark(self) -> None:
        """Rewrite the mark (atomically: a reader never sees half of it); an upgrade never fails for its mark."""
        if not self.path:
            return
        temp = f"{mark_path(self.path)}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(dataclasses.asdict(self.mark), f)
            os.replace(temp, mark_path(self.path))
        except OSError as exc:
            log.debug("could not write the upgrade mark of %s: %s", self.path, exc)
