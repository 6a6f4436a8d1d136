"""Pure analytics for the Binance Analytics Platform: bars, hedge ratios, pair statistics and a pairs backtest.

Conventions (binding for every function below):

* Time: pandas objects are indexed by a tz-aware UTC ``DatetimeIndex`` named ``"time"``; bars are stamped at their
  OPEN time on exchange time (``T`` of a trade). Epoch-ms columns are converted with :func:`to_time_index`.
* Pairs: ``x`` (alias ``price1``) is the independent leg, ``y`` (alias ``price2``) the dependent leg, and
  ``y ≈ alpha + beta·x``. Every spread in this module is ``y − (alpha + beta·x)``; a long spread is long ``y`` and
  short ``beta`` units of ``x``.
* Causality: every series marked *causal* has, at bar t, a value computed from bars ``≤ t`` only. Hedge ratios used
  by the backtest are causal (rolling, Kalman filter, or an expanding fit); a fit on the whole sample exists only as
  the explicitly labelled in-sample option.
* Bad input (too short, constant, all-NaN, misaligned, unknown option) raises ``ValueError`` saying what is wrong.

Library choices: statsmodels (OLS, adfuller, coint, coint_johansen), scikit-learn (HuberRegressor), numpy (SVD).
Hand-written, because no library does them well here: the rolling/expanding single-regressor OLS (closed form on
pandas rolling moments; statsmodels RollingOLS needs ~1 s for 86,400 bars), the Kalman filter loop (pykalman is
~50x slower) and the backtest state machine.
"""

from __future__ import annotations

import enum
import logging
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor
from statsmodels.tools.sm_exceptions import CollinearityWarning
from statsmodels.tsa.stattools import adfuller, coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from core.vocabulary import Timeframe

logger = logging.getLogger(__name__)

TIMEFRAMES: dict[str, int] = {tf.value: tf.seconds for tf in Timeframe}


class InsufficientData(ValueError):
    """The data cannot support the result yet (too few bars, a constant series, no common bar times): an expected
    state of a live window, shown to the user as "not enough data", unlike a ValueError from bad arguments."""


class HedgeMethod(enum.StrEnum):
    """How the hedge ratio is fitted (the dashboard lists them in this order)."""

    KALMAN = "kalman"
    ROLLING = "rolling"
    TLS = "tls"
    OLS = "ols"
    HUBER = "huber"

    @property
    def is_static(self) -> bool:
        """One (β, α) for the whole sample (refitted on an expanding window when causal), not a dynamic series."""
        return self in (HedgeMethod.OLS, HedgeMethod.HUBER, HedgeMethod.TLS)


class AlertOp(enum.StrEnum):
    """Conditions an alert rule can test; `label` is what the user reads."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"

    @property
    def label(self) -> str:
        return {">=": "≥", "<=": "≤", "crosses_above": "crosses above",
                "crosses_below": "crosses below"}.get(self.value, self.value)


class AlertMetric(enum.StrEnum):
    """What an alert rule watches; `label` is what the user reads."""

    ZSCORE = "zscore"
    SPREAD = "spread"
    PRICE = "price"

    @property
    def label(self) -> str:
        return {"zscore": "z-score of a pair", "spread": "spread of a pair", "price": "price of a symbol"}[self.value]


HEDGE_METHODS: tuple[str, ...] = tuple(HedgeMethod)
STATIC_METHODS: tuple[str, ...] = tuple(m for m in HedgeMethod if m.is_static)
ALERT_OPS: tuple[str, ...] = tuple(AlertOp)

# Kalman defaults, in NORMALISED price units (each leg divided by its first price, so both start at 1.0):
# obs_var = 1e-6 is a residual standard deviation of 0.1 % of price; delta = 1e-12 gives a state noise
# Vw = delta/(1-delta) per bar per state, i.e. Vw/obs_var = 1e-6 and an adaptation memory of roughly
# sqrt(obs_var/Vw) ≈ 1,000 bars, slow enough not to absorb a spread with a half-life of ~100 bars. Raise delta to
# adapt faster (Chan's delta=1e-4, Ve=1e-3 on raw ~$100 prices is a memory of a few bars), lower it for a steadier
# hedge. Only the ratio Vw/obs_var and the price units matter for beta; obs_var alone scales the band.
KALMAN_DELTA = 1e-12
KALMAN_OBS_VAR = 1e-6
KALMAN_PRIOR_VAR = 1.0  # P0 = I in normalised units: diffuse relative to beta ≈ 1; prior mean [0, 0] (Chan).

# Static robust/orthogonal fits are refitted causally on a geometric schedule: fit on bars [0, c) at
# c = window, ceil(window·g), ceil(window·g²), ... and forward-filled, so the value at bar t omits at most the
# last (1 − 1/g)·t bars (20 % of the history for g = 1.25; ~33 refits for 86,400 bars).
# The schedule does not depend on the sample length, so truncating the future never changes earlier values.
EXPANDING_REFIT_GROWTH = 1.25

# Unit-root tests: AIC lag search over 0..maxlag with maxlag = min(Schwert's 12·(n/100)^¼, AUTOLAG_BUDGET // n),
# so the search costs at most ~AUTOLAG_BUDGET row-regressions: Schwert's rule up to ~3,000 bars, 10 lags at 10,000,
# 1 lag at 86,400 1s bars (~40 ms per test). MacKinnon p-values stay valid for the selected lag (few lags suffice
# for 1s spreads, whose differences are close to white noise); pass maxlag explicitly for a wider search.
AUTOLAG_BUDGET = 100_000
MIN_STAT_OBS = 20
SIGNIFICANCE = 0.05

SECONDS_PER_YEAR = 365 * 86_400  # 24/7 markets: 365 days, as vectorbt's year_freq="365 days".


# ----------------------------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------------------------

def _series(values: Any, name: str) -> pd.Series:
    """Return values as a float64 Series, or raise ValueError naming the argument."""
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"{name} must be a 1-D series, got a DataFrame with columns {list(values.columns)}")
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {s.ndim} dimensions")
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        raise ValueError(f"{name} must be numeric, got dtype {s.dtype}")
    return s.astype("float64")


def _check_values(s: pd.Series, name: str, min_n: int, *, allow_nan: bool = False, constant_ok: bool = False) -> None:
    """Raise ValueError when s is empty, all-NaN, has inf (or NaN unless allowed), is too short or constant."""
    v = s.to_numpy()
    if v.size == 0:
        raise ValueError(f"{name} is empty")
    nan = np.isnan(v)
    n_nan = int(nan.sum())
    if n_nan == v.size:
        raise ValueError(f"{name} is all NaN ({v.size} values)")
    if np.isinf(v).any():
        raise ValueError(f"{name} contains ±inf values")
    if n_nan and not allow_nan:
        raise ValueError(f"{name} contains {n_nan} NaN values of {v.size}; drop them or align the inputs first")
    if v.size - n_nan < min_n:
        raise ValueError(f"{name} is too short: {v.size - n_nan} finite values, need at least {min_n}")
    if not constant_ok and np.nanmax(v) == np.nanmin(v):
        raise ValueError(f"{name} is constant (every value is {np.nanmax(v)!r}); the statistic is undefined")


def _check_index(index: pd.Index, name: str) -> None:
    """Raise ValueError when a time index is unsorted or has duplicate stamps."""
    if isinstance(index, pd.DatetimeIndex):
        if not index.is_monotonic_increasing:
            raise ValueError(f"{name} has an unsorted time index; sort it first")
        if index.has_duplicates:
            raise ValueError(f"{name} has duplicate time stamps; one bar per time is required")


def _pair(x: Any, y: Any, min_n: int, constant_ok: bool = False) -> tuple[pd.Series, pd.Series]:
    """Validate an aligned (x, y) price pair and return float64 Series sharing one index."""
    for name, values in (("x", x), ("y", y)):
        if isinstance(values, pd.DataFrame):
            _series(values, name)
    if isinstance(x, pd.Series) and not isinstance(y, pd.Series) and len(np.asarray(y)) == len(x):
        y = pd.Series(np.asarray(y), index=x.index)
    elif isinstance(y, pd.Series) and not isinstance(x, pd.Series) and len(np.asarray(x)) == len(y):
        x = pd.Series(np.asarray(x), index=y.index)
    xs, ys = _series(x, "x"), _series(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"x and y are misaligned: lengths {len(xs)} and {len(ys)}; join them on common bar times "
                         "first (align_closes)")
    if not xs.index.equals(ys.index):
        raise ValueError("x and y are misaligned: their indexes differ; join them on common bar times first "
                         "(align_closes)")
    _check_index(xs.index, "x")
    _check_values(xs, "x", min_n, constant_ok=constant_ok)
    _check_values(ys, "y", min_n, constant_ok=constant_ok)
    return xs, ys


def _check_window(window: Any, name: str, n: int | None, minimum: int = 2) -> int:
    """Return window as int, or raise ValueError when it is not an integer in [minimum, n] (n=None: no cap)."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {window!r}")
    if window < minimum or (n is not None and window > n):
        cap = f" <= {n} (number of bars)" if n is not None else ""
        raise ValueError(f"{name}={window} is out of range: need {name} >= {minimum}{cap}")
    return int(window)


