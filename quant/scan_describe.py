"""The scanner's confirmation: the full Engle–Granger test the Pair Analytics tab runs (MAIC lag search over Schwert's
bound, quant/unitroot.py) of a pair the screen sent, in both orientations, and what a trader ranks a confirmed pair
by (half-life, spread volatility, crossings, Hurst, the out-of-sample test), read bounce-robustly when a leg bounces.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.signal import lfilter

from quant import unitroot
from quant.ou_bands import spread_edge
from quant.overfitting import deflated_sharpe_ratio
from quant.persistence import median_unbiased_ar1
from quant.stationarity import half_life, hurst_exponent
from quant.vocabulary import InsufficientData

MIN_VALIDATION = 30  # the out-of-sample test needs this many validation bars (else it is not required)


@dataclass(frozen=True)
class ConfirmedPair:
    """The full Engle–Granger test of a screened pair in both orientations (:func:`describe_pair`), oriented y on x
    where that p is the smaller, and what a trader ranks it by."""

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
    edge_per_day: float  # OU-optimal band, both sides, after the round trip: share of gross notional per day
    trade_hours: float  # that band's expected cycle (entry → exit → entry)
    dsr: float  # the chance the band's in-sample Sharpe is real after every pair tested (:func:`pick_dsr`)

    @property
    def pvalue(self) -> float:
        """The weaker orientation's p-value: the pair must reject both ways."""
        return max(self.pvalue_y_on_x, self.pvalue_x_on_y)

    def numbers(self) -> tuple[float, ...]:
        """Its values for the table's DESCRIBED_COLUMNS, in that order."""
        return tuple(float(getattr(self, name)) for name in DESCRIBED_COLUMNS)


# the columns a confirmed pair fills (its number fields; the rest of SCAN_COLUMNS come from the screen)
DESCRIBED_COLUMNS = tuple(f.name for f in dataclasses.fields(ConfirmedPair) if f.name != "swap")


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
    """A spread read as an AR(1) signal plus white noise (bid/ask bounce). The noise variance is −cov(Δs_t, Δs_{t−1})
    (the signal's own share, −σ²_s·(1 − φ)², is negligible at the half-lives a bounce hides); φ comes from the
    regression of s_t on s_{t−K} over every lag-K pair, K ≈ the half-life (found from γ₂/γ₁ and refined), with the
    noise variance taken out of the regressor's and the estimate median-unbiased as a plain AR(1) of n/K values,
    then φ = φ_K^(1/K). The ratio over one lag alone is too noisy for slow spreads, and a ratio of sample
    autocovariances at lag K is biased short by the mean's estimation (a 180-bar half-life read as 35–80 %)."""

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


_UNREADABLE = NoisySpread(math.nan, math.nan, math.nan)
_MIN_SPANS = 20  # K is at most n/20: the regression on s_{t−K} keeps at least 20 spans of K bars


