"""Research sections of the Pair Analytics and Backtest tabs (each called from its tab with one line): the suggested
OU-optimal band with its edge after costs, a backtest at that band, the walk-forward in sample vs out of sample, and
the sweep's overfitting odds (deflated Sharpe, PBO) in words."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import analytics
import visualizations as viz
from dashboard.widgets import guard, plot
from service.controls import Controls, fmt_duration, fmt_value
from service.research import optimal_band_backtest, pair_edge, run_walk_forward, sweep_odds
from service.window import Window

LEVEL_LABELS = {
    analytics.BandChoice.FIXED: "sidebar z levels",
    analytics.BandChoice.OPTIMAL: "optimal bands",
    analytics.BandChoice.SWEEP: "best sweep cell",
}


def edge_caption(edge: analytics.SpreadEdge, c: Controls) -> str:
    """What the band assumes, in a sentence."""
    return (
        f"Bertram's (2010) return-maximising band for the exact-MLE OU fit of the whole window's static (OLS) spread "
        f"(half-life {fmt_duration(edge.fit.half_life_years * analytics.SECONDS_PER_YEAR)}, stationary σ "
        f"{edge.fit.stationary_sd:.4g}), after a round trip of {edge.cost:.4g} USDT per unit of spread: "
        f"{edge.cost_bps:.3g} bps per leg per fill (the backtest's fee and slippage, and each leg's median recorded "
        f"half-spread, else the stand-in {c.stand_in_spread_bps:g} bps; funding left out). The edge trades both "
        "sides (long at −band, short at +band, each closed at the other side); in-sample: the fit uses the whole "
        "window."
    )


def suggested_bands(window: Window, c: Controls) -> None:
    """Pair Analytics: the optimal band in z and price units, the expected trade length in time and the edge per day
    after costs, with a mark when it does not cover them."""
    st.subheader("Suggested bands (OU-optimal, after costs)")
    with guard("Suggested bands"):
        edge = pair_edge(window)
        theta = edge.fit.theta
        cols = st.columns(5)
        cols[0].metric("Band (z)", f"±{edge.entry_z:.2f}")
        cols[1].metric(
            "Band (spread, USDT)",
            f"±{edge.bands.half_width:.4g}",
            help=f"around the OU mean {theta:.4g} of the spread y − α − β·x (in y's price units): enter at "
            f"{theta - edge.bands.half_width:.6g} or {theta + edge.bands.half_width:.6g}, exit at the other",
        )
        cols[2].metric("Expected trade cycle", fmt_duration(edge.trade_seconds), help="entry → exit → entry")
        cols[3].metric(
            "Edge per day after costs",
            f"{100 * edge.edge_per_day:.3f} %",
            help=f"{edge.edge_per_day * c.capital:,.2f} USDT a day on {c.capital:,.0f} of gross notional",
        )
        cols[4].metric("Covers its costs", "yes" if edge.covers_cost else "no")
        if not edge.covers_cost:
            st.warning(
                "The edge does not cover the costs: the band that pays after a round trip is so wide that the model "
                f"expects one full trade every {fmt_duration(edge.trade_seconds)}, longer than the window it was "
                "fitted on."
            )
        st.caption(edge_caption(edge, c))


def backtest_research(window: Window, c: Controls) -> None:
    """Backtest tab: the backtest at the optimal band, and the walk-forward in sample vs out of sample."""
    st.subheader("Optimal bands and walk-forward (out of sample)")
    left, right = st.columns(2)
    with left, guard("Optimal bands"):
        if st.toggle("Backtest at the optimal bands", key="bt_optimal"):
            edge = pair_edge(window)
            result = optimal_band_backtest(window, edge)
            m = result.metrics
            st.markdown(
                f"Entry ±{edge.entry_z:.2f} z, exit ∓{edge.entry_z:.2f} z: **{m['total_return']:+,.2f} USDT** "
                f"({m['pct_return']:+.2f} %) over {m['n_trades']:,} trades, fees {m['total_fees']:,.2f} USDT."
            )
            st.caption(
                "In-sample: the band comes from an OU fit of the whole window. The walk-forward on the right fits "
                "each band on earlier bars only."
            )
    with right, guard("Walk-forward"):
        choice = analytics.BandChoice(
            st.selectbox(
                "Walk-forward levels",
                list(analytics.BandChoice),
                index=1,
                format_func=lambda v: {
                    "fixed": "sidebar z levels",
                    "optimal": "optimal bands",
                    "sweep": "best sweep cell",
                }[str(v)],
                key="wf_bands",
            )
            or analytics.BandChoice.OPTIMAL
        )
        if st.button("Run walk-forward", key="run_wf", icon=":material/fast_forward:"):
            st.session_state["_walk_forward"] = (c, choice, run_walk_forward(window, choice))
    stored = st.session_state.get("_walk_forward")
    if stored is None or stored[0] != c or stored[1] != choice:
        st.caption("Press Run walk-forward: hedge, OU fit and levels are re-estimated on each formation window only.")
        return
    walk_forward_report(stored[2])


def walk_forward_table(result: analytics.WalkForwardResult) -> pd.DataFrame:
    """In-sample vs out-of-sample, side by side, with the time each side covers (the annualised figures of a short
    window are extrapolations: the P&L is what was earned)."""
    is_bars = sum(w.formation_end - w.formation_start for w in result.windows)
    oos_bars = len(result.oos_pnl)

    def side(annual: float, sharpe: float, pnl: float, trades: int, paid: tuple[float, float], bars: int) -> list[str]:
        return [
            f"{pnl:+,.2f} USDT",
            f"{trades:,}",
            f"{paid[0]:,.2f} USDT",
            f"{paid[1]:+,.2f} USDT",
            f"{bars:,} bars ({fmt_duration(bars * result.bar_seconds)})",
            fmt_value(100 * annual, "{:+,.1f} %"),
            fmt_value(sharpe, "{:.2f}"),
        ]

    is_side = side(
        result.is_annual_return, result.is_sharpe, float(result.is_pnl.sum()), result.is_trades,
        (result.is_costs, result.is_funding), is_bars,
    )  # fmt: skip
    oos_side = side(
        result.oos_annual_return, result.oos_sharpe, float(result.oos_pnl.sum()), result.oos_trades,
        (result.oos_costs, result.oos_funding), oos_bars,
    )  # fmt: skip
    return pd.DataFrame(
        {"in sample (formation windows)": is_side, "out of sample (trading windows)": oos_side},
        index=["P&L after costs", "trades", "fees, spread and slippage", "funding (+ received)", "time covered",
               "annualised return", "Sharpe (annualised)"],
    )  # fmt: skip


def walk_forward_report(result: analytics.WalkForwardResult) -> None:
    """The walk-forward: IS vs OOS table, efficiency, the stitched out-of-sample equity curve."""
    first = result.windows[0]
    st.table(walk_forward_table(result))
    efficiency = "—" if math.isnan(result.efficiency) else f"{result.efficiency:.2f}"
    st.markdown(
        f"**Walk-forward efficiency {efficiency}** (out-of-sample annualised return ÷ in-sample) over "
        f"{len(result.windows)} windows of {first.formation_end - first.formation_start:,} formation and "
        f"{first.trade_end - first.trade_start:,} trading bars."
    )
    st.caption(
        "Out-of-sample equity: the trading windows' P&L after costs stitched end to end (formation bars, purge and "
        "embargo gaps left out; flat stretches are bars without a position)."
    )
    plot(viz.equity_drawdown_figure(result.oos_equity), "wf_equity")
    skipped = [w.note for w in result.windows if w.note]
    if skipped:
        st.caption(f"{len(skipped)} window(s) stayed flat: {skipped[0]}")


def sweep_verdict(window: Window, c: Controls) -> None:
    """Backtest tab, under the sweep: the best cell's raw Sharpe beside its deflated Sharpe and the PBO, in words."""
    with guard("Overfitting odds"):
        if st.button("Judge the best sweep cell", key="run_odds", icon=":material/casino:"):
            st.session_state["_sweep_odds"] = (c, sweep_odds(window))
        stored = st.session_state.get("_sweep_odds")
        if stored is None or stored[0] != c:
            st.caption("Judge the sweep's best cell: its Sharpe deflated for the cells tried, and the PBO (CSCV).")
            return
        odds: analytics.SweepOverfitting = stored[1]
        st.markdown(
            f"Best cell by Sharpe: entry {odds.entry:g}, exit {odds.exit:g} — raw Sharpe **{odds.sharpe:.2f}** "
            f"(annualised). {odds.words()}"
        )
