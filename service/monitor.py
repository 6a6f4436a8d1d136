"""The watch monitor: evaluates every watched pair on each new closed bar in the store — entry, exit, stop and
max-hold signals from its z-score bands — writes the signal events with their inputs, and (for pairs with auto_trade)
opens and closes their two-leg paper positions at the bar after each signal, as the backtest fills.

It reads only the store, so it runs beside whatever writes it: `python collector.py` and the dashboard's server each
start one (collector.py's entry block, app.py's lifespan); nothing depends on a browser tab. Its state is in the store
(the last evaluated bar and the re-entry flag per watched pair, the signals), so a restart resumes where it stopped,
and a signal is stored once per pair, bar and kind. Per pass a pair costs one window read of its warm-up plus the new
bars (at most CHUNK_BARS), whatever its history.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analytics
import database
from core.vocabulary import SignalKind
from service.controls import BAR_SECONDS
from service.pair_trading import LegPrice, PositionRefused, close_pair, open_pair
from service.watchlist import closed_end, warmup_bars, watch_controls
from service.window import load_window, reader, writer

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the store is asked for new bars
CHUNK_BARS = 3600  # at most this many new bars of one pair per pass (a long backlog is worked off over passes)
MAX_BACKLOG_BARS = 86_400  # a newly watched pair is evaluated from at most this many bars before the newest
TRADING_KINDS = tuple(k for k in SignalKind if not k.is_alarm)


@dataclass(frozen=True)
class PairPass:
    """What one pass did for a watched pair: bars it moved over, signals stored, positions opened and closed."""

    watch_id: int
    bars: int
    signals: int
    opened: int
    closed: int


@dataclass(frozen=True)
class BarSeries:
    """A watched pair's aligned closes, causal β (forward-filled, as the backtest sizes with it), spread and z."""

    x: pd.Series
    y: pd.Series
    beta: pd.Series
    spread: pd.Series
    zscore: pd.Series


def bar_series(closes: pd.DataFrame, spec: database.WatchSpec) -> BarSeries:
    """The backtest's hedge, spread and z-score (quant.backtest's preparation) over a window's aligned closes."""
    x, y = closes[spec.symbol_x], closes[spec.symbol_y]
    hedge = analytics.fit_hedge(x, y, spec.hedge_method, window=spec.hedge_window, causal=True)
    spread = analytics.calculate_spread(x, y, hedge.beta_series, hedge.alpha_series)
    return BarSeries(x, y, hedge.beta_series.ffill(), spread, analytics.calculate_zscore(spread, spec.z_window))


