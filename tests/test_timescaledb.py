"""The TimescaleDB layout: on a server that preloads the extension a new database keeps raw ticks in a hypertable of
day chunks, TimescaleDB's policy compresses closed days, late trades still land once in a compressed day, retention
moves whole chunks to Parquet, and a server that only has the extension's files falls back to day partitions. Runs
on throw-away clusters (tests/pg_cluster.py); skips where the extension is not installed (CI: not in Debian)."""

from __future__ import annotations

import contextlib
import logging

import pg_cluster
import pyarrow.parquet as pq
import pytest
from test_postgres import DAY, DAY0, day_ticks

import database as db
from data_feed import Tick
from storage import timescale
from storage.postgres import PgConnection

pytestmark = pytest.mark.timeout(120)


def compress_closed_days(conn: PgConnection) -> None:
    """Run TimescaleDB's compression policy now (the background worker would within the hour)."""
    (job,) = conn.raw.execute(
        "SELECT job_id FROM timescaledb_information.jobs "
        "WHERE hypertable_name = 'ticks' AND proc_name = 'policy_compression'"
    ).fetchone()
    conn.raw.execute(f"CALL run_job({job})")


def chunks(conn: PgConnection) -> list[tuple[int, int, bool]]:
    """(range start, range end, compressed) of each chunk of ticks, oldest first."""
    return [
        tuple(r)
        for r in conn.raw.execute(
            "SELECT range_start_integer, range_end_integer, is_compressed FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'ticks' ORDER BY range_start_integer"
        ).fetchall()
    ]


def test_a_new_database_keeps_ticks_in_a_hypertable_of_day_chunks(tsdb_server, caplog):
    url = tsdb_server.create_database()
    with caplog.at_level(logging.INFO), contextlib.closing(db.open_writer(url)) as conn:
        assert conn.hypertable
        batch = day_ticks(0) + day_ticks(1, first_id=100) + day_ticks(3, first_id=200)
        first, again = db.write_ticks(conn, batch), db.write_ticks(conn, batch[:7])
        assert (first.total_inserted, again.total_inserted, again.duplicates) == (60, 0, 7)
        assert [c[:2] for c in chunks(conn)] == [(DAY0 + d * DAY, DAY0 + (d + 1) * DAY) for d in (0, 1, 3)]
        assert not conn.partitions, "a hypertable makes its own chunks: no day partitions are made"
        assert db.read_ticks(conn, ["BTCUSDT"])["trade_id"].tolist() == [t.trade_id for t in batch]
        info = db.store_info(conn)
        assert "TimescaleDB hypertable: 3 day chunks" in info.layout and not info.notes  # (the policy may
        # already have compressed these old days in the background)
    assert "TimescaleDB hypertable" in caplog.text


def test_closed_days_are_compressed_and_still_take_late_trades_once(tsdb_server):
    """The policy compresses days that closed more than two hours ago and leaves today alone; a repair that brings
    a missing trade of a compressed day, together with one already stored, stores the new one only."""
    url = tsdb_server.create_database()
    now = db.now_ms()
    today = now // DAY * DAY
    with contextlib.closing(db.open_writer(url)) as conn:
        old = day_ticks(0) + day_ticks(1, first_id=100)
        live = [Tick("BTCUSDT", 900 + i, now - 60_000 + i, 61_000.0, 1.0, True, now) for i in range(5)]
        db.write_ticks(conn, old + live)
        compress_closed_days(conn)
        assert [c[2] for c in chunks(conn)] == [True, True, False]
        assert chunks(conn)[-1][0] == today
        late = [Tick("BTCUSDT", 50, DAY0 + 3_700_000, 60_100.0, 2.0, False, now), old[3]]
        result = db.write_ticks(conn, late)
        assert (result.total_inserted, result.duplicates) == (1, 1)
        stored = db.read_ticks(conn, ["BTCUSDT"])
        assert len(stored) == 46 and stored["trade_id"].is_unique
        assert db.read_ticks(conn, ["BTCUSDT"], DAY0, DAY0 + DAY)["trade_id"].tolist() == [*range(1, 21), 50]
        stats = timescale.chunk_stats(conn.raw)
        assert (stats.chunks, stats.compressed) == (3, 2) and stats.before_bytes > 0 and stats.after_bytes > 0


