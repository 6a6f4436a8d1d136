"""The z-score band rules of the pairs backtest, one bar at a time: what a live monitor decides on each new bar.

Why: the backtest finds its trades with a vectorised event loop over a whole series; a monitor sees one new bar at a
time and must resume after a restart from a small stored state. `step_signal` applied bar by bar gives exactly the
signals of `quant.backtest`'s state machine, and `rolling_tail` the rolling hedge's β, α, spread and z of the last
few bars only, in numpy (a pandas fit of the whole window costs ~15 ms a pair, too much for 100 pairs at 1 s bars);
tests/test_watch_signals.py checks both against the backtest's own functions on random series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.vocabulary import SignalKind


@dataclass(frozen=True)
class SignalBands:
    """Entry, exit and optional stop levels in z units and an optional maximum holding time in bars (the
    backtest's BacktestParams meanings: short the spread when z > entry, long when z < −entry, …)."""

    entry: float
    exit: float
    stop: float | None = None
    max_hold_bars: int | None = None

    def __post_init__(self) -> None:
        if not self.entry > 0 or not self.exit < self.entry:
            raise ValueError(f"bands need entry > 0 and exit < entry, got entry {self.entry}, exit {self.exit}")
        if self.stop is not None and not self.stop > self.entry:
            raise ValueError(f"the stop ({self.stop}) must be above the entry ({self.entry})")
        if self.max_hold_bars is not None and self.max_hold_bars < 1:
            raise ValueError(f"max_hold_bars must be at least 1, got {self.max_hold_bars}")


@dataclass(frozen=True)
class SignalState:
    """Where a pair stands after a bar: its spread side (+1 long, −1 short, 0 flat), bars since the entry signal,
    and, after a stop or max-hold exit, whether re-entry still waits for |z| ≤ entry."""

    side: int = 0
    bars_held: int = 0
    rearm: bool = False


def step_signal(state: SignalState, z: float, bands: SignalBands) -> tuple[SignalState, SignalKind | None]:
    """The state after one more bar with z-score `z` (NaN: no decision on that bar) and the signal it gives.

    A signal at bar t fills at bar t+1 (the backtest's convention); exit checks start on the fill bar."""
    ok = math.isfinite(z)
    stop = math.inf if bands.stop is None else bands.stop
    if state.side == 0:
        if state.rearm:
            return SignalState(rearm=not (ok and abs(z) <= bands.entry)), None
        if ok and bands.entry < abs(z) < stop:
            side = -1 if z > 0 else 1
            return SignalState(side, 0), SignalKind.ENTRY_SHORT if side < 0 else SignalKind.ENTRY_LONG
        return state, None
    held = state.bars_held + 1
    if ok and -state.side * z >= stop:
        return SignalState(rearm=True), SignalKind.STOP
    if ok and (z <= bands.exit if state.side < 0 else z >= -bands.exit):
        return SignalState(), SignalKind.EXIT
    if bands.max_hold_bars is not None and held >= bands.max_hold_bars:
        return SignalState(rearm=True), SignalKind.MAX_HOLD
    return SignalState(state.side, held), None


@dataclass(frozen=True)
class TailSeries:
    """The rolling hedge's β (forward-filled, as the backtest sizes with it), α, spread and z-score of the last bars."""

    beta: np.ndarray
    alpha: np.ndarray
    spread: np.ndarray
    zscore: np.ndarray


def rolling_tail(x: np.ndarray, y: np.ndarray, hedge_window: int, z_window: int, bars: int) -> TailSeries:
    """β, α, spread y − (α_t + β_t·x) and z-score of the last `bars` bars, exactly as
    `fit_hedge(…, "rolling", window=hedge_window)`, `calculate_spread` and `calculate_zscore(…, z_window)` give them
    at those bars (to rounding): OLS over the hedge_window bars ending at t, z over the z_window spreads ending at t
    (ddof=1; NaN in the warm-up, where x or the spread is flat). Costs O(bars + hedge_window + z_window) per call,
    whatever the history."""
    if hedge_window < 3 or z_window < 2 or bars < 1:
        raise ValueError(f"need hedge_window ≥ 3, z_window ≥ 2 and bars ≥ 1, got {hedge_window}, {z_window}, {bars}")
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length ({x.size} vs {y.size})")
    need = bars + z_window - 1 + hedge_window - 1
    pad = max(0, need - x.size)
    xs = np.concatenate([np.full(pad, np.nan), x[-need:].astype(float)])
    ys = np.concatenate([np.full(pad, np.nan), y[-need:].astype(float)])
    wx, wy = sliding_window_view(xs, hedge_window), sliding_window_view(ys, hedge_window)
    mx, my = wx.mean(axis=1), wy.mean(axis=1)
    var_x = ((wx - mx[:, None]) ** 2).sum(axis=1) / (hedge_window - 1)
    cov = ((wx - mx[:, None]) * (wy - my[:, None])).sum(axis=1) / (hedge_window - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(var_x > 0, cov / np.where(var_x > 0, var_x, 1.0), np.nan)
    alpha = my - beta * mx
    spread = ys[hedge_window - 1 :] - alpha - beta * xs[hedge_window - 1 :]
    ws = sliding_window_view(spread, z_window)
    mean, std = ws.mean(axis=1), ws.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (spread[z_window - 1 :] - mean) / np.where(std > 0, std, 1.0), np.nan)
    filled = beta.copy()
    for i in range(1, filled.size):  # forward fill (a flat x window leaves a hole)
        if np.isnan(filled[i]):
            filled[i] = filled[i - 1]
    return TailSeries(filled[-bars:], alpha[-bars:], spread[-bars:], z[-bars:])
