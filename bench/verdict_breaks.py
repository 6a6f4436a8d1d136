"""Benchmark of a cointegration that ended (issue 23): does the verdict notice a spread that stopped mean-reverting
over the last third of the window, how often do its change-in-persistence test (5 %) and that test's caution (20 %)
fire on spreads that did not stop, and are slow half-lives right — as Markdown tables (the β band coverage is
bench/pair_statistics.py's table).

Usage:  python bench/verdict_breaks.py [--pairs N]     the tables README shows
        python bench/verdict_breaks.py --calibrate      re-simulate quant/persistence.py's tables and print them
N (default 200) is the pair count of each verdict cell; the cheaper cells use more (stated in each table). ± is one
binomial standard error for a rate, one standard error across seeds for a coverage. Pairs: x a geometric random
walk at BTC level (per-bar volatility 1e-3), y = 100 + 0.04·x + spread, the spread an AR(1) with the given
half-life and innovations of sd 0.5 (y's move from x is ~2.4 a bar, so the β of each third hardly moves when the
spread breaks); an "ended" pair's spread is that AR(1) for the first two thirds and then a random walk with the same
innovations. Innovations are Gaussian unless a table says Student t (scaled to the same sd).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from analytics_fixtures import broken_pair
from scipy.optimize import minimize
from scipy.signal import lfilter
from scipy.special import expit

import analytics as A
from quant import persistence as P

T = TypeVar("T")
WINDOWS = (1_000, 3_600, 10_000)  # bars: the window lengths the dashboard's pair view uses
ENDED_HALF_LIVES = (30.0, 100.0)
NULL_HALF_LIVES = (3.0, 10.0, 30.0, 100.0)
SLOW_HALF_LIVES = (5.0, 20.0, 80.0, 120.0, 180.0)


def rate(hits: int, trials: int) -> str:
    """A rate with its binomial standard error."""
    p = hits / trials
    return f"{p:.1%} ± {math.sqrt(p * (1 - p) / trials):.1%}"


def progress(label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), one cell of a table, with its wall time reported on stderr."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------------------- the verdict


def first_kind(verdict: A.PairVerdict) -> str:
    """Which last-third warning comes first: 'ended' (the 5 % test), 'caution' (its 20 % level), 'short' (too few
    half-lives in the last third to tell), or '' (none)."""
    first = verdict.warnings[0] if verdict.warnings else ""
    for kind, text in (("ended", A.ENDED_TEXT), ("caution", A.CAUTION_TEXT), ("short", A.SHORT_RECENT_TEXT)):
        if first.startswith(text):
            return kind
    return ""


def verdict_counts(n: int, half_life: float, pairs: int, seed: int, *, ended: bool) -> dict[str, int]:
    """The pipeline's verdict on `pairs` pairs: how often the 5 % test and its 20 % caution fire and the
    too-few-half-lives note shows, how many are ENDED and Cointegrated, and how many read Cointegrated with no
    warning at all ('clean'), with none but the note ('clean_tests': the two tests alone), with none but the caution
    or the note ('clean_5': the 5 % test alone), and would have before the last-third warnings ('clean_before')."""
    keys = ("cointegrated", "clean", "clean_tests", "clean_5", "clean_before", "fired", "caution", "short", "ended")
    out = dict.fromkeys(keys, 0)
    for k in range(pairs):
        x, y = broken_pair(n, half_life, seed=seed + k, ended=ended)
        series = A.pair_series(x, y, method="rolling", window=60)
        tests = A.pair_tests(series)
        verdict = A.pair_verdict(series, tests)
        change = tests.persistence_change
        kind = first_kind(verdict)
        others = verdict.warnings[1:] if kind else verdict.warnings  # the last-third warning comes first
        eg, hl = tests.engle_granger, tests.half_life
        was_cointegrated = eg is not None and eg.pvalue < A.SIGNIFICANCE and hl is not None and hl.mean_reverts
        cointegrated = verdict.verdict is A.Verdict.COINTEGRATED
        out["cointegrated"] += cointegrated
        out["clean"] += cointegrated and not verdict.warnings
        out["clean_tests"] += cointegrated and not others and kind in ("", "short")
        out["clean_5"] += cointegrated and not others
        out["clean_before"] += was_cointegrated and not others
        out["fired"] += change is not None and change.ended
        out["caution"] += change is not None and change.caution
        out["short"] += kind == "short"
        out["ended"] += verdict.verdict is A.Verdict.ENDED
    return out


def ended_table(pairs: int) -> None:
    print(f"\n### Spread that becomes a random walk over the last third ({pairs} pairs a cell)\n")
    print(
        "| bars | half-life | recent third spans | 5 % test fired | 20 % caution fired | verdict ENDED | "
        "Cointegrated | Cointegrated without a warning: before the last-third warnings | with the 5 % test | with "
        "the 5 % test and the 20 % caution | with every warning (also the too-few-half-lives note) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for n in WINDOWS:
        for hl in ENDED_HALF_LIVES:
            c = progress(f"ended n={n} hl={hl}", verdict_counts, n, hl, pairs, seed=23_000, ended=True)
            print(
                f"| {n:,} | {hl:.0f} | {n // 3 / hl:.0f} half-lives | {rate(c['fired'], pairs)} | "
                f"{rate(c['caution'], pairs)} | {rate(c['ended'], pairs)} | {rate(c['cointegrated'], pairs)} | "
                f"{rate(c['clean_before'], pairs)} | {rate(c['clean_5'], pairs)} | {rate(c['clean_tests'], pairs)} | "
                f"**{rate(c['clean'], pairs)}** |"
            )


def stationary_verdict_table(pairs: int) -> None:
    print(f"\n### The same pairs without the ending: what the warnings cost ({pairs} pairs a cell)\n")
    print(
        "| bars | half-life | 5 % test fired (stated 5 %) | 20 % caution fired (stated 20 %) | too-few-half-lives "
        "note shown | verdict ENDED | Cointegrated (before the last-third test) | Cointegrated | Cointegrated "
        "without a warning |\n|---|---|---|---|---|---|---|---|---|"
    )
    for n in WINDOWS:
        for hl in ENDED_HALF_LIVES:
            c = progress(f"stationary n={n} hl={hl}", verdict_counts, n, hl, pairs, seed=24_000, ended=False)
            before = c["cointegrated"] + c["ended"]
            print(
                f"| {n:,} | {hl:.0f} | {rate(c['fired'], pairs)} | {rate(c['caution'], pairs)} | "
                f"{rate(c['short'], pairs)} | {rate(c['ended'], pairs)} | {rate(before, pairs)} | "
                f"{rate(c['cointegrated'], pairs)} | {rate(c['clean'], pairs)} |"
            )


def size_table(pairs: int) -> None:
    print(
        "\n### Change-in-persistence test on spreads that did not change: fired at 5 % / at the 20 % caution "
        f"(stated 5 % / 20 %; {pairs} pairs a cell)\n"
    )
    print(
        "| innovations | bars | "
        + " | ".join(f"half-life {hl:.0f}" for hl in NULL_HALF_LIVES)
        + " | random-walk legs (no cointegration) |\n|---|---|"
        + "---|" * (len(NULL_HALF_LIVES) + 1)
    )
    for tails, label in ((None, "Gaussian"), (5.0, "Student t, 5 df"), (3.0, "Student t, 3 df")):
        for n in WINDOWS:
            cells = []
            for hl in (*NULL_HALF_LIVES, math.inf):
                fired = caution = 0
                for k in range(pairs):
                    x, y = broken_pair(n, hl, seed=25_000 + k, ended=False, tails=tails)
                    change = A.persistence_change(x, y)
                    fired += change.ended
                    caution += change.caution
                cells.append(f"{rate(fired, pairs)} / {rate(caution, pairs)}")
            print(f"| {label} | {n:,} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------------- half-life


def half_life_table(pairs: int) -> None:
    print(f"\n### Static-residual half-life: median estimate / truth ({pairs} pairs a cell; ± 20 % is the target)\n")
    print(
        "| bars | "
        + " | ".join(f"half-life {hl:.0f}" for hl in SLOW_HALF_LIVES)
        + " |\n|---|"
        + "---|" * len(SLOW_HALF_LIVES)
    )
    for n in WINDOWS:
        cells = []
        for hl in SLOW_HALF_LIVES:
            fits, raw = [], []
            for k in range(pairs):
                x, y = broken_pair(n, hl, seed=26_000 + k, ended=False)
                fit = A.half_life_fit(A.static_fit(x, y).residual)
                fits.append(fit.bars)
                raw.append(-math.log(2.0) / math.log(fit.ar1_ols) if 0 < fit.ar1_ols < 1 else math.inf)
            none = float(np.mean(np.isinf(fits)))
            cells.append(
                f"{np.median(fits) / hl:.2f} (least squares {np.median(raw) / hl:.2f}"
                + (f"; {none:.0%} none" if none else "")
                + ")"
            )
        print(f"| {n:,} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------------- calibration


def ar1_rows(phi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One AR(1) path of n values per φ (started at 0, innovations N(0, 0.5²))."""
    shocks = rng.normal(0.0, 0.5, (phi.size, n))
    if np.all(phi == phi[0]):
        return np.asarray(lfilter([1.0], [1.0, -phi[0]], shocks, axis=1))
    return np.stack([lfilter([1.0], [1.0, -p], row) for p, row in zip(phi, shocks)])


