"""The PostgreSQL backend as a shared store: several collector processes (two machines, in production) write one
server with overlapping symbols and disconnects, and every trade is stored once; a repair of a symbol is done by
one collector at a time. Runs on the session's throw-away cluster (tests/pg_cluster.py); skips without one."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pg_cluster
import psycopg
import pytest
from fake_binance import FakeBinance
from served import free_port
from test_faults import store_trades
from waiting import wait_until

import collector
import database as db
from collection.pipeline import Pipeline
from collection.queue import TickQueue
from collection.repair import run_repairs
from collection.writer import run_writer
from data_feed import BinanceFuturesFeed, BinanceRest, NoArchive, Tick
from storage.postgres import _REPAIR_LOCKS, PG_SCHEMA_VERSION
from storage.sql import DayDrop, ExportedTicks

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def stored_ids(url: str, symbol: str) -> list[int]:
    with contextlib.closing(db.open_reader(url)) as conn:
        return [
            r[0]
            for r in conn.execute("SELECT trade_id FROM ticks WHERE symbol=? ORDER BY trade_id", (symbol,)).fetchall()
        ]


def assert_every_trade_once(fb: FakeBinance, url: str, symbols: list[str], timeout_s: float = 30) -> None:
    """Wait until the database holds exactly the exchange's trades of each symbol, each once."""
    for symbol in symbols:
        want = list(fb.history_ids(symbol))
        assert wait_until(lambda s=symbol, w=want: stored_ids(url, s) == w, timeout_s), (
            f"{symbol}: {len(stored_ids(url, symbol))} of {len(want)}"
        )


def started_collector(fb: FakeBinance, url: str, **feed_options: float) -> collector.Collector:
    """An in-process collector of SYMBOLS on the fake exchange, writing `url` in 50 ms batches, once subscribed
    (quick reconnects; `feed_options` for the feed's stall detection)."""
    feed = BinanceFuturesFeed(fb.ws_base, backoff_initial_s=0.05, backoff_max_s=0.3, **feed_options)
    c = collector.Collector(url, feed, rest=BinanceRest(fb.rest_base, max_retry_wait_s=5), flush_interval_ms=50)
    c.start(SYMBOLS)
    if not fb.wait_subscribed(SYMBOLS):
        c.stop()
        raise AssertionError("the collector did not subscribe")
    return c


def gaps_of(url: str) -> list:
    with contextlib.closing(db.open_reader(url)) as conn:
        return db.list_gaps(conn)


def collector_process(fb: FakeBinance, url: str, symbols: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "BINANCE_WS_URL": fb.ws_base,
        "BINANCE_REST_URL": fb.rest_base,
        "DATABASE_URL": url,
        "FLUSH_INTERVAL_MS": "50",
        "SYMBOLS": ",".join(symbols),
        "LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "collector.py"), "--feed", "binance", "--status-interval", "1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(*procs: subprocess.Popen) -> list[str]:
    """SIGTERM the collector processes and return what each logged."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    return [proc.communicate(timeout=30)[1] for proc in procs]


def test_two_collectors_on_one_server_store_every_trade_once(pg_server):
    """Collector A takes BTC and ETH, collector B ETH and SOL; both are cut off three times while trades flow.
    Each cut leaves a hole in each collector's stream; ETH's holes are seen by both, and repaired by one of them
    at a time (the other finds them filled or fills what is left). The table ends with exactly the exchange's
    trades."""
    url = pg_server.create_database()
    db.ensure_database(url)
    with FakeBinance() as fb:
        a = collector_process(fb, url, ["BTCUSDT", "ETHUSDT"])
        b = collector_process(fb, url, ["ETHUSDT", "SOLUSDT"])
        try:
            assert fb.wait_subscribed(["ETHUSDT"], timeout=30, connections=2)
            assert fb.wait_subscribed(["BTCUSDT"], timeout=30) and fb.wait_subscribed(["SOLUSDT"], timeout=30)
            job = fb.stream_trades(["BTCUSDT", "ETHUSDT", "SOLUSDT"], count=None, rate_per_s=600)
            for _ in range(3):
                wait_until(lambda: False, 1.0)  # trades flow for a second...
                fb.drop_connections(abrupt=True)  # ...then both collectors are cut off
                assert fb.wait_subscribed(["ETHUSDT"], timeout=30, connections=2)
                assert fb.wait_subscribed(["BTCUSDT"], timeout=30) and fb.wait_subscribed(["SOLUSDT"], timeout=30)
            job.stop()
            fb.stream_trades(["BTCUSDT", "ETHUSDT", "SOLUSDT"], count=30, rate_per_s=300).wait(10)
            assert_every_trade_once(fb, url, ["BTCUSDT", "ETHUSDT", "SOLUSDT"], timeout_s=60)
            # a repair commits its trades, then its outcome: the last gap may read open for a moment
            assert wait_until(lambda: {g.status for g in gaps_of(url)} == {"repaired"}, 30), gaps_of(url)
        except BaseException as exc:
            exc.add_note("collector logs (last lines):\n" + "\n---\n".join(log[-4000:] for log in stop(a, b)))
            raise
        logs = stop(a, b)
        assert a.returncode == 0 and b.returncode == 0, logs
        assert not any("Traceback" in log for log in logs), logs


def _pipeline(fb: FakeBinance, url: str) -> Pipeline:
    """A collector's threads without a live feed: its writer finds the open gaps and its repair thread fills them."""
    feed, rest = BinanceFuturesFeed(fb.ws_base), BinanceRest(fb.rest_base)
    p = Pipeline(url, feed, rest, NoArchive("off"), TickQueue(1000, 100), 0.05, True, 0, 0)
    p.symbols = ("BTCUSDT",)
    return p


def _repair_lock_free(url: str, symbol: str) -> bool:
    """Whether no session holds `symbol`'s repair lock (taken and given back at once if free)."""
    key = (_REPAIR_LOCKS, zlib.crc32(symbol.encode()) & 0x7FFFFFFF)
    with psycopg.connect(url, autocommit=True) as probe:
        free = bool(probe.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0])
        if free:
            probe.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return free


