"""Benchmark of what the pair statistics mean: ADF size, verdict false positives and power, band coverage and Kalman
tracking on synthetic pairs with known answers (issue 9), as Markdown tables.

Usage:  python bench/pair_statistics.py [--trials N] [--only kalman]
N (default 400) is the trial count of the cheap cells; slow cells use a fixed fraction of it (stated in each table).
--only kalman prints the Kalman tables only (tracking, the steady β of issue 23, Kalman coverage; ~1 minute).
The experiments are those of tests/test_statistics.py, run with more trials; ± is one binomial standard error for a
rate and one standard error across seeds for a coverage. ~75 s at N = 400 on 2 quiet cores; N = 1,500 took 12
minutes on 2 cores shared with other jobs (load average 3–5).
(Not bench/statistics.py: a script's folder comes first on the import path, so that name would shadow the standard
library's statistics module for every other bench script.)
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import test_statistics as S

import analytics as A

T = TypeVar("T")
ADF_THETAS = (-0.5, -0.8, 0.0)  # MA(1) coefficient of the unit root's increments e_t + θ·e_{t−1}
ADF_SIZES = {600: 1.0, 3_600: 1.0, 20_000: 0.5, 86_400: 0.125}  # n -> share of N trials
RW_SHARE = {"ols": 1.0, "tls": 1.0, "rolling": 1.0, "kalman": 1.0, "huber": 0.25}  # Huber refits: slowest
POWER_HALF_LIVES = (10.0, 50.0, 100.0, 500.0)
STEP_SINCE = (0, 100, 300, 500, 1_000, 2_000)  # bars since the step, for coverage by distance from it
# (label, method, bars, half-life, window) of the constant-β coverage rows
COVERAGE_CASES = [
    ("OLS expanding, window 500, half-life 10", "ols", 3_000, 10.0, 500),
    ("OLS expanding, window 500, half-life 20", "ols", 3_000, 20.0, 500),
    ("OLS expanding, window 500, half-life 50", "ols", 3_000, 50.0, 500),
    ("OLS expanding, window 500, half-life 100", "ols", 3_000, 100.0, 500),
    ("OLS expanding, window 60, 1,000 bars, half-life 50", "ols", 1_000, 50.0, 60),
    ("OLS expanding, window 60, 1,000 bars, half-life 100", "ols", 1_000, 100.0, 60),
    ("rolling, window 500, half-life 5", "rolling", 3_000, 5.0, 500),
    ("rolling, window 500, half-life 10", "rolling", 3_000, 10.0, 500),
    ("rolling, window 500, half-life 20", "rolling", 3_000, 20.0, 500),
    ("rolling, window 120, half-life 50", "rolling", 3_000, 50.0, 120),
]


def rate(p: float, trials: int) -> str:
    """A rate with its binomial standard error."""
    return f"{p:.1%} ± {math.sqrt(p * (1 - p) / trials):.1%}"


def mean_se(values: list[float]) -> str:
    """Mean of per-seed values with its standard error."""
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.1%} ± {a.std(ddof=1) / math.sqrt(a.size):.1%}"


def progress(label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), one cell of a table, with its wall time reported on stderr."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


def adf_table(trials: int) -> None:
    bound = f"≤ {S.ADF_SIZE_BOUND * 100:.0f} % under MA(1) errors"
    print(
        f"\n### ADF size at a nominal 5 %: rejections of a unit root with MA(1) increments e_t + θ·e_{{t−1}} "
        f"(A.adf_test defaults; bound {bound})\n"
    )
    heads = [f"θ = {t:g}".replace("-", "−") if t else "random walk (θ = 0)" for t in ADF_THETAS]
    print("| bars | trials | " + " | ".join(heads) + " |\n|---|---|" + "---|" * len(heads))
    for n, share in ADF_SIZES.items():
        k = max(10, round(trials * share))
        cells = [rate(progress(f"ADF θ={t:g} n={n}", S.adf_rejection_rate, n, t, k, seed=191), k) for t in ADF_THETAS]
        print(f"| {n:,} | {k:,} | " + " | ".join(cells) + " |")


def verdict_table(trials: int) -> None:
    print(f"\n### Overall verdict on independent random walks ({S.RW_BARS:,} bars; nominal 5 %)\n")
    print(
        "| hedge method | trials | verdict COINTEGRATED | contradicts EG p | static-residual Hurst < 0.45 "
        "(descriptive) |\n|---|---|---|---|---|"
    )
    for method, share in RW_SHARE.items():
        k = max(10, round(trials * share))
        runs = progress(f"verdict {method}", S.random_walk_runs, S.RW_BARS, method, k, seed=11_000)
        bad = sum(S.contradiction(run) is not None for run in runs)
        hurst = sum(run.hurst < 0.45 for run in runs) / k
        print(f"| {method} | {k:,} | {rate(S.cointegrated_share(runs), k)} | {bad} | {hurst:.0%} |")


def power_table(trials: int) -> None:
    k = max(10, trials // 2)
    print(f"\n### Verdict power on OU spreads ({S.POWER_BARS:,} bars, Kalman hedge, {k:,} pairs each)\n")
    print("| spread half-life | half-lives in the window | verdict COINTEGRATED |\n|---|---|---|")
    for hl in POWER_HALF_LIVES:
        runs = progress(f"power hl={hl:g}", S.ou_runs, S.POWER_BARS, hl, k, seed=12_000)
        print(f"| {hl:g} bars | {S.POWER_BARS / hl:g} | {rate(S.cointegrated_share(runs), k)} |")


def tracking_table(trials: int) -> None:
    print(f"\n### Kalman tracking of a β that doubles at mid-sample ({S.STEP_BARS:,} bars, {trials:,} seeds)\n")
    runs = progress("kalman tracking", S.tracking_runs, S.STEP_BARS, range(trials))
    bars = np.array([run.bars_to_track for run in runs])
    q = np.quantile(bars, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(
        "| bars to come within 10 % of the new β: median | 10 / 25 / 75 / 90 % | never | "
        "mean abs. error, last quarter |\n|---|---|---|---|"
    )
    print(
        f"| {q[2]:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[3]:.0f} / {q[4]:.0f} | {int(np.isinf(bars).sum())} | "
        f"{mean_se([run.late_error for run in runs])} of the new β |"
    )


def steady_table(trials: int) -> None:
    """Issue 23's pair (steady_beta_pair): convergence on a constant β, then a step after a long steady stretch."""
    k = max(20, trials // 4)
    n, early, at = S.STEADY_BARS, 1_500, S.STEADY_BARS // 2
    print(f"\n### Kalman on a constant β (issue 23's pair, β 0.05, {n:,} bars, {k:,} seeds)\n")
    runs = progress("kalman steady", lambda: [S.kalman_convergence(n, seed, early) for seed in range(k)])
    errors = np.array([run.error for run in runs])
    print(
        f"| relative error of β at bar {n:,}: median | worst | within 10 % | "
        f"band width at {early:,} / {n:,} (median) | band narrower at the end | coverage |\n"
        "|---|---|---|---|---|---|"
    )
    print(
        f"| {np.median(errors):.1%} | {errors.max():.1%} | {(errors <= S.TRACK_WITHIN).sum()} of {k} | "
        f"{np.median([run.early_width for run in runs]):.4f} / {np.median([run.width for run in runs]):.4f} | "
        f"{sum(run.width < run.early_width for run in runs)} of {k} | {mean_se([run.coverage for run in runs])} |"
    )
    print(f"\n### Kalman on the same pair when β doubles at bar {at:,} ({k:,} seeds)\n")
    steps = progress("kalman steady step", lambda: [S.steady_step_tracking(n, seed, at) for seed in range(k)])
    bars = np.array([run.bars_to_track for run in steps])
    q = np.quantile(bars, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(
        "| bars to come within 10 % of the new β: median | 10 / 25 / 75 / 90 % | never | coverage | coverage from "
        "the step on |\n|---|---|---|---|---|"
    )
    print(
        f"| {q[2]:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[3]:.0f} / {q[4]:.0f} | {int(np.isinf(bars).sum())} | "
        f"{mean_se([run.coverage for run in steps])} | {mean_se([run.coverage_after for run in steps])} |"
    )


def coverage_since_step(n: int, trials: int) -> dict[tuple[int, int], float]:
    """Kalman band coverage of the stepped β by bars since the step (stepped_beta_pair, step at n/2)."""
    at, inside = n // 2, []
    for seed in range(trials):
        pair = S.stepped_beta_pair(n, seed)
        band = A.fit_hedge(pair.x, pair.y, "kalman").beta_band
        assert band is not None, "the Kalman hedge has a band"
        lower, upper = (side.to_numpy() for side in band)
        inside.append(((lower <= pair.beta) & (pair.beta <= upper))[at:])
    hits = np.array(inside)
    return {(lo, hi): float(hits[:, lo:hi].mean()) for lo, hi in itertools.pairwise(STEP_SINCE)}


def coverage_table(trials: int, *, kalman_only: bool = False) -> None:
    k = max(10, trials // 2)
    print(
        f"\n### 95 % β band coverage (share of bars after the warm-up whose band holds the true β; "
        f"target ≥ {S.MIN_COVERAGE * 100:.0f} %; {k:,} seeds each)\n"
    )
    print("| hedge, pair | coverage |\n|---|---|")
    for label, step in (
        ("Kalman, constant β (2,000 bars, half-life 50)", False),
        ("Kalman, β doubles at bar 1,000 of 2,000", True),
    ):
        runs = progress(label, S.tracking_runs, S.STEP_BARS, range(k), step=step)
        print(f"| {label} | {mean_se([run.coverage for run in runs])} |")
    for label, method, n, hl, window in [] if kalman_only else COVERAGE_CASES:
        shares = progress(label, S.coverage_shares, method, n=n, half_life=hl, window=window, trials=k, seed=13_000)
        print(f"| {label} | {mean_se(shares)} |")
    n = 2 * S.STEP_BARS
    by_since = progress("coverage since step", coverage_since_step, n, k)
    print(f"\nKalman band coverage by bars since a mid-sample β doubling ({n:,} bars, {k:,} seeds):\n")
    print("| " + " | ".join(f"{lo}–{hi}" for lo, hi in by_since) + " |")
    print("|" + "---|" * len(by_since))
    print("| " + " | ".join(f"{c:.0%}" for c in by_since.values()) + " |")


def main() -> None:
    """Run every experiment and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400, help="trials of the cheap cells (>= 20)")
    parser.add_argument("--only", choices=["kalman"], help="only the Kalman tables (tracking, steady β, coverage)")
    args = parser.parse_args()
    trials = max(20, args.trials)
    start = time.perf_counter()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; --trials {trials}"
    )
    if args.only is None:
        adf_table(trials)
        verdict_table(trials)
        power_table(trials)
    tracking_table(trials)
    steady_table(trials)
    coverage_table(trials, kalman_only=args.only == "kalman")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
