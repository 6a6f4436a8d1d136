"""The z-score band rules of the pairs backtest, one bar at a time: what a live monitor decides on each new bar.

Why: the backtest finds its trades with a vectorised event loop over a whole series; a monitor sees one new bar at a
time and must resume after a restart from a small stored state. `step_signal` applied bar by bar gives exactly the
signals of `quant.backtest`'s state machine (tests/test_watch_signals.py checks it on random series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
