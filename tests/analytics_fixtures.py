"""Shared helpers for the analytics tests: synthetic pairs, OU spreads and the Binance recording loader."""

from __future__ import annotations

import gzip
import json
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


def cointegrated_pair(
    n: int,
    beta: float,
    alpha: float,
    half_life: float,
    seed: int,
    spread_sigma: float = 0.5,
    x0: float = 60_000.0,
    x_vol: float = 1e-4,
) -> tuple[pd.Series, pd.Series, np.ndarray]:
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
