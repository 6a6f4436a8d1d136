"""Pairs backtest: parameters, the causal z-score entry/exit state machine, simulation, metrics and sweep.

Why: the trading simulation is the largest single job and depends on hedge and metrics only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from quant.costs import CostBreakdown, CostModel, pair_market
from quant.hedge import HedgeResult, calculate_spread, calculate_zscore, fit_hedge
from quant.metrics import (
    annualization_factor,
    cagr,
    calmar_ratio,
    max_drawdown_values,
    sharpe_ratio,
    sortino_ratio,
)
from quant.simulate import Simulation, fill_bars, holding_bars, simulate
from quant.stationarity import static_fit
from quant.validation import aligned_pair, as_series, check_choice, check_values, check_window
from quant.vocabulary import HEDGE_METHODS, KALMAN_MEMORY, STATIC_METHODS

# ----------------------------------------------------------------------------------------------------------------
# Pairs backtest
# ----------------------------------------------------------------------------------------------------------------

_EXIT_REASONS = np.array(["exit", "stop", "max_hold", "end"])


@dataclass
class BacktestParams:
    """Settings of the z-score pairs backtest (thresholds in z units, costs in basis points per leg per fill).

    Short the spread when z > entry, long when z < −entry; a short exits when z ≤ exit, a long when z ≥ −exit;
    optional stop when z ≥ stop (short) / z ≤ −stop (long) and a maximum holding time in bars. After a stop or
    max-hold exit, re-entry waits until |z| ≤ entry. ``rehedge_bars`` re-sizes the x leg to the current causal beta
    every that many bars while in a trade (None: legs fixed at entry). ``in_sample=True`` fits a static hedge on
    the whole sample (look-ahead, labelled in the result). Annualised ratios need ``min_span_days`` of data and
    trade ratios ``min_trades`` closed trades; otherwise they are withheld with a reason. ``fee_bps`` is the taker
    fee when no :class:`CostModel` is given (a cost model carries its own fees and must agree); ``slippage_bps``
    moves every fill against the order on top of the spread.
    """

    entry: float = 2.0
    exit: float = 0.0
    stop: float | None = None
    max_hold_bars: int | None = None
    z_window: int = 60
    hedge_method: str = "rolling"
    hedge_window: int = 300
    kalman_memory: int = KALMAN_MEMORY
    capital: float = 10_000.0
    fee_bps: float = 4.0
    slippage_bps: float = 0.0
    rehedge_bars: int | None = 60
    bar_seconds: float = 1.0
    warmup_bars: int | None = None
    in_sample: bool = False
    min_trades: int = 5
    min_span_days: float = 1.0

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent setting."""
        check_choice(self.hedge_method, "hedge method", HEDGE_METHODS)
        if not self.entry > 0:
            raise ValueError(f"entry must be > 0, got {self.entry}")
        if not self.exit < self.entry:
            raise ValueError(f"exit ({self.exit}) must be below entry ({self.entry})")
        if self.stop is not None and not self.stop > self.entry:
            raise ValueError(f"stop ({self.stop}) must be above entry ({self.entry})")
        for name in ("max_hold_bars", "rehedge_bars", "warmup_bars"):
            value = getattr(self, name)
            if value is not None:
                check_window(value, name, None, minimum=1 if name != "warmup_bars" else 0)
        check_window(self.z_window, "z_window", None)
        check_window(self.hedge_window, "hedge_window", None, minimum=3)
        if not self.capital > 0:
            raise ValueError(f"capital must be > 0, got {self.capital}")
        if self.min_trades < 0 or self.min_span_days < 0:
            raise ValueError("min_trades and min_span_days must be >= 0")
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")
        annualization_factor(self.bar_seconds)
        if self.kalman_memory < 2:
            raise ValueError(f"kalman_memory must be at least 2 bars, got {self.kalman_memory}")
        if self.in_sample and self.hedge_method not in STATIC_METHODS:
            raise ValueError(
                f"in_sample applies to static hedges ({', '.join(STATIC_METHODS)}), not {self.hedge_method!r}"
            )

    @property
    def warmup(self) -> int:
        """Bars before the first allowed signal: warmup_bars, else max(hedge_window, z_window) (z_window if
        in-sample)."""
        if self.warmup_bars is not None:
            return self.warmup_bars
        return self.z_window if self.in_sample else max(self.hedge_window, self.z_window)


