"""The Charts tab: candles with volume, normalised comparison, statistics table, volatility, distributions."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import analytics
import visualizations as viz
from dashboard.widgets import guard, plot, read_or_last, session_cache
from service.controls import SLOW_VIEW_S, Controls, fmt_price, fmt_value, tick_decimals
from service.window import NotYet, Window, load_window


def traded(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars that had trades (filled ones repeat the last close and would pile up zero returns)."""
    return bars.loc[~bars["filled"].astype(bool)]


def statistics_table(window: Window) -> pd.DataFrame:
    """Per-symbol time-series statistics of the window (prices and returns of traded bars, volume)."""
    rows = {}
    for symbol, bars in window.require().items():
        price = analytics.summary_statistics(traded(bars)["close"])
        ret = analytics.summary_statistics(analytics.returns(traded(bars)["close"]))
        high, low = float(bars["high"].max()), float(bars["low"].min())
        rows[symbol] = {
            "last": price["last"],
            "change": price["last"] - price["first"],
            "change %": (price["last"] / price["first"] - 1) * 100,
            "high": high,
            "low": low,
            "range": high - low,
            "mean": price["mean"],
            "σ price": price["std"],
            "volume": float(bars["volume"].sum()),
            "avg volume/bar": float(bars["volume"].mean()),
            "trades": int(bars["trades"].sum()),
            "bars": len(bars),
            "filled bars %": analytics.fill_fraction(bars) * 100,
            "σ return %": ret["std"] * 100,
            "skew": ret["skew"],
            "excess kurtosis": ret["kurtosis"],
        }
    return pd.DataFrame(rows).T


_PRICE_ROWS = ("last", "change", "high", "low", "range")  # on the symbol's tick grid
_DERIVED_PRICE_ROWS = ("mean", "σ price")  # prices, off the grid: two more decimals
_PERCENT_ROWS = ("change %", "filled bars %", "σ return %")
_COUNT_ROWS = ("trades", "bars")
_SHAPE_ROWS = ("skew", "excess kurtosis")


def statistics_view(table: pd.DataFrame, decimals: dict[str, int]) -> pd.DataFrame:
    """The statistics as a trader reads them: one column per symbol (so no header is cut), prices in the symbol's
    tick decimals with thousands separators, percentages to 3 decimals, counts whole, '—' where undefined."""

    def cell(stat: str, symbol: str, value: float) -> str:
        if not math.isfinite(value):
            return "—"
        if stat in _PRICE_ROWS or stat in _DERIVED_PRICE_ROWS:
            return fmt_price(value, min(8, decimals[symbol] + (2 if stat in _DERIVED_PRICE_ROWS else 0)))
        if stat in _PERCENT_ROWS:
            return f"{value:,.3f}"
        if stat in _COUNT_ROWS:
            return f"{int(value):,}"
        if stat in _SHAPE_ROWS:
            return f"{value:.2f}"
        return fmt_value(value, 6)  # volumes

    return pd.DataFrame(
        {
            symbol: [cell(str(stat), str(symbol), float(value)) for stat, value in row.items()]
            for symbol, row in table.astype(float).iterrows()
        },
        index=table.columns,
    )


# Candles of this many symbols share a chart, stacked on one time axis: a pair's legs zoom and pan together, and one
# Plotly graph of two symbols costs the browser about half of two graphs of one (0.23 against 0.34 renderer cores
# for the whole tab at a 1 s refresh); more symbols make more charts, so those scrolled out of view cost nothing.
CANDLE_SYMBOLS_PER_CHART = 2


def charts_options() -> None:
    """The tab's chart options, drawn outside its live part (a widget redrawn every second costs the browser more
    than a chart; changing one reruns the page)."""
    left, right = st.columns([1, 3], vertical_alignment="center")
    left.toggle("Volume panels", key="show_volume", persist_state="page")
    right.radio(
        "Normalised comparison",
        ["rebased", "pct"],
        key="norm_mode",
        horizontal=True,
        persist_state="page",
        format_func={"rebased": "Rebased to 100", "pct": "% change since window start"}.get,
    )


def tab_charts(c: Controls) -> None:
    """The live part, redrawn at every refresh: candles with volume and the normalised comparison."""
    st.caption(c.describe())
    window = read_or_last("charts", c, lambda conn: load_window(conn, c, cache=session_cache()))
    window.require()
    drawable = list(window.drawable().items())
    for start in range(0, len(drawable), CANDLE_SYMBOLS_PER_CHART):
        shown = dict(drawable[start : start + CANDLE_SYMBOLS_PER_CHART])
        plot(
            viz.multi_candlestick_figure(shown, show_volume=st.session_state["show_volume"]),
            "chart_candles_" + "_".join(shown),
        )
    with guard("Normalised comparison"):
        plot(viz.normalized_price_figure(window.drawable_closes(), st.session_state["norm_mode"]), "chart_normalized")


def charts_statistics(c: Controls) -> None:
    """The slow part, redrawn every SLOW_VIEW_S: statistics with rolling volatility, distributions (statistics of a
    window of hundreds of bars move little in a second; redrawing them every second cost the browser ~0.1 core:
    0.40 → 0.31 renderer cores for the tab, bench/browser_load.py)."""
    try:  # the session's bar cache makes this second read of the window incremental
        window = read_or_last(
            "charts_statistics", c, lambda conn: load_window(conn, c, cache=session_cache()), notice=False
        )
        found = window.require()
    except NotYet:
        return  # the live part above says what is missing (and any outage notice)
    with guard("Statistics"):
        st.subheader("Time-series statistics")
        st.caption(
            f"Statistics, volatility and distributions are redrawn every {SLOW_VIEW_S:g} s (or at the refresh, "
            "if slower); the charts above at every refresh."
        )
        view = statistics_view(
            statistics_table(window),
            {symbol: tick_decimals(traded(bars)["close"].to_numpy()) for symbol, bars in found.items()},
        )
        st.dataframe(
            view,
            width="stretch",
            column_config={symbol: st.column_config.TextColumn(alignment="right") for symbol in view.columns},
        )
        plot(viz.rolling_volatility_figure(window.closes(), window=c.hedge_window), "chart_volatility")
    with guard("Distributions"):
        if st.session_state.get("dist_symbol") not in found:
            st.session_state["dist_symbol"] = next(iter(found))
        symbol = st.columns(3)[0].selectbox("Distribution of", list(found), key="dist_symbol", persist_state="page")
        close = traded(found[symbol])["close"]
        left, right = st.columns(2)
        with left:
            plot(viz.distribution_figure(close, f"{symbol} price", x_title="Price"), "chart_price_dist")
        with right:
            plot(
                viz.distribution_figure(
                    analytics.returns(close) * 100, f"{symbol} {c.bar_timeframe} returns", x_title="Return per bar (%)"
                ),
                "chart_return_dist",
            )
