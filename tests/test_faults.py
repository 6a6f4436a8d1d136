"""Fault-injection suite: the real collector (BinanceFuturesFeed + BinanceRest) against the fake Binance server.

Each scenario streams a known set of trades, injects one fault, streams a tail (gaps are noticed when the next live
trade arrives, as in production) and asserts the database holds exactly the exchange's trades, each once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_binance import FakeBinance
from pg_cluster import database_env
from waiting import wait_until

import collector
import database as db
from core.vocabulary import BackfillStatus
from data_feed import BinanceArchive, BinanceFuturesFeed, BinanceRest, Tick, UnknownSymbolError

# The fault scenarios need the fake server's pings every second (a silent stall is then seen within seconds).
pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(90),
    pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0),
]
ROOT = Path(__file__).resolve().parents[1]
SYMS = ["BTCUSDT", "ETHUSDT"]


def stored_ids(db_path: str, symbol: str) -> list[int]:
    if not db.database_exists(db_path):
        return []
    conn = db.open_reader(db_path)
    try:
        return [
            r[0]
            for r in conn.execute("SELECT trade_id FROM ticks WHERE symbol=? ORDER BY trade_id", (symbol,)).fetchall()
        ]
    finally:
        conn.close()


def holds_exactly_history(fb: FakeBinance, db_path: str, symbols=SYMS) -> bool:
    return all(stored_ids(db_path, s) == list(fb.history_ids(s)) for s in symbols)


def assert_exact(fb: FakeBinance, db_path: str, symbols=SYMS, timeout: float = 30.0) -> None:
    ok = wait_until(lambda: holds_exactly_history(fb, db_path, symbols), timeout)
    for s in symbols:
        got, want = stored_ids(db_path, s), list(fb.history_ids(s))
        missing = sorted(set(want) - set(got))
        assert ok and got == want, f"{s}: stored {len(got)} of {len(want)}, missing {missing[:10]}..."
    if not db_path.startswith("postgresql://"):
        with contextlib.closing(sqlite3.connect(db_path)) as check:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with contextlib.closing(db.open_reader(db_path)) as conn:
        prices = dict(conn.execute("SELECT trade_id, price FROM ticks WHERE symbol=?", (symbols[0],)).fetchall())
    assert all(prices[t.agg_id] == float(t.price) for t in fb.history(symbols[0]))


def make_collector(
    fb: FakeBinance,
    db_path: str,
    *,
    archive: bool = False,
    backfill_minutes: int = 0,
    backfill_kline_hours: int = 0,
    **feed_kw,
) -> collector.Collector:
    options = dict(stall_first_s=2.0, stall_idle_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.3)
    options.update(feed_kw)
    feed = BinanceFuturesFeed(fb.ws_base, **options)
    rest = BinanceRest(fb.rest_base, max_retry_wait_s=5)
    return collector.Collector(
        db_path,
        feed,
        rest=rest,
        flush_interval_ms=50,
        backfill_minutes=backfill_minutes,
        backfill_kline_hours=backfill_kline_hours,
        archive=BinanceArchive(fb.rest_base) if archive else None,
    )


@pytest.fixture
def running(fb, db_path):
    started: list[collector.Collector] = []

    def start(**feed_kw) -> collector.Collector:
        c = make_collector(fb, db_path, **feed_kw)
        c.start(SYMS)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def stream_with_fault(fb: FakeBinance, fault, *, count: int = 1500, rate: float = 1000, tail: int = 30) -> None:
    """Stream `count` trades per symbol, run `fault` a third of the way in, then a tail once reconnected."""
    job = fb.stream_trades(SYMS, count=count, rate_per_s=rate)
    time.sleep(count / rate / 3)
    fault()
    job.wait(30)
    assert fb.wait_subscribed(SYMS, timeout=15), "the feed did not come back"
    fb.stream_trades(SYMS, count=tail, rate_per_s=200).wait(10)


def test_clean_stream_two_symbols_stored_exactly_once(fb, running, db_path):
    c = running()
    assert fb.wait_subscribed(SYMS)
    fb.stream_trades(SYMS, count=4000, rate_per_s=4000).wait(30)
    assert_exact(fb, db_path)
    assert c.stats().gaps_detected == 0 and c.stats().duplicates == 0


@pytest.mark.parametrize("abrupt", [True, False], ids=["no-close-frame", "close-frame"])
def test_connection_dropped_mid_stream_reconnects_and_repairs(fb, running, db_path, abrupt):
    c = running()
    assert fb.wait_subscribed(SYMS)
    stream_with_fault(fb, lambda: fb.drop_connections(abrupt=abrupt) or time.sleep(0.3))
    assert_exact(fb, db_path)
    s = c.stats()
    assert s.feed.reconnects >= 1 and s.gaps_repaired >= 1 and s.repaired_ticks > 0


def test_silent_stall_is_detected_reconnected_and_repaired(fb, running, db_path):
    c = running(stall_idle_s=1.0)
    assert fb.wait_subscribed(SYMS)
    stream_with_fault(fb, lambda: fb.stall(4.0))
    assert_exact(fb, db_path)
    assert c.stats().feed.stalls >= 1


def test_acknowledged_but_silent_subscription_is_reported_then_recovered(fb, running, db_path):
    fb.silence(["ETHUSDT"])
    c = running(stall_first_s=1.0)
    assert wait_until(lambda: "ethusdt@aggTrade" in c.stats().feed.stalled_streams, 10, step=0.01), (
        "the silent stream was never reported as stalled"
    )
    fb.stream_trades(["BTCUSDT"], count=300, rate_per_s=300).wait(10)  # BTC flows while the link flaps
    fb.unsilence()
    assert fb.wait_subscribed(SYMS, timeout=15)
    fb.stream_trades(SYMS, count=30, rate_per_s=200).wait(10)
    assert_exact(fb, db_path)


def test_malformed_and_truncated_frames_are_counted_and_skipped(fb, running, db_path):
    c = running()
    assert fb.wait_subscribed(SYMS)
    fb.inject_garbage(every=25)
    fb.stream_trades(SYMS, count=2000, rate_per_s=2000).wait(30)
    fb.inject_garbage(every=0)
    assert_exact(fb, db_path)
    feed = c.stats().feed
    assert feed.parse_errors + feed.unknown_events >= 100


def test_error_reply_to_subscribe_is_surfaced_and_recovered(fb, running, db_path):
    fb.fail_next_subscribe(1)
    c = running(url_streams_max=1)  # the second stream goes through a SUBSCRIBE request
    assert wait_until(lambda: c.stats().feed.subscribe_errors >= 1, 10)
    assert "invalid stream" in (c.stats().feed.last_error or "") + c.stats().last_error
    assert fb.wait_subscribed(SYMS, timeout=20)
    fb.stream_trades(SYMS, count=500, rate_per_s=1000).wait(10)
    assert_exact(fb, db_path)


def test_burst_of_100k_frames(fb, running, db_path):
    c = running()
    assert fb.wait_subscribed(SYMS)
    started = time.monotonic()
    fb.stream_trades(SYMS, count=50_000, rate_per_s=None).wait(60)  # as fast as the client reads
    assert_exact(fb, db_path, timeout=60)
    s = c.stats()
    assert s.dropped == 0 and s.written == 100_000
    print(f"100k-frame burst stored in {time.monotonic() - started:.1f} s")


def test_rest_429_during_repair_is_honoured(fb, running, db_path):
    c = running()
    assert fb.wait_subscribed(SYMS)

    def fault():
        fb.fail_rest(429, count=2, retry_after_s=1, path="/fapi/v1/aggTrades")
        fb.drop_connections()

    stream_with_fault(fb, fault)
    assert_exact(fb, db_path)
    assert c.rest.get_stats().rate_limited >= 2


def test_24h_rotation_overlaps_without_loss_or_duplicates(fb, running, db_path):
    c = running(rotate_after_s=1.0, rotation_overlap_s=0.4)
    assert fb.wait_subscribed(SYMS)
    fb.stream_trades(SYMS, count=4000, rate_per_s=1000).wait(30)
    assert_exact(fb, db_path)
    s = c.stats()
    assert s.feed.rotations >= 2 and s.gaps_detected == 0


def test_server_cut_at_connection_age_is_repaired():
    with FakeBinance(max_connection_age_s=1.5) as fb, __import__("tempfile").TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.db")
        c = make_collector(fb, path)
        c.start(SYMS)
        try:
            assert fb.wait_subscribed(SYMS)
            fb.stream_trades(SYMS, count=3000, rate_per_s=1000).wait(30)
            assert fb.wait_subscribed(SYMS, timeout=10)
            fb.stream_trades(SYMS, count=30, rate_per_s=200).wait(10)
            assert_exact(fb, path)
            assert c.stats().feed.reconnects >= 1
        finally:
            c.stop()


@pytest.mark.sqlite_only
def test_database_locked_by_a_long_reader_while_the_writer_runs(fb, running, db_path):
    c = running()
    assert fb.wait_subscribed(SYMS)
    job = fb.stream_trades(SYMS, count=3000, rate_per_s=1500)
    time.sleep(0.3)
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM ticks").fetchone()  # holds a read snapshot for 2 s
    written_before = c.stats().written
    time.sleep(2.0)
    assert c.stats().written > written_before  # WAL: the writer is not blocked
    reader.execute("COMMIT")
    reader.close()
    job.wait(30)
    assert_exact(fb, db_path)
    assert c.stats().dropped == 0


def test_unknown_symbol_is_refused_by_name(fb, db_path):
    c = make_collector(fb, db_path)
    with pytest.raises(UnknownSymbolError, match="NOPEUSDT"):
        c.start(["BTCUSDT", "NOPEUSDT"])
    c.stop()


def test_gap_older_than_rest_window_is_recorded_unrepairable(fb, running, db_path):
    fb.history_window_s = 2.0  # time-compressed 48 h window
    c = running()
    assert fb.wait_subscribed(SYMS)
    fb.stream_trades(SYMS, count=200, rate_per_s=1000).wait(10)
    fb.stall(0.1)
    c.feed.disconnect()
    fb.stream_trades(SYMS, count=200, rate_per_s=1000).wait(10)  # missed, and soon out of the REST window
    time.sleep(2.5)
    c.feed.connect(SYMS)
    assert fb.wait_subscribed(SYMS, timeout=10)
    fb.stream_trades(SYMS, count=20, rate_per_s=200).wait(10)
    assert wait_until(lambda: c.stats().gaps_unrepairable >= 2, 20)
    gaps = db.list_gaps(db.open_reader(db_path))
    assert {g.status for g in gaps} == {"unrepairable"} and all("not available" in g.note for g in gaps)
    assert all(g.last_missing_id - g.first_missing_id + 1 >= 200 for g in gaps)


HOUR_MS = 3_600_000


def store_trades(db_path: str, symbol: str, trades: list) -> None:
    """Store the exchange's trades as a collector that saw them would have."""
    conn = db.open_writer(db_path)
    cursor = db.IdCursor(symbol, "aggTrade", trades[-1].agg_id, trades[-1].time_ms)  # its live id cursor too
    db.write_ticks(
        conn,
        [Tick(symbol, t.agg_id, t.time_ms, float(t.price), float(t.qty), t.buyer_maker, t.time_ms) for t in trades],
        [cursor],
    )
    conn.close()