def test_a_gap_both_collectors_resume_is_repaired_once_under_a_lock_held_until_committed(pg_server):
    """Issue 24 item 8: two collectors start with the same open gap (recorded before a restart, so it is each one's
    job). The first to take the symbol's repair lock fills it, and keeps the lock until its writer has committed the
    outcome - here held up by another session holding the gap's row, as a slow commit would. Before: the lock was
    let go once the writer had taken the last batch, before it committed it, and the second collector then closed
    the same gap again ("filled by another collector", 0 trades), over the first one's outcome."""
    url = pg_server.create_database()
    with FakeBinance() as fb:
        fb.generate("BTCUSDT", 300, spacing_ms=100)
        history = fb.history("BTCUSDT")
        store_trades(url, "BTCUSDT", history[:100] + history[200:])
        with contextlib.closing(db.open_writer(url)) as conn:
            gap_id = db.record_gap(
                conn, "BTCUSDT", history[100].agg_id, history[199].agg_id, history[99].time_ms, history[200].time_ms
            )
        pipes = [_pipeline(fb, url) for _ in range(2)]
        threads = [threading.Thread(target=run_writer, args=(p, 100), daemon=True) for p in pipes]
        threads += [threading.Thread(target=run_repairs, args=(p,), daemon=True) for p in pipes]
        with psycopg.connect(url) as blocker:  # (not autocommit: the row stays locked until the commit below)
            blocker.execute("SELECT id FROM gaps WHERE id = %s FOR UPDATE", (gap_id,))
            for thread in threads:
                thread.start()
            try:
                assert wait_until(lambda: stored_ids(url, "BTCUSDT") == list(fb.history_ids("BTCUSDT")), 30)
                time.sleep(1.0)  # the other collector asks for the lock every 0.1 s
                assert not _repair_lock_free(url, "BTCUSDT"), "the repair lock was let go before the commit"
                blocker.commit()
                assert wait_until(lambda: [g.status for g in gaps_of(url)] == ["repaired"], 30), gaps_of(url)
                assert wait_until(lambda: all(p.idle() for p in pipes), 30)
                time.sleep(1.0)  # time for the other collector to take the lock and look (it must not touch the gap)
            finally:
                for p in pipes:
                    p.stop.set()
                    p.queue.ready.set()
                    p.repair_wake.set()
                for thread in threads:
                    thread.join(10)
        [gap] = gaps_of(url)
        assert (gap.status, gap.repaired_count) == ("repaired", 100) and "another collector" not in gap.note, gap
        assert fb.stats().rest_requests.get("/fapi/v1/aggTrades") == 1  # fetched once
        assert stored_ids(url, "BTCUSDT") == list(fb.history_ids("BTCUSDT"))


