"""The cointegration-break alarm of each watched pair, stepped by the watch monitor on every new bar.

The alarm is analytics.spread_break_alarm's causal state — analytics.break_alarm_state over the formation window,
then analytics.break_alarm_update bar by bar — on the residual y − α − β·x of the OLS hedge fitted over the formation
(residual=True). The formation is the pair's formation_bars aligned bars before it was watched (created_at), or,
when the store did not hold both legs around that moment (a replay of older data, a pair watched before the
collector first ran), its first formation_bars common bars. The alarm is silent until the formation has ended; a
formation that does not mean-revert (or an exact fit) gives no alarm: there is no cointegration to lose.

The state lives in this process (TRACKS), rebuilt from the store when a process first meets a pair or has missed
bars of it: the formation, then at most REBUILD_BARS bars since. Each onset and clearance is a BREAK or BREAK_CLEARED
signal event; the monitor stores one only when it changes the last stored alarm event, so a restart (whose rebuilt
evidence may start later) never stores an onset twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analytics
import database
from core.vocabulary import SignalKind
from service.controls import BAR_SECONDS
from service.watchlist import watch_controls
from service.window import load_window

FORMATION_HEDGE_WINDOWS = 4  # the formation spans this many hedge windows (at least BREAK_ALARM_MIN_FORMATION bars)
REBUILD_BARS = 86_400  # a rebuilt state replays at most this many bars after the formation
ALARM_KINDS = (SignalKind.BREAK, SignalKind.BREAK_CLEARED)


@dataclass(frozen=True)
class AlarmTrack:
    """A pair's alarm: where its formation ends (epoch ms), the formation hedge (β, α), the alarm state (None: the
    formation does not mean-revert, no alarm) and the last bar stepped (its open, epoch ms)."""

    formation_end: int
    beta: float
    alpha: float
    state: analytics.BreakAlarmState | None
    through_ms: int


TRACKS: dict[tuple[str, int], AlarmTrack] = {}  # (database target, watch id) -> the pair's alarm in this process


def formation_bars(spec: database.WatchSpec) -> int:
    """Bars of a watched pair's formation window."""
    return max(analytics.BREAK_ALARM_MIN_FORMATION, FORMATION_HEDGE_WINDOWS * spec.hedge_window)


def formation_end(watch: database.Watch, first_ms: int, end_ms: int) -> int:
    """Where a pair's formation ends (a bar boundary, epoch ms): at its watching, when both legs were stored a whole
    formation before it and after it (bars up to `end_ms`); else one formation after their first common bar
    (`first_ms`)."""
    tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
    first = first_ms // tf_ms * tf_ms
    span = formation_bars(watch.spec) * tf_ms
    created = watch.created_at // tf_ms * tf_ms
    return created if first + span <= created < end_ms else first + span


def _closes(conn: database.Connection, db_target: str, watch: database.Watch, start: int, end: int) -> pd.DataFrame:
    """The pair's aligned closes of the bars in [start, end)."""
    tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
    window = load_window(conn, watch_controls(db_target, watch, end, (end - start) // tf_ms + 2))
    closes = window.closes(watch.pair)
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    return closes[(stamps >= start) & (stamps < end)]


def build_track(
    conn: database.Connection, db_target: str, watch: database.Watch, fend: int, until: int
) -> AlarmTrack | None:
    """The pair's alarm after the bars before `until` (≥ fend), rebuilt from the store; None when the formation
    bars are not stored."""
    spec, tf_ms = watch.spec, BAR_SECONDS[watch.spec.timeframe] * 1000
    try:
        formation = _closes(conn, db_target, watch, fend - formation_bars(spec) * tf_ms, fend)
    except analytics.InsufficientData:
        return None
    if formation.empty:
        return None
    x, y = formation[spec.symbol_x], formation[spec.symbol_y]
    try:
        fit = analytics.static_fit(x, y)
        state: analytics.BreakAlarmState | None = analytics.break_alarm_state(
            y - fit.alpha - fit.beta * x, len(formation), residual=True
        )
    except (analytics.InsufficientData, ValueError):
        return AlarmTrack(fend, math.nan, math.nan, None, until - tf_ms)
    track = AlarmTrack(fend, fit.beta, fit.alpha, state, fend - tf_ms)
    start = max(fend, until - REBUILD_BARS * tf_ms)
    if start < until:
        since = _closes(conn, db_target, watch, start, until)
        stamps = pd.DatetimeIndex(since.index).as_unit("ms").asi8
        x_s, y_s = since[spec.symbol_x].to_numpy(), since[spec.symbol_y].to_numpy()
        track, _ = step_alarm(track, stamps, x_s, y_s, np.full(stamps.size, math.nan))
    return AlarmTrack(track.formation_end, track.beta, track.alpha, track.state, until - tf_ms)


def step_alarm(
    track: AlarmTrack, stamps: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[AlarmTrack, list[database.NewSignal]]:
    """Step the alarm over the bars after track.through_ms (from the formation's end on): the new track and a BREAK /
    BREAK_CLEARED signal on each bar where the alarm turns on / off (with the bar's z, the residual, β, prices)."""
    state, signals = track.state, []
    last = max(track.through_ms, int(stamps.max())) if stamps.size else track.through_ms
    if state is None:
        return AlarmTrack(track.formation_end, track.beta, track.alpha, None, last), []
    last = track.through_ms
    for i in np.flatnonzero((stamps > track.through_ms) & (stamps >= track.formation_end)):
        value = float(y[i] - track.alpha - track.beta * x[i])
        after = analytics.break_alarm_update(state, value)
        if after.standing != state.standing:
            kind = SignalKind.BREAK if after.standing else SignalKind.BREAK_CLEARED
            signals.append(
                database.NewSignal(int(stamps[i]), kind, float(z[i]), value, track.beta, float(x[i]), float(y[i]))
            )
        state, last = after, int(stamps[i])
    return AlarmTrack(track.formation_end, track.beta, track.alpha, state, last), signals


def changes(conn: database.Connection, watch_id: int, signals: list[database.NewSignal]) -> list[database.NewSignal]:
    """The alarm signals that change the pair's last stored alarm event (an onset after a clearance or none, a
    clearance after an onset), so a restart's rebuilt alarm never stores an onset twice."""
    stored = database.list_signals(conn, watch_id, limit=1, kinds=ALARM_KINDS)
    standing = bool(stored) and stored[0].kind is SignalKind.BREAK
    out = []
    for s in signals:
        if (s.kind is SignalKind.BREAK) != standing:
            out.append(s)
            standing = s.kind is SignalKind.BREAK
    return out