def store_history_head(fb: FakeBinance, db_path: str, symbol: str, n: int) -> list:
    """Store the exchange's first n trades, as a collector that ran back then would have; returns them."""
    head = fb.history(symbol)[:n]
    store_trades(db_path, symbol, head)
    return head


def test_a_repair_cut_short_by_a_crash_resumes_on_the_next_start(fb, db_path):
    """The gap was recorded, then the process died before REST filled it: the next start finishes the job."""
    fb.generate("BTCUSDT", 400, spacing_ms=100)
    history = fb.history("BTCUSDT")
    store_trades(db_path, "BTCUSDT", history[:100] + history[300:])
    conn = db.open_writer(db_path)
    gap_id = db.record_gap(
        conn, "BTCUSDT", history[100].agg_id, history[299].agg_id, history[99].time_ms, history[300].time_ms
    )  # status "open": the repair never ran
    conn.close()
    c = make_collector(fb, db_path)
    c.start(["BTCUSDT"])
    try:
        assert fb.wait_subscribed(["BTCUSDT"])
        fb.stream_trades(["BTCUSDT"], count=20, rate_per_s=200).wait(10)
        assert_exact(fb, db_path, ["BTCUSDT"])
        assert wait_until(lambda: db.list_gaps(db.open_reader(db_path), ["BTCUSDT"])[-1].status == "repaired", 10)
        gap = next(g for g in db.list_gaps(db.open_reader(db_path), ["BTCUSDT"]) if g.id == gap_id)
        assert gap.repaired_count == 200
    finally:
        c.stop()


