"""Statistical tests and descriptive statistics: ADF, Engle-Granger, Johansen, half-life, Hurst, returns,
correlations, summary statistics and distributions.

Why: the tests that judge whether a spread mean-reverts are independent of how the spread was built.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pandas as pd
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from quant import unitroot
from quant.persistence import (
    BREAK_LEVELS,
    CAUTION_LEVEL,
    RECENT_PARTS,
    ar1_ols,
    break_critical,
    break_pvalue,
    median_unbiased_ar1,
    recent_deviation,
)
from quant.results import (
    AdfResult,
    EngleGrangerResult,
    HalfLifeResult,
    HurstResult,
    JohansenResult,
    PersistenceChangeResult,
    StaticFit,
)
from quant.validation import aligned_pair, as_series, check_values, check_window
from quant.vocabulary import FLOAT_NOISE, MIN_STAT_OBS, SIGNIFICANCE, InsufficientData, LagCriterion

# ----------------------------------------------------------------------------------------------------------------
# Stationarity, cointegration, mean reversion
# ----------------------------------------------------------------------------------------------------------------

# The last-third test's tables were simulated on 1,000–10,000 bars; below BREAK_MIN_BARS its last third holds too few
# bars for its size to be known.
BREAK_MIN_BARS = 300


def _stat_input(series: Any, name: str) -> np.ndarray:
    """Finite values of a series for a statistical test, validated: leading/trailing NaN (warm-up, not yet known)
    are dropped; NaN between values is refused, since joining the two sides would invent a one-bar move."""
    s = as_series(series, name)
    check_values(s, name, MIN_STAT_OBS, allow_nan=True)
    v = s.to_numpy()
    known = np.flatnonzero(~np.isnan(v))
    inner = v[known[0] : known[-1] + 1]
    holes = np.isnan(inner)
    if holes.any():
        first = s.index[known[0] + int(np.argmax(holes))]
        raise ValueError(
            f"{name} has {int(holes.sum())} NaN values inside its sample (first at {first}); a test "
            "cannot join the two sides of a gap — fill the gap or test each contiguous piece"
        )
    return inner


def _criterion(autolag: str | None) -> LagCriterion | None:
    """The lag criterion: "MAIC" (the default), "AIC" (either case), or None for a fixed lag; others are refused."""
    if autolag is None:
        return None
    try:
        return LagCriterion(str(autolag).lower())
    except ValueError:
        raise ValueError(f"autolag must be 'MAIC', 'AIC' or None, got {autolag!r}") from None


def adf_test(series: Any, maxlag: int | None = None, autolag: str | None = "MAIC") -> AdfResult:
    """Augmented Dickey–Fuller test with constant; leading/trailing NaN (warm-up) are dropped.

    The lag is chosen by Ng & Perron's MAIC (the default; autolag="AIC" for statsmodels' plain AIC) over 0..maxlag
    (default Schwert's 12·(n/100)^¼, which grows with n and keeps the test's size under MA errors); autolag=None
    uses exactly maxlag lags. MacKinnon p-values; is_stationary means p < 0.05. For the residual of an estimated
    hedge use :func:`engle_granger`, whose critical values allow for the estimation.
    """
    v = _stat_input(series, "series")
    criterion = _criterion(autolag)
    fit = unitroot.adf_fit(v, maxlag, criterion=criterion)
    p = unitroot.pvalue(fit.statistic)
    return AdfResult(
        statistic=fit.statistic,
        pvalue=p,
        critical_values=unitroot.critical_values(fit.nobs),
        is_stationary=bool(p < SIGNIFICANCE),
        lags=fit.lags,
        nobs=fit.nobs,
        maxlag=fit.maxlag,
        autolag=criterion,
    )


def static_fit(x: pd.Series, y: pd.Series) -> StaticFit:
    """OLS y = α + β·x over the whole sample: StaticFit(beta, alpha, r_squared, residual); ValueError when y is an
    exact linear function of x (the residual is floating-point noise, so no test or trade on it means anything)."""
    xv, yv = x.to_numpy(), y.to_numpy()
    xc, yc = xv - xv.mean(), yv - yv.mean()
    sxx, syy = float(xc @ xc), float(yc @ yc)
    if sxx == 0 or syy == 0:
        raise InsufficientData(f"{'x' if sxx == 0 else 'y'} is constant over these {xv.size} bars; no hedge is defined")
    beta = float(xc @ yc) / sxx
    resid = yc - beta * xc
    r2 = 1.0 - float(resid @ resid) / syy
    scale = max(float(np.abs(yv).mean()), float(np.abs(yv).max()) * 1e-3)
    if r2 >= 1.0 - 1e-12 or float(resid.std()) <= FLOAT_NOISE * scale:
        what = (
            "x and y are the same series"
            if np.array_equal(xv, yv)
            else (
                f"y is an exact linear function of x (y ≈ {yv.mean() - beta * xv.mean():.6g} + {beta:.6g}·x, residual "
                f"std {resid.std():.3g} on prices of {scale:.3g})"
            )
        )
        raise ValueError(
            f"degenerate pair: {what}; the spread is floating-point noise, so there is nothing to test or trade"
        )
    return StaticFit(beta, float(yv.mean() - beta * xv.mean()), r2, resid)


def engle_granger(x: Any, y: Any, maxlag: int | None = None, autolag: str | None = "MAIC") -> EngleGrangerResult:
    """Engle–Granger test of y on x: ADF (no constant, the MAIC lag search of :func:`adf_test`) of the static OLS
    residual y − α − β·x, judged by MacKinnon's cointegration critical values (N=2, constant), as statsmodels coint.
    Cointegrated if p < 0.05. Also returns the static fit (beta, alpha, r_squared) the residual comes from."""
    xs, ys = aligned_pair(x, y, MIN_STAT_OBS)
    fitted = static_fit(xs, ys)
    criterion = _criterion(autolag)
    fit = unitroot.adf_fit(fitted.residual, maxlag, constant=False, criterion=criterion)
    p = unitroot.pvalue(fit.statistic, 2, nobs=len(fitted.residual))  # the tail depends on the window length
    return EngleGrangerResult(
        statistic=fit.statistic,
        pvalue=p,
        critical_values=unitroot.critical_values(len(xs) - 1, 2),
        is_cointegrated=bool(p < SIGNIFICANCE),
        nobs=len(xs),
        lags=fit.lags,
        maxlag=fit.maxlag,
        autolag=criterion,
        beta=fitted.beta,
        alpha=fitted.alpha,
        r_squared=fitted.r_squared,
    )


def _columns(df: Any, what: str, lo: int, hi: int) -> pd.DataFrame:
    """A DataFrame of lo..hi uniquely named columns, or ValueError saying what is wrong with it."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} needs a DataFrame of price columns, got {type(df).__name__}")
    dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dup:
        raise ValueError(f"{what}: duplicate column names {dup}; each series needs its own name")
    if not lo <= df.shape[1] <= hi:
        raise ValueError(f"{what} needs {lo} to {hi} series, got {df.shape[1]}")
    return df


