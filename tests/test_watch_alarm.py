"""The watch monitor's cointegration-break alarm (service/watch_alarm.py) and the delivery of its events: on a pair
whose spread turns from mean-reverting into a random walk, the BREAK / BREAK_CLEARED events the monitor stores bar by
bar are exactly the onsets and clearances of analytics.spread_break_alarm over the same residual; a restart stores
none twice; each new signal and alarm reaches the delivery worker (a local HTTP server), a restart sends none again."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from test_deliveries import hooks, settings, worker  # noqa: F401 — fixtures used by name
from waiting import wait_until

import analytics
import database as db
from core.vocabulary import NoticeKind, SignalKind
from data_feed import Tick
from service import deliveries, monitor, watch_alarm, watchlist
from service.window import load_window

START_MS = 1_700_000_000_000
BARS = 1500
SPEC = db.WatchSpec("AAAUSDT", "BBBUSDT", hedge_window=60, z_window=30, entry=1.5, exit=0.0)
FORMATION = watch_alarm.formation_bars(SPEC)


def breaking_pair(seed: int = 3) -> list[Tick]:
    """One trade per leg per second: y = 0.5·x + spread, the spread OU (half-life ~14 bars) for 700 bars, then a
    random walk."""
    rng = np.random.default_rng(seed)
    x = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 3e-4, BARS)))
    spread = np.zeros(BARS)
    for t in range(1, BARS):
        pull = 0.05 if t < 700 else 0.0
        spread[t] = (1 - pull) * spread[t - 1] + rng.normal(0.0, 0.02)
    y = 0.5 * x + 10.0 + spread
    return [
        Tick(symbol, t + 1, START_MS + t * 1000 + 100 + k, round(float(p[t]), 6), 1.0, False, START_MS + t * 1000)
        for t in range(BARS)
        for k, (symbol, p) in enumerate(((SPEC.symbol_x, x), (SPEC.symbol_y, y)))
    ]


def expected_events(path: str, watch: db.Watch) -> list[tuple[int, SignalKind]]:
    """Onsets and clearances of analytics.spread_break_alarm over the formation-hedge residual of the stored bars."""
    with contextlib.closing(db.open_reader(path)) as conn:
        window = load_window(conn, watchlist.watch_controls(path, watch, START_MS + BARS * 1000, BARS + 5))
    closes = window.closes(watch.pair)
    x, y = closes[SPEC.symbol_x], closes[SPEC.symbol_y]
    fit = analytics.static_fit(x.iloc[:FORMATION], y.iloc[:FORMATION])
    standing = analytics.spread_break_alarm(y - fit.alpha - fit.beta * x, FORMATION, residual=True).to_numpy()
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    turns = np.flatnonzero(np.diff(standing.astype(int), prepend=0))
    return [(int(stamps[i]), SignalKind.BREAK if standing[i] else SignalKind.BREAK_CLEARED) for i in turns]


def alarm_events(path: str, watch_id: int) -> list[tuple[int, SignalKind]]:
    with contextlib.closing(db.open_reader(path)) as conn:
        stored = db.list_signals(conn, watch_id, None, kinds=watch_alarm.ALARM_KINDS)
    return sorted((s.bar_ms, s.kind) for s in stored)


def follow(path: str, ticks: list[Tick]) -> None:
    """Store the ticks in 20-second batches, a monitor pass after each, then the final passes."""
    for lo in range(0, len(ticks), 40):
        with contextlib.closing(db.open_writer(path)) as conn:
            db.write_ticks(conn, ticks[lo : lo + 40])
        monitor.evaluate_all(path)
    while monitor.evaluate_all(path, final=True).bars:
        pass


def test_the_monitor_raises_the_break_alarm_of_analytics_and_delivers_it(tmp_path, hooks, worker):  # noqa: F811
    path = str(tmp_path / "alarm.db")
    deliveries.start_deliveries(settings(path, ALERT_WEBHOOK_URL=f"{hooks.url}/ok/watch"))
    watch = watchlist.add_watch(path, SPEC)  # watched now, long after the data: the formation is its first bars
    ticks = breaking_pair()
    follow(path, ticks[: 2 * 900])
    watch_alarm.TRACKS.clear()  # a restart before the break: the alarm state is rebuilt from the store
    follow(path, ticks[2 * 900 :])
    stored = alarm_events(path, watch.id)
    expected = expected_events(path, watch)
    assert expected and expected[0][1] is SignalKind.BREAK and expected[0][0] > START_MS + 900_000  # after the break
    assert stored == expected
    # a restart that evaluates the last 300 bars again stores no alarm event twice
    watch_alarm.TRACKS.clear()
    with contextlib.closing(db.open_writer(path)) as conn:
        conn.execute("UPDATE watchlist SET evaluated_ms=evaluated_ms-300000 WHERE id=?", (watch.id,))
    while monitor.evaluate_all(path, final=True).bars:
        pass
    assert alarm_events(path, watch.id) == stored
    # every stored signal and alarm reached the webhook once
    with contextlib.closing(db.open_reader(path)) as conn:
        signals = db.list_signals(conn, watch.id, None)
    assert wait_until(lambda: len(hooks.bodies("/ok/watch")) >= len(signals), timeout=30)
    deliveries.stop_deliveries()
    bodies = hooks.bodies("/ok/watch")
    assert sorted(b["kind"] for b in bodies) == sorted(
        str(NoticeKind.ALARM if s.kind.is_alarm else NoticeKind.SIGNAL) for s in signals
    )
    assert any(b["kind"] == "alarm" and "break at" in b["text"] and "BBBUSDT/AAAUSDT" in b["text"] for b in bodies)


def test_no_alarm_before_the_formation_has_ended(tmp_path):
    path = str(tmp_path / "short.db")
    watch = watchlist.add_watch(path, SPEC)
    follow(path, breaking_pair()[: 2 * (FORMATION - 10)])
    assert alarm_events(path, watch.id) == []
    assert (path, watch.id) not in watch_alarm.TRACKS
