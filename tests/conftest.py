"""Shared fixtures: paths to the real Binance recordings (tests skip when ../shared is absent), a fresh database path
and the fake Binance server."""

from __future__ import annotations

import os
from pathlib import Path

import pg_cluster
import pytest
from fake_binance import FakeBinance

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "binance"


@pytest.fixture
def shared_data() -> Path:
    """Directory of the real Binance data files; skip when this checkout has no ../shared beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data/binance not present: this test needs the real Binance recordings")
    return SHARED_DATA


# Modules whose `db_path` tests also run on PostgreSQL (a test that needs SQLite itself is marked sqlite_only).
BOTH_BACKENDS = {"test_faults", "test_collector", "test_api", "test_app", "test_reliability"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        "db_path" in metafunc.fixturenames
        and metafunc.module.__name__ in BOTH_BACKENDS
        and metafunc.definition.get_closest_marker("sqlite_only") is None
    ):
        metafunc.parametrize("db_path", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_path(request, tmp_path) -> str:
    """A fresh database: a file path inside the test's temp dir, or (the postgresql parameter of BOTH_BACKENDS
    modules) a new database on the session's throw-away PostgreSQL cluster."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("pg_server").create_database()
    return str(tmp_path / "ticks.db")


@pytest.fixture(scope="session")
def pg_server():
    """One throw-away PostgreSQL cluster for the whole run (skips when Debian's postgresql is not installed). With
    PG_TIMESCALEDB=1 it preloads TimescaleDB, so every server-backend test runs on the hypertable layout."""
    if pg_cluster.binaries() is None:
        pytest.skip("PostgreSQL binaries not found: install Debian's postgresql package (CI does) or set PG_BIN")
    with pg_cluster.cluster(timescaledb=os.environ.get("PG_TIMESCALEDB") == "1") as server:
        yield server


@pytest.fixture(scope="session")
def tsdb_server():
    """A throw-away cluster preloading TimescaleDB (skips when the extension is not installed: it is not in Debian's
    archive; CI runs the plain-partition layout only)."""
    if pg_cluster.binaries() is None or not pg_cluster.timescaledb_installed():
        pytest.skip(
            "TimescaleDB is not installed for this machine's PostgreSQL (not in Debian's archive: install "
            "timescaledb-2-postgresql-15 from Timescale's repository or build it from source)"
        )
    with pg_cluster.cluster(timescaledb=True) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, tmp_path) -> str:
    """A fresh database on each backend: a SQLite file path, then a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ticks.db")
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def fb(request):
    """A fake Binance (WebSocket + REST + archive) on loopback for one test; a module or test marked
    `@pytest.mark.fake_binance(**options)` gets a server built with those FakeBinance options."""
    marker = request.node.get_closest_marker("fake_binance")
    with FakeBinance(**(marker.kwargs if marker else {})) as server:
        yield server