def johansen(df: pd.DataFrame, det_order: int = 0, k_ar_diff: int = 1) -> JohansenResult:
    """Johansen trace and max-eigenvalue tests (statsmodels coint_johansen) for 2–12 price columns.

    rank = number of leading trace statistics above their 95 % critical value (sequential test). Collinear columns
    (one an exact linear combination of the others) are refused with a ValueError naming them.
    """
    _columns(df, "johansen", 2, 12)
    if det_order not in (-1, 0, 1):
        raise ValueError(f"det_order must be -1, 0 or 1, got {det_order}")
    for col in df.columns:
        check_values(as_series(df[col], str(col)), str(col), MIN_STAT_OBS + k_ar_diff + df.shape[1])
    values = df.to_numpy(dtype="float64")
    diffs = np.diff(values, axis=0)
    centred = diffs - diffs.mean(axis=0)
    sv = np.linalg.svd(centred / centred.std(axis=0), compute_uv=False)
    if sv[-1] <= 1e-8 * sv[0]:
        raise ValueError(
            f"johansen: the columns {[str(c) for c in df.columns]} are collinear (one moves as an exact "
            "linear combination of the others); drop the redundant series"
        )
    res = coint_johansen(values, det_order, k_ar_diff)
    trace, crit95 = res.lr1, res.cvt[:, 1]
    above = trace > crit95
    rank = int(np.argmin(above)) if not above.all() else len(trace)
    return JohansenResult(
        trace_stats=_floats(trace),
        crit_90=_floats(res.cvt[:, 0]),
        crit_95=_floats(crit95),
        crit_99=_floats(res.cvt[:, 2]),
        max_eig_stats=_floats(res.lr2),
        max_eig_crit_95=_floats(res.cvm[:, 1]),
        eigenvalues=_floats(res.eig),
        eigenvectors=pd.DataFrame(res.evec, index=df.columns),
        rank=rank,
        det_order=det_order,
        k_ar_diff=k_ar_diff,
        nobs=len(df),
    )


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def half_life_fit(spread: Any, *, residual: bool = True) -> HalfLifeResult:
    """Half-life of mean reversion in BARS from the AR(1) fit Δs_t = λ·s_{t−1} + μ: −ln 2 / ln φ.

    φ is the median-unbiased correction of the least-squares 1 + λ (Andrews 1993; :func:`quant.persistence.
    median_unbiased_ar1`): least squares reads a persistent spread as faster than it is (a 100-bar half-life as
    ~85 bars on 3,000 bars, ~60 on 1,000), the more so for the residual of a hedge fitted on the same bars
    (`residual`, the default: the static residual the pair's tests and the scanner fit; residual=False for a
    spread observed as is). The median estimate is then the true half-life. `bars` is inf when φ reaches 1 (the
    data cannot tell the spread from a random walk) and 0.0 when φ ≤ 0 (reverts within one bar). This is the exact
    AR(1) half-life (Chan's −ln 2/λ is its first-order approximation). Multiply by the bar length for time.
    """
    v = _stat_input(spread, "spread")
    if v[:-1].var() == 0:
        raise InsufficientData("spread is constant before its last value; the AR(1) fit is undefined")
    fitted = float(ar1_ols(v))
    phi = float(median_unbiased_ar1(fitted, v.size, residual=residual)) if fitted < 1.0 else fitted
    bars = math.inf if phi >= 1.0 else 0.0 if phi <= 0.0 else -math.log(2.0) / math.log(phi)
    return HalfLifeResult(bars=bars, ar1=min(phi, 1.0), nobs=int(v.size), ar1_ols=fitted)