def pair_rows(phi: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows of pairs: x a geometric random walk (1e-3 a bar), y = 100 + 0.04·x + an AR(1) spread of each φ."""
    x = 60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, (phi.size, n)), axis=1))
    return x, 100.0 + 0.04 * x + ar1_rows(phi, n, rng)


def literal(name: str, values: Any, rows: bool = False) -> str:
    """A table as the Python literal quant/persistence.py holds, wrapped at 120 columns."""

    def flat(row: Any) -> str:
        return ", ".join(f"{round(float(v), 4)}" for v in row)

    if rows:
        body = "\n".join(
            textwrap.fill(f"({flat(row)}),", 120, initial_indent="    ", subsequent_indent="     ") for row in values
        )
        return f"{name}: tuple[tuple[float, ...], ...] = (\n{body}\n)"
    body = textwrap.fill(flat(values) + ",", 120, initial_indent="    ", subsequent_indent="    ")
    return f"{name}: tuple[float, ...] = (\n{body}\n)"


def batches(total: int, size: int = 500) -> Iterator[int]:
    """Batch sizes summing to total."""
    for start in range(0, total, size):
        yield min(size, total - start)


def median_table(draws: int) -> None:
    """MU_C and the medians of n·(φ̂ − 1) of the static residual and of the plain series at each c."""
    n = P.MU_BARS
    cs = P.MU_C  # the grid the tables are read on
    rng = np.random.default_rng(230)
    resid, plain = [], []
    for c in cs:
        zr, zp = [], []
        for size in batches(draws):
            phi = np.full(size, 1.0 - c / n)
            x, y = pair_rows(phi, n, rng)
            xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
            beta = (xc * yc).sum(axis=1, keepdims=True) / (xc * xc).sum(axis=1, keepdims=True)
            zr.append(n * (P.ar1_ols(yc - beta * xc) - 1.0))
            zp.append(n * (P.ar1_ols(ar1_rows(phi, n, rng)) - 1.0))
        resid.append(float(np.median(np.concatenate(zr))))
        plain.append(float(np.median(np.concatenate(zp))))
        print(f"  c={c}: {resid[-1]:.3f} {plain[-1]:.3f}", file=sys.stderr)
    # medians must fall as c rises (simulation noise could break it at the smallest steps)
    resid_m, plain_m = np.minimum.accumulate(resid), np.minimum.accumulate(plain)
    print(literal("MU_C", cs))
    print(literal("MU_MEDIAN_RESIDUAL", resid_m))
    print(literal("MU_MEDIAN_PLAIN", plain_m))


def null_draws(n: int, draws: int, seed: int) -> np.ndarray:
    """(c, z, ln ratio) of :func:`quant.persistence.recent_deviation` on `draws` stationary pairs of n bars whose
    spread persistence c = n·(1 − φ) is log-uniform on [0.5, min(3,000, 0.7·n)]."""
    rng = np.random.default_rng(seed)
    cs = np.exp(rng.uniform(math.log(0.5), math.log(min(3_000.0, 0.7 * n)), draws))
    out = []
    done = 0
    for size in batches(draws):
        c = cs[done : done + size]
        done += size
        z, ratio = P.recent_deviation(*pair_rows(1.0 - c / n, n, rng))
        out.append(np.column_stack([c, z, np.log(ratio)]))
    return np.concatenate(out)


def fit_critical(draws: np.ndarray, level: float, knots: np.ndarray) -> np.ndarray:
    """Knot values of ln(critical ratio) making the share of draws above them `level` in every band of c from 4
    to 3,000 (least squares over 15 log-spaced bands of c, a light curvature penalty, rejections smoothed by a
    logistic of width 0.01 so Powell's search sees a smooth objective), started from the conditional quantile."""
    c, z, log_ratio = draws.T
    u = np.clip(np.log(np.maximum(-z, 1.0)), knots[0], knots[-1])
    j = np.clip(np.searchsorted(knots, u) - 1, 0, knots.size - 2)
    w = (u - knots[j]) / (knots[j + 1] - knots[j])
    edges = np.exp(np.linspace(math.log(4.0), math.log(3_000.0), 16))
    band = np.searchsorted(edges, c) - 1
    keep = (band >= 0) & (band < edges.size - 1)
    counts = np.bincount(band[keep], minlength=edges.size - 1)

    def loss(crit: np.ndarray) -> float:
        above = expit((log_ratio - crit[j] * (1 - w) - crit[j + 1] * w) / 0.01)
        share = np.bincount(band[keep], weights=above[keep], minlength=edges.size - 1) / counts
        return float(np.sum((share - level) ** 2) + 1e-3 * np.sum(np.diff(crit, 2) ** 2))

    start = np.array([np.quantile(log_ratio[np.abs(u - k) <= 0.5], 1 - level) for k in knots])
    return np.asarray(
        minimize(loss, start, method="Powell", options={"maxiter": 20_000, "xtol": 1e-4, "ftol": 1e-10}).x
    )


def break_table(draws: int) -> None:
    """BREAK_LEVELS, BREAK_KNOTS and BREAK_LOG_CRIT, fitted on stationary pairs of 1,000, 3,000 and 10,000 bars."""
    data = np.concatenate(
        [
            progress(f"null draws n={n}", null_draws, n, draws, seed=231 + k)
            for k, n in enumerate((1_000, 3_000, 10_000))
        ]
    )
    knots = np.r_[np.linspace(0.0, math.log(100.0), 11), np.linspace(math.log(100.0), math.log(2_500.0), 8)[1:]]
    levels = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
    crit = np.array([progress(f"fit level {level}", fit_critical, data, level, knots) for level in levels])
    crit = np.maximum.accumulate(crit, axis=0)  # a smaller level never has a smaller critical value
    print(literal("BREAK_LEVELS", levels))
    print(literal("BREAK_KNOTS", knots))
    print(literal("BREAK_LOG_CRIT", crit, rows=True))


def main() -> None:
    """Run every experiment and print the Markdown tables (or, with --calibrate, the tables of the code)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="pairs of each verdict cell (>= 20)")
    parser.add_argument("--calibrate", action="store_true", help="simulate quant/persistence.py's tables")
    args = parser.parse_args()
    start = time.perf_counter()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    if args.calibrate:
        median_table(8_000)
        break_table(25_000)
    else:
        pairs = max(20, args.pairs)
        ended_table(pairs)
        stationary_verdict_table(pairs)
        size_table(2 * pairs)
        half_life_table(pairs)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
