"""Universe history for the market scanner: 1-minute bars of many symbols for N days, stored as `1min` bars.

Why: the scanner needs days of aligned closes for hundreds of symbols, far more than live ticks give. From Binance,
closed days come from the sha256-verified daily klines files of data.binance.vision (no REST weight) and today from
REST klines; a day already stored is skipped, so an interrupted load resumes. Offline, a simulated universe
(data_feed.simulate_universe, with planted cointegrated pairs) stands in for the exchange's history, so the whole
flow — history, scan, Pair Analytics — runs with no network.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import database
from core.clock import DAY_MS, now_ms
from data_feed import ArchiveError, BinanceArchive, BinanceRest, BinanceRestError, simulate_universe

log = logging.getLogger(__name__)

SIMULATED_SOURCE = "simulated"


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
    return list(
        zip(
            stamps.tolist(),
            open_.tolist(),
            high.tolist(),
            low.tolist(),
            close.tolist(),
            (quote / close).tolist(),
            trades.tolist(),
            quote.tolist(),
        )
    )


def store_simulated_history(
    db_target: str,
    *,
    symbols: int = 200,
    days: int = 7,
    planted: int = 10,
    seed: int = 7,
    end_ms: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> set[frozenset[str]]:
    """Store `days` of simulated 1-minute bars for a universe of `symbols` (with `planted` cointegrated pairs, traps
    and bid/ask-bounce symbols), one transaction per symbol so a failure leaves whole series. Returns the planted
    pairs (the scanner's known answer)."""
    if not 10 <= symbols <= 1_000 or not 1 <= days <= 30 or not 0 <= 2 * planted <= symbols // 2:
        raise ValueError(
            f"a simulated universe needs 10–1,000 symbols, 1–30 days and at most a quarter of the "
            f"symbols in planted pairs; got {symbols} symbols, {days} days, {planted} pairs"
        )
    closes, truth = simulate_universe(
        symbols,
        days * 1_440,
        n_planted=planted,
        seed=seed,
        trap_pairs=max(1, symbols // 40),
        bounce=symbols // 10,
        end_ms=end_ms,
    )
    rng = np.random.default_rng(seed + 1)
    conn = database.open_writer(db_target)
    try:
        for k, symbol in enumerate(closes.columns):
            database.write_bars(conn, "1min", {str(symbol): bars_from_closes(closes[symbol], rng)}, SIMULATED_SOURCE)
            if progress is not None:
                progress((k + 1) / closes.shape[1], f"{k + 1} of {closes.shape[1]} symbols stored")
    finally:
        conn.close()
    log.info("stored %d days of simulated 1-minute bars for %d symbols (%d planted pairs)", days, symbols, planted)
    return truth


@dataclass
class HistoryReport:
    """What a history load did: symbol-days stored from the archive, skipped as already stored, bars from REST for
    today, and each symbol-day no source had, with the reason."""

    archive_days: int = 0
    skipped_days: int = 0
    rest_bars: int = 0
    missing: list[str] = field(default_factory=list)


def load_binance_history(
    db_target: str,
    symbols: Sequence[str],
    days: int,
    archive: BinanceArchive,
    rest: BinanceRest,
    *,
    end_ms: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float, str], None] | None = None,
) -> HistoryReport:
    """Store `days` of 1-minute bars up to `end_ms` (default now) for `symbols`: closed UTC days from the daily
    klines files (a day with all 1,440 bars stored is skipped), the current day over REST. `stop()` ends it between
    symbol-days; everything stored so far stays."""
    if not 1 <= days <= 30:
        raise ValueError(f"history days must be 1–30, got {days}")
    end = end_ms if end_ms is not None else now_ms()
    today = dt.datetime.fromtimestamp(end / 1000, dt.UTC).date()
    closed = [today - dt.timedelta(days=k) for k in range(days, 0, -1)]
    report = HistoryReport()
    conn = database.open_writer(db_target)
    try:
        for i, symbol in enumerate(symbols):
            for day in closed:
                if stop():
                    return report
                start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
                if len(database.read_bars(conn, [symbol], "1min", start, start + DAY_MS)) >= 1_440:
                    report.skipped_days += 1
                    continue
                try:
                    bars = archive.klines_1m(symbol, day)
                except ArchiveError as exc:
                    report.missing.append(f"{symbol} {day}: {exc}")
                    continue
                database.write_bars(
                    conn,
                    "1min",
                    {symbol: [(b.ts, b.open, b.high, b.low, b.close, b.volume, b.trades) for b in bars]},
                    source="klines",
                )
                report.archive_days += 1
            report.rest_bars += _store_today(conn, rest, symbol, end, report)
            if progress is not None:
                progress((i + 1) / len(symbols), f"{i + 1} of {len(symbols)} symbols")
    finally:
        conn.close()
    log.info(
        "history: %d symbol-days from the archive, %d already stored, %d bars of today over REST, %d missing",
        report.archive_days,
        report.skipped_days,
        report.rest_bars,
        len(report.missing),
    )
    return report


def _store_today(conn: database.Connection, rest: BinanceRest, symbol: str, end: int, report: HistoryReport) -> int:
    """Today's closed 1-minute bars over REST klines (1,500 a page), from UTC midnight to `end`."""
    cursor, stored = end - end % DAY_MS, 0
    while cursor < end - 60_000:
        try:
            page = [
                k for k in rest.klines(symbol, "1m", start_time=cursor, end_time=end, limit=1500) if k.close_time < end
            ]
        except BinanceRestError as exc:
            report.missing.append(f"{symbol} today: {exc}")
            break
        if not page:
            break
        database.write_bars(
            conn,
            "1min",
            {symbol: [(k.open_time, k.open, k.high, k.low, k.close, k.volume, k.trades, k.quote_volume) for k in page]},
            source="klines",
        )
        stored += len(page)
        cursor = page[-1].open_time + 60_000
    return stored