def half_life(spread: Any, *, residual: bool = True) -> float:
    """:func:`half_life_fit`'s half-life in bars (inf without mean reversion)."""
    return half_life_fit(spread, residual=residual).bars


def persistence_change(x: Any, y: Any) -> PersistenceChangeResult:
    """Did the pair's spread stop mean-reverting over the last third of the window? A test whose null is "the
    spread is the same stationary AR(1) throughout", so its false-alarm rate is its level.

    The hedge y = α + β·x is fitted by OLS on the first two thirds (the formation); the statistic is how far the
    last third's spread under that hedge strays from it, relative to how far the formation's own residual did
    (mean absolute deviations: :func:`quant.persistence.recent_deviation`). A spread that stopped mean-reverting
    wanders off as a random walk does; one that did not stays within its formation's range. How far a stationary
    spread's last third may stray by chance depends on its persistence (a slow spread's last third holds few
    half-lives), so the critical value is a function of the formation's AR(1), fitted by simulation so that the
    size is 5 % at every persistence (:data:`quant.persistence.BREAK_LOG_CRIT`; measured 3–7 % on 1,000–10,000
    bars for half-lives 3–100, bench/verdict_breaks.py). `caution` is the same test at 20 %
    (:data:`quant.persistence.CAUTION_LEVEL`), the verdict's stated-rate caution. InsufficientData below
    BREAK_MIN_BARS bars."""
    xs, ys = aligned_pair(x, y, MIN_STAT_OBS)
    if len(xs) < BREAK_MIN_BARS:
        raise InsufficientData(
            f"the last-third test needs at least {BREAK_MIN_BARS:,} bars (the last third "
            f"{BREAK_MIN_BARS // RECENT_PARTS:,}); have {len(xs):,}"
        )
    static_fit(xs, ys)  # refuses a degenerate pair, as every pair test does
    xv, yv = xs.to_numpy(dtype="float64"), ys.to_numpy(dtype="float64")
    z, ratio = recent_deviation(xv, yv)
    if not np.isfinite(z) or not ratio > 0:
        raise InsufficientData("the first two thirds' residual is constant; the last-third test is undefined")
    levels = np.exp(break_critical(z))
    crit, caution = float(levels[BREAK_LEVELS.index(SIGNIFICANCE)]), float(levels[BREAK_LEVELS.index(CAUTION_LEVEL)])
    split = xv.size - xv.size // RECENT_PARTS
    return PersistenceChangeResult(
        ratio=float(ratio),
        critical_value=crit,
        pvalue=break_pvalue(z, float(ratio)),
        ended=bool(ratio > crit),
        caution_value=caution,
        caution=bool(ratio > caution),
        split=split,
        nobs=int(xv.size),
        formation_ar1=float(1.0 + z / split),
    )


