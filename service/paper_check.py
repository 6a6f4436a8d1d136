"""A watched pair's paper positions set against the backtest of the same stored bars with the same costs: what the
Watchlist tab shows on request, so a user sees that the positions the monitor traded are the backtest's trades.

Positions opened from signals reconcile with backtest_pairs over every bar the monitor evaluated (from the legs'
first common stored bar) when the monitor evaluated the pair from there and no position was opened by hand
meanwhile (a hand-opened position blocks the signals' entries). No Streamlit, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import analytics
import database
from service import costs, pair_trading, watchlist
from service.controls import BAR_SECONDS
from service.window import load_window, reader

MAX_CHECK_BARS = 86_400  # the comparison covers at most this many bars (the monitor's own backlog bound)


@dataclass(frozen=True)
class Totals:
    """A set of round trips summed by source (USDT): how many, price P&L of both legs, fees, spread cost, funding,
    net."""

    trades: int
    gross: float
    fees: float
    spread: float
    funding: float
    net: float


@dataclass(frozen=True)
class PaperVsBacktest:
    """Closed signal-opened paper positions and the backtest's closed trades over the same bars."""

    paper: Totals
    backtest: Totals
    bars: int


def paper_vs_backtest(db_target: str, watch_id: int) -> PaperVsBacktest | None:
    """The comparison over every bar the monitor has evaluated; None before it has evaluated the pair or when the
    stored bars cannot support a backtest yet."""
    with reader(db_target) as conn:
        watch = database.get_watch(conn, watch_id)
        if watch is None or watch.evaluated_ms is None:
            return None
        tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
        end = watch.evaluated_ms + tf_ms  # every fill up to here is done (the monitor moves its cursor after them)
        firsts = {s.symbol: s.first_ts for s in database.symbol_summaries(conn) if s.first_ts is not None}
        if not all(s in firsts for s in watch.pair):
            return None
        first = max(firsts[s] for s in watch.pair) // tf_ms * tf_ms
        bars = min(MAX_CHECK_BARS, (end - first) // tf_ms)
        window = load_window(conn, watchlist.watch_controls(db_target, watch, end, bars))
        positions = [
            p
            for p in database.list_pair_positions(conn, watch.id, limit=None)
            if p.closing is not None and p.closing.closed_at <= end and p.opening.entry_signal_id is not None
        ]
    x, y = watch.pair
    try:
        closes = window.closes(watch.pair)
        result = analytics.backtest_pairs(
            closes[x], closes[y], watchlist.backtest_params(watch.spec), costs.pair_costs(window, x, y)
        )
    except (analytics.InsufficientData, ValueError):
        return None
    start = int(pd.DatetimeIndex(closes.index).as_unit("ms").asi8[0])
    views = [pair_trading.view_of(db_target, p).pnl for p in positions if p.opening.opened_at > start]
    trades = result.trades[result.trades["exit_reason"] != "end"]
    fills = pd.DatetimeIndex(trades["exit_time"]).as_unit("ms").asi8 + tf_ms  # a fill's time is its bar's end
    trades = trades[fills <= end]
    paper = Totals(
        len(views),
        sum(v.gross for v in views),
        sum(v.fees for v in views),
        sum(v.spread for v in views),
        sum(v.funding for v in views),
        sum(v.net for v in views),
    )
    backtest = Totals(
        len(trades),
        float(trades["gross_pnl"].sum()),
        float(trades["fees"].sum()),
        float(trades["spread_cost"].sum() + trades["slippage"].sum()),
        float(trades["funding"].sum()),
        float(trades["net_pnl"].sum()),
    )
    return PaperVsBacktest(paper, backtest, len(closes))
