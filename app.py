"""Binance Analytics Platform dashboard (Streamlit 1.67): UI wiring only.

SQL lives in database.py, maths in analytics.py, figures in visualizations.py and the background collector in
collector.py. Controls sit in the sidebar (outside the tabs, so they keep their state); the tabs are lazy (only the
open one runs) and every live tab body is an ``st.fragment(run_every=...)`` that opens a fresh read-only SQLite
connection, reads the stored bars of the visible window only, and closes it. The collector is started only by the
Start button: one per server process, shared by every browser session.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import pandas as pd
import streamlit as st

import analytics
import collector
import database
from core.vocabulary import FeedKind
import visualizations as viz
from config import TIMEFRAMES, ConfigError, Settings, configure_logging, load_settings, parse_symbols
from data_feed import OhlcvBar, ParseReport, Tick, TickFileError, parse_ohlcv_csv, parse_tick_file

log = logging.getLogger("app")

BAR_SECONDS = analytics.TIMEFRAMES         # timeframe -> bar length in seconds

TABS = ("Dashboard", "Charts", "Pair Analytics", "Backtest", "Portfolio", "Alerts", "Data Management")
FEEDS = {"binance": "Binance live", "simulated": "Simulated", "replay": "Replay file"}
HEDGE_METHODS = ("kalman", "rolling", "tls", "ols", "huber")
LOOKBACK_MINUTES = (5, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080)
FINE_WINDOW_MINUTES = 360            # windows up to 6 h read the stored 1s bars; longer ones the 1min bars
TESTS_TTL_S = 15.0                   # the statistical tests are refreshed (in the background) this often
FULL_RELOAD_S = 30.0                 # a session re-reads its whole window this often (else only new bars)
OVERLAP_BARS = 5                     # an incremental read re-reads this many bars before the previous end
SWEEP_ENTRIES = (1.0, 1.5, 2.0, 2.5, 3.0)
SWEEP_EXITS = (-0.5, 0.0, 0.5, 1.0)
SWEEP_METRICS = ("pct_return", "total_return", "sharpe", "win_rate", "max_drawdown", "profit_factor", "n_trades")
ALERT_METRICS = {"zscore": "z-score of a pair", "spread": "spread of a pair", "price": "price of a symbol"}
ALERT_OPS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "crosses_above": "crosses above",
             "crosses_below": "crosses below"}
UPLOAD_KINDS = {"ticks": "Ticks: NDJSON {symbol, ts, price, size}, Binance aggTrades/trades CSV (.csv/.zip), "
                         "recorded frames (.gz)",
                "bars": "OHLCV bars: CSV ts,open,high,low,close,volume (or a Binance kline CSV)"}
BACKTEST_METRICS = (("total_return", "Total P&L", "{:,.2f}"), ("pct_return", "Return", "{:+.2f}%"),
                    ("n_trades", "Trades", "{:,}"), ("win_rate", "Win rate", "{:.1%}"),
                    ("expectancy", "Avg P&L / trade", "{:,.2f}"), ("profit_factor", "Profit factor", "{:.2f}"),
                    ("max_drawdown", "Max drawdown", "{:.2%}"), ("total_fees", "Fees paid", "{:,.2f}"),
                    ("exposure", "Time in market", "{:.1%}"), ("avg_holding_seconds", "Avg holding", "{:,.0f} s"),
                    ("sharpe", "Sharpe (ann.)", "{:.2f}"), ("sortino", "Sortino (ann.)", "{:.2f}"),
                    ("calmar", "Calmar", "{:.2f}"), ("cagr", "CAGR", "{:.2%}"))


class NotEnoughData(Exception):
    """The window does not (yet) hold what a view needs; shown as an info message, not an error."""


class UploadError(ValueError):
    """An upload was refused; the message names the file, the line and the problem. Nothing was stored."""


# ----------------------------------------------------------------------------------------------------- controls
@dataclass(frozen=True)
class Controls:
    """Every sidebar choice a view depends on; plain values, so it is safe to hand to a download thread."""

    db_path: str
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
    fee_bps: float
    slippage_bps: float
    capital: float
    in_sample: bool

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
            entry=self.entry, exit=self.exit, stop=self.stop, max_hold_bars=self.max_hold, z_window=self.z_window,
            hedge_method=self.method, hedge_window=self.hedge_window, capital=self.capital, fee_bps=self.fee_bps,
            slippage_bps=self.slippage_bps, bar_seconds=float(BAR_SECONDS[self.bar_timeframe]),
            in_sample=self.in_sample_hedge)

    def describe(self) -> str:
        """One line saying what the window shows."""
        end = "now" if self.end_ms is None else fmt_time(self.end_ms)
        bars = self.bar_timeframe + (f" (chosen {self.timeframe}: windows over 6 h use 1min bars)"
                                     if self.bar_timeframe != self.timeframe else "")
        pair = f"pair x = {self.pair[0]} → y = {self.pair[1]}" if self.pair else "no pair selected"
        return (f"Window: {fmt_minutes(self.lookback_min)} ending {end} (UTC) · {bars} bars · {pair} · "
                f"{self.method} hedge")


def fmt_time(ms: int | None) -> str:
    """Epoch ms as 'YYYY-MM-DD HH:MM:SS' UTC ('—' for None)."""
    return "—" if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")


def fmt_minutes(minutes: int) -> str:
    """A lookback as '15 min', '6 h' or '2 d'."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def fmt_price(value: float) -> str:
    """A price with sensible decimals."""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"


def fmt_value(value: float | None, spec: str = "{:.4g}") -> str:
    """A number, or '—' when it is missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return spec.format(value)


def reader(db_path: str) -> contextlib.closing[sqlite3.Connection]:
    """A fresh read-only connection for one run of a view, closed when the `with` block ends."""
    return contextlib.closing(database.open_reader(db_path))


def writer(db_path: str) -> contextlib.closing[sqlite3.Connection]:
    """A short-lived write connection for one UI action (upload, alert rule, paper trade), closed after use."""
    return contextlib.closing(database.open_writer(db_path))


def from_analytics(exc: BaseException) -> bool:
    """True for a ValueError raised inside analytics.py: its way of saying the data cannot support a result."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "analytics":
            return isinstance(exc, ValueError)
        tb = tb.tb_next
    return False


@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Show a failing section as a message, never a traceback (too little data → info, anything else → error)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - a broken section must not take the page down
        if isinstance(exc, NotEnoughData) or from_analytics(exc):
            log.debug("%s: %s", what, exc)
            st.info(f"**{what}** — {exc}")
        else:
            log.exception("%s failed", what)
            st.error(f"**{what}** failed: {exc}")