def test_retention_moves_whole_compressed_days_to_parquet(tsdb_server, tmp_path):
    url = tsdb_server.create_database()
    with contextlib.closing(db.open_writer(url)) as conn:
        db.write_ticks(conn, day_ticks(0) + day_ticks(1, first_id=100) + day_ticks(5, first_id=500))
        compress_closed_days(conn)
        report = db.apply_retention(conn, 2, tmp_path, DAY0 + 5 * DAY + 7_200_000)
        assert (len(report.files), report.ticks_removed, report.deferred) == (2, 40, 0)
        assert [c[0] for c in chunks(conn)] == [DAY0 + 5 * DAY]
        assert pq.read_table(report.files[0]).column("trade_id").to_pylist() == list(range(1, 21))
        (summary,) = db.symbol_summaries(conn)
        assert (summary.tick_count, summary.first_ts) == (20, DAY0 + 5 * DAY + 3_600_000)


def test_a_day_written_after_its_export_keeps_its_chunk(tsdb_server, tmp_path):
    """A late trade lands in a compressed day between its export and its drop: the chunk stays for the next pass."""
    url = tsdb_server.create_database()
    with contextlib.closing(db.open_writer(url)) as conn:
        db.write_ticks(conn, day_ticks(0))
        compress_closed_days(conn)
        assert conn.drop_ticks_day(DAY0 // DAY, {"BTCUSDT": 19}) is None
        assert len(db.read_ticks(conn, ["BTCUSDT"])) == 20 and len(chunks(conn)) == 1
        report = db.apply_retention(conn, 1, tmp_path, DAY0 + 3 * DAY)
        assert (report.ticks_removed, report.deferred) == (20, 0) and chunks(conn) == []


def test_clearing_the_database_drops_every_chunk(tsdb_server):
    url = tsdb_server.create_database()
    with contextlib.closing(db.open_writer(url)) as conn:
        db.write_ticks(conn, day_ticks(0) + day_ticks(2, first_id=100))
        compress_closed_days(conn)
        db.clear_all(conn)
        assert chunks(conn) == [] and db.symbol_summaries(conn) == []
        assert db.write_ticks(conn, day_ticks(0)).total_inserted == 20


def test_a_server_that_does_not_preload_the_extension_gets_day_partitions(caplog):
    """The extension's files are installed but the server does not preload it: CREATE EXTENSION fails, the new
    database falls back to day partitions, and the log and Data Management say why TimescaleDB is not used."""
    if pg_cluster.binaries() is None or not pg_cluster.timescaledb_installed():
        pytest.skip("TimescaleDB is not installed for this machine's PostgreSQL")
    with pg_cluster.cluster() as server, caplog.at_level(logging.INFO):
        url = server.create_database()
        with contextlib.closing(db.open_writer(url)) as conn:
            assert not conn.hypertable
            assert db.write_ticks(conn, day_ticks(0)).total_inserted == 20
            info = db.store_info(conn)
            assert "1 day partition" in info.layout
            (note,) = info.notes
            assert note.startswith("TimescaleDB is available on the server") and "not used" in note
    assert "the server does not preload it" in caplog.text


@pytest.mark.parametrize("preload", [False, True])
def test_a_collector_role_that_is_not_a_superuser_creates_the_schema(preload):
    """The README's set-up gives the collectors a plain role owning the database. Detecting TimescaleDB read
    shared_preload_libraries, which only a superuser may: the first collector's migration failed outright. Now a
    plain owner gets day partitions where the server does not preload the extension, and the hypertable where it
    does (TimescaleDB is a trusted extension: a database owner may create it)."""
    if pg_cluster.binaries() is None or not pg_cluster.timescaledb_installed():
        pytest.skip("TimescaleDB is not installed for this machine's PostgreSQL")
    import psycopg

    with pg_cluster.cluster(timescaledb=preload) as server:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE ROLE collector LOGIN")
            admin.execute("CREATE DATABASE ticks OWNER collector")
        with contextlib.closing(db.open_writer(server.url("ticks").replace("postgres@", "collector@"))) as conn:
            assert conn.hypertable is preload
            assert db.write_ticks(conn, day_ticks(0)).total_inserted == 20
