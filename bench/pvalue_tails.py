"""The Engle–Granger p-value's left tail: the simulated null of the scanner's lag-0 statistic against
quant/unitroot.py's p-values and MacKinnon's (statsmodels' mackinnonp), down to the p-values Benjamini–Hochberg uses
at 4.5 M tests.

    python bench/pvalue_tails.py simulate --bars 1000 --universes 1000   # one window length (a few minutes)
    python bench/pvalue_tails.py fit                                     # the tail fit, the accuracy tables
    python bench/pvalue_tails.py fit --write                             # ... and rewrite tests/data/eg_null_tail.csv
    python bench/pvalue_tails.py confirm --bars 1000                     # the MAIC confirmation's null, directly

Simulation: universes of 1,000 independent Gaussian random walks; every ordered pair's lag-0 Engle–Granger
t-statistic (`unitroot.simulate_eg_null`, the scanner's own formula) is a draw from the null, ~1 M draws a universe,
dependent through the walks they share, so standard errors come from the spread between 20 batches of universes,
never from the draw count. Seeds: numpy default_rng([SEED, bars]). The raw draws go to --work (not committed).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter
from scipy.special import logsumexp
from statsmodels.tsa.adfvalues import mackinnonp

from quant import unitroot

SEED = 20_231
ROWS, COLS = 1_000, 1_000  # dependent walks (tilted) × partner walks (plain) per universe
TILTS = (0.0, 5.0, 10.0, 20.0, 40.0, 80.0)  # c = T·(1 − φ) of the dependent walks' AR(1) proposals
SHARES = (0.4, 0.12, 0.12, 0.12, 0.12, 0.12)  # their shares (0.4 plain random walks: weights ≤ 2.5)
GRID = np.round(np.arange(-10.0, -0.99, 0.05), 2)  # τ points counted in every universe
BATCHES = 20
ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "data" / "eg_null_tail.csv"


def below(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted count of `values` below each GRID point (one bincount over GRID's equal steps)."""
    step = float(GRID[1] - GRID[0])
    bins = np.clip(np.floor((values - GRID[0]) / step) + 1, 0, GRID.size).astype(np.int64)
    return np.cumsum(np.bincount(bins.ravel(), weights.ravel(), minlength=GRID.size + 1))[: GRID.size]


