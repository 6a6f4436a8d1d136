"""The watch monitor: evaluates every watched pair on each new closed bar in the store — entry, exit, stop and
max-hold signals from its z-score bands, and its cointegration-break alarm (service.watch_alarm) — writes the signal
events with their inputs, hands each new one to the delivery worker (service.deliveries: the webhooks), and (for
pairs with auto_trade) opens and closes their two-leg paper positions at the bar after each signal, as the backtest
fills.

It reads only the store, so it runs beside whatever writes it: `python collector.py` and the dashboard's server each
start one (collector.py's entry block, app.py's lifespan); nothing depends on a browser tab. Its state is in the store
(the last evaluated bar and the re-entry flag per watched pair, the signals), so a restart resumes where it stopped,
and a signal is stored once per pair, bar and kind. Per pass a pair costs one window read of its warm-up plus the new
bars (at most CHUNK_BARS), whatever its history.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analytics
import database
from core.vocabulary import NoticeKind, SignalKind
from service import watch_alarm
from service.controls import BAR_SECONDS, fmt_time
from service.deliveries import notify
from service.pair_trading import LegPrice, PositionRefused, close_pair, open_pair
from service.watchlist import closed_end, warmup_bars, watch_controls
from service.webhooks import Notice
from service.window import Window, load_window, reader, writer

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the store is asked for new bars
CHUNK_BARS = 3600  # at most this many new bars of one pair per pass (a long backlog is worked off over passes)
SHARED_BARS = 60  # pairs with at most this many new bars share one window read per timeframe
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


def tail_of(closes: pd.DataFrame, spec: database.WatchSpec, bars: int) -> analytics.TailSeries:
    """β, α, spread and z of the last `bars` aligned bars: in numpy for the rolling hedge (analytics.rolling_tail,
    O(windows) a pair), else from the whole window's series."""
    x, y = closes[spec.symbol_x].to_numpy(), closes[spec.symbol_y].to_numpy()
    if spec.hedge_method == analytics.HedgeMethod.ROLLING:
        return analytics.rolling_tail(x, y, spec.hedge_window, spec.z_window, bars)
    full = bar_series(closes, spec)
    alpha = (full.y - full.spread - full.beta * full.x).to_numpy()
    return analytics.TailSeries(
        full.beta.to_numpy()[-bars:], alpha[-bars:], full.spread.to_numpy()[-bars:], full.zscore.to_numpy()[-bars:]
    )


@dataclass(frozen=True)
class Plan:
    """The bars a pass evaluates for a watched pair: [start, end) in epoch ms."""

    watch: database.Watch
    start: int
    end: int

    @property
    def tf_ms(self) -> int:
        return BAR_SECONDS[self.watch.spec.timeframe] * 1000

    @property
    def bars(self) -> int:
        return (self.end - self.start) // self.tf_ms


@dataclass(frozen=True)
class PairBars:
    """A watched pair's aligned closes and each leg's bars (to date its prices when a fill needs them)."""

    closes: pd.DataFrame
    legs: dict[str, pd.DataFrame]

    def traded_ms(self, symbol: str) -> np.ndarray:
        """Per aligned bar, the open time (epoch ms) of the leg's latest bar with a trade (a bar without one repeats
        the price before it: that leg lags)."""
        bars = self.legs[symbol]
        stamps = pd.DatetimeIndex(bars.index).as_unit("ms").asi8
        real = ~bars["filled"].to_numpy(dtype=bool) if "filled" in bars.columns else np.ones(stamps.size, dtype=bool)
        last = np.maximum.accumulate(np.where(real, stamps, np.iinfo(np.int64).min))
        at = pd.DatetimeIndex(self.closes.index).as_unit("ms").asi8
        return last[np.searchsorted(stamps, at, side="right") - 1]


def pair_bars(window: Window, pair: tuple[str, str]) -> PairBars:
    """The pair's aligned closes from a window, with its legs' bars."""
    return PairBars(window.closes(pair), {s: window.bars[s] for s in pair})