def test_a_dashboard_role_with_select_rights_only_reads_a_current_database(pg_server):
    """Dashboards may log in with a role that can only read: its sessions never write (not even to check the
    schema), so they read a database a collector has created; on a new database they say why they cannot start."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as writer:
        db.write_ticks(writer, [Tick("BTCUSDT", 1, 1_723_161_000_000, 60_000.0, 1.0, False, 1_723_161_000_005)])
        writer.execute("CREATE ROLE dash_reader LOGIN")
        writer.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO dash_reader")
    reader_url = url.replace("postgresql://postgres@", "postgresql://dash_reader@")
    with contextlib.closing(db.open_reader(reader_url)) as reader:
        assert db.stored_symbols(reader) == ["BTCUSDT"]
        assert db.read_ticks(reader, ["BTCUSDT"])["trade_id"].tolist() == [1]
    with pytest.raises(db.DATABASE_ERRORS, match="permission denied"):
        db.open_reader(pg_server.create_database().replace("postgresql://postgres@", "postgresql://dash_reader@"))


def test_a_newer_schema_is_refused_before_anything_is_read_or_written(pg_server):
    """A server database migrated by a newer version of this program (another machine upgraded first): an older
    collector or dashboard refuses it by name instead of writing rows the newer schema does not expect."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as writer:
        writer.execute("INSERT INTO schema_version(version) VALUES (?)", (PG_SCHEMA_VERSION + 1,))
    code = (
        "import sys, database\n"
        "try:\n    database.open_reader(sys.argv[1])\nexcept RuntimeError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"newer than this program understands (v{PG_SCHEMA_VERSION})" in out.stdout, out.stderr
    with pytest.raises(RuntimeError, match="newer than this program"):
        db.open_writer(url)


DAY = 86_400_000
DAY0 = 1_723_161_000_000 // DAY * DAY  # 00:00 UTC of a day


def day_ticks(day: int, n: int = 20, first_id: int = 1) -> list[Tick]:
    """n BTCUSDT trades one second apart from 01:00 UTC of day DAY0 + day."""
    start = DAY0 + day * DAY + 3_600_000
    return [
        Tick("BTCUSDT", first_id + i, start + 1000 * i, 60_000.0 + i, 1.0, False, start + 1000 * i + 5)
        for i in range(n)
    ]


def in_thread(work) -> threading.Thread:
    """Run `work` in a daemon thread (a test that finds it blocked can still end)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_collectors_creating_the_same_day_partition_at_once_all_succeed(pg_server):
    """Two collectors on one server reach a new UTC day together: both create the day's table. CREATE TABLE IF NOT
    EXISTS is not race-free in PostgreSQL: the loser may get 'type "ticks_d…" already exists' (DuplicateObject, from
    the table's row type), which failed its batch (seen once in CI). Every racer now finds the partition in place."""
    from storage.postgres import add_partition

    url = pg_server.create_database()
    db.open_writer(url).close()  # the schema
    racers = 4
    sessions = [psycopg.connect(url, autocommit=True) for _ in range(racers)]
    failures: list[BaseException] = []
    try:
        for day in range(30_000, 30_040):
            start = threading.Barrier(racers)

            def race(raw: psycopg.Connection, day: int = day, start: threading.Barrier = start) -> None:
                start.wait(10)
                try:
                    add_partition(raw, day)
                except Exception as exc:
                    failures.append(exc)

            threads = [in_thread(lambda raw=raw: race(raw)) for raw in sessions]
            for thread in threads:
                thread.join(30)
        assert not failures, failures[:3]
        attached = (
            sessions[0]
            .execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ticks'::regclass "
                "AND inhrelid::regclass::text LIKE 'ticks_d300%'"
            )
            .fetchone()
        )
        assert attached == (40,)
    finally:
        for raw in sessions:
            raw.close()


def test_a_new_day_partition_never_waits_for_a_long_read(pg_server):
    """At UTC midnight the first batch of a new day needs its partition. CREATE TABLE … PARTITION OF locks the whole
    ticks table exclusively, so it waited for any open read of ticks (a streamed export running for minutes) while
    every other collector and dashboard queued behind it. Attaching a prepared table takes only a lock that reads
    and writes share: the batch goes through at once."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as writer:
        db.write_ticks(writer, day_ticks(0))
        with contextlib.closing(db.open_reader(url)) as reader:
            export = db.stream_ticks(reader, ["BTCUSDT"], chunk_rows=5)
            next(export)  # an export is running: its transaction is open
            done: list[int] = []
            thread = in_thread(lambda: done.append(db.write_ticks(writer, day_ticks(2, first_id=1000)).total_inserted))
            thread.join(10)
            waited = thread.is_alive()
            export.close()
            thread.join(10)
        assert not waited, "the batch of a new day waited for the export"
        assert done == [20]
        assert db.read_ticks(writer, ["BTCUSDT"])["trade_id"].tolist()[-1] == 1019


def test_retention_never_stalls_the_server_behind_an_open_read(pg_server, tmp_path):
    """Dropping a day's partition locks the whole ticks table. It waited for any open read of ticks (an export
    streaming for minutes) while the collectors' batches queued behind it. Now the drop waits at most a second: the
    day stays for the next pass, the batch goes through, and once the read is over the next pass drops the day."""
    url = pg_server.create_database()
    now = DAY0 + 5 * DAY + 7_200_000
    with contextlib.closing(db.open_writer(url)) as retention, contextlib.closing(db.open_writer(url)) as writer:
        db.write_ticks(writer, day_ticks(0) + day_ticks(5, first_id=500))
        with contextlib.closing(db.open_reader(url)) as reader:
            export = db.stream_ticks(reader, ["BTCUSDT"], start_ms=DAY0 + 5 * DAY, chunk_rows=5)
            next(export)
            reports: list[db.RetentionReport] = []
            passing = in_thread(lambda: reports.append(db.apply_retention(retention, 1, tmp_path, now)))
            written: list[int] = []
            batch = in_thread(
                lambda: written.append(db.write_ticks(writer, day_ticks(5, 5, first_id=900)).total_inserted)
            )
            passing.join(10)
            batch.join(10)
            stalled = passing.is_alive() or batch.is_alive()
            export.close()
            passing.join(10)
            batch.join(10)
        assert not stalled, "retention or the batch waited for the export"
        if writer.hypertable:  # dropping a chunk locks that day only: the read of another day does not hold it
            assert written == [5] and (reports[0].deferred, reports[0].ticks_removed) == (0, 20)
        else:
            assert written == [5] and reports[0].deferred == 1 and reports[0].ticks_removed == 0
            assert len(reports[0].files) == 1  # the day's file was written: the next pass only drops the day
            report = db.apply_retention(retention, 1, tmp_path, now)
            assert (report.ticks_removed, report.deferred, len(report.files)) == (20, 0, 0)
        (summary,) = db.symbol_summaries(writer)
        assert (summary.tick_count, summary.first_ts) == (25, DAY0 + 5 * DAY + 3_600_000)
        assert db.read_ticks(writer, ["BTCUSDT"])["trade_id"].min() == 500


def test_a_day_written_after_its_export_stays_until_exported_again(pg_server, tmp_path):
    """A late repair or import lands in a day between its export and its drop: the drop would lose that tick, so
    the day stays (the next pass exports it again, with the tick, and drops it)."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as conn:
        db.write_ticks(conn, day_ticks(0))
        one_short = ExportedTicks("BTCUSDT", DAY0 // DAY, ((DAY0 // 60_000 + 60, 19),))  # one more than exported
        assert conn.drop_ticks_day(DAY0 // DAY, [one_short]) == DayDrop(0, False)
        assert len(db.read_ticks(conn, ["BTCUSDT"])) == 20
        report = db.apply_retention(conn, 1, tmp_path, DAY0 + 3 * DAY)
        assert (report.ticks_removed, report.deferred) == (20, 0)
        assert db.read_ticks(conn, ["BTCUSDT"]).empty and db.symbol_summaries(conn)[0].tick_count == 0


def test_live_ticks_prepare_tomorrows_partition(pg_server):
    """The first batch after UTC midnight finds its partition made the day before (no DDL in the midnight batch);
    replayed old days get no extra partitions."""
    if pg_server.timescaledb:
        pytest.skip("day partitions only: a hypertable makes its own chunks (PG_TIMESCALEDB=1)")
    url = pg_server.create_database()
    now = db.now_ms()
    with contextlib.closing(db.open_writer(url)) as conn:
        db.write_ticks(conn, day_ticks(0))
        db.write_ticks(conn, [Tick("ETHUSDT", 1, now, 3_000.0, 1.0, False, now + 5)])
        names = {
            r[0]
            for r in conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'ticks'::regclass"
            ).fetchall()
        }
        layout = db.store_info(conn).layout  # Data Management counts tomorrow's apart
    assert layout.startswith("raw ticks in 2 day partitions (+1 made ahead for tomorrow)")
    today = now // DAY
    assert names == {f"ticks_d{DAY0 // DAY}", f"ticks_d{today}", f"ticks_d{today + 1}"}


def terminate_sessions(url: str) -> int:
    """Cut every session of this program on the server (what a server restart or a failover does to them)."""
    with psycopg.connect(url, autocommit=True, application_name="test") as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'binance-analytics' AND datname = current_database()"
            ).fetchall()
        )


