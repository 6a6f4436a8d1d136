"""Ornstein–Uhlenbeck spreads: the exact maximum-likelihood fit and Bertram's (2010) optimal symmetric trading band.

Why: a band chosen by eye (±2 z) ignores both how fast the spread reverts and what a round trip costs; Bertram's
first-passage formulae give the band that maximises the expected return (or its Sharpe ratio) per unit time after
costs, with the expected trade length and the variances that say how noisy that return is.

Notation (arbitragelab's, not the paper's): dX = μ(θ − X)dt + σ dW, θ the mean, μ the speed, σ the noise. Time is in
years of 365 days (24/7 markets): a 1-minute bar is 1/525,600 of a year.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, special

from quant.results import OUBands, OUFit, SpreadEdge
from quant.validation import as_series, check_values
from quant.vocabulary import MIN_STAT_OBS, SECONDS_PER_YEAR, BandObjective, InsufficientData

# The variance series of Bertram's eq. (10) are summed to this many terms (their terms peak near k ≈ z², and a band
# is searched no wider than MAX_BAND_SDS stationary standard deviations, so z ≤ MAX_BAND_SDS).
_TERMS = np.arange(1, 800)
_ODD = 2 * np.arange(1, 400) - 1
MAX_BAND_SDS = 20.0  # a band wider than this many stationary sds never trades in practice (and overflows the series)


def ou_fit(spread: Any, bar_seconds: float) -> OUFit:
    """Exact maximum-likelihood OU fit of a spread sampled every `bar_seconds` (24/7 bars): the exact discretisation
    X_{t+1} = θ + (X_t − θ)e^{−μΔ} + ε, ε ~ N(0, σ²(1 − e^{−2μΔ})/(2μ)), Δ = bar_seconds / (365·86,400), whose
    conditional likelihood is maximised by the AR(1) least-squares fit (variance divided by n). Leading and trailing
    NaN (warm-up) are dropped; InsufficientData when the spread does not mean-revert (AR(1) coefficient ≥ 1)."""
    if not bar_seconds > 0:
        raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
    s = as_series(spread, "spread")
    check_values(s, "spread", MIN_STAT_OBS, allow_nan=True)
    v = s.to_numpy()
    known = np.flatnonzero(~np.isnan(v))
    v = v[known[0] : known[-1] + 1]
    if np.isnan(v).any():
        raise ValueError("spread has NaN values inside its sample; fit each contiguous piece")
    lag, cur = v[:-1], v[1:]
    lc, cc = lag - lag.mean(), cur - cur.mean()
    sxx = float(lc @ lc)
    if sxx == 0:
        raise InsufficientData("the spread is constant; no OU process to fit")
    b = float(lc @ cc) / sxx
    if not 0 < b < 1:
        raise InsufficientData(
            f"the spread does not mean-revert bar to bar (AR(1) coefficient {b:.4f}; an OU process needs 0 < b < 1)"
        )
    a = float(cur.mean() - b * lag.mean())
    resid = cur - a - b * lag
    dt = bar_seconds / SECONDS_PER_YEAR
    mu = -math.log(b) / dt
    sigma = math.sqrt(float(resid @ resid) / resid.size * 2.0 * mu / (1.0 - b * b))
    return OUFit(theta=a / (1.0 - b), mu=mu, sigma=sigma, bar_years=dt, nobs=int(v.size), ar1=b)


def _half_sum(z: float) -> float:
    """½·Σ_{k≥1} Γ(k/2)(√2·z)^k / k! (Bertram's w₁ pieces), summed in logs."""
    x = math.sqrt(2.0) * z
    if x == 0:
        return 0.0
    logs = special.gammaln(_TERMS / 2.0) + _TERMS * math.log(abs(x)) - special.gammaln(_TERMS + 1.0)
    return 0.5 * float(np.sum(np.sign(x) ** _TERMS * np.exp(logs)))


def _w1(z: float) -> float:
    return _half_sum(z) ** 2 - _half_sum(-z) ** 2


def _w2(z: float) -> float:
    """Σ_{k≥1} Γ(k − ½)·Ψ(k − ½)·(√2·z)^{2k−1} / (2k − 1)!, Ψ(x) = ψ(x) − ψ(1)."""
    x = math.sqrt(2.0) * z
    if x == 0:
        return 0.0
    logs = special.gammaln(_ODD / 2.0) + _ODD * math.log(abs(x)) - special.gammaln(_ODD + 1.0)
    psi = special.digamma(_ODD / 2.0) - special.digamma(1.0)
    return float(np.sum(np.sign(x) ** _ODD * psi * np.exp(logs)))


def _check(theta: float, mu: float, sigma: float, cost: float) -> None:
    for name, value in (("theta", theta), ("mu", mu), ("sigma", sigma), ("cost", cost)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if not mu > 0:
        raise ValueError(f"mu (the speed of mean reversion) must be > 0, got {mu}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if cost < 0:
        raise ValueError(f"cost must be >= 0, got {cost}")


def ou_band_stats(
    theta: float,
    mu: float,
    sigma: float,
    entry: float,
    cost: float,
    *,
    risk_free: float = 0.0,
    objective: BandObjective = BandObjective.RETURN,
) -> OUBands:
    """Bertram's trade-length and return moments of the symmetric band (entry, 2θ − entry), entry < θ: E[T] (eq. 9),
    Var[T] (eq. 10), E[R] = (m − a − c)/E[T], Var[R] = (m − a − c)²Var[T]/E[T]³ and the Sharpe ratio."""
    _check(theta, mu, sigma, cost)
    if not entry < theta:
        raise ValueError(f"entry ({entry}) must be below the mean theta ({theta})")
    exit_ = 2.0 * theta - entry
    sd = sigma / math.sqrt(2.0 * mu)
    if (theta - entry) / sd > MAX_BAND_SDS:
        raise ValueError(f"a band {(theta - entry) / sd:.1f} stationary sds wide is beyond {MAX_BAND_SDS:g}")
    u = (theta - entry) * math.sqrt(mu) / sigma
    length = 2.0 * math.pi / mu * float(special.erfi(u))
    zm, za = (exit_ - theta) / sd, (entry - theta) / sd
    var_t = (_w1(zm) - _w1(za) - _w2(zm) + _w2(za)) / mu**2
    gain = exit_ - entry - cost
    ret = gain / length
    var_r = gain * gain * var_t / length**3
    sharpe = (ret - risk_free / length) / math.sqrt(var_r) if var_r > 0 else math.nan
    return OUBands(
        entry=entry,
        exit=exit_,
        expected_trade_length=length,
        trade_length_variance=var_t,
        expected_return=ret,
        return_variance=var_r,
        sharpe=sharpe,
        objective=objective,
        cost=cost,
        risk_free=risk_free,
    )


def ou_optimal_thresholds(
    theta: float,
    mu: float,
    sigma: float,
    cost: float,
    *,
    objective: str = "return",
    risk_free: float = 0.0,
) -> OUBands:
    """Bertram's (2010) optimal symmetric band, in the units of the inputs (θ and cost in spread units, μ per unit
    time, σ per √unit time): the return-maximising band solves Bertram's first-order condition, which with
    u = (θ − a)√μ/σ reads D(u) = u − c√μ/(2σ) (D Dawson's function; one root); the Sharpe-maximising band (needs
    risk_free > 0: at r_f = 0 the ratio is √(E[T]/Var[T]) for any cost) is found by a bounded scalar search."""
    _check(theta, mu, sigma, cost)
    try:
        goal = BandObjective(objective)
    except ValueError:
        raise ValueError(f"objective must be one of {', '.join(BandObjective)}, got {objective!r}") from None
    scale = math.sqrt(mu) / sigma
    sd = sigma / math.sqrt(2.0 * mu)
    if goal is BandObjective.RETURN:
        if not cost > 0:
            raise ValueError("the return-maximising band needs cost > 0: without a cost it shrinks onto θ itself")
        half_cost = cost * scale / 2.0
        u = optimize.brentq(lambda v: float(special.dawsn(v)) - v + half_cost, half_cost, half_cost + 1.0, xtol=1e-14)
        return ou_band_stats(theta, mu, sigma, theta - u / scale, cost, risk_free=risk_free, objective=goal)
    if not risk_free > 0:
        raise ValueError(
            f"the Sharpe-maximising band needs risk_free > 0 (got {risk_free}): at 0 Bertram's Sharpe ratio "
            "does not depend on the band's cost and has no interior maximum"
        )

    def negative_sharpe(entry: float) -> float:
        return -ou_band_stats(theta, mu, sigma, entry, cost, risk_free=risk_free).sharpe

    lowest = theta - min(MAX_BAND_SDS, 10.0) * sd
    if not lowest < theta - cost / 2.0:
        raise ValueError(f"the cost {cost:g} exceeds the widest band searched (±{theta - lowest:g} around θ)")
    found = optimize.minimize_scalar(
        negative_sharpe, bounds=(lowest, theta - cost / 2.0), method="bounded", options={"xatol": sd * 1e-9}
    )
    return ou_band_stats(theta, mu, sigma, float(found.x), cost, risk_free=risk_free, objective=goal)


def round_trip_cost(price_x: float, price_y: float, beta: float, cost_bps: float) -> float:
    """The cost of one round trip of one unit of spread (long 1 y, short β x, or the reverse), in spread units: both
    legs filled twice at `cost_bps` per leg per fill (fees, half-spread, slippage) on their notional,
    2·cost_bps·10⁻⁴·(p_y + |β|·p_x)."""
    if not (price_x > 0 and price_y > 0):
        raise ValueError(f"prices must be > 0, got x {price_x}, y {price_y}")
    if not (cost_bps >= 0 and math.isfinite(beta)):
        raise ValueError(f"cost_bps must be >= 0 and beta finite, got {cost_bps}, {beta}")
    return 2.0 * cost_bps * 1e-4 * (price_y + abs(beta) * price_x)


def spread_edge(
    spread: Any, price_x: float, price_y: float, beta: float, bar_seconds: float, cost_bps: float
) -> SpreadEdge:
    """The spread's edge after costs: the exact-MLE OU fit of `spread` (y − α − β·x, bars of `bar_seconds`), the
    round trip of one unit of spread at the last prices and `cost_bps` per leg per fill (:func:`round_trip_cost`),
    Bertram's return-maximising band for it, and that band's expected return per day, both sides traded, as a share
    of the unit's gross notional. InsufficientData when the spread does not mean-revert."""
    fit = ou_fit(spread, bar_seconds)
    cost = round_trip_cost(price_x, price_y, beta, cost_bps)
    if cost == 0:
        raise ValueError("cost_bps must be > 0: without costs the optimal band shrinks onto the mean")
    bands = ou_optimal_thresholds(fit.theta, fit.mu, fit.sigma, cost)
    notional = price_y + abs(beta) * price_x
    return SpreadEdge(
        fit=fit,
        bands=bands,
        cost=cost,
        notional=notional,
        edge_per_day=bands.two_sided_return / 365.0 / notional,
        trade_seconds=bands.expected_trade_length * SECONDS_PER_YEAR,
        span_seconds=fit.nobs * bar_seconds,
        bar_seconds=bar_seconds,
    )
