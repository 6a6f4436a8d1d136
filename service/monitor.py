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

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass

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
class Decision:
    """A pair's new signals over a pass's bars, the state after them, and the closes they were decided on."""

    plan: Plan
    signals: tuple[database.NewSignal, ...]
    rearm: bool
    closes: pd.DataFrame


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


def decide(plan: Plan, closes: pd.DataFrame, state: analytics.SignalState) -> Decision:
    """Step the pair's band state over its new bars (the aligned bars in [start, end) of `closes`)."""
    spec = plan.watch.spec
    closes = closes.loc[: pd.Timestamp(plan.end - 1, unit="ms", tz="UTC")]
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    first = int(stamps.searchsorted(plan.start))
    new = []
    if first < len(stamps):
        try:
            tail = tail_of(closes, spec, len(stamps) - first)
        except (analytics.InsufficientData, ValueError) as exc:  # too few bars yet: no decision possible on them
            log.debug("watch #%d: %s", plan.watch.id, exc)
            return Decision(plan, (), state.rearm, closes)
        bands = analytics.SignalBands(spec.entry, spec.exit, spec.stop, spec.max_hold_bars)
        x, y = closes[spec.symbol_x].to_numpy(), closes[spec.symbol_y].to_numpy()
        for k, i in enumerate(range(first, len(stamps))):
            state, kind = analytics.step_signal(state, float(tail.zscore[k]), bands)
            if kind is not None:
                values = (tail.zscore[k], tail.spread[k], tail.beta[k], x[i], y[i])
                new.append(database.NewSignal(int(stamps[i]), kind, *(float(v) for v in values)))
    return Decision(plan, tuple(new), state.rearm, closes)


def _windows(conn: database.Connection, db_target: str, plans: list[Plan]) -> dict[int, pd.DataFrame]:
    """Aligned closes per watched pair: pairs of one timeframe with few new bars share one window read (each symbol
    resampled once); a pair catching up a backlog reads its own."""
    out: dict[int, pd.DataFrame] = {}
    shared: dict[str, list[Plan]] = {}
    for plan in plans:
        if plan.bars <= SHARED_BARS:
            shared.setdefault(plan.watch.spec.timeframe, []).append(plan)
            continue
        bars = plan.bars + warmup_bars(plan.watch.spec) + 2
        window = load_window(conn, watch_controls(db_target, plan.watch, plan.end, bars))
        with contextlib.suppress(analytics.InsufficientData):
            out[plan.watch.id] = window.closes(plan.watch.pair)
    for group in shared.values():
        end = max(p.end for p in group)
        tf_ms = group[0].tf_ms
        bars = max((end - p.start) // tf_ms + warmup_bars(p.watch.spec) for p in group) + 2
        symbols = tuple(s for p in group for s in p.watch.pair)
        window = load_window(conn, watch_controls(db_target, group[0].watch, end, bars, symbols))
        for plan in group:
            with contextlib.suppress(analytics.InsufficientData):
                out[plan.watch.id] = window.closes(plan.watch.pair)
    return out


def _record(conn: database.Connection, decision: Decision) -> PairPass:
    """Store a decision's signals and the pair's new state, then fill its due paper trades (auto-trade pairs)."""
    plan, watch = decision.plan, decision.plan.watch
    stored = database.record_signals(conn, watch.id, decision.signals, plan.end - plan.tf_ms, decision.rearm)
    opened = closed = 0
    if watch.spec.auto_trade and len(decision.closes):
        opened, closed = _fill_due(conn, watch, decision.closes, plan.start)
    return PairPass(watch.id, plan.bars, len(stored), opened, closed)


def _fill_due(conn: database.Connection, watch: database.Watch, closes: pd.DataFrame, first_ms: int) -> tuple[int, int]:
    """Fill the pair's trading signals whose fill bar (the bar after the signal) is one of this pass's new bars
    (from `first_ms` on), at that bar's close, in bar order: an entry opens a position unless one is open or that
    signal opened one, an exit closes the open position it follows. The store refuses a second open of a signal and
    a second close, so a re-run fills nothing twice."""
    opened = closed = 0
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    x, y = closes[watch.spec.symbol_x].to_numpy(), closes[watch.spec.symbol_y].to_numpy()
    since = int(stamps[max(0, int(stamps.searchsorted(first_ms)) - 1)])
    signals = sorted(database.list_signals(conn, watch.id, None, since, TRADING_KINDS), key=lambda s: s.bar_ms)
    for signal in signals:
        at = int(stamps.searchsorted(signal.bar_ms, side="right"))
        if at >= len(stamps):
            break  # its fill bar has not closed yet
        if stamps[at] < first_ms:
            continue  # filled by an earlier pass
        fill_ms = int(stamps[at])
        leg_x, leg_y = LegPrice(float(x[at]), fill_ms), LegPrice(float(y[at]), fill_ms)
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
    """One pass over every watched pair: plan their new closed bars, read them (one window per timeframe for the
    pairs that are up to date), decide their signals, then store signals, states and fills (one write connection,
    one transaction per pair)."""
    started = time.perf_counter()
    if not database.database_exists(db_target):  # nothing stored yet: the monitor never creates a database
        return MonitorPass((), 0.0)
    with reader(db_target) as conn:
        watches = database.list_watches(conn)
        plans = plan_pass(conn, watches, final) if watches else []
        closes = _windows(conn, db_target, plans)
        decisions = [
            decide(p, closes[p.watch.id], _state(conn, p.watch))
            if p.watch.id in closes
            else Decision(p, (), p.watch.rearm, pd.DataFrame())
            for p in plans
        ]
    if not decisions:
        return MonitorPass((), time.perf_counter() - started)
    with writer(db_target) as wconn:
        passes = tuple(_record(wconn, d) for d in decisions)
    return MonitorPass(passes, time.perf_counter() - started)


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