def test_a_collector_survives_losing_its_server_sessions(pg_server):
    """The server drops the collector's sessions (restart, failover, an administrator) while trades flow, and the
    exchange link drops too, so a gap must be repaired over the lost sessions: the writer opens a new session and
    writes the batch in hand again, the repair thread's lock session does the same; every trade is stored once and
    the collector never fails."""
    url = pg_server.create_database()
    with FakeBinance(ping_interval_s=1.0, ping_timeout_s=5.0) as fb:
        c = started_collector(fb, url, stall_first_s=2.0, stall_idle_s=2.0)
        try:
            job = fb.stream_trades(SYMBOLS, count=1500, rate_per_s=1000)
            wait_until(lambda: False, 0.5)
            assert terminate_sessions(url) >= 2  # the writer's and the repair locks' sessions
            wait_until(lambda: False, 0.2)
            fb.drop_connections(abrupt=True)
            job.wait(30)
            assert fb.wait_subscribed(SYMBOLS, timeout=15)
            fb.stream_trades(SYMBOLS, count=30, rate_per_s=200).wait(10)
            assert_every_trade_once(fb, url, SYMBOLS)
            stats = c.stats()
            assert c.state.value == "running" and stats.gaps_repaired >= 1, (c.state, stats.last_error)
        finally:
            c.stop()


