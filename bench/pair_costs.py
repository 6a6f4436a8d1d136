"""What each cost does to a sample pair's backtest: gross price P&L, fees, spread, funding and net, as Markdown tables.

Usage:  python bench/pair_costs.py
Part 1: the recorded Binance USD-M window BTCUSDT (x) / ETHUSDT (y), 2024-08-08 23:54:15–24:00:00 UTC (../shared/data/
binance/hftbacktest_usdm, hftbacktest's recordings): 1-second closes from @trade and 1-second quote bars (last best
bid/ask of each second) from @bookTicker. No funding settles inside the window (the next is 2024-08-09 00:00:00, when
the last bar closes), so funding is 0 there.
Part 2: a planted pair of data_feed.simulate_universe (14 days of 1-minute bars, seed 7): no quotes, so the stand-in
half-spread (1 bps) is charged; synthetic funding every 8 h for 7 days, then every 4 h, x at +0.010 % ± 0.005 %,
y at −0.005 % ± 0.005 % (mark = the bar close). Each row adds one cost; the trades are the same in every row.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
from analytics_fixtures import RECORDINGS, load_trades

import analytics as A
from data_feed import simulate_universe

END_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC: the simulated universe's last close (reproducible)


def quote_bars(path: Path) -> pd.DataFrame:
    """1-second quote bars (last best bid/ask of each second, by transaction time) of a recording's @bookTicker."""
    rows = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if "@bookTicker" not in line:
                continue
            data = json.loads(line.split(" ", 1)[1])["data"]
            rows.append((int(data["T"]), float(data["b"]), float(data["a"])))
    frame = pd.DataFrame(rows, columns=["timestamp", "bid", "ask"]).sort_values("timestamp", kind="stable")
    frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True).dt.floor("s").rename("time")
    return frame.groupby(level=0).last()


def closes_1s(path: Path) -> pd.Series:
    """Last trade price of each second, carried over seconds without a trade."""
    trades = load_trades(path)
    index = pd.to_datetime(trades["timestamp"], unit="ms", utc=True).dt.floor("s")
    last = trades["price"].groupby(index.to_numpy()).last()
    full = pd.date_range(last.index[0], last.index[-1], freq="1s", name="time")
    return last.reindex(full).ffill()


def row(label: str, res: A.BacktestResult) -> str:
    b = res.breakdown
    cells = (b.gross, -b.fees, -b.spread_cost, -b.slippage, b.funding, b.net)
    return (
        f"| {label} | {len(res.trades)} | " + " | ".join(f"{v:+,.2f}" if abs(v) >= 0.005 else "0" for v in cells) + " |"
    )


HEADER = "\n".join(
    (
        "| costs charged | trades | price P&L (x + y) | fees | spread | slippage | funding | net |",
        "|---|---|---|---|---|---|---|---|",
    )
)


def recorded_sample() -> list[str]:
    x, y = closes_1s(RECORDINGS / "btcusdt_20240808.gz"), closes_1s(RECORDINGS / "ethusdt_20240808.gz")
    x, y = x.align(y, join="inner")
    quotes_x, quotes_y = quote_bars(RECORDINGS / "btcusdt_20240808.gz"), quote_bars(RECORDINGS / "ethusdt_20240808.gz")
    params = A.BacktestParams(
        entry=1.5, z_window=30, hedge_method="rolling", hedge_window=60, rehedge_bars=30, min_span_days=0.0
    )
    free = A.BacktestParams(**{**params.__dict__, "fee_bps": 0.0})
    quoted = A.CostModel(x=A.LegMarket(quotes=quotes_x), y=A.LegMarket(quotes=quotes_y))
    runs = [
        ("none (fills at the close)", A.backtest_pairs(x, y, free, A.CostModel(taker_fee_bps=0.0))),
        ("taker fee 4 bps", A.backtest_pairs(x, y, params)),
        ("+ recorded bid/ask", A.backtest_pairs(x, y, params, quoted)),
    ]
    return [
        f"Recorded BTCUSDT/ETHUSDT, {len(x):,} 1-second bars (capital 10,000 USDT, entry ±1.5, rolling hedge 60):",
        "",
        HEADER,
        *(row(label, res) for label, res in runs),
    ]


def funding_frame(closes: pd.Series, mean: float, rng: np.random.Generator) -> pd.DataFrame:
    start = closes.index[0].ceil("8h")
    times = list(pd.date_range(start, start + pd.Timedelta(days=7), freq="8h", inclusive="left"))
    times += list(pd.date_range(times[-1] + pd.Timedelta(hours=4), closes.index[-1], freq="4h"))
    index = pd.DatetimeIndex(times, name="funding_time")
    marks = closes.reindex(index, method="ffill").to_numpy()
    rates = rng.normal(mean, 5e-5, len(index))
    hours = np.diff(index.asi8, prepend=index.asi8[0] - 8 * 3_600 * 10**9) / 3_600e9
    return pd.DataFrame({"rate": rates, "mark_price": marks, "interval_hours": hours}, index=index)


def funding_line(res: A.BacktestResult) -> str:
    """Funding per leg and why it nets out (or not): time in the market and the trades' sides."""
    b, sides = res.breakdown, res.trades["side"]
    return (
        f"Funding by leg: x {b.funding_x:+,.2f}, y {b.funding_y:+,.2f} USDT; in the market "
        f"{res.metrics['exposure']:.0%} of the bars; {int((sides == 'long').sum())} of {len(sides)} trades long the "
        "spread."
    )


def simulated_sample() -> list[str]:
    closes, planted = simulate_universe(12, 14 * 1440, n_planted=2, seed=7, end_ms=END_MS)
    x_sym, y_sym = sorted(sorted(planted, key=sorted)[0])
    x, y = closes[x_sym], closes[y_sym]
    rng = np.random.default_rng(7)
    funding_x, funding_y = funding_frame(x, 1e-4, rng), funding_frame(y, -0.5e-4, rng)
    params = A.BacktestParams(
        entry=2.0, z_window=120, hedge_method="rolling", hedge_window=600, rehedge_bars=60, bar_seconds=60.0
    )
    free = A.BacktestParams(**{**params.__dict__, "fee_bps": 0.0})
    spread = A.CostModel(stand_in_half_spread_bps=1.0)
    funded = A.CostModel(
        stand_in_half_spread_bps=1.0, x=A.LegMarket(funding=funding_x), y=A.LegMarket(funding=funding_y)
    )
    runs = [
        ("none (fills at the close)", A.backtest_pairs(x, y, free, A.CostModel(taker_fee_bps=0.0))),
        ("taker fee 4 bps", A.backtest_pairs(x, y, params)),
        ("+ stand-in half-spread 1 bps", A.backtest_pairs(x, y, params, spread)),
        ("+ funding (8 h, then 4 h)", A.backtest_pairs(x, y, params, funded)),
    ]
    return [
        f"Simulated planted pair {x_sym} (x) / {y_sym} (y), {len(x):,} 1-minute bars, {len(funding_x)} settlements "
        "per leg (capital 10,000 USDT, entry ±2, rolling hedge 600):",
        "",
        HEADER,
        *(row(label, res) for label, res in runs),
        "",
        funding_line(runs[-1][1]),
    ]


def main() -> None:
    lines = [*simulated_sample(), ""]
    if RECORDINGS.exists():
        lines += recorded_sample()
    else:
        lines.append(f"(recorded sample skipped: {RECORDINGS} is absent)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
