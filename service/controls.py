"""Sidebar choices as one frozen record (Controls), the dashboard's constants and number/time formatting."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analytics
import database
from core.numbers import duration, significant

BAR_SECONDS = analytics.TIMEFRAMES  # timeframe -> bar length in seconds


LOOKBACK_MINUTES = (5, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080)


FINE_WINDOW_MINUTES = 360  # windows up to 6 h read the stored 1s bars; longer ones the 1min bars


TESTS_TTL_S = 15.0  # the statistical tests are refreshed (in the background) this often
SLOW_VIEW_S = 10.0  # a tab's slow part (statistics, distributions) is redrawn this often, or at the refresh if slower


HOLE_S = 60  # a minute or more without a trade is drawn as a gap, not a flat line
FULL_RELOAD_S = 30.0  # a session re-reads its whole window this often (else only new bars)


OVERLAP_BARS = 5  # an incremental read re-reads this many bars before the previous end


SWEEP_ENTRIES = (1.0, 1.5, 2.0, 2.5, 3.0)


SWEEP_EXITS = (-0.5, 0.0, 0.5, 1.0)


SWEEP_METRICS = ("pct_return", "total_return", "sharpe", "win_rate", "max_drawdown", "profit_factor", "n_trades")


BACKTEST_METRICS: tuple[tuple[str, str, str | Callable[[float], str]], ...] = (
    ("total_return", "Total P&L (USDT)", "{:+,.2f}"),
    ("pct_return", "Return", "{:+.2f}%"),
    ("n_trades", "Trades", "{:,}"),
    ("win_rate", "Win rate", "{:.1%}"),
    ("expectancy", "Per trade (USDT)", "{:+,.2f}"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("max_drawdown", "Max drawdown", "{:.2%}"),
    ("total_fees", "Fees paid (USDT)", "{:,.2f}"),
    ("exposure", "Time in market", "{:.1%}"),
    ("avg_holding_seconds", "Avg holding", duration),
    ("sharpe", "Sharpe (ann.)", "{:.2f}"),
    ("sortino", "Sortino (ann.)", "{:.2f}"),
    ("calmar", "Calmar", "{:.2f}"),
    ("cagr", "CAGR", "{:.2%}"),
)


@dataclass(frozen=True)
class Controls:
    """Every sidebar choice a view depends on; plain values, so it is safe to hand to a download thread."""

    db_target: str
    symbols: tuple[str, ...]
    pair: tuple[str, str] | None
    timeframe: str
    lookback_min: int
    end_ms: int | None
    min_volume: float
    method: str
    hedge_window: int
    z_window: int
    entry: float
    exit: float
    stop: float | None
    max_hold: int | None
    fee_bps: float  # the taker fee
    slippage_bps: float
    capital: float
    in_sample: bool
    maker_fee_bps: float
    stand_in_spread_bps: float
    liquidity: str

    @property
    def source_timeframe(self) -> str:
        """Stored bar series the window is read from: 1min for coarse bars or windows over 6 h, else 1s."""
        coarse = BAR_SECONDS[self.timeframe] >= 60 or self.lookback_min > FINE_WINDOW_MINUTES
        return "1min" if coarse else "1s"

    @property
    def bar_timeframe(self) -> str:
        """Bar size actually shown: the chosen timeframe, or the source's when the chosen one is finer."""
        return max(self.timeframe, self.source_timeframe, key=BAR_SECONDS.__getitem__)

    @property
    def in_sample_hedge(self) -> bool:
        """True when the labelled in-sample (look-ahead) static hedge is in use."""
        return self.in_sample and self.method in analytics.STATIC_METHODS

    def bounds(self) -> tuple[int, int]:
        """[start, end) of the window in epoch ms; a live window ends now."""
        end = self.end_ms if self.end_ms is not None else database.now_ms() + 1
        return end - self.lookback_min * 60_000, end

    def backtest_params(self) -> analytics.BacktestParams:
        """The backtest settings these controls describe."""
        return analytics.BacktestParams(
            entry=self.entry,
            exit=self.exit,
            stop=self.stop,
            max_hold_bars=self.max_hold,
            z_window=self.z_window,
            hedge_method=self.method,
            hedge_window=self.hedge_window,
            capital=self.capital,
            fee_bps=self.fee_bps,
            slippage_bps=self.slippage_bps,
            bar_seconds=float(BAR_SECONDS[self.bar_timeframe]),
            in_sample=self.in_sample_hedge,
        )

    def describe(self) -> str:
        """One line saying what the window shows."""
        end = "now" if self.end_ms is None else fmt_time(self.end_ms)
        bars = self.bar_timeframe + (
            f" (chosen {self.timeframe}: windows over 6 h use 1min bars)"
            if self.bar_timeframe != self.timeframe
            else ""
        )
        pair = f"pair x = {self.pair[0]} → y = {self.pair[1]}" if self.pair else "no pair selected"
        return (
            f"Window: {fmt_minutes(self.lookback_min)} ending {end} (UTC) · {bars} bars · {pair} · {self.method} hedge"
        )


def fmt_time(ms: int | None) -> str:
    """Epoch ms as 'YYYY-MM-DD HH:MM:SS' UTC ('—' for None)."""
    return "—" if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")


def fmt_minutes(minutes: int) -> str:
    """A lookback as '15 min', '6 h' or '2 d'."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def fmt_span(seconds: float) -> str:
    """A covered time span as '66 s', '30 min', '5 h' or '2 d' (rounded to its unit)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.0f} d"


def fmt_price(value: float, decimals: int | None = None) -> str:
    """A price with thousands separators and the decimals of the symbol's tick (`tick_decimals` of its recent
    prices); without them, 2 decimals above 1 and 6 significant digits below."""
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    return f"{value:,.2f}" if abs(value) >= 1 else fmt_value(value, 6)


OFF_GRID_DIGITS = 6  # significant digits shown of values on no tick grid (simulated prices)


def tick_decimals(prices: Sequence[float] | np.ndarray, most: int = 8) -> int:
    """The decimals of a symbol's price tick (or, given sizes, its quantity step), read off its trades: the fewest
    decimals that write every one of them exactly (0.1 for BTCUSDT's 60,000.1, 0.00001 for a 0.12345 coin, 0.001
    for BTC quantities). Exchange info would say it too, but a replayed or uploaded symbol has none; trades always sit
    on the tick and step grids. Values on no grid up to `most` decimals (a model's prices) get OFF_GRID_DIGITS
    significant digits of the smallest instead of `most` decimals of noise."""
    values = np.abs(np.asarray(prices, dtype=float))
    values = values[np.isfinite(values)]
    for decimals in range(most + 1):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 + 1e-12 * scaled):  # float noise, not a coarser grid
            return decimals
    smallest = values[values > 0].min()  # here some value is off every grid, so not 0
    return int(np.clip(OFF_GRID_DIGITS - 1 - np.floor(np.log10(smallest)), 0, most))


def fmt_value(value: float | None, spec: str | int | Callable[[float], str] = 4) -> str:
    """A number, or '—' when it is missing or not finite; an int spec means that many significant digits in
    plain notation with thousands separators (12,150 and 0.00001230, never 1.215e+04); a function (one of
    core.numbers') formats it itself."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if callable(spec):
        return spec(value)
    return spec.format(value) if isinstance(spec, str) else significant(value, spec)


def fmt_duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min', '3 d 04 h'."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600:02d} h"
