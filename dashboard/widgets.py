"""Streamlit pieces every tab shares: the failure guard, charts, downloads, flash messages and the session caches (bars,
background-refreshed tests)."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

import analytics
import database
from core import numbers
from dashboard.live_chart import live_chart
from dashboard.navigation import jump_button
from service.controls import TESTS_TTL_S, Controls, fmt_duration, fmt_time
from service.window import NotYet, TimedTests, reader, run_tests

log = logging.getLogger(__name__)
OUTAGE_LOG_EVERY_S = 30.0  # an unreachable database is logged this often, not at every refresh
_outage_logged = [0.0]


def log_outage(exc: BaseException) -> None:
    """Log an unreachable database once per OUTAGE_LOG_EVERY_S (every view of every refresh meets it)."""
    if time.monotonic() - _outage_logged[0] >= OUTAGE_LOG_EVERY_S:
        _outage_logged[0] = time.monotonic()
        log.warning("database unreachable: %s", database.error_line(exc))


T = TypeVar("T")


def read_or_last(view: str, c: Controls, read: Callable[[database.Connection], T], *, notice: bool = True) -> T:
    """A view's reads on a fresh reader, remembered per session; while the database server is unreachable, the last
    reads of this view with the same settings come back instead (with a notice of their time, unless `notice` is
    False: a tab's second part under the first's notice), so its charts, and a zoom on them, stay on screen through
    a restart or failover. Memory: one visible window per view."""
    kept: dict[str, tuple[Controls, int, Any]] = st.session_state.setdefault("_last_reads", {})
    try:
        with reader(c.db_target) as conn:
            value = read(conn)
    except Exception as exc:
        if not database.is_unreachable(exc) or view not in kept or kept[view][0] != c:
            raise
        log_outage(exc)
        if notice:
            st.warning(
                f"The database server is unreachable ({database.error_line(exc)}): showing the data read at "
                f"{fmt_time(kept[view][1])}; retrying at every refresh.",
                icon=":material/cloud_off:",
            )
        return kept[view][2]
    kept[view] = (c, database.now_ms(), value)
    return value


@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Show a failing section as a message, never a traceback (too little data → info, anything else → error)."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, NotYet):
            log.debug("%s: %s", what, exc)
            not_yet(what, exc)
        elif isinstance(exc, analytics.InsufficientData):
            log.debug("%s: %s", what, exc)
            st.info(f"**{what}** — {exc}")
        elif database.is_unreachable(exc):
            log_outage(exc)
            st.warning(
                f"**{what}** — the database server is unreachable ({database.error_line(exc)}); retrying at "
                "every refresh.",
                icon=":material/cloud_off:",
            )
        else:
            log.exception("%s failed", what)
            st.error(f"**{what}** failed: {exc}")


def not_yet(what: str, exc: NotYet) -> None:
    """Too little data for a view: the reason, how far a live window has got and how long is left, and a one-click
    move to stored history that would do now."""
    st.info(f"**{what}** — {exc}")
    if exc.progress is not None:
        left = f" — about {fmt_duration(exc.wait_s)} left" if exc.wait_s is not None else ""
        st.progress(min(1.0, exc.progress), text=f"{exc.progress:.0%} of the bars needed{left}")
    if exc.history is not None:
        jump_button(exc.history, key=f"jump_{what}")


def guarded(title: str, body: Callable[..., None]) -> Callable[..., None]:
    """A view that shows its failures as messages (named after the body, so fragment ids stay stable)."""

    @functools.wraps(body)
    def run(*args: Any) -> None:
        with guard(title):
            body(*args)

    return run


def live_view(title: str, body: Callable[[Controls], None]) -> Callable[[Controls], None]:
    """A live tab's body (`guarded`) under a line that says it is working while the tab is drawn the first time for
    these settings: a long window's read, fits and tests take seconds then, and later refreshes reuse the session's
    caches. The line's placeholder is drawn at every run (empty after the first), so the tab's elements keep their
    places. It uses no `st.spinner` and takes `*args` as `guarded` does: with a spinner, or with a wrapper typed
    `(c: Controls)`, a tab clicked during the first run of a page on an empty database lost the sidebar's widget
    values far more often (a Streamlit race that exists without them too, on a page with data: README, Known limit)."""
    view = guarded(title, body)

    @functools.wraps(body)
    def run(*args: Any) -> None:
        c = args[0]
        drawn = st.session_state.setdefault("_first_drawn", {})
        working = st.empty()
        if drawn.get(title) != c:
            working.caption(f":material/hourglass_top: Reading the window and computing the {title} tab…")
        view(*args)
        working.empty()
        drawn[title] = c

    return run


def session_cache() -> dict:
    """This session's bar cache (a plain dict kept in session state)."""
    return st.session_state.setdefault("_bar_cache", {})


