"""The Portfolio tab: paper positions at the latest stored price, unrealised and realised P&L."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import database
from dashboard.widgets import show_flash
from service import paper
from service.controls import Controls, fmt_price, fmt_time, fmt_value
from service.window import reader


def paper_costs(c: Controls) -> paper.PaperCosts:
    """The taker fee and stand-in spread of the sidebar's settings."""
    return paper.PaperCosts(c.fee_bps, c.stand_in_spread_bps)


def _open(c: Controls) -> None:
    """Open a paper position from the form (button callback)."""
    symbol, notional = st.session_state.get("pf_symbol"), float(st.session_state["pf_notional"])
    try:
        if not symbol:
            raise paper.PaperRefused("Choose a symbol first.")
        side = database.PaperSide(st.session_state["pf_side"])
        fill = paper.open_position(c.db_target, symbol, side, notional, paper_costs(c))
    except paper.PaperRefused as exc:
        st.session_state["flash"].append(("error", str(exc)))
        return
    st.session_state["flash"].append(("success", fill.message(notional)))


def _close(c: Controls, position: database.PaperPosition) -> None:
    """Close a paper position (button callback)."""
    try:
        fill = paper.close_position(c.db_target, position, paper_costs(c))
    except paper.PaperRefused as exc:
        st.session_state["flash"].append(("error", str(exc)))
        return
    st.session_state["flash"].append(("success", fill.message()))


def tab_portfolio(c: Controls) -> None:
    """Paper trading: open LONG/SHORT positions sized in $, live unrealised P&L, close, history, win rate."""
    with reader(c.db_target) as conn:
        positions = database.list_paper_positions(conn)
        prices = database.last_prices(conn, sorted({p.symbol for p in positions} | set(c.symbols)))
    show_flash()
    if c.symbols:
        if st.session_state.get("pf_symbol") not in c.symbols:
            st.session_state["pf_symbol"] = c.symbols[0]
        cols = st.columns([2, 2, 2, 1.3], vertical_alignment="bottom")
        cols[0].selectbox("Symbol", c.symbols, key="pf_symbol", persist_state="page")
        cols[1].radio(
            "Side", [side.value for side in database.PaperSide], key="pf_side", horizontal=True, persist_state="page"
        )
        cols[2].number_input("Size (USDT)", 100.0, 1e9, key="pf_notional", step=100.0, persist_state="page")
        cols[3].button("Open position", key="pf_open", type="primary", on_click=_open, args=(c,))
    open_pos = [p for p in positions if p.closed_at is None]
    closed = [p for p in positions if p.closed_at is not None]
    unrealised = sum(p.unrealized_pnl(prices[p.symbol][1]) for p in open_pos if p.symbol in prices)
    realised = sum(p.realized_pnl or 0.0 for p in closed)
    wins = sum(1 for p in closed if (p.realized_pnl or 0) > 0)
    cols = list(st.columns(4))
    cols[0].metric("Open positions", len(open_pos))
    cols[1].metric("Unrealised P&L", f"{unrealised:+,.2f}")
    cols[2].metric("Realised P&L", f"{realised:+,.2f}")
    cols[3].metric("Win rate", f"{wins / len(closed):.0%}" if closed else "—", help=f"{wins} of {len(closed)} closed")
    st.subheader("Open positions")
    if not open_pos:
        st.caption("No open positions.")
    for p in open_pos:
        price = prices.get(p.symbol, (None, math.nan))[1]
        cols = st.columns([5, 1], vertical_alignment="center")
        cols[0].markdown(
            f"**#{p.id} {p.side} {p.symbol}** · qty {p.quantity:.6g} @ {fmt_price(p.entry_price)} · "
            f"now {fmt_value(price, '{:,.2f}')} · unrealised "
            f"**{fmt_value(p.unrealized_pnl(price), '{:+,.2f}')}** · opened {fmt_time(p.opened_at)}"
        )
        cols[1].button("Close", key=f"pf_close_{p.id}", on_click=_close, args=(c, p))
    st.subheader("History")
    if closed:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "id": p.id,
                        "symbol": p.symbol,
                        "side": p.side,
                        "quantity": p.quantity,
                        "entry": p.entry_price,
                        "exit": p.exit_price,
                        "opened": fmt_time(p.opened_at),
                        "closed": fmt_time(p.closed_at),
                        "realised P&L": p.realized_pnl,
                    }
                    for p in closed
                ]
            ),
            width="stretch",
            hide_index=True,
        )
    else:
        st.caption("No closed positions yet.")