def tilted_walks(
    bars: int, rng: np.random.Generator, tilts: tuple[float, ...], shares: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """ROWS walks drawn from the mixture of AR(1) proposals w_t = φ·w_{t−1} + ε_t (φ = 1 − c/T; c = 0 is the random
    walk), and each one's importance weight p₀(w)/Σ_m π_m·p_m(w), where ln p_m/p₀ = −(c/T)·Σw_{t−1}Δw_t
    − ½(c/T)²·Σw²_{t−1} (w_0 = 0): exact, so the weighted draws are unbiased for the random-walk null."""
    counts = np.round(np.asarray(shares) * ROWS).astype(int)
    parts = []
    for c, n in zip(tilts, counts):
        eps = rng.standard_normal((bars, int(n)))
        parts.append(np.cumsum(eps, axis=0) if c == 0 else lfilter([1.0], [1.0, c / bars - 1.0], eps, axis=0))
    walks = np.hstack(parts)
    lag = np.vstack([np.zeros((1, walks.shape[1])), walks[:-1]])
    cross, square = (lag * (walks - lag)).sum(0), (lag * lag).sum(0)
    log_ratio = np.array([-(c / bars) * cross - 0.5 * (c / bars) ** 2 * square for c in tilts])
    weights = np.exp(-logsumexp(log_ratio + np.log(np.asarray(shares))[:, None], axis=0))
    return walks, weights


def standardise(walks: np.ndarray) -> np.ndarray:
    return np.asarray((walks - walks.mean(0)) / walks.std(0))


def simulate(bars: int, universes: int, plain: bool, work: Path) -> Path:
    """Weighted counts of lag-0 Engle–Granger statistics below each GRID point per universe, importance-sampled:
    each universe regresses ROWS dependent walks (the tilted mixture) on COLS plain random walks. The null's deep
    tail has two sources, a dependent walk that looks stationary by itself (then many partners reject with it: the
    tilts make those common and down-weight them) and two walks whose slow components happen to match (left to the
    plain share). With plain=True every walk is a plain random walk (weights 1). Saved to work/eg_null_<bars>.npz."""
    tilts, shares = ((0.0,), (1.0,)) if plain else (TILTS, SHARES)
    rng = np.random.default_rng([SEED, bars, int(plain)])
    est = np.zeros((universes, GRID.size))
    hits = np.zeros((universes, GRID.size))
    start = time.perf_counter()
    for k in range(universes):
        rows, weights = tilted_walks(bars, rng, tilts, shares)
        cols = np.cumsum(rng.standard_normal((bars, COLS)), axis=0)
        tau = unitroot.eg_lag0_statistics(standardise(rows), standardise(cols))
        est[k] = below(tau, np.broadcast_to(weights[:, None], tau.shape)) / tau.size
        hits[k] = below(tau, np.ones_like(tau))
        if (k + 1) % max(1, universes // 10) == 0:
            print(f"  {k + 1}/{universes} universes, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"eg_null_{bars}{'_plain' if plain else ''}.npz"
    seconds = time.perf_counter() - start
    np.savez_compressed(
        path, bars=bars, plain=plain, draws=universes * ROWS * COLS, grid=GRID, estimate=est, hits=hits, seconds=seconds
    )
    print(
        f"{bars} bars{' (plain)' if plain else ''}: {universes} universes, {universes * ROWS * COLS:,} draws in "
        f"{seconds:.0f} s -> {path}"
    )
    return path


FIT_FROM = -3.5  # the tail fit uses τ ≤ FIT_FROM …
FIT_SE = 0.20  # … where the simulated p has a relative standard error ≤ 20 %
HOLDOUT_P = 1e-6  # the check: fit on p ≥ 1e-6 only, predict the deeper simulated points
TABLE_SE = 0.35  # points reported, written to the table and tested: relative standard error ≤ 35 % …
PLAIN_EVENTS = 30  # … and p ≥ 30 / (plain draws): the tail's second source, two walks whose slow components
# match, is sampled at the plain rate only, so a batch spread says nothing where it is unseen


@dataclass(frozen=True)
class Null:
    """One window length's simulated null: p at each GRID point, its standard error (spread of BATCHES batches of
    universes) and the raw draws below it."""

    bars: int
    draws: int
    p: np.ndarray
    se: np.ndarray
    hits: np.ndarray
    plain_share: float

    def trusted(self) -> np.ndarray:
        """GRID points where the simulated p is an estimate (TABLE_SE, PLAIN_EVENTS), not only a lower bound."""
        rel = np.divide(self.se, self.p, out=np.full_like(self.p, np.inf), where=self.p > 0)
        return np.asarray((rel <= TABLE_SE) & (self.p >= PLAIN_EVENTS / (self.plain_share * self.draws)))


def load(work: Path, plain: bool = False) -> list[Null]:
    out = []
    for path in sorted(work.glob("eg_null_*.npz")):
        if path.stem.endswith("_plain") != plain:
            continue
        d = np.load(path)
        est = d["estimate"]
        batches = est[: est.shape[0] // BATCHES * BATCHES].reshape(BATCHES, -1, GRID.size).mean(1)
        out.append(
            Null(
                int(d["bars"]),
                int(d["draws"]),
                est.mean(0),
                batches.std(0, ddof=1) / math.sqrt(BATCHES),
                d["hits"].sum(0),
                1.0 if plain else SHARES[0],
            )
        )
    return sorted(out, key=lambda n: n.bars)


def features(x: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """ln p = a + b·x + c·x², each coefficient θ∞ + θ₁/T: columns 1, x, x², 1/T, x/T, x²/T."""
    inv = 1.0 / bars
    return np.column_stack([np.ones_like(x), x, x * x, inv, x * inv, x * x * inv])


def points(nulls: list[Null], max_se: float, min_p: float = 0.0) -> tuple[np.ndarray, ...]:
    """(x = −τ, T, ln p, relative se) of the simulated points usable for a fit."""
    rows = []
    for n in nulls:
        rel = np.divide(n.se, n.p, out=np.full_like(n.p, np.inf), where=n.p > 0)
        ok = (GRID <= FIT_FROM) & (n.p > min_p) & (rel <= max_se) & n.trusted()
        rows += [(-g, n.bars, math.log(p), r) for g, p, r in zip(GRID[ok], n.p[ok], rel[ok])]
    return tuple(np.array(col) for col in zip(*rows))


def fit_tail(nulls: list[Null], min_p: float = 0.0) -> np.ndarray:
    """Weighted least squares of ln p on :func:`features` (weights 1/max(relative se, 5 %): the bulk's tiny errors
    must not decide the deep tail)."""
    x, bars, y, rel = points(nulls, FIT_SE, min_p)
    w = 1.0 / np.maximum(rel, 0.05)
    return np.linalg.lstsq(features(x, bars) * w[:, None], y * w, rcond=None)[0]


def predict(coef: np.ndarray, tau: float, bars: int) -> float:
    return float(np.exp(features(np.array([-tau]), np.array([float(bars)])) @ coef)[0])


def report(work: Path, write: bool) -> None:
    nulls = load(work)
    if not nulls:
        raise SystemExit(f"no simulations in {work}: run the simulate command first")
    coef = fit_tail(nulls)
    held = fit_tail(nulls, HOLDOUT_P)
    print("EG_TAIL = (" + ", ".join(f"({coef[k]:.8g}, {coef[k + 3]:.8g})" for k in range(3)) + ")\n")
    print(
        f"Simulated null: {', '.join(f'{n.bars:,} bars ({n.draws / 1e9:g} G draws)' for n in nulls)}; "
        f"± = one standard error (spread of {BATCHES} batches of universes)\n"
    )
    print("| bars | τ | simulated p | unitroot.pvalues | ratio | fit on p ≥ 1e-6 only (ratio) | mackinnonp (ratio) |")
    print("|---|---|---|---|---|---|---|")
    for n in nulls:
        for tau in (-3.5, -4.0, -4.5, -5.0, -5.5, -6.0, -6.25, -6.5, -6.75, -7.0):
            k = int(np.argmin(np.abs(GRID - tau)))
            if not n.trusted()[k]:
                continue
            ours = float(unitroot.pvalues(np.array([tau]), 2, n.bars)[0])
            print(
                f"| {n.bars:,} | {tau} | {n.p[k]:.3g} ± {n.se[k] / n.p[k]:.0%} | {ours:.3g} | {ours / n.p[k]:.2f} "
                f"| {predict(held, tau, n.bars) / n.p[k]:.2f}{'' if n.p[k] >= HOLDOUT_P else ' (held out)'} "
                f"| {mackinnonp(tau, 'c', 2) / n.p[k]:.2f} |"
            )
    plain = {n.bars: n for n in load(work, plain=True)}
    if plain:
        print("\n| bars | τ | importance-sampled p | plain Monte Carlo p |\n|---|---|---|---|")
        for n in nulls:
            if n.bars in plain:
                for tau in (-4.0, -5.0, -5.5, -6.0, -6.5):
                    k = int(np.argmin(np.abs(GRID - tau)))
                    q = plain[n.bars]
                    print(
                        f"| {n.bars:,} | {tau} | {n.p[k]:.3g} ± {n.se[k] / n.p[k]:.0%} "
                        f"| {q.p[k]:.3g} ± {q.se[k] / max(q.p[k], 1e-300):.0%} |"
                    )
    if write:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        with TABLE.open("w", encoding="utf-8") as f:
            f.write(
                "# The simulated null of the lag-0 Engle-Granger statistic (bench/pvalue_tails.py; importance-"
                "sampled; se = standard error of p)\nbars,tau,p,se,draws_below\n"
            )
            for n in nulls:
                for j in np.flatnonzero((np.round(GRID * 4) == GRID * 4) & (GRID <= -3.0) & n.trusted()):
                    f.write(f"{n.bars},{GRID[j]:.2f},{n.p[j]:.6g},{n.se[j]:.4g},{n.hits[j]:.0f}\n")
        print(f"\nwrote {TABLE.relative_to(ROOT)}")


def confirmation(bars: int, pairs: int) -> None:
    """The confirmation's statistic (the scanner's _eg: ADF of the OLS residual, no constant, MAIC lag over
    Schwert's bound) on independent random-walk pairs: its simulated p at a few τ against unitroot.pvalues, which is
    the lag-0 statistic's null (the same asymptotic distribution; lag selection changes the finite-sample one)."""
    rng = np.random.default_rng([SEED, bars, 2])
    stats = np.empty(pairs)
    start = time.perf_counter()
    for k in range(pairs):
        x, y = np.cumsum(rng.standard_normal((2, bars)), axis=1)
        xc = x - x.mean()
        resid = y - y.mean() - float(xc @ (y - y.mean())) / float(xc @ xc) * xc
        stats[k] = unitroot.adf_fit(resid, constant=False).statistic
    print(
        f"MAIC confirmation statistic, {bars:,} bars, {pairs:,} independent pairs "
        f"({time.perf_counter() - start:.0f} s)\n"
    )
    print("| τ | simulated p (± binomial se) | unitroot.pvalues (lag-0 null) | ratio |\n|---|---|---|---|")
    for tau in (-2.5, -3.0, -3.34, -3.9, -4.5):
        p = float(np.mean(stats < tau))
        ours = unitroot.pvalue(tau, 2, bars)
        se = math.sqrt(max(p, 1 / pairs) * (1 - p) / pairs)
        print(f"| {tau} | {p:.4f} ± {se:.4f} | {ours:.4f} | {ours / p if p else math.inf:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate")
    sim.add_argument("--bars", type=int, required=True)
    sim.add_argument("--universes", type=int, required=True)
    sim.add_argument("--plain", action="store_true", help="plain random walks, no importance sampling")
    conf = sub.add_parser("confirm")
    conf.add_argument("--bars", type=int, required=True)
    conf.add_argument("--pairs", type=int, default=20_000)
    fit = sub.add_parser("fit")
    fit.add_argument("--write", action="store_true")
    for p in (sim, fit, conf):
        p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "pvalue_tails")
    args = ap.parse_args()
    if args.command == "simulate":
        simulate(args.bars, args.universes, args.plain, args.work)
    elif args.command == "confirm":
        confirmation(args.bars, args.pairs)
    else:
        report(args.work, args.write)


if __name__ == "__main__":
    main()
