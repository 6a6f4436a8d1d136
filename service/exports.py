"""CSV exports of the visible window built on click: OHLC bars, the pair's series and the backtest's trades (raw
ticks stream from the API instead: api.market.ticks_csv)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

import database
from service.controls import Controls
from service.costs import run_backtest
from service.window import Window, load_window, pair_of, reader


def with_time_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A time-indexed frame with leading `timestamp` (epoch ms) and `time_utc` columns, for CSV export."""
    index = pd.DatetimeIndex(frame.index)
    out = frame.reset_index(drop=True)
    out.insert(0, "time_utc", index.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3])
    out.insert(0, "timestamp", index.as_unit("ms").asi8)
    return out


def bars_frame(window: Window) -> pd.DataFrame:
    """OHLC bars of every analysed symbol in the window (long format; filled = no trade in that bar)."""
    parts = [with_time_columns(bars).assign(symbol=symbol) for symbol, bars in window.require().items()]
    frame = pd.concat(parts, ignore_index=True)
    return frame[["symbol", "timestamp", "time_utc", "open", "high", "low", "close", "volume", "trades", "filled"]]


def pair_frame(window: Window) -> pd.DataFrame:
    """Pair analytics per bar: timestamp, prices, beta, alpha, spread, z-score, correlation, then the backtest's
    legs and its P&L by source (price P&L per leg, fees, spread cost, slippage, funding per leg, net)."""
    result = run_backtest(window)
    bars = result.legs.join(result.bar_pnl.rename(columns={"net": "net_pnl"}))
    return with_time_columns(pair_of(window, window.controls.pair).to_frame().join(bars))


def trades_frame(window: Window) -> pd.DataFrame:
    """The backtest's trade log."""
    return run_backtest(window).trades


def window_csv(c: Controls, build: Callable[[Window], pd.DataFrame]) -> bytes:
    """CSV bytes (formula-injection safe) of a frame built from a freshly read window; runs only on click."""
    with reader(c.db_target) as conn:
        window = load_window(conn, c)
    return database.dataframe_to_csv(build(window))


def export_name(c: Controls, what: str) -> str:
    """File name for an export of the window."""
    return f"{'-'.join(c.symbols)}_{c.bar_timeframe}_{what}_{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.csv"