def test_a_collector_waits_out_a_server_restart(pg_server, caplog):
    """The server goes down for three seconds while trades flow: the writer keeps the batch in hand and tries a
    new session every second, the queue buffers meanwhile, and once the server is back every trade is stored once.
    The log says so in two one-line messages (it said "still unreachable" with libpq's two-line text at every try).
    (Its own cluster: the session's is shared by the other tests.)"""
    with pg_cluster.cluster() as server, FakeBinance() as fb, caplog.at_level(logging.INFO, "collection.writer"):
        url = server.create_database()
        c = started_collector(fb, url)
        try:
            job = fb.stream_trades(SYMBOLS, count=1500, rate_per_s=300)
            wait_until(lambda: False, 1.0)
            server.restart(down_s=3.0)
            job.wait(30)
            assert_every_trade_once(fb, url, SYMBOLS)
            assert c.state.value == "running" and c.stats().dropped == 0, c.stats().last_error
        finally:
            c.stop()
    said = [r.getMessage() for r in caplog.records if "database" in r.getMessage()]
    assert any(m.startswith("database connection lost") for m in said), said
    assert any(m.startswith("database connection restored after") for m in said), said
    assert not any("still unreachable" in m or "\n" in m for m in said), said


def write_together(start: threading.Barrier, conn, ticks: list[Tick], failures: list[BaseException]) -> None:
    """Write a batch the moment the other thread writes its own; keep the error of a failed one."""
    start.wait()
    try:
        db.write_ticks(conn, ticks)
    except Exception as exc:  # (a deadlock victim's error, for the assertion)
        failures.append(exc)


def test_collectors_writing_the_same_trades_in_different_orders_never_deadlock(pg_server):
    """Two collectors receive the same trades of two symbols, each in its own order (their sockets interleave the
    symbols differently). Inserting in arrival order, each could hold one symbol's rows while waiting for the
    other's: a deadlock, which the server breaks by failing one batch. Rows go in key order, so nobody ever waits
    in a circle."""
    url = pg_server.create_database()
    writers = [db.open_writer(url), db.open_writer(url)]
    failures: list[BaseException] = []
    try:
        for round_ in range(8):
            trades = {
                symbol: [
                    Tick(
                        symbol,
                        round_ * 1000 + i,
                        DAY0 + round_ * 10_000 + i,
                        100.0 + i,
                        1.0,
                        False,
                        DAY0 + round_ * 10_000 + i + 5,
                    )
                    for i in range(1, 801)
                ]
                for symbol in SYMBOLS
            }
            orders = [trades["BTCUSDT"] + trades["ETHUSDT"], trades["ETHUSDT"] + trades["BTCUSDT"]]
            start = threading.Barrier(2)
            threads = [
                in_thread(lambda c=c, t=t, b=start: write_together(b, c, t, failures))
                for c, t in zip(writers, orders, strict=True)
            ]
            for thread in threads:
                thread.join(30)
        assert not failures, failures
        with contextlib.closing(db.open_reader(url)) as reader:
            assert [s.tick_count for s in db.symbol_summaries(reader)] == [6400, 6400]
    finally:
        for conn in writers:
            conn.close()


