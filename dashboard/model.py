"""The Streamlit-free model of a view: connections, the bars of the visible window (with a per-session tail cache), and
the pair, its tests and its backtest computed from them through analytics."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

import analytics
import database
from core.vocabulary import Timeframe
from dashboard.controls import BAR_SECONDS, FULL_RELOAD_S, OVERLAP_BARS, Controls, fmt_time


def reader(db_path: str) -> contextlib.closing[database.Connection]:
    """A fresh read-only connection for one run of a view, closed when the `with` block ends."""
    return contextlib.closing(database.open_reader(db_path))


def writer(db_path: str) -> contextlib.closing[database.Connection]:
    """A short-lived write connection for one UI action (upload, alert rule, paper trade), closed after use."""
    return contextlib.closing(database.open_writer(db_path))


@dataclass
class Window:
    """Bars of the visible window per symbol (time-indexed, at the shown timeframe, empty intervals filled)."""

    controls: Controls
    start_ms: int
    end_ms: int
    bars: dict[str, pd.DataFrame]

    def require(self, symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """Bars of the given (default: all analysed) symbols, or InsufficientData naming what is missing."""
        wanted = list(symbols or self.controls.symbols)
        found = {s: self.bars[s] for s in wanted if s in self.bars}
        if not found:
            raise analytics.InsufficientData(
                f"no bars for {', '.join(wanted) or 'any symbol'} between {fmt_time(self.start_ms)} and"
                f" {fmt_time(self.end_ms)} UTC — start the collector, upload data, or move the window (sidebar)")
        return found

    def closes(self, symbols: Sequence[str] | None = None, min_volume: float = 0.0) -> pd.DataFrame:
        """Closes of the symbols on their common bar times."""
        return analytics.align_closes(self.require(symbols), min_volume)


def _bars_by_symbol(raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split database.read_bars output into {symbol: time-indexed bars} with analytics column names."""
    out = {}
    for symbol, frame in raw.groupby("symbol", sort=False):
        bars = analytics.to_time_index(frame.drop(columns="symbol").rename(columns={"trade_count": "trades"}))
        out[str(symbol)] = bars.drop(columns="quote_volume") if bars["quote_volume"].isna().any() else bars
    return out


@dataclass
class BarCache:
    """Stored bars one session read for (database, symbols, series) lately, so a refresh reads only the tail."""

    rows: pd.DataFrame
    start_ms: int
    through_ms: int
    loaded_at: float


def read_window_bars(conn: database.Connection, c: Controls, symbols: list[str], start: int, end: int,
                     cache: dict | None) -> pd.DataFrame:
    """database.read_bars of the source series for [start, end); with a cache, only bars from a few bars before
    the previous read's end are re-read, and everything is re-read every FULL_RELOAD_S (repaired history)."""
    key = (c.db_path, tuple(symbols), c.source_timeframe)
    hit: BarCache | None = cache.get(key) if cache is not None else None
    if (hit is not None and time.monotonic() - hit.loaded_at < FULL_RELOAD_S and hit.start_ms <= start
            and hit.through_ms <= end):
        since = max(start, hit.through_ms - OVERLAP_BARS * BAR_SECONDS[c.source_timeframe] * 1000)
        kept = hit.rows[(hit.rows["timestamp"] >= start) & (hit.rows["timestamp"] < since)]
        new = database.read_bars(conn, symbols, c.source_timeframe, since, end)
        # An empty part (e.g. the empty first read of a new database) has object columns; concatenating it
        # would turn the integer timestamps into objects, so only non-empty parts are joined.
        parts = [part for part in (kept, new) if len(part)]
        rows = pd.concat(parts, ignore_index=True) if len(parts) == 2 else (parts[0] if parts else new)
        loaded_at = hit.loaded_at
    else:
        rows, loaded_at = database.read_bars(conn, symbols, c.source_timeframe, start, end), time.monotonic()
    if cache is not None:
        cache.pop(key, None)
        cache[key] = BarCache(rows, start, end, loaded_at)
        while len(cache) > 4:
            cache.pop(next(iter(cache)))
    return rows