# ------------------------------------------------------------------------------------------------------- data
@dataclass
class Window:
    """Bars of the visible window per symbol (time-indexed, at the shown timeframe, empty intervals filled)."""

    controls: Controls
    start_ms: int
    end_ms: int
    bars: dict[str, pd.DataFrame]

    def require(self, symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """Bars of the given (default: all analysed) symbols, or NotEnoughData naming what is missing."""
        wanted = list(symbols or self.controls.symbols)
        found = {s: self.bars[s] for s in wanted if s in self.bars}
        if not found:
            raise NotEnoughData(f"no bars for {', '.join(wanted) or 'any symbol'} between {fmt_time(self.start_ms)} "
                                f"and {fmt_time(self.end_ms)} UTC — start the collector, upload data, or move the "
                                "window (sidebar)")
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


def read_window_bars(conn: sqlite3.Connection, c: Controls, symbols: list[str], start: int, end: int,
                     cache: dict | None) -> pd.DataFrame:
    """database.read_bars of the source series for [start, end); with a cache, only bars from a few bars before
    the previous read's end are re-read, and everything is re-read every FULL_RELOAD_S (repaired history)."""
    key = (c.db_path, tuple(symbols), c.source_timeframe)
    hit = cache.get(key) if cache is not None else None
    fresh = hit is not None and time.monotonic() - hit.loaded_at < FULL_RELOAD_S
    if fresh and hit.start_ms <= start and hit.through_ms <= end:
        since = max(start, hit.through_ms - OVERLAP_BARS * BAR_SECONDS[c.source_timeframe] * 1000)
        kept = hit.rows[(hit.rows["timestamp"] >= start) & (hit.rows["timestamp"] < since)]
        new = database.read_bars(conn, symbols, c.source_timeframe, since, end)
        rows = pd.concat([kept, new], ignore_index=True) if len(new) else kept
        loaded_at = hit.loaded_at
    else:
        rows, loaded_at = database.read_bars(conn, symbols, c.source_timeframe, start, end), time.monotonic()
    if cache is not None:
        cache.pop(key, None)
        cache[key] = BarCache(rows, start, end, loaded_at)
        while len(cache) > 4:
            cache.pop(next(iter(cache)))
    return rows


def session_cache() -> dict:
    """This session's bar cache (a plain dict kept in session state)."""
    return st.session_state.setdefault("_bar_cache", {})


def load_window(conn: sqlite3.Connection, c: Controls, symbols: Sequence[str] | None = None,
                cache: dict | None = None) -> Window:
    """The one data path of every view: stored bars of [end − lookback, end) re-aggregated to the shown timeframe.

    Reads the 1s (or 1min) rollups; a symbol with none there (uploaded bars) falls back to the finest stored
    series no coarser than the shown timeframe. Cost grows with the window, never with the database; with a
    session cache a refresh reads only the bars that are new.
    """
    wanted = list(symbols or c.symbols)
    start, end = c.bounds()
    frames = _bars_by_symbol(read_window_bars(conn, c, wanted, start, end, cache)) if wanted else {}
    fallbacks = [tf for tf in TIMEFRAMES
                 if BAR_SECONDS[tf] <= BAR_SECONDS[c.bar_timeframe] and tf != c.source_timeframe]
    for timeframe in fallbacks:
        missing = [s for s in wanted if s not in frames]
        if not missing:
            break
        frames.update(_bars_by_symbol(database.read_bars(conn, missing, timeframe, start, end)))
    bars = {s: analytics.resample_bars(frames[s], c.bar_timeframe, fill=True) for s in wanted if s in frames}
    return Window(c, start, end, bars)


@dataclass
class Pair:
    """Live pair series: causal hedge, spread y − (α + β·x), its z-score and the rolling return correlation."""

    x_symbol: str
    y_symbol: str
    x: pd.Series
    y: pd.Series
    hedge: analytics.HedgeResult
    spread: pd.Series
    zscore: pd.Series
    correlation: pd.Series

    def latest(self, name: str) -> float:
        """Latest finite value of one of the series (NaN when there is none yet)."""
        valid = getattr(self, name).dropna()
        return float(valid.iloc[-1]) if len(valid) else math.nan

    def frame(self) -> pd.DataFrame:
        """Per-bar frame (time-indexed): both prices, beta, alpha, spread, z-score, correlation."""
        return pd.DataFrame({self.x_symbol: self.x, self.y_symbol: self.y, "beta": self.hedge.beta_series,
                             "alpha": self.hedge.alpha_series, "spread": self.spread, "zscore": self.zscore,
                             "correlation": self.correlation})


def pair_closes(window: Window, pair: tuple[str, str] | None) -> tuple[pd.Series, pd.Series]:
    """Aligned closes (x, y) of a pair over the window, or NotEnoughData saying what is missing."""
    c = window.controls
    if pair is None:
        raise NotEnoughData("choose two different symbols for the pair in the sidebar (Analytics settings)")
    x_sym, y_sym = pair
    missing = [s for s in pair if s not in window.bars]
    if missing:
        raise NotEnoughData(f"no bars for {' and '.join(missing)} between {fmt_time(window.start_ms)} and "
                            f"{fmt_time(window.end_ms)} UTC")
    closes = window.closes(pair, c.min_volume)
    need = c.hedge_window + c.z_window
    if len(closes) < need:
        raise NotEnoughData(f"the pair needs ≥ {need:,} aligned bars (hedge window {c.hedge_window} + z window "
                            f"{c.z_window}); have {len(closes):,}. Wait for more data, widen the lookback or "
                            "shorten the windows.")
    return closes[x_sym], closes[y_sym]


def pair_of(window: Window, pair: tuple[str, str] | None) -> Pair:
    """Hedge, spread, z-score and correlation of a pair over the window (NotEnoughData while too short)."""
    c = window.controls
    x, y = pair_closes(window, pair)
    hedge = analytics.fit_hedge(x, y, c.method, window=c.hedge_window, causal=not c.in_sample_hedge)
    spread = analytics.calculate_spread(x, y, hedge.beta_series, hedge.alpha_series)
    return Pair(str(x.name), str(y.name), x, y, hedge, spread, analytics.calculate_zscore(spread, c.z_window),
                analytics.rolling_correlation(x, y, c.hedge_window))


@dataclass
class PairTests:
    """Stationarity / cointegration / mean-reversion results, or why each is unavailable."""

    results: dict[str, Any]
    problems: dict[str, str]
    n_bars: int
    computed_at: float


def run_tests(pair: Pair, closes: pd.DataFrame | None) -> PairTests:
    """ADF on the spread, Engle–Granger on the prices, half-life, Hurst and (3+ symbols too) Johansen."""
    jobs: dict[str, Callable[[], Any]] = {
        "adf": lambda: analytics.adf_test(pair.spread),
        "engle_granger": lambda: analytics.engle_granger(pair.x, pair.y),
        "half_life": lambda: analytics.half_life(pair.spread),
        "hurst": lambda: analytics.hurst_exponent(pair.spread)}
    if closes is not None:
        jobs["johansen"] = lambda: analytics.johansen(closes)
    results, problems = {}, {}
    for name, job in jobs.items():
        try:
            results[name] = job()
        except ValueError as exc:
            problems[name] = str(exc)
    return PairTests(results, problems, len(pair.x), time.time())


def cached_tests(pair: Pair, closes: pd.DataFrame | None, c: Controls) -> PairTests:
    """The tests for these settings: computed in the refresh when the settings change; afterwards the last result
    is shown while a background thread refreshes it every TESTS_TTL_S (the tests cost far more than the series)."""
    key = (pair.x_symbol, pair.y_symbol, c.db_path, c.method, c.hedge_window, c.z_window, c.timeframe,
           c.lookback_min, c.end_ms, c.min_volume, c.in_sample_hedge, tuple(closes.columns) if closes is not None
           else ())
    state = st.session_state.setdefault("_tests", {})
    if key not in state:
        state.clear()
        state[key] = run_tests(pair, closes)
    elif time.time() - state[key].computed_at > TESTS_TTL_S and not state.get("running"):
        state["running"] = True
        threading.Thread(target=refresh_tests, args=(state, key, pair, closes), name="pair-tests",
                         daemon=True).start()
    return state[key]


def refresh_tests(state: dict, key: tuple, pair: Pair, closes: pd.DataFrame | None) -> None:
    """Recompute the tests off the refresh path and publish them into the session's test cache."""
    try:
        state[key] = run_tests(pair, closes)
    finally:
        state["running"] = False


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


# ------------------------------------------------------------------------------------------------------ exports
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
    """Pair analytics per bar: timestamp, prices, beta, alpha, spread, z-score, correlation."""
    return with_time_columns(pair_of(window, window.controls.pair).frame())


def trades_frame(window: Window) -> pd.DataFrame:
    """The backtest's trade log."""
    return run_backtest(window).trades


def window_csv(c: Controls, build: Callable[[Window], pd.DataFrame]) -> bytes:
    """CSV bytes (formula-injection safe) of a frame built from a freshly read window; runs only on click."""
    with reader(c.db_path) as conn:
        window = load_window(conn, c)
    return database.dataframe_to_csv(build(window))


def ticks_csv(c: Controls) -> bytes:
    """Raw ticks of the analysed symbols in the window, streamed from a server-side cursor into CSV bytes."""
    start, end = c.bounds()
    with reader(c.db_path) as conn:
        chunks = database.csv_chunks(database.TICK_COLUMNS, database.stream_ticks(conn, c.symbols, start, end))
        return "".join(chunks).encode()


def download(label: str, make: Callable[[], bytes], file_name: str, key: str) -> None:
    """A download button whose CSV is built only when clicked (no rerun)."""
    st.download_button(label, data=make, file_name=file_name, mime="text/csv", key=key, on_click="ignore")


def export_name(c: Controls, what: str) -> str:
    """File name for an export of the window."""
    return f"{'-'.join(c.symbols)}_{c.bar_timeframe}_{what}_{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.csv"


# ------------------------------------------------------------------------------------------------------ uploads
@dataclass
class ParsedUpload:
    """A validated upload waiting to be stored: every record parsed, nothing written yet."""

    name: str
    kind: str
    fmt: str
    records: list[Tick] | list[OhlcvBar]
    symbol: str | None
    timeframe: str | None

    def preview(self, rows: int = 20) -> pd.DataFrame:
        """The first records as a table."""
        return pd.DataFrame([dataclasses.asdict(r) for r in self.records[:rows]])

    def extent(self) -> tuple[list[str], int, int]:
        """Symbols, first and last time (epoch ms) of the records."""
        stamps = [r.timestamp if isinstance(r, Tick) else r.ts for r in self.records]
        symbols = sorted({r.symbol or self.symbol or "" for r in self.records})
        return symbols, min(stamps), max(stamps)

    def summary(self) -> str:
        """Counts, symbols and time range in one line."""
        symbols, first, last = self.extent()
        what = "ticks" if self.kind == "ticks" else f"{self.timeframe} bars"
        return (f"{self.name}: {len(self.records):,} {what} ({self.fmt}) for {', '.join(symbols)} from "
                f"{fmt_time(first)} to {fmt_time(last)} UTC")


def parse_upload(data: bytes, name: str, kind: str, *, symbol: str = "", timeframe: str = "1min",
                 max_mb: int = 200) -> ParsedUpload:
    """Validate a whole upload (size, format, every line); raise UploadError naming the line and the problem."""
    if not data.strip():
        raise UploadError(f"{name} is empty. Nothing was stored.")
    try:
        sym = parse_symbols(symbol)[0] if symbol.strip() else None
    except ValueError as exc:
        raise UploadError(f"symbol {symbol!r}: {exc}") from None
    report = ParseReport()
    try:
        if kind == "ticks":
            records: list = parse_tick_file(data, name, strict=True, symbol=sym, report=report,
                                            max_bytes=max_mb * 2**20)
        else:
            if timeframe not in TIMEFRAMES:
                raise UploadError(f"timeframe {timeframe!r} is not one of {', '.join(TIMEFRAMES)}")
            records = parse_ohlcv_csv(data, strict=True, name=name, report=report, max_bytes=max_mb * 2**20)
            if sym is None and any(bar.symbol is None for bar in records):
                raise UploadError("OHLCV bars need a symbol: type it in the Symbol field or give the file a "
                                  "symbol column. Nothing was stored.")
    except TickFileError as exc:
        raise UploadError(f"{name}: {exc}. Nothing was stored: fix the file and upload it again.") from None
    if not records:
        raise UploadError(f"{name} holds no {'ticks' if kind == 'ticks' else 'bars'}. Nothing was stored.")
    return ParsedUpload(name, kind, report.format, records, sym, timeframe if kind == "bars" else None)


def store_upload(db_path: str, parsed: ParsedUpload) -> str:
    """Write a validated upload in one transaction (all or nothing) and say what was stored."""
    with writer(db_path) as conn:
        if parsed.kind == "ticks":
            result = database.write_ticks(conn, parsed.records)  # type: ignore[arg-type]
            return (f"Stored {result.total_inserted:,} new ticks ({result.duplicates:,} were already stored) "
                    f"for {', '.join(sorted(result.inserted))}.")
        by_symbol: dict[str, list[tuple]] = {}
        for b in parsed.records:  # a symbol column wins over the symbol typed in the form
            by_symbol.setdefault(b.symbol or parsed.symbol or "", []).append(  # type: ignore[union-attr]
                (b.ts, b.open, b.high, b.low, b.close, b.volume, b.trades))  # type: ignore[union-attr]
        count = database.write_bars(conn, parsed.timeframe or "1min", by_symbol, source="upload")
        return (f"Stored {count:,} {parsed.timeframe} bars for {', '.join(sorted(by_symbol))}; they show at a "
                f"timeframe of {parsed.timeframe} or coarser.")


# ------------------------------------------------------------------------------------------------------ alerts
def alert_fires(rule: database.AlertRule, value: float) -> bool:
    """True when a rule fires now: crossings on the crossing bar, level rules on the check that turns them true."""
    now = analytics.evaluate_alert(value, rule.op, rule.threshold, rule.last_value)
    if rule.op.startswith("crosses") or not now:
        return now
    return rule.last_value is None or not analytics.evaluate_alert(rule.last_value, rule.op, rule.threshold)


def rule_text(rule: database.AlertRule) -> str:
    """A rule in words, e.g. 'z-score ETHUSDT vs BTCUSDT crosses above 2'."""
    subject = rule.symbol_x if rule.metric == "price" else f"{rule.symbol_y} vs {rule.symbol_x}"
    name = {"zscore": "z-score", "spread": "spread", "price": "price"}[rule.metric]
    return f"{name} {subject} {ALERT_OPS.get(rule.op, rule.op)} {rule.threshold:g}"


def alert_values(conn: sqlite3.Connection, rules: Sequence[database.AlertRule], c: Controls,
                 cache: dict | None = None) -> dict[int, float]:
    """Current value of each rule's metric on the live window (rules whose data is missing are left out)."""
    values: dict[int, float] = {}
    prices = database.last_prices(conn, sorted({r.symbol_x for r in rules if r.metric == "price"}))
    pairs = sorted({(r.symbol_x, r.symbol_y) for r in rules if r.metric != "price"})
    live = dataclasses.replace(c, end_ms=None)
    window = load_window(conn, live, sorted({s for p in pairs for s in p}), cache) if pairs else None
    series: dict[tuple[str, str], Pair] = {}
    for pair in pairs:
        with contextlib.suppress(NotEnoughData, ValueError):
            series[pair] = pair_of(window, pair)  # type: ignore[arg-type]
    for rule in rules:
        if rule.metric == "price" and rule.symbol_x in prices:
            values[rule.id] = prices[rule.symbol_x][1]
        elif (rule.symbol_x, rule.symbol_y) in series:
            value = series[(rule.symbol_x, rule.symbol_y)].latest(rule.metric)
            if math.isfinite(value):
                values[rule.id] = value
    return values


def check_alerts(c: Controls, cache: dict | None = None) -> list[str]:
    """Evaluate every enabled rule on new data, store values and firings; return the messages that fired."""
    with reader(c.db_path) as conn:
        rules = [r for r in database.list_alert_rules(conn) if r.enabled]
        values = alert_values(conn, rules, c, cache) if rules else {}
    checks = [(r, values[r.id]) for r in rules if r.id in values and values[r.id] != r.last_value]
    fired = []
    if checks:
        with writer(c.db_path) as conn:
            for rule, value in checks:
                message = f"{rule_text(rule)} (now {value:.6g})" if alert_fires(rule, value) else None
                database.record_alert_check(conn, rule.id, value, message)
                fired += [message] if message else []
    return fired


# ----------------------------------------------------------------------------------------------------- sidebar
def init_state(settings: Settings) -> None:
    """Default every control once per session (widgets then take their value from session state)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    defaults: dict[str, Any] = {
        "feed": settings.data_feed, "replay_file": settings.replay_file, "symbols_text": ",".join(settings.symbols),
        "view_symbols": list(settings.symbols), "pair_x": settings.symbols[0],
        "pair_y": settings.symbols[1] if len(settings.symbols) > 1 else settings.symbols[0],
        "timeframe": settings.default_timeframe, "lookback": settings.lookback_minutes, "end_mode": "now",
        "end_at": now, "method": "kalman", "hedge_window": 60, "z_window": 60, "min_volume": 0.0, "entry": 2.0,
        "exit": 0.0, "stop_z": 4.0, "max_hold": 0, "fee_bps": settings.fee_bps,
        "slippage_bps": settings.slippage_bps, "capital": 10_000.0, "in_sample": False,
        "refresh_s": settings.refresh_interval_ms / 1000, "paused": False, "show_volume": True,
        "norm_mode": "rebased", "sweep_metric": "pct_return", "pf_side": "LONG", "pf_notional": 1000.0,
        "alert_metric": "zscore", "alert_op": ">", "alert_threshold": 2.0, "upload_kind": "ticks",
        "upload_symbol": "", "upload_timeframe": "1min", "table_limit": 100, "table_order": "newest",
        "alerts_seen_ms": database.now_ms(), "collector_error": "", "flash": [],
        "backfill_minutes": settings.backfill_minutes, "backfill_kline_hours": settings.backfill_kline_hours,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def lookback_options(settings: Settings) -> list[int]:
    """Lookback choices in minutes, including the configured default."""
    return sorted(set(LOOKBACK_MINUTES) | {settings.lookback_minutes})


def collect_symbols(settings: Settings) -> tuple[str, ...]:
    """Symbols typed in the sidebar, or the configured ones while the text is invalid."""
    try:
        return parse_symbols(st.session_state["symbols_text"])
    except ValueError:
        return settings.symbols


def on_symbols_changed() -> None:
    """Typing new symbols makes them the analysed set and the pair."""
    with contextlib.suppress(ValueError):
        symbols = parse_symbols(st.session_state["symbols_text"])
        st.session_state["view_symbols"] = list(symbols)
        st.session_state["pair_x"] = symbols[0]
        st.session_state["pair_y"] = symbols[1] if len(symbols) > 1 else symbols[0]


def start_collector(settings: Settings, feed: str) -> None:
    """Start (or restart) the process-wide collector; any failure is kept to show, never raised."""
    symbols = collect_symbols(settings)
    try:
        settings = dataclasses.replace(settings, backfill_minutes=int(st.session_state["backfill_minutes"]),
                                       backfill_kline_hours=int(st.session_state["backfill_kline_hours"]))
        running = collector.start_service(settings, feed, symbols,
                                          replay_file=st.session_state["replay_file"].strip() or None)
    except Exception as exc:  # noqa: BLE001 - UnknownSymbolError, ConfigError, RuntimeError, OSError: all shown
        log.warning("collector start failed: %s", exc)
        st.session_state["collector_error"] = f"Could not start the {FEEDS[feed]} feed: {exc}"
        st.session_state["last_feed"] = feed
        return
    st.session_state.update(collector_error="", last_collector=running, last_feed=feed)


def stop_collector() -> None:
    """Stop the process-wide collector (everything queued is flushed)."""
    collector.stop_service()
    last = st.session_state.get("last_collector")
    if last is not None:
        last.stop()


def switch_to_simulated(settings: Settings) -> None:
    """One click from a failing Binance feed to the offline simulated market."""
    st.session_state["feed"] = "simulated"
    start_collector(settings, "simulated")
    st.session_state["_full_rerun"] = True


def visible_collector() -> collector.Collector | None:
    """The process's running collector, else the one this session started if it is still around (e.g. a finished
    replay draining, or a failed writer whose error must stay visible)."""
    running = collector.current_collector()
    last = st.session_state.get("last_collector")
    if running is None and last is not None and last.state not in ("stopped", "idle"):
        return last
    return running


def feed_problem(stats: collector.CollectorStats | None) -> str:
    """Why the Binance feed delivers nothing (a failed start, or never connected with an error), else ''."""
    if st.session_state.get("collector_error") and st.session_state.get("last_feed") == "binance":
        return st.session_state["collector_error"]
    if stats is None or stats.feed_kind is not FeedKind.BINANCE or stats.received:
        return ""
    feed = stats.feed
    if feed.get("state") == "connected" and not feed.get("stalled_streams"):
        return ""
    error = stats.last_error or feed.get("last_error")
    return f"Feed {feed.get('state', stats.state)} — {error}" if error else ""


def feed_badge(stats: collector.CollectorStats) -> None:
    """The feed kind, unmistakable: SIMULATED and REPLAY are warnings, live Binance shows its connection."""
    feed = stats.feed
    if stats.feed_kind is FeedKind.SIMULATED:
        st.warning("**SIMULATED FEED** — synthetic prices from an offline market model, not Binance.",
                   icon=":material/science:")
    elif stats.feed_kind is FeedKind.REPLAY:
        done = " — finished, all ticks stored" if stats.state == "draining" else ""
        st.warning(f"**REPLAY** of {feed.get('source') or 'a file'}{done}", icon=":material/replay:")
    elif feed.get("state") == "connected" and not feed.get("stalled_streams"):
        st.success(f"**BINANCE LIVE** — connected ({len(feed.get('streams', []))} streams)",
                   icon=":material/check_circle:")
    else:
        stalled = f" (no data on {', '.join(feed['stalled_streams'])})" if feed.get("stalled_streams") else ""
        st.error(f"**BINANCE** — {feed.get('state', stats.state)}{stalled}", icon=":material/error:")


def status_panel(settings: Settings) -> None:
    """Live collector status: feed kind, connection and last error, rates, ages, reconnects, drops, gaps, DB size."""
    if st.session_state.pop("_full_rerun", False):
        st.rerun()
    running = visible_collector()
    stats = running.stats() if running is not None else None
    problem = feed_problem(stats)
    if problem:
        st.error(f"**Cannot get data from Binance.** {problem}. No network here? The simulated market needs none.")
        st.button("Switch to the simulated feed", key="switch_simulated", type="primary", icon=":material/science:",
                  on_click=switch_to_simulated, args=(settings,))
    elif st.session_state.get("collector_error"):
        st.error(st.session_state["collector_error"])
    if stats is None:
        st.info("Collector stopped — press **Start**. Stored data stays viewable.")
    else:
        feed_badge(stats)
        feed = stats.feed
        left, right = st.columns(2)
        left.metric("Ticks/s", f"{stats.ticks_per_s:,.1f}")
        right.metric("Written", f"{stats.written:,}")
        left.metric("Dropped", f"{stats.dropped:,}")
        right.metric("Reconnects", f"{feed.get('reconnects', 0):,}")
        left.metric("Gaps", f"{stats.gaps_detected:,}",
                    help=f"repaired {stats.gaps_repaired}, unrepairable {stats.gaps_unrepairable}")
        right.metric("Queue", f"{stats.queue_depth:,}")
        now = database.now_ms()
        ages = " · ".join(f"{s} {(now - t) / 1000:.1f} s" for s, t in sorted(stats.last_receive_ms.items()))
        st.caption(f"Last tick age: {ages or 'no ticks yet'}")
        st.caption(f"Collector {stats.state} · feed {feed.get('state', '?')}"
                   + (f" · stalled: {', '.join(feed['stalled_streams'])}" if feed.get("stalled_streams") else ""))
        error = feed.get("last_error") or stats.last_error
        if error and not problem:
            st.caption(f"Last error: {error}")
        for label, progress in stats.backfill.items():
            if progress.endswith("%"):
                st.progress(float(progress[:-1]) / 100, text=f"Backfill {label}: {progress}")
            else:
                st.caption(f"Backfill {label}: {progress}")
    st.caption(f"Database {settings.db_path}: {database.database_size_bytes(settings.db_path) / 2**20:,.1f} MB")


def alert_watch(c: Controls) -> None:
    """Evaluate alert rules on every refresh and toast events fired since this session last looked."""
    check_alerts(c, session_cache())
    with reader(c.db_path) as conn:
        history = database.alert_history(conn, limit=20)
    fresh = history[history["fired_at"] > st.session_state["alerts_seen_ms"]]
    for message in reversed(fresh["message"].tolist()):
        st.toast(message, icon=":material/notifications_active:")
    if len(fresh):
        st.session_state["alerts_seen_ms"] = int(fresh["fired_at"].max())


def collector_controls(settings: Settings) -> None:
    """Feed choice, symbols, Start / Stop."""
    st.radio("Data feed", list(FEEDS), format_func=FEEDS.get, key="feed", horizontal=True)
    if st.session_state["feed"] == "replay":
        st.text_input("Replay file", key="replay_file", help="NDJSON ticks, Binance archive CSV (.csv/.zip) or "
                      "recorded frames (.gz); a path on the server")
    st.text_input("Symbols (USD-M, comma-separated, any case)", key="symbols_text", on_change=on_symbols_changed)
    try:
        parse_symbols(st.session_state["symbols_text"])
    except ValueError as exc:
        st.error(f"Symbols: {exc}")
    if st.session_state["feed"] == "binance":
        with st.expander("History backfill on start"):
            st.number_input("Minutes of trades (aggTrades, ≤ 48 h)", 0, 48 * 60, key="backfill_minutes",
                            help="Fetched over REST when Start is pressed; an interrupted backfill resumes")
            st.number_input("Hours of 1-minute klines", 0, 24 * 365, key="backfill_kline_hours",
                            help="Stored as 1min bars (source 'klines') for long lookbacks")
    start, stop = st.columns(2)
    if start.button("Start", key="start", type="primary", icon=":material/play_arrow:", width="stretch",
                    help="Starts collecting (restarts with the new choices if already running)"):
        with st.spinner(f"Starting the {FEEDS[st.session_state['feed']]} feed…"):
            start_collector(settings, st.session_state["feed"])
    if stop.button("Stop", key="stop", icon=":material/stop:", width="stretch"):
        stop_collector()


def analytics_controls(settings: Settings, stored: Sequence[str]) -> Controls:
    """Analysis settings (symbols, pair, timeframe, window, hedge, strategy, costs) → Controls."""
    st.subheader("Analytics settings")
    options = list(dict.fromkeys([*collect_symbols(settings), *stored]))
    st.session_state["view_symbols"] = [s for s in st.session_state["view_symbols"] if s in options]
    chosen = st.multiselect("Symbols to analyse", options, key="view_symbols")
    pair_options = chosen or options
    for key, fallback in (("pair_x", 0), ("pair_y", 1)):
        if st.session_state[key] not in pair_options:
            st.session_state[key] = pair_options[min(fallback, len(pair_options) - 1)]
    left, right = st.columns(2)
    left.selectbox("Pair x (independent)", pair_options, key="pair_x")
    right.selectbox("Pair y (dependent)", pair_options, key="pair_y")
    pair = (st.session_state["pair_x"], st.session_state["pair_y"])
    if pair[0] == pair[1]:
        st.warning("Pick two different symbols for the pair.")
    left, right = st.columns(2)
    left.selectbox("Timeframe", list(TIMEFRAMES), key="timeframe")
    right.selectbox("Lookback", lookback_options(settings), key="lookback", format_func=fmt_minutes)
    st.radio("Window ends", ["now", "earlier"], key="end_mode", horizontal=True,
             format_func={"now": "Now (live)", "earlier": "At a chosen time"}.get)
    end_ms = None
    if st.session_state["end_mode"] == "earlier":
        end_at = st.datetime_input("Window end (UTC) — scroll back in time", key="end_at", step=60)
        end_ms = int(end_at.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    st.selectbox("Regression (hedge ratio)", HEDGE_METHODS, key="method",
                 help="kalman: adaptive filter; rolling: OLS over the rolling window; tls / ols / huber: static fits "
                      "(refitted causally on an expanding window)")
    left, right = st.columns(2)
    left.number_input("Rolling window (bars)", 3, 100_000, key="hedge_window", step=10,
                      help="hedge window for rolling/expanding fits, also the correlation and volatility window")
    right.number_input("z-score window (bars)", 2, 100_000, key="z_window", step=10)
    st.number_input("Minimum bar volume", 0.0, key="min_volume", step=0.1,
                    help="bars with less volume are left out of pair analytics (0 = keep all)")
    with st.expander("Strategy, costs and backtest", expanded=False):
        left, right = st.columns(2)
        left.number_input("Entry |z|", 0.1, 10.0, key="entry", step=0.1)
        right.number_input("Exit z", -5.0, 5.0, key="exit", step=0.1)
        left.number_input("Stop |z| (0 = off)", 0.0, 20.0, key="stop_z", step=0.5)
        right.number_input("Max holding (bars, 0 = off)", 0, 1_000_000, key="max_hold", step=10)
        left.number_input("Fee (bps per leg)", 0.0, 100.0, key="fee_bps", step=0.5,
                          help="Binance USD-M taker fee is 4 bps (FEE_BPS)")
        right.number_input("Slippage (bps)", 0.0, 100.0, key="slippage_bps", step=0.5)
        st.number_input("Capital (USDT, gross notional per trade)", 100.0, 1e9, key="capital", step=1000.0)
        st.checkbox("In-sample hedge (look-ahead: fits on the whole window — research only)", key="in_sample",
                    disabled=st.session_state["method"] not in analytics.STATIC_METHODS,
                    help="Only for ols / huber / tls. Off = causal hedge, as a live strategy would have had.")
    return Controls(
        db_path=settings.db_path, symbols=tuple(chosen), pair=pair if pair[0] != pair[1] else None,
        timeframe=st.session_state["timeframe"], lookback_min=int(st.session_state["lookback"]), end_ms=end_ms,
        min_volume=float(st.session_state["min_volume"]), method=st.session_state["method"],
        hedge_window=int(st.session_state["hedge_window"]), z_window=int(st.session_state["z_window"]),
        entry=float(st.session_state["entry"]), exit=float(st.session_state["exit"]),
        stop=float(st.session_state["stop_z"]) or None, max_hold=int(st.session_state["max_hold"]) or None,
        fee_bps=float(st.session_state["fee_bps"]), slippage_bps=float(st.session_state["slippage_bps"]),
        capital=float(st.session_state["capital"]), in_sample=bool(st.session_state["in_sample"]))


def refresh_controls() -> None:
    """Refresh interval and the pause switch."""
    st.subheader("Refresh")
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    left.number_input("Every (seconds)", 0.5, 600.0, key="refresh_s", step=0.5)
    right.toggle("Pause", key="paused", help="Stops every automatic refresh (charts, status and alert checks)")


def refresh_every() -> float | None:
    """Seconds between live reruns, or None while paused."""
    return None if st.session_state["paused"] else float(st.session_state["refresh_s"])


# -------------------------------------------------------------------------------------------------------- tabs
PLOT_CONFIG = {"displaylogo": False,   # drawing tools for trend lines and zones, as the FastAPI seed's charts had
               "modeBarButtonsToAdd": ["drawline", "drawopenpath", "drawrect", "eraseshape"]}


def plot(fig: Any, key: str) -> None:
    """Draw a Plotly figure with its own dark template under a stable key (updates in place)."""
    st.plotly_chart(fig, key=key, theme=None, width="stretch", config=PLOT_CONFIG)


def recent_rate(bars: pd.DataFrame, end_ms: int, seconds: int = 60) -> float:
    """Trades per second over the last `seconds` of the window."""
    recent = bars.loc[bars.index >= pd.Timestamp(end_ms - seconds * 1000, unit="ms", tz="UTC"), "trades"]
    return float(recent.sum()) / seconds


def tab_dashboard(c: Controls) -> None:
    """Price cards, the pair's latest z-score and hedge ratio, a compact price chart."""
    st.caption(c.describe())
    with reader(c.db_path) as conn:
        window = load_window(conn, c, cache=session_cache())
        summaries = database.symbol_summaries(conn)
    found = window.require()
    with guard("Prices"):
        for row in range(0, len(found), 4):
            for col, (symbol, bars) in zip(st.columns(4), list(found.items())[row:row + 4]):
                first, last = float(bars["close"].iloc[0]), float(bars["close"].iloc[-1])
                change = f"{(last / first - 1) * 100:+.3f} % ({fmt_minutes(c.lookback_min)})"
                col.metric(symbol, fmt_price(last), change, border=True)
                col.caption(f"{recent_rate(bars, window.end_ms):.1f} ticks/s · {len(bars):,} bars")
    with guard("Pair"):
        pair = pair_of(window, c.pair)
        cols = st.columns(4)
        cols[0].metric(f"z-score {pair.y_symbol}/{pair.x_symbol}", fmt_value(pair.latest("zscore"), "{:+.2f}"))
        cols[1].metric(f"Hedge ratio β ({c.method})", fmt_value(pair.hedge.beta, "{:.5g}"))
        cols[2].metric("Spread", fmt_value(pair.latest("spread"), "{:,.4g}"))
        cols[3].metric("Return correlation", fmt_value(pair.latest("correlation"), "{:.3f}"))
    with guard("Price chart"):
        plot(viz.compact_price_figure(window.closes()), "dash_prices")
    total = sum(s.tick_count for s in summaries)
    st.caption(f"Stored: {total:,} ticks for {len(summaries)} symbols · database "
               f"{database.database_size_bytes(c.db_path) / 2**20:,.1f} MB")


