"""The database backends a benchmark compares side by side in one run: a SQLite file, PostgreSQL with day partitions
on a throw-away cluster (tests/pg_cluster.py), and TimescaleDB (a hypertable of day chunks, closed days compressed) on
a second throw-away cluster preloading the extension — skipped, with a note, where the extension is not installed."""

from __future__ import annotations

import contextlib
import itertools
import logging
from pathlib import Path

import pg_cluster

log = logging.getLogger(__name__)
BACKENDS = ("sqlite", "postgresql", "timescaledb")


class Backends:
    """The clusters a run needs, started once; `new(backend)` makes a fresh empty database target on one."""

    def __init__(self, stack: contextlib.ExitStack, names: list[str], workdir: Path, *, durable: bool) -> None:
        if "timescaledb" in names and not pg_cluster.timescaledb_installed():
            print("(timescaledb skipped: the extension is not installed for this machine's PostgreSQL)", flush=True)
            names = [n for n in names if n != "timescaledb"]
        self.names = names
        self.workdir = workdir
        self._files = itertools.count(1)
        self._servers = {
            name: stack.enter_context(pg_cluster.cluster(durable=durable, timescaledb=name == "timescaledb"))
            for name in names
            if name != "sqlite"
        }

    def new(self, backend: str) -> str:
        """A new empty database on `backend`: a SQLite path in the work dir, or a new database's URL."""
        if backend == "sqlite":
            return str(self.workdir / f"bench_{next(self._files)}.db")
        return self._servers[backend].create_database()


def compress_closed_days(target: str) -> None:
    """TimescaleDB: run the compression policy now (the server's background worker would within the hour), so the
    figures are those of closed days as they stay on disk; nothing on other backends."""
    import database as db

    conn = db.open_writer(target)
    try:
        if getattr(conn, "hypertable", False):
            (job,) = conn.execute(
                "SELECT job_id FROM timescaledb_information.jobs "
                "WHERE hypertable_name = 'ticks' AND proc_name = 'policy_compression'"
            ).fetchone()
            conn.execute(f"CALL run_job({job})")
    finally:
        conn.close()
