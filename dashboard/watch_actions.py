"""Watchlist and two-leg position actions shared by the tabs: the "Watch this pair" button (Scanner, Pair Analytics)
and the open/close/remove callbacks of the Watchlist tab. Each leaves a message in the session's flash list."""

from __future__ import annotations

import dataclasses

import streamlit as st

import database
from core.vocabulary import WatchSource
from service import pair_trading, watchlist
from service.controls import Controls


def _flash(level: str, message: str) -> None:
    st.session_state["flash"].append((level, message))
    st.toast(message, icon=":material/visibility:" if level == "success" else ":material/error:")


def add_watch(c: Controls, x: str, y: str, source: WatchSource) -> None:
    """Watch (x, y) with the sidebar's hedge, windows, bands and costs (button callback)."""
    try:
        spec = watchlist.spec_from_controls(dataclasses.replace(c, pair=(x, y)), source)
        watch = watchlist.add_watch(c.db_target, spec)
    except watchlist.WatchRefused as exc:
        _flash("error", str(exc))
        return
    _flash("success", f"Watching {watch.spec.symbol_y} vs {watch.spec.symbol_x} ({watch.spec.timeframe} bars).")


def watch_button(c: Controls, x: str, y: str, source: WatchSource, key: str) -> None:
    """A button adding the pair to the watchlist with the sidebar's settings."""
    st.button(
        f"Watch {y} / {x}",
        key=key,
        icon=":material/visibility:",
        help="Add to the watchlist: its signals are evaluated on every new bar, even with no tab open",
        on_click=add_watch,
        args=(c, x, y, source),
    )


def open_position(db_target: str, watch_id: int, side: database.PaperSide) -> None:
    """Open both legs of a watched pair now (button callback)."""
    try:
        p = pair_trading.open_by_hand(db_target, watch_id, side)
    except pair_trading.PositionRefused as exc:
        _flash("error", str(exc))
        return
    o = p.opening
    _flash("success", f"Opened #{p.id} {o.side} {o.symbol_y} vs {o.symbol_x}: {o.qty_y:+.6g} / {o.qty_x:+.6g}.")


def close_position(db_target: str, position_id: int) -> None:
    """Close both legs of a position now, once whoever else closes it (button callback)."""
    try:
        p = pair_trading.close_by_hand(db_target, position_id)
    except pair_trading.PositionRefused as exc:
        _flash("error", str(exc))
        return
    pnl = p.closing.realized_pnl if p.closing else 0.0
    _flash("success", f"Closed #{p.id}: realised P&L {pnl:+,.2f} USDT.")


def remove_watch(db_target: str, watch_id: int) -> None:
    """Stop watching a pair (button callback)."""
    try:
        watchlist.remove_watch(db_target, watch_id)
    except watchlist.WatchRefused as exc:
        _flash("error", str(exc))