def test_gap_reaching_back_past_the_rest_window_is_repaired_from_the_window_edge(fb, db_path):
    """Stopped for 50 h, no archive: REST still serves the last 48 h, so that part of the hole is filled and only
    the older ids are recorded as out of reach, by id range."""
    hour = HOUR_MS
    fb.generate("BTCUSDT", 600, start_ms=fb.now_ms() - 50 * hour, spacing_ms=5 * 60_000)  # one trade per 5 min
    old = store_history_head(fb, db_path, "BTCUSDT", 10)  # what we stored before stopping
    c = make_collector(fb, db_path)
    c.start(["BTCUSDT"])
    try:
        assert fb.wait_subscribed(["BTCUSDT"])
        fb.stream_trades(["BTCUSDT"], count=20, rate_per_s=200).wait(10)
        edge = fb.now_ms() - 48 * hour + collector.REST_SAFETY_MS  # where the collector asks REST to begin
        reachable = [t.agg_id for t in fb.history("BTCUSDT") if t.time_ms >= edge]
        assert wait_until(lambda: stored_ids(db_path, "BTCUSDT")[10:] == reachable, 30)
        assert wait_until(lambda: c.stats().gaps_unrepairable == 1, 10)
        (gap,) = db.list_gaps(db.open_reader(db_path), ["BTCUSDT"])
        first_missing = old[-1].agg_id + 1
        assert (gap.first_missing_id, gap.status) == (first_missing, "unrepairable")
        assert f"ids {first_missing}..{reachable[0] - 1} older than the 48 h REST window" in gap.note
        assert f"{len(reachable) - 20} repaired over REST" in gap.note
    finally:
        c.stop()


