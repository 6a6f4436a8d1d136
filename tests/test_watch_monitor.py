"""service/monitor.py and service/pair_trading.py: signals written on each new bar as ticks arrive, paper positions
filled from them reconcile with the backtest of the same data, a restart stores nothing twice, and positions opened
and closed by hand (once, whoever closes)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import numpy as np
import pandas as pd
import pytest
from app_fixtures import PAIR, batches, pair_path

import analytics
import database as db
from core.contracts import ContractRules
from core.vocabulary import SignalKind
from service import costs as service_costs, monitor, pair_trading, paper_check, watchlist
from service.window import load_window

END_MS = 1_733_000_000_000
SPEC = db.WatchSpec(
    PAIR[0], PAIR[1], hedge_window=120, z_window=30, entry=1.5, exit=0.0, stop=3.5, max_hold_bars=400,
    capital=10_000.0, fee_bps=4.0, cost_bps=1.5, auto_trade=True,
)  # fmt: skip


def write(db_path: str, ticks: list) -> None:
    with contextlib.closing(db.open_writer(db_path)) as conn:
        db.write_ticks(conn, ticks)


def drain(db_path: str) -> None:
    while monitor.evaluate_all(db_path, final=True).bars:
        pass


def backtest_of(db_path: str, watch: db.Watch) -> analytics.BacktestResult:
    """The backtest of every stored bar of the pair, read through the same window path as the monitor."""
    with contextlib.closing(db.open_reader(db_path)) as conn:
        end = watchlist.closed_end(conn, watch, final=True)
        assert end is not None
        window = load_window(conn, watchlist.watch_controls(db_path, watch, end, 10_000))
    closes = window.closes(watch.pair)
    costs = service_costs.pair_costs(window, *PAIR)
    return analytics.backtest_pairs(closes[PAIR[0]], closes[PAIR[1]], watchlist.backtest_params(watch.spec), costs)


def ms(stamps: pd.Series, shift: int = 0) -> list[int]:
    """Epoch ms of timestamps (+ shift: a fill's time is the end of its bar, 1 s after the bar's stamp)."""
    return [int(t.value // 1_000_000) + shift for t in stamps]


@pytest.fixture
def followed(tmp_path) -> tuple[str, db.Watch]:
    """A watched pair whose ticks arrived in 10 batches, the monitor passing after each, then draining."""
    path = str(tmp_path / "watch.db")
    watch = watchlist.add_watch(path, SPEC)
    for ticks in batches(pair_path(4000, END_MS, 4000 * 1000, seed=11), 400):
        write(path, ticks)
        monitor.evaluate_all(path)
    drain(path)
    return path, watch


def test_paper_positions_from_signals_reconcile_with_the_backtest(followed):
    path, watch = followed
    result = backtest_of(path, watch)
    trades = result.trades[result.trades["exit_reason"] != "end"]
    with contextlib.closing(db.open_reader(path)) as conn:
        positions = sorted(db.list_pair_positions(conn, watch.id), key=lambda p: p.opening.opened_at)
        signals = db.list_signals(conn, watch.id, limit=None)
    closed = [p for p in positions if not p.is_open]
    assert len(trades) >= 5 and len(closed) == len(trades)
    assert [p.opening.opened_at for p in closed] == ms(trades["entry_time"], 1000)
    assert [p.closing.closed_at for p in closed if p.closing] == ms(trades["exit_time"], 1000)
    assert np.allclose([p.opening.qty_y for p in closed], trades["qty_y"], rtol=1e-12)
    assert np.allclose([p.opening.qty_x for p in closed], trades["qty_x"], rtol=1e-12)
    realized = np.array([p.closing.realized_pnl for p in closed if p.closing])
    assert np.abs(realized - trades["net_pnl"].to_numpy()).max() < 1e-9
    views = {v.position.id: v.pnl for v in pair_trading.position_views(path, watch.id)}
    assert abs(sum(views[p.id].fees for p in closed) - trades["fees"].sum()) < 1e-9
    assert abs(sum(views[p.id].spread for p in closed) - trades["spread_cost"].sum()) < 1e-9
    assert abs(sum(views[p.id].price_y for p in closed) - trades["price_pnl_y"].sum()) < 1e-9
    assert abs(realized.sum() - trades["net_pnl"].sum()) < 1e-9
    check = paper_check.paper_vs_backtest(path, watch.id)  # what the Watchlist tab shows on request
    assert check is not None and check.paper.trades == check.backtest.trades >= len(trades) - 2
    for part in ("gross", "fees", "spread", "funding", "net"):
        assert abs(getattr(check.paper, part) - getattr(check.backtest, part)) < 1e-9, part
    entries = [s for s in signals if s.kind.is_entry]
    assert {s.kind for s in signals} >= {SignalKind.ENTRY_LONG, SignalKind.ENTRY_SHORT, SignalKind.EXIT}
    assert all(s.zscore is not None and abs(s.zscore) > SPEC.entry for s in entries)  # the inputs are stored


def test_a_restart_resumes_without_duplicate_events(followed):
    path, watch = followed
    with contextlib.closing(db.open_reader(path)) as conn:
        before = [(s.bar_ms, s.kind) for s in db.list_signals(conn, watch.id, limit=None)]
        positions = len(db.list_pair_positions(conn, watch.id))
        cursor = db.get_watch(conn, watch.id).evaluated_ms  # type: ignore[union-attr]  # stored above
    drain(path)  # a second process finding everything evaluated
    with contextlib.closing(db.open_writer(path)) as conn:  # a crash before the cursor moved: bars evaluated again
        conn.execute("UPDATE watchlist SET evaluated_ms=? WHERE id=?", (cursor - 500_000, watch.id))
    drain(path)
    with contextlib.closing(db.open_reader(path)) as conn:
        after = [(s.bar_ms, s.kind) for s in db.list_signals(conn, watch.id, limit=None)]
        assert len(db.list_pair_positions(conn, watch.id)) == positions
    assert after == before and len(set(after)) == len(after)


def test_positions_by_hand_close_once_under_two_closers(tmp_path):
    path = str(tmp_path / "hand.db")
    write(path, pair_path(50, END_MS, 50_000).ticks())
    watch = watchlist.add_watch(path, dataclasses.replace(SPEC, auto_trade=False))
    opened = pair_trading.open_by_hand(path, watch.id, db.PaperSide.SHORT, 0.04)
    assert opened.opening.qty_y < 0 < opened.opening.qty_x and opened.opening.leg_status is db.LegStatus.OK
    with pytest.raises(pair_trading.PositionRefused, match="already has an open position"):
        pair_trading.open_by_hand(path, watch.id, db.PaperSide.LONG, 0.04)
    with pytest.raises(watchlist.WatchRefused, match="open paper position"):
        watchlist.remove_watch(path, watch.id)
    barrier, outcomes = threading.Barrier(2), []

    def close() -> None:
        barrier.wait()
        try:
            outcomes.append(pair_trading.close_by_hand(path, opened.id).closing)
        except pair_trading.PositionRefused as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(refused) == 1 and ("not open" in refused[0] or "someone else" in refused[0])
    (view,) = pair_trading.position_views(path, watch.id)
    closing = view.position.closing
    assert closing is not None and closing.close_reason == pair_trading.MANUAL
    assert view.pnl.net == pytest.approx(closing.realized_pnl, abs=1e-9)
    assert view.pnl.fees == pytest.approx(opened.opening.entry_fees + closing.exit_fees)


def test_whole_steps_and_the_imbalance_bound():
    rules = {s: ContractRules(s, 0.1, 0.001, 5.0) for s in PAIR}
    sizes = pair_trading.size_legs(db.PaperSide.LONG, 10_000.0, 0.04, 75_000.0, 3_000.0, rules, PAIR)
    assert sizes.qty_y > 0 > sizes.qty_x and sizes.imbalance <= pair_trading.MAX_IMBALANCE
    assert abs(sizes.qty_y / 0.001 - round(sizes.qty_y / 0.001)) < 1e-6
    coarse = {PAIR[0]: ContractRules(PAIR[0], 0.1, 0.05, 5.0), PAIR[1]: rules[PAIR[1]]}
    with pytest.raises(pair_trading.PositionRefused, match="away from its hedge"):
        pair_trading.size_legs(db.PaperSide.LONG, 10_000.0, 0.04, 75_000.0, 3_000.0, coarse, PAIR)
    with pytest.raises(pair_trading.PositionRefused, match="less than one quantity step"):
        pair_trading.size_legs(db.PaperSide.LONG, 1.0, 0.04, 75_000.0, 3_000.0, rules, PAIR)
    strict = {s: ContractRules(s, 0.1, 0.001, 6_000.0) for s in PAIR}  # the backtest's refusal, same words
    with pytest.raises(pair_trading.PositionRefused, match="below the minimum 6000 USDT"):
        pair_trading.size_legs(db.PaperSide.LONG, 10_000.0, 0.04, 75_000.0, 3_000.0, strict, PAIR)


def test_a_leg_that_lags_is_flagged(tmp_path):
    """x stops trading 20 s before y: a position opened by hand, or by the monitor from a signal, is flagged."""
    path = str(tmp_path / "lag.db")
    ticks = pair_path(60, END_MS, 60_000).ticks()
    write(path, [t for t in ticks if t.symbol == PAIR[1] or t.timestamp < END_MS - 20_000])
    watch = watchlist.add_watch(path, dataclasses.replace(SPEC, auto_trade=False))
    opened = pair_trading.open_by_hand(path, watch.id, db.PaperSide.LONG, 0.04)
    assert opened.opening.leg_status is db.LegStatus.LAGGING
    with contextlib.closing(db.open_reader(path)) as conn:
        window = load_window(conn, watchlist.watch_controls(path, watch, END_MS, 60))
    bars = monitor.pair_bars(window, watch.pair)
    assert bars.traded_ms(PAIR[1])[-1] == ms(bars.closes.index[-1:])[0]  # y traded in the last bar
    assert bars.traded_ms(PAIR[0])[-1] < END_MS - 20_000  # x's price is carried from a bar before it stopped


def test_next_funding_of_a_watched_pair_and_its_open_position():
    at = pd.Timestamp("2024-08-09 08:00", tz="UTC")
    nexts = {
        PAIR[0]: db.NextFunding(PAIR[0], 1e-4, at + pd.Timedelta(hours=4), 60_000.0, 8.0, at),
        PAIR[1]: db.NextFunding(PAIR[1], -2e-4, at, 3_000.0, 8.0, at),
    }
    watch = db.Watch(1, SPEC, 0, None)
    opening = db.PairOpening(
        1, PAIR[0], PAIR[1], db.PaperSide.LONG, -0.05, 2.0, 0.025, 60_000.0, 3_000.0, 0, 1.0, 0.5,
        db.LegStatus.OK, 0.0,
    )  # fmt: skip
    held = watchlist.next_funding_of(watch, db.PairPosition(1, opening, None), nexts)
    assert held is not None and held.at == at  # the earlier leg's settlement
    assert held.cash == pytest.approx(0.05 * 60_000 * 1e-4 + 2.0 * 3_000 * 2e-4)  # short x receives, long y too
    flat = watchlist.next_funding_of(watch, None, nexts)
    assert flat is not None and flat.cash is None
    assert watchlist.next_funding_of(watch, None, {PAIR[0]: None}) is None
