"""Research views of the selected pair, for both UIs: the OU-optimal band and its edge after costs, a backtest at that
band, the walk-forward out of sample, and the overfitting odds of the entry × exit sweep.

Why: the Pair Analytics and Backtest tabs and the API show the same numbers; each is computed here once from the
window and the sidebar's controls.
"""

from __future__ import annotations

import dataclasses

import analytics
from service.controls import BAR_SECONDS, SWEEP_ENTRIES, SWEEP_EXITS, Controls
from service.costs import pair_costs
from service.window import Window, pair_closes

WALK_FORMATION_SHARE = 0.25  # a walk-forward's formation window is a quarter of the window's bars ...
WALK_TRADING_SHARE = 0.125  # ... each trading window an eighth (six windows on a full window)
WALK_GAP_BARS = 10  # purge before and embargo after each trading window


def leg_cost_bps(fee_bps: float, slippage_bps: float, stand_in_spread_bps: float) -> float:
    """What each fill of each leg pays where no quotes were recorded, in bps of its notional: the fee, the slippage
    and the stand-in half-spread (STAND_IN_SPREAD_BPS)."""
    return fee_bps + slippage_bps + stand_in_spread_bps


def cost_bps(c: Controls) -> float:
    """:func:`leg_cost_bps` of the sidebar's settings (the scanner's cost per leg per fill, for every pair at once)."""
    return leg_cost_bps(c.fee_bps, c.slippage_bps, c.stand_in_spread_bps)


def pair_edge(window: Window) -> analytics.SpreadEdge:
    """The OU fit of the pair's static (whole-window OLS) residual, its optimal band for the round trip the backtest
    would pay (fee, slippage and each leg's median recorded half-spread, else the stand-in:
    analytics.pair_cost_bps), and the edge per day after costs."""
    c = window.controls
    x, y = pair_closes(window, c.pair)
    fit = analytics.static_fit(x, y)
    bar_seconds = float(BAR_SECONDS[c.bar_timeframe])
    market = analytics.pair_market(
        x.index, x.to_numpy(), y.to_numpy(), bar_seconds, pair_costs(window, str(x.name), str(y.name))
    )
    return analytics.spread_edge(
        y - fit.alpha - fit.beta * x,
        float(x.iloc[-1]),
        float(y.iloc[-1]),
        fit.beta,
        bar_seconds,
        analytics.pair_cost_bps(market, fit.beta, c.slippage_bps),
    )


def optimal_band_backtest(window: Window, edge: analytics.SpreadEdge) -> analytics.BacktestResult:
    """The sidebar's backtest with the optimal band instead of the fixed z levels: enter at ±entry_z, exit on the other
    side at ∓entry_z (Bertram's cycle traded both ways); the backtest's rolling z-score stands in for the OU z. It pays
    the costs service.costs.run_backtest pays."""
    c = window.controls
    x, y = pair_closes(window, c.pair)
    params = dataclasses.replace(c.backtest_params(), entry=edge.entry_z, exit=-edge.entry_z, stop=None)
    return analytics.backtest_pairs(x, y, params, pair_costs(window, str(x.name), str(y.name)))


def walk_forward_params(c: Controls, n_bars: int, bands: analytics.BandChoice) -> analytics.WalkForwardParams:
    """The walk-forward the Backtest tab and the API run: rolling formation windows of WALK_FORMATION_SHARE of the
    bars, trading windows of WALK_TRADING_SHARE, WALK_GAP_BARS purge and embargo, the sidebar's levels, fee and
    slippage."""
    return analytics.WalkForwardParams(
        formation_bars=max(analytics.MIN_STAT_OBS, int(n_bars * WALK_FORMATION_SHARE)),
        trading_bars=max(3, int(n_bars * WALK_TRADING_SHARE)),
        purge_bars=WALK_GAP_BARS,
        embargo_bars=WALK_GAP_BARS,
        bands=bands,
        entry=c.entry,
        exit=c.exit,
        fee_bps=c.fee_bps,
        slippage_bps=c.slippage_bps,
        capital=c.capital,
        bar_seconds=float(BAR_SECONDS[c.bar_timeframe]),
    )


def run_walk_forward(window: Window, bands: analytics.BandChoice) -> analytics.WalkForwardResult:
    """The pair's walk-forward over the window (:func:`walk_forward_params`), paying the same costs as the backtest
    (service.costs.pair_costs: recorded quotes and funding, contract steps, the stand-in spread elsewhere)."""
    x, y = pair_closes(window, window.controls.pair)
    costs = pair_costs(window, str(x.name), str(y.name))
    return analytics.walk_forward(x, y, walk_forward_params(window.controls, len(x), bands), costs)


def sweep_odds(window: Window) -> analytics.SweepOverfitting:
    """The Backtest tab's entry × exit sweep (SWEEP_ENTRIES × SWEEP_EXITS, the sidebar's other settings, the costs of
    service.costs.run_sweep): its best cell by Sharpe, deflated for every cell tried, and the sweep's PBO."""
    x, y = pair_closes(window, window.controls.pair)
    costs = pair_costs(window, str(x.name), str(y.name))
    return analytics.sweep_overfitting(x, y, window.controls.backtest_params(), SWEEP_ENTRIES, SWEEP_EXITS, costs=costs)