def backend_pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_readers_reuse_a_closed_readers_session_and_never_a_dead_or_busy_one(pg_server):
    """A dashboard rerun opens several readers: each reuses the session the last one closed (no new server session,
    3-7 ms each, per open); a kept session cut by the server is replaced; one closed mid-stream is not kept."""
    url = pg_server.create_database()
    db.ensure_database(url)
    with contextlib.closing(db.open_reader(url)) as first:
        pid = backend_pid(first)
    with contextlib.closing(db.open_reader(url)) as again:
        assert backend_pid(again) == pid
        with contextlib.closing(db.open_reader(url)) as meanwhile:  # the kept one is in use: a second session
            assert backend_pid(meanwhile) != pid
    assert terminate_sessions(url) >= 1
    with contextlib.closing(db.open_reader(url)) as after_cut:
        assert db.symbol_summaries(after_cut) == []
        cut_pid = backend_pid(after_cut)
        assert cut_pid != pid
        streaming = db.stream_ticks(after_cut, ["BTCUSDT"], chunk_rows=5)
        with contextlib.closing(db.open_writer(url)) as writer:
            db.write_ticks(writer, day_ticks(0))
        next(streaming)  # a server-side cursor is open
    with contextlib.closing(db.open_reader(url)) as later:
        assert backend_pid(later) not in (pid, cut_pid)
        assert len(db.read_ticks(later, ["BTCUSDT"])) == 20


def test_a_reader_of_an_unreachable_server_fails_at_once_with_the_servers_error():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match=r"refused|failed"):
        db.open_reader(url)
    assert time.monotonic() - started < 5


def test_outages_are_told_apart_from_faults_of_the_query(pg_server):
    """The dashboard shows an unreachable server as an outage it retries (not a failure with the driver's
    traceback); only a connection that cannot be made or that the server ended counts, never a query's own error."""
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=5)
    url = pg_server.create_database()
    db.ensure_database(url)
    with contextlib.closing(db.open_writer(url)) as conn:
        terminate_sessions(url)
        with pytest.raises(psycopg.OperationalError) as ended:
            conn.execute("SELECT 1")
    with contextlib.closing(db.open_writer(url)) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled) as canceled:
            conn.execute("SET statement_timeout = 10")
            conn.execute("SELECT pg_sleep(1)")
        with pytest.raises(psycopg.errors.UndefinedTable) as missing:
            conn.execute("SELECT * FROM nowhere")
    assert db.is_unreachable(refused.value) and db.is_unreachable(ended.value)
    assert not db.is_unreachable(canceled.value) and not db.is_unreachable(missing.value)


def test_a_view_meeting_an_outage_says_so_and_keeps_the_page(monkeypatch):
    from streamlit.testing.v1 import AppTest

    def page():
        import psycopg
        import streamlit as st

        from dashboard.widgets import guard

        with guard("Dashboard"):
            raise psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 5 '
                "failed: Connection refused\n\tIs the server running on that host?"
            )
        st.write("the rest of the page")

    test = AppTest.from_function(page).run()
    assert not test.exception and not test.error
    (warning,) = [w.value for w in test.warning]
    assert "the database server is unreachable" in warning and "retrying" in warning and "\n" not in warning
    assert test.markdown[0].value == "the rest of the page"


def test_a_plain_role_owning_a_new_database_creates_the_schema(pg_server):
    """The README's set-up: the collectors' role is no superuser, only the database's owner. Its first open creates
    the schema (and reading server settings that only a superuser may see would fail that migration)."""
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute("CREATE ROLE plain_owner LOGIN")
        admin.execute("CREATE DATABASE plain_owned OWNER plain_owner")
    url = pg_server.url("plain_owned").replace("postgres@", "plain_owner@")
    with contextlib.closing(db.open_writer(url)) as conn:
        assert db.write_ticks(conn, day_ticks(0)).total_inserted == 20
    with contextlib.closing(db.open_reader(url)) as reader:
        assert len(db.read_ticks(reader, ["BTCUSDT"])) == 20