def _first_bar(conn: database.Connection, watch: database.Watch, end: int) -> int:
    """Where a pair never evaluated starts: its legs' common stored start, at most MAX_BACKLOG_BARS before `end`."""
    tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
    from_ms = end - MAX_BACKLOG_BARS * tf_ms
    extents = database.symbol_summaries(conn)
    firsts = [s.first_ts for s in extents if s.symbol in watch.pair and s.first_ts is not None]
    if len(firsts) == 2:
        from_ms = max(from_ms, max(firsts) // tf_ms * tf_ms)
    return from_ms


def _state(conn: database.Connection, watch: database.Watch) -> analytics.SignalState:
    """The band state a pair was left in: in a position since its last entry signal, else flat (waiting to re-arm
    after a stop or max-hold exit when the stored flag says so)."""
    last = database.list_signals(conn, watch.id, limit=1, kinds=TRADING_KINDS)
    if last and last[0].kind.is_entry and watch.evaluated_ms is not None:
        tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
        side = 1 if last[0].kind is SignalKind.ENTRY_LONG else -1
        return analytics.SignalState(side, (watch.evaluated_ms - last[0].bar_ms) // tf_ms)
    return analytics.SignalState(rearm=watch.rearm)


def evaluate_watch(db_target: str, watch: database.Watch, final: bool = False) -> PairPass:
    """Evaluate a watched pair's new closed bars (at most CHUNK_BARS), store their signals and fill due paper
    trades."""
    spec, tf_ms = watch.spec, BAR_SECONDS[watch.spec.timeframe] * 1000
    with reader(db_target) as conn:
        end = closed_end(conn, watch, final)
        if end is None:
            return PairPass(watch.id, 0, 0, 0, 0)
        start = watch.evaluated_ms + tf_ms if watch.evaluated_ms is not None else _first_bar(conn, watch, end)
        if start >= end:
            return PairPass(watch.id, 0, 0, 0, 0)
        end = min(end, start + CHUNK_BARS * tf_ms)
        warm = warmup_bars(spec)
        window = load_window(conn, watch_controls(db_target, watch, end, (end - start) // tf_ms + warm + 2))
        state = _state(conn, watch)
    try:
        series = bar_series(window.closes(watch.pair), spec)
    except (analytics.InsufficientData, ValueError) as exc:  # too few bars yet: no decision possible on them
        log.debug("watch #%d: %s", watch.id, exc)
        with writer(db_target) as wconn:
            database.record_signals(wconn, watch.id, [], end - tf_ms, state.rearm)
        return PairPass(watch.id, (end - start) // tf_ms, 0, 0, 0)
    bands = analytics.SignalBands(spec.entry, spec.exit, spec.stop, spec.max_hold_bars)
    stamps = pd.DatetimeIndex(series.zscore.index).as_unit("ms").asi8
    new = []
    for i in range(int(stamps.searchsorted(start)), len(stamps)):
        state, kind = analytics.step_signal(state, float(series.zscore.iloc[i]), bands)
        if kind is not None:
            new.append(
                database.NewSignal(
                    int(stamps[i]),
                    kind,
                    float(series.zscore.iloc[i]),
                    float(series.spread.iloc[i]),
                    float(series.beta.iloc[i]),
                    float(series.x.iloc[i]),
                    float(series.y.iloc[i]),
                )
            )
    with writer(db_target) as wconn:
        stored = database.record_signals(wconn, watch.id, new, end - tf_ms, state.rearm)
        opened = closed = 0
        if spec.auto_trade:
            opened, closed = _fill_due(wconn, watch, series, stamps, start)
    return PairPass(watch.id, (end - start) // tf_ms, len(stored), opened, closed)


def _fill_due(
    conn: database.Connection, watch: database.Watch, series: BarSeries, stamps: np.ndarray, first_ms: int
) -> tuple[int, int]:
    """Fill the pair's trading signals whose fill bar (the bar after the signal) is one of this pass's new bars
    (from `first_ms` on), at that bar's close, in bar order: an entry opens a position unless one is open or that
    signal opened one, an exit closes the open position it follows. The store refuses a second open of a signal and
    a second close, so a re-run fills nothing twice."""
    opened = closed = 0
    since = int(stamps[max(0, int(stamps.searchsorted(first_ms)) - 1)])
    signals = sorted(database.list_signals(conn, watch.id, None, since, TRADING_KINDS), key=lambda s: s.bar_ms)
    for signal in signals:
        at = int(stamps.searchsorted(signal.bar_ms, side="right"))
        if at >= len(stamps):
            break  # its fill bar has not closed yet
        if stamps[at] < first_ms:
            continue  # filled by an earlier pass
        fill_ms = int(stamps[at])
        leg_x = LegPrice(float(series.x.iloc[at]), fill_ms)
        leg_y = LegPrice(float(series.y.iloc[at]), fill_ms)
        if signal.kind.is_entry:
            side = database.PaperSide.LONG if signal.kind is SignalKind.ENTRY_LONG else database.PaperSide.SHORT
            try:
                beta = signal.beta if signal.beta is not None else math.nan
                opened += open_pair(conn, watch, side, beta, leg_x, leg_y, fill_ms, signal.id) is not None
            except PositionRefused as exc:
                log.warning("watch #%d: entry signal #%d not traded: %s", watch.id, signal.id, exc)
            continue
        for position in database.list_pair_positions(conn, watch.id, open_only=True):
            if position.opening.opened_at <= signal.bar_ms:
                closed += close_pair(conn, watch, position, leg_x, leg_y, fill_ms, str(signal.kind), signal.id)
    return opened, closed


@dataclass(frozen=True)
class MonitorPass:
    """One pass over every watched pair: their reports and how long it took (seconds)."""

    pairs: tuple[PairPass, ...]
    seconds: float

    @property
    def bars(self) -> int:
        return sum(p.bars for p in self.pairs)


def evaluate_all(db_target: str, final: bool = False) -> MonitorPass:
    """One pass over every watched pair (a pair that fails is logged and skipped; the others go on)."""
    started = time.perf_counter()
    if not database.database_exists(db_target):  # nothing stored yet: the monitor never creates a database
        return MonitorPass((), 0.0)
    with reader(db_target) as conn:
        watches = database.list_watches(conn)
    passes = []
    for watch in watches:
        try:
            passes.append(evaluate_watch(db_target, watch, final))
        except database.DATABASE_ERRORS as exc:
            log.warning("watch #%d not evaluated: %s", watch.id, database.error_line(exc))
    return MonitorPass(tuple(passes), time.perf_counter() - started)


class WatchMonitor:
    """A thread running `evaluate_all` every POLL_S over one database until stopped; stopping runs final passes
    until every stored bar is evaluated (a replay's last bars included)."""

    def __init__(self, db_target: str, poll_s: float = POLL_S) -> None:
        self.db_target, self.poll_s = db_target, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    def start(self) -> WatchMonitor:
        self._thread = threading.Thread(target=self._run, name="watch-monitor", daemon=True)
        self._thread.start()
        log.info("watch monitor started on %s", database.describe_target(self.db_target))
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                evaluate_all(self.db_target)
                self._last_error = ""
            except Exception as exc:  # the monitor must outlive a bad pass (a locked or unreachable store, a bad row)
                if str(exc) != self._last_error:  # said once per distinct failure, not twice a second
                    log.exception("watch monitor pass failed; retrying every %g s", self.poll_s)
                self._last_error = str(exc)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling, then evaluate what is left (the closing bars of a finished feed) and return."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            while evaluate_all(self.db_target, final=True).bars:
                pass
        except database.DATABASE_ERRORS as exc:
            log.warning("watch monitor's last pass failed: %s", database.error_line(exc))
