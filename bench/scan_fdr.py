"""Benjamini–Hochberg (and Benjamini–Yekutieli) on the scanner's screen over null universes: every pair shares its
legs with the other pairs, so the tests are dependent; how often does a universe with no cointegrated pair report one?

    python bench/scan_fdr.py                      # the table in README.md (a few minutes)
    python bench/scan_fdr.py --universes 500      # quicker, wider intervals

Under the global null every discovery is false, so the false discovery rate is the share of universes with at least
one discovery (FDR = P(V ≥ 1)); BH promises ≤ 5 % at q = 5 % for independent or positively dependent tests.
Universes: independent Gaussian random walks, or sector-correlated ones (8 sectors, returns loading 0.8 on their
sector factor, as data_feed.simulate_universe: correlated, not cointegrated). Statistics: the screen's lag-0
Engle–Granger t-statistic of every pair in both orientations (`unitroot.eg_lag0_statistics`, the scanner's formula),
p-values from `unitroot.pvalues(·, 2, nobs)`; "weaker" is the scanner's rule (a pair counts by the larger of its two
statistics), "one way" regresses the later symbol on the earlier (exactly uniform p-values: dependence alone).
The last row runs `analytics.scan_pairs` itself (screen, MAIC confirmation, BH) on simulated null universes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
from statsmodels.stats.multitest import multipletests

import analytics as A
from data_feed import simulate_universe
from quant import unitroot
from quant.blas import one_blas_thread

SECTORS = 8
SECTOR_WEIGHT = 0.8
FDR = 0.05


def walks(n_symbols: int, bars: int, sectors: bool, rng: np.random.Generator) -> np.ndarray:
    """Random walks, independent or loading SECTOR_WEIGHT on one of SECTORS common factors."""
    shocks = rng.standard_normal((bars, n_symbols))
    if sectors:
        factors = rng.standard_normal((bars, SECTORS))
        shocks = (
            SECTOR_WEIGHT * factors[:, rng.integers(0, SECTORS, n_symbols)] + math.sqrt(1 - SECTOR_WEIGHT**2) * shocks
        )
    return np.cumsum(shocks, axis=0)


def rejections(p: np.ndarray, q: float) -> int:
    """How many p-values the step-up procedure at level q rejects: the largest k with p_(k) ≤ q·k/m (only the p ≤ q
    need sorting). Benjamini–Hochberg is q = FDR, Benjamini–Yekutieli q = FDR / Σ_{i ≤ m} 1/i."""
    small = np.sort(p[p <= q])
    passing = np.flatnonzero(small <= q * np.arange(1, small.size + 1) / p.size)
    return int(passing[-1] + 1) if passing.size else 0


def discoveries(p: np.ndarray) -> tuple[int, int]:
    """Rejections of BH and BY at FDR."""
    harmonic = float(np.sum(1.0 / np.arange(1, p.size + 1)))
    return rejections(p, FDR), rejections(p, FDR / harmonic)


def check_against_statsmodels(rng: np.random.Generator) -> None:
    """discoveries() is statsmodels' multipletests (fdr_bh, fdr_by), on p-values with some signal."""
    p = np.concatenate([rng.uniform(0, 1, 5_000), rng.uniform(0, 1e-5, 40)])
    expected = tuple(int(multipletests(p, FDR, method)[0].sum()) for method in ("fdr_bh", "fdr_by"))
    assert discoveries(p) == expected, (discoveries(p), expected)


@one_blas_thread  # small products: BLAS threads on a loaded 2-core machine only wait on each other
def screen_run(n_symbols: int, bars: int, sectors: bool, universes: int, seed: int) -> dict[str, float]:
    """Share of null universes with ≥ 1 BH (BY) discovery, weaker-orientation and one-way p-values."""
    rng = np.random.default_rng([seed, n_symbols, bars, int(sectors)])
    upper = np.triu_indices(n_symbols, 1)
    hits = np.zeros(4)
    found = np.zeros(4)
    smallest = []
    for _ in range(universes):
        w = walks(n_symbols, bars, sectors, rng)
        tau = unitroot.eg_lag0_statistics((w - w.mean(0)) / w.std(0))
        one_way, reverse = tau.T[upper], tau[upper]
        p_weaker = unitroot.pvalues(np.maximum(one_way, reverse), 2, nobs=bars)
        p_one = unitroot.pvalues(one_way, 2, nobs=bars)
        smallest.append(float(p_one.min()))
        counts = np.array([*discoveries(p_weaker), *discoveries(p_one)])
        hits += counts > 0
        found += counts
    m = upper[0].size
    return {
        "pairs": m,
        "bh_weaker": hits[0] / universes,
        "by_weaker": hits[1] / universes,
        "bh_one": hits[2] / universes,
        "by_one": hits[3] / universes,
        "per_hit": found[2] / max(hits[2], 1),
        "min_p_m": float(np.median(smallest)) * m,
    }


def pipeline_run(n_symbols: int, bars: int, universes: int, seed: int) -> tuple[float, float]:
    """Share of null universes (data_feed.simulate_universe without planted pairs) where scan_pairs selects a pair,
    and the mean number selected when it does."""
    hit, selected = 0, 0
    for k in range(universes):
        prices, _ = simulate_universe(n_symbols, bars, n_planted=0, seed=seed + k, end_ms=1_700_000_000_000)
        table = A.scan_pairs(prices)
        n = int(table["selected"].sum())
        hit += n > 0
        selected += n
    return hit / universes, selected / max(hit, 1)


def interval(share: float, n: int) -> str:
    half = 1.96 * math.sqrt(max(share * (1 - share), 1 / n) / n)
    return f"{share:.1%} ± {half:.1%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--universes", type=int, default=2_000)
    ap.add_argument("--bars", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    check_against_statsmodels(np.random.default_rng(args.seed))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"BH/BY at q = {FDR:.0%}, {args.bars:,} bars; ± is a 95 % binomial interval\n"
    )
    print(
        "| null universe | pairs | universes | BH, weaker (scanner) | BY, weaker | BH, one way | BY, one way "
        "| discoveries when BH errs | time |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    plans = [
        (100, False, args.universes),
        (300, False, args.universes),
        (300, True, args.universes),
        (1_000, True, max(args.universes // 10, 50)),
    ]
    for n_symbols, sectors, universes in plans:
        start = time.perf_counter()
        r = screen_run(n_symbols, args.bars, sectors, universes, args.seed)
        kind = "sector-correlated" if sectors else "independent"
        print(
            f"| {n_symbols} {kind} walks | {r['pairs']:,.0f} | {universes:,} | {interval(r['bh_weaker'], universes)} "
            f"| {interval(r['by_weaker'], universes)} | {interval(r['bh_one'], universes)} "
            f"| {interval(r['by_one'], universes)} | {r['per_hit']:.1f} | {time.perf_counter() - start:.0f} s |",
            flush=True,
        )
    start = time.perf_counter()
    n_pipe = max(args.universes // 10, 50)
    share, mean = pipeline_run(100, 2_880, n_pipe, args.seed)
    print(
        f"| scan_pairs, 100 symbols × 2,880 bars (data_feed.simulate_universe, no planted pairs) | 4,950 | {n_pipe} "
        f"| {interval(share, n_pipe)} | | | | {mean:.1f} | {time.perf_counter() - start:.0f} s |"
    )


if __name__ == "__main__":
    main()