def _check_choice(value: Any, name: str, accepted: tuple[str, ...]) -> str:
    """Return value when it is one of accepted, else raise ValueError listing the accepted values."""
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(accepted)}")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Bars
# ----------------------------------------------------------------------------------------------------------------

def to_time_index(df: pd.DataFrame, col: str = "timestamp") -> pd.DataFrame:
    """Turn an epoch-ms column into a sorted tz-aware UTC DatetimeIndex named "time" (the column is dropped)."""
    if col not in df.columns:
        raise ValueError(f"column {col!r} not found; columns are {list(df.columns)}")
    ts = df[col]
    if not pd.api.types.is_integer_dtype(ts.dtype):
        if not pd.api.types.is_float_dtype(ts.dtype) or ts.isna().any() or (ts % 1 != 0).any():
            raise ValueError(f"column {col!r} must hold integer epoch milliseconds, got dtype {ts.dtype}")
    index = pd.DatetimeIndex(pd.to_datetime(ts.to_numpy(dtype="int64"), unit="ms", utc=True), name="time")
    out = df.drop(columns=col).set_axis(index, axis=0)
    return out if index.is_monotonic_increasing else out.sort_index(kind="mergesort")


def _utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Return index in UTC (naive stamps are taken as UTC) named "time"."""
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.rename("time")


def _tick_frame(tick_df: pd.DataFrame) -> pd.DataFrame:
    """Return ticks indexed by UTC time with float price and size columns, validated and sorted."""
    if not isinstance(tick_df, pd.DataFrame):
        raise ValueError(f"ticks must be a DataFrame, got {type(tick_df).__name__}")
    missing = {"price", "size"} - set(tick_df.columns)
    if missing:
        raise ValueError(f"ticks lack columns {sorted(missing)}; need price and size")
    if "symbol" in tick_df.columns and tick_df["symbol"].nunique() > 1:
        raise ValueError(f"ticks hold several symbols {sorted(tick_df['symbol'].unique())}; resample one at a time")
    if isinstance(tick_df.index, pd.DatetimeIndex):
        ticks = tick_df.set_axis(_utc_index(tick_df.index), axis=0)
    elif "timestamp" in tick_df.columns:
        ts = tick_df["timestamp"]
        if pd.api.types.is_numeric_dtype(ts.dtype):
            ticks = to_time_index(tick_df, "timestamp")
        else:
            index = pd.DatetimeIndex(pd.to_datetime(ts, utc=True, format="ISO8601"))
            ticks = tick_df.drop(columns="timestamp").set_axis(_utc_index(index), axis=0)
    else:
        raise ValueError("ticks need a DatetimeIndex or a 'timestamp' column (epoch ms)")
    if ticks.empty:
        raise ValueError("ticks are empty")
    price = _series(ticks["price"], "price")
    size = _series(ticks["size"], "size")
    _check_values(price, "price", 1, constant_ok=True)
    _check_values(size, "size", 1, constant_ok=True)
    if (price <= 0).any():
        raise ValueError(f"price must be > 0; {int((price <= 0).sum())} ticks are not")
    if (size < 0).any():
        raise ValueError(f"size must be >= 0; {int((size < 0).sum())} ticks are negative")
    out = pd.DataFrame({"price": price, "size": size})
    return out if out.index.is_monotonic_increasing else out.sort_index(kind="mergesort")


def _rule(timeframe: str) -> str:
    """Validate a timeframe string and return it as a pandas rule."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}; accepted: {', '.join(TIMEFRAMES)}")
    return timeframe


def _finish_bars(agg: pd.DataFrame, empty: np.ndarray, fill: bool) -> pd.DataFrame:
    """Drop empty intervals, or forward-fill them flat at the last close with zero volume and filled=True."""
    if not fill:
        out = agg.loc[~empty].copy()
        out["filled"] = False
    else:
        out = agg.copy()
        close = out["close"].ffill()
        for col in ("open", "high", "low", "close", "vwap"):
            out[col] = out[col].where(~empty, close)
        out.loc[empty, ["volume", "trades"]] = 0
        out["filled"] = empty
    out.index = out.index.rename("time")
    return out[["open", "high", "low", "close", "volume", "trades", "vwap", "filled"]]


def resample_ohlcv(tick_df: pd.DataFrame, timeframe: str = "1min", fill: bool = False) -> pd.DataFrame:
    """Aggregate trades into OHLCV bars stamped at OPEN time (UTC, epoch-aligned), with trades and VWAP.

    Empty intervals are absent (``fill=False``) or present flat at the previous close with zero volume and
    ``filled=True`` (``fill=True``); :func:`fill_fraction` reports their share. VWAP of a filled bar is that close.
    """
    rule = _rule(timeframe)
    ticks = _tick_frame(tick_df)
    ticks["notional"] = ticks["price"] * ticks["size"]
    grouped = ticks.resample(rule, label="left", closed="left", origin="epoch")
    agg = grouped["price"].ohlc()
    agg["volume"] = grouped["size"].sum()
    agg["trades"] = grouped["price"].count().astype("int64")
    notional = grouped["notional"].sum()
    agg["vwap"] = (notional / agg["volume"]).where(agg["volume"] > 0, agg["close"])
    return _finish_bars(agg, agg["trades"].to_numpy() == 0, fill)


def resample_bars(bars: pd.DataFrame, timeframe: str, fill: bool = False) -> pd.DataFrame:
    """Re-aggregate finer bars into a coarser timeframe; same columns and conventions as :func:`resample_ohlcv`.

    Input columns: open, high, low, close, volume, optional trades, quote_volume and filled (filled input bars are
    ignored). VWAP is quote_volume/volume when quote_volume is present, else the volume-weighted close; ``trades``
    is a nullable Int64 column that is <NA> when the input has no trade counts.
    """
    rule = _rule(timeframe)
    missing = {"open", "high", "low", "close", "volume"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars lack columns {sorted(missing)}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("bars need a DatetimeIndex stamped at bar open time (see to_time_index)")
    if bars.empty:
        raise ValueError("bars are empty")
    src = bars.set_axis(_utc_index(bars.index), axis=0)
    _check_index(src.index, "bars")
    if "filled" in src.columns:
        src = src.loc[~src["filled"].astype(bool)]
        if src.empty:
            raise ValueError("every input bar is filled (synthetic); there is nothing to aggregate")
    if len(src) > 1:
        step = pd.Series(src.index).diff().min()
        if step > pd.Timedelta(seconds=TIMEFRAMES[timeframe]):
            raise ValueError(f"cannot resample {step} bars into finer {timeframe} bars")
    has_trades = "trades" in src.columns
    weight = src["quote_volume"] if "quote_volume" in src.columns else src["close"] * src["volume"]
    work = pd.DataFrame({"open": src["open"], "high": src["high"], "low": src["low"], "close": src["close"],
                         "volume": src["volume"], "weight": weight, "trades": src["trades"] if has_trades else 0})
    grouped = work.resample(rule, label="left", closed="left", origin="epoch")
    agg = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
                       "weight": "sum", "trades": "sum"})
    agg["vwap"] = (agg["weight"] / agg["volume"]).where(agg["volume"] > 0, agg["close"])
    agg["trades"] = agg["trades"].astype("Int64") if has_trades else pd.array([pd.NA] * len(agg), dtype="Int64")
    empty = grouped["close"].count().to_numpy() == 0
    return _finish_bars(agg.drop(columns="weight"), empty, fill)


def fill_fraction(bars: pd.DataFrame) -> float:
    """Share of bars that are synthetic (filled=True), for the data-quality badge."""
    if "filled" not in bars.columns:
        raise ValueError("bars have no 'filled' column; produce them with resample_ohlcv/resample_bars")
    if bars.empty:
        raise ValueError("bars are empty")
    return float(bars["filled"].astype(bool).mean())


def align_closes(bars_by_symbol: dict[str, pd.DataFrame], min_volume: float = 0.0) -> pd.DataFrame:
    """Closes of several symbols joined on common bar times; bars with volume < min_volume are dropped first."""
    if not bars_by_symbol:
        raise ValueError("no symbols given")
    if min_volume < 0:
        raise ValueError(f"min_volume must be >= 0, got {min_volume}")
    closes = {}
    for symbol, bars in bars_by_symbol.items():
        if "close" not in bars.columns or (min_volume > 0 and "volume" not in bars.columns):
            raise ValueError(f"bars for {symbol} need 'close' (and 'volume' for the liquidity filter) columns")
        if not isinstance(bars.index, pd.DatetimeIndex):
            raise ValueError(f"bars for {symbol} need a DatetimeIndex")
        kept = bars.loc[bars["volume"] >= min_volume] if min_volume > 0 else bars
        if kept.empty:
            raise ValueError(f"no bars for {symbol} with volume >= {min_volume}")
        closes[symbol] = kept["close"].set_axis(_utc_index(kept.index), axis=0)
    out = pd.concat(closes, axis=1, join="inner").sort_index()
    if out.empty:
        raise ValueError(f"symbols {list(bars_by_symbol)} share no bar times")
    out.index = out.index.rename("time")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Hedge ratios
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class HedgeResult:
    """Hedge fit y ≈ alpha + beta·x: latest values, optional series, a ±2σ beta band and the settings used."""

    method: str
    beta: float
    alpha: float
    r_squared: float | None
    std_err: float | None
    n: int
    beta_series: pd.Series | None
    alpha_series: pd.Series | None
    beta_band: tuple[pd.Series, pd.Series] | None
    params: dict[str, Any] = field(default_factory=dict)


