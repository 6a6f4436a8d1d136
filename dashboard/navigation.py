"""Moving the analysis window from inside a view: "show the stored history" buttons and the upload's "show the
uploaded data". A jump is requested in session state and applied at the start of the next full run, before the
sidebar's widgets exist (a live tab is a fragment, whose own rerun would not redraw the sidebar)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import streamlit as st

import database
from service.controls import BAR_SECONDS, LOOKBACK_MINUTES, fmt_time
from service.window import StoredHistory


def jump_button(history: StoredHistory, key: str, label: str = "Show the stored history") -> None:
    """A button that moves the window over `history` (a whole-app rerun, so the sidebar follows)."""
    if st.button(
        label,
        key=key,
        icon=":material/history:",
        help=f"Moves the window to {fmt_time(history.first_ms)} – {fmt_time(history.last_ms)} UTC",
    ):
        st.session_state["_jump"] = history
        st.rerun(scope="app")


def request_jump(symbols: Sequence[str], first_ms: int, last_ms: int, timeframe: str | None) -> None:
    """Button callback outside fragments: the same jump, applied by the rerun the click starts."""
    st.session_state["_jump"] = StoredHistory(tuple(symbols), first_ms, last_ms, timeframe)


def open_view(state: Mapping[str, object]) -> None:
    """From a button inside a fragment (the Scanner's Open): set these sidebar widgets and the tab in a whole-app
    rerun. A callback's changes to them would not survive: the fragment's rerun does not redraw the sidebar, and the
    next full run takes the widgets' values back from the browser."""
    st.session_state["_open_view"] = dict(state)
    st.rerun(scope="app")


def apply_jump() -> None:
    """At the top of a run, before the widgets exist: apply a requested view (open_view), then a requested jump,
    saying what changed (a toast), above all when the window stops following live data."""
    st.session_state.update(st.session_state.pop("_open_view", {}))
    history: StoredHistory | None = st.session_state.pop("_jump", None)
    if history is None:
        return
    s = st.session_state
    s["view_symbols"] = list(dict.fromkeys([*s["view_symbols"], *history.symbols]))
    if history.timeframe is not None and BAR_SECONDS[history.timeframe] > BAR_SECONDS[s["timeframe"]]:
        s["timeframe"] = history.timeframe
    span_min = (history.last_ms - history.first_ms) / 60_000 + 1
    s["lookback"] = next((m for m in LOOKBACK_MINUTES if m >= span_min), LOOKBACK_MINUTES[-1])
    if database.now_ms() - history.last_ms < 60_000:
        s["end_mode"] = "now"
        st.toast(f"Showing {', '.join(history.symbols)} live over the last {s['lookback']:,} min.")
        return
    end = dt.datetime.fromtimestamp(history.last_ms / 1000 + 60, dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    s.update(end_mode="earlier", end_at=end)
    st.toast(
        f"Showing {', '.join(history.symbols)} up to {end:%Y-%m-%d %H:%M} UTC. The window no longer follows "
        "live data: set **Window ends** to *Now (live)* in the sidebar to return.",
        icon=":material/history:",
    )
