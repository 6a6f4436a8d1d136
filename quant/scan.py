"""The market scanner: every pair of a universe of aligned closes, screened at once, confirmed rigorously and ranked
with the false discovery rate controlled; a discovery is shown once, with the pairs that only echo it folded under it.

Why: statsmodels' coint costs ~0.35 s a pair, 12 hours for the ~125k pairs of 500 symbols. Here a dozen matrix
products give a noise-robust Dickey–Fuller statistic of every pair in both orientations (on means of a few bars, the
lag-2 level as the instrument of the lag-1 level, the long-run variance from two autocovariances: bid/ask bounce,
whose MA(1) component fools a lag-0 Dickey–Fuller test into ranking noise first, washes out of all three); the pairs
the screen ranks near the top are confirmed, best first and within a time budget, with the full test the Pair
Analytics tab uses (MAIC lag search over Schwert's bound, quant/unitroot.py). Benjamini–Hochberg (statsmodels'
multipletests, fdr_bh) runs over every pair screened, a pair the full test did not confirm counting as p = 1, and the
last part of the window re-tests the confirmed pairs out of sample: only a pair that passes all three is selected.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from statsmodels.stats.multitest import multipletests

from quant import unitroot
from quant.stationarity import half_life, hurst_exponent
from quant.vocabulary import SIGNIFICANCE, InsufficientData

SUMMARY_ATTR = "scan"  # the result's attrs key of its ScanSummary
CONFIRM_MARGIN = 20.0  # confirm pairs whose screen p-value is within 20× the screen's Benjamini–Hochberg cutoff
CONFIRM_SECONDS = 60.0  # default time budget of the full tests (pairs past it are reported left unconfirmed)
SCREEN_BARS = 8  # the screen tests means of up to 8 bars (bounce noise shrinks 8-fold in variance) ...
SCREEN_ROWS = 600  # ... keeping at least 600 of them (fewer bars per mean on a shorter window)
LRV_FLOOR = 0.05  # the screen's long-run variance is at least 5 % of its residual variance
NOISY_AUTOCORR = -0.1  # a symbol whose 1-bar returns' lag-1 autocorrelation is below this is flagged as bouncing
MIN_VALIDATION = 30  # the out-of-sample test needs this many validation bars (else it is not required)
SCAN_COLUMNS = (
    "x",
    "y",
    "beta",
    "alpha",
    "pvalue",
    "pvalue_y_on_x",
    "pvalue_x_on_y",
    "statistic",
    "screen_pvalue",
    "qvalue",
    "selected",
    "lead",
    "group",
    "echoes",
    "confirmed",
    "noisy_x",
    "noisy_y",
    "half_life",
    "correlation",
    "spread_vol",
    "crossings_per_day",
    "hurst",
    "oos_pvalue",
    "oos_confirmed",
    "n_bars",
)


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
class ScanSummary:
    """What a scan tested, confirmed and left out, and why (kept in the result's ``attrs["scan"]``; read it with
    :func:`scan_summary`).

    pairs_sent: the pairs the screen sent to the full test; of those, pairs_confirmed were tested within the time
    budget and pairs_unconfirmed were not (they count as p = 1, never selected). pairs_groups: the groups the
    selected pairs form (a lead and the selected pairs sharing a leg with it). noise: every tested symbol's bounce
    measures (:class:`SymbolNoise`)."""

    symbols: int
    pairs_tested: int
    pairs_confirmed: int
    pairs_selected: int
    pairs_short_overlap: int
    formation_bars: int
    validation_bars: int
    excluded: dict[str, ScanExclusion] = field(default_factory=dict)
    pairs_sent: int = 0
    pairs_unconfirmed: int = 0
    pairs_groups: int = 0
    pairs_echoes: int = 0  # pairs folded under a group's lead (selected or not)
    third_sides: int = 0  # pairs the echo check confirmed beyond those the screen sent
    confirm_seconds: float = 0.0  # time the full tests took
    screen_bars: int = 1  # bars per mean the screen tested
    noise: dict[str, SymbolNoise] = field(default_factory=dict, repr=False)

    @property
    def noisy(self) -> list[str]:
        """The symbols flagged as bouncing."""
        return [name for name, n in self.noise.items() if n.noisy]


def scan_summary(table: pd.DataFrame) -> ScanSummary:
    """The :class:`ScanSummary` a :func:`scan_pairs` result carries."""
    summary = table.attrs.get(SUMMARY_ATTR)
    if not isinstance(summary, ScanSummary):
        raise ValueError("this table is not a scan_pairs result (it carries no scan summary)")
    return summary


@dataclass(frozen=True)
class ConfirmedPair:
    """The full Engle–Granger test of a screened pair in both orientations (:func:`_describe`), oriented y on x where
    that p is the smaller, and what a trader ranks it by."""

    swap: bool  # the reverse regression rejected more strongly: x and y swapped
    beta: float
    alpha: float
    pvalue_y_on_x: float
    pvalue_x_on_y: float
    statistic: float  # the weaker orientation's ADF t-statistic (ranks ties of p = 0)
    half_life: float
    spread_vol: float
    crossings_per_day: float
    hurst: float
    oos_pvalue: float

    @property
    def pvalue(self) -> float:
        """The weaker orientation's p-value: the pair must reject both ways."""
        return max(self.pvalue_y_on_x, self.pvalue_x_on_y)

    def numbers(self) -> tuple[float, ...]:
        """Its values for the table's DESCRIBED_COLUMNS, in that order."""
        return tuple(float(getattr(self, name)) for name in DESCRIBED_COLUMNS)


