"""Benchmark of the cointegration-break alarm (issue 28): false alarms on spreads that keep mean-reverting and the
detection delay on spreads that turn into a random walk, for `analytics.spread_break_alarm` and for the simple rule
"|spread − mean| > k·σ_eq" (mean and σ_eq of the formation window) with k tuned, in the same run, to the alarm's
false-alarm rate — as Markdown tables, one per innovation law; then what a call costs.

Usage:  python bench/break_alarm.py [--pairs N] [--bars M] [--formation F] [--seed S]
Spreads (tests/break_fixtures.py): an OU of half-life 60 bars with unit-variance innovations (Gaussian, Student-t(4),
GARCH(1,1)). False alarms: N stationary spreads of F + M bars, alarm ONSETS over the M monitored bars per 10,000
bars. Delays: N spreads whose OU turns into a random walk (same innovations) 500 bars after the formation, bars from
the break to the first bar the alarm stands (the same paths for both rules); a rule silent for 6,000 bars counts as
never (shown as "> 6000" when it reaches a quantile).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from break_fixtures import Innovations, delays, onsets, ou_then_walk

import analytics as A

BEFORE_BREAK = 500  # monitored bars between the formation and the break
AFTER_BREAK = 6_000  # bars watched after the break
K_GRID = np.round(np.arange(2.5, 8.0, 0.02), 2)


def alarm(paths: np.ndarray, formation: int) -> np.ndarray:
    """spread_break_alarm on every row."""
    return np.stack([A.spread_break_alarm(row, formation).to_numpy() for row in paths])


def level_rule(paths: np.ndarray, formation: int, k: float) -> np.ndarray:
    """|s − mean| > k·σ_eq with the formation's mean and standard deviation, silent in the formation."""
    head = paths[:, :formation]
    z = np.abs(paths - head.mean(axis=1, keepdims=True)) / head.std(axis=1, keepdims=True)
    out = z > k
    out[:, :formation] = False
    return out


def per_10k(count: float, pairs: int, bars: int) -> float:
    return 1e4 * count / (pairs * bars)


def quantiles(d: np.ndarray) -> str:
    """Median, quartiles and 90th percentile of delays (NaN = never within AFTER_BREAK)."""
    q = np.percentile(np.where(np.isnan(d), np.inf, d), [50, 25, 75, 90])
    shown = [f"> {AFTER_BREAK}" if np.isinf(v) else f"{v:,.0f}" for v in q]
    return f"{shown[0]} | {shown[1]} – {shown[2]} | {shown[3]}"


def study(kind: Innovations, pairs: int, bars: int, formation: int, seed: int) -> list[str]:
    """The table rows of one innovation law."""
    rng = np.random.default_rng(seed)
    calm = ou_then_walk(rng, pairs, formation + bars, None, kind)
    alarm_rate = per_10k(float(onsets(alarm(calm, formation), formation).sum()), pairs, bars)
    rates = np.array(
        [per_10k(float(onsets(level_rule(calm, formation, k), formation).sum()), pairs, bars) for k in K_GRID]
    )
    k = float(K_GRID[int(np.argmin(np.abs(rates - alarm_rate)))])
    broken = ou_then_walk(rng, pairs, formation + BEFORE_BREAK + AFTER_BREAK, formation + BEFORE_BREAK, kind)
    mine = delays(alarm(broken, formation), formation + BEFORE_BREAK)
    simple = delays(level_rule(broken, formation, k), formation + BEFORE_BREAK)
    ratio = np.median(np.where(np.isnan(mine), np.inf, mine)) / np.median(np.where(np.isnan(simple), np.inf, simple))
    return [
        f"| {kind} | spread_break_alarm | {alarm_rate:.2f} | {quantiles(mine)} | {ratio:.2f} |",
        f"| {kind} | \\|z\\| > {k:.2f} | {rates[list(K_GRID).index(k)]:.2f} | {quantiles(simple)} | 1 |",
    ]


def cost(formation: int) -> list[str]:
    """Time of one call on windows of a few thousand bars, and of one incremental update."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (formation + 1_000, formation + 4_000):
        path = ou_then_walk(rng, 1, n, None)[0]
        start = time.perf_counter()
        for _ in range(50):
            A.spread_break_alarm(path, formation)
        rows.append(f"| spread_break_alarm, {n:,} bars | {(time.perf_counter() - start) / 50 * 1e3:.2f} ms |")
    path = ou_then_walk(rng, 1, formation + 5_000, None)[0]
    state = A.break_alarm_state(path[:formation], formation)
    start = time.perf_counter()
    for value in path[formation:]:
        state = A.break_alarm_update(state, float(value))
    rows.append(f"| break_alarm_update, one bar | {(time.perf_counter() - start) / 5_000 * 1e6:.1f} µs |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=400, help="spreads per table row (stationary and broken)")
    parser.add_argument("--bars", type=int, default=25_000, help="monitored stationary bars per spread")
    parser.add_argument("--formation", type=int, default=2_000, help="formation window, bars")
    parser.add_argument("--seed", type=int, default=28)
    args = parser.parse_args()
    print(
        f"#### Break alarm vs |z| > k at the same false-alarm rate (half-life 60, formation {args.formation:,} bars, "
        f"{args.pairs} × {args.bars:,} stationary bars and {args.pairs} breaks per law)\n"
    )
    print(
        "| innovations | rule | false onsets / 10,000 bars | delay median | quartiles | 90th pct | median vs \\|z\\| |"
    )
    print("|---|---|---|---|---|---|---|")
    for i, kind in enumerate(Innovations):
        for row in study(kind, args.pairs, args.bars, args.formation, args.seed + i):
            print(row)
    print("\n#### Cost (one core)\n\n| call | time |\n|---|---|")
    for row in cost(args.formation):
        print(row)


if __name__ == "__main__":
    main()