@dataclass(frozen=True)
class Decision:
    """A pair's new signals over a pass's bars, the state after them (band state, break alarm), and the bars they
    were decided on."""

    plan: Plan
    signals: tuple[database.NewSignal, ...]
    rearm: bool
    bars: PairBars | None
    alarm: watch_alarm.AlarmTrack | None = None


def _first_bar(watch: database.Watch, end: int, firsts: dict[str, int]) -> int:
    """Where a pair never evaluated starts: its legs' common stored start, at most MAX_BACKLOG_BARS before `end`."""
    tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
    from_ms = end - MAX_BACKLOG_BARS * tf_ms
    if all(s in firsts for s in watch.pair):
        from_ms = max(from_ms, max(firsts[s] for s in watch.pair) // tf_ms * tf_ms)
    return from_ms


def plan_pass(conn: database.Connection, watches: list[database.Watch], final: bool) -> list[Plan]:
    """Each watched pair's new closed bars (at most CHUNK_BARS), from two index reads for all of them."""
    last = database.last_prices(conn, sorted({s for w in watches for s in w.pair}))
    firsts = (
        {s.symbol: s.first_ts for s in database.symbol_summaries(conn) if s.first_ts is not None}
        if any(w.evaluated_ms is None for w in watches)
        else {}
    )
    plans = []
    for watch in watches:
        end = closed_end(conn, watch, final, last)
        if end is None:
            continue
        tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
        start = watch.evaluated_ms + tf_ms if watch.evaluated_ms is not None else _first_bar(watch, end, firsts)
        if start < end:
            plans.append(Plan(watch, start, min(end, start + CHUNK_BARS * tf_ms)))
    return plans


def _state(conn: database.Connection, watch: database.Watch) -> analytics.SignalState:
    """The band state a pair was left in: in a position since its last entry signal, else flat (waiting to re-arm
    after a stop or max-hold exit when the stored flag says so)."""
    last = database.list_signals(conn, watch.id, limit=1, kinds=TRADING_KINDS)
    if last and last[0].kind.is_entry and watch.evaluated_ms is not None:
        tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
        side = 1 if last[0].kind is SignalKind.ENTRY_LONG else -1
        return analytics.SignalState(side, (watch.evaluated_ms - last[0].bar_ms) // tf_ms)
    return analytics.SignalState(rearm=watch.rearm)


def decide(
    plan: Plan, bars: PairBars, state: analytics.SignalState, alarm: watch_alarm.AlarmTrack | None = None
) -> Decision:
    """Step the pair's band state, and its break alarm when it has one, over its new bars (the aligned bars in
    [start, end) of `bars`)."""
    spec = plan.watch.spec
    until = pd.Timestamp(plan.end - 1, unit="ms", tz="UTC")
    bars = PairBars(bars.closes.loc[:until], bars.legs)
    closes = bars.closes
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    first = int(stamps.searchsorted(plan.start))
    x, y = closes[spec.symbol_x].to_numpy(), closes[spec.symbol_y].to_numpy()
    new: list[database.NewSignal] = []
    z = np.full(len(stamps) - first, np.nan)
    if first < len(stamps):
        try:
            tail = tail_of(closes, spec, len(stamps) - first)
        except (analytics.InsufficientData, ValueError) as exc:  # too few bars yet: no decision possible on them
            log.debug("watch #%d: %s", plan.watch.id, exc)
        else:
            z = tail.zscore
            bands = analytics.SignalBands(spec.entry, spec.exit, spec.stop, spec.max_hold_bars)
            for k, i in enumerate(range(first, len(stamps))):
                state, kind = analytics.step_signal(state, float(tail.zscore[k]), bands)
                if kind is not None:
                    values = (tail.zscore[k], tail.spread[k], tail.beta[k], x[i], y[i])
                    new.append(database.NewSignal(int(stamps[i]), kind, *(float(v) for v in values)))
    if alarm is not None:
        alarm, alarms = watch_alarm.step_alarm(alarm, stamps[first:], x[first:], y[first:], z)
        new = sorted([*new, *alarms], key=lambda s: s.bar_ms)
    return Decision(plan, tuple(new), state.rearm, bars, alarm)


def _windows(conn: database.Connection, db_target: str, plans: list[Plan]) -> dict[int, PairBars]:
    """Aligned closes per watched pair: pairs of one timeframe with few new bars share one window read (each symbol
    resampled once); a pair catching up a backlog reads its own."""
    out: dict[int, PairBars] = {}
    shared: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.bars <= SHARED_BARS:
            shared.setdefault(plan.watch.spec.timeframe, []).append(plan)
            continue
        bars = plan.bars + warmup_bars(plan.watch.spec) + 2
        window = load_window(conn, watch_controls(db_target, plan.watch, plan.end, bars))
        with contextlib.suppress(analytics.InsufficientData):
            out[plan.watch.id] = pair_bars(window, plan.watch.pair)
    for group in shared.values():
        end = max(p.end for p in group)
        tf_ms = group[0].tf_ms
        bars = max((end - p.start) // tf_ms + warmup_bars(p.watch.spec) for p in group) + 2
        symbols = tuple(s for p in group for s in p.watch.pair)
        window = load_window(conn, watch_controls(db_target, group[0].watch, end, bars, symbols))
        for plan in group:
            with contextlib.suppress(analytics.InsufficientData):
                out[plan.watch.id] = pair_bars(window, plan.watch.pair)
    return out


def _record(conn: database.Connection, db_target: str, decision: Decision) -> PairPass:
    """Store a decision's signals (an alarm event only where it changes the stored alarm), hand each new one to the
    delivery worker, fill its due paper trades (auto-trade pairs), then move the pair's cursor and state: whoever
    reads the cursor finds every fill up to it done."""
    plan, watch = decision.plan, decision.plan.watch
    signals = [s for s in decision.signals if not s.kind.is_alarm]
    alarms = [s for s in decision.signals if s.kind.is_alarm]
    if alarms:
        signals = sorted([*signals, *watch_alarm.changes(conn, watch.id, alarms)], key=lambda s: s.bar_ms)
    # the cursor stays where it was until the bars' fills are done (after a crash between, they are evaluated again:
    # their signals and fills are stored once)
    stored = database.record_signals(conn, watch.id, signals, plan.start - plan.tf_ms, watch.rearm)
    for _, signal in stored:
        notify(notice_of(watch, signal))
    opened = closed = 0
    if watch.spec.auto_trade and decision.bars is not None and len(decision.bars.closes):
        opened, closed = _fill_due(conn, db_target, watch, decision.bars, plan.start)
    database.record_signals(conn, watch.id, (), plan.end - plan.tf_ms, decision.rearm)
    return PairPass(watch.id, plan.bars, len(stored), opened, closed)


def notice_of(watch: database.Watch, signal: database.NewSignal) -> Notice:
    """A stored signal as a notification for the webhooks: what happened to which pair, on which bar, with its
    inputs."""
    pair = f"{watch.spec.symbol_y}/{watch.spec.symbol_x}"
    inputs = (("z", signal.zscore), ("spread", signal.spread), ("β", signal.beta))
    shown = ", ".join(f"{name} {value:.6g}" for name, value in inputs if value is not None and math.isfinite(value))
    text = (
        f"{pair} ({watch.spec.timeframe} bars, watch #{watch.id}): {signal.kind} at {fmt_time(signal.bar_ms)} UTC — "
        f"{shown + ', ' if shown else ''}x {signal.price_x:.8g}, y {signal.price_y:.8g}"
    )
    return Notice(NoticeKind.ALARM if signal.kind.is_alarm else NoticeKind.SIGNAL, pair, text)


def _fill_due(
    conn: database.Connection, db_target: str, watch: database.Watch, bars: PairBars, first_ms: int
) -> tuple[int, int]:
    """Fill the pair's trading signals whose fill bar (the bar after the signal) is one of this pass's new bars
    (from `first_ms` on), at that bar's close (its end is the fill's time), in bar order: an entry opens a position
    unless one is open or that signal opened one, an exit closes the open position it follows. The store refuses a
    second open of a signal and a second close, so a re-run fills nothing twice. Each leg's price is dated by its
    last traded bar, so a leg that has not traded lately is flagged."""
    opened = closed = 0
    closes, tf_ms = bars.closes, BAR_SECONDS[watch.spec.timeframe] * 1000
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    x, y = closes[watch.spec.symbol_x].to_numpy(), closes[watch.spec.symbol_y].to_numpy()
    since = int(stamps[max(0, int(stamps.searchsorted(first_ms)) - 1)])
    signals = sorted(database.list_signals(conn, watch.id, None, since, TRADING_KINDS), key=lambda s: s.bar_ms)
    traded_x, traded_y = (bars.traded_ms(s) for s in watch.pair) if signals else (stamps, stamps)
    for signal in signals:
        at = int(stamps.searchsorted(signal.bar_ms, side="right"))
        if at >= len(stamps):
            break  # its fill bar has not closed yet
        if stamps[at] < first_ms:
            continue  # filled by an earlier pass
        fill_ms = int(stamps[at]) + tf_ms
        legs = LegPrice(float(x[at]), int(traded_x[at])), LegPrice(float(y[at]), int(traded_y[at]))
        if signal.kind.is_entry:
            side = database.PaperSide.LONG if signal.kind is SignalKind.ENTRY_LONG else database.PaperSide.SHORT
            try:
                beta = signal.beta if signal.beta is not None else math.nan
                opened += open_pair(conn, db_target, watch, side, beta, legs, fill_ms, signal.id) is not None
            except PositionRefused as exc:
                log.warning("watch #%d: entry signal #%d not traded: %s", watch.id, signal.id, exc)
            continue
        for position in database.list_pair_positions(conn, watch.id, open_only=True):
            if position.opening.opened_at <= signal.bar_ms + tf_ms:  # open by the signal bar's end
                closed += close_pair(conn, db_target, watch, position, legs, fill_ms, str(signal.kind), signal.id)
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
    """One pass over every watched pair: plan their new closed bars, read them (one window per timeframe for the
    pairs that are up to date), decide their signals, then store signals, states and fills (one write connection,
    one transaction per pair)."""
    started = time.perf_counter()
    if not database.database_exists(db_target):  # nothing stored yet: the monitor never creates a database
        return MonitorPass((), 0.0)
    with reader(db_target) as conn:
        watches = database.list_watches(conn)
        plans = plan_pass(conn, watches, final) if watches else []
        bars = _windows(conn, db_target, plans)
        alarms = _alarms(conn, db_target, [p for p in plans if p.watch.id in bars])
        decisions = [
            decide(p, bars[p.watch.id], _state(conn, p.watch), alarms.get(p.watch.id))
            if p.watch.id in bars
            else Decision(p, (), p.watch.rearm, None)
            for p in plans
        ]
    if not decisions:
        return MonitorPass((), time.perf_counter() - started)
    with writer(db_target) as wconn:
        passes = tuple(_record(wconn, db_target, d) for d in decisions)
    for d in decisions:  # the alarms' states move on once their bars are stored
        if d.alarm is not None:
            watch_alarm.TRACKS[(db_target, d.plan.watch.id)] = d.alarm
    watched = {w.id for w in watches}
    for key in [k for k in watch_alarm.TRACKS if k[0] == db_target and k[1] not in watched]:
        del watch_alarm.TRACKS[key]  # a pair no longer watched
    return MonitorPass(passes, time.perf_counter() - started)


def _alarms(conn: database.Connection, db_target: str, plans: list[Plan]) -> dict[int, watch_alarm.AlarmTrack]:
    """Each pair's break alarm as of its first new bar: this process's state when it has stepped up to there, else
    rebuilt from the store (None before its formation has ended)."""
    out, firsts = {}, None
    for plan in plans:
        track = watch_alarm.TRACKS.get((db_target, plan.watch.id))
        if track is None or track.through_ms != plan.start - plan.tf_ms:
            if firsts is None:
                firsts = {s.symbol: s.first_ts for s in database.symbol_summaries(conn) if s.first_ts is not None}
            if not all(s in firsts for s in plan.watch.pair):
                continue
            fend = watch_alarm.formation_end(plan.watch, max(firsts[s] for s in plan.watch.pair), plan.end)
            track = None
            if fend < plan.end:
                track = watch_alarm.build_track(conn, db_target, plan.watch, fend, max(plan.start, fend))
        if track is not None:
            out[plan.watch.id] = track
    return out


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