def noisy_spread(centred: np.ndarray) -> NoisySpread:
    """:class:`NoisySpread` of a centred spread."""
    n = centred.size
    diff = np.diff(centred)
    noise = max(-float(diff[1:] @ diff[:-1]) / diff.size, 0.0)
    signal = float(centred @ centred) / n - noise
    g1 = float(centred[1:] @ centred[:-1]) / n
    if g1 <= 0 or signal <= 0:
        return _UNREADABLE
    phi = float(centred[2:] @ centred[:-2]) / n / g1
    if phi <= 0:
        return _UNREADABLE
    for corrected in (False, False, True, True):  # K from the plain ratios first, then the corrected regression
        lag = round(-math.log(2.0) / math.log(phi)) if 0 < phi < 1 else 10
        lag = int(min(max(lag, 1), n // _MIN_SPANS))
        if not corrected:
            ratio = float(centred[1 + lag :] @ centred[: n - 1 - lag]) / n / g1
            if ratio <= 0:  # the lag-K autocovariance is lost in the noise: keep the shorter lag's reading
                break
            phi = ratio ** (1.0 / lag)
            continue
        lagged, current = centred[:-lag], centred[lag:]
        lc = lagged - lagged.mean()
        regressor = float(lc @ lc) - lagged.size * noise
        fitted = float((current - current.mean()) @ lc) / regressor if regressor > 0 else math.nan
        if not fitted > 0:  # as above
            break
        if fitted >= 1:
            return NoisySpread(1.0, signal, noise)
        phi = float(median_unbiased_ar1(fitted, n / lag, residual=False)) ** (1.0 / lag)
    return NoisySpread(phi, signal, noise)


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


def band_pnl(resid: np.ndarray, theta: float, half_width: float, cost: float) -> np.ndarray:
    """Per-bar P&L (spread units, one unit of spread) of trading a symmetric band both ways on `resid`, as the edge
    reads it (Bertram's cycle): long at or below θ − h, short at or above θ + h, held until the other side. A signal
    at a bar's close fills at the next close (the backtest's rule), and each unit of position change pays half the
    round trip `cost`."""
    signal = np.where(resid <= theta - half_width, 1.0, np.where(resid >= theta + half_width, -1.0, np.nan))
    held = pd.Series(signal).ffill().fillna(0.0).to_numpy()
    position = np.concatenate(([0.0], held[:-1]))  # held from each close: the previous close's signal
    pnl = np.zeros(resid.size)
    pnl[1:] = position[:-1] * np.diff(resid)
    return pnl - cost / 2.0 * np.abs(np.diff(position, prepend=0.0))


def pick_dsr(pnl: np.ndarray, n_trials: int) -> float:
    """The deflated Sharpe ratio (Bailey & López de Prado 2014) of a pick's per-bar P&L when `n_trials` pairs were
    tested to find it: its per-bar Sharpe against the best that many skill-less trials reach by luck. The trials'
    Sharpe variance is the estimator's own under no skill, 1/(n − 1) (the scan does not trade every pair it tests).
    NaN when the P&L is flat or too short."""
    n = pnl.size
    if n < 3 or not np.ptp(pnl) > 0:
        return math.nan
    sharpe = float(pnl.mean() / pnl.std(ddof=1))
    try:
        found = deflated_sharpe_ratio(
            sharpe, max(n_trials, 1), 1.0 / (n - 1), n, float(stats.skew(pnl)), float(stats.kurtosis(pnl, fisher=False))
        )
    except ValueError:  # skew and kurtosis leave the estimator's variance non-positive
        return math.nan
    return found.dsr


def _edge(
    resid: np.ndarray, x: float, y: float, beta: float, bar_seconds: float, cost_bps: float, n_trials: int
) -> tuple[float, float, float]:
    """(edge per day, expected cycle in hours, deflated Sharpe) of the residual's OU-optimal band
    (:func:`quant.ou_bands.spread_edge`, :func:`band_pnl`, :func:`pick_dsr`); NaN when the residual does not
    mean-revert bar to bar or no band within reach pays the round trip."""
    try:
        edge = spread_edge(resid, x, y, beta, bar_seconds, cost_bps)
    except ValueError:  # InsufficientData included
        return math.nan, math.nan, math.nan
    pnl = band_pnl(resid, edge.fit.theta, edge.bands.half_width, edge.cost)
    return edge.edge_per_day, edge.trade_seconds / 3_600, pick_dsr(pnl, n_trials)


def describe_pair(
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    bar_seconds: float,
    noisy: bool,
    cost_bps: float,
    n_trials: int,
) -> ConfirmedPair:
    """The confirmed pair's Engle–Granger in both orientations, oriented y on x where that p is the smaller, and what
    a trader ranks by: half-life, spread volatility (share of y), mean crossings per day, Hurst, and the out-of-sample
    ADF of the validation window's residual under the formation's (α, β) (no estimation there: plain ADF values),
    and the edge after costs: the OU-optimal band's expected return per day for a round trip at `cost_bps` per leg
    per fill (:func:`_edge`), with the deflated Sharpe of trading it in sample after `n_trials` pairs were tested.
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
    edge, cycle, dsr = _edge(resid, float(x[-1]), float(y[-1]), beta, bar_seconds, cost_bps, n_trials)
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
        edge_per_day=edge,
        trade_hours=cycle,
        dsr=dsr,
    )
