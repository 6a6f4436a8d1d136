"""Two self-contained sections about trading costs: the backtest's P&L by source (Backtest tab) and the next funding
settlement's expected cash flow per leg (Pair Analytics)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import analytics
from service.controls import Controls, fmt_time
from service.costs import next_funding_flows


def breakdown_frame(b: analytics.CostBreakdown, pair: tuple[str, str]) -> pd.DataFrame:
    """The P&L by source as signed USDT rows (costs negative), each leg named by its symbol, ending with the net."""
    x, y = f"{pair[0]} (x)", f"{pair[1]} (y)"
    rows = [
        (f"price P&L, {x}", b.price_pnl_x),
        (f"price P&L, {y}", b.price_pnl_y),
        ("fees", -b.fees),
        ("spread cost", -b.spread_cost),
        ("slippage", -b.slippage),
        (f"funding, {x}", b.funding_x),
        (f"funding, {y}", b.funding_y),
        ("net P&L", b.net),
    ]
    return pd.DataFrame(rows, columns=["source", "USDT"])


def cost_breakdown(result: analytics.BacktestResult, c: Controls) -> None:
    """The backtest's P&L by source, and a warning when fills were priced with the stand-in spread."""
    b = result.breakdown
    st.subheader("P&L by source")
    st.dataframe(
        breakdown_frame(b, c.pair or ("x", "y")),  # run_backtest refused a missing pair: the names only label
        hide_index=True,
        width="content",
        column_config={"USDT": st.column_config.NumberColumn(format="%+,.2f")},
    )
    fills = b.fills_x + b.fills_y
    if b.stand_in_fills:
        st.warning(
            f"Stand-in cost: {b.stand_in_fills:,} of {fills:,} fills had no recorded quotes and were priced at the bar "
            f"close ± a half-spread of {c.stand_in_spread_bps:g} bps (STAND_IN_SPREAD_BPS); record the pair's "
            "quotes for real costs."
        )
    elif fills:
        st.caption(f"All {fills:,} fills priced at the recorded best bid/ask.")
    if len(result.refused):
        st.warning(f"{len(result.refused):,} trades refused by the contract rules: {result.refused['reason'].iloc[0]}")


def funding_outlook(c: Controls, pair: analytics.PairSeries) -> None:
    """Next settlement per leg of a long-spread position worth the capital: rate, time, expected cash."""
    legs = next_funding_flows(c, pair)
    if all(leg.next is None for leg in legs):
        st.caption("Next funding: no markPrice update stored for this pair yet (the collector records it).")
        return
    rows = []
    for leg in legs:
        n = leg.next
        rows.append(
            {
                "leg": leg.symbol,
                "quantity in base (long spread)": leg.quantity,
                "funding rate (%)": None if n is None else 100 * n.rate,
                "settles (UTC)": None if n is None else fmt_time(int(n.next_funding_time.value // 1_000_000)),
                "interval (h)": None if n is None else n.interval_hours,
                "cash, long spread": leg.cash,
                "cash, short spread": None if leg.cash is None else -leg.cash,
            }
        )
    st.subheader("Next funding settlement")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "quantity in base (long spread)": st.column_config.NumberColumn(format="%+,.6g"),
            "funding rate (%)": st.column_config.NumberColumn(format="%+.4f"),
            "cash, long spread": st.column_config.NumberColumn(format="%+,.4f USDT"),
            "cash, short spread": st.column_config.NumberColumn(format="%+,.4f USDT"),
        },
    )
    cash = [leg.cash for leg in legs if leg.cash is not None]
    both = (
        f" Both legs at their next settlements: {sum(cash):+,.4f} USDT long spread, {-sum(cash):+,.4f} USDT short."
        if len(cash) == len(legs)
        else ""
    )
    st.caption(
        f"A position of {c.capital:,.0f} USDT gross at the latest closes and β; positive cash is received. "
        f"A leg pays −quantity × mark × rate at the settlement.{both}"
    )
