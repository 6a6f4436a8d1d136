"""The scanner's screen: a universe of aligned closes made testable (listings, halts, delistings set aside; each
symbol's bid/ask bounce measured) and every pair of it screened at once by a noise-robust Dickey–Fuller statistic.

Why: statsmodels' coint costs ~0.35 s a pair, 12 hours for the ~125k pairs of 500 symbols. Here a dozen matrix
products give the statistic of every pair in both orientations (on means of a few bars, the lag-2 level as the
instrument of the lag-1 level, the long-run variance from two autocovariances: bid/ask bounce, whose MA(1) component
fools a lag-0 Dickey–Fuller test into ranking noise first, washes out of all three); the screen only chooses which
pairs the full test (quant/scan_describe.py) sees.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CONFIRM_MARGIN = 20.0  # confirm pairs whose screen p-value is within 20× the screen's Benjamini–Hochberg cutoff
SCREEN_BARS = 8  # the screen tests means of up to 8 bars (bounce noise shrinks 8-fold in variance) ...
SCREEN_ROWS = 600  # ... keeping at least 600 of them (fewer bars per mean on a shorter window)
LRV_FLOOR = 0.05  # the screen's long-run variance is at least 5 % of its residual variance
NOISY_AUTOCORR = -0.1  # a symbol whose 1-bar returns' lag-1 autocorrelation is below this is flagged as bouncing


class ExclusionReason(enum.StrEnum):
    """Why the scanner set a symbol aside before pairing it."""

    NO_CLOSES = "no_closes"  # no close anywhere in the window
    STOPPED_TRADING = "stopped_trading"  # no close in the window's last 1 % (delisted or halted)
    LISTED_RECENTLY = "listed_recently"  # too little history in the formation window
    NON_POSITIVE = "non_positive"  # a price ≤ 0 in the formation window
    CONSTANT = "constant"  # constant over the formation window (halted)


@dataclass(frozen=True)
class ScanExclusion:
    """A symbol the scan left out: the reason, and the sentence a user reads (with its numbers)."""

    reason: ExclusionReason
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class SymbolNoise:
    """How much of a symbol's 1-bar moves is bid/ask bounce: the lag-1 autocorrelation of its 1-bar log returns
    (≈ 0 for a liquid symbol, → −0.5 when the closes are mostly bounce) and Roll's spread 2·√(−cov(r_t, r_{t−1})) as
    a share of price (0 when that covariance is positive), on its formation rows. `noisy`: the autocorrelation is
    below NOISY_AUTOCORR."""

    autocorr: float
    roll_spread: float
    noisy: bool

    def __str__(self) -> str:
        return (
            f"returns bounce (lag-1 autocorrelation {self.autocorr:+.2f}, Roll spread "
            f"{100 * self.roll_spread:.3f} % of price): half-life and crossings of its pairs are estimated "
            "bounce-robustly"
        )


@dataclass(frozen=True)
class Universe:
    """Formation closes (forward-filled after each listing), each symbol's first usable row, the validation closes,
    each symbol's bounce measures."""

    formation: np.ndarray
    validation: np.ndarray
    symbols: list[str]
    start: np.ndarray
    excluded: dict[str, ScanExclusion]
    noise: dict[str, SymbolNoise]


def symbol_noise(closes: np.ndarray) -> SymbolNoise:
    """:class:`SymbolNoise` of one symbol's positive closes (no NaN)."""
    r = np.diff(np.log(closes))
    r = r - r.mean()
    var = float(r @ r)
    cov = float(r[1:] @ r[:-1])
    rho = cov / var if var > 0 else 0.0
    roll = 2.0 * math.sqrt(max(-cov / max(r.size - 1, 1), 0.0))
    return SymbolNoise(autocorr=rho, roll_spread=roll, noisy=rho < NOISY_AUTOCORR)


