"""Benchmark of the research tools on a day of 1-second bars (86,400): the walk-forward with each way of setting its
levels (fixed z, OU-optimal band, and a sweep re-run on every formation window), the OU-optimal band of the whole
day, and the sweep's deflated Sharpe and PBO, as a markdown table (median of the runs). Costs: a 0.5 bps taker fee
per fill (the backtest's cost model, no quotes recorded), and once with a 1 bps stand-in half-spread on top.

Usage:  python bench/walkforward.py [--repeats N]
Windows: formation 6 h, trading 1 h, purge and embargo 10 bars (17 windows in the day). Data: bench/analytics_speed's
synthetic pair (x a geometric random walk at BTC level, y = 100 + 0.04·x + an OU spread of half-life 300 bars).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from analytics_speed import make_pair

import analytics as A

DAY = 86_400
FORMATION, TRADING, GAP = 6 * 3_600, 3_600, 10


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of `repeats` calls, and the last call's result."""
    spent, out = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        spent.append(time.perf_counter() - began)
    return statistics.median(spent), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, y = make_pair(DAY)
    print(f"{DAY:,} 1 s bars; {platform.python_version()}, {os.cpu_count()} cores; median of {args.repeats}\n")
    print("| job | seconds | windows | OOS trades | OOS costs | IS ann. return | OOS ann. return | efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    fee_only = A.CostModel(taker_fee_bps=0.5)
    runs = [(choice, fee_only, "") for choice in A.BandChoice]
    runs.append((A.BandChoice.OPTIMAL, A.CostModel(taker_fee_bps=0.5, stand_in_half_spread_bps=1.0), " + 1 bps spread"))
    for choice, costs, label in runs:
        walk = A.WalkForwardParams(
            formation_bars=FORMATION,
            trading_bars=TRADING,
            purge_bars=GAP,
            embargo_bars=GAP,
            bands=choice,
            fee_bps=0.5,
            bar_seconds=1.0,
        )
        seconds, result = timed(functools.partial(A.walk_forward, x, y, walk, costs), args.repeats)
        print(
            f"| walk-forward, {choice.value} levels{label} | {seconds:.2f} | {len(result.windows)} | "
            f"{result.oos_trades:,} | {result.oos_costs:,.0f} USDT | {100 * result.is_annual_return:,.0f} % | "
            f"{100 * result.oos_annual_return:,.0f} % | {result.efficiency:.2f} |"
        )
    spread = y - 100.0 - 0.04 * x
    seconds, edge = timed(lambda: A.spread_edge(spread, x.iloc[-1], y.iloc[-1], 0.04, 1.0, 1.5), args.repeats)
    print(f"| OU fit + optimal band (±{edge.entry_z:.2f} z) | {seconds:.3f} | — | — | — | — | — | — |")
    backtest = A.BacktestParams(fee_bps=0.5, bar_seconds=1.0, hedge_method="rolling", hedge_window=600, z_window=300)
    entries, exits = (1.0, 1.5, 2.0, 2.5, 3.0), (-0.5, 0.0, 0.5, 1.0)
    seconds, odds = timed(lambda: A.sweep_overfitting(x, y, backtest, entries, exits), args.repeats)
    print(
        f"| sweep 5×4 + deflated Sharpe + PBO (DSR {odds.deflated.dsr:.2f}, PBO {odds.overfitting.pbo:.2f}) | "
        f"{seconds:.2f} | — | — | — | — | — | — |"
    )


if __name__ == "__main__":
    main()
