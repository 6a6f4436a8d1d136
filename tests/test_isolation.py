"""Socket isolation (issue 24): nothing else a process does may starve the collector's exchange socket or hold up its
live batches — the dashboard's collector runs in a process of its own, and retention passes in theirs."""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from fake_binance import FakeBinance
from pg_cluster import database_env
from waiting import wait_until

import collector
import database
from collection.pipeline import Retention
from config import load_settings
from core.clock import DAY_MS
from core.vocabulary import IdSpace
from data_feed import BinanceFuturesFeed, BinanceRest, SimulatedFeed, Tick

SYMS = ["BTCUSDT", "ETHUSDT"]
OLD = "BNBUSDT"  # the symbol of the old day a retention pass moves


@pytest.fixture(autouse=True)
def no_collector_left_running():
    yield
    collector.stop_service()


def stored(db_path: str, symbol: str) -> int:
    with contextlib.closing(database.open_reader(db_path)) as conn:
        return int(conn.execute("SELECT count(*) FROM ticks WHERE symbol=?", (symbol,)).fetchone()[0])


# ------------------------------------------------------------------------------ the fake exchange in its own process
def _serve(conn: Any, options: dict) -> None:
    """Child process: a FakeBinance answering ("stream", symbols, count, rate), ("wait_stream", s), ("history", sym),
    ("call", name, args, kwargs) until ("close",)."""
    job = None
    with FakeBinance(**options) as fb:
        conn.send((fb.ws_base, fb.rest_base))
        while (message := conn.recv())[0] != "close":
            if message[0] == "stream":
                job = fb.stream_trades(message[1], count=message[2], rate_per_s=message[3])
                conn.send(True)
            elif message[0] == "wait_stream":
                conn.send(job is None or job.wait(message[1]).done)
            elif message[0] == "history":
                conn.send(len(fb.history_ids(message[1])))
            else:
                conn.send(getattr(fb, message[1])(*message[2], **message[3]))


