"""CSV exports of the visible window built on click: OHLC bars, the pair's series and the backtest's trades (raw
ticks stream from the API instead: api.market.ticks_csv)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

import numpy as np
import pandas as pd

import database
from core import numbers
from service.controls import Controls, tick_decimals
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


CSV_SIGNIFICANT = 8  # computed values (β, spread, z) keep this many significant digits, not 17 of binary noise
PVALUE_COLUMNS = ("pvalue", "pvalue_y_on_x", "pvalue_x_on_y", "screen_pvalue", "qvalue", "oos_pvalue")


def readable(frame: pd.DataFrame, *, ticks: Collection[str] = (), money: Collection[str] = ()) -> pd.DataFrame:
    """A frame as a trader's CSV: prices (`ticks`: prices and sizes) at their tick's or step's decimals, `money` in
    cents of a cent (4 decimals), other floats to CSV_SIGNIFICANT digits, p-values under numbers.P_FLOOR written
    '< 1e-16' (never 0), durations in seconds, and human headers (numbers.header)."""
    out = frame.copy()
    renames = {}
    for col in map(str, out.columns):
        values = out[col]
        if pd.api.types.is_timedelta64_dtype(values):
            out[col] = values.dt.total_seconds()
            renames[col] = col.removesuffix("_time") + "_seconds"
        elif not pd.api.types.is_float_dtype(values):
            continue
        elif col in PVALUE_COLUMNS:
            out[col] = [numbers.pvalue(v) if 0 <= v < numbers.P_FLOOR else v for v in values]
        elif col in ticks:
            out[col] = values.round(tick_decimals(values.to_numpy()))
        elif col in money:
            out[col] = values.round(4)
        else:
            out[col] = [float(f"{v:.{CSV_SIGNIFICANT}g}") if np.isfinite(v) else v for v in values]
    return out.rename(columns=renames).rename(columns=lambda c: numbers.header(str(c)))


def pair_frame(window: Window) -> pd.DataFrame:
    """Pair analytics per bar: timestamp, prices (at their ticks), β, α, spread, z-score, correlation, then the
    backtest's legs and its P&L by source in USDT (price P&L per leg, fees, spread cost, slippage, funding, net)."""
    pair = pair_of(window, window.controls.pair)
    result = run_backtest(window)
    bars = result.legs.join(result.bar_pnl.rename(columns={"net": "net_pnl"}))
    money = (*(str(col) for col in result.bar_pnl.columns if col != "net"), "net_pnl")
    ticks = (pair.x_symbol, pair.y_symbol, *map(str, result.legs.columns))
    return readable(with_time_columns(pair.to_frame().join(bars)), ticks=ticks, money=money)


TRADE_PRICES = (
    "entry_price_x",
    "entry_price_y",
    "exit_price_x",
    "exit_price_y",
    "qty_x",
    "qty_y",
    "exit_qty_x",
    "unhedged_x",
)
TRADE_MONEY = ("price_pnl_x", "price_pnl_y", "gross_pnl", "fees", "spread_cost", "slippage", "funding", "net_pnl")


def trades_frame(window: Window) -> pd.DataFrame:
    """The backtest's trade log: prices and sizes at their tick and step, P&L and costs in USDT, holding in
    seconds."""
    return readable(run_backtest(window).trades, ticks=TRADE_PRICES, money=TRADE_MONEY)


def window_csv(c: Controls, build: Callable[[Window], pd.DataFrame]) -> bytes:
    """CSV bytes (formula-injection safe) of a frame built from a freshly read window; runs only on click."""
    with reader(c.db_target) as conn:
        window = load_window(conn, c)
    return database.dataframe_to_csv(build(window))


def export_name(c: Controls, what: str) -> str:
    """File name for an export of the window."""
    return f"{'-'.join(c.symbols)}_{c.bar_timeframe}_{what}_{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.csv"
