"""Walk-forward out-of-sample testing of a pair: formation windows, each followed (after a purge gap) by a trading
window whose hedge, OU fit and levels come from the formation bars only; the trading windows stitched into one
out-of-sample equity curve after costs, beside the in-sample result of the same levels.

Why: a backtest whose levels were picked on the bars it reports on is in-sample; only bars never used by any fit
say what the rule would have earned.

Trades go through the backtest's state machine (:func:`quant.backtest.find_trades`: signals at a bar's close fill at
the next close) on the spread y − (α + β·x) with the formation's (α, β), z = (s − θ)/sd from the formation's OU fit,
and its money accounting (:func:`quant.simulate.simulate`): the legs sized to a gross notional of `capital` at the
entry fill in whole contract steps (no compounding, no re-hedging inside a window), every fill at the recorded
bid/ask (else the close ± the stand-in half-spread) plus slippage, the fee on the fill notional, funding at each
settlement a leg is open across; a position open at a window's end is closed at its last bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quant.backtest import cost_model, find_trades
from quant.costs import CostModel, PairMarket, pair_cost_bps, pair_market
from quant.metrics import annualization_factor
from quant.ou_bands import ou_fit, ou_optimal_thresholds, round_trip_cost
from quant.results import OUBands, OUFit, WalkForwardResult, WalkForwardWindow
from quant.simulate import simulate
from quant.stationarity import static_fit
from quant.validation import aligned_pair, check_window
from quant.vocabulary import MIN_STAT_OBS, BandChoice, InsufficientData

SWEEP_ENTRIES = (1.0, 1.5, 2.0, 2.5, 3.0)  # z levels a BandChoice.SWEEP window chooses from (as the Backtest tab's)
SWEEP_EXITS = (-0.5, 0.0, 0.5, 1.0)


@dataclass(frozen=True)
class WalkForwardParams:
    """Walk-forward settings, in bars: `formation_bars` fitted (the last ones before each trading window, or every
    bar before it when `expanding`), `purge_bars` skipped between a formation and its trading window, `trading_bars`
    traded out of sample, `embargo_bars` left flat after each trading window before the next begins. Levels by
    `bands` (fixed `entry`/`exit` z, OU-optimal, or the best in-sample sweep cell); costs as the backtest's."""

    formation_bars: int
    trading_bars: int
    purge_bars: int = 0
    embargo_bars: int = 0
    expanding: bool = False
    bands: BandChoice = BandChoice.OPTIMAL
    entry: float = 2.0
    exit: float = 0.0
    fee_bps: float = 4.0
    slippage_bps: float = 0.0
    capital: float = 10_000.0
    bar_seconds: float = 1.0

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent setting."""
        check_window(self.formation_bars, "formation_bars", None, minimum=MIN_STAT_OBS)
        check_window(self.trading_bars, "trading_bars", None, minimum=3)
        for name in ("purge_bars", "embargo_bars"):
            check_window(getattr(self, name), name, None, minimum=0)
        if not self.entry > 0 or not self.exit < self.entry:
            raise ValueError(f"fixed levels need entry > 0 and exit < entry, got entry {self.entry}, exit {self.exit}")
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")
        if not self.capital > 0:
            raise ValueError(f"capital must be > 0, got {self.capital}")
        annualization_factor(self.bar_seconds)
        BandChoice(self.bands)


def walk_forward_windows(n: int, params: WalkForwardParams) -> list[tuple[int, int, int, int]]:
    """(formation start, formation end, trade start, trade end) of every full window over n bars, ends exclusive."""
    params.validate()
    out = []
    start = params.formation_bars + params.purge_bars
    while start + params.trading_bars <= n:
        end_f = start - params.purge_bars
        out.append(
            (0 if params.expanding else end_f - params.formation_bars, end_f, start, start + params.trading_bars)
        )
        start += params.trading_bars + params.embargo_bars
    return out


@dataclass(frozen=True)
class _Money:
    """What one run of the z-rule over some bars earned: per-bar net P&L, round trips, costs paid (fees, spread,
    slippage) and funding (+ received), money."""

    pnl: np.ndarray
    trades: int
    costs: float
    funding: float


def _window_money(
    market: PairMarket, px: np.ndarray, py: np.ndarray, beta: float, alpha: float, center: float, scale: float,
    entry: float, exit_: float, params: WalkForwardParams,
) -> _Money:  # fmt: skip
    """The z-rule on these bars with fixed (α, β) and z = (y − α − β·x − center)/scale, traded and paid for as the
    backtest does (:func:`quant.backtest.find_trades`, :func:`quant.simulate.simulate` with the legs fixed at entry)."""
    z = (py - alpha - beta * px - center) / scale
    found = find_trades(z, entry, exit_, None, None, 0)
    sim = simulate(px, py, np.full(px.size, beta), found, market, params.capital, None, params.slippage_bps)
    paid = sim.breakdown
    return _Money(sim.bar.net, int(sim.entries.size), paid.fees + paid.spread_cost + paid.slippage, paid.funding)


def _levels(
    fit: OUFit, market: PairMarket, px: np.ndarray, py: np.ndarray, beta: float, alpha: float,
    params: WalkForwardParams,
) -> tuple[float, float, OUBands | None]:  # fmt: skip
    """The window's (entry z, exit z, bands) from its formation bars (`market` their prices under the cost model)."""
    scale = fit.stationary_sd
    if params.bands is BandChoice.FIXED:
        return params.entry, params.exit, None
    if params.bands is BandChoice.OPTIMAL:
        cost_bps = pair_cost_bps(market, beta, params.slippage_bps)
        bands = ou_optimal_thresholds(
            fit.theta, fit.mu, fit.sigma, round_trip_cost(float(px[-1]), float(py[-1]), beta, cost_bps)
        )
        return bands.half_width / scale, -bands.half_width / scale, bands
    cells = [(e, x) for e in SWEEP_ENTRIES for x in SWEEP_EXITS if x < e]
    scores = [
        float(_window_money(market, px, py, beta, alpha, fit.theta, scale, e, x, params).pnl.sum()) for e, x in cells
    ]
    entry, exit_ = cells[int(np.argmax(scores))]
    return entry, exit_, None


