"""Done-when test of the follow-through: real recorded Binance data replayed through the headless collector
(`python collector.py --feed replay`) with two watched pairs on auto-trade. The collector's process runs the watch
monitor beside it; afterwards the stored signals and two-leg paper positions must be those of the backtest of the
same stored data with the same costs (service.costs.pair_costs): whole contract steps, fills at the recording's
bookTicker quotes (stored by the test: the replay feed stores trades only), fees, and funding at two settlements
stored beforehand (the recording has no markPrice stream: one at the real 00:00 UTC settlement that ends it, one
mid-recording, so closed positions hold across one). Each trade's price P&L per leg, fees, spread cost, funding and
net equal the backtest's to 1e-9. Every signal and alarm event reaches the process's delivery worker (a webhook on a
local HTTP server)."""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_deliveries import hooks  # noqa: F401 — the fixture, used by name

import analytics
import database as db
from collection.quotes import QuoteBook
from core.contracts import ContractRules
from core.vocabulary import DeliveryStatus, NoticeKind
from feed.frames import FrameKind, decode_frame
from feed.records import FundingRate
from service import costs, pair_trading, watchlist
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
    x, y = watch.pair
    params = watchlist.backtest_params(watch.spec)
    return analytics.backtest_pairs(closes[x], closes[y], params, costs.pair_costs(window, x, y))


def ms(stamps: pd.Series, shift: int = 0) -> list[int]:
    """Epoch ms of timestamps (+ shift: a fill's time is the end of its bar, 1 s after the bar's stamp)."""
    return [int(t.value // 1_000_000) + shift for t in stamps]


RULES = (ContractRules("BTCUSDT", 0.1, 0.001, 100.0), ContractRules("ETHUSDT", 0.01, 0.001, 20.0))  # Binance's
SETTLEMENTS = (  # (time, BTC rate, ETH rate): a mid-recording one (marks given) and the real 00:00 UTC one
    (1_723_161_450_000, 1.0e-4, -2.5e-4),
    (1_723_161_600_000, 3.0e-4, 1.0e-4),
)


def recorded_quotes(files: list[Path]) -> list:
    """The recording's own bookTicker frames as 1-second quote bars, built by the collector's QuoteBook (the replay
    feed stores the trades only)."""
    book = QuoteBook()
    for file in files:
        with gzip.open(file, "rt") as lines:
            for line in lines:
                received_ns, _, raw = line.partition(" ")
                if '"bookTicker"' in raw:
                    frame = decode_frame(raw, int(received_ns) // 1_000_000)
                    if frame.kind is FrameKind.QUOTE and frame.quote is not None:
                        book.add(frame.quote)
    book.finish_before(2**62)
    return book.take()[0]


def store_costs(path: str, files: list[Path]) -> None:
    """The recording's quotes, and the contract rules and funding settlements it lacks."""
    marks = {"BTCUSDT": 61_600.0, "ETHUSDT": 2_640.0}
    with contextlib.closing(db.open_writer(path)) as conn:
        db.write_quote_bars(conn, recorded_quotes(files))
        db.write_contract_rules(conn, RULES)
        db.write_funding_rates(
            conn,
            [
                FundingRate(symbol, at, rate, marks[symbol], 8.0)
                for at, btc, eth in SETTLEMENTS
                for symbol, rate in (("BTCUSDT", btc), ("ETHUSDT", eth))
            ],
        )


def test_replay_through_the_headless_collector_reconciles_with_the_backtest(shared_data, tmp_path, hooks):  # noqa: F811
    path = str(tmp_path / "replay.db")
    watches = [watchlist.add_watch(path, spec) for spec in WATCHES]
    store_costs(path, [shared_data / f for f in FILES])
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CRYPTO_DB_PATH")}
    env |= {"ALERT_WEBHOOK_URL": f"{hooks.url}/ok/replay", "ALERT_RETRIES": "0"}  # the process delivers signals
    done = subprocess.run(
        [sys.executable, f"{ROOT}/collector.py", "--feed", "replay", "--speed", "0", "--db", path,
         "--symbols", "btcusdt,ethusdt", "--replay-file", *(str(shared_data / f) for f in FILES)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "watch monitor started" in done.stderr
    # every signal and alarm event reached the headless process's delivery worker: delivered, or a dead letter when
    # the replay ended before its turn (a stopping worker records what still waits)
    with contextlib.closing(db.open_reader(path)) as conn:
        signals = db.list_signals(conn, None, None)
        attempts = db.list_delivery_attempts(conn, 100_000)
    handed = {a.delivery_id for a in attempts if a.notice_kind in (NoticeKind.SIGNAL, NoticeKind.ALARM)}
    delivered = [a for a in attempts if a.status is DeliveryStatus.DELIVERED]
    assert len(signals) >= 4 and len(handed) == len(signals)
    assert delivered and len(hooks.bodies("/ok/replay")) == len(delivered)
    funded: list[float] = []
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
        assert [p.opening.opened_at for p in closed] == ms(done_trades["entry_time"], tf_ms)
        assert [p.closing.closed_at for p in closed if p.closing] == ms(done_trades["exit_time"], tf_ms)
        assert [p.closing.close_reason for p in closed if p.closing] == list(done_trades["exit_reason"])
        assert [p.opening.qty_y for p in closed] == list(done_trades["qty_y"])  # whole steps, as the backtest's
        assert [p.opening.qty_x for p in closed] == list(done_trades["qty_x"])
        unhedged = [p.opening.unhedged_x for p in closed]
        assert max(abs(a - b) for a, b in zip(unhedged, done_trades["unhedged_x"], strict=True)) < 1e-12
        views = {v.position.id: v.pnl for v in pair_trading.position_views(path, watch.id)}
        pnl = [views[p.id] for p in closed]
        for field, column in (
            ("price_x", "price_pnl_x"), ("price_y", "price_pnl_y"), ("fees", "fees"), ("spread", "spread_cost"),
            ("funding", "funding"), ("net", "net_pnl"),
        ):  # fmt: skip
            paper = [getattr(p, field) for p in pnl]
            gap = max(abs(a - b) for a, b in zip(paper, done_trades[column], strict=True))
            assert gap < 1e-9, f"watch #{watch.id}: {field} differs from the backtest's {column} by {gap}"
        realized = [p.closing.realized_pnl for p in closed if p.closing]
        assert max(abs(a - b) for a, b in zip(realized, done_trades["net_pnl"], strict=True)) < 1e-9
        assert abs(sum(realized) - done_trades["net_pnl"].sum()) < 1e-9
        funded.extend(p.funding for p in pnl)
        assert result.breakdown.quoted_fills_x > 0 and result.breakdown.quoted_fills_y > 0  # priced at the quotes
        # a trade the backtest closes at the last bar ("end") is the paper position still open
        assert len(positions) - len(closed) == len(trades) - len(done_trades) or len(positions) == len(closed) + 1
    assert any(f != 0 for f in funded), "no closed position was open across the mid-recording settlement"