def cached_tests(pair: analytics.PairSeries, closes: pd.DataFrame | None, c: Controls) -> TimedTests:
    """The tests for these settings: computed in the refresh when the settings change; afterwards the last result
    is shown while a background thread refreshes it every TESTS_TTL_S (the tests cost far more than the series)."""
    key = (
        pair.x_symbol,
        pair.y_symbol,
        c.db_target,
        c.method,
        c.hedge_window,
        c.z_window,
        c.timeframe,
        c.lookback_min,
        c.end_ms,
        c.min_volume,
        c.in_sample_hedge,
        tuple(closes.columns) if closes is not None else (),
    )
    state = st.session_state.setdefault("_tests", {})
    if key not in state:
        state.clear()
        state[key] = run_tests(pair, closes)
    elif time.time() - state[key].computed_at > TESTS_TTL_S and not state.get("running"):
        state["running"] = True
        threading.Thread(target=refresh_tests, args=(state, key, pair, closes), name="pair-tests", daemon=True).start()
    return state[key]


def verdict_banner(pair: analytics.PairSeries, closes: pd.DataFrame | None, c: Controls) -> TimedTests:
    """The pair's one overall verdict, shown before any other number of the pair (its warnings under it); returns
    the tests it rests on so the tab can show them without recomputing."""
    tests = cached_tests(pair, closes, c)
    verdict = analytics.pair_verdict(pair, tests.tests)
    show = {
        analytics.Verdict.COINTEGRATED: st.success,
        analytics.Verdict.ENDED: st.warning,
        analytics.Verdict.NOT_COINTEGRATED: st.warning,
        analytics.Verdict.NOT_ENOUGH_DATA: st.info,
    }[verdict.verdict]
    lines = [f"**{pair.y_symbol} / {pair.x_symbol}: {verdict.headline}**"]
    lines += [f"- ⚠ {w}" for w in verdict.warnings]
    show("\n".join(lines))
    return tests


def refresh_tests(state: dict, key: tuple, pair: analytics.PairSeries, closes: pd.DataFrame | None) -> None:
    """Recompute the tests off the refresh path and publish them into the session's test cache."""
    try:
        state[key] = run_tests(pair, closes)
    finally:
        state["running"] = False


def download(label: str, make: Callable[[], bytes], file_name: str, key: str) -> None:
    """A download button whose CSV is built only when clicked (no rerun)."""
    st.download_button(label, data=make, file_name=file_name, mime="text/csv", key=key, on_click="ignore")


PLOT_CONFIG = {
    "displaylogo": False,  # drawing tools for trend lines and zones, as the FastAPI seed's charts had
    "modeBarButtonsToAdd": ["drawline", "drawopenpath", "drawrect", "eraseshape"],
}


def plot(fig: Any, key: str) -> None:
    """Draw a Plotly figure with its own dark template under a stable key; a refresh updates the chart in place,
    keeping the user's zoom (see dashboard.live_chart for why st.plotly_chart cannot)."""
    live_chart(fig, key, PLOT_CONFIG)


def with_time_left(text: str, left_s: float | None) -> str:
    """A progress bar's text with the time left, once the job's rate says it."""
    return text + (f" — about {numbers.duration(left_s)} left" if left_s is not None else "")


FLASH_S = 8.0  # a message left by an action stays this long (a live tab redraws every second: "once" was a blink)


def show_flash() -> None:
    """Messages left by button callbacks, shown for FLASH_S seconds from their first showing."""
    now, kept = time.monotonic(), []
    for level, message, *shown_at in st.session_state["flash"]:
        first = shown_at[0] if shown_at else now
        if now - first < FLASH_S:
            getattr(st, level)(message)
            kept.append((level, message, first))
    st.session_state["flash"] = kept
