"""The Watchlist tab (live): watched pairs with their latest z, spread, β, verdict, break alarm, next funding and paper
position; their two-leg positions with the P&L broken down like the backtest's (legs, fees, spread, funding); the
latest signals the watch monitor wrote."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import database
from core.vocabulary import WatchSource
from dashboard.watch_actions import close_position, open_position, remove_watch, watch_button
from dashboard.widgets import show_flash
from service import pair_trading, paper_check, watchlist
from service.controls import Controls, fmt_duration, fmt_time, fmt_value
from service.window import reader


def _row(r: watchlist.WatchRow, now_ms: int) -> dict:
    s = r.watch.spec
    since = r.in_position_since_ms
    last = r.last_signal
    return {
        "#": r.watch.id,
        "pair (y / x)": f"{s.symbol_y} / {s.symbol_x}",
        "bars": s.timeframe,
        "z": r.zscore,
        "spread": r.spread,
        "β": r.beta,
        "verdict": r.verdict.label if r.verdict else "—",
        "bands": f"±{s.entry:g} / {s.exit:g}" + (f" / stop {s.stop:g}" if s.stop is not None else ""),
        "position": r.position.opening.side if r.position else "—",
        "in position": fmt_duration(max(0, now_ms - since) / 1000) if since is not None else "—",
        "last signal": f"{last.kind.replace('_', ' ')} at {fmt_time(last.bar_ms)}" if last else "—",
        "break alarm": "⚠ on" if r.alarm else "off",
        "next funding": _next_funding(r.next_funding),
        "auto-trade": s.auto_trade,
        "note": r.problem,
    }


def _next_funding(nf: watchlist.NextFundingOf | None) -> str:
    if nf is None:
        return "—"
    at = fmt_time(int(nf.at.value // 1_000_000))
    return at if nf.cash is None else f"{at} ({nf.cash:+,.2f} USDT)"


def pnl_line(v: pair_trading.PositionView) -> str:
    """A position's P&L broken down like a backtest trade, in one line."""
    p = v.pnl
    return (
        f"net {p.net:+,.2f} USDT: y leg {p.price_y:+,.2f}, x leg {p.price_x:+,.2f}, fees {-p.fees:+,.2f}, "
        f"spread {-p.spread:+,.2f}, funding {p.funding:+,.2f}"
    )


def _positions(views: list[pair_trading.PositionView]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "#": v.position.id,
                "pair (y / x)": f"{v.position.opening.symbol_y} / {v.position.opening.symbol_x}",
                "side": v.position.opening.side,
                "qty y": v.position.opening.qty_y,
                "qty x": v.position.opening.qty_x,
                "opened": fmt_time(v.position.opening.opened_at),
                "closed": fmt_time(v.position.closing.closed_at) if v.position.closing else "open",
                "P&L y leg": v.pnl.price_y,
                "P&L x leg": v.pnl.price_x,
                "fees": -v.pnl.fees,
                "spread cost": -v.pnl.spread,
                "funding y": v.pnl.funding_y,
                "funding x": v.pnl.funding_x,
                "net P&L": v.pnl.net,
                "unhedged x": v.position.opening.unhedged_x,
                "legs": v.position.opening.leg_status,
                "reason": v.position.closing.close_reason if v.position.closing else "",
            }
            for v in views
        ]
    )


def _totals(t: paper_check.Totals) -> str:
    return (
        f"{t.trades} closed, net {t.net:+,.2f} USDT (legs {t.gross:+,.2f}, fees {t.fees:,.2f}, spread "
        f"{t.spread:,.2f}, funding {t.funding:+,.2f})"
    )


def _check(db_target: str, watch: database.Watch) -> None:
    """One auto-trade pair's closed paper positions against the backtest of the bars the monitor evaluated."""
    check = paper_check.paper_vs_backtest(db_target, watch.id)
    pair = f"#{watch.id} {watch.spec.symbol_y} / {watch.spec.symbol_x}"
    if check is None:
        st.caption(f"{pair}: not evaluated far enough for a backtest yet.")
        return
    st.markdown(
        f"{pair} over {check.bars:,} bars — paper: {_totals(check.paper)} · backtest: {_totals(check.backtest)}"
    )


