"""A throw-away PostgreSQL cluster for the server-backend tests and benchmarks: Debian's postgresql binaries,
`initdb` + `pg_ctl` on a temporary directory and a free loopback port (as the postgres user when run as root, which
CI is), trust authentication on loopback only, stopped and deleted afterwards. Durability is off (fsync,
synchronous_commit) unless asked for: a test cluster is rebuilt each run. A cluster may preload TimescaleDB when the
extension is installed next to the binaries (then every new database holds its ticks in a hypertable)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from served import free_port


def database_env(target: str) -> dict[str, str]:
    """The environment variable that points a collector or dashboard process at `target`."""
    return {"DATABASE_URL": target} if target.startswith("postgresql://") else {"CRYPTO_DB_PATH": target}


def binaries() -> Path | None:
    """The directory of initdb/pg_ctl (PG_BIN, else the newest /usr/lib/postgresql/*/bin), or None."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def timescaledb_installed() -> bool:
    """Whether the TimescaleDB extension is installed for these binaries (its control file in their share dir)."""
    bin_dir = binaries()
    if bin_dir is None:
        return False
    share = subprocess.run([str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip()
    return bool(share) and (Path(share) / "extension" / "timescaledb.control").exists()


class Cluster:
    """A running cluster: `url(name)` of a database in it, `create_database()` for a fresh one, `restart()`."""

    def __init__(self, port: int, pg_ctl: list[str], timescaledb: bool) -> None:
        self.port = port
        self.timescaledb = timescaledb  # the server preloads TimescaleDB: new databases are hypertables
        self._pg_ctl = pg_ctl  # pg_ctl with its data directory, log and server options
        self._names = itertools.count(1)

    def restart(self, down_s: float) -> None:
        """Stop the server (its sessions are cut, as in a crash or failover), keep it down `down_s`, start it."""
        subprocess.run([*self._pg_ctl, "-m", "fast", "-w", "stop"], check=True, capture_output=True)
        time.sleep(down_s)
        subprocess.run([*self._pg_ctl, "-w", "-t", "60", "start"], check=True, capture_output=True)

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self) -> str:
        """A new empty database (CREATE DATABASE copies template0's few files: ~0.1 s)."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def cluster(*, durable: bool = False, timescaledb: bool = False) -> Iterator[Cluster]:
    """Start a cluster for the block (preloading TimescaleDB if asked); raise RuntimeError (with initdb/pg_ctl's
    output) if it cannot start."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found (install Debian's postgresql package or set PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    options = ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(sock), "-c", "max_connections=200"]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    if timescaledb:
        # no background jobs: the compression policy runs when a test or benchmark calls run_job, never in the middle
        # of a test's own direct writes (a chunk being compressed and an INSERT into it can deadlock; the collector's
        # writer retries such a batch, a test calling write_ticks directly does not)
        options += [
            "-c",
            "shared_preload_libraries=timescaledb",
            "-c",
            "timescaledb.telemetry_level=off",
            "-c",
            "timescaledb.max_background_workers=0",
        ]
    pg_ctl = _as_postgres(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", " ".join(options)]
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run([*pg_ctl, "-w", "-t", "60", "start"], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"cannot start PostgreSQL: {exc.stdout}{exc.stderr}{log}") from None
    try:
        yield Cluster(port, pg_ctl, timescaledb)
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
