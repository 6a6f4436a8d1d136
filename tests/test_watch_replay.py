"""Done-when test of the follow-through: real recorded Binance data replayed through the headless collector
(`python collector.py --feed replay`) with two watched pairs on auto-trade. The collector's process runs the watch
monitor beside it; afterwards the stored signals and two-leg paper positions must be those of the backtest of the
same stored data, and the realised P&L must equal the backtest's to 1e-9 (fees and the stand-in spread cost;
funding is not in either)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pandas as pd
import pytest

import analytics
import database as db
from service import watchlist
from service.window import load_window

pytestmark = pytest.mark.timeout(300)
ROOT = watchlist.__file__.rsplit("/service/", 1)[0]
FILES = ("hftbacktest_usdm/btcusdt_20240808.gz", "hftbacktest_usdm/ethusdt_20240808.gz")
WATCHES = (
    db.WatchSpec("BTCUSDT", "ETHUSDT", hedge_window=60, z_window=20, entry=1.0, exit=0.0, auto_trade=True),
    db.WatchSpec(
        "ETHUSDT", "BTCUSDT", hedge_window=40, z_window=15, entry=1.2, exit=0.2, stop=3.0, max_hold_bars=12,
        fee_bps=2.0, cost_bps=0.5, auto_trade=True,
    ),
)  # fmt: skip


def backtest_of(path: str, watch: db.Watch) -> analytics.BacktestResult:
    with contextlib.closing(db.open_reader(path)) as conn:
        end = watchlist.closed_end(conn, watch, final=True)
        assert end is not None
        window = load_window(conn, watchlist.watch_controls(path, watch, end, 3_600))
    closes = window.closes(watch.pair)
    return analytics.backtest_pairs(
        closes[watch.spec.symbol_x], closes[watch.spec.symbol_y], watchlist.backtest_params(watch.spec)
    )


def ms(stamps: pd.Series) -> list[int]:
    return [int(t.value // 1_000_000) for t in stamps]


def test_replay_through_the_headless_collector_reconciles_with_the_backtest(shared_data, tmp_path):
    path = str(tmp_path / "replay.db")
    watches = [watchlist.add_watch(path, spec) for spec in WATCHES]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CRYPTO_DB_PATH")}
    done = subprocess.run(
        [sys.executable, f"{ROOT}/collector.py", "--feed", "replay", "--speed", "0", "--db", path,
         "--symbols", "btcusdt,ethusdt", "--replay-file", *(str(shared_data / f) for f in FILES)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "watch monitor started" in done.stderr
    for watch in watches:
        result = backtest_of(path, watch)
        tf_ms = 1000
        trades = result.trades
        with contextlib.closing(db.open_reader(path)) as conn:
            stored = db.get_watch(conn, watch.id)
            positions = sorted(db.list_pair_positions(conn, watch.id), key=lambda p: p.opening.opened_at)
            entries = sorted(s.bar_ms for s in db.list_signals(conn, watch.id, None) if s.kind.is_entry)
        assert stored is not None and stored.evaluated_ms == ms(result.zscore.index[-1:])[0]  # every bar evaluated
        done_trades = trades[trades["exit_reason"] != "end"]
        closed = [p for p in positions if not p.is_open]
        assert len(done_trades) >= 2, f"watch #{watch.id}: too few trades to compare"
        # signals: one entry per backtest trade, on the bar before its fill (plus one the backtest leaves unfilled
        # at the last bar)
        expected_entries = [t - tf_ms for t in ms(trades["entry_time"])]
        assert entries[: len(expected_entries)] == expected_entries and len(entries) - len(expected_entries) <= 1
        assert [p.opening.opened_at for p in closed] == ms(done_trades["entry_time"])
        assert [p.closing.closed_at for p in closed if p.closing] == ms(done_trades["exit_time"])
        assert [p.closing.close_reason for p in closed if p.closing] == list(done_trades["exit_reason"])
        realized = [p.closing.realized_pnl for p in closed if p.closing]
        assert max(abs(a - b) for a, b in zip(realized, done_trades["net_pnl"], strict=True)) < 1e-9
        assert abs(sum(realized) - done_trades["net_pnl"].sum()) < 1e-9
        # a trade the backtest closes at the last bar ("end") is the paper position still open
        assert len(positions) - len(closed) == len(trades) - len(done_trades) or len(positions) == len(closed) + 1