def tab_watchlist(c: Controls) -> None:
    """Live watchlist, actions per pair, two-leg positions and the latest signals."""
    show_flash()
    st.caption(
        "Watched pairs are evaluated by the server on every new closed bar (both legs traded after it: entry, exit, "
        "stop, max-hold, break alarm), with or without a tab open; auto-trade pairs open and close two-leg paper "
        "positions at the bar after a signal, as the backtest fills. The table's z is the newest bar's, which may "
        "not be closed yet. Add a pair from a Scanner row, from Pair Analytics, or here with the sidebar's pair."
    )
    if c.pair is not None:
        watch_button(c, c.pair[0], c.pair[1], WatchSource.MANUAL, key="wl_add")
    rows = watchlist.watch_rows(c.db_target)
    if not rows:
        st.info("No watched pairs yet.")
        return
    now = database.now_ms()
    views = pair_trading.position_views(c.db_target)
    held = {v.position.opening.watch_id: v for v in views if v.position.is_open}
    st.dataframe(
        pd.DataFrame([_row(r, now) for r in rows]),
        hide_index=True,
        width="stretch",
        column_config={k: st.column_config.NumberColumn(format="%.4g") for k in ("z", "spread", "β")},
    )
    for r in rows:
        w, p = r.watch, r.position
        cols = st.columns([4, 1, 1, 1], vertical_alignment="center")
        line = f"**#{w.id} {w.spec.symbol_y} / {w.spec.symbol_x}** · z {fmt_value(r.zscore, '{:+.2f}')}"
        if w.id in held:
            line += f" · {held[w.id].position.opening.side} #{held[w.id].position.id}: {pnl_line(held[w.id])}"
        cols[0].markdown(line)
        if p is None:
            for col, side in zip(cols[1:3], database.PaperSide, strict=True):
                col.button(
                    f"Open {side.lower()}",
                    key=f"wl_open_{side}_{w.id}",
                    on_click=open_position,
                    args=(c.db_target, w.id, side),
                    disabled=not math.isfinite(r.beta),
                )
        else:
            cols[1].button("Close", key=f"wl_close_{p.id}", on_click=close_position, args=(c.db_target, p.id))
        cols[3].button("Remove", key=f"wl_remove_{w.id}", on_click=remove_watch, args=(c.db_target, w.id))
    st.subheader("Two-leg paper positions")
    if views:
        st.dataframe(_positions(views), hide_index=True, width="stretch")
        closed = [v for v in views if not v.position.is_open]
        st.caption(
            "Each leg fills at its recorded best bid/ask, else at the price ± the watch's stand-in half-spread, and "
            "pays the fee; funding is booked per leg at each settlement held across; legs are whole contract steps "
            "(unhedged x: what rounding left unhedged). Open P&L is marked at the latest stored prices (fees and "
            f"spread of the entry only). Realised over {len(closed)} closed: "
            f"{sum(v.pnl.net for v in closed):+,.2f} USDT."
        )
    else:
        st.caption("No two-leg positions yet.")
    if any(r.watch.spec.auto_trade for r in rows) and st.toggle(
        "Compare the paper positions with the backtest of the same bars", key="wl_check"
    ):
        for r in rows:
            if r.watch.spec.auto_trade:
                _check(c.db_target, r.watch)
    st.subheader("Latest signals")
    with reader(c.db_target) as conn:
        signals = database.list_signals(conn, limit=50)
    if signals:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "#": s.watch_id,
                        "bar": fmt_time(s.bar_ms),
                        "signal": s.kind,
                        "z": s.zscore,
                        "spread": s.spread,
                        "β": s.beta,
                        "x": s.price_x,
                        "y": s.price_y,
                    }
                    for s in signals
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No signals yet.")