class ExchangeProcess:
    """The fake exchange in a spawned interpreter: its pings and its sends go on while this process is busy."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def __enter__(self) -> ExchangeProcess:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, self.options), daemon=True)
        self.process.start()
        child.close()
        assert self.conn.poll(120), "the fake exchange did not start"
        self.ws_base, self.rest_base = self.conn.recv()
        return self

    def send(self, *message: Any) -> Any:
        self.conn.send(message)
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("close",))
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def hold_the_gil(seconds: float) -> float:
    """Keep this process's GIL for about `seconds` in one C call (sum over a range never lets another thread run),
    as a burst of pandas work, JSON rendering or Parquet export in a server does; returns how long it held it."""
    per_item = math.inf
    for _ in range(5):  # the fastest of five: a busy machine only makes a sample slower (a slow one shortened the hold)
        started = time.perf_counter()
        sum(range(500_000))
        per_item = min(per_item, (time.perf_counter() - started) / 500_000)
    started = time.perf_counter()
    sum(range(int(seconds / per_item)))
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------------- tests
def test_the_dashboards_collector_runs_in_its_own_process_and_flushes_at_stop(db_path):
    """start_service runs the collector in a child process; the handle reports its counters, and Stop stores every
    tick it received before the child exits."""
    settings = load_settings({**database_env(db_path), "DATA_FEED": "simulated"})
    running = collector.start_service(settings, "simulated", SYMS)
    assert running.pid is not None and running.pid != os.getpid()
    assert collector.current_collector() is running and running.feed.kind == "simulated"
    assert wait_until(lambda: running.stats().written > 100, 30)
    collector.stop_service()
    stats = running.stats()
    assert stats.state is collector.CollectorState.STOPPED and collector.current_collector() is None
    assert stats.queue_depth == 0 and stats.dropped == 0
    assert stats.written == sum(stored(db_path, s) for s in SYMS) > 100  # the last snapshot is the final count


def test_the_collectors_child_does_not_run_the_page_script_the_server_is_running(tmp_path, monkeypatch):
    """Under Streamlit `__main__` is the page script (app.py, or an AppTest page needing its runner's arguments);
    spawn would run it again in the child, which then died at its start (CI, after an AppTest test) or ran the
    whole dashboard there. The child must start from its target's module alone."""
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page script ran in the collector process')\n")
    script = types.ModuleType("__main__")
    script.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", script)
    settings = load_settings({**database_env(str(tmp_path / "p.db")), "DATA_FEED": "simulated"})
    running = collector.start_service(settings, "simulated", SYMS)
    try:
        assert wait_until(lambda: running.stats().written > 0, 30)
    finally:
        collector.stop_service()
    assert sys.modules["__main__"] is script  # put back as it was


def test_a_stop_right_after_the_writer_failed_keeps_the_failure(tmp_path):
    """The collector's process stops its collector as soon as the writer fails, possibly before the writer has set
    the stop flag itself: the stop must not turn `failed` into `stopped` (the dashboard would hide the error)."""
    c = collector.Collector(str(tmp_path / "f.db"), SimulatedFeed())
    c.start(SYMS)
    c.pipe.fail("database writer failed: OperationalError: disk I/O error")  # what the writer does first
    c.stop()
    assert c.state is collector.CollectorState.FAILED and "disk I/O" in c.last_error


@pytest.mark.network
@pytest.mark.timeout(240)
def test_the_dashboards_collector_keeps_its_socket_while_the_server_holds_the_gil(tmp_path):
    """Issue 24: 100 API clients in the dashboard's process starved its collector's socket reader of the GIL, and the
    exchange cut the connection (ping/pong timed out). The exchange here pings every second and cuts a client that
    has not answered within 2 s; this process (the server) holds its GIL for 3–5 s while trades flow."""
    path = str(tmp_path / "live.db")
    with ExchangeProcess(ping_interval_s=1.0, ping_timeout_s=2.0) as exchange:
        settings = load_settings(
            {
                "CRYPTO_DB_PATH": path,
                "DATA_FEED": "binance",
                "BINANCE_WS_URL": exchange.ws_base,
                "BINANCE_REST_URL": exchange.rest_base,
                "ARCHIVE_REPAIR": "false",
            }
        )
        running = collector.start_service(settings, "binance", SYMS)
        assert exchange.send("call", "wait_subscribed", (SYMS,), {"timeout": 60})
        exchange.send("stream", SYMS, 4000, 250.0)  # 16 s of trades
        assert wait_until(lambda: running.stats().written > 0, 30)
        held = hold_the_gil(5.0)
        assert held > 3.0  # (the server's ping timeout is 2 s)
        assert exchange.send("wait_stream", 120)
        sent = sum(exchange.send("history", s) for s in SYMS)
        assert wait_until(lambda: sum(stored(path, s) for s in SYMS) >= sent, 60)
        stats = running.stats()
        assert stats.feed.reconnects == 0 and stats.gaps_detected == 0, stats.last_error
        assert sum(stored(path, s) for s in SYMS) == sent


def seed_old_day(path: str, trades: int) -> None:
    """One UTC day, three days ago, of `trades` aggTrades of OLD."""
    day = database.now_ms() // DAY_MS - 3
    step = DAY_MS / trades
    with contextlib.closing(database.open_writer(path)) as conn:
        for lo in range(0, trades, 100_000):
            stamps = [day * DAY_MS + int(i * step) for i in range(lo, min(trades, lo + 100_000))]
            database.write_ticks(
                conn,
                [
                    Tick(OLD, lo + k + 1, t, 600 + (k % 97) * 0.01, 0.01, bool(k & 1), t + 5, IdSpace.AGG_TRADE)
                    for k, t in enumerate(stamps)
                ],
            )


def longest_stall(marks: list[tuple[float, int]], start: float, end: float) -> float:
    """The longest time within [start, end] in which the written count did not move."""
    moves = [t for (_, before), (t, n) in itertools.pairwise(marks) if n != before and start < t < end]
    return max(b - a for a, b in itertools.pairwise([start, *moves, end]))


@pytest.mark.network
@pytest.mark.timeout(300)
def test_a_retention_pass_beside_a_live_feed_lets_its_batches_through(tmp_path):
    """Issue 24: the collector's retention pass (2M ticks, 109 s) ran on the writer thread: no live batch was written
    for ~95 s and the queue filled toward overflow. Here a 400,000-trade day (bench/freshness.py runs a 5M-trade one
    at 5,000 trades/s) moves to Parquet while trades flow: live batches keep committing all through the pass
    (never a pause over a third of it, nor over 1 s), nothing is dropped, no gap, every trade stored."""
    path, cold = str(tmp_path / "r.db"), tmp_path / "cold"
    seed_old_day(path, 400_000)
    with FakeBinance() as fb:
        c = collector.Collector(
            path,
            BinanceFuturesFeed(fb.ws_base),
            rest=BinanceRest(fb.rest_base),
            retention=Retention(1, str(cold)),
        )
        c.start(SYMS)
        try:
            assert fb.wait_subscribed(SYMS, timeout=30)
            job = fb.stream_trades(SYMS, count=None, rate_per_s=500)
            marks: list[tuple[float, int]] = []
            export_began = day_gone = 0.0
            with contextlib.closing(database.open_reader(path)) as conn:
                deadline = time.monotonic() + 200
                while time.monotonic() < deadline and not day_gone:
                    now = time.monotonic()
                    marks.append((now, c.written))
                    if not export_began and any(Path(cold).glob(f"{OLD}/*.partial")):
                        export_began = now
                    left = conn.execute("SELECT tick_count FROM symbol_stats WHERE symbol=?", (OLD,)).fetchone()
                    if export_began and left[0] == 0:
                        day_gone = now
                    time.sleep(0.02)
            job.stop()
            assert export_began and day_gone, "the retention pass did not run"
            assert len(list(Path(cold).glob(f"{OLD}/*.parquet"))) == 1 and stored(path, OLD) == 0
            stall, window = longest_stall(marks, export_began, day_gone), day_gone - export_began
            assert stall < max(1.0, window / 3), f"no live batch for {stall:.1f} s of a {window:.1f} s pass"
            fb.stream_trades(SYMS, count=20, rate_per_s=50).wait(30)
            sent = sum(len(fb.history_ids(s)) for s in SYMS)
            assert wait_until(lambda: sum(stored(path, s) for s in SYMS) >= sent, 60)
            stats = c.stats()
            assert stats.gaps_detected == 0 and stats.dropped == 0 and stats.feed.reconnects == 0, stats.last_error
        finally:
            c.stop()