def _annual(pnl: np.ndarray, params: WalkForwardParams) -> tuple[float, float]:
    """(simple annualised return, annualised Sharpe) of per-bar P&L on the fixed capital (NaN when flat)."""
    if pnl.size < 2:
        return math.nan, math.nan
    r = pnl / params.capital
    ann = annualization_factor(params.bar_seconds)
    sd = float(r.std(ddof=1))
    return float(r.mean() * ann), float(r.mean() / sd * math.sqrt(ann)) if sd > 0 else math.nan


def walk_forward(x: Any, y: Any, params: WalkForwardParams, costs: CostModel | None = None) -> WalkForwardResult:
    """Walk-forward test of the pair y on x: per window, static OLS (α, β) and the exact-MLE OU fit of the spread on
    the formation bars only, levels from them (:class:`WalkForwardParams`), traded in sample on the formation bars
    and out of sample on the trading bars, paying `costs` as :func:`quant.backtest.backtest_pairs` does (fills at the
    recorded bid/ask or the stand-in half-spread, fees, slippage, funding, contract steps; None: `params.fee_bps`
    alone); the trading windows' P&L stitched into one equity curve. Walk-forward efficiency = out-of-sample
    annualised return ÷ in-sample annualised return."""
    params.validate()
    model = cost_model(params.fee_bps, costs)
    xs, ys = aligned_pair(x, y, 3)
    bounds = walk_forward_windows(len(xs), params)
    if not bounds:
        need = params.formation_bars + params.purge_bars + params.trading_bars
        raise InsufficientData(
            f"a walk-forward window needs {need:,} bars (formation + purge + trading), got {len(xs)}"
        )
    px_all, py_all, index = xs.to_numpy(), ys.to_numpy(), xs.index
    windows: list[WalkForwardWindow] = []
    oos_parts: list[pd.Series] = []
    is_parts: list[np.ndarray] = []
    for f0, f1, t0, t1 in bounds:
        fx, fy = xs.iloc[f0:f1], ys.iloc[f0:f1]
        fit_static = static_fit(fx, fy)
        beta, alpha = fit_static.beta, fit_static.alpha
        t_index = index[t0:t1]
        try:
            fit = ou_fit(fy - alpha - beta * fx, params.bar_seconds)
        except InsufficientData as exc:
            oos_parts.append(pd.Series(np.zeros(t1 - t0), index=t_index))
            windows.append(
                WalkForwardWindow(
                    f0, f1, t0, t1, beta, alpha, None, math.nan, math.nan, None, 0.0, 0.0, 0, 0, 0.0, 0.0, 0.0, 0.0,
                    str(exc),
                )
            )  # fmt: skip
            continue
        f_px, f_py = px_all[f0:f1], py_all[f0:f1]
        f_market = pair_market(fx.index, f_px, f_py, params.bar_seconds, model)
        entry, exit_, bands = _levels(fit, f_market, f_px, f_py, beta, alpha, params)
        scale = fit.stationary_sd
        is_money = _window_money(f_market, f_px, f_py, beta, alpha, fit.theta, scale, entry, exit_, params)
        t_px, t_py = px_all[t0:t1], py_all[t0:t1]
        t_market = pair_market(t_index, t_px, t_py, params.bar_seconds, model)
        oos = _window_money(t_market, t_px, t_py, beta, alpha, fit.theta, scale, entry, exit_, params)
        is_parts.append(is_money.pnl)
        oos_parts.append(pd.Series(oos.pnl, index=t_index))
        windows.append(
            WalkForwardWindow(
                f0, f1, t0, t1, beta, alpha, fit, entry, exit_, bands, float(is_money.pnl.sum()), float(oos.pnl.sum()),
                is_money.trades, oos.trades, is_money.costs, oos.costs, is_money.funding, oos.funding,
            )
        )  # fmt: skip
    oos_pnl = pd.concat(oos_parts).rename("pnl")
    is_pnl_all = np.concatenate(is_parts) if is_parts else np.zeros(0)
    is_ann, is_sharpe = _annual(is_pnl_all, params)
    oos_ann, oos_sharpe = _annual(oos_pnl.to_numpy(), params)
    return WalkForwardResult(
        windows=tuple(windows),
        oos_pnl=oos_pnl,
        oos_equity=(params.capital + oos_pnl.cumsum()).rename("equity"),
        is_pnl=pd.Series(is_pnl_all, name="pnl"),
        capital=params.capital,
        bar_seconds=params.bar_seconds,
        is_annual_return=is_ann,
        oos_annual_return=oos_ann,
        efficiency=oos_ann / is_ann if is_ann > 0 else math.nan,
        oos_sharpe=oos_sharpe,
        is_sharpe=is_sharpe,
        is_trades=sum(w.is_trades for w in windows),
        oos_trades=sum(w.oos_trades for w in windows),
        is_costs=sum(w.is_costs for w in windows),
        oos_costs=sum(w.oos_costs for w in windows),
        is_funding=sum(w.is_funding for w in windows),
        oos_funding=sum(w.oos_funding for w in windows),
    )