def _ols_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Full-sample OLS with intercept via statsmodels: (beta, alpha, r_squared, std_err of beta)."""
    res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    return float(res.params[1]), float(res.params[0]), float(res.rsquared), float(res.bse[1])


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
        raise ValueError("TLS line is vertical (y does not vary with x); beta is undefined")
    beta_n = -vx / vy
    return float(beta_n * y0 / x0), float((myn - beta_n * mxn) * y0)


def _moment_ols(x: pd.Series, y: pd.Series, window: int, expanding: bool) -> dict[str, pd.Series]:
    """Rolling or expanding OLS y ~ 1 + x in closed form from pandas window moments (causal, O(n)).

    Hand-written because statsmodels RollingOLS costs ~11 µs/bar; tests check it against RollingOLS. Data are
    shifted by their first values (known at every t) for numerical conditioning. A window where x is constant
    has no defined beta (NaN).
    """
    xc, yc = x - x.iloc[0], y - y.iloc[0]
    wx = xc.expanding(min_periods=window) if expanding else xc.rolling(window)
    wy = yc.expanding(min_periods=window) if expanding else yc.rolling(window)
    var_x, var_y, cov = wx.var(), wy.var(), wx.cov(yc)
    count = wx.count()
    var_x = var_x.where(var_x > 0)
    beta = cov / var_x
    alpha = (wy.mean() + y.iloc[0]) - beta * (wx.mean() + x.iloc[0])
    resid_var = ((var_y - beta * cov) * (count - 1) / (count - 2)).clip(lower=0.0)
    std_err = np.sqrt(resid_var / (var_x * (count - 1)))
    r_squared = (cov * cov / (var_x * var_y.where(var_y > 0))).clip(upper=1.0)
    return {"beta": beta, "alpha": alpha, "std_err": std_err, "r_squared": r_squared}


def _refit_points(start: int, n: int) -> list[int]:
    """Geometric refit schedule: sample sizes start, ceil(start·g), ... up to n, independent of n otherwise."""
    points, c = [], start
    while c <= n:
        points.append(c)
        c = max(c + 1, math.ceil(c * EXPANDING_REFIT_GROWTH))
    return points


def _scheduled_expanding(fit: Callable[[np.ndarray, np.ndarray], tuple[float, float]], x: pd.Series, y: pd.Series,
                         window: int) -> tuple[pd.Series, pd.Series, int]:
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


def _kalman_filter(xn: np.ndarray, yn: np.ndarray, delta: float, obs_var: float,
                   prior_var: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman FILTER (never smoother) for state [beta, alpha], random-walk transition, y_t = beta·x_t + alpha + v.

    E. Chan's recursion with Vw = delta/(1−delta)·I and Ve = obs_var, prior mean 0 and P0 = prior_var·I.
    Hand-written with unrolled scalar arithmetic on the symmetric 2x2 covariance (~0.7 µs/bar; pykalman ~250 µs).
    Returns the posterior beta, alpha and var(beta) at every bar.
    """
    q = delta / (1.0 - delta)
    b = a = 0.0
    p00 = p11 = prior_var
    p01 = 0.0
    n = xn.size
    betas, alphas, beta_vars = [0.0] * n, [0.0] * n, [0.0] * n
    for i, (f, obs) in enumerate(zip(xn.tolist(), yn.tolist())):
        r00, r11 = p00 + q, p11 + q
        g0, g1 = r00 * f + p01, p01 * f + r11  # R·Fᵀ
        qv = f * g0 + g1 + obs_var  # innovation variance F·R·Fᵀ + Ve
        e = obs - b * f - a
        k0, k1 = g0 / qv, g1 / qv
        b += k0 * e
        a += k1 * e
        p00, p01, p11 = r00 - k0 * g0, p01 - k0 * g1, r11 - k1 * g1  # P = R − K·F·R
        betas[i], alphas[i], beta_vars[i] = b, a, p00
    return np.array(betas), np.array(alphas), np.array(beta_vars)


def _band(beta: pd.Series, std_err: pd.Series) -> tuple[pd.Series, pd.Series]:
    """±2σ beta band."""
    return (beta - 2.0 * std_err).rename("beta_lower"), (beta + 2.0 * std_err).rename("beta_upper")


def _last_valid(s: pd.Series, what: str) -> float:
    """Latest non-NaN value of s, or ValueError when there is none."""
    valid = s.dropna()
    if valid.empty:
        raise ValueError(f"{what} is undefined on every bar (x constant in every window)")
    return float(valid.iloc[-1])


def _fit_kalman(xs: pd.Series, ys: pd.Series, delta: float, obs_var: float) -> HedgeResult:
    """Kalman hedge on prices normalised by their first values; outputs mapped back to raw-price units."""
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if obs_var <= 0:
        raise ValueError(f"obs_var must be > 0, got {obs_var}")
    x0, y0 = float(xs.iloc[0]), float(ys.iloc[0])
    if x0 <= 0 or y0 <= 0:
        raise ValueError("kalman normalises each leg by its first price, which must be > 0")
    beta_n, alpha_n, beta_var = _kalman_filter(xs.to_numpy() / x0, ys.to_numpy() / y0, delta, obs_var,
                                               KALMAN_PRIOR_VAR)
    scale = y0 / x0  # y = y0·(beta_n·x/x0 + alpha_n)  =>  beta = beta_n·y0/x0, alpha = alpha_n·y0
    beta = pd.Series(beta_n * scale, index=xs.index, name="beta")
    se = pd.Series(np.sqrt(beta_var) * scale, index=xs.index)
    params = {"method": "kalman", "delta": delta, "obs_var": obs_var, "prior_var": KALMAN_PRIOR_VAR, "x0": x0,
              "y0": y0, "units": "filtered on x/x0 and y/y0; outputs in raw prices"}
    return HedgeResult("kalman", float(beta.iloc[-1]), float(alpha_n[-1] * y0), None, float(se.iloc[-1]), len(xs),
                       beta, pd.Series(alpha_n * y0, index=xs.index, name="alpha"), _band(beta, se), params)


def _fit_rolling(xs: pd.Series, ys: pd.Series, window: int) -> HedgeResult:
    """Rolling OLS over the trailing `window` bars (t included); latest valid values and a ±2·s.e. band."""
    mom = _moment_ols(xs, ys, window, expanding=False)
    beta = mom["beta"].rename("beta")
    return HedgeResult("rolling", _last_valid(beta, "beta"), _last_valid(mom["alpha"], "alpha"),
                       _last_valid(mom["r_squared"], "rolling R²"), _last_valid(mom["std_err"], "standard error"),
                       len(xs), beta, mom["alpha"].rename("alpha"), _band(beta, mom["std_err"]),
                       {"method": "rolling", "window": window, "units": "raw prices"})


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
        fitter = ((lambda xa, ya: _huber_fit(xa, ya, warm)) if method == "huber"
                  else (lambda xa, ya: _tls_fit(xa, ya, xv[0], yv[0])))
        beta_s, alpha_s, refits = _scheduled_expanding(fitter, xs, ys, window)
        params.update(window=window, refits=refits, refit_growth=EXPANDING_REFIT_GROWTH,
                      series="expanding fit refitted on a geometric schedule, forward-filled")
    return HedgeResult(method, beta, alpha, r_squared, std_err, len(xs), beta_s.rename("beta"),
                       alpha_s.rename("alpha"), band, params)


def fit_hedge(x: Any, y: Any, method: str = "ols", *, window: int = 60, delta: float = KALMAN_DELTA,
              obs_var: float = KALMAN_OBS_VAR, causal: bool = True) -> HedgeResult:
    """Fit y ≈ alpha + beta·x (x independent, y dependent) by ols, huber, tls, rolling or kalman.

    * ols / huber / tls: ``beta``/``alpha`` are the full-sample fit (the latest value). With ``causal=True`` the
      series is an expanding fit known at each bar, NaN for the first window−1 bars (OLS exact per bar; huber/tls
      refitted on the geometric schedule of :data:`EXPANDING_REFIT_GROWTH`, huber warm-started from the previous
      refit). With ``causal=False`` the series repeats the full-sample fit (in-sample, look-ahead: research only).
    * rolling: OLS over the trailing ``window`` bars ending at t (t included); band ±2·s.e.; R² of the last window.
    * kalman: filtered state on normalised prices (x/x0, y/y0), see :data:`KALMAN_DELTA`; band ±2·√P_ββ.
    """
    method = _check_choice(method, "hedge method", HEDGE_METHODS)
    uses_window = method == "rolling" or (method in STATIC_METHODS and causal)
    min_n = _check_window(window, "window", None, minimum=3) if uses_window else 3
    xs, ys = _pair(x, y, min_n)
    if method == "kalman":
        return _fit_kalman(xs, ys, delta, obs_var)
    if method == "rolling":
        return _fit_rolling(xs, ys, window)
    return _fit_static(xs, ys, method, window, causal)


