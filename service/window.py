"""The Streamlit-free model of a view: connections, the bars of the visible window (with a per-session tail cache), and
the pair, its tests and its backtest computed from them through analytics."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

import analytics
import database
from core.vocabulary import Timeframe
from service.controls import BAR_SECONDS, FULL_RELOAD_S, HOLE_S, OVERLAP_BARS, Controls, fmt_duration, fmt_time


def reader(db_target: str) -> contextlib.closing[database.Connection]:
    """A fresh read-only connection for one run of a view, closed when the `with` block ends."""
    return contextlib.closing(database.open_reader(db_target))


def writer(db_target: str) -> contextlib.closing[database.Connection]:
    """A short-lived write connection for one UI action (upload, alert rule, paper trade), closed after use."""
    return contextlib.closing(database.open_writer(db_target))


DB_SIZE_TTL_S = 30.0  # a database's size on disk is measured at most this often per target
_db_sizes: dict[str, tuple[float, int]] = {}  # target -> (monotonic time measured, bytes)


def database_size(db_target: str, max_age_s: float = DB_SIZE_TTL_S) -> int:
    """Bytes on disk of the database, measured at most once per `max_age_s` per target for the whole process (every
    session's status refresh shows it; on PostgreSQL pg_database_size walks the server's data directory)."""
    now = time.monotonic()
    measured = _db_sizes.get(db_target)
    if measured is not None and now - measured[0] < max_age_s:
        return measured[1]
    size = database.database_size_bytes(db_target)
    _db_sizes[db_target] = (now, size)
    return size


@dataclass(frozen=True)
class Extent:
    """Where a symbol's stored data lies (first and last exchange time, epoch ms) and the finest bar series that
    holds it (None: ticks, so every timeframe)."""

    first_ms: int
    last_ms: int
    timeframe: str | None = None


@dataclass(frozen=True)
class StoredHistory:
    """Stored data of some symbols that a view could be moved to: one click (widgets.jump_button) shows it."""

    symbols: tuple[str, ...]
    first_ms: int
    last_ms: int
    timeframe: str | None

    def describe(self) -> str:
        return (
            f"the database holds {', '.join(self.symbols)} from {fmt_time(self.first_ms)} to "
            f"{fmt_time(self.last_ms)} UTC"
        )


class NotYet(analytics.InsufficientData):
    """Too little data in the window for a view, with what a trader can do about it: how long until a live window
    has enough (`wait_s`), how far it has got (`progress`), and stored history to analyse instead (`history`)."""

    def __init__(
        self,
        message: str,
        *,
        progress: float | None = None,
        wait_s: float | None = None,
        history: StoredHistory | None = None,
    ) -> None:
        super().__init__(message)
        self.progress, self.wait_s, self.history = progress, wait_s, history


@dataclass
class Window:
    """Bars of the visible window per symbol (time-indexed, at the shown timeframe, empty intervals filled), and
    where the analysed symbols' stored data lies (for "no data here" hints)."""

    controls: Controls
    start_ms: int
    end_ms: int
    bars: dict[str, pd.DataFrame]
    extents: dict[str, Extent] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.controls.end_ms is None

    def history(self, symbols: Sequence[str]) -> StoredHistory | None:
        """The stored span the symbols share, when it reaches outside this window (else None)."""
        known = [self.extents[s] for s in symbols if s in self.extents]
        if not known or len(known) < len(symbols):
            return None
        first, last = max(e.first_ms for e in known), min(e.last_ms for e in known)
        if last < first or (first >= self.start_ms and last < self.end_ms):
            return None
        coarsest = max((e.timeframe for e in known if e.timeframe), key=BAR_SECONDS.__getitem__, default=None)
        return StoredHistory(tuple(symbols), first, last, coarsest)

    def require(self, symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """Bars of the given (default: all analysed) symbols, or NotYet naming what is missing and where the
        stored data is."""
        wanted = list(symbols or self.controls.symbols)
        found = {s: self.bars[s] for s in wanted if s in self.bars}
        if not found:
            history = self.history(wanted)
            where = (
                f" — {history.describe()}"
                if history is not None
                else " — start the collector, upload data, or move the window (sidebar)"
            )
            raise NotYet(
                f"no bars for {', '.join(wanted) or 'any symbol'} between {fmt_time(self.start_ms)} and"
                f" {fmt_time(self.end_ms)} UTC{where}",
                history=history,
            )
        return found

    def closes(self, symbols: Sequence[str] | None = None, min_volume: float = 0.0) -> pd.DataFrame:
        """Closes of the symbols on their common bar times, without the bars inside holes in the data: a stopped
        collector is a stretch without data, not a flat price that the statistics would read as zero returns (a
        spread with no variance, then a jump in z when the data resumes)."""
        bars = {s: b.dropna(subset=["close"]) for s, b in self.drawable(symbols).items()}
        return analytics.align_closes(bars, min_volume)

    def drawable(self, symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """The symbols' bars with holes in the data (HOLE_S or longer without a trade) blanked, so charts draw them
        as gaps rather than flat lines at the last price."""
        min_bars = max(2, math.ceil(HOLE_S / BAR_SECONDS[self.controls.bar_timeframe]))
        return {s: analytics.mask_holes(b, min_bars) for s, b in self.require(symbols).items()}

    def drawable_closes(self) -> pd.DataFrame:
        """Closes of `drawable` bars on the union of their times (NaN where a symbol has a hole or no bar)."""
        return pd.DataFrame({s: b["close"] for s, b in self.drawable().items()})


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


def read_window_bars(
    conn: database.Connection, c: Controls, symbols: list[str], start: int, end: int, cache: dict | None
) -> pd.DataFrame:
    """database.read_bars of the source series for [start, end); with a cache, only bars from a few bars before
    the previous read's end are re-read, and everything is re-read every FULL_RELOAD_S (repaired history)."""
    key = (c.db_target, tuple(symbols), c.source_timeframe)
    hit: BarCache | None = cache.get(key) if cache is not None else None
    if (
        hit is not None
        and time.monotonic() - hit.loaded_at < FULL_RELOAD_S
        and hit.start_ms <= start
        and hit.through_ms <= end
    ):
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


def load_window(
    conn: database.Connection, c: Controls, symbols: Sequence[str] | None = None, cache: dict | None = None
) -> Window:
    """The one data path of every view: stored bars of [end − lookback, end) re-aggregated to the shown timeframe.

    Reads the 1s (or 1min) rollups; a symbol with none there (uploaded bars) falls back to the finest stored
    series no coarser than the shown timeframe. Cost grows with the window, never with the database; with a
    session cache a refresh reads only the bars that are new.
    """
    wanted = list(symbols or c.symbols)
    start, end = c.bounds()
    frames = _bars_by_symbol(read_window_bars(conn, c, wanted, start, end, cache)) if wanted else {}
    series = dict.fromkeys(frames, c.source_timeframe)
    fallbacks = [tf for tf in Timeframe if BAR_SECONDS[tf] <= BAR_SECONDS[c.bar_timeframe] and tf != c.source_timeframe]
    for timeframe in fallbacks:
        missing = [s for s in wanted if s not in frames]
        if not missing:
            break
        found = _bars_by_symbol(database.read_bars(conn, missing, timeframe, start, end))
        frames.update(found)
        series.update(dict.fromkeys(found, timeframe))
    bars = {
        s: analytics.resample_bars(frames[s], c.bar_timeframe, fill=True, source=series[s])
        for s in wanted
        if s in frames
    }
    return Window(c, start, end, bars, stored_extents(conn, wanted))


def stored_extents(conn: database.Connection, symbols: Sequence[str]) -> dict[str, Extent]:
    """Where each symbol's stored ticks (or, for bar-only symbols, its finest bar series) lie: per-symbol totals
    and index seeks only, so a refresh never scans history."""
    wanted = set(symbols)
    out = {
        s.symbol: Extent(s.first_ts, s.last_ts)
        for s in database.symbol_summaries(conn)
        if s.symbol in wanted and s.first_ts is not None and s.last_ts is not None
    }
    if wanted - set(out):
        for symbol, timeframe, first, last in database.bar_series(conn):
            if symbol in wanted and symbol not in out:
                out[symbol] = Extent(first, last, timeframe)
    return out


def pair_closes(window: Window, pair: tuple[str, str] | None) -> tuple[pd.Series, pd.Series]:
    """Aligned closes (x, y) of a pair over the window, or InsufficientData saying what is missing."""
    c = window.controls
    if pair is None:
        raise analytics.InsufficientData(
            "choose two different symbols for the pair in the sidebar (Analytics settings)"
        )
    x_sym, y_sym = pair
    missing = [s for s in pair if s not in window.bars]
    if missing:
        window.require(missing)
    closes = window.closes(pair, c.min_volume)
    need = analytics.pair_warmup(c.method, c.hedge_window, c.z_window, causal=not c.in_sample_hedge)
    if len(closes) < need:
        raise shortage(window, pair, need, len(closes))
    return closes[x_sym], closes[y_sym]


def shortage(window: Window, pair: tuple[str, str], need: int, have: int) -> NotYet:
    """Why the pair cannot be analysed yet, how long a live window must wait, and stored history that would do now
    (when the database holds at least `need` bars' worth of it at this timeframe)."""
    c = window.controls
    bar_s = BAR_SECONDS[c.bar_timeframe]
    warm = need - c.z_window - analytics.MIN_STAT_OBS
    hedge = f"the {c.method} hedge's warm-up of {warm}, then " if warm else ""
    what = (
        f"The pair needs {need:,} aligned {c.bar_timeframe} bars ({hedge}the z window of {c.z_window}, plus "
        f"{analytics.MIN_STAT_OBS} for the tests); {have:,} so far"
    )
    wait_s = None
    if window.live and (need - have) * bar_s * 1000 <= window.end_ms - window.start_ms:
        wait_s = float((need - have) * bar_s)
        ready = fmt_time(window.end_ms + int(wait_s * 1000))
        what += f" — about {fmt_duration(wait_s)} more (ready ≈ {ready} UTC)"
    else:
        what += " — widen the lookback, choose a finer timeframe, or shorten the windows"
    history = window.history(pair)
    if history is not None and history.last_ms - history.first_ms < need * bar_s * 1000:
        history = None
    return NotYet(what + ".", progress=have / need, wait_s=wait_s, history=history)


def pair_of(window: Window, pair: tuple[str, str] | None) -> analytics.PairSeries:
    """The pair's series over the window, from the one pair pipeline (InsufficientData while too short)."""
    c = window.controls
    x, y = pair_closes(window, pair)
    return analytics.pair_series(
        x, y, method=c.method, window=c.hedge_window, z_window=c.z_window, causal=not c.in_sample_hedge
    )


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
