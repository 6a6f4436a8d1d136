"""The Backtest tab: metrics, trades on the spread, equity and drawdown, trade log, entry × exit sweep."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import pandas as pd
import streamlit as st

import analytics
import database
import visualizations as viz
from core import numbers
from core.clock import time_left
from dashboard import section_research
from dashboard.costs import cost_breakdown
from dashboard.widgets import (
    download,
    guard,
    plot,
    read_or_last,
    session_cache,
    verdict_banner,
    with_time_left,
)
from service.controls import (
    BACKTEST_METRICS,
    SWEEP_ENTRIES,
    SWEEP_EXITS,
    SWEEP_METRICS,
    Controls,
    fmt_time,
    fmt_value,
)
from service.costs import run_backtest, run_sweep, window_costs
from service.exports import export_name, trades_frame, window_csv
from service.window import Window, all_closes, pair_closes, pair_of

TILES_PER_ROW = 5  # a signed 5-digit P&L in USDT fits its tile at 1280 px


ANNUALISED = ("sharpe", "sortino", "calmar", "cagr")  # extrapolated from the window to a year


def backtest_metrics(result: analytics.BacktestResult) -> None:
    """Metric tiles; withheld ones show '—' with the reason."""
    span = numbers.duration(len(result.equity) * result.params.bar_seconds)
    annualised = f"annualised from {span} of data"
    cols = st.columns(TILES_PER_ROW)
    for i, (name, label, spec) in enumerate(BACKTEST_METRICS):
        value = result.metrics.get(name)
        why = result.metrics_reasons.get(name) or (annualised if name in ANNUALISED else None)
        cols[i % TILES_PER_ROW].metric(label, fmt_value(value, spec), help=why)
    labels = {name: label for name, label, _ in BACKTEST_METRICS}
    withheld: dict[str, list[str]] = {}
    for name, why in result.metrics_reasons.items():
        if name in labels:
            withheld.setdefault(why, []).append(labels[name])
    st.caption(
        f"Over this window the strategy returned {fmt_value(result.metrics.get('pct_return'), '{:+.2f}%')}. "
        f"Sharpe, Sortino, Calmar and CAGR are **{annualised}** ({result.ann_factor:,.0f} bars per year, "
        f"{result.params.bar_seconds:g} s bars, 365-day year): a short sample extrapolated to a year, not a forecast. "
        + " ".join(f"Withheld {', '.join(names)}: {why}." for why, names in withheld.items())
    )


TRADE_LOG_FIRST = (
    "entry_time",
    "exit_time",
    "side",
    "net_pnl",
    "fees",
    "spread_cost",
    "funding",
    "holding_time",
    "exit_reason",
    "entry_zscore",
    "exit_zscore",
)  # what a trader reads first, visible without scrolling


def trade_log(trades: pd.DataFrame) -> None:
    """The trade log with its key columns first, P&L signed in USDT, z-scores and prices rounded, times to the
    second, durations as text and empty cells left empty."""
    order = [c for c in TRADE_LOG_FIRST if c in trades] + [c for c in trades if c not in TRADE_LOG_FIRST]
    held = [numbers.duration(pd.Timedelta(v).total_seconds()) if pd.notna(v) else "" for v in trades["holding_time"]]
    shown = trades[order].assign(holding_time=held)
    money = st.column_config.NumberColumn(format="%+,.2f USDT")
    config: dict[str, Any] = {
        "entry_time": st.column_config.DatetimeColumn("entry (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "exit_time": st.column_config.DatetimeColumn("exit (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "net_pnl": st.column_config.NumberColumn("net P&L", format="%+,.2f USDT"),
        "fees": st.column_config.NumberColumn(format="%,.2f USDT"),
        "spread_cost": st.column_config.NumberColumn("spread cost", format="%,.2f USDT"),
        "funding": st.column_config.NumberColumn(format="%+,.2f USDT"),
        **{c: money for c in ("gross_pnl", "price_pnl_x", "price_pnl_y")},
        "slippage": st.column_config.NumberColumn(format="%,.2f USDT"),
        "holding_time": "held",
        "exit_reason": "exit reason",
        "entry_zscore": st.column_config.NumberColumn("entry z", format="%+.2f"),
        "exit_zscore": st.column_config.NumberColumn("exit z", format="%+.2f"),
        "entry_beta": st.column_config.NumberColumn("entry β", format="%.5g"),
        **{
            c: st.column_config.NumberColumn(format="%,.6g")
            for c in map(str, order)
            if c.startswith(("entry_price", "exit_price", "qty", "exit_qty", "unhedged"))
        },
    }
    for name in map(str, order):  # every other column under its human header too (gross P&L (USDT), holding bars…)
        column = config.setdefault(name, numbers.header(name))
        if isinstance(column, dict) and not column.get("label"):
            column["label"] = numbers.header(name)
    st.dataframe(shown, width="stretch", hide_index=True, height=260, column_config=config)


def tab_backtest(c: Controls) -> None:
    """Backtest of the pair: markers on the spread, equity and drawdown, metrics, trade log, threshold sweep."""
    st.caption(
        c.describe() + f" · entry ±{c.entry:g}, exit {c.exit:g}, stop {fmt_value(c.stop, '{:g}')}, "
        f"fees {c.fee_bps:g} bps, slippage {c.slippage_bps:g} bps, capital {c.capital:,.0f}"
    )
    reads = read_or_last("backtest", c, lambda conn: window_costs(conn, c, cache=session_cache()))
    window = reads.window
    result = run_backtest(window, reads.costs)
    with guard("Verdict"):  # the pair's verdict and warnings come before its P&L (the tests Pair Analytics shows)
        verdict_banner(pair_of(window, c.pair), all_closes(window), c)
    if c.in_sample_hedge:
        st.warning("IN-SAMPLE backtest: the hedge ratio is fitted on the whole window (look-ahead). Research only.")
    backtest_metrics(result)
    cost_breakdown(result, c)
    plot(
        viz.spread_zscore_figure(
            result.spread, result.zscore, entry=c.entry, exit=c.exit, stop=c.stop, trades=result.trades
        ),
        "bt_spread",
    )
    plot(viz.equity_drawdown_figure(result.equity), "bt_equity")
    st.subheader(f"Trade log ({len(result.trades):,} trades)")
    trade_log(result.trades)
    download(
        "Download trade log (CSV)",
        functools.partial(window_csv, c, trades_frame),
        export_name(c, "trades"),
        "dl_trades_tab",
    )
    st.caption(" · ".join(result.notes))
    with guard("Threshold sweep"):
        sweep_section(window, c)
    section_research.sweep_verdict(window, c)
    section_research.backtest_research(window, c)


def sweep_section(window: Window, c: Controls) -> None:
    """Entry × exit sweep heatmap, computed on click (it runs one backtest per cell) and kept for these settings."""
    st.subheader("Entry × exit sweep")
    left, right, _ = st.columns([2, 1, 3], vertical_alignment="bottom")
    metric = left.selectbox(
        "Sweep metric", SWEEP_METRICS, format_func=numbers.header, key="sweep_metric", persist_state="page"
    )
    signature = (dataclasses.replace(c, entry=0.0, exit=0.0), metric)
    if right.button("Run sweep", key="run_sweep", icon=":material/grid_on:"):
        bar, began = st.progress(0.0, text="Sweeping entry × exit…"), time.monotonic()

        def swept(share: float) -> None:
            bar.progress(share, text=with_time_left(f"Swept {share:.0%} of the cells", time_left(began, share)))

        grid = run_sweep(window, SWEEP_ENTRIES, SWEEP_EXITS, metric, progress=swept)
        bar.empty()
        why = run_backtest(window).metrics_reasons.get(metric) if grid.isna().all().all() else None
        n_bars = len(pair_closes(window, c.pair)[0])
        st.session_state["_sweep"] = (signature, grid, database.now_ms(), n_bars, why)
    stored = st.session_state.get("_sweep")
    if stored is None or stored[0] != signature:
        st.caption(
            f"Runs {len(SWEEP_ENTRIES) * len(SWEEP_EXITS)} backtests (entries {SWEEP_ENTRIES}, exits "
            f"{SWEEP_EXITS}) with the other settings as in the sidebar. Press Run sweep."
        )
        return
    plot(viz.sweep_heatmap(stored[1], metric, why=stored[4]), "bt_sweep")
    st.caption(
        f"Computed {fmt_time(stored[2])} UTC on {stored[3]:,} bars. A grid search overfits: judge the "
        "chosen cell on later data."
    )