def load_window(conn: database.Connection, c: Controls, symbols: Sequence[str] | None = None,
                cache: dict | None = None) -> Window:
    """The one data path of every view: stored bars of [end − lookback, end) re-aggregated to the shown timeframe.

    Reads the 1s (or 1min) rollups; a symbol with none there (uploaded bars) falls back to the finest stored
    series no coarser than the shown timeframe. Cost grows with the window, never with the database; with a
    session cache a refresh reads only the bars that are new.
    """
    wanted = list(symbols or c.symbols)
    start, end = c.bounds()
    frames = _bars_by_symbol(read_window_bars(conn, c, wanted, start, end, cache)) if wanted else {}
    series = dict.fromkeys(frames, c.source_timeframe)
    fallbacks = [tf for tf in Timeframe
                 if BAR_SECONDS[tf] <= BAR_SECONDS[c.bar_timeframe] and tf != c.source_timeframe]
    for timeframe in fallbacks:
        missing = [s for s in wanted if s not in frames]
        if not missing:
            break
        found = _bars_by_symbol(database.read_bars(conn, missing, timeframe, start, end))
        frames.update(found)
        series.update(dict.fromkeys(found, timeframe))
    bars = {s: analytics.resample_bars(frames[s], c.bar_timeframe, fill=True, source=series[s])
            for s in wanted if s in frames}
    return Window(c, start, end, bars)


def pair_closes(window: Window, pair: tuple[str, str] | None) -> tuple[pd.Series, pd.Series]:
    """Aligned closes (x, y) of a pair over the window, or InsufficientData saying what is missing."""
    c = window.controls
    if pair is None:
        raise analytics.InsufficientData("choose two different symbols for the pair in the sidebar "
                                         "(Analytics settings)")
    x_sym, y_sym = pair
    missing = [s for s in pair if s not in window.bars]
    if missing:
        raise analytics.InsufficientData(f"no bars for {' and '.join(missing)} between {fmt_time(window.start_ms)} and "
                            f"{fmt_time(window.end_ms)} UTC")
    closes = window.closes(pair, c.min_volume)
    need = analytics.pair_warmup(c.method, c.hedge_window, c.z_window, causal=not c.in_sample_hedge)
    if len(closes) < need:
        raise analytics.InsufficientData(
            f"the pair needs ≥ {need:,} aligned bars (the {c.method} hedge's warm-up or the z window "
            f"{c.z_window}, whichever is longer, plus {analytics.MIN_STAT_OBS} for the tests); have {len(closes):,}. "
            "Wait for more data, widen the lookback or shorten the windows.")
    return closes[x_sym], closes[y_sym]


def pair_of(window: Window, pair: tuple[str, str] | None) -> analytics.PairSeries:
    """The pair's series over the window, from the one pair pipeline (InsufficientData while too short)."""
    c = window.controls
    x, y = pair_closes(window, pair)
    return analytics.pair_series(x, y, method=c.method, window=c.hedge_window, z_window=c.z_window,
                                 causal=not c.in_sample_hedge)


@dataclass
class TimedTests:
    """A pair's test results and when they were computed (the dashboard shows the age)."""

    tests: analytics.PairTests
    computed_at: float


def run_tests(pair: analytics.PairSeries, closes: pd.DataFrame | None) -> TimedTests:
    """analytics.pair_tests, stamped with the time it finished."""
    return TimedTests(analytics.pair_tests(pair, closes), time.time())


def all_closes(window: Window) -> pd.DataFrame | None:
    """Closes of every analysed symbol with bars on common times, when there are at least two."""
    if len(window.bars) < 2:
        return None
    with contextlib.suppress(ValueError):
        return window.closes(None, window.controls.min_volume)
    return None


def run_backtest(window: Window) -> analytics.BacktestResult:
    """The z-score pairs backtest of the selected pair over the window with the sidebar's parameters."""
    x, y = pair_closes(window, window.controls.pair)
    return analytics.backtest_pairs(x, y, window.controls.backtest_params())