def traded(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars that had trades (filled ones repeat the last close and would pile up zero returns)."""
    return bars.loc[~bars["filled"].astype(bool)]


def statistics_table(window: Window) -> pd.DataFrame:
    """Per-symbol time-series statistics of the window (prices and returns of traded bars, volume)."""
    rows = {}
    for symbol, bars in window.require().items():
        price = analytics.summary_statistics(traded(bars)["close"])
        ret = analytics.summary_statistics(analytics.returns(traded(bars)["close"]))
        high, low = float(bars["high"].max()), float(bars["low"].min())
        rows[symbol] = {"last": price["last"], "change": price["last"] - price["first"],
                        "change %": (price["last"] / price["first"] - 1) * 100, "high": high, "low": low,
                        "range": high - low, "mean": price["mean"], "σ price": price["std"],
                        "volume": float(bars["volume"].sum()), "avg volume/bar": float(bars["volume"].mean()),
                        "trades": int(bars["trades"].sum()), "bars": len(bars),
                        "filled bars %": analytics.fill_fraction(bars) * 100, "σ return %": ret["std"] * 100,
                        "skew": ret["skew"], "excess kurtosis": ret["kurtosis"]}
    return pd.DataFrame(rows).T


def tab_charts(c: Controls) -> None:
    """Candles with volume, normalised comparison, statistics with rolling volatility, distributions."""
    st.caption(c.describe())
    with reader(c.db_path) as conn:
        window = load_window(conn, c, cache=session_cache())
    found = window.require()
    st.toggle("Volume panels", key="show_volume", persist_state="page")
    for symbol, bars in found.items():
        plot(viz.candlestick_figure(bars, symbol, show_volume=st.session_state["show_volume"]),
             f"chart_candles_{symbol}")
    with guard("Normalised comparison"):
        st.radio("Scale", ["rebased", "pct"], key="norm_mode", horizontal=True, persist_state="page",
                 format_func={"rebased": "Rebased to 100", "pct": "% change since window start"}.get)
        plot(viz.normalized_price_figure(window.closes(), st.session_state["norm_mode"]), "chart_normalized")
    with guard("Statistics"):
        st.subheader("Time-series statistics")
        table = statistics_table(window)
        st.dataframe(table, width="stretch",
                     column_config={name: st.column_config.NumberColumn(format="%.6g") for name in table.columns})
        plot(viz.rolling_volatility_figure(window.closes(), window=c.hedge_window), "chart_volatility")
    with guard("Distributions"):
        if st.session_state.get("dist_symbol") not in found:
            st.session_state["dist_symbol"] = next(iter(found))
        symbol = st.columns(3)[0].selectbox("Distribution of", list(found), key="dist_symbol",
                                            persist_state="page")
        close = traded(found[symbol])["close"]
        left, right = st.columns(2)
        with left:
            plot(viz.distribution_figure(close, f"{symbol} price", x_title="Price"), "chart_price_dist")
        with right:
            plot(viz.distribution_figure(analytics.returns(close) * 100, f"{symbol} {c.bar_timeframe} returns",
                                         x_title="Return per bar (%)"), "chart_return_dist")


def johansen_verdict(rank: int, n: int) -> str:
    """Plain-language reading of a Johansen rank for n series."""
    if rank == 0:
        return "No cointegrating relation at 95 %"
    if rank >= n:
        return "Full rank: the prices themselves look stationary (no shared trend to trade)"
    return f"{rank} cointegrating relation(s) among {n} symbols at 95 %"


def verdicts(tests: PairTests, bar_seconds: int) -> pd.DataFrame:
    """The tests as a table with plain-language verdicts."""
    r, rows = tests.results, []
    if "adf" in r:
        adf = r["adf"]
        rows.append(("ADF on the spread", adf["statistic"], adf["pvalue"],
                     "Spread is stationary (mean-reverting) at 5 %" if adf["is_stationary"]
                     else "Cannot reject a unit root: the spread may wander"))
    if "engle_granger" in r:
        eg = r["engle_granger"]
        rows.append(("Engle–Granger (prices)", eg["statistic"], eg["pvalue"],
                     "Cointegrated at 5 %: a stable long-run relation" if eg["is_cointegrated"]
                     else "No evidence of cointegration"))
    if "half_life" in r:
        hl = r["half_life"]
        text = (f"Deviations halve in about {hl:,.1f} bars ({hl * bar_seconds:,.0f} s)" if math.isfinite(hl)
                else "No mean reversion detected")
        rows.append(("Half-life (bars)", hl, None, text))
    if "hurst" in r:
        h = r["hurst"]
        text = ("Mean-reverting (H < 0.45)" if h < 0.45 else "Trending (H > 0.55)" if h > 0.55
                else "Close to a random walk")
        rows.append(("Hurst exponent", h, None, text))
    if "johansen" in r:
        jo = r["johansen"]
        n = len(jo["trace_stats"])
        rows.append((f"Johansen trace ({n} symbols)", jo["trace_stats"][0], None, johansen_verdict(jo["rank"], n)))
    rows += [(name, None, None, f"not available: {why}") for name, why in tests.problems.items()]
    return pd.DataFrame([(name, fmt_value(stat), fmt_value(p, "{:.4f}"), text) for name, stat, p, text in rows],
                        columns=["test", "statistic", "p-value", "verdict"])


def quality_frame(window: Window, gaps: Sequence[database.Gap]) -> pd.DataFrame:
    """Bars, filled-bar share and gaps touching the window, per symbol."""
    rows = []
    for symbol, bars in window.require().items():
        touching = [g for g in gaps if g.symbol == symbol and (g.to_ts or window.end_ms) >= window.start_ms
                    and (g.from_ts or 0) < window.end_ms]
        rows.append({"symbol": symbol, "bars": len(bars), "filled_share": analytics.fill_fraction(bars),
                     "gaps": len(touching)})
    return pd.DataFrame(rows)


def gaps_table(gaps: Sequence[database.Gap]) -> pd.DataFrame:
    """Gaps as a readable table."""
    return pd.DataFrame([{"symbol": g.symbol, "missing ids": f"{g.first_missing_id}–{g.last_missing_id}",
                          "count": g.last_missing_id - g.first_missing_id + 1, "from": fmt_time(g.from_ts),
                          "to": fmt_time(g.to_ts), "status": g.status, "repaired": g.repaired_count, "note": g.note}
                         for g in gaps])


def tab_pair(c: Controls) -> None:
    """Hedge ratio, spread and z-score, correlation, tests with verdicts, correlation matrix, data quality."""
    st.caption(c.describe())
    with reader(c.db_path) as conn:
        window = load_window(conn, c, cache=session_cache())
        gaps = database.list_gaps(conn, list(c.symbols))
    window.require()
    with guard("Pair analytics"):
        pair = pair_of(window, c.pair)
        hedge = pair.hedge
        cols = st.columns(6)
        cols[0].metric("β (latest)", fmt_value(hedge.beta, "{:.5g}"))
        cols[1].metric("α (latest)", fmt_value(hedge.alpha, "{:,.4g}"))
        cols[2].metric("R²", fmt_value(hedge.r_squared, "{:.4f}"),
                       help="kalman has no R²; huber/tls report none" if hedge.r_squared is None else None)
        cols[3].metric("Spread", fmt_value(pair.latest("spread"), "{:,.4g}"))
        cols[4].metric("z-score", fmt_value(pair.latest("zscore"), "{:+.2f}"))
        cols[5].metric("Correlation", fmt_value(pair.latest("correlation"), "{:.3f}"))
        if c.in_sample_hedge:
            st.warning("IN-SAMPLE hedge: fitted on the whole window (look-ahead) — research only.")
        plot(viz.spread_zscore_figure(pair.spread, pair.zscore, entry=c.entry, exit=c.exit, stop=c.stop),
             "pair_spread")
        left, right = st.columns(2)
        with left:
            plot(viz.hedge_ratio_figure(hedge.beta_series, hedge.beta_band, c.method, r2=hedge.r_squared),
                 "pair_beta")
        with right:
            plot(viz.rolling_correlation_figure(pair.correlation, window=c.hedge_window), "pair_corr")
        st.subheader("Stationarity and mean reversion")
        tests = cached_tests(pair, all_closes(window), c)
        st.dataframe(verdicts(tests, BAR_SECONDS[c.bar_timeframe]), width="stretch", hide_index=True)
        st.caption(f"Tests on {tests.n_bars:,} bars, computed "
                   f"{time.strftime('%H:%M:%S', time.gmtime(tests.computed_at))} UTC (refreshed in the background "
                   f"every {TESTS_TTL_S:g} s, at once when a setting changes)."
                   + (" ADF on an adaptive (rolling/Kalman) residual over-rejects; judge cointegration by the "
                      "Engle–Granger p-value." if c.method in ("rolling", "kalman") else ""))
        download("Download pair analytics (CSV)", functools.partial(window_csv, c, pair_frame),
                 export_name(c, "pair"), "dl_pair_tab")
    left, right = st.columns(2)
    with left, guard("Correlation matrix"):
        plot(viz.correlation_heatmap(analytics.correlation_matrix(window.closes(None, c.min_volume)),
                                     title="Return correlation of the analysed symbols"), "pair_heatmap")
    with right, guard("Data quality"):
        plot(viz.data_quality_figure(quality_frame(window, gaps)), "pair_quality")
    with guard("Gaps"):
        window_gaps = [g for g in gaps if (g.to_ts or window.end_ms) >= window.start_ms]
        if window_gaps:
            st.dataframe(gaps_table(window_gaps), width="stretch", hide_index=True)
        else:
            st.caption("No trade-id gaps recorded in this window.")


def backtest_metrics(result: analytics.BacktestResult) -> None:
    """Metric tiles; withheld ones show '—' with the reason."""
    cols = st.columns(7)
    for i, (name, label, spec) in enumerate(BACKTEST_METRICS):
        value = result.metrics.get(name)
        cols[i % 7].metric(label, fmt_value(value, spec), help=result.metrics_reasons.get(name))
    shown = {name for name, _, _ in BACKTEST_METRICS}
    withheld: dict[str, list[str]] = {}
    for name, why in result.metrics_reasons.items():
        if name in shown:
            withheld.setdefault(why, []).append(name)
    st.caption(f"Annualisation: {result.ann_factor:,.0f} bars per year ({result.params.bar_seconds:g} s bars, "
               "365-day year). " + " ".join(f"Withheld {', '.join(names)}: {why}." for why, names in withheld.items()))


def tab_backtest(c: Controls) -> None:
    """Backtest of the pair: markers on the spread, equity and drawdown, metrics, trade log, threshold sweep."""
    st.caption(c.describe() + f" · entry ±{c.entry:g}, exit {c.exit:g}, stop {fmt_value(c.stop, '{:g}')}, "
               f"fees {c.fee_bps:g} bps, slippage {c.slippage_bps:g} bps, capital {c.capital:,.0f}")
    with reader(c.db_path) as conn:
        window = load_window(conn, c, cache=session_cache())
    result = run_backtest(window)
    if c.in_sample_hedge:
        st.warning("IN-SAMPLE backtest: the hedge ratio is fitted on the whole window (look-ahead). Research only.")
    backtest_metrics(result)
    plot(viz.spread_zscore_figure(result.spread, result.zscore, entry=c.entry, exit=c.exit, stop=c.stop,
                                  trades=result.trades), "bt_spread")
    plot(viz.equity_drawdown_figure(result.equity), "bt_equity")
    st.subheader(f"Trade log ({len(result.trades):,} trades)")
    st.dataframe(result.trades, width="stretch", hide_index=True, height=260)
    download("Download trade log (CSV)", functools.partial(window_csv, c, trades_frame), export_name(c, "trades"),
             "dl_trades_tab")
    st.caption(" · ".join(result.notes))
    with guard("Threshold sweep"):
        sweep_section(window, c)


def sweep_section(window: Window, c: Controls) -> None:
    """Entry × exit sweep heatmap, computed on click (it runs one backtest per cell) and kept for these settings."""
    st.subheader("Entry × exit sweep")
    left, right, _ = st.columns([2, 1, 3], vertical_alignment="bottom")
    metric = left.selectbox("Sweep metric", SWEEP_METRICS, key="sweep_metric", persist_state="page")
    signature = (dataclasses.replace(c, entry=0.0, exit=0.0), metric)
    if right.button("Run sweep", key="run_sweep", icon=":material/grid_on:"):
        x, y = pair_closes(window, c.pair)
        grid = analytics.parameter_sweep(x, y, c.backtest_params(), SWEEP_ENTRIES, SWEEP_EXITS, metric=metric)
        st.session_state["_sweep"] = (signature, grid, database.now_ms(), len(x))
    stored = st.session_state.get("_sweep")
    if stored is None or stored[0] != signature:
        st.caption(f"Runs {len(SWEEP_ENTRIES) * len(SWEEP_EXITS)} backtests (entries {SWEEP_ENTRIES}, exits "
                   f"{SWEEP_EXITS}) with the other settings as in the sidebar. Press Run sweep.")
        return
    plot(viz.sweep_heatmap(stored[1], metric), "bt_sweep")
    st.caption(f"Computed {fmt_time(stored[2])} UTC on {stored[3]:,} bars. A grid search overfits: judge the "
               "chosen cell on later data.")


def open_position(db_path: str) -> None:
    """Open a paper position at the latest stored price (button callback)."""
    symbol, side, notional = (st.session_state.get("pf_symbol"), st.session_state["pf_side"],
                              float(st.session_state["pf_notional"]))
    with reader(db_path) as conn:
        price = database.last_prices(conn, [symbol]).get(symbol) if symbol else None
    if price is None:
        st.session_state["flash"].append(("error", f"No stored price for {symbol} yet."))
        return
    with writer(db_path) as conn:
        database.open_paper_position(conn, symbol, side, notional, price[1])
    st.session_state["flash"].append(("success", f"Opened {side} {symbol} worth {notional:,.0f} at "
                                                 f"{fmt_price(price[1])}."))


def close_position(db_path: str, position: database.PaperPosition) -> None:
    """Close a paper position at the latest stored price (button callback)."""
    with reader(db_path) as conn:
        price = database.last_prices(conn, [position.symbol]).get(position.symbol)
    if price is None:
        st.session_state["flash"].append(("error", f"No stored price for {position.symbol}."))
        return
    with writer(db_path) as conn:
        pnl = database.close_paper_position(conn, position.id, price[1])
    st.session_state["flash"].append(("success", f"Closed #{position.id} {position.side} {position.symbol} at "
                                                 f"{fmt_price(price[1])}: P&L {pnl:+,.2f}."))


def show_flash() -> None:
    """Messages left by button callbacks, shown once."""
    for level, message in st.session_state["flash"]:
        getattr(st, level)(message)
    st.session_state["flash"] = []


def tab_portfolio(c: Controls) -> None:
    """Paper trading: open LONG/SHORT positions sized in $, live unrealised P&L, close, history, win rate."""
    with reader(c.db_path) as conn:
        positions = database.list_paper_positions(conn)
        prices = database.last_prices(conn, sorted({p.symbol for p in positions} | set(c.symbols)))
    show_flash()
    if c.symbols:
        if st.session_state.get("pf_symbol") not in c.symbols:
            st.session_state["pf_symbol"] = c.symbols[0]
        cols = st.columns([2, 2, 2, 1.3], vertical_alignment="bottom")
        cols[0].selectbox("Symbol", c.symbols, key="pf_symbol", persist_state="page")
        cols[1].radio("Side", ["LONG", "SHORT"], key="pf_side", horizontal=True, persist_state="page")
        cols[2].number_input("Size (USDT)", 100.0, 1e9, key="pf_notional", step=100.0, persist_state="page")
        cols[3].button("Open position", key="pf_open", type="primary", on_click=open_position, args=(c.db_path,))
    open_pos = [p for p in positions if p.closed_at is None]
    closed = [p for p in positions if p.closed_at is not None]
    unrealised = sum(p.unrealized_pnl(prices[p.symbol][1]) for p in open_pos if p.symbol in prices)
    realised = sum(p.realized_pnl or 0.0 for p in closed)
    wins = sum(1 for p in closed if (p.realized_pnl or 0) > 0)
    cols = st.columns(4)
    cols[0].metric("Open positions", len(open_pos))
    cols[1].metric("Unrealised P&L", f"{unrealised:+,.2f}")
    cols[2].metric("Realised P&L", f"{realised:+,.2f}")
    cols[3].metric("Win rate", f"{wins / len(closed):.0%}" if closed else "—", help=f"{wins} of {len(closed)} closed")
    st.subheader("Open positions")
    if not open_pos:
        st.caption("No open positions.")
    for p in open_pos:
        price = prices.get(p.symbol, (None, math.nan))[1]
        cols = st.columns([5, 1], vertical_alignment="center")
        cols[0].markdown(f"**#{p.id} {p.side} {p.symbol}** · qty {p.quantity:.6g} @ {fmt_price(p.entry_price)} · "
                         f"now {fmt_value(price, '{:,.2f}')} · unrealised "
                         f"**{fmt_value(p.unrealized_pnl(price), '{:+,.2f}')}** · opened {fmt_time(p.opened_at)}")
        cols[1].button("Close", key=f"pf_close_{p.id}", on_click=close_position, args=(c.db_path, p))
    st.subheader("History")
    if closed:
        st.dataframe(pd.DataFrame([{"id": p.id, "symbol": p.symbol, "side": p.side, "quantity": p.quantity,
                                    "entry": p.entry_price, "exit": p.exit_price, "opened": fmt_time(p.opened_at),
                                    "closed": fmt_time(p.closed_at), "realised P&L": p.realized_pnl}
                                   for p in closed]), width="stretch", hide_index=True)
    else:
        st.caption("No closed positions yet.")


def add_rule(db_path: str) -> None:
    """Store the rule in the alert form (button callback); a bad rule leaves a message instead."""
    s = st.session_state
    metric, x, y = s["alert_metric"], s.get("alert_x"), s.get("alert_y")
    if x is None or (metric != "price" and (y is None or x == y)):
        s["flash"].append(("error", "A pair rule needs two different symbols."))
        return
    with writer(db_path) as conn:
        database.add_alert_rule(conn, metric, x, "" if metric == "price" else y, s["alert_op"],
                                float(s["alert_threshold"]))
    s["flash"].append(("success", "Alert rule added; it is checked on every refresh."))


def delete_rule(db_path: str, rule_id: int) -> None:
    """Delete a rule and its history (button callback)."""
    with writer(db_path) as conn:
        database.delete_alert_rule(conn, rule_id)


def tab_alerts(c: Controls) -> None:
    """Alert rules (add / list / delete) on a pair's z-score or spread or a symbol's price, and their history."""
    show_flash()
    options = list(c.symbols)
    st.caption("Rules are checked on new data at every refresh while the dashboard is open (z-score and spread "
               "with the sidebar's timeframe, lookback, hedge method and windows, on a live window); each fires "
               "once per crossing (a level rule when it becomes true), as a toast and a row in the history.")
    if options:
        for key, fallback in (("alert_x", 0), ("alert_y", 1)):
            if st.session_state.get(key) not in options:
                st.session_state[key] = options[min(fallback, len(options) - 1)]
        cols = st.columns([2, 2, 2, 2, 1.5, 1.2], vertical_alignment="bottom")
        cols[0].selectbox("Metric", list(ALERT_METRICS), format_func=ALERT_METRICS.get, key="alert_metric",
                          persist_state="page")
        cols[1].selectbox("Symbol / x", options, key="alert_x", persist_state="page")
        cols[2].selectbox("y (pairs)", options, key="alert_y", persist_state="page",
                          disabled=st.session_state["alert_metric"] == "price")
        cols[3].selectbox("Condition", list(ALERT_OPS), format_func=ALERT_OPS.get, key="alert_op",
                          persist_state="page")
        cols[4].number_input("Threshold", key="alert_threshold", format="%.6g", persist_state="page")
        cols[5].button("Add rule", key="alert_add", type="primary", on_click=add_rule, args=(c.db_path,))
    with reader(c.db_path) as conn:
        rules = database.list_alert_rules(conn)
        history = database.alert_history(conn)
    st.subheader("Rules")
    if not rules:
        st.caption("No rules yet.")
    for rule in rules:
        cols = st.columns([5, 1], vertical_alignment="center")
        last = f"last value {rule.last_value:.6g}" if rule.last_value is not None else "not checked yet"
        fired = f" · last fired {fmt_time(rule.last_fired_at)}" if rule.last_fired_at else ""
        cols[0].markdown(f"**#{rule.id}** {rule_text(rule)} · {last}{fired}")
        cols[1].button("Delete", key=f"alert_del_{rule.id}", on_click=delete_rule, args=(c.db_path, rule.id))
    st.subheader("History")
    if history.empty:
        st.caption("No alert has fired yet.")
    else:
        st.dataframe(history.assign(fired_at=history["fired_at"].map(fmt_time)), width="stretch", hide_index=True)


def clear_database(db_path: str) -> None:
    """Delete everything stored (button callback, after the confirmation box)."""
    try:
        with writer(db_path) as conn:
            database.clear_all(conn)
    except sqlite3.Error as exc:
        st.session_state["flash"].append(("error", f"Could not clear the database: {exc}"))
    else:
        st.session_state["flash"].append(("success", "Database cleared."))
    st.session_state["confirm_clear"] = False
    st.session_state.pop("_bar_cache", None)


def downloads_section(c: Controls) -> None:
    """CSV downloads of the window; each CSV is built only when its button is clicked."""
    st.subheader("Downloads (current window)")
    cols = st.columns(4)
    with cols[0]:
        download("Raw ticks (CSV)", functools.partial(ticks_csv, c), export_name(c, "ticks"), "dl_ticks")
    with cols[1]:
        download("OHLC bars (CSV)", functools.partial(window_csv, c, bars_frame), export_name(c, "bars"), "dl_bars")
    with cols[2]:
        download("Pair analytics (CSV)", functools.partial(window_csv, c, pair_frame), export_name(c, "pair"),
                 "dl_pair")
    with cols[3]:
        download("Backtest trade log (CSV)", functools.partial(window_csv, c, trades_frame),
                 export_name(c, "trades"), "dl_trades")
    st.caption("Whole-history tick exports stream to a file without loading them into memory: "
               f"`python -c \"import database; database.export_ticks_csv('{c.db_path}', 'ticks.csv')\"`. "
               "Cells that a spreadsheet would run as formulas are neutralised.")


def cached_parse(upload: Any, kind: str, max_mb: int) -> ParsedUpload | UploadError:
    """Parse an uploaded file once per (file, options); later reruns reuse the result or the error."""
    s = st.session_state
    key = (upload.file_id, kind, s["upload_symbol"], s["upload_timeframe"])
    if s.get("_upload", (None,))[0] != key:
        try:
            result: ParsedUpload | UploadError = parse_upload(upload.getvalue(), upload.name, kind,
                                                             symbol=s["upload_symbol"],
                                                             timeframe=s["upload_timeframe"], max_mb=max_mb)
        except UploadError as exc:
            result = exc
        s["_upload"] = (key, result)
    return s["_upload"][1]


def show_period(symbols: list[str], first_ms: int, last_ms: int, timeframe: str | None) -> None:
    """Analyse the given symbols over [first_ms, last_ms] at `timeframe` or coarser: a live window if it reaches
    now, else scrolled back (button callback)."""
    s = st.session_state
    s["view_symbols"] = list(dict.fromkeys([*s["view_symbols"], *symbols]))
    if timeframe is not None and BAR_SECONDS[timeframe] > BAR_SECONDS[s["timeframe"]]:
        s["timeframe"] = timeframe
    span_min = (last_ms - first_ms) / 60_000 + 1
    s["lookback"] = next((m for m in LOOKBACK_MINUTES if m >= span_min), LOOKBACK_MINUTES[-1])
    if database.now_ms() - last_ms < 60_000:
        s["end_mode"] = "now"
    else:
        end = dt.datetime.fromtimestamp(last_ms / 1000 + 60, dt.timezone.utc).replace(tzinfo=None, second=0,
                                                                                       microsecond=0)
        s.update(end_mode="earlier", end_at=end)


def upload_section(settings: Settings) -> None:
    """Upload ticks or OHLCV bars: validate every line, preview, then store all or nothing."""
    st.subheader("Upload data")
    st.radio("Kind", list(UPLOAD_KINDS), format_func=UPLOAD_KINDS.get, key="upload_kind", persist_state="page")
    kind = st.session_state["upload_kind"]
    left, right = st.columns(2)
    left.text_input("Symbol" + (" (required)" if kind == "bars" else " (for CSVs whose name does not say it)"),
                    key="upload_symbol", persist_state="page")
    if kind == "bars":
        right.selectbox("Timeframe of the bars", list(TIMEFRAMES), key="upload_timeframe", persist_state="page")
    upload = st.file_uploader(f"File (limit {settings.max_upload_mb} MB)", key="upload_file",
                              type=["ndjson", "jsonl", "json", "txt", "csv", "zip", "gz"],
                              max_upload_size=settings.max_upload_mb)
    if upload is None:
        return
    progress = st.progress(0.1, text=f"Validating {upload.name}…")
    parsed = cached_parse(upload, kind, settings.max_upload_mb)
    if isinstance(parsed, UploadError):
        progress.progress(1.0, text="Rejected")
        st.error(str(parsed))
        return
    progress.progress(0.5, text=f"Validated {len(parsed.records):,} records — nothing stored yet")
    st.caption(parsed.summary())
    st.dataframe(parsed.preview(), width="stretch", hide_index=True, height=220)
    if st.button(f"Store {len(parsed.records):,} records", key="upload_store", type="primary"):
        progress.progress(0.7, text="Writing in one transaction…")
        try:
            message = store_upload(settings.db_path, parsed)
            st.session_state.pop("_bar_cache", None)
        except sqlite3.Error as exc:
            progress.progress(1.0, text="Failed")
            st.error(f"Nothing was stored: {exc}")
            return
        progress.progress(1.0, text="Stored")
        st.success(message)
        st.button("Show the uploaded data", key="upload_show", icon=":material/visibility:",
                  on_click=show_period, args=(*parsed.extent(), parsed.timeframe),
                  help="Adds its symbols to the analysis and moves the window over its time range")


def db_statistics(c: Controls) -> None:
    """Per-symbol tick counts and time range, stored bar series, gaps and size (live)."""
    with reader(c.db_path) as conn:
        summaries = database.symbol_summaries(conn)
        series = database.bar_series(conn)
        gaps = database.list_gaps(conn, limit=100)
    st.subheader("Database statistics")
    cols = st.columns(4)
    cols[0].metric("Ticks", f"{sum(s.tick_count for s in summaries):,}")
    cols[1].metric("Symbols", len({s.symbol for s in summaries} | {row[0] for row in series}))
    cols[2].metric("Bar series", len(series), help="symbol × timeframe series in ohlc_data (rollups, uploads, "
                   "klines)")
    cols[3].metric("Size", f"{database.database_size_bytes(c.db_path) / 2**20:,.1f} MB")
    left, right = st.columns([3, 2])
    left.dataframe(pd.DataFrame([{"symbol": s.symbol, "ticks": s.tick_count, "first (UTC)": fmt_time(s.first_ts),
                                  "last (UTC)": fmt_time(s.last_ts), "highest id": s.max_trade_id}
                                 for s in summaries]), width="stretch", hide_index=True)
    right.dataframe(pd.DataFrame([(sym, tf, fmt_time(first), fmt_time(last)) for sym, tf, first, last in series],
                                 columns=["symbol", "bars", "first bar (UTC)", "last bar (UTC)"]),
                    width="stretch", hide_index=True)
    if gaps:
        st.dataframe(gaps_table(gaps), width="stretch", hide_index=True)
    else:
        st.caption("No trade-id gaps recorded.")


def tick_table(c: Controls) -> None:
    """The newest (or oldest) raw ticks of the window with record count, average price, volume and range (live)."""
    st.subheader("Raw ticks")
    cols = st.columns([3, 1, 2])
    st.session_state["table_symbols"] = [s for s in st.session_state.get("table_symbols", c.symbols)
                                         if s in c.symbols]
    symbols = cols[0].multiselect("Symbols", list(c.symbols), key="table_symbols", persist_state="page")
    cols[1].number_input("Rows", 10, 10_000, key="table_limit", step=50, persist_state="page")
    cols[2].radio("Order", ["newest", "oldest"], key="table_order", horizontal=True, persist_state="page")
    limit, newest = int(st.session_state["table_limit"]), st.session_state["table_order"] == "newest"
    start, end = c.bounds()
    with reader(c.db_path) as conn:
        parts = [database.read_ticks(conn, [s], start, end, limit=limit, newest_first=newest) for s in symbols]
    ticks = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=database.TICK_COLUMNS)
    ticks = ticks.sort_values(["timestamp", "symbol"], ascending=not newest).head(limit)
    summary = ticks.groupby("symbol").agg(rows=("price", "size"), average_price=("price", "mean"),
                                          volume=("size", "sum"), low=("price", "min"), high=("price", "max"))
    st.dataframe(summary.assign(range=summary["high"] - summary["low"]), width="stretch",
                 column_config={name: st.column_config.NumberColumn(format="%.6g") for name in summary.columns})
    st.dataframe(ticks.assign(time_utc=ticks["timestamp"].map(fmt_time)), width="stretch", hide_index=True,
                 height=300)


def tab_data(c: Controls, settings: Settings, refresh: float | None) -> None:
    """Downloads, raw tick table, uploads, database statistics, Clear Database."""
    show_flash()
    with guard("Downloads"):
        downloads_section(c)
    st.fragment(guarded("Raw ticks", tick_table), run_every=refresh)(c)
    with guard("Upload"):
        upload_section(settings)
    st.fragment(guarded("Database statistics", db_statistics), run_every=refresh)(c)
    st.subheader("Clear database")
    st.checkbox("I understand this deletes every tick, bar, gap, alert and paper position", key="confirm_clear")
    st.button("Clear database", key="clear_db", icon=":material/delete:",
              disabled=not st.session_state.get("confirm_clear"), on_click=clear_database, args=(c.db_path,))


def guarded(title: str, body: Callable[..., None]) -> Callable[..., None]:
    """A view that shows its failures as messages (named after the body, so fragment ids stay stable)."""
    @functools.wraps(body)
    def run(*args: Any) -> None:
        with guard(title):
            body(*args)
    return run


LIVE_TABS: dict[str, Callable[[Controls], None]] = {
    "Dashboard": tab_dashboard, "Charts": tab_charts, "Pair Analytics": tab_pair, "Backtest": tab_backtest,
    "Portfolio": tab_portfolio, "Alerts": tab_alerts}


def freeze_startup_heap() -> None:
    """Once per process, after the first run: move everything then alive (imported modules, mostly) out of the
    garbage collector's full passes, which otherwise add ~100 ms to every third refresh on this page."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def main() -> None:
    """Build the page: settings, sidebar, live status, lazy tabs."""
    st.set_page_config(page_title="Binance Analytics", page_icon="📈", layout="wide")
    try:
        settings = load_settings()
    except ConfigError as exc:
        st.error(str(exc))
        st.stop()
    configure_logging(settings.log_level)
    init_state(settings)
    try:
        with reader(settings.db_path) as conn:
            stored = database.stored_symbols(conn)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        st.error(f"Cannot open the database {settings.db_path} (CRYPTO_DB_PATH): {exc}")
        st.stop()
    refresh = refresh_every()
    with st.sidebar:
        st.title("Binance Analytics")
        collector_controls(settings)
        st.fragment(guarded("Collector status", status_panel), run_every=refresh)(settings)
        controls = analytics_controls(settings, stored)
        refresh_controls()
        st.fragment(guarded("Alert check", alert_watch), run_every=refresh)(controls)
        if refresh is None:
            st.caption("Auto-refresh paused.")
    tabs = st.tabs(TABS, key="tab", on_change="rerun")
    for label, tab in zip(TABS, tabs):
        if not tab.open:
            continue
        with tab:
            if label == "Data Management":
                with guard(label):
                    tab_data(controls, settings, refresh)
            else:
                st.fragment(guarded(label, LIVE_TABS[label]), run_every=refresh)(controls)
    freeze_startup_heap()


if __name__ == "__main__":
    main()
