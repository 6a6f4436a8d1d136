"""Universe history for the market scanner: 1-minute bars of many symbols for N days, stored as `1min` bars.

Why: the scanner needs days of aligned closes for hundreds of symbols, far more than live ticks give. Offline, a
simulated universe (data_feed.simulate_universe, with planted cointegrated pairs) stands in for the exchange's
history, so the whole flow — history, scan, Pair Analytics — runs with no network.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

import database
from data_feed import simulate_universe

log = logging.getLogger(__name__)

SIMULATED_SOURCE = "simulated"
DAY_MS = 86_400_000


def bars_from_closes(closes: pd.Series, rng: np.random.Generator) -> list[tuple]:
    """(open time ms, open, high, low, close, volume, trades, quote volume) rows: each bar opens at the previous close,
    its range covers both with a little wick, and volume is lognormal (~1,000 USDT a bar)."""
    close = closes.to_numpy()
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = 1.0 + np.abs(rng.normal(0.0, 2e-4, close.size))
    high, low = np.maximum(open_, close) * wick, np.minimum(open_, close) / wick
    quote = rng.lognormal(np.log(1_000.0), 0.8, close.size)
    trades = rng.poisson(40, close.size) + 1
    stamps = pd.DatetimeIndex(closes.index).as_unit("ms").asi8
    return list(zip(stamps.tolist(), open_.tolist(), high.tolist(), low.tolist(), close.tolist(),
                    (quote / close).tolist(), trades.tolist(), quote.tolist()))


def store_simulated_history(db_path: str, *, symbols: int = 200, days: int = 7, planted: int = 10, seed: int = 7,
                            end_ms: int | None = None,
                            progress: Callable[[float, str], None] | None = None) -> set[frozenset[str]]:
    """Store `days` of simulated 1-minute bars for a universe of `symbols` (with `planted` cointegrated pairs, traps
    and bid/ask-bounce symbols), one transaction per symbol so a failure leaves whole series. Returns the planted
    pairs (the scanner's known answer)."""
    if not 10 <= symbols <= 1_000 or not 1 <= days <= 30 or not 0 <= 2 * planted <= symbols // 2:
        raise ValueError(f"a simulated universe needs 10–1,000 symbols, 1–30 days and at most a quarter of the "
                         f"symbols in planted pairs; got {symbols} symbols, {days} days, {planted} pairs")
    closes, truth = simulate_universe(symbols, days * 1_440, n_planted=planted, seed=seed,
                                      trap_pairs=max(1, symbols // 40), bounce=symbols // 10, end_ms=end_ms)
    rng = np.random.default_rng(seed + 1)
    conn = database.open_writer(db_path)
    try:
        for k, symbol in enumerate(closes.columns):
            database.write_bars(conn, "1min", {str(symbol): bars_from_closes(closes[symbol], rng)},
                                SIMULATED_SOURCE)
            if progress is not None:
                progress((k + 1) / closes.shape[1], f"{k + 1} of {closes.shape[1]} symbols stored")
    finally:
        conn.close()
    log.info("stored %d days of simulated 1-minute bars for %d symbols (%d planted pairs)", days, symbols, planted)
    return truth
