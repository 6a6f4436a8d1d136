"""A simulated USD-M universe of 1-minute closes with known answers, for the offline scanner flow, its tests and its
benchmark: which pairs are cointegrated is planted, and the traps a scanner must not fall into are there too.

Why: with no network the universe flow (history → scan → Pair Analytics) must still run end to end, and a scanner is
only trustworthy if it finds planted pairs and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from core.clock import now_ms


def simulate_universe(
    n_symbols: int,
    n_bars: int,
    *,
    n_planted: int,
    seed: int,
    sectors: int = 8,
    sector_weight: float = 0.8,
    half_lives: tuple[float, float] = (10.0, 60.0),
    spread_noise: float = 0.5,
    bounce: int = 0,
    bounce_bps: float = 10.0,
    trap_pairs: int = 0,
    end_ms: int | None = None,
) -> tuple[pd.DataFrame, set[frozenset[str]]]:
    """1-minute closes of a universe with known answers: sector-correlated geometric random walks (returns share a
    sector factor with weight `sector_weight`, so unrelated symbols of a sector are strongly correlated but not
    cointegrated), `n_planted` cointegrated pairs y = a + b·x + OU spread (half-life drawn from `half_lives` bars, its
    per-bar innovations `spread_noise` times the per-bar moves of b·x, as in a liquid pair),
    `trap_pairs` pairs of random walks whose returns correlate at 0.95 (correlated, not cointegrated), and `bounce`
    symbols whose closes jump between bid and ask (± bounce_bps/2). Bars are stamped at their open time and the last
    one closes at `end_ms` (default now) floored to the minute. Returns (closes, the planted pairs)."""
    rng = np.random.default_rng(seed)
    last = pd.Timestamp(end_ms if end_ms is not None else now_ms(), unit="ms", tz="UTC").floor("min")
    index = pd.date_range(end=last - pd.Timedelta(minutes=1), periods=n_bars, freq="1min", name="time")
    factors = rng.normal(0.0, 1.0, (n_bars, sectors))
    n_walks = n_symbols - 2 * n_planted - 2 * trap_pairs
    sector = rng.integers(0, sectors, n_walks)
    shocks = sector_weight * factors[:, sector] + math.sqrt(1 - sector_weight**2) * rng.normal(0, 1, (n_bars, n_walks))
    walks = 100.0 * np.exp(np.cumsum(8e-4 * shocks, axis=0)) * rng.uniform(0.5, 500.0, n_walks)
    columns = {f"W{k:03d}USDT": walks[:, k] for k in range(n_walks)}
    planted: set[frozenset[str]] = set()
    for k in range(n_planted):
        phi = 0.5 ** (1.0 / rng.uniform(*half_lives))
        level = rng.uniform(1.0, 1_000.0)
        x = level * np.exp(
            np.cumsum(
                8e-4
                * (sector_weight * factors[:, k % sectors] + math.sqrt(1 - sector_weight**2) * rng.normal(0, 1, n_bars))
            )
        )
        b = rng.uniform(0.5, 2.0) * rng.uniform(0.5, 50.0)
        y = rng.uniform(0.0, 10.0) * level + b * x
        y = y + lfilter([1.0], [1.0, -phi], rng.normal(0.0, spread_noise * float(np.diff(b * x).std()), n_bars))
        columns[f"P{k:02d}XUSDT"], columns[f"P{k:02d}YUSDT"] = x, y
        planted.add(frozenset((f"P{k:02d}XUSDT", f"P{k:02d}YUSDT")))
    for k in range(trap_pairs):
        common = rng.normal(0, 1, n_bars)
        for side in "AB":
            own = 0.95 * common + math.sqrt(1 - 0.95**2) * rng.normal(0, 1, n_bars)
            columns[f"T{k:02d}{side}USDT"] = rng.uniform(1.0, 100.0) * np.exp(np.cumsum(8e-4 * own))
    frame = pd.DataFrame(columns, index=index)
    for name in list(frame.columns)[:bounce]:
        frame[name] = frame[name] * (1 + bounce_bps / 2e4 * rng.choice([-1.0, 1.0], n_bars))
    return frame, planted