# the columns a confirmed pair fills (its number fields; the rest of SCAN_COLUMNS come from the screen)
DESCRIBED_COLUMNS = tuple(f.name for f in dataclasses.fields(ConfirmedPair) if f.name != "swap")


@dataclass(frozen=True)
class _Universe:
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


def _universe(prices: pd.DataFrame, validation_fraction: float, min_overlap: int) -> _Universe:
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
    return _Universe(
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


def _iv_statistics(z: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _standardise(block: np.ndarray) -> np.ndarray:
    return (block - block.mean(0)) / block.std(0)


def _screen(u: _Universe) -> pd.DataFrame:
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
        z = _standardise(_block_means(u.formation[s:, old], bars))
        a, b, _ = _iv_statistics(z, columns)
        rets = _standardise(np.diff(np.log(u.formation[s:, old]), axis=0))
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


def _to_confirm(screen: np.ndarray, fdr: float, screen_p: float) -> np.ndarray:
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


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (statsmodels' multipletests, fdr_bh): q_(i) = min over k ≥ i of p_(k)·m/k,
    capped at 1."""
    return np.asarray(multipletests(p, method="fdr_bh")[1], dtype="float64")


def _eg(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, np.ndarray]:
    """Engle–Granger of y on x exactly as analytics.engle_granger: (p, t, β, α, residual)."""
    xc = x - x.mean()
    beta = float(xc @ (y - y.mean())) / float(xc @ xc)
    alpha = float(y.mean() - beta * x.mean())
    resid = y - alpha - beta * x
    fit = unitroot.adf_fit(resid, constant=False)
    return unitroot.pvalue(fit.statistic, 2, nobs=resid.size), fit.statistic, beta, alpha, resid


@dataclass(frozen=True)
class NoisySpread:
    """A spread read as an AR(1) signal plus white noise (bid/ask bounce) from its autocovariances at lags ≥ 1, which
    the noise does not reach: γ_k = σ²_s·φ^k for k ≥ 1, so φ = (γ_{1+K}/γ₁)^(1/K) (K ≈ the half-life, found by two
    refinements from γ₂/γ₁: the ratio over one lag alone is too noisy for slow spreads), signal variance γ₁/φ and
    noise variance γ₀ − γ₁/φ."""

    phi: float
    signal_var: float
    noise_var: float

    @property
    def half_life(self) -> float:
        """In bars, as :func:`quant.stationarity.half_life_fit` reads φ (inf without mean reversion, 0 within a bar)."""
        if not math.isfinite(self.phi):
            return math.nan
        return math.inf if self.phi >= 1 else 0.0 if self.phi <= 0 else -math.log(2.0) / math.log(self.phi)

    def denoised(self, centred: np.ndarray) -> np.ndarray:
        """The steady-state Kalman filter's causal estimate of the signal (the series itself when there is no
        noise or no mean reversion to filter with)."""
        if not 0 < self.phi < 1 or self.noise_var <= 0:
            return centred
        q, r = self.signal_var * (1 - self.phi**2), self.noise_var
        c = r * (1 - self.phi**2) - q
        prior = (-c + math.sqrt(c * c + 4 * q * r)) / 2  # the prior variance's fixed point
        gain = prior / (prior + r)
        return np.asarray(lfilter([gain], [1.0, -(1 - gain) * self.phi], centred))


def noisy_spread(centred: np.ndarray) -> NoisySpread:
    """:class:`NoisySpread` of a centred spread."""
    n = centred.size

    def acov(k: int) -> float:
        return float(centred[k:] @ centred[: n - k]) / n

    g0, g1 = acov(0), acov(1)
    if g1 <= 0:
        return NoisySpread(math.nan, math.nan, math.nan)
    phi = acov(2) / g1
    for _ in range(2):
        lag = round(-math.log(2.0) / math.log(phi)) if 0 < phi < 1 else 10
        lag = int(min(max(lag, 1), n // 20))
        ratio = acov(1 + lag) / g1
        if ratio <= 0:
            break
        phi = ratio ** (1.0 / lag)
    if phi <= 0:
        return NoisySpread(math.nan, math.nan, math.nan)
    return NoisySpread(phi, g1 / phi, max(g0 - g1 / phi, 0.0))


def robust_hurst(centred: np.ndarray, noise_var: float, max_lag: int = 100) -> float:
    """The Hurst exponent as :func:`quant.stationarity.hurst_fit` reads it (slope of log sd(s_{t+k} − s_t) on log k
    over ~20 log-spaced k in [2, max_lag]), with the white noise's 2·σ² taken out of each variance first."""
    top = min(max_lag, centred.size // 2)
    lags = np.unique(np.round(np.geomspace(2, top, 20)).astype(int)) if top > 2 else np.array([], dtype=int)
    if lags.size < 4:
        return math.nan
    var = np.array([np.var(centred[k:] - centred[:-k]) for k in lags]) - 2 * noise_var
    usable = var > 0  # the shortest lags' signal can drown in the noise estimate's error
    if usable.sum() < 4:
        return math.nan
    return float(np.polyfit(np.log(lags[usable]), 0.5 * np.log(var[usable]), 1)[0])


def _crossings(centred: np.ndarray, days: float) -> float:
    return float(np.count_nonzero(np.diff(np.sign(centred)) != 0) / days)


def _describe(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, bar_seconds: float, noisy: bool
) -> ConfirmedPair:
    """The confirmed pair's Engle–Granger in both orientations, oriented y on x where that p is the smaller, and what
    a trader ranks by: half-life, spread volatility (share of y), mean crossings per day, Hurst, and the out-of-sample
    ADF of the validation window's residual under the formation's (α, β) (no estimation there: plain ADF values).
    A `noisy` pair (a leg flagged as bouncing) reads half-life, crossings and Hurst off :func:`noisy_spread`: a
    bounce makes the raw spread cross its mean every few bars and look faster than it reverts."""
    forward, reverse = _eg(x, y), _eg(y, x)
    swap = reverse[0] < forward[0]
    if swap:
        x, y, xv, yv = y, x, yv, xv
        forward, reverse = reverse, forward
    p_yx, t_yx, beta, alpha, resid = forward
    centred = resid - resid.mean()
    days = resid.size * bar_seconds / 86_400
    if noisy:
        model = noisy_spread(centred)
        hl, crossings = model.half_life, _crossings(model.denoised(centred), days)
        hurst = robust_hurst(centred, model.noise_var) if math.isfinite(model.noise_var) else math.nan
    else:
        crossings = _crossings(centred, days)
        descriptive = []
        for fn in (half_life, hurst_exponent):
            try:
                descriptive.append(float(fn(resid)))
            except InsufficientData:
                descriptive.append(math.nan)
        hl, hurst = descriptive
    oos_pvalue = math.nan
    if xv.size >= MIN_VALIDATION and np.isfinite(xv).all() and np.isfinite(yv).all():
        fit = unitroot.adf_fit(yv - alpha - beta * xv, constant=True)
        oos_pvalue = unitroot.pvalue(fit.statistic)
    return ConfirmedPair(
        swap=bool(swap),
        beta=beta,
        alpha=alpha,
        pvalue_y_on_x=p_yx,
        pvalue_x_on_y=reverse[0],
        statistic=max(t_yx, reverse[1]),
        half_life=hl,
        spread_vol=float(resid.std() / abs(y.mean())),
        crossings_per_day=crossings,
        hurst=hurst,
        oos_pvalue=oos_pvalue,
    )


def scan_pairs(
    prices: pd.DataFrame,
    *,
    validation_fraction: float = 0.3,
    fdr: float = 0.05,
    min_overlap: int = 1_440,
    screen_p: float = 0.05,
    confirm_seconds: float = CONFIRM_SECONDS,
    max_confirm: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Scan every pair of `prices` (aligned closes: a sorted UTC DatetimeIndex, one column per symbol, NaN before a
    symbol trades) for cointegration. Returns one row per tested pair (columns :data:`SCAN_COLUMNS`), best first,
    with a :class:`ScanSummary` in ``attrs["scan"]``.

    * Formation = the first 1 − validation_fraction of the rows, validation = the rest.
    * Screen (every pair, both orientations, on its common formation rows): the noise-robust Dickey–Fuller statistic
      of :func:`_iv_statistics` on means of :func:`screen_bars` bars; ``screen_pvalue`` is its MacKinnon p-value by
      the weaker orientation. It only chooses which pairs the full test sees.
    * Confirmation: the pairs whose screen p-value is within CONFIRM_MARGIN times the screen's own Benjamini–Hochberg
      cutoff (and ≤ `screen_p`) get the full test the Pair Analytics tab runs (MAIC lag search), best screen p first,
      until `confirm_seconds` have passed (and at most `max_confirm` of them, when given); the summary counts those
      sent, confirmed and left unconfirmed. ``confirmed`` marks the pairs tested. `progress`, when given, is called
      after each full test with the share of the confirmation done (pairs or time budget, whichever is further).
    * ``pvalue`` = max(pvalue_y_on_x, pvalue_x_on_y) of the full test (NaN when not confirmed); (x, y) is oriented y
      on x where that p is the smaller, and beta/alpha are that regression's. ``qvalue`` is Benjamini–Hochberg over
      every pair screened, a pair not confirmed counting as p = 1 (so a screen p-value never selects).
    * ``oos_confirmed``: the validation residual under the formation's (α, β) rejects a unit root at 5 %.
    * ``selected`` = confirmed ∧ qvalue ≤ `fdr` ∧ oos_confirmed (the last only when the validation window has at
      least MIN_VALIDATION bars) ∧, for an echo, consistent with its group.
    * Echoes (:func:`_group_echoes`): the pairs passing those tests, best first, form groups: a pair with no leg in
      a group leads a new one (``lead`` True, ``echoes`` = the other pairs folded under it); a pair sharing a leg
      joins the best group it touches as an echo (``lead`` False, ``echoes`` 0), selected only if its legs and those
      of the leads it touches are all cointegrated with each other. ``group`` numbers the groups from 1 (0: none).
    * ``noisy_x``/``noisy_y``: the leg's 1-bar returns bounce (:class:`SymbolNoise`, every symbol's in the summary's
      ``noise``); such a pair's half_life (in bars), crossings_per_day and hurst come from :func:`noisy_spread`.
      spread_vol is a share of y's mean price.
    """
    _check_prices(prices)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if not 0 < fdr < 1 or not 0 < screen_p <= 1:
        raise ValueError(f"fdr must be in (0, 1) and screen_p in (0, 1], got {fdr}, {screen_p}")
    if min_overlap < 100:
        raise ValueError(f"min_overlap must be at least 100 bars, got {min_overlap}")
    if not confirm_seconds > 0 or (max_confirm is not None and max_confirm < 0):
        raise ValueError(f"confirm_seconds must be > 0 and max_confirm ≥ 0, got {confirm_seconds}, {max_confirm}")
    u = _universe(prices, validation_fraction, min_overlap)
    if len(u.symbols) < 2:
        raise InsufficientData(
            f"the scan needs 2 testable symbols, have {len(u.symbols)}: "
            + "; ".join(f"{k}: {v.detail}" for k, v in u.excluded.items())
        )
    pairs = _screen(u)
    recent = sum(why.reason is ExclusionReason.LISTED_RECENTLY for why in u.excluded.values())
    short = recent * len(u.symbols) + recent * (recent - 1) // 2  # pairs with a recent listing: too little overlap
    weaker = np.maximum(pairs["t_u_on_v"].to_numpy(), pairs["t_v_on_u"].to_numpy())
    screen = unitroot.pvalues(weaker, 2)
    candidates = _to_confirm(screen, fdr, screen_p)
    bar_seconds = float(np.median(np.diff(prices.index.as_unit("ns").asi8))) / 1e9  # type: ignore[attr-defined]  # checked: a DatetimeIndex
    first, second, start = (pairs[c].to_numpy() for c in ("u", "v", "start"))
    noisy = np.array([u.noise[name].noisy for name in u.symbols], dtype=bool)
    described: dict[int, ConfirmedPair] = {}

    def full_test(i: int, j: int, s: int) -> ConfirmedPair:
        """The full test of symbols i and j on their common formation rows from s (y = i on x = j)."""
        xf, yf, xv, yv = u.formation[s:, j], u.formation[s:, i], u.validation[:, j], u.validation[:, i]
        return _describe(xf, yf, xv, yv, bar_seconds, bool(noisy[i] or noisy[j]))

    began = time.monotonic()
    for k in candidates.tolist():
        if (max_confirm is not None and len(described) >= max_confirm) or time.monotonic() - began > confirm_seconds:
            break
        described[k] = full_test(int(first[k]), int(second[k]), int(start[k]))
        if progress is not None:
            limit = len(candidates) if max_confirm is None else min(len(candidates), max_confirm)
            progress(min(1.0, max(len(described) / max(1, limit), (time.monotonic() - began) / confirm_seconds)))
    table = _table(u, pairs, screen, described)
    table["qvalue"] = bh_qvalues(table["pvalue"].fillna(1.0).to_numpy())
    table["oos_confirmed"] = table["oos_pvalue"] < SIGNIFICANCE
    holds = table["oos_confirmed"] if u.validation.shape[0] >= MIN_VALIDATION else True
    table["selected"] = table["confirmed"] & (table["qvalue"] <= fdr) & holds
    table = table.sort_values(
        ["selected", "qvalue", "statistic", "screen_pvalue"],
        ascending=[False, True, True, True],
        kind="stable",
        na_position="last",
    )
    table = table.reset_index(drop=True)
    tu, tv, ts = (table[c].to_numpy(dtype=int) for c in ("u", "v", "start"))
    tested, tp = table["confirmed"].to_numpy(dtype=bool), table["pvalue"].to_numpy(dtype=float)
    row_of = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(tu, tv))}
    index = {name: k for k, name in enumerate(u.symbols)}
    checked: dict[int, float] = {}

    def full_pvalue(a: str, b: str) -> float:
        """The full test's p-value of pair (a, b) (run now when the scan did not confirm it)."""
        k = row_of.get((index[a], index[b]), row_of.get((index[b], index[a]), -1))
        if k < 0:
            return math.nan
        if tested[k]:
            return float(tp[k])
        if k not in checked:
            checked[k] = full_test(int(tu[k]), int(tv[k]), int(ts[k])).pvalue
        return checked[k]

    passing = table["confirmed"] & (table["qvalue"] <= fdr)
    cutoff = float(table.loc[passing, "pvalue"].max()) if passing.any() else 0.0  # BH's p-value threshold
    table = _group_echoes(table, cutoff, full_pvalue)
    # selected first, each group's lead then its echoes, then the echoes left unselected, then the rest by rank
    table["_grouped"] = table["group"].where(table["group"] > 0, len(table) + 1)
    table = table.sort_values(
        ["selected", "_grouped", "lead", "qvalue", "statistic", "screen_pvalue"],
        ascending=[False, True, False, True, True, True],
        kind="stable",
        na_position="last",
    )
    table = table.loc[:, list(SCAN_COLUMNS)].reset_index(drop=True)
    spent = time.monotonic() - began
    table.attrs[SUMMARY_ATTR] = ScanSummary(
        len(prices.columns),
        len(table),
        len(described),
        int(table["selected"].sum()),
        short,
        u.formation.shape[0],
        u.validation.shape[0],
        u.excluded,
        pairs_sent=len(candidates),
        pairs_unconfirmed=len(candidates) - len(described),
        pairs_groups=int(table["lead"].sum()),
        pairs_echoes=int((table["group"] > 0).sum() - table["lead"].sum()),
        third_sides=len(checked),
        confirm_seconds=spent,
        screen_bars=int(pairs.attrs["bars"]),
        noise=u.noise,
    )
    return table


def _group_echoes(table: pd.DataFrame, cutoff: float, pvalue_of: Callable[[str, str], float]) -> pd.DataFrame:
    """Fold echoes under their discovery, over the rows that pass (``selected`` on entry: confirmed, q ≤ fdr, out of
    sample), best first. First the leads: a pair with neither leg in a group leads a new one. Then the others, each
    joining the best group it shares a leg with, as an echo; an echo stays selected only if it is consistent with
    the groups it touches. Cointegration is transitive (y ~ x and y ~ z imply x ~ z), so the echo's legs and the
    legs of the leads of the groups it touches must all be cointegrated with each other: every pair among them is a
    discovery by the scan's own standard (the full test's p at most `cutoff`, Benjamini–Hochberg's p-value
    threshold; `pvalue_of` runs the full test on a pair the scan did not confirm).

    Why: a leg that holds a stationary spread (the y of a planted pair, y = α + β·x + OU) lends it to every symbol
    it is regressed on: y − c·z of an unrelated z is the OU plus a random walk that is small at this sample size,
    and the full test rejects (a reference Engle–Granger does too). Its third side x ~ z is the random walk alone
    and fails; a plain 5 % level would not do (an echo is selected because z stayed near x, so its third side looks
    better than chance: p ~ 0.01 measured), nor would checking one triangle when the echo's other leg is another
    planted y (then its third side holds that y's OU: the legs of both groups' leads must be checked)."""
    passing = np.flatnonzero(table["selected"].to_numpy()).tolist()
    xs, ys = table["x"].astype(str).to_numpy(), table["y"].astype(str).to_numpy()
    selected = np.zeros(len(table), dtype=bool)
    group = np.zeros(len(table), dtype=int)
    lead = np.zeros(len(table), dtype=bool)
    leg_group: dict[str, int] = {}
    leads: dict[int, tuple[str, str]] = {}
    echoes = []
    for k in passing:
        if xs[k] in leg_group or ys[k] in leg_group:
            echoes.append(k)
            continue
        group[k] = len(leads) + 1
        selected[k] = lead[k] = True
        leads[int(group[k])] = (xs[k], ys[k])
        leg_group[xs[k]] = leg_group[ys[k]] = int(group[k])
    for k in echoes:
        touched = sorted({leg_group[leg] for leg in (xs[k], ys[k]) if leg in leg_group})
        group[k] = touched[0]
        legs = sorted({xs[k], ys[k], *(leg for g in touched for leg in leads[g])})
        pairs = [(a, b) for n, a in enumerate(legs) for b in legs[n + 1 :] if {a, b} != {xs[k], ys[k]}]
        selected[k] = all(pvalue_of(a, b) <= cutoff for a, b in pairs)
        if selected[k]:
            leg_group.setdefault(xs[k], touched[0])
            leg_group.setdefault(ys[k], touched[0])
    sizes = np.bincount(group, minlength=1)
    table["group"] = group
    table["lead"] = lead
    table["echoes"] = np.where(lead, sizes[group] - 1, 0)
    table["selected"] = selected
    return table


def _table(u: _Universe, pairs: pd.DataFrame, screen: np.ndarray, described: dict[int, ConfirmedPair]) -> pd.DataFrame:
    """One row per pair; pairs not confirmed have no p-value and no descriptive numbers."""
    first, second = pairs["u"].to_numpy(), pairs["v"].to_numpy()
    swap = np.zeros(len(pairs), dtype=bool)
    extra = pd.DataFrame(np.nan, index=pairs.index, columns=[*DESCRIBED_COLUMNS, "pvalue"], dtype="float64")
    if described:
        keys = list(described)
        extra.loc[keys, list(DESCRIBED_COLUMNS)] = np.array([described[k].numbers() for k in keys])
        extra.loc[keys, "pvalue"] = [described[k].pvalue for k in keys]
        swap[keys] = [described[k].swap for k in keys]
    # the confirmed orientation: y = u regressed on x = v unless the reverse regression rejected more strongly
    xi, yi = np.where(swap, first, second), np.where(swap, second, first)
    symbols = np.array(u.symbols, dtype=object)
    noisy = np.array([u.noise[name].noisy for name in u.symbols], dtype=bool)
    table = pd.DataFrame(
        {
            "x": symbols[xi],
            "y": symbols[yi],
            "u": first,
            "v": second,
            "start": pairs["start"].to_numpy(),
            "screen_pvalue": screen,
            "confirmed": pairs.index.isin(list(described)),
            "noisy_x": noisy[xi],
            "noisy_y": noisy[yi],
            "correlation": pairs["correlation"].to_numpy(),
            "n_bars": pairs["n_bars"].to_numpy(),
        }
    )
    return pd.concat([table, extra], axis=1)


def _check_prices(prices: Any) -> None:
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
