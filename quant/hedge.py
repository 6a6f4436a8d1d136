"""Hedge ratios and the spread: OLS/Huber/TLS static fits, rolling and Kalman fits, spread and z-score.

Why: the hedge model is the core of a pair; everything downstream consumes its HedgeResult.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor

from quant.blas import one_blas_thread
from quant.kalman import kalman_hedge, kendall
from quant.validation import aligned_pair, as_series, check_choice, check_values, check_window
from quant.vocabulary import (
    BAND_Z,
    EXPANDING_REFIT_GROWTH,
    HEDGE_METHODS,
    KALMAN_MEMORY,
    KALMAN_WARMUP,
    RHO_CAP,
    STATIC_METHODS,
    InsufficientData,
)

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------------
# Hedge ratios
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class HedgeResult:
    """Hedge fit y ≈ alpha + beta·x: latest values, the per-bar series, a 95 % β band and the settings used."""

    method: str
    beta: float
    alpha: float
    r_squared: float | None
    std_err: float | None
    n: int
    beta_series: pd.Series
    alpha_series: pd.Series
    beta_band: tuple[pd.Series, pd.Series] | None
    params: dict[str, Any] = field(default_factory=dict)


def _ols_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Full-sample OLS with intercept via statsmodels: (beta, alpha, r_squared, HAC std_err of beta)."""
    res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    xd, e = x - x.mean(), res.resid
    factor = _lrv_factor(_ar1(xd), _ar1(e), x.size)
    return float(res.params[1]), float(res.params[0]), float(res.rsquared), float(res.bse[1]) * math.sqrt(factor)


def _ar1(v: np.ndarray) -> float:
    """First-order autocorrelation Σ v_t·v_{t−1} / Σ v_t² of a mean-zero series (0 for a constant one)."""
    denom = float(v @ v)
    return float(v[1:] @ v[:-1]) / denom if denom > 0 else 0.0


def _lrv_factor(rho_x: Any, rho_e: Any, n: Any) -> Any:
    """Long-run over short-run variance of the OLS score x̃_t·e_t when regressor and error are AR(1) with
    coefficients ρ_x, ρ_e: (1 + ρ)/(1 − ρ) with ρ = ρ_x·ρ_e clipped to [0, RHO_CAP], capped at n (Andrews 1991's
    AR(1) plug-in for a HAC standard error, each ρ bias-corrected; works on scalars and on aligned Series alike)."""
    rho = np.clip(kendall(rho_x, n) * kendall(rho_e, n), 0.0, RHO_CAP)
    return np.minimum((1.0 + rho) / (1.0 - rho), n)


def _huber_model(warm_start: bool = False) -> HuberRegressor:
    """sklearn HuberRegressor with epsilon 1.35 and no L2 penalty (alpha=0)."""
    return HuberRegressor(epsilon=1.35, alpha=0.0, max_iter=500, warm_start=warm_start)


def _huber_fit(x: np.ndarray, y: np.ndarray, model: HuberRegressor | None = None) -> tuple[float, float]:
    """Huber regression on standardised data, mapped back to price units; model may carry a warm start.

    Standardising keeps the optimiser well conditioned on raw BTC-level prices; with alpha=0 the fit is
    affine-equivariant, so the back-transformed coefficients are the raw-price Huber fit.
    """
    mx, sx, my, sy = x.mean(), x.std(), y.mean(), y.std()
    model = model or _huber_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(((x - mx) / sx)[:, None], (y - my) / sy)
    if caught:
        logger.warning("Huber regression on %d bars did not converge; using the last iterate", x.size)
    beta = float(model.coef_[0]) * sy / sx
    return beta, float(my + sy * model.intercept_ - beta * mx)


def _tls_fit(x: np.ndarray, y: np.ndarray, x0: float, y0: float) -> tuple[float, float]:
    """Total least squares by SVD on prices normalised by (x0, y0), mapped back to raw-price units.

    TLS is not scale invariant; dividing each leg by a reference price weighs both legs' percentage moves equally.
    """
    xn, yn = x / x0, y / y0
    mxn, myn = xn.mean(), yn.mean()
    _, _, vt = np.linalg.svd(np.column_stack([xn - mxn, yn - myn]), full_matrices=False)
    vx, vy = vt[-1]
    if vy == 0.0:
        raise InsufficientData("TLS line is vertical (y does not vary with x); beta is undefined")
    beta_n = -vx / vy
    return float(beta_n * y0 / x0), float((myn - beta_n * mxn) * y0)