def test_gap_older_than_the_rest_window_is_repaired_from_the_daily_archive(fb, db_path):
    """Stopped for three days: the last 48 h come over REST, the days before from data.binance.vision files."""
    fb.generate("BTCUSDT", 3000, start_ms=fb.now_ms() - 72 * HOUR_MS, spacing_ms=86.4 * 1000)  # 72 h, every 86 s
    store_history_head(fb, db_path, "BTCUSDT", 10)
    c = make_collector(fb, db_path, archive=True)
    c.start(["BTCUSDT"])
    try:
        assert fb.wait_subscribed(["BTCUSDT"])
        fb.stream_trades(["BTCUSDT"], count=20, rate_per_s=200).wait(10)
        assert_exact(fb, db_path, ["BTCUSDT"])
        assert wait_until(lambda: c.stats().gaps_repaired == 1, 10)
        (gap,) = db.list_gaps(db.open_reader(db_path), ["BTCUSDT"])
        assert gap.status == "repaired" and gap.repaired_count == 3000 - 10
        assert "from the daily archive" in gap.note
    finally:
        c.stop()


def test_a_missing_archive_day_leaves_the_gap_unrepairable_with_the_reason(fb, db_path):
    fb.generate("BTCUSDT", 3000, start_ms=fb.now_ms() - 72 * HOUR_MS, spacing_ms=86.4 * 1000)
    head = store_history_head(fb, db_path, "BTCUSDT", 10)
    day = collector.utc_day(head[-1].time_ms)
    fb.archive_missing("BTCUSDT", day)
    c = make_collector(fb, db_path, archive=True)
    c.start(["BTCUSDT"])
    try:
        assert fb.wait_subscribed(["BTCUSDT"])
        fb.stream_trades(["BTCUSDT"], count=20, rate_per_s=200).wait(10)
        assert wait_until(lambda: c.stats().gaps_unrepairable == 1, 30)
        (gap,) = db.list_gaps(db.open_reader(db_path), ["BTCUSDT"])
        assert gap.status == "unrepairable" and f"archive {day}" in gap.note and "404" in gap.note
        lost = {t.agg_id for t in fb.history("BTCUSDT") if collector.utc_day(t.time_ms) == day} - {
            t.agg_id for t in head
        }
        assert wait_until(lambda: set(fb.history_ids("BTCUSDT")) - set(stored_ids(db_path, "BTCUSDT")) == lost, 10)
        assert gap.repaired_count == 3000 - 10 - len(lost)
    finally:
        c.stop()