@dataclass
class BacktestResult:
    """Backtest output: trade log, per-bar equity/P&L/positions/legs (money), metrics with reasons and notes."""

    trades: pd.DataFrame
    equity: pd.Series
    positions: pd.Series
    pnl: pd.Series
    legs: pd.DataFrame
    metrics: dict[str, Any]
    metrics_reasons: dict[str, str]
    ann_factor: float
    notes: list[str]
    params: BacktestParams
    hedge: HedgeResult
    spread: pd.Series
    zscore: pd.Series
    breakdown: CostBreakdown  # the totals by source (price P&L per leg, fees, spread, slippage, funding, net)
    bar_pnl: pd.DataFrame  # the same per bar (columns as CostBreakdown's money fields, and `net`)
    refused: pd.DataFrame  # trades not placed: signal_time, side, reason (contract steps, minimum notional)


def find_trades(
    z: np.ndarray, entry: float, exit_: float, stop: float | None, max_hold: int | None, start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signal state machine: (entry signal bar, side, exit signal bar, reason code) per round trip.

    Hand-written event loop: each step jumps to the next qualifying bar through precomputed next-index arrays,
    so the Python loop runs once per trade, not per bar. A signal at bar t fills at t+1; a
    position still open at the last bar is closed there (reason "end", exit signal bar = last bar).
    """
    n = z.size
    ok = ~np.isnan(z)
    ok[:start] = False
    zc = np.where(ok, z, 0.0)
    beyond = np.abs(zc) > entry
    stop_level = math.inf if stop is None else stop
    positions = np.arange(n + 1)

    def next_true(mask: np.ndarray) -> np.ndarray:
        """next_true(mask)[i] = first j >= i with mask[j], else n (one O(n) pass; O(1) lookups)."""
        marked = np.where(np.append(mask, True), positions, n)
        return np.minimum.accumulate(marked[::-1])[::-1]

    opens = next_true(ok & beyond & (np.abs(zc) < stop_level))  # never open where the stop would close at once
    closes = {
        -1: next_true(ok & ((zc <= exit_) | (zc >= stop_level))),
        1: next_true(ok & ((zc >= -exit_) | (zc <= -stop_level))),
    }
    rearm = next_true(ok & ~beyond) if stop is not None or max_hold is not None else opens

    last = n - 1
    sig_in, sides, sig_out, codes = [], [], [], []
    i = start
    while True:
        j = int(opens[i])
        if j >= last - 1:
            break
        side = -1 if zc[j] > 0 else 1
        fill = j + 1
        k = int(closes[side][fill])
        if max_hold is not None and fill + max_hold - 1 < k:
            k, code = fill + max_hold - 1, 2
        else:
            code = 1 if k < n and -side * zc[k] >= stop_level else 0
        if k >= last:
            k, code = last, 3
        sig_in.append(j)
        sides.append(side)
        sig_out.append(k)
        codes.append(code)
        if code == 3:
            break
        i = k + 1 if code == 0 else int(rearm[k + 1])
    return (
        np.array(sig_in, dtype=np.int64),
        np.array(sides, dtype=np.float64),
        np.array(sig_out, dtype=np.int64),
        np.array(codes, dtype=np.int64),
    )


def _metrics(
    sim: Simulation, params: BacktestParams, wanted: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Trade and return metrics; annualised ones need min_span_days, trade ratios min_trades, else withheld.

    With `wanted` (the sweep), only that one of the costlier annualised ratios is computed.
    """
    equity, net, trade_net = sim.equity, sim.bar.net, sim.per_trade.net
    n = equity.size
    ann = annualization_factor(params.bar_seconds)
    n_trades = int(trade_net.size)
    holding = (sim.exits - sim.entries).astype(np.float64)
    span_days = n * params.bar_seconds / 86_400
    total = float(equity[-1] - params.capital)
    metrics: dict[str, Any] = {
        "total_return": total,
        "pct_return": 100.0 * total / params.capital,
        "n_trades": n_trades,
        "exposure": float(sim.n_held / n),
        "max_drawdown": max_drawdown_values(np.concatenate([[params.capital], equity])),
        "total_fees": sim.breakdown.fees,
        "total_slippage": sim.breakdown.slippage,
        "total_spread_cost": sim.breakdown.spread_cost,
        "total_funding": sim.breakdown.funding,
        "rehedges": int(sim.rehedges.sum()),
        "n_bars": n,
        "span_days": span_days,
        "ann_factor": ann,
    }
    reasons: dict[str, str] = {}
    if n_trades:
        metrics["avg_holding_bars"] = float(holding.mean())
        metrics["avg_holding_seconds"] = float(holding.mean() * params.bar_seconds)
    else:
        metrics["avg_holding_bars"] = metrics["avg_holding_seconds"] = None
        reasons["avg_holding_bars"] = reasons["avg_holding_seconds"] = "no trades"
    if n_trades >= params.min_trades:
        wins, losses = trade_net[trade_net > 0], trade_net[trade_net < 0]
        metrics["win_rate"] = float(wins.size / n_trades)
        metrics["expectancy"] = float(trade_net.mean())
        if losses.size:
            metrics["profit_factor"] = float(wins.sum() / -losses.sum())
        else:
            metrics["profit_factor"], reasons["profit_factor"] = None, "no losing trades; profit factor undefined"
    else:
        why = f"only {n_trades} closed trades, and these ratios need at least {params.min_trades}"
        for name in ("win_rate", "expectancy", "profit_factor"):
            metrics[name], reasons[name] = None, why
    annualised = tuple(name for name in ("sharpe", "sortino", "calmar", "cagr") if wanted in (None, name))
    if span_days < params.min_span_days:
        covered = f"{span_days * 24:.1f} hours" if span_days < 1 else f"{span_days:.1f} days"
        why = (
            f"the data covers only {covered} and annualised ratios need at least {params.min_span_days:g} day"
            f"{'' if params.min_span_days == 1 else 's'} of data (annualising a short intraday sample gives "
            "meaningless ratios)"
        )
        for name in annualised:
            metrics[name], reasons[name] = None, why
    elif (equity <= 0).any():
        for name in annualised:
            metrics[name], reasons[name] = None, "equity fell to zero or below"
    elif annualised:
        r = net[1:] / equity[:-1]
        helpers = {"sharpe": sharpe_ratio, "sortino": sortino_ratio, "cagr": cagr, "calmar": calmar_ratio}
        for name in annualised:
            try:
                metrics[name] = helpers[name](r, ann)
            except ValueError as exc:
                metrics[name], reasons[name] = None, str(exc)
    return metrics, reasons


_SWEEP_METRICS = (
    "total_return",
    "pct_return",
    "n_trades",
    "exposure",
    "max_drawdown",
    "total_fees",
    "avg_holding_bars",
    "win_rate",
    "expectancy",
    "profit_factor",
    "sharpe",
    "sortino",
    "calmar",
    "cagr",
)


def _prepare(x: Any, y: Any, params: BacktestParams) -> tuple[pd.Series, pd.Series, HedgeResult, pd.Series, np.ndarray]:
    """Validate, fit the causal (or labelled in-sample) hedge and build the spread; returns x, y, hedge, spread,
    and beta forward-filled for sizing."""
    params.validate()
    xs, ys = aligned_pair(x, y, 3)
    need = params.warmup + 3
    if len(xs) < need:
        raise ValueError(f"backtest needs at least {need} bars (warm-up {params.warmup} + 3), got {len(xs)}")
    static_fit(xs, ys)  # refuses identical legs and a float-noise spread: there is nothing to trade
    hedge = fit_hedge(
        xs,
        ys,
        params.hedge_method,
        window=params.hedge_window,
        causal=not params.in_sample,
        memory=params.kalman_memory,
    )
    spread = calculate_spread(xs, ys, hedge.beta_series, hedge.alpha_series)
    return xs, ys, hedge, spread, hedge.beta_series.ffill().to_numpy()


def cost_model(fee_bps: float, costs: CostModel | None) -> CostModel:
    """The costs a backtest (or walk-forward) charges: the given model (whose taker fee must be `fee_bps`), else a
    model of that fee alone."""
    if costs is None:
        return CostModel(taker_fee_bps=fee_bps)
    if costs.taker_fee_bps != fee_bps:
        raise ValueError(
            f"fee_bps ({fee_bps:g}) and the cost model's taker fee ({costs.taker_fee_bps:g}) disagree: give one"
        )
    return costs


def _cost_notes(breakdown: CostBreakdown, costs: CostModel, refused: pd.DataFrame) -> list[str]:
    """What the costs were made of: quoted vs stand-in fills, funding, refused trades."""
    fills = breakdown.fills_x + breakdown.fills_y
    notes = [
        f"{costs.liquidity} fills at the next bar's best bid/ask, fee {costs.fee_bps:g} bps of the fill notional; "
        f"{fills - breakdown.stand_in_fills} of {fills} fills priced from recorded quotes (x "
        f"{breakdown.quoted_fills_x}/{breakdown.fills_x}, y {breakdown.quoted_fills_y}/{breakdown.fills_y})"
    ]
    if breakdown.stand_in_fills:
        notes.append(
            f"STAND-IN COST: {breakdown.stand_in_fills} fills had no recorded quote and were priced at the bar close "
            f"± a stand-in half-spread of {costs.stand_in_half_spread_bps:g} bps"
        )
    for leg, market in (("x", costs.x), ("y", costs.y)):
        if market.funding is None or market.funding.empty:
            notes.append(f"no funding settlements recorded for leg {leg}: its funding is 0")
    if len(refused):
        notes.append(f"{len(refused)} trades refused by the contract rules (first: {refused['reason'].iloc[0]})")
    return notes


def backtest_pairs(
    x: Any, y: Any, params: BacktestParams | None = None, costs: CostModel | None = None
) -> BacktestResult:
    """Cost-aware, look-ahead-free z-score backtest of the spread y − (alpha_t + beta_t·x) in money.

    Signals at the close of bar t fill at bar t+1 (close-only data: the first price after the signal) at that bar's
    best bid/ask where `costs` holds quotes, else at its close ± the stand-in half-spread; funding is charged per leg
    at each settlement the position is open across; quantities are whole contract steps. Hedge ratios are causal
    unless ``params.in_sample``. The trade log's net P&L sums to the equity curve's final P&L (a position open at the
    end is closed at the last bar, reason "end").
    """
    params = params or BacktestParams()
    xs, ys, hedge, spread, beta = _prepare(x, y, params)
    model = cost_model(params.fee_bps, costs)
    zscore = calculate_zscore(spread, params.z_window)
    z = zscore.to_numpy()
    px, py = xs.to_numpy(), ys.to_numpy()
    market = pair_market(xs.index, px, py, params.bar_seconds, model)
    found = find_trades(z, params.entry, params.exit, params.stop, params.max_hold_bars, params.warmup)
    sim = simulate(px, py, beta, found, market, params.capital, params.rehedge_bars, params.slippage_bps)
    metrics, reasons = _metrics(sim, params)
    sig_in, side, sig_out, codes = sim.trades
    entries, exits = sim.entries, sim.exits
    index = xs.index
    bars_held = exits - entries
    if isinstance(index, pd.DatetimeIndex):
        holding_time = index[exits] - index[entries]
    else:
        holding_time = pd.to_timedelta(bars_held * params.bar_seconds, unit="s")
    per = sim.per_trade
    log = pd.DataFrame(
        {
            "entry_time": index[entries],
            "exit_time": index[exits],
            "side": np.where(side > 0, "long", "short"),
            "entry_zscore": z[sig_in],
            "exit_zscore": z[sig_out],
            "entry_beta": beta[sig_in],
            "entry_price_x": px[entries],
            "entry_price_y": py[entries],
            "exit_price_x": px[exits],
            "exit_price_y": py[exits],
            "qty_x": sim.qx[entries],
            "qty_y": sim.qy[entries],
            "exit_qty_x": sim.qx[exits - 1],
            "unhedged_x": sim.unhedged_x,
            "price_pnl_x": per.price_pnl_x,
            "price_pnl_y": per.price_pnl_y,
            "gross_pnl": per.price_pnl_x + per.price_pnl_y,
            "fees": per.fees,
            "spread_cost": per.spread_cost,
            "slippage": per.slippage,
            "funding": per.funding_x + per.funding_y,
            "net_pnl": per.net,
            "holding_bars": bars_held,
            "holding_time": np.asarray(holding_time),
            "exit_reason": _EXIT_REASONS[codes],
            "rehedges": sim.rehedges,
        }
    )
    held, k = holding_bars(entries, exits)
    positions = np.zeros(len(xs), dtype=np.int64)
    positions[held] = side[k].astype(np.int64)
    refused = pd.DataFrame(
        {
            "signal_time": index[[r.signal_bar for r in sim.refused]],
            "side": ["long" if r.side > 0 else "short" for r in sim.refused],
            "reason": [r.reason for r in sim.refused],
        }
    )
    notes = [
        *_cost_notes(sim.breakdown, model, refused),
        f"slippage {params.slippage_bps:g} bps per fill; gross notional per trade = capital {params.capital:g}",
        "entry_zscore/exit_zscore are the z values at the signal bars",
    ]
    if params.in_sample:
        notes.append("IN-SAMPLE: the hedge ratio is fitted on the whole sample (look-ahead); research use only")
    if params.rehedge_bars is not None and not params.in_sample:
        notes.append(f"x leg re-hedged to the causal beta every {params.rehedge_bars} bars; turnover is charged")
    if codes.size and codes[-1] == 3:
        notes.append("the last position was closed at the final bar's close (exit_reason 'end')")
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        spacing = float(np.median(np.diff(index.as_unit("ns").asi8))) / 1e9
        if not math.isclose(spacing, params.bar_seconds, rel_tol=0.01):
            notes.append(
                f"median bar spacing is {spacing:g} s but bar_seconds={params.bar_seconds:g}; "
                "annualisation uses bar_seconds"
            )
    return BacktestResult(
        trades=log,
        equity=pd.Series(sim.equity, index=index, name="equity"),
        positions=pd.Series(positions, index=index, name="position"),
        pnl=pd.Series(sim.bar.net, index=index, name="pnl"),
        legs=pd.DataFrame({"qty_x": sim.qx, "qty_y": sim.qy}, index=index),
        metrics=metrics,
        metrics_reasons=reasons,
        ann_factor=metrics["ann_factor"],
        notes=notes,
        params=params,
        hedge=hedge,
        spread=spread,
        zscore=zscore,
        breakdown=sim.breakdown,
        bar_pnl=sim.bar.frame(index),
        refused=refused,
    )


def backtest_mean_reversion(
    spread: Any,
    zscore: Any,
    entry_th: float = 2.0,
    exit_th: float = 0.0,
    stop_th: float | None = None,
    max_hold_bars: int | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Seed API: one unit of spread, P&L in spread units = side·(exit spread − entry spread), next-bar fills.

    Same state machine as :func:`backtest_pairs` (no costs, no sizing). positions[t] is the spread position
    held after bar t's fills (+1 long, −1 short).
    """
    params = BacktestParams(entry=entry_th, exit=exit_th, stop=stop_th, max_hold_bars=max_hold_bars)
    params.validate()
    s, zs = as_series(spread, "spread"), as_series(zscore, "zscore")
    if len(s) != len(zs) or not s.index.equals(zs.index):
        raise ValueError("spread and zscore are misaligned: their indexes differ")
    check_values(s, "spread", 3, allow_nan=True, constant_ok=True)
    check_values(zs, "zscore", 3, allow_nan=True, constant_ok=True)
    z, sv = zs.to_numpy(), s.to_numpy()
    sig_in, side, sig_out, codes = find_trades(z, entry_th, exit_th, stop_th, max_hold_bars, 0)
    entries, exits = sig_in + 1, fill_bars(len(s), sig_out, codes)
    if np.isnan(sv[entries]).any() or np.isnan(sv[exits]).any():
        raise ValueError("spread is NaN at a fill bar where the z-score is defined")
    held, k = holding_bars(entries, exits)
    positions = np.zeros(len(s), dtype=np.int64)
    positions[held] = side[k].astype(np.int64)
    trades = pd.DataFrame(
        {
            "entry_time": s.index[entries],
            "exit_time": s.index[exits],
            "side": np.where(side > 0, "long", "short"),
            "entry_zscore": z[sig_in],
            "exit_zscore": z[sig_out],
            "entry_price": sv[entries],
            "exit_price": sv[exits],
            "pnl": side * (sv[exits] - sv[entries]),
            "holding_bars": exits - entries,
            "exit_reason": _EXIT_REASONS[codes],
        }
    )
    return trades, pd.Series(positions, index=s.index, name="position")


def parameter_sweep(
    x: Any,
    y: Any,
    params: BacktestParams | None,
    entries: Any,
    exits: Any,
    z_windows: Any = None,
    metric: str = "sharpe",
    costs: CostModel | None = None,
) -> pd.DataFrame:
    """Grid of one backtest metric over entry × exit (rows entry, columns exit; rows (z_window, entry) when
    z_windows is given). The hedge is fitted once; cells with exit ≥ entry, stop ≤ entry, or a withheld metric
    are NaN. Every cell pays the same `costs` as :func:`backtest_pairs`. Brute-force grids overfit: judge the
    chosen cell out of sample."""
    metric = check_choice(metric, "sweep metric", _SWEEP_METRICS)
    params = params or BacktestParams()
    entries_l, exits_l = [float(e) for e in entries], [float(e) for e in exits]
    if not entries_l or not exits_l:
        raise ValueError("entries and exits must be non-empty")
    if min(entries_l) <= 0:
        raise ValueError(f"entries must be > 0, got {min(entries_l)}")
    windows = [params.z_window] if z_windows is None else [int(w) for w in z_windows]
    xs, ys, _, spread, beta = _prepare(x, y, params)
    px, py = xs.to_numpy(), ys.to_numpy()
    market = pair_market(xs.index, px, py, params.bar_seconds, cost_model(params.fee_bps, costs))
    rows, keys = [], []
    for zw in windows:
        base = replace(params, z_window=zw)
        base.validate()
        z = calculate_zscore(spread, zw).to_numpy()
        for entry in entries_l:
            row = []
            for exit_ in exits_l:
                if exit_ >= entry or (params.stop is not None and params.stop <= entry):
                    row.append(np.nan)
                    continue
                cell = replace(base, entry=entry, exit=exit_)
                trades = find_trades(z, entry, exit_, params.stop, params.max_hold_bars, cell.warmup)
                sim = simulate(px, py, beta, trades, market, cell.capital, cell.rehedge_bars, cell.slippage_bps)
                value = _metrics(sim, cell, wanted=metric)[0][metric]
                row.append(np.nan if value is None else float(value))
            rows.append(row)
            keys.append((zw, entry))
    grid = pd.DataFrame(rows, columns=pd.Index(exits_l, name="exit"))
    if z_windows is None:
        grid.index = pd.Index([k[1] for k in keys], name="entry")
    else:
        grid.index = pd.MultiIndex.from_tuples(keys, names=["z_window", "entry"])
    return grid