def _moment_ols(x: pd.Series, y: pd.Series, window: int, expanding: bool) -> dict[str, pd.Series]:
    """Rolling or expanding OLS y ~ 1 + x in closed form from pandas window moments (causal, O(n)).

    Hand-written because statsmodels RollingOLS costs ~11 µs/bar; tests check it against RollingOLS. Data are
    shifted by their first values (known at every t) for numerical conditioning. A window where x is constant
    has no defined beta (NaN). std_err is HAC: the iid standard error times :func:`_lrv_factor` of the score.
    """
    xc, yc = x - x.iloc[0], y - y.iloc[0]
    wx = xc.expanding(min_periods=window) if expanding else xc.rolling(window)
    wy = yc.expanding(min_periods=window) if expanding else yc.rolling(window)
    var_x, var_y, cov = wx.var(), wy.var(), wx.cov(yc)
    count = wx.count()
    var_x = var_x.where(var_x > 0)
    beta = cov / var_x
    mean_x = wx.mean()
    alpha = (wy.mean() + y.iloc[0]) - beta * (mean_x + x.iloc[0])
    resid_ss = ((var_y - beta * cov) * (count - 1)).clip(lower=0.0)
    rho_x, rho_e = _window_ar1(xc, yc, mean_x, wy.mean(), beta, resid_ss, count, window, expanding)
    std_err = np.sqrt(resid_ss / (count - 2) * _lrv_factor(rho_x, rho_e.fillna(0.0), count) / (var_x * (count - 1)))
    r_squared = (cov * cov / (var_x * var_y.where(var_y > 0))).clip(upper=1.0)
    return {"beta": beta, "alpha": alpha, "std_err": std_err, "r_squared": r_squared}


def _window_ar1(
    xc: pd.Series,
    yc: pd.Series,
    mean_x: pd.Series,
    mean_y: pd.Series,
    beta: pd.Series,
    resid_ss: pd.Series,
    count: pd.Series,
    window: int,
    expanding: bool,
) -> tuple[pd.Series, pd.Series]:
    """AR(1) coefficients of the demeaned regressor and of the residual of each window's fit, over the lag pairs
    inside the window, from window sums (O(n)): Σ(x_s − x̄)(x_{s−1} − x̄) and Σ e_s·e_{s−1} expanded in sums of
    x, y and their lag products."""
    xl, yl = xc.shift(1), yc.shift(1)

    def pair_sum(v: pd.Series) -> pd.Series:  # over s − 1, s both in the window
        return v.fillna(0.0).expanding(min_periods=window).sum() if expanding else v.rolling(window - 1).sum()

    wsum = (lambda v: v.expanding(min_periods=window).sum()) if expanding else (lambda v: v.rolling(window).sum())
    first_x = xc.iloc[0] if expanding else xc.shift(window - 1)
    first_y = yc.iloc[0] if expanding else yc.shift(window - 1)
    sx, sy = wsum(xc), wsum(yc)
    ax, bx = sx - first_x, sx - xc  # Σ x_s and Σ x_{s−1} over the pairs
    ay, by = sy - first_y, sy - yc
    pxx, pyy, pyx, pxy = pair_sum(xc * xl), pair_sum(yc * yl), pair_sum(yc * xl), pair_sum(xc * yl)
    pairs = count - 1
    a = mean_y - beta * mean_x  # the window's intercept in centred units
    x_lag = pxx - mean_x * (ax + bx) + pairs * mean_x * mean_x
    x_var = wsum(xc * xc) - count * mean_x * mean_x
    e_lag = pyy - beta * (pyx + pxy) + beta * beta * pxx - a * (ay + by) + a * beta * (ax + bx) + pairs * a * a
    return x_lag / x_var.where(x_var > 0), e_lag / resid_ss.where(resid_ss > 0)


def _refit_points(start: int, n: int) -> list[int]:
    """Geometric refit schedule: sample sizes start, ceil(start·g), ... up to n, independent of n otherwise."""
    points, c = [], start
    while c <= n:
        points.append(c)
        c = max(c + 1, math.ceil(c * EXPANDING_REFIT_GROWTH))
    return points


def _scheduled_expanding(
    fit: Callable[[np.ndarray, np.ndarray], tuple[float, float]], x: pd.Series, y: pd.Series, window: int
) -> tuple[pd.Series, pd.Series, int]:
    """Causal expanding fit refitted on the geometric schedule and forward-filled; returns (beta, alpha, refits)."""
    xv, yv = x.to_numpy(), y.to_numpy()
    beta, alpha = np.full(xv.size, np.nan), np.full(xv.size, np.nan)
    points = _refit_points(window, xv.size)
    for c in points:
        xs, ys = xv[:c], yv[:c]
        if xs.min() == xs.max() or ys.min() == ys.max():
            continue
        beta[c - 1], alpha[c - 1] = fit(xs, ys)
    return (pd.Series(beta, index=x.index).ffill(), pd.Series(alpha, index=x.index).ffill(), len(points))