def prepare_universe(prices: pd.DataFrame, validation_fraction: float, min_overlap: int) -> Universe:
    """Split the window, forward-fill bars without trades, and set aside symbols that cannot be tested: constant
    over the formation window (halted), no close in the last 1 % of the window (delisted), or too little history."""
    n = len(prices)
    n_val = int(n * validation_fraction)
    n_form = n - n_val
    values = prices.to_numpy(dtype="float64", copy=True)
    excluded: dict[str, ScanExclusion] = {}
    keep: list[int] = []
    starts: list[int] = []
    noise: dict[str, SymbolNoise] = {}
    tail = max(1, n // 100)
    grid = max(1, n_form // 100)  # listings are grouped on a grid of 1 % of the formation window (fewer groups)
    for k, name in enumerate(map(str, prices.columns)):
        col = values[:, k]
        valid = np.flatnonzero(np.isfinite(col))
        if valid.size == 0:
            excluded[name] = ScanExclusion(ExclusionReason.NO_CLOSES, "no closes in the window")
        elif valid[-1] < n - tail:
            excluded[name] = ScanExclusion(
                ExclusionReason.STOPPED_TRADING, f"stopped trading at {prices.index[valid[-1]]} (delisted or halted)"
            )
        elif n_form - valid[0] < min_overlap:
            excluded[name] = ScanExclusion(
                ExclusionReason.LISTED_RECENTLY,
                f"history only since {prices.index[valid[0]]:%Y-%m-%d %H:%M} UTC: {max(n_form - valid[0], 0):,} "
                f"bars in the formation window, fewer than the {min_overlap:,} a test needs (collected or listed "
                "recently)",
            )
        elif (col[valid[0] : n_form] <= 0).any():
            excluded[name] = ScanExclusion(ExclusionReason.NON_POSITIVE, "non-positive prices")
        else:
            filled = pd.Series(col[valid[0] :]).ffill().to_numpy()
            if np.ptp(filled[: n_form - valid[0]]) == 0:
                excluded[name] = ScanExclusion(ExclusionReason.CONSTANT, "constant over the formation window (halted)")
                continue
            values[valid[0] :, k] = filled
            keep.append(k)
            starts.append(min(-(-int(valid[0]) // grid) * grid, n_form - min_overlap))
            noise[name] = symbol_noise(filled[: n_form - valid[0]])
    return Universe(
        values[:n_form, keep],
        values[n_form:, keep],
        [str(prices.columns[k]) for k in keep],
        np.array(starts, dtype=int),
        excluded,
        noise,
    )


def screen_bars(rows: int) -> int:
    """Bars per mean the screen tests on a window of `rows` bars: SCREEN_BARS, fewer when that would leave fewer
    than SCREEN_ROWS means."""
    return max(1, min(SCREEN_BARS, rows // SCREEN_ROWS))


def _block_means(block: np.ndarray, bars: int) -> np.ndarray:
    """Means of consecutive `bars` rows, aligned to the last row (the first rows that do not fill a mean dropped)."""
    rows = block.shape[0] // bars * bars
    return block[block.shape[0] - rows :].reshape(rows // bars, bars, block.shape[1]).mean(axis=1)


def iv_statistics(z: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-robust Dickey–Fuller t-statistics of the OLS residual of every `new` column of z on every column, and of
    every column on every `new` one (standardised columns sharing one sample), and their correlations.

    With e = z_u − c·z_v (c their correlation): γ = Σe_{t−2}Δe_t / Σe_{t−2}e_{t−1} (the lag-2 level instruments the
    lag-1 level, so the MA(1) part bid/ask bounce puts into Δe does not bias γ towards −1, Hall 1989), and
    t = γ·√(Σe²_{t−1}/λ²), λ² the long-run variance of the residual u_t = Δe_t − γe_{t−1} from its first two
    autocovariances, γ₀ + 2γ₁ (exact for an MA(1); at least LRV_FLOOR·γ₀), so t has the Dickey–Fuller limit. Every sum
    is a quadratic form in cross products of lagged level and difference blocks: one matrix product per kind."""
    n = z.shape[0]
    l0, l1, l2 = z[2:], z[1:-1], z[:-2]
    d0, d1 = l0 - l1, l1 - l2
    full = new.size == z.shape[1] and bool((new == np.arange(z.shape[1])).all())

    def forms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Σa_u·b_u (per new column, as a column), Σa_v·b_v (per column, as a row) and Σa_u·b_v + Σa_v·b_u."""
        diag = (a * b).sum(axis=0)
        cross = a[:, new].T @ b
        cross = 2 * cross if a is b else cross + (cross.T if full else b[:, new].T @ a)
        return diag[new][:, None], diag[None, :], cross

    corr = (z[:, new].T @ z) / n
    kinds = {
        "ss": forms(l1, l1),
        "b": forms(l2, l1),
        "a": forms(l2, d0),
        "dd": forms(d0, d0),
        "sd": forms(l1, d0),
        "dd1": forms(d0, d1),
        "sd1": forms(l1, d1),
    }

    def tstat(u_first: bool) -> np.ndarray:
        def q(kind: str) -> np.ndarray:
            own, other, cross = kinds[kind]
            first, second = (own, other) if u_first else (other, own)
            return np.asarray(first - corr * cross + corr * corr * second)

        s, b, a = q("ss"), q("b"), q("a")
        g = a / b
        u0 = q("dd") - 2 * g * q("sd") + g * g * s
        u1 = q("dd1") - g * (a + q("sd1")) + g * g * b
        lrv = np.maximum(u0 + 2 * u1, LRV_FLOOR * u0) / (n - 2)  # per row
        return np.asarray(g * np.sqrt(s / np.maximum(lrv, 1e-300)))

    with np.errstate(divide="ignore", invalid="ignore"):  # a symbol against itself (dropped by the caller)
        return tstat(True), tstat(False), corr


def standardise(block: np.ndarray) -> np.ndarray:
    """Each column centred and scaled to unit variance (the screen's statistics are scale-free)."""
    return (block - block.mean(0)) / block.std(0)


def screen_pairs(u: Universe) -> pd.DataFrame:
    """Every pair with enough common history: the screen's statistics of both orientations on their common sample
    (means of :func:`screen_bars` bars of that sample) and the correlation of their 1-bar returns. Symbols are
    grouped by first usable row; each group is paired with every symbol listed no later, on the rows from the
    group's start."""
    frames = []
    order = np.argsort(u.start, kind="stable")
    for s in np.unique(u.start):
        bars = screen_bars(u.formation.shape[0] - s)
        new = np.flatnonzero(u.start == s)
        old = order[u.start[order] <= s]
        pos = {int(k): i for i, k in enumerate(old)}
        columns = np.array([pos[int(k)] for k in new])
        z = standardise(_block_means(u.formation[s:, old], bars))
        a, b, _ = iv_statistics(z, columns)
        rets = standardise(np.diff(np.log(u.formation[s:, old]), axis=0))
        rcorr = rets[:, columns].T @ rets / rets.shape[0]
        ii, jj = np.meshgrid(np.arange(new.size), np.arange(old.size), indexing="ij")
        sym_u, sym_v = new[ii.ravel()], old[jj.ravel()]
        keep = (sym_u != sym_v) & ((u.start[sym_v] < s) | (sym_u < sym_v))  # each unordered pair once
        frames.append(
            pd.DataFrame(
                {
                    "u": sym_u[keep],
                    "v": sym_v[keep],
                    "t_u_on_v": a.ravel()[keep],
                    "t_v_on_u": b.ravel()[keep],
                    "correlation": rcorr.ravel()[keep],
                    "n_bars": u.formation.shape[0] - s,
                    "start": s,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table.attrs["bars"] = screen_bars(u.formation.shape[0] - int(u.start.min()))
    return table


def to_confirm(screen: np.ndarray, fdr: float, screen_p: float) -> np.ndarray:
    """The pairs worth the full test, best screen p-value first: those within CONFIRM_MARGIN times the
    Benjamini–Hochberg cutoff the screen itself implies (at least one discovery's), at most `screen_p`. A pair further
    out would need the lag search to shrink its p-value by that factor to be selected, which an OU spread's white
    innovations do not allow."""
    m = screen.size
    valid = np.where(np.isfinite(screen), screen, 1.0)
    order = np.argsort(valid, kind="stable")
    ranked = valid[order]
    passing = np.flatnonzero(ranked <= fdr * np.arange(1, m + 1) / m)
    cutoff = fdr * max(passing[-1] + 1 if passing.size else 1, 1) / m
    limit = min(screen_p, CONFIRM_MARGIN * cutoff)
    return order[: int(np.searchsorted(ranked, limit, side="right"))]


def check_prices(prices: Any) -> None:
    """prices must be a DataFrame of ≥ 2 uniquely named numeric columns on a sorted, unique DatetimeIndex."""
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"scan_pairs needs a DataFrame of closes, got {type(prices).__name__}")
    if prices.shape[1] < 2:
        raise ValueError(f"scan_pairs needs at least 2 symbols, got {prices.shape[1]}")
    dup = sorted({str(c) for c in prices.columns[prices.columns.duplicated()]})
    if dup:
        raise ValueError(f"scan_pairs: duplicate symbol columns {dup}")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError("scan_pairs needs a DatetimeIndex (bar times)")
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise ValueError("scan_pairs needs sorted, unique bar times")
    bad = [str(c) for c in prices.columns if not pd.api.types.is_numeric_dtype(prices[c])]
    if bad:
        raise ValueError(f"scan_pairs: non-numeric columns {bad}")
