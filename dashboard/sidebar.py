"""The sidebar: collector start/stop and live status, analytics settings, refresh and the alert watch."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import streamlit as st

import analytics
import collector
import database
from collector import CollectorState
from config import Settings, parse_symbols
from core.symbols import UNIVERSE
from core.vocabulary import FeedKind, IdSpace, Timeframe
from dashboard.widgets import session_cache
from data_feed import FeedState
from service.alerts import check_alerts
from service.controls import LOOKBACK_MINUTES, Controls, fmt_minutes
from service.window import database_size, reader

log = logging.getLogger(__name__)


def init_state(settings: Settings) -> None:
    """Default every control once per session (widgets then take their value from session state)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    defaults: dict[str, Any] = {
        "feed": settings.data_feed,
        "replay_file": settings.replay_file,
        "symbols_text": ",".join(settings.symbols),
        "view_symbols": analysable(settings.symbols),
        "pair_x": analysable(settings.symbols)[0],
        "pair_y": analysable(settings.symbols)[min(1, len(analysable(settings.symbols)) - 1)],
        "timeframe": settings.default_timeframe,
        "lookback": settings.lookback_minutes,
        "end_mode": "now",
        "end_at": now,
        "method": "kalman",
        "hedge_window": 60,
        "z_window": 60,
        "min_volume": 0.0,
        "entry": 2.0,
        "exit": 0.0,
        "stop_z": 4.0,
        "max_hold": 0,
        "fee_bps": settings.fee_bps,
        "slippage_bps": settings.slippage_bps,
        "capital": 10_000.0,
        "in_sample": False,
        "refresh_s": settings.refresh_interval_ms / 1000,
        "paused": False,
        "show_volume": True,
        "norm_mode": "rebased",
        "sweep_metric": "pct_return",
        "pf_side": "LONG",
        "pf_notional": 1000.0,
        "alert_metric": "zscore",
        "alert_op": ">",
        "alert_threshold": 2.0,
        "upload_kind": "ticks",
        "upload_symbol": "",
        "upload_timeframe": "1min",
        "table_limit": 100,
        "table_order": "newest",
        "alerts_seen_ms": database.now_ms(),
        "collector_error": "",
        "flash": [],
        "backfill_minutes": settings.backfill_minutes,
        "backfill_kline_hours": settings.backfill_kline_hours,
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


DEFAULT_VIEW = ("BTCUSDT", "ETHUSDT")


def analysable(symbols: Sequence[str]) -> list[str]:
    """The symbols a view can analyse: SYMBOLS=ALL names the universe, not a symbol (its members show up as they are
    stored), so it falls back to BTCUSDT/ETHUSDT."""
    return [s for s in symbols if s != UNIVERSE] or list(DEFAULT_VIEW)


def on_symbols_changed() -> None:
    """Typing new symbols makes them the analysed set and the pair (typing ALL keeps the current ones)."""
    with contextlib.suppress(ValueError):
        symbols = parse_symbols(st.session_state["symbols_text"])
        if symbols == (UNIVERSE,):
            return
        st.session_state["view_symbols"] = list(symbols)
        st.session_state["pair_x"] = symbols[0]
        st.session_state["pair_y"] = symbols[1] if len(symbols) > 1 else symbols[0]


def start_collector(settings: Settings, feed: str) -> None:
    """Start (or restart) the process-wide collector; any failure is kept to show, never raised."""
    symbols = collect_symbols(settings)
    try:
        settings = dataclasses.replace(
            settings,
            backfill_minutes=int(st.session_state["backfill_minutes"]),
            backfill_kline_hours=int(st.session_state["backfill_kline_hours"]),
        )
        running = collector.start_service(
            settings, feed, symbols, replay_file=st.session_state["replay_file"].strip() or None
        )
    except Exception as exc:
        log.warning("collector start failed: %s", exc)
        st.session_state["collector_error"] = f"Could not start the {FeedKind(feed).label} feed: {exc}"
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


def visible_collector() -> collector.RunningCollector | None:
    """The process's running collector, else the one this session started if it is still around (e.g. a finished
    replay draining, or a failed writer whose error must stay visible)."""
    running = collector.current_collector()
    last = st.session_state.get("last_collector")
    if running is None and last is not None and last.state not in (CollectorState.STOPPED, CollectorState.IDLE):
        return last
    return running


def feed_problem(stats: collector.CollectorStats | None) -> str:
    """Why the Binance feed delivers nothing (a failed start, or never connected with an error), else ''."""
    if st.session_state.get("collector_error") and st.session_state.get("last_feed") == "binance":
        return st.session_state["collector_error"]
    if stats is None or stats.feed_kind != FeedKind.BINANCE or stats.received:
        return ""
    feed = stats.feed
    if feed.state is FeedState.CONNECTED and not feed.stalled_streams:
        return ""
    error = stats.last_error or feed.last_error
    return f"Feed {feed.state} — {error}" if error else ""


LIVE_WITHIN_MS = 60_000  # a symbol with a tick this recent counts as live in the universe summary


def liveness(stats: collector.CollectorStats, now: int) -> str:
    """Per-symbol liveness: each symbol's last tick age for a few symbols; for a universe, how many are live and
    which are quiet."""
    ages = {s: stats.last_receive_ms.get(s) for s in stats.symbols}
    if len(ages) <= 8:
        shown = " · ".join(f"{s} {(now - t) / 1000:.1f} s" if t is not None else f"{s} —" for s, t in ages.items())
        return f"Last tick age: {shown}"
    quiet = sorted(s for s, t in ages.items() if t is None or now - t > LIVE_WITHIN_MS)
    listed = ", ".join(quiet[:6]) + (f" (+{len(quiet) - 6} more)" if len(quiet) > 6 else "")
    return f"{len(ages) - len(quiet):,} of {len(ages):,} symbols traded in the last {LIVE_WITHIN_MS // 1000} s" + (
        f"; quiet: {listed}" if quiet else ""
    )


@dataclasses.dataclass(frozen=True)
class OtherWriter:
    """Ticks another process is writing into this database (a headless collector, one on another machine)."""

    live_symbols: int  # symbols with a tick received in the last LIVE_WITHIN_MS
    age_s: float  # since the newest tick was received
    space: str  # the id space of the newest tick (simulated, aggTrade, ...)
    stored: int  # ticks stored over all symbols


def other_writer(db_target: str, now: int) -> OtherWriter | None:
    """What another collector is writing here, read off the writers' per-symbol totals (O(symbols)) and the newest
    tick; None when nothing arrived in the last LIVE_WITHIN_MS, or only ticks this process's own collector
    received before it stopped."""
    since = max(now - LIVE_WITHIN_MS, collector.last_stop_ms())
    with reader(db_target) as conn:
        summaries = database.symbol_summaries(conn)
        live = [s for s in summaries if s.last_received_at is not None and s.last_received_at > since]
        if not live:
            return None
        newest = max(live, key=lambda s: s.last_received_at or 0)
        tick = database.read_ticks(conn, [newest.symbol], limit=1, newest_first=True)
    return OtherWriter(
        len(live),
        (now - (newest.last_received_at or now)) / 1000,
        str(tick["id_space"].iloc[0]) if len(tick) else "",
        sum(s.tick_count for s in summaries),
    )


def other_writer_status(found: OtherWriter, now: int) -> None:
    """Another collector's writes, unmistakable when they are synthetic, with their rate since the last look."""
    last = st.session_state.get("_other_stored")
    st.session_state["_other_stored"] = (now, found.stored)
    rate = (
        f" · {(found.stored - last[1]) / ((now - last[0]) / 1000):,.1f} ticks/s"
        if last is not None and now > last[0] and found.stored >= last[1]
        else ""
    )
    text = (
        f"another process (a headless collector, or one on another machine) is writing this database: "
        f"{found.live_symbols:,} symbol{'' if found.live_symbols == 1 else 's'} with trades in the last "
        f"{LIVE_WITHIN_MS // 60_000} min, newest {found.age_s:.1f} s ago{rate}"
    )
    if found.space == IdSpace.SIMULATED:
        st.warning(f"**SIMULATED FEED** — {text}; synthetic prices, not Binance.", icon=":material/science:")
    else:
        st.success(f"**COLLECTOR RUNNING ELSEWHERE** — {text}.", icon=":material/check_circle:")
    st.caption("Start runs a second collector in this process (trades both receive are stored once).")


def feed_badge(stats: collector.CollectorStats) -> None:
    """The feed kind, unmistakable: SIMULATED and REPLAY are warnings, live Binance shows its connection."""
    feed = stats.feed
    if stats.feed_kind == FeedKind.SIMULATED:  # by value: a module reload makes new enum classes
        st.warning(
            "**SIMULATED FEED** — synthetic prices from an offline market model, not Binance.",
            icon=":material/science:",
        )
    elif stats.feed_kind == FeedKind.REPLAY:
        done = " — finished, all ticks stored" if stats.state is CollectorState.DRAINING else ""
        st.warning(f"**REPLAY** of {feed.source or 'a file'}{done}", icon=":material/replay:")
    elif feed.state == FeedState.CONNECTED and not feed.stalled_streams:
        st.success(f"**BINANCE LIVE** — connected ({len(feed.streams)} streams)", icon=":material/check_circle:")
    else:
        stalled = f" (no data on {', '.join(feed.stalled_streams)})" if feed.stalled_streams else ""
        st.error(f"**BINANCE** — {feed.state}{stalled}", icon=":material/error:")


def status_panel(settings: Settings) -> None:
    """Live collector status: feed kind, connection and last error, rates, ages, reconnects, drops, gaps, DB size."""
    if st.session_state.pop("_full_rerun", False):
        st.rerun()
    running = visible_collector()
    stats = running.stats() if running is not None else None
    problem = feed_problem(stats)
    if problem:
        st.error(f"**Cannot get data from Binance.** {problem}. No network here? The simulated market needs none.")
        st.button(
            "Switch to the simulated feed",
            key="switch_simulated",
            type="primary",
            icon=":material/science:",
            on_click=switch_to_simulated,
            args=(settings,),
        )
    elif st.session_state.get("collector_error"):
        st.error(st.session_state["collector_error"])
    if stats is None and (found := other_writer(settings.db_target, database.now_ms())) is not None:
        other_writer_status(found, database.now_ms())
    elif stats is None:
        st.info("Collector stopped — press **Start**. Stored data stays viewable.")
    else:
        feed_badge(stats)
        feed = stats.feed
        left, right = st.columns(2)
        left.metric("Ticks/s", f"{stats.ticks_per_s:,.1f}")
        right.metric("Written", f"{stats.written:,}")
        left.metric("Dropped", f"{stats.dropped:,}")
        right.metric("Reconnects", f"{feed.reconnects:,}")
        left.metric(
            "Gaps",
            f"{stats.gaps_detected:,}",
            help=f"repaired {stats.gaps_repaired}, unrepairable {stats.gaps_unrepairable}",
        )
        right.metric("Queue", f"{stats.queue_depth:,}")
        st.caption(liveness(stats, database.now_ms()))
        st.caption(
            f"Collector {stats.state} · feed {feed.state}"
            + (f" · stalled: {', '.join(feed.stalled_streams)}" if feed.stalled_streams else "")
        )
        error = feed.last_error or stats.last_error
        if error and not problem:
            st.caption(f"Last error: {error}")
        for progress in stats.backfill.values():
            if progress.error:
                st.caption(f"Backfill {progress.label} failed: {progress.error}")
            else:
                st.progress(progress.fraction, text=f"Backfill {progress.label}: {progress.fraction:.0%}")
    st.caption(
        f"Database {database.describe_target(settings.db_target)}: {database_size(settings.db_target) / 2**20:,.1f} MB"
    )


def alert_watch(c: Controls) -> None:
    """Evaluate alert rules on every refresh and toast events fired since this session last looked."""
    check_alerts(c, session_cache())
    with reader(c.db_target) as conn:
        history = database.alert_history(conn, limit=20)
    fresh = history[history["fired_at"] > st.session_state["alerts_seen_ms"]]
    for message in reversed(fresh["message"].tolist()):
        st.toast(message, icon=":material/notifications_active:")
    if len(fresh):
        st.session_state["alerts_seen_ms"] = int(fresh["fired_at"].max())


def collector_controls(settings: Settings) -> None:
    """Feed choice, symbols, Start / Stop."""
    st.radio("Data feed", list(FeedKind), format_func=lambda kind: FeedKind(kind).label, key="feed", horizontal=True)
    if st.session_state["feed"] == "replay":
        st.text_input(
            "Replay files",
            key="replay_file",
            help="NDJSON ticks, tick CSV (this app's export), Binance "
            "archive CSV (.csv/.zip) or recorded frames (.gz): paths on the server, several separated by "
            "':', or a folder; they replay merged in time order",
        )
    st.text_input("Symbols (USD-M, comma-separated, any case)", key="symbols_text", on_change=on_symbols_changed)
    try:
        parse_symbols(st.session_state["symbols_text"])
    except ValueError as exc:
        st.error(f"Symbols: {exc}")
    if st.session_state["feed"] == "binance":
        with st.expander("History backfill on start"):
            st.number_input(
                "Minutes of trades (aggTrades, ≤ 48 h)",
                0,
                48 * 60,
                key="backfill_minutes",
                help="Fetched over REST when Start is pressed; an interrupted backfill resumes",
            )
            st.number_input(
                "Hours of 1-minute klines",
                0,
                24 * 365,
                key="backfill_kline_hours",
                help="Stored as 1min bars (source 'klines') for long lookbacks",
            )
    start, stop = st.columns(2)
    if start.button(
        "Start",
        key="start",
        type="primary",
        icon=":material/play_arrow:",
        width="stretch",
        help="Starts collecting (restarts with the new choices if already running)",
    ):
        with st.spinner(f"Starting the {FeedKind(st.session_state['feed']).label} feed…"):
            start_collector(settings, st.session_state["feed"])
    if stop.button("Stop", key="stop", icon=":material/stop:", width="stretch"):
        stop_collector()


def analytics_controls(settings: Settings, stored: Sequence[str]) -> Controls:
    """Analysis settings (symbols, pair, timeframe, window, hedge, strategy, costs) → Controls."""
    st.subheader("Analytics settings")
    options = list(dict.fromkeys([*analysable(collect_symbols(settings)), *stored]))
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
    left.selectbox("Timeframe", list(Timeframe), key="timeframe")
    right.selectbox("Lookback", lookback_options(settings), key="lookback", format_func=fmt_minutes)
    st.radio(
        "Window ends",
        ["now", "earlier"],
        key="end_mode",
        horizontal=True,
        format_func={"now": "Now (live)", "earlier": "At a chosen time"}.get,
    )
    end_ms = None
    if st.session_state["end_mode"] == "earlier":
        end_at = st.datetime_input("Window end (UTC) — scroll back in time", key="end_at", step=60)
        end_ms = int(end_at.replace(tzinfo=dt.UTC).timestamp() * 1000)
    st.selectbox(
        "Regression (hedge ratio)",
        list(analytics.HedgeMethod),
        key="method",
        help="kalman: adaptive filter; rolling: OLS over the rolling window; tls / ols / huber: static fits "
        "(refitted causally on an expanding window)",
    )
    left, right = st.columns(2)
    left.number_input(
        "Rolling window (bars)",
        3,
        100_000,
        key="hedge_window",
        step=10,
        help="hedge window for rolling/expanding fits, also the correlation and volatility window",
    )
    right.number_input("z-score window (bars)", 2, 100_000, key="z_window", step=10)
    st.number_input(
        "Minimum bar volume",
        0.0,
        key="min_volume",
        step=0.1,
        help="bars with less volume are left out of pair analytics (0 = keep all)",
    )
    with st.expander("Strategy, costs and backtest", expanded=False):
        left, right = st.columns(2)
        left.number_input("Entry |z|", 0.1, 10.0, key="entry", step=0.1)
        right.number_input("Exit z", -5.0, 5.0, key="exit", step=0.1)
        left.number_input("Stop |z| (0 = off)", 0.0, 20.0, key="stop_z", step=0.5)
        right.number_input("Max holding (bars, 0 = off)", 0, 1_000_000, key="max_hold", step=10)
        left.number_input(
            "Fee (bps per leg)", 0.0, 100.0, key="fee_bps", step=0.5, help="Binance USD-M taker fee is 4 bps (FEE_BPS)"
        )
        right.number_input("Slippage (bps)", 0.0, 100.0, key="slippage_bps", step=0.5)
        st.number_input("Capital (USDT, gross notional per trade)", 100.0, 1e9, key="capital", step=1000.0)
        st.checkbox(
            "In-sample hedge (look-ahead: fits on the whole window — research only)",
            key="in_sample",
            disabled=st.session_state["method"] not in analytics.STATIC_METHODS,
            help="Only for ols / huber / tls. Off = causal hedge, as a live strategy would have had.",
        )
    return Controls(
        db_target=settings.db_target,
        symbols=tuple(chosen),
        pair=pair if pair[0] != pair[1] else None,
        timeframe=st.session_state["timeframe"],
        lookback_min=int(st.session_state["lookback"]),
        end_ms=end_ms,
        min_volume=float(st.session_state["min_volume"]),
        method=st.session_state["method"],
        hedge_window=int(st.session_state["hedge_window"]),
        z_window=int(st.session_state["z_window"]),
        entry=float(st.session_state["entry"]),
        exit=float(st.session_state["exit"]),
        stop=float(st.session_state["stop_z"]) or None,
        max_hold=int(st.session_state["max_hold"]) or None,
        fee_bps=float(st.session_state["fee_bps"]),
        slippage_bps=float(st.session_state["slippage_bps"]),
        capital=float(st.session_state["capital"]),
        in_sample=bool(st.session_state["in_sample"]),
        maker_fee_bps=settings.maker_fee_bps,
        stand_in_spread_bps=settings.stand_in_spread_bps,
        liquidity=settings.liquidity,
    )


def refresh_controls() -> None:
    """Refresh interval and the pause switch."""
    st.subheader("Refresh")
    st.number_input("Every (seconds)", 0.5, 600.0, key="refresh_s", step=0.5)
    st.toggle("Pause refreshing", key="paused", help="Stops every automatic refresh (charts, status and alert checks)")


def refresh_every() -> float | None:
    """Seconds between live reruns, or None while paused."""
    return None if st.session_state["paused"] else float(st.session_state["refresh_s"])