def _band(beta: pd.Series, std_err: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The 95 % confidence band β ± 1.96·s.e."""
    return (beta - BAND_Z * std_err).rename("beta_lower"), (beta + BAND_Z * std_err).rename("beta_upper")


def _last_valid(s: pd.Series, what: str) -> float:
    """Latest non-NaN value of s, or ValueError when there is none."""
    valid = s.dropna()
    if valid.empty:
        raise InsufficientData(f"{what} is undefined on every bar (x constant in every window)")
    return float(valid.iloc[-1])


def _fit_kalman(xs: pd.Series, ys: pd.Series, window: int, memory: int) -> HedgeResult:
    """Kalman hedge (quant.kalman): noise estimated on the first max(window, KALMAN_WARMUP) bars, then filtered."""
    warmup = max(window, KALMAN_WARMUP)
    path = kalman_hedge(xs.to_numpy(), ys.to_numpy(), warmup=warmup, memory=memory)
    beta = pd.Series(path.beta, index=xs.index, name="beta")
    se = pd.Series(path.beta_se, index=xs.index)
    n = path.noise
    params = {
        "method": "kalman",
        "warmup": warmup,
        "memory": memory,
        "phi": n.phi,
        "obs_var": n.obs_var,
        "q_beta": n.q_beta,
        "q_alpha": n.q_alpha,
        "units": "filtered on prices standardised by the warm-up; outputs in raw prices",
    }
    return HedgeResult(
        "kalman",
        float(path.beta[-1]),
        float(path.alpha[-1]),
        None,
        float(path.beta_se[-1]),
        len(xs),
        beta,
        pd.Series(path.alpha, index=xs.index, name="alpha"),
        _band(beta, se),
        params,
    )


def _fit_rolling(xs: pd.Series, ys: pd.Series, window: int) -> HedgeResult:
    """Rolling OLS over the trailing `window` bars (t included); latest valid values and a 95 % HAC band."""
    mom = _moment_ols(xs, ys, window, expanding=False)
    beta = mom["beta"].rename("beta")
    return HedgeResult(
        "rolling",
        _last_valid(beta, "beta"),
        _last_valid(mom["alpha"], "alpha"),
        _last_valid(mom["r_squared"], "rolling R²"),
        _last_valid(mom["std_err"], "standard error"),
        len(xs),
        beta,
        mom["alpha"].rename("alpha"),
        _band(beta, mom["std_err"]),
        {"method": "rolling", "window": window, "units": "raw prices"},
    )


def _fit_static(xs: pd.Series, ys: pd.Series, method: str, window: int, causal: bool) -> HedgeResult:
    """Full-sample ols/huber/tls fit plus its series: expanding (causal) or the fit repeated (in-sample)."""
    xv, yv = xs.to_numpy(), ys.to_numpy()
    r_squared = std_err = None
    params: dict[str, Any] = {"method": method, "causal": causal, "units": "raw prices"}
    if method == "ols":
        beta, alpha, r_squared, std_err = _ols_fit(xv, yv)
    elif method == "huber":
        beta, alpha = _huber_fit(xv, yv)
    else:
        if xv[0] <= 0 or yv[0] <= 0:
            raise ValueError("tls normalises each leg by its first price, which must be > 0")
        beta, alpha = _tls_fit(xv, yv, xv[0], yv[0])
        params["units"] = "fitted on x/x0 and y/y0; outputs in raw prices"
    band = None
    if not causal:
        beta_s, alpha_s = pd.Series(beta, index=xs.index), pd.Series(alpha, index=xs.index)
        if std_err is not None:
            band = _band(beta_s, pd.Series(std_err, index=xs.index))
        params["note"] = "in-sample: the series repeat the full-sample fit (uses the future)"
    elif method == "ols":
        mom = _moment_ols(xs, ys, window, expanding=True)
        beta_s, alpha_s = mom["beta"], mom["alpha"]
        band = _band(beta_s, mom["std_err"])
        params.update(window=window, series="expanding OLS from `window` bars, exact per bar")
    else:
        warm = _huber_model(warm_start=True)
        fitter = (
            (lambda xa, ya: _huber_fit(xa, ya, warm))
            if method == "huber"
            else (lambda xa, ya: _tls_fit(xa, ya, xv[0], yv[0]))
        )
        beta_s, alpha_s, refits = _scheduled_expanding(fitter, xs, ys, window)
        params.update(
            window=window,
            refits=refits,
            refit_growth=EXPANDING_REFIT_GROWTH,
            series="expanding fit refitted on a geometric schedule, forward-filled",
        )
    if causal:  # the tiles show the (β, α) the latest spread point uses, not the full-sample fit
        params.update(full_sample_beta=beta, full_sample_alpha=alpha)
        beta, alpha = _last_valid(beta_s, "beta"), _last_valid(alpha_s, "alpha")
        if band is not None:
            std_err = float((band[1].iloc[-1] - band[0].iloc[-1]) / (2 * BAND_Z))
    return HedgeResult(
        method, beta, alpha, r_squared, std_err, len(xs), beta_s.rename("beta"), alpha_s.rename("alpha"), band, params
    )


@one_blas_thread
def fit_hedge(
    x: Any, y: Any, method: str = "ols", *, window: int = 60, memory: int = KALMAN_MEMORY, causal: bool = True
) -> HedgeResult:
    """Fit y ≈ alpha + beta·x (x independent, y dependent) by ols, huber, tls, rolling or kalman.

    * ols / huber / tls: with ``causal=True`` the series is an expanding fit known at each bar and ``beta``/``alpha``
      are its latest values, the ones the latest spread point uses (the full-sample fit is in ``params``); NaN for
      the first window−1 bars (OLS exact per bar; huber/tls
      refitted on the geometric schedule of :data:`EXPANDING_REFIT_GROWTH`, huber warm-started from the previous
      refit). With ``causal=False`` the series repeats the full-sample fit (in-sample, look-ahead: research only).
    * rolling: OLS over the trailing ``window`` bars ending at t (t included); R² of the last window.
    * kalman: filtered state (quant.kalman) with its noise estimated on the first max(window, KALMAN_WARMUP) bars,
      forgetting within ``memory`` bars at most; NaN during the warm-up.
    Bands are 95 % intervals: HAC standard errors for OLS/rolling, the filter's √P_ββ for Kalman.
    """
    method = check_choice(method, "hedge method", HEDGE_METHODS)
    uses_window = method in ("rolling", "kalman") or (method in STATIC_METHODS and causal)
    min_n = check_window(window, "window", None, minimum=3) if uses_window else 3
    xs, ys = aligned_pair(x, y, min_n)
    if method == "kalman":
        return _fit_kalman(xs, ys, window, memory)
    if method == "rolling":
        return _fit_rolling(xs, ys, window)
    return _fit_static(xs, ys, method, window, causal)


def calculate_hedge_ratio(
    price1: Any, price2: Any, method: str = "kalman", window: int | None = None
) -> tuple[float, float]:
    """Seed API: (ratio, intercept) with price2 ≈ intercept + ratio·price1; latest values for dynamic methods."""
    res = fit_hedge(price1, price2, method, window=60 if window is None else window, causal=False)
    return res.beta, res.alpha


def hedge_series(price1: Any, price2: Any, method: str = "kalman", **kw: Any) -> tuple[pd.Series, pd.Series]:
    """Full causal (beta, alpha) series for price2 ≈ alpha + beta·price1 (see :func:`fit_hedge` for keywords)."""
    res = fit_hedge(price1, price2, method, **kw)
    return res.beta_series, res.alpha_series


# ----------------------------------------------------------------------------------------------------------------
# Spread and z-score
# ----------------------------------------------------------------------------------------------------------------


def calculate_spread(
    price1: Any, price2: Any, hedge_ratio: float | pd.Series, intercept: float | pd.Series = 0.0
) -> pd.Series:
    """Spread = price2 − (intercept + hedge_ratio·price1) (price1 independent); ratio/intercept scalar or Series.

    This corrects the seed, which computed price1 − ratio·price2 against its own regression's orientation.
    """
    x, y = aligned_pair(price1, price2, 1, constant_ok=True)
    terms: dict[str, float | pd.Series] = {}
    for name, value in (("hedge_ratio", hedge_ratio), ("intercept", intercept)):
        if isinstance(value, pd.Series):
            if not value.index.equals(x.index):
                raise ValueError(f"{name} series is misaligned with the prices (different index)")
            terms[name] = value.astype("float64")
        elif np.ndim(value) == 0 and np.isfinite(value):
            terms[name] = float(value)
        else:
            raise ValueError(f"{name} must be a finite scalar or a Series aligned with the prices, got {value!r}")
    return (y - (terms["intercept"] + terms["hedge_ratio"] * x)).rename("spread")


def calculate_zscore(series: Any, window: int = 60) -> pd.Series:
    """Causal rolling z-score: (s_t − mean)/std over the `window` bars ending at t (ddof=1).

    The first window−1 bars, windows containing NaN (e.g. hedge warm-up) and flat windows (std 0) are NaN.
    """
    s = as_series(series, "series")
    check_values(s, "series", 2, allow_nan=True)
    window = check_window(window, "window", int(s.notna().sum()))
    roll = s.rolling(window)
    std = roll.std()
    return ((s - roll.mean()) / std.where(std > 0)).rename("zscore")
