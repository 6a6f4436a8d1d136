"""The Dashboard tab: a price card per symbol, the pair's latest numbers and a compact chart."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import database
import visualizations as viz
from dashboard.widgets import guard, plot, read_or_last, session_cache, verdict_banner
from service.controls import Controls, fmt_price, fmt_span, fmt_value, tick_decimals
from service.window import all_closes, database_size, load_window, pair_of


def recent_rate(bars: pd.DataFrame, end_ms: int, seconds: int = 60) -> float:
    """Trades per second over the last `seconds` of the window, or over the part of them the data covers (eight
    seconds after Start the rate is 8 seconds' trades over 8 s, not over 60)."""
    since = pd.Timestamp(end_ms - seconds * 1000, unit="ms", tz="UTC")
    recent = bars.loc[bars.index >= since, "trades"]
    if recent.empty:
        return 0.0
    covered = min(seconds, (end_ms - max(since, bars.index[0]).value // 1_000_000) / 1000)
    return float(recent.sum()) / max(1.0, covered)


def price_change(bars: pd.DataFrame) -> str:
    """Change of the close over the span the real (traded) bars really cover, e.g. '+0.080 % over 66 s'."""
    real = bars.loc[~bars["filled"].astype(bool)] if "filled" in bars.columns else bars
    real = real if len(real) else bars
    first, last = float(real["close"].iloc[0]), float(bars["close"].iloc[-1])
    step = (bars.index[1] - bars.index[0]).total_seconds() if len(bars) > 1 else 0.0
    span = (bars.index[-1] - real.index[0]).total_seconds() + step
    return f"{(last / first - 1) * 100:+.3f} % over {fmt_span(span)}"


def sparse_note(bars: pd.DataFrame, timeframe: str) -> str:
    """' · sparse: trades in 12 % of the 1s bars' when most bars of a symbol are filled (no trade): its chart and
    pair statistics rest on fewer prices than the bar count suggests."""
    if "filled" not in bars.columns or not len(bars):
        return ""
    traded = 1.0 - float(bars["filled"].astype(bool).mean())
    return f" · sparse: trades in {traded:.0%} of the {timeframe} bars" if traded < 0.5 else ""


def tab_dashboard(c: Controls) -> None:
    """Price cards, the pair's latest z-score and hedge ratio, a compact price chart."""
    st.caption(c.describe())
    window, summaries, size = read_or_last(
        "dashboard",
        c,
        lambda conn: (
            load_window(conn, c, cache=session_cache()),
            database.symbol_summaries(conn),
            database_size(c.db_target),
        ),
    )
    found = window.require()
    with guard("Prices"):
        for row in range(0, len(found), 4):
            for col, (symbol, bars) in zip(st.columns(4), list(found.items())[row : row + 4]):
                decimals = tick_decimals(bars["close"].to_numpy()[-300:])
                col.metric(symbol, fmt_price(float(bars["close"].iloc[-1]), decimals), price_change(bars), border=True)
                activity = (
                    f"{recent_rate(bars, window.end_ms):.1f} ticks/s"
                    if c.end_ms is None
                    else f"{int(bars['trades'].sum()):,} trades in the window"
                )
                col.caption(f"{activity} · {len(bars):,} bars" + sparse_note(bars, c.bar_timeframe))
    with guard("Pair"):
        pair = pair_of(window, c.pair)
        verdict_banner(pair, all_closes(window), c)
        cols = st.columns(4)
        cols[0].metric(f"z-score {pair.y_symbol}/{pair.x_symbol}", fmt_value(pair.latest("zscore"), "{:+.2f}"))
        cols[1].metric(f"Hedge ratio β ({c.method})", fmt_value(pair.hedge.beta, 5))
        cols[2].metric("Spread", fmt_value(pair.latest("spread"), 4))
        cols[3].metric(
            f"Corr. ({c.hedge_window} bars)",
            fmt_value(pair.latest("correlation"), "{:.3f}"),
            help="return correlation over the last hedge window of bars; Pair Analytics' matrix is over "
            "the whole window",
        )
    with guard("Price chart"):
        plot(viz.compact_price_figure(window.drawable_closes()), "dash_prices")
    total = sum(s.tick_count for s in summaries)
    st.caption(f"Stored: {total:,} ticks for {len(summaries)} symbols · database {size / 2**20:,.1f} MB")
