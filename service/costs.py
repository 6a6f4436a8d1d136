"""The costs a pair trade pays, read for the visible window: each leg's recorded quotes, funding settlements and
contract rules with the fee settings (for the backtest, the sweep and the exports), and the next funding settlement's
expected cash flow per leg (Pair Analytics)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import analytics
import database
from service.controls import BAR_SECONDS, Controls
from service.window import Window, load_window, pair_closes


@dataclass(frozen=True)
class WindowCosts:
    """A view's reads for the backtest: the window and the selected pair's cost model (None without a pair)."""

    window: Window
    costs: analytics.CostModel | None


def _leg_market(c: Controls, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> analytics.LegMarket:
    """One leg's stored quotes and settlements over [start, end) and its contract rules."""
    return analytics.LegMarket(
        quotes=database.quote_bars(c.db_target, symbol, start, end),
        funding=database.funding_rates(c.db_target, symbol, start, end),
        rules=database.contract_rules(c.db_target, symbol),
    )


def pair_costs(window: Window, x_symbol: str, y_symbol: str) -> analytics.CostModel:
    """The cost model of a pair over the window: the fee, stand-in spread and liquidity settings with each leg's
    recorded quotes, funding and contract rules (the window's last bar closes one bar after its end)."""
    c = window.controls
    start = pd.Timestamp(window.start_ms, unit="ms", tz="UTC")
    end = pd.Timestamp(window.end_ms + BAR_SECONDS[c.bar_timeframe] * 1000, unit="ms", tz="UTC")
    return analytics.CostModel(
        taker_fee_bps=c.fee_bps,
        maker_fee_bps=c.maker_fee_bps,
        stand_in_half_spread_bps=c.stand_in_spread_bps,
        liquidity=analytics.Liquidity(c.liquidity),
        x=_leg_market(c, x_symbol, start, end),
        y=_leg_market(c, y_symbol, start, end),
    )


def run_backtest(window: Window, costs: analytics.CostModel | None = None) -> analytics.BacktestResult:
    """The z-score pairs backtest of the selected pair over the window with the sidebar's parameters, paying the
    pair's recorded costs (stand-in spread where no quotes were recorded); `costs` read already (with the window:
    kept through a database outage) or read here."""
    x, y = pair_closes(window, window.controls.pair)
    if costs is None:
        costs = pair_costs(window, str(x.name), str(y.name))
    return analytics.backtest_pairs(x, y, window.controls.backtest_params(), costs)


def window_costs(conn: database.Connection, c: Controls, cache: dict | None = None) -> WindowCosts:
    """The visible window and the selected pair's cost model, read together (one view's reads)."""
    window = load_window(conn, c, cache=cache)
    return WindowCosts(window, pair_costs(window, *c.pair) if c.pair is not None else None)


def run_sweep(window: Window, entries: tuple[float, ...], exits: tuple[float, ...], metric: str) -> pd.DataFrame:
    """analytics.parameter_sweep of the selected pair with the same costs as run_backtest."""
    x, y = pair_closes(window, window.controls.pair)
    params, costs = window.controls.backtest_params(), pair_costs(window, str(x.name), str(y.name))
    return analytics.parameter_sweep(x, y, params, entries, exits, metric=metric, costs=costs)


@dataclass(frozen=True)
class LegFunding:
    """One leg's next settlement as the live markPrice stream states it (None before any was stored), the quantity a
    long-spread position worth the capital holds, and the cash that settlement would pay it (USDT, + received)."""

    symbol: str
    quantity: float
    next: database.NextFunding | None
    cash: float | None


def next_funding_flows(c: Controls, pair: analytics.PairSeries) -> tuple[LegFunding, LegFunding]:
    """The next settlement's expected cash flow per leg of a long-spread position (long qy of y, short beta·qy of x,
    gross notional = capital at the latest closes, as the backtest sizes it); a short spread gets the negatives."""
    beta, px, py = float(pair.hedge.beta), float(pair.x.iloc[-1]), float(pair.y.iloc[-1])
    qy = c.capital / (py + abs(beta) * px)
    out = []
    for symbol, qty in ((pair.x_symbol, -beta * qy), (pair.y_symbol, qy)):
        nxt = database.next_funding(c.db_target, symbol)
        cash = None
        if nxt is not None:
            settlement = pd.DataFrame(
                {"rate": [nxt.rate], "mark_price": [nxt.mark_price]}, index=pd.DatetimeIndex([nxt.next_funding_time])
            )
            held_into = nxt.next_funding_time - pd.Timedelta(seconds=1)  # open across the settlement
            position = pd.Series([qty], index=pd.DatetimeIndex([held_into]))
            cash = float(analytics.funding_payments(position, settlement).iloc[0])
        out.append(LegFunding(symbol, qty, nxt, cash))
    return out[0], out[1]