def test_history_backfill_over_rest_is_resumable(fb, db_path):
    for s in SYMS:
        fb.generate(s, 3000, spacing_ms=100)  # the last 5 minutes, before we ever connected
    c = make_collector(fb, db_path, backfill_minutes=10)
    fb.fail_rest(None, count=1000, delay_s=0.15, path="/fapi/v1/aggTrades")  # slow REST: stop mid-way
    c.start(SYMS)
    assert wait_until(lambda: len(stored_ids(db_path, "BTCUSDT")) >= 1000, 30)
    c.stop()
    conn = db.open_reader(db_path)
    state = db.get_backfill(conn, "BTCUSDT", "aggTrades")
    assert state is not None and state.status is BackfillStatus.RUNNING and state.cursor is not None
    assert state.cursor > min(fb.history_ids("BTCUSDT"))
    fb.clear_faults()
    resumed = make_collector(fb, db_path, backfill_minutes=10)
    resumed.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS)
        fb.stream_trades(SYMS, count=50, rate_per_s=200).wait(10)
        assert_exact(fb, db_path)
        done = db.get_backfill(db.open_reader(db_path), "BTCUSDT", "aggTrades")
        assert done is not None and done.status is BackfillStatus.DONE
    finally:
        resumed.stop()


def _fraction(c, label: str) -> float | None:
    """Committed share of a backfill job (None before its first committed page)."""
    progress = c.backfill_progress.get(label)
    return None if progress is None else progress.fraction


