"""Shared helpers for the analytics tests: synthetic pairs, OU spreads and the Binance recording loader."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance" / "hftbacktest_usdm"


def time_index(n: int, seconds: int = 1, start: str = "2024-08-08") -> pd.DatetimeIndex:
    """UTC bar-open index named "time"."""
    return pd.date_range(start, periods=n, freq=f"{seconds}s", tz="UTC", name="time")


def ar1(n: int, phi: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1)/discrete OU path s_t = phi·s_{t−1} + sigma·ε_t started at 0."""
    shocks = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    level = 0.0
    for i, shock in enumerate(shocks):
        level = phi * level + shock
        out[i] = level
    return out


def cointegrated_pair(n: int, beta: float, alpha: float, half_life: float, seed: int, spread_sigma: float = 0.5,
                      x0: float = 60_000.0, x_vol: float = 1e-4) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """x a geometric random walk at BTC level, y = alpha + beta·x + OU spread with the given half-life (bars)."""
    rng = np.random.default_rng(seed)
    x = x0 * np.exp(np.cumsum(rng.normal(0.0, x_vol, n)))
    spread = ar1(n, 0.5 ** (1.0 / half_life), spread_sigma, rng)
    index = time_index(n)
    return pd.Series(x, index=index, name="x"), pd.Series(alpha + beta * x + spread, index=index, name="y"), spread


def random_walk_pair(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    """Two independent geometric random walks (no cointegration)."""
    rng = np.random.default_rng(seed)
    index = time_index(n)
    x = 60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    y = 2_500.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    return pd.Series(x, index=index, name="x"), pd.Series(y, index=index, name="y")


def load_trades(path: Path) -> pd.DataFrame:
    """Trades of an hftbacktest Binance recording (`<recv_ns> <json>` lines) as timestamp/price/size/trade_id."""
    rows = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if "@trade" not in line:
                continue
            msg = json.loads(line.split(" ", 1)[1])
            if not msg.get("stream", "").endswith("@trade"):
                continue
            data = msg["data"]
            rows.append((int(data["T"]), float(data["p"]), float(data["q"]), int(data["t"])))
    return pd.DataFrame(rows, columns=["timestamp", "price", "size", "trade_id"])


def synthetic_universe(n_symbols: int, n_bars: int, *, n_planted: int, seed: int, sectors: int = 8,
                       sector_weight: float = 0.8, half_lives: tuple[float, float] = (10.0, 60.0),
                       spread_noise: float = 0.5, bounce: int = 0,
                       bounce_bps: float = 10.0, trap_pairs: int = 0) -> tuple[pd.DataFrame, set[frozenset[str]]]:
    """1-minute closes of a universe with known answers: sector-correlated geometric random walks (returns share a
    sector factor with weight `sector_weight`, so unrelated symbols of a sector are strongly correlated but not
    cointegrated), `n_planted` cointegrated pairs y = a + b·x + OU spread (half-life drawn from `half_lives` bars, its
    per-bar innovations `spread_noise` times the per-bar moves of b·x, as in a liquid pair),
    `trap_pairs` pairs of random walks whose returns correlate at 0.95 (correlated, not cointegrated), and `bounce`
    symbols whose closes jump between bid and ask (± bounce_bps/2). Returns (closes, the planted pairs)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=n_bars, freq="1min", tz="UTC", name="time")
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
        x = level * np.exp(np.cumsum(8e-4 * (sector_weight * factors[:, k % sectors]
                                             + math.sqrt(1 - sector_weight**2) * rng.normal(0, 1, n_bars))))
        b = rng.uniform(0.5, 2.0) * rng.uniform(0.5, 50.0)
        y = rng.uniform(0.0, 10.0) * level + b * x
        y = y + ar1(n_bars, phi, spread_noise * float(np.diff(b * x).std()), rng)
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