def calculate_hedge_ratio(price1: Any, price2: Any, method: str = "kalman",
                          window: int | None = None) -> tuple[float, float]:
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

def calculate_spread(price1: Any, price2: Any, hedge_ratio: float | pd.Series,
                     intercept: float | pd.Series = 0.0) -> pd.Series:
    """Spread = price2 − (intercept + hedge_ratio·price1) (price1 independent); ratio/intercept scalar or Series.

    This corrects the seed, which computed price1 − ratio·price2 against its own regression's orientation.
    """
    x, y = _pair(price1, price2, 1, constant_ok=True)
    terms = {}
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
    s = _series(series, "series")
    _check_values(s, "series", 2, allow_nan=True)
    window = _check_window(window, "window", int(s.notna().sum()))
    roll = s.rolling(window)
    std = roll.std()
    return ((s - roll.mean()) / std.where(std > 0)).rename("zscore")


# ----------------------------------------------------------------------------------------------------------------
# Stationarity, cointegration, mean reversion
# ----------------------------------------------------------------------------------------------------------------

def _default_maxlag(n: int) -> int:
    """Bounded lag range for the AIC search: min(Schwert 12·(n/100)^¼, AUTOLAG_BUDGET // n, n//2 − 2), ≥ 0."""
    schwert = math.ceil(12.0 * (n / 100.0) ** 0.25)
    return max(0, min(schwert, max(1, AUTOLAG_BUDGET // n), n // 2 - 2))


def _stat_input(series: Any, name: str) -> np.ndarray:
    """Finite values of a series for a statistical test (NaN such as warm-up dropped), validated."""
    s = _series(series, name)
    _check_values(s, name, MIN_STAT_OBS, allow_nan=True)
    return s.dropna().to_numpy()


def adf_test(series: Any, maxlag: int | None = None, autolag: str | None = "AIC") -> dict[str, Any]:
    """Augmented Dickey–Fuller test with constant (statsmodels adfuller); NaN values (warm-up) are dropped.

    maxlag=None searches lags 0..:func:`_default_maxlag` (bounded so a 1-day 1s series stays interactive).
    is_stationary means p < 0.05. On a residual of an estimated hedge, use :func:`engle_granger` instead.
    """
    v = _stat_input(series, "series")
    lag = _default_maxlag(v.size) if maxlag is None else maxlag
    res = adfuller(v, maxlag=lag, autolag=autolag, result_object=True)
    return {"statistic": float(res.statistic), "pvalue": float(res.pvalue),
            "critical_values": {k: float(c) for k, c in res.critical_values.items()},
            "is_stationary": bool(res.pvalue < SIGNIFICANCE), "lags": int(res.lags), "nobs": int(res.nobs),
            "maxlag": lag, "autolag": autolag}


def engle_granger(x: Any, y: Any, maxlag: int | None = None, autolag: str | None = "aic") -> dict[str, Any]:
    """Engle–Granger test of y on x (statsmodels coint, MacKinnon EG critical values); cointegrated if p < 0.05."""
    xs, ys = _pair(x, y, MIN_STAT_OBS)
    lag = _default_maxlag(len(xs)) if maxlag is None else maxlag
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        try:
            res = coint(ys.to_numpy(), xs.to_numpy(), trend="c", maxlag=lag, autolag=autolag)
        except CollinearityWarning as exc:
            raise ValueError("x and y are (almost) perfectly collinear; Engle–Granger is not informative") from exc
    crit = dict(zip(("1%", "5%", "10%"), (float(c) for c in res.critical_values)))
    return {"statistic": float(res.coint_t), "pvalue": float(res.pvalue), "critical_values": crit,
            "is_cointegrated": bool(res.pvalue < SIGNIFICANCE), "nobs": len(xs), "maxlag": lag, "autolag": autolag}


def johansen(df: pd.DataFrame, det_order: int = 0, k_ar_diff: int = 1) -> dict[str, Any]:
    """Johansen trace and max-eigenvalue tests (statsmodels coint_johansen) for 2–12 price columns.

    rank = number of leading trace statistics above their 95 % critical value (sequential test).
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"johansen needs a DataFrame of price columns, got {type(df).__name__}")
    if not 2 <= df.shape[1] <= 12:
        raise ValueError(f"johansen needs 2 to 12 series, got {df.shape[1]}")
    if det_order not in (-1, 0, 1):
        raise ValueError(f"det_order must be -1, 0 or 1, got {det_order}")
    for col in df.columns:
        _check_values(_series(df[col], str(col)), str(col), MIN_STAT_OBS + k_ar_diff + df.shape[1])
    res = coint_johansen(df.to_numpy(dtype="float64"), det_order, k_ar_diff)
    trace, crit95 = res.lr1, res.cvt[:, 1]
    above = trace > crit95
    rank = int(np.argmin(above)) if not above.all() else len(trace)
    return {"trace_stats": trace.tolist(), "crit_90": res.cvt[:, 0].tolist(), "crit_95": crit95.tolist(),
            "crit_99": res.cvt[:, 2].tolist(), "max_eig_stats": res.lr2.tolist(),
            "max_eig_crit_95": res.cvm[:, 1].tolist(), "eigenvalues": res.eig.tolist(),
            "eigenvectors": pd.DataFrame(res.evec, index=df.columns), "rank": rank,
            "det_order": det_order, "k_ar_diff": k_ar_diff, "nobs": len(df)}


def half_life(spread: Any) -> float:
    """Half-life of mean reversion in BARS from the AR(1) fit Δs_t = λ·s_{t−1} + μ: −ln 2 / ln(1 + λ).

    This is the exact AR(1) half-life (Chan's −ln 2/λ is its first-order approximation). Returns inf when λ ≥ 0
    (no mean reversion) and 0.0 when 1 + λ ≤ 0 (reverts within one bar). Multiply by the bar length for time.
    """
    v = _stat_input(spread, "spread")
    lagged, diff = v[:-1], np.diff(v)
    var = lagged.var()
    if var == 0:
        raise ValueError("spread is constant before its last value; the AR(1) fit is undefined")
    lam = float(((lagged - lagged.mean()) * (diff - diff.mean())).mean() / var)
    phi = 1.0 + lam
    if phi >= 1.0:
        return math.inf
    if phi <= 0.0:
        return 0.0
    return -math.log(2.0) / math.log(phi)


def hurst_exponent(series: Any, max_lag: int = 100) -> float:
    """Hurst exponent: slope of log std(s_{t+k} − s_t) on log k over ~20 log-spaced lags k in [2, max_lag].

    The AL/QuantStart estimator (2·slope of log √std) on a log-spaced lag subset for speed: 0.5 random walk,
    < 0.5 mean reverting, > 0.5 trending. Lags are capped at n/2.
    """
    v = _stat_input(series, "series")
    top = min(max_lag, v.size // 2)
    lags = np.unique(np.round(np.geomspace(2, top, 20)).astype(int)) if top > 2 else np.array([])
    if lags.size < 4:
        raise ValueError(f"series too short for Hurst: {v.size} values gives fewer than 4 lags")
    tau = np.array([np.std(v[k:] - v[:-k]) for k in lags])
    if (tau <= 0).any():
        raise ValueError("series has constant differences at some lag; Hurst is undefined")
    return float(np.polyfit(np.log(lags), np.log(tau), 1)[0])


# ----------------------------------------------------------------------------------------------------------------
# Correlation and distributions
# ----------------------------------------------------------------------------------------------------------------

def returns(prices: Any, log: bool = False) -> pd.Series:
    """Simple (or log) returns of a positive price series; the first bar has no return and is dropped."""
    s = _series(prices, "prices")
    _check_values(s, "prices", 2, constant_ok=True)
    if (s <= 0).any():
        raise ValueError("prices must be > 0 to compute returns")
    r = np.log(s).diff() if log else s.pct_change()
    return r.iloc[1:].rename("returns")


def rolling_correlation(s1: Any, s2: Any, window: int = 60) -> pd.Series:
    """Causal rolling Pearson correlation of simple RETURNS (not price levels) over `window` bars ending at t.

    Same index as the prices: the first `window` bars are NaN (one return is lost), as are windows where a leg
    did not move.
    """
    x, y = _pair(s1, s2, 3)
    window = _check_window(window, "window", len(x) - 1, minimum=3)
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("prices must be > 0 to compute returns")
    rx, ry = x.pct_change(), y.pct_change()
    vx, vy = rx.rolling(window).var(), ry.rolling(window).var()
    corr = rx.rolling(window).corr(ry).where((vx > 0) & (vy > 0))
    return corr.clip(-1.0, 1.0).rename("correlation")


def correlation_matrix(closes_df: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation matrix of simple returns for N ≥ 2 price columns (e.g. from align_closes)."""
    if not isinstance(closes_df, pd.DataFrame) or closes_df.shape[1] < 2:
        raise ValueError("correlation_matrix needs a DataFrame with at least 2 price columns")
    rets = pd.DataFrame({col: returns(closes_df[col]) for col in closes_df.columns})
    if len(rets) < 3:
        raise ValueError(f"need at least 4 bars for a correlation matrix, got {len(closes_df)}")
    flat = [str(c) for c in rets.columns if rets[c].std() == 0]
    if flat:
        raise ValueError(f"returns of {flat} are constant; correlation is undefined")
    return rets.corr()


def summary_statistics(series: Any) -> dict[str, float]:
    """Descriptive statistics (count, mean, std, quantiles, skew, excess kurtosis, first/last) of finite values."""
    s = _series(series, "series")
    _check_values(s, "series", 4, allow_nan=True)
    v = s.dropna()
    q = v.quantile([0.25, 0.5, 0.75])
    return {"count": int(v.size), "mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "p25": float(q.iloc[0]), "median": float(q.iloc[1]), "p75": float(q.iloc[2]), "max": float(v.max()),
            "skew": float(v.skew()), "kurtosis": float(v.kurt()), "first": float(v.iloc[0]),
            "last": float(v.iloc[-1])}


def distribution(series: Any, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (counts, bin edges; len(edges) = bins + 1) of finite values, for price or return plots."""
    s = _series(series, "series")
    _check_values(s, "series", 1, allow_nan=True, constant_ok=True)
    bins = _check_window(bins, "bins", None, minimum=1)
    return np.histogram(s.dropna().to_numpy(), bins=bins)


# ----------------------------------------------------------------------------------------------------------------
# Pair analytics (one call per dashboard refresh)
# ----------------------------------------------------------------------------------------------------------------

class PairTest(enum.StrEnum):
    """The statistical tests of a pair."""

    ADF = "adf"
    ENGLE_GRANGER = "engle_granger"
    HALF_LIFE = "half_life"
    HURST = "hurst"
    JOHANSEN = "johansen"


@dataclass
class PairSeries:
    """The per-bar series of a pair: causal hedge, spread y − (α_t + β_t·x), its z-score, rolling return correlation.

    x is the independent leg, y the dependent one; `x_symbol`/`y_symbol` are the series' names.
    """

    x: pd.Series
    y: pd.Series
    hedge: HedgeResult
    spread: pd.Series
    zscore: pd.Series
    correlation: pd.Series
    notes: list[str] = field(default_factory=list)

    @property
    def x_symbol(self) -> str:
        return str(self.x.name) if self.x.name is not None else "x"

    @property
    def y_symbol(self) -> str:
        return str(self.y.name) if self.y.name is not None else "y"

    @property
    def n_bars(self) -> int:
        return len(self.x)

    def latest(self, name: str) -> float:
        """Latest finite value of one of the series (spread, zscore, correlation, x, y); NaN while there is none."""
        valid = getattr(self, name).dropna()
        return float(valid.iloc[-1]) if len(valid) else math.nan

    def to_frame(self) -> pd.DataFrame:
        """Per-bar export (index "time"): price_x, price_y, beta, alpha, spread, zscore, correlation."""
        frame = pd.DataFrame({"price_x": self.x, "price_y": self.y, "beta": self.hedge.beta_series,
                              "alpha": self.hedge.alpha_series, "spread": self.spread, "zscore": self.zscore,
                              "correlation": self.correlation})
        frame.index = frame.index.rename("time")
        return frame


@dataclass
class PairTests:
    """Results of the pair's tests (ADF/EG/Johansen: their result dicts; half-life, Hurst: floats) and, for each
    test the data could not support yet, the reason."""

    results: dict[PairTest, Any]
    problems: dict[PairTest, str]
    n_bars: int


@dataclass
class PairAnalytics:
    """Everything the pair view shows: the series and the tests."""

    series: PairSeries
    tests: PairTests

    def to_frame(self) -> pd.DataFrame:
        return self.series.to_frame()


def pair_warmup(method: str, window: int, z_window: int, *, causal: bool = True) -> int:
    """Bars a pair needs before its series and tests mean anything: the hedge window (for rolling and causal static
    fits), or the z window if longer, plus MIN_STAT_OBS for the tests."""
    windowed = method == HedgeMethod.ROLLING or (HedgeMethod(method).is_static and causal)
    return max(window if windowed else 0, z_window) + MIN_STAT_OBS


def pair_series(x: Any, y: Any, *, method: str = "kalman", window: int = 60, z_window: int = 60,
                corr_window: int | None = None, **hedge_kw: Any) -> PairSeries:
    """Hedge, spread y − (alpha_t + beta_t·x), causal z-score and return correlation (window `corr_window`,
    default the hedge window). The spread uses the hedge's causal beta/alpha series (expanding for static methods
    unless causal=False is passed). InsufficientData while there are fewer bars than `pair_warmup`."""
    xs, ys = _pair(x, y, 3)
    xs.name, ys.name = getattr(x, "name", None), getattr(y, "name", None)
    method = _check_choice(method, "hedge method", HEDGE_METHODS)
    need = pair_warmup(method, window, z_window, causal=hedge_kw.get("causal", True))
    if len(xs) < need:
        raise InsufficientData(f"the pair needs at least {need:,} aligned bars (the longer of the hedge window "
                               f"{window} and the z window {z_window}, plus {MIN_STAT_OBS} for the tests); "
                               f"have {len(xs):,}")
    hedge = fit_hedge(xs, ys, method, window=window, **hedge_kw)
    spread = calculate_spread(xs, ys, hedge.beta_series, hedge.alpha_series)
    notes = []
    if method in (HedgeMethod.ROLLING, HedgeMethod.KALMAN):
        notes.append("ADF on an adaptive-hedge residual over-rejects; use the Engle–Granger p-value for "
                     "cointegration")
    if not hedge.params.get("causal", True):
        notes.append("in-sample hedge: the spread uses a full-sample fit (look-ahead)")
    return PairSeries(x=xs, y=ys, hedge=hedge, spread=spread, zscore=calculate_zscore(spread, z_window),
                      correlation=rolling_correlation(xs, ys, window if corr_window is None else corr_window),
                      notes=notes)


def pair_tests(series: PairSeries, closes: pd.DataFrame | None = None) -> PairTests:
    """ADF, half-life and Hurst of the spread, Engle–Granger on the prices and, given the closes of 2+ symbols,
    Johansen. A test the data cannot support yet is reported in `problems`; any other error propagates."""
    jobs: dict[PairTest, Callable[[], Any]] = {
        PairTest.ADF: lambda: adf_test(series.spread),
        PairTest.ENGLE_GRANGER: lambda: engle_granger(series.x, series.y),
        PairTest.HALF_LIFE: lambda: half_life(series.spread),
        PairTest.HURST: lambda: hurst_exponent(series.spread)}
    if closes is not None:
        jobs[PairTest.JOHANSEN] = lambda: johansen(closes)
    results: dict[PairTest, Any] = {}
    problems: dict[PairTest, str] = {}
    for name, job in jobs.items():
        try:
            results[name] = job()
        except InsufficientData as exc:
            problems[name] = str(exc)
    return PairTests(results, problems, series.n_bars)


def pair_analytics(x: Any, y: Any, *, method: str = "kalman", window: int = 60, z_window: int = 60,
                   corr_window: int | None = None, closes: pd.DataFrame | None = None,
                   **hedge_kw: Any) -> PairAnalytics:
    """The one pair pipeline (dashboard, exports, API, alerts, benchmarks): `pair_series` then `pair_tests`."""
    series = pair_series(x, y, method=method, window=window, z_window=z_window, corr_window=corr_window, **hedge_kw)
    return PairAnalytics(series, pair_tests(series, closes))


# ----------------------------------------------------------------------------------------------------------------
# Performance metrics (vectorbt formulas; year = 365 days for 24/7 markets)
# ----------------------------------------------------------------------------------------------------------------

def annualization_factor(bar_seconds: float) -> float:
    """Bars per year for a 24/7 market: 365·86400 / bar_seconds (31,536,000 for 1s bars, 525,600 for 1min)."""
    if not bar_seconds > 0:
        raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
    return SECONDS_PER_YEAR / bar_seconds


def _returns_array(returns: Any) -> np.ndarray:
    """Per-period returns as a float array with NaN dropped; ValueError if fewer than 2 or not finite."""
    r = np.asarray(returns, dtype="float64")
    r = r[~np.isnan(r)]
    if r.size < 2:
        raise ValueError(f"need at least 2 returns, got {r.size}")
    if np.isinf(r).any() or (r <= -1.0).any():
        raise ValueError("returns must be finite and > -100 %")
    return r


def sharpe_ratio(returns: Any, ann_factor: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe: mean(r − rf) / std(r − rf, ddof=1) · √ann_factor (vectorbt)."""
    r = _returns_array(returns) - risk_free
    sd = r.std(ddof=1)
    if sd == 0:
        raise ValueError("returns have zero variance; Sharpe is undefined")
    return float(r.mean() / sd * math.sqrt(ann_factor))


def sortino_ratio(returns: Any, ann_factor: float, required_return: float = 0.0) -> float:
    """Annualised Sortino: mean(r − req)·ann / (√mean(min(r − req, 0)²)·√ann), mean over all periods (vectorbt)."""
    adj = _returns_array(returns) - required_return
    downside = math.sqrt(float(np.mean(np.minimum(adj, 0.0) ** 2))) * math.sqrt(ann_factor)
    if downside == 0:
        raise ValueError("no returns below the required return; Sortino is undefined")
    return float(adj.mean() * ann_factor / downside)


def cagr(returns: Any, ann_factor: float) -> float:
    """Compound annual growth rate: (Π(1 + r))^(ann_factor / n) − 1."""
    r = _returns_array(returns)
    log_growth = float(np.log1p(r).sum()) * ann_factor / r.size
    if log_growth > 700:
        raise ValueError("annualised growth overflows: the sample is far too short to annualise")
    return math.expm1(log_growth)


def _max_drawdown_values(values: np.ndarray) -> float:
    """Largest peak-to-trough fall of a value path, as a negative fraction (0 when it never falls)."""
    return float(np.min(values / np.maximum.accumulate(values)) - 1.0)


def max_drawdown(returns: Any) -> float:
    """Maximum drawdown of the compounded path starting at 1, as a negative fraction (vectorbt)."""
    r = _returns_array(returns)
    return _max_drawdown_values(np.concatenate([[1.0], np.cumprod(1.0 + r)]))


def calmar_ratio(returns: Any, ann_factor: float) -> float:
    """Calmar: CAGR / |max drawdown| (vectorbt); undefined without a drawdown."""
    mdd = max_drawdown(returns)
    if mdd == 0:
        raise ValueError("no drawdown; Calmar is undefined")
    return cagr(returns, ann_factor) / abs(mdd)


# ----------------------------------------------------------------------------------------------------------------
# Pairs backtest
# ----------------------------------------------------------------------------------------------------------------

_EXIT_REASONS = np.array(["exit", "stop", "max_hold", "end"])
_KALMAN_KEYS = ("delta", "obs_var")


@dataclass
class BacktestParams:
    """Settings of the z-score pairs backtest (thresholds in z units, costs in basis points per leg per fill).

    Short the spread when z > entry, long when z < −entry; a short exits when z ≤ exit, a long when z ≥ −exit;
    optional stop when z ≥ stop (short) / z ≤ −stop (long) and a maximum holding time in bars. After a stop or
    max-hold exit, re-entry waits until |z| ≤ entry. ``rehedge_bars`` re-sizes the x leg to the current causal beta
    every that many bars while in a trade (None: legs fixed at entry). ``in_sample=True`` fits a static hedge on
    the whole sample (look-ahead, labelled in the result). Annualised ratios need ``min_span_days`` of data and
    trade ratios ``min_trades`` closed trades; otherwise they are withheld with a reason.
    """

    entry: float = 2.0
    exit: float = 0.0
    stop: float | None = None
    max_hold_bars: int | None = None
    z_window: int = 60
    hedge_method: str = "rolling"
    hedge_window: int = 300
    hedge_kw: dict[str, float] = field(default_factory=dict)
    capital: float = 10_000.0
    fee_bps: float = 4.0
    slippage_bps: float = 0.0
    rehedge_bars: int | None = 60
    bar_seconds: float = 1.0
    warmup_bars: int | None = None
    in_sample: bool = False
    min_trades: int = 5
    min_span_days: float = 1.0

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent setting."""
        _check_choice(self.hedge_method, "hedge method", HEDGE_METHODS)
        if not self.entry > 0:
            raise ValueError(f"entry must be > 0, got {self.entry}")
        if not self.exit < self.entry:
            raise ValueError(f"exit ({self.exit}) must be below entry ({self.entry})")
        if self.stop is not None and not self.stop > self.entry:
            raise ValueError(f"stop ({self.stop}) must be above entry ({self.entry})")
        for name in ("max_hold_bars", "rehedge_bars", "warmup_bars"):
            value = getattr(self, name)
            if value is not None:
                _check_window(value, name, None, minimum=1 if name != "warmup_bars" else 0)
        _check_window(self.z_window, "z_window", None)
        _check_window(self.hedge_window, "hedge_window", None, minimum=3)
        if not self.capital > 0:
            raise ValueError(f"capital must be > 0, got {self.capital}")
        if self.min_trades < 0 or self.min_span_days < 0:
            raise ValueError("min_trades and min_span_days must be >= 0")
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")
        annualization_factor(self.bar_seconds)
        unknown = set(self.hedge_kw) - set(_KALMAN_KEYS)
        if unknown:
            raise ValueError(f"unknown hedge_kw {sorted(unknown)}; accepted: {', '.join(_KALMAN_KEYS)}")
        if self.in_sample and self.hedge_method not in STATIC_METHODS:
            raise ValueError(f"in_sample applies to static hedges ({', '.join(STATIC_METHODS)}), "
                             f"not {self.hedge_method!r}")

    @property
    def warmup(self) -> int:
        """Bars before the first allowed signal: warmup_bars, else max(hedge_window, z_window) (z_window if
        in-sample)."""
        if self.warmup_bars is not None:
            return self.warmup_bars
        return self.z_window if self.in_sample else max(self.hedge_window, self.z_window)


@dataclass
class BacktestResult:
    """Backtest output: trade log, per-bar equity/P&L/positions/legs (money), metrics with reasons and notes."""

    trades: pd.DataFrame
    equity: pd.Series
    positions: pd.Series
    pnl: pd.Series
    legs: pd.DataFrame
    metrics: dict[str, Any]
    metrics_reasons: dict[str, str]
    ann_factor: float
    notes: list[str]
    params: BacktestParams
    hedge: HedgeResult
    spread: pd.Series
    zscore: pd.Series


def _find_trades(z: np.ndarray, entry: float, exit_: float, stop: float | None, max_hold: int | None,
                 start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signal state machine: (entry signal bar, side, exit signal bar, reason code) per round trip.

    Hand-written event loop: each step jumps to the next qualifying bar through precomputed next-index arrays,
    so the Python loop runs once per trade, not per bar. A signal at bar t fills at t+1; a
    position still open at the last bar is closed there (reason "end", exit signal bar = last bar).
    """
    n = z.size
    ok = ~np.isnan(z)
    ok[:start] = False
    zc = np.where(ok, z, 0.0)
    beyond = np.abs(zc) > entry
    stop_level = math.inf if stop is None else stop
    positions = np.arange(n + 1)

    def next_true(mask: np.ndarray) -> np.ndarray:
        """next_true(mask)[i] = first j >= i with mask[j], else n (one O(n) pass; O(1) lookups)."""
        marked = np.where(np.append(mask, True), positions, n)
        return np.minimum.accumulate(marked[::-1])[::-1]

    opens = next_true(ok & beyond)
    closes = {-1: next_true(ok & ((zc <= exit_) | (zc >= stop_level))),
              1: next_true(ok & ((zc >= -exit_) | (zc <= -stop_level)))}
    rearm = next_true(ok & ~beyond) if stop is not None or max_hold is not None else opens

    last = n - 1
    sig_in, sides, sig_out, codes = [], [], [], []
    i = start
    while True:
        j = int(opens[i])
        if j >= last - 1:
            break
        side = -1 if zc[j] > 0 else 1
        fill = j + 1
        k = int(closes[side][fill])
        if max_hold is not None and fill + max_hold - 1 < k:
            k, code = fill + max_hold - 1, 2
        else:
            code = 1 if k < n and -side * zc[k] >= stop_level else 0
        if k >= last:
            k, code = last, 3
        sig_in.append(j)
        sides.append(side)
        sig_out.append(k)
        codes.append(code)
        if code == 3:
            break
        i = k + 1 if code == 0 else int(rearm[k + 1])
    return (np.array(sig_in, dtype=np.int64), np.array(sides, dtype=np.float64),
            np.array(sig_out, dtype=np.int64), np.array(codes, dtype=np.int64))


def _fill_bars(n: int, sig_out: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Exit fill bars: the bar after the exit signal, or the last bar for positions closed at the end."""
    return np.where(codes == 3, n - 1, sig_out + 1)


def _holding_bars(entries: np.ndarray, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bars holding a position (entry fill ≤ t < exit fill) and the trade number of each."""
    lengths = exits - entries
    k = np.repeat(np.arange(entries.size), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return entries[k] + offsets, k


def _simulate(px: np.ndarray, py: np.ndarray, beta: np.ndarray, trades: tuple[np.ndarray, ...],
              params: BacktestParams) -> dict[str, np.ndarray]:
    """Money accounting of the signal trades: two legs on fixed notional `capital`, marked to market at closes.

    Long spread = long Q units of y and short beta·Q units of x with Q = capital / (p_y + |beta|·p_x) at the entry
    fill (gross notional = capital, no compounding); beta is the causal value at the signal bar, then at each
    re-hedge bar the one at the bar before. Costs = |Δqty|·price·(fee + slippage) bps on every leg change.
    """
    sig_in, side, sig_out, codes = trades
    n = px.size
    entries = sig_in + 1
    exits = _fill_bars(n, sig_out, codes)
    signed_qty = side * params.capital / (py[entries] + np.abs(beta[sig_in]) * px[entries])
    held, k = _holding_bars(entries, exits)
    anchor = entries[k]
    if params.rehedge_bars is not None:
        anchor = anchor + (held - anchor) // params.rehedge_bars * params.rehedge_bars
    qx, qy = np.zeros(n), np.zeros(n)
    qy[held] = signed_qty[k]
    qx[held] = -signed_qty[k] * beta[anchor - 1]
    gross = np.zeros(n)
    gross[1:] = qx[:-1] * np.diff(px) + qy[:-1] * np.diff(py)
    # turnover happens only at entry fills, exit fills and re-hedge bars (distinct bars)
    rebar = held[(anchor == held) & (held != entries[k])]
    rebar = rebar[qx[rebar] != qx[rebar - 1]]
    entry_turn = np.abs(qx[entries]) * px[entries] + np.abs(qy[entries]) * py[entries]
    exit_turn = np.abs(qx[exits - 1]) * px[exits] + np.abs(qy[exits - 1]) * py[exits]
    rehedge_turn = np.abs(qx[rebar] - qx[rebar - 1]) * px[rebar]
    turnover = np.zeros(n)
    turnover[entries], turnover[exits], turnover[rebar] = entry_turn, exit_turn, rehedge_turn
    fee_rate, slip_rate = params.fee_bps * 1e-4, params.slippage_bps * 1e-4
    net = gross - turnover * (fee_rate + slip_rate)
    trade_of_rebar = np.searchsorted(entries, rebar, side="right") - 1
    trade_turn = entry_turn + exit_turn + np.bincount(trade_of_rebar, rehedge_turn, minlength=entries.size)
    bounds = np.column_stack([entries, exits + 1]).ravel()
    trade_gross = np.add.reduceat(np.append(gross, 0.0), bounds)[::2] if entries.size else np.zeros(0)
    trade_fees, trade_slippage = trade_turn * fee_rate, trade_turn * slip_rate
    return {"entries": entries, "exits": exits, "qx": qx, "qy": qy, "net": net, "n_held": held.size,
            "equity": params.capital + np.cumsum(net), "trade_gross": trade_gross, "trade_fees": trade_fees,
            "trade_slippage": trade_slippage, "trade_net": trade_gross - trade_fees - trade_slippage,
            "trade_rehedges": np.bincount(trade_of_rebar, minlength=entries.size)}


def _metrics(sim: dict[str, np.ndarray], params: BacktestParams,
             wanted: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Trade and return metrics; annualised ones need min_span_days, trade ratios min_trades, else withheld.

    With `wanted` (the sweep), only that one of the costlier annualised ratios is computed.
    """
    equity, net, trade_net = sim["equity"], sim["net"], sim["trade_net"]
    n = equity.size
    ann = annualization_factor(params.bar_seconds)
    n_trades = int(trade_net.size)
    holding = (sim["exits"] - sim["entries"]).astype(np.float64)
    span_days = n * params.bar_seconds / 86_400
    total = float(equity[-1] - params.capital)
    metrics: dict[str, Any] = {
        "total_return": total, "pct_return": 100.0 * total / params.capital, "n_trades": n_trades,
        "exposure": float(sim["n_held"] / n),
        "max_drawdown": _max_drawdown_values(np.concatenate([[params.capital], equity])),
        "total_fees": float(sim["trade_fees"].sum()), "total_slippage": float(sim["trade_slippage"].sum()),
        "rehedges": int(sim["trade_rehedges"].sum()), "n_bars": n, "span_days": span_days, "ann_factor": ann,
    }
    reasons: dict[str, str] = {}
    if n_trades:
        metrics["avg_holding_bars"] = float(holding.mean())
        metrics["avg_holding_seconds"] = float(holding.mean() * params.bar_seconds)
    else:
        metrics["avg_holding_bars"] = metrics["avg_holding_seconds"] = None
        reasons["avg_holding_bars"] = reasons["avg_holding_seconds"] = "no trades"
    if n_trades >= params.min_trades:
        wins, losses = trade_net[trade_net > 0], trade_net[trade_net < 0]
        metrics["win_rate"] = float(wins.size / n_trades)
        metrics["expectancy"] = float(trade_net.mean())
        if losses.size:
            metrics["profit_factor"] = float(wins.sum() / -losses.sum())
        else:
            metrics["profit_factor"], reasons["profit_factor"] = None, "no losing trades; profit factor undefined"
    else:
        why = f"{n_trades} closed trades < min_trades={params.min_trades}"
        for name in ("win_rate", "expectancy", "profit_factor"):
            metrics[name], reasons[name] = None, why
    annualised = tuple(name for name in ("sharpe", "sortino", "calmar", "cagr") if wanted in (None, name))
    if span_days < params.min_span_days:
        why = (f"sample spans {span_days:.3g} days < min_span_days={params.min_span_days}: annualising a short "
               "intraday sample gives meaningless ratios")
        for name in annualised:
            metrics[name], reasons[name] = None, why
    elif (equity <= 0).any():
        for name in annualised:
            metrics[name], reasons[name] = None, "equity fell to zero or below"
    elif annualised:
        r = net[1:] / equity[:-1]
        helpers = {"sharpe": sharpe_ratio, "sortino": sortino_ratio, "cagr": cagr, "calmar": calmar_ratio}
        for name in annualised:
            try:
                metrics[name] = helpers[name](r, ann)
            except ValueError as exc:
                metrics[name], reasons[name] = None, str(exc)
    return metrics, reasons


_SWEEP_METRICS = ("total_return", "pct_return", "n_trades", "exposure", "max_drawdown", "total_fees",
                  "avg_holding_bars", "win_rate", "expectancy", "profit_factor", "sharpe", "sortino", "calmar",
                  "cagr")


def _prepare(x: Any, y: Any, params: BacktestParams) -> tuple[pd.Series, pd.Series, HedgeResult, pd.Series,
                                                               np.ndarray]:
    """Validate, fit the causal (or labelled in-sample) hedge and build the spread; returns x, y, hedge, spread,
    and beta forward-filled for sizing."""
    params.validate()
    xs, ys = _pair(x, y, 3)
    need = params.warmup + 3
    if len(xs) < need:
        raise ValueError(f"backtest needs at least {need} bars (warm-up {params.warmup} + 3), got {len(xs)}")
    hedge = fit_hedge(xs, ys, params.hedge_method, window=params.hedge_window, causal=not params.in_sample,
                      **params.hedge_kw)
    spread = calculate_spread(xs, ys, hedge.beta_series, hedge.alpha_series)
    return xs, ys, hedge, spread, hedge.beta_series.ffill().to_numpy()


def backtest_pairs(x: Any, y: Any, params: BacktestParams | None = None) -> BacktestResult:
    """Cost-aware, look-ahead-free z-score backtest of the spread y − (alpha_t + beta_t·x) in money.

    Signals at the close of bar t fill at the close of bar t+1 (close-only data: the first price after the
    signal); hedge ratios are causal unless ``params.in_sample``. The trade log's net P&L sums to the equity
    curve's final P&L (a position open at the end is closed at the last close, reason "end").
    """
    params = params or BacktestParams()
    xs, ys, hedge, spread, beta = _prepare(x, y, params)
    zscore = calculate_zscore(spread, params.z_window)
    z = zscore.to_numpy()
    px, py = xs.to_numpy(), ys.to_numpy()
    trades = _find_trades(z, params.entry, params.exit, params.stop, params.max_hold_bars, params.warmup)
    sim = _simulate(px, py, beta, trades, params)
    metrics, reasons = _metrics(sim, params)
    sig_in, side, sig_out, codes = trades
    entries, exits = sim["entries"], sim["exits"]
    index = xs.index
    holding_bars = exits - entries
    if isinstance(index, pd.DatetimeIndex):
        holding_time = index[exits] - index[entries]
    else:
        holding_time = pd.to_timedelta(holding_bars * params.bar_seconds, unit="s")
    log = pd.DataFrame({
        "entry_time": index[entries], "exit_time": index[exits],
        "side": np.where(side > 0, "long", "short"), "entry_zscore": z[sig_in], "exit_zscore": z[sig_out],
        "entry_beta": beta[sig_in], "entry_price_x": px[entries], "entry_price_y": py[entries],
        "exit_price_x": px[exits], "exit_price_y": py[exits], "qty_x": sim["qx"][entries],
        "qty_y": sim["qy"][entries], "exit_qty_x": sim["qx"][exits - 1], "gross_pnl": sim["trade_gross"],
        "fees": sim["trade_fees"], "slippage": sim["trade_slippage"], "net_pnl": sim["trade_net"],
        "holding_bars": holding_bars, "holding_time": np.asarray(holding_time),
        "exit_reason": _EXIT_REASONS[codes], "rehedges": sim["trade_rehedges"],
    })
    held, k = _holding_bars(entries, exits)
    positions = np.zeros(len(xs), dtype=np.int64)
    positions[held] = side[k].astype(np.int64)
    notes = [f"fills at the close of the bar after the signal; fees {params.fee_bps} bps + slippage "
             f"{params.slippage_bps} bps per leg per fill; gross notional per trade = capital {params.capital:g}",
             "entry_zscore/exit_zscore are the z values at the signal bars"]
    if params.in_sample:
        notes.append("IN-SAMPLE: the hedge ratio is fitted on the whole sample (look-ahead); research use only")
    if params.rehedge_bars is not None and not params.in_sample:
        notes.append(f"x leg re-hedged to the causal beta every {params.rehedge_bars} bars; turnover is charged")
    if codes.size and codes[-1] == 3:
        notes.append("the last position was closed at the final bar's close (exit_reason 'end')")
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        spacing = float(np.median(np.diff(index.as_unit("ns").asi8))) / 1e9
        if not math.isclose(spacing, params.bar_seconds, rel_tol=0.01):
            notes.append(f"median bar spacing is {spacing:g} s but bar_seconds={params.bar_seconds:g}; "
                         "annualisation uses bar_seconds")
    return BacktestResult(
        trades=log, equity=pd.Series(sim["equity"], index=index, name="equity"),
        positions=pd.Series(positions, index=index, name="position"),
        pnl=pd.Series(sim["net"], index=index, name="pnl"),
        legs=pd.DataFrame({"qty_x": sim["qx"], "qty_y": sim["qy"]}, index=index), metrics=metrics,
        metrics_reasons=reasons, ann_factor=metrics["ann_factor"], notes=notes, params=params, hedge=hedge,
        spread=spread, zscore=zscore)


def backtest_mean_reversion(spread: Any, zscore: Any, entry_th: float = 2.0, exit_th: float = 0.0,
                            stop_th: float | None = None,
                            max_hold_bars: int | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Seed API: one unit of spread, P&L in spread units = side·(exit spread − entry spread), next-bar fills.

    Same state machine as :func:`backtest_pairs` (no costs, no sizing). positions[t] is the spread position
    held after bar t's fills (+1 long, −1 short).
    """
    params = BacktestParams(entry=entry_th, exit=exit_th, stop=stop_th, max_hold_bars=max_hold_bars)
    params.validate()
    s, zs = _series(spread, "spread"), _series(zscore, "zscore")
    if len(s) != len(zs) or not s.index.equals(zs.index):
        raise ValueError("spread and zscore are misaligned: their indexes differ")
    _check_values(s, "spread", 3, allow_nan=True, constant_ok=True)
    _check_values(zs, "zscore", 3, allow_nan=True, constant_ok=True)
    z, sv = zs.to_numpy(), s.to_numpy()
    sig_in, side, sig_out, codes = _find_trades(z, entry_th, exit_th, stop_th, max_hold_bars, 0)
    entries, exits = sig_in + 1, _fill_bars(len(s), sig_out, codes)
    if np.isnan(sv[entries]).any() or np.isnan(sv[exits]).any():
        raise ValueError("spread is NaN at a fill bar where the z-score is defined")
    held, k = _holding_bars(entries, exits)
    positions = np.zeros(len(s), dtype=np.int64)
    positions[held] = side[k].astype(np.int64)
    trades = pd.DataFrame({
        "entry_time": s.index[entries], "exit_time": s.index[exits], "side": np.where(side > 0, "long", "short"),
        "entry_zscore": z[sig_in], "exit_zscore": z[sig_out], "entry_price": sv[entries], "exit_price": sv[exits],
        "pnl": side * (sv[exits] - sv[entries]), "holding_bars": exits - entries, "exit_reason": _EXIT_REASONS[codes],
    })
    return trades, pd.Series(positions, index=s.index, name="position")


def parameter_sweep(x: Any, y: Any, params: BacktestParams | None, entries: Any, exits: Any,
                    z_windows: Any = None, metric: str = "sharpe") -> pd.DataFrame:
    """Grid of one backtest metric over entry × exit (rows entry, columns exit; rows (z_window, entry) when
    z_windows is given). The hedge is fitted once; cells with exit ≥ entry, stop ≤ entry, or a withheld metric
    are NaN. Brute-force grids overfit: judge the chosen cell out of sample."""
    metric = _check_choice(metric, "sweep metric", _SWEEP_METRICS)
    params = params or BacktestParams()
    entries_l, exits_l = [float(e) for e in entries], [float(e) for e in exits]
    if not entries_l or not exits_l:
        raise ValueError("entries and exits must be non-empty")
    if min(entries_l) <= 0:
        raise ValueError(f"entries must be > 0, got {min(entries_l)}")
    windows = [params.z_window] if z_windows is None else [int(w) for w in z_windows]
    xs, ys, _, spread, beta = _prepare(x, y, params)
    px, py = xs.to_numpy(), ys.to_numpy()
    rows, keys = [], []
    for zw in windows:
        base = replace(params, z_window=zw)
        base.validate()
        z = calculate_zscore(spread, zw).to_numpy()
        for entry in entries_l:
            row = []
            for exit_ in exits_l:
                if exit_ >= entry or (params.stop is not None and params.stop <= entry):
                    row.append(np.nan)
                    continue
                cell = replace(base, entry=entry, exit=exit_)
                trades = _find_trades(z, entry, exit_, params.stop, params.max_hold_bars, cell.warmup)
                value = _metrics(_simulate(px, py, beta, trades, cell), cell, wanted=metric)[0][metric]
                row.append(np.nan if value is None else float(value))
            rows.append(row)
            keys.append((zw, entry))
    grid = pd.DataFrame(rows, columns=pd.Index(exits_l, name="exit"))
    if z_windows is None:
        grid.index = pd.Index([k[1] for k in keys], name="entry")
    else:
        grid.index = pd.MultiIndex.from_tuples(keys, names=["z_window", "entry"])
    return grid


# ----------------------------------------------------------------------------------------------------------------
# Alerts
# ----------------------------------------------------------------------------------------------------------------

def evaluate_alert(rule_metric_value: float, op: str, threshold: float, previous: float | None = None) -> bool:
    """Pure alert rule: value `op` threshold; crosses_* need the previous value (False without one).

    A NaN value (e.g. a z-score in warm-up) never fires.
    """
    op = _check_choice(op, "alert op", ALERT_OPS)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    value = float(rule_metric_value)
    if math.isnan(value):
        return False
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if previous is None or math.isnan(previous):
        return False
    if op == "crosses_above":
        return previous <= threshold < value
    return previous >= threshold > value


# ----------------------------------------------------------------------------------------------------------------
# Seed-compatible namespace
# ----------------------------------------------------------------------------------------------------------------

class Analytics:
    """Thin namespace keeping the seed's documented ``Analytics.<name>(...)`` calls working (same functions)."""

    to_time_index = staticmethod(to_time_index)
    resample_ohlcv = staticmethod(resample_ohlcv)
    resample_bars = staticmethod(resample_bars)
    fill_fraction = staticmethod(fill_fraction)
    align_closes = staticmethod(align_closes)
    fit_hedge = staticmethod(fit_hedge)
    calculate_hedge_ratio = staticmethod(calculate_hedge_ratio)
    hedge_series = staticmethod(hedge_series)
    calculate_spread = staticmethod(calculate_spread)
    calculate_zscore = staticmethod(calculate_zscore)
    adf_test = staticmethod(adf_test)
    engle_granger = staticmethod(engle_granger)
    johansen = staticmethod(johansen)
    half_life = staticmethod(half_life)
    hurst_exponent = staticmethod(hurst_exponent)
    returns = staticmethod(returns)
    rolling_correlation = staticmethod(rolling_correlation)
    correlation_matrix = staticmethod(correlation_matrix)
    summary_statistics = staticmethod(summary_statistics)
    distribution = staticmethod(distribution)
    pair_analytics = staticmethod(pair_analytics)
    backtest_pairs = staticmethod(backtest_pairs)
    backtest_mean_reversion = staticmethod(backtest_mean_reversion)
    parameter_sweep = staticmethod(parameter_sweep)
    evaluate_alert = staticmethod(evaluate_alert)