@pytest.mark.sqlite_only
def test_backfill_progress_counts_only_committed_pages(fb, db_path):
    """100% must mean the rows are in the database: the writer is held off by another writer's lock while REST
    pages arrive, so a progress figure taken from fetched (not committed) pages would run ahead of the table."""
    fb.generate("BTCUSDT", 3000, spacing_ms=100)
    c = make_collector(fb, db_path, backfill_minutes=10)
    fb.fail_rest(None, count=1000, delay_s=0.1, path="/fapi/v1/aggTrades")  # room to take the lock first
    c.start(["BTCUSDT"])
    lock = sqlite3.connect(db_path, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        seen_while_locked = set()
        deadline = time.monotonic() + 1.5  # all pages are fetched by then
        while time.monotonic() < deadline:
            seen_while_locked.add(_fraction(c, "BTCUSDT aggTrades"))
            time.sleep(0.01)
        lock.execute("ROLLBACK")
        assert seen_while_locked == {None}, seen_while_locked
        assert wait_until(lambda: _fraction(c, "BTCUSDT aggTrades") == 1.0, 20, step=0.001)
        assert stored_ids(db_path, "BTCUSDT") == list(fb.history_ids("BTCUSDT"))
    finally:
        lock.close()
        c.stop()


def test_kline_backfill_fills_ohlc_data(fb, db_path):
    fb.generate("BTCUSDT", 3600, spacing_ms=2000)  # two hours of history
    c = make_collector(fb, db_path, backfill_kline_hours=3)
    c.start(["BTCUSDT"])
    try:
        assert wait_until(lambda: _fraction(c, "BTCUSDT klines") == 1.0, 20)
        conn = db.open_reader(db_path)
        rows = conn.execute(
            "SELECT count(*), sum(trade_count) FROM ohlc_data WHERE symbol='BTCUSDT' "
            "AND timeframe='1min' AND source='klines'"
        ).fetchone()
        assert rows[0] >= 118 and rows[1] >= 3500
    finally:
        c.stop()


def test_kill_9_mid_stream_then_restart_repairs_the_hole(fb, db_path):
    env = {
        **os.environ,
        "BINANCE_WS_URL": fb.ws_base,
        "BINANCE_REST_URL": fb.rest_base,
        **database_env(db_path),
        "FLUSH_INTERVAL_MS": "50",
        "SYMBOLS": ",".join(SYMS),
    }
    cmd = [sys.executable, str(ROOT / "collector.py"), "--feed", "binance", "--status-interval", "1"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    try:
        assert fb.wait_subscribed(SYMS, timeout=20)
        job = fb.stream_trades(SYMS, count=None, rate_per_s=500)
        assert wait_until(lambda: len(stored_ids(db_path, "BTCUSDT")) > 500, 20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        time.sleep(0.5)  # trades go on while nobody listens
        if not db_path.startswith("postgresql://"):
            with contextlib.closing(sqlite3.connect(db_path)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        assert fb.wait_subscribed(SYMS, timeout=20)
        time.sleep(0.5)
        job.stop()
        fb.stream_trades(SYMS, count=20, rate_per_s=200).wait(10)
        assert_exact(fb, db_path)
        gaps = db.list_gaps(db.open_reader(db_path))
        assert gaps and {g.status for g in gaps} == {"repaired"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_symbol_rules_are_kept_from_exchange_info(fb, running):
    c = running()
    rules = c.stats().symbol_rules
    assert rules["BTCUSDT"]["tick_size"] == pytest.approx(0.1) and rules["ETHUSDT"]["step_size"] == pytest.approx(0.001)


def test_symbols_all_collects_the_whole_universe_over_several_connections(fb, db_path):
    """SYMBOLS=ALL: every TRADING perpetual from exchangeInfo, spread over connections of at most N streams."""
    from fake_binance import DEFAULT_SYMBOLS

    fb.add_symbol("OLDUSDT", status="SETTLING")
    universe = sorted(DEFAULT_SYMBOLS)
    c = make_collector(fb, db_path, max_streams_per_connection=2)
    c.start(["all"])
    try:
        assert c.symbols == tuple(universe) and "OLDUSDT" not in c.symbols
        assert all(fb.wait_subscribed([s]) for s in universe)  # each on one of the connections
        fb.stream_trades(universe, count=200, rate_per_s=1000).wait(20)
        assert_exact(fb, db_path, universe)
        assert c.stats().feed.connections >= 3
    finally:
        c.stop()


def test_symbols_all_without_the_exchange_is_refused_with_the_reason(db_path):
    from data_feed import SimulatedFeed

    c = collector.Collector(db_path, SimulatedFeed())
    with pytest.raises(ValueError, match="needs the Binance feed"):
        c.start(["ALL"])
