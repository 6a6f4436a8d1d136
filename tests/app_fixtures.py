"""Synthetic market data for the dashboard tests and the refresh benchmark: a cointegrated BTC/ETH-like pair."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

import database
from data_feed import Tick
from service.controls import Controls

PAIR = ("BTCUSDT", "ETHUSDT")
BETA = 0.04


@dataclass
class PairPath:
    """Exchange times (ms) and prices of both legs: BTCUSDT a log random walk near 75,000 and
    ETHUSDT = BETA·BTC + AR(1) noise (so the pair is cointegrated with a known beta)."""

    stamps: np.ndarray
    prices: tuple[np.ndarray, np.ndarray]
    sizes: np.ndarray
    makers: np.ndarray
    id_sign: int = 1

    def ticks(self, lo: int = 0, hi: int | None = None) -> list[Tick]:
        """Ticks of both symbols for path positions [lo, hi), in time order, ids contiguous per symbol."""
        hi = len(self.stamps) if hi is None else hi
        out = []
        for i in range(lo, hi):
            stamp = int(self.stamps[i])
            for k, symbol in enumerate(PAIR):
                out.append(
                    Tick(
                        symbol,
                        self.id_sign * (i + 1),
                        stamp + k,
                        round(float(self.prices[k][i]), 2),
                        float(self.sizes[k, i]),
                        bool(self.makers[k, i]),
                        stamp + k + 5,
                    )
                )
        return out


def pair_path(n_per_symbol: int, end_ms: int, span_ms: int, *, seed: int = 7, id_sign: int = 1) -> PairPath:
    """A reproducible cointegrated path of n ticks per symbol spread over [end_ms − span_ms, end_ms); id_sign=-1
    gives negative ids, as an id-less upload stores (the collector's id-continuity check then ignores them)."""
    rng = np.random.default_rng(seed)
    stamps = end_ms - span_ms + np.sort(rng.integers(0, max(1, span_ms - 2), n_per_symbol))
    btc = 75_000.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, n_per_symbol)))
    noise = lfilter([1.0], [1.0, -0.97], rng.normal(0.0, 0.6, n_per_symbol))
    sizes = rng.exponential(0.05, (2, n_per_symbol)) + 0.001
    return PairPath(stamps, (btc, BETA * btc + noise), sizes, rng.random((2, n_per_symbol)) < 0.5, id_sign)


def batches(path: PairPath, batch_per_symbol: int) -> Iterator[list[Tick]]:
    """The path's ticks in write batches (both symbols interleaved)."""
    for lo in range(0, len(path.stamps), batch_per_symbol):
        yield path.ticks(lo, min(lo + batch_per_symbol, len(path.stamps)))


def seed_database(
    db_path: str,
    n_per_symbol: int,
    span_ms: int,
    *,
    end_ms: int | None = None,
    batch_per_symbol: int = 100_000,
    seed: int = 7,
    id_sign: int = 1,
) -> int:
    """Write a cointegrated pair ending at `end_ms` (default now) into the database; return the ticks written."""
    path = pair_path(n_per_symbol, database.now_ms() if end_ms is None else end_ms, span_ms, seed=seed, id_sign=id_sign)
    conn = database.open_writer(db_path)
    written = 0
    try:
        for ticks in batches(path, batch_per_symbol):
            written += database.write_ticks(conn, ticks).total_inserted
    finally:
        conn.close()
    return written


def sidebar_controls(db_target: str, **changes: Any) -> Controls:
    """The sidebar's default controls on `db_target` (the BTCUSDT/ETHUSDT pair, 1 s bars, an hour), with `changes`."""
    base = Controls(
        db_target=db_target,
        symbols=PAIR,
        pair=PAIR,
        timeframe="1s",
        lookback_min=60,
        end_ms=None,
        min_volume=0.0,
        method="kalman",
        hedge_window=60,
        z_window=60,
        entry=2.0,
        exit=0.0,
        stop=4.0,
        max_hold=None,
        fee_bps=4.0,
        slippage_bps=0.0,
        capital=10_000.0,
        in_sample=False,
        maker_fee_bps=2.0,
        stand_in_spread_bps=1.0,
        liquidity="taker",
    )
    return dataclasses.replace(base, **changes)
