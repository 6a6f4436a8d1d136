"""Socket isolation (issue 24): nothing else a process does may starve the collector's exchange socket or hold up its
live batches — retention passes run in a process of their own."""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path

import pytest
from fake_binance import FakeBinance
from waiting import wait_until

import collector
import database
from collection.pipeline import Retention
from core.clock import DAY_MS
from core.vocabulary import IdSpace
from data_feed import BinanceFuturesFeed, BinanceRest, SimulatedFeed, Tick

SYMS = ["BTCUSDT", "ETHUSDT"]
OLD = "BNBUSDT"  # the symbol of the old day a retention pass moves


def stored(db_path: str, symbol: str) -> int:
    with contextlib.closing(database.open_reader(db_path)) as conn:
        return int(conn.execute("SELECT count(*) FROM ticks WHERE symbol=?", (symbol,)).fetchone()[0])


def test_a_stop_right_after_the_writer_failed_keeps_the_failure(tmp_path):
    """The collector's process stops its collector as soon as the writer fails, possibly before the writer has set
    the stop flag itself: the stop must not turn `failed` into `stopped` (the dashboard would hide the error)."""
    c = collector.Collector(str(tmp_path / "f.db"), SimulatedFeed())
    c.start(SYMS)
    c.pipe.fail("database writer failed: OperationalError: disk I/O error")  # what the writer does first
    c.stop()
    assert c.state is collector.CollectorState.FAILED and "disk I/O" in c.last_error


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
