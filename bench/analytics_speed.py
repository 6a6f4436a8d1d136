"""Benchmark of analytics.py: time per call at 10k / 100k / 1M bars (median of >= 3 runs), as a markdown table.

Usage:  python bench/analytics_speed.py [--quick] [--repeats N]
--quick runs 10k and 100k bars only (~30 s); the full run adds 1M bars (~2 min on 2 shared cores).
Data: synthetic 1-second bars, x a geometric random walk at BTC level, y = 100 + 0.04·x + an OU spread.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

import analytics as A

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
ENTRIES = np.round(np.linspace(1.0, 3.0, 20), 3)
EXITS = np.round(np.linspace(-0.95, 0.95, 20), 3)
# call -> (target seconds, size the target applies to)
TARGETS = {"kalman": (0.3, "100k"), "backtest (rolling hedge)": (1.0, "1M"), "sweep 20x20": (5.0, "100k")}


def make_pair(n: int, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """Cointegrated 1s pair: spread half-life 300 bars, spread σ ≈ 0.3 % of y."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-08-08", periods=n, freq="1s", tz="UTC", name="time")
    x = 60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    phi = 0.5 ** (1 / 300)
    spread = lfilter([1.0], [1.0, -phi], rng.normal(0.0, 0.5, n))
    return pd.Series(x, index=index), pd.Series(100.0 + 0.04 * x + spread, index=index)


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of fn over `repeats` runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def cases(x: pd.Series, y: pd.Series) -> dict[str, Callable[[], Any]]:
    """The calls to time on one (x, y) pair."""
    params = A.BacktestParams()
    return {
        "ols (expanding, causal)": lambda: A.fit_hedge(x, y, "ols", window=300),
        "ols (static)": lambda: A.fit_hedge(x, y, "ols", causal=False),
        "huber (static)": lambda: A.fit_hedge(x, y, "huber", causal=False),
        "huber (expanding, causal)": lambda: A.fit_hedge(x, y, "huber", window=300),
        "tls (static)": lambda: A.fit_hedge(x, y, "tls", causal=False),
        "tls (expanding, causal)": lambda: A.fit_hedge(x, y, "tls", window=300),
        "rolling (window 300)": lambda: A.fit_hedge(x, y, "rolling", window=300),
        "kalman": lambda: A.fit_hedge(x, y, "kalman"),
        "backtest (rolling hedge)": lambda: A.backtest_pairs(x, y, params),
        "backtest (kalman hedge)": lambda: A.backtest_pairs(x, y, A.BacktestParams(hedge_method="kalman")),
        "sweep 20x20": lambda: A.parameter_sweep(x, y, params, ENTRIES, EXITS, metric="sharpe"),
    }


SKIP_AT_1M = {
    "huber (expanding, causal)": "skipped: ~37 Huber refits on up to 1M points (tens of seconds); "
    "use causal=False, rolling or kalman"
}


def fmt(seconds: float) -> str:
    """Seconds with a unit suited to the magnitude."""
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k bars only")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median reported, >= 3)")
    args = parser.parse_args()
    repeats = max(3, args.repeats)
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and k == "1M")}

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; median of {repeats} runs\n"
    )
    results: dict[str, dict[str, float | None]] = {}
    for size_label, n in sizes.items():
        x, y = make_pair(n)
        for name, fn in cases(x, y).items():
            if size_label == "1M" and name in SKIP_AT_1M:
                results.setdefault(name, {})[size_label] = None
                continue
            seconds = timed(fn, repeats)
            results.setdefault(name, {})[size_label] = seconds
            print(f"  {name} @ {size_label}: {fmt(seconds)}", file=sys.stderr)

    print("| call | " + " | ".join(sizes) + " | target |")
    print("|" + "---|" * (len(sizes) + 2))
    for name, row in results.items():
        cells = ["skipped" if (cell := row.get(s)) is None else fmt(cell) for s in sizes]
        note = ""
        if name in TARGETS and (measured := row.get(TARGETS[name][1])) is not None:
            limit, at = TARGETS[name]
            note = f"≤ {limit:g} s @ {at}: {'met' if measured <= limit else 'MISSED'}"
        print(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    for name, reason in SKIP_AT_1M.items():
        if "1M" in sizes:
            print(f"\n{name} @ 1M {reason}.")

    x, y = make_pair(86_400, seed=1)
    print("\n| pair_analytics refresh, 86,400 1s bars | time | target |\n|---|---|---|")
    for method in ("kalman", "rolling", "ols", "tls"):
        seconds = timed(functools.partial(A.pair_analytics, x, y, method=method, window=300), repeats)
        print(f"| method={method} | {fmt(seconds)} | ≤ 0.5 s: {'met' if seconds <= 0.5 else 'MISSED'} |")


if __name__ == "__main__":
    main()