def hurst_fit(series: Any, max_lag: int = 100) -> HurstResult:
    """Hurst exponent: slope of log std(s_{t+k} − s_t) on log k over ~20 log-spaced lags k in [2, max_lag].

    The AL/QuantStart estimator (2·slope of log √std) on a log-spaced lag subset for speed: 0.5 random walk,
    < 0.5 mean reverting, > 0.5 trending. Lags are capped at n/2.
    """
    v = _stat_input(series, "series")
    top = min(max_lag, v.size // 2)
    lags = np.unique(np.round(np.geomspace(2, top, 20)).astype(int)) if top > 2 else np.array([])
    if lags.size < 4:
        raise InsufficientData(f"series too short for Hurst: {v.size} values gives fewer than 4 lags")
    tau = np.array([np.std(v[k:] - v[:-k]) for k in lags])
    if (tau <= 0).any():
        raise InsufficientData("series has constant differences at some lag; Hurst is undefined")
    return HurstResult(
        exponent=float(np.polyfit(np.log(lags), np.log(tau), 1)[0]),
        lags=int(lags.size),
        max_lag=int(lags[-1]),
        nobs=int(v.size),
    )


def hurst_exponent(series: Any, max_lag: int = 100) -> float:
    """:func:`hurst_fit`'s exponent."""
    return hurst_fit(series, max_lag).exponent


# ----------------------------------------------------------------------------------------------------------------
# Correlation and distributions
# ----------------------------------------------------------------------------------------------------------------


def returns(prices: Any, log: bool = False) -> pd.Series:
    """Simple (or log) returns of a positive price series; the first bar has no return and is dropped."""
    s = as_series(prices, "prices")
    check_values(s, "prices", 2, constant_ok=True)
    if (s <= 0).any():
        raise ValueError("prices must be > 0 to compute returns")
    r = np.log(s).diff() if log else s.pct_change()
    return r.iloc[1:].rename("returns")


def rolling_correlation(s1: Any, s2: Any, window: int = 60) -> pd.Series:
    """Causal rolling Pearson correlation of simple RETURNS (not price levels) over `window` bars ending at t.

    Same index as the prices: the first `window` bars are NaN (one return is lost), as are windows where a leg
    did not move.
    """
    x, y = aligned_pair(s1, s2, 3)
    window = check_window(window, "window", len(x) - 1, minimum=3)
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("prices must be > 0 to compute returns")
    rx, ry = x.pct_change(), y.pct_change()
    vx, vy = rx.rolling(window).var(), ry.rolling(window).var()
    corr = rx.rolling(window).corr(ry).where((vx > 0) & (vy > 0))
    return corr.clip(-1.0, 1.0).rename("correlation")


def correlation_matrix(closes_df: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation matrix of simple returns for N ≥ 2 price columns (e.g. from align_closes)."""
    _columns(closes_df, "correlation_matrix", 2, 10_000)
    rets = pd.DataFrame({col: returns(closes_df[col]) for col in closes_df.columns})
    if len(rets) < 3:
        raise ValueError(f"need at least 4 bars for a correlation matrix, got {len(closes_df)}")
    flat = [str(c) for c in rets.columns if rets[c].std() == 0]
    if flat:
        raise ValueError(f"returns of {flat} are constant; correlation is undefined")
    return rets.corr()


def summary_statistics(series: Any) -> dict[str, float]:
    """Descriptive statistics (count, mean, std, quantiles, skew, excess kurtosis, first/last) of finite values."""
    s = as_series(series, "series")
    check_values(s, "series", 4, allow_nan=True)
    v = s.dropna()
    a = v.to_numpy(dtype="float64")
    q = np.quantile(a, [0.25, 0.5, 0.75])
    return {
        "count": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(a.min()),
        "p25": float(q[0]),
        "median": float(q[1]),
        "p75": float(q[2]),
        "max": float(a.max()),
        "skew": float(cast(float, v.skew())),
        "kurtosis": float(cast(float, v.kurt())),
        "first": float(a[0]),
        "last": float(a[-1]),
    }


def distribution(series: Any, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (counts, bin edges; len(edges) = bins + 1) of finite values, for price or return plots."""
    s = as_series(series, "series")
    check_values(s, "series", 1, allow_nan=True, constant_ok=True)
    bins = check_window(bins, "bins", None, minimum=1)
    return np.histogram(s.dropna().to_numpy(), bins=bins)
