"""Tests of the OU fit and Bertram's (2010) optimal bands: arbitragelab's reference values, a simulated OU traded at
its optimal band (the renewal-reward law: it earns E[R]·t within two standard errors), the fit's recovery of known
parameters on 1-minute bars of a 24/7 year, and bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from analytics_fixtures import time_index
from scipy.signal import lfilter

import analytics as A

pytestmark = pytest.mark.filterwarnings("error")

REF = {"theta": 0.0, "mu": 180.967, "sigma": 0.1538, "cost": 0.001}  # arbitragelab's Bertram test


def test_return_maximising_band_reproduces_the_reference() -> None:
    bands = A.ou_optimal_thresholds(**REF)
    assert bands.objective is A.BandObjective.RETURN
    assert bands.entry == pytest.approx(-0.0047152, rel=1e-3)
    assert bands.exit == pytest.approx(0.0047152, rel=1e-3)
    assert bands.expected_trade_length == pytest.approx(0.0171224, rel=1e-3)
    assert bands.expected_return == pytest.approx(0.4923583, rel=1e-3)
    assert bands.trade_length_variance == pytest.approx(0.00015442, rel=1e-3)
    assert bands.return_variance == pytest.approx(0.0021862, rel=1e-3)
    assert bands.half_width == pytest.approx(0.0047152, rel=1e-3)
    assert bands.two_sided_return == pytest.approx(2 * 0.4923583, rel=1e-3)


def test_return_maximising_band_is_the_maximum() -> None:
    best = A.ou_optimal_thresholds(**REF)
    for shift in (0.9, 0.97, 1.03, 1.1):
        other = A.ou_band_stats(REF["theta"], REF["mu"], REF["sigma"], best.entry * shift, REF["cost"])
        assert other.expected_return < best.expected_return


def test_sharpe_maximising_band_reproduces_the_reference() -> None:
    bands = A.ou_optimal_thresholds(**REF, objective="sharpe", risk_free=0.01)
    assert bands.sharpe == pytest.approx(3.86, rel=1e-3)
    assert bands.entry == pytest.approx(-0.011267, rel=1e-3)
    assert bands.objective is A.BandObjective.SHARPE


def test_band_moves_with_the_mean_and_widens_with_cost() -> None:
    shifted = A.ou_optimal_thresholds(5.0, REF["mu"], REF["sigma"], REF["cost"])
    assert shifted.entry == pytest.approx(5.0 - 0.0047152, rel=1e-6)
    assert shifted.exit == pytest.approx(5.0 + 0.0047152, rel=1e-6)
    cheap = A.ou_optimal_thresholds(**{**REF, "cost": 0.0002})
    dear = A.ou_optimal_thresholds(**{**REF, "cost": 0.01})
    assert cheap.half_width < 0.0047152 < dear.half_width
    assert dear.expected_return < 0.4923583 < cheap.expected_return


def _trade_paths(bands: A.OUBands, theta: float, mu: float, sigma: float, years: float, paths: int, seed: int):
    """Return per path of Bertram's strategy on exact OU paths started at the entry: long when X ≤ entry, sold when
    X ≥ exit, booked at the prices where the band was crossed (4,000 steps per expected trade: the overshoot past
    the bands adds ~0.75 % to the return, a fifth of a standard error here)."""
    steps_per_trade = 4_000
    dt = bands.expected_trade_length / steps_per_trade
    n = int(years / dt)
    b = math.exp(-mu * dt)
    step_sd = sigma * math.sqrt((1 - b * b) / (2 * mu))
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, step_sd, (paths, n))
    shocks[:, 0] += (bands.entry - theta) * b
    x = theta + lfilter([1.0], [1.0, -b], shocks, axis=1)
    x = np.concatenate([np.full((paths, 1), bands.entry), x], axis=1)
    totals = []
    for path in x:
        below, above = np.flatnonzero(path <= bands.entry), np.flatnonzero(path >= bands.exit)
        total, t = 0.0, 0
        while True:
            k = np.searchsorted(above, t)
            if k == above.size:
                break  # a trade still open at the end is left out: the renewal-reward law counts whole cycles
            sold = int(above[k])
            total += path[sold] - path[t] - bands.cost
            k = np.searchsorted(below, sold)
            if k == below.size:
                break
            t = int(below[k])
        totals.append(total)
    return np.array(totals)


def test_simulated_ou_at_its_optimal_band_earns_the_expected_return() -> None:
    theta, mu, sigma = REF["theta"], REF["mu"], REF["sigma"]
    bands = A.ou_optimal_thresholds(**REF)
    years, paths = 100 * bands.expected_trade_length, 60
    totals = _trade_paths(bands, theta, mu, sigma, years, paths, seed=8)
    expected = bands.expected_return * years
    model_se = math.sqrt(bands.return_variance * years / paths)
    assert abs(totals.mean() - expected) < 2 * model_se
    # the spread of the paths' returns matches the model's variance of the return per unit time
    assert totals.std(ddof=1) == pytest.approx(math.sqrt(bands.return_variance * years), rel=0.25)


def _ou_bars(n: int, theta: float, mu: float, sigma: float, bar_seconds: float, seed: int) -> pd.Series:
    dt = bar_seconds / A.SECONDS_PER_YEAR
    b = math.exp(-mu * dt)
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, sigma * math.sqrt((1 - b * b) / (2 * mu)), n)
    return pd.Series(theta + lfilter([1.0], [1.0, -b], shocks), index=time_index(n, int(bar_seconds)))


def test_fit_recovers_known_parameters_on_one_minute_bars() -> None:
    mu = math.log(2) / (30 / 525_600)  # half-life 30 minutes, per year
    estimates = [A.ou_fit(_ou_bars(40_000, 3.0, mu, 0.8, 60.0, seed), 60.0) for seed in range(8)]
    fit = estimates[0]
    assert fit.bar_years == pytest.approx(1 / 525_600) and fit.nobs == 40_000
    assert fit.ar1 == pytest.approx(math.exp(-mu / 525_600), abs=0.005)
    mus = np.array([e.mu for e in estimates])
    assert abs(mus.mean() / mu - 1) < 0.1
    assert np.mean([e.sigma for e in estimates]) == pytest.approx(0.8, rel=0.02)
    assert np.mean([e.theta for e in estimates]) == pytest.approx(3.0, abs=0.05)
    assert fit.stationary_sd == pytest.approx(fit.sigma / math.sqrt(2 * fit.mu))
    assert fit.half_life_years * 525_600 == pytest.approx(30, rel=0.25)


def test_fit_refuses_a_random_walk_and_bad_input() -> None:
    walk = pd.Series(np.cumsum(np.random.default_rng(1).normal(size=3_000)) + 0.0, index=time_index(3_000))
    walk.iloc[1:] += np.linspace(0, 200, 2_999)  # a trend: the AR(1) coefficient is ≥ 1
    with pytest.raises(A.InsufficientData, match="does not mean-revert"):
        A.ou_fit(walk, 1.0)
    with pytest.raises(ValueError, match="bar_seconds"):
        A.ou_fit(walk, 0.0)
    holed = _ou_bars(500, 0.0, 1e5, 1.0, 1.0, 3)
    holed.iloc[200] = np.nan
    with pytest.raises(ValueError, match="NaN values inside"):
        A.ou_fit(holed, 1.0)


def test_bands_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mu"):
        A.ou_optimal_thresholds(0.0, -1.0, 0.1, 0.001)
    with pytest.raises(ValueError, match="sigma"):
        A.ou_optimal_thresholds(0.0, 1.0, 0.0, 0.001)
    with pytest.raises(ValueError, match="cost"):
        A.ou_optimal_thresholds(0.0, 1.0, 0.1, -0.001)
    with pytest.raises(ValueError, match="cost > 0"):
        A.ou_optimal_thresholds(0.0, 1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="objective"):
        A.ou_optimal_thresholds(**REF, objective="profit")
    with pytest.raises(ValueError, match="risk_free > 0"):
        A.ou_optimal_thresholds(**REF, objective="sharpe")
    with pytest.raises(ValueError, match="below the mean"):
        A.ou_band_stats(0.0, 1.0, 0.1, 0.01, 0.0)


def test_spread_edge_weighs_the_band_against_the_round_trip() -> None:
    mu = math.log(2) / (20 / 525_600)  # half-life 20 one-minute bars
    spread = _ou_bars(10_000, 0.0, mu, 400.0, 60.0, 11)  # stationary sd 400 / √(2μ) ≈ 2.1 in price units
    cheap = A.spread_edge(spread, 60_000.0, 2_500.0, 0.04, 60.0, 1.0)
    assert cheap.cost == pytest.approx(A.round_trip_cost(60_000.0, 2_500.0, 0.04, 1.0)) == pytest.approx(0.98)
    assert cheap.notional == pytest.approx(4_900.0)
    assert cheap.edge_per_day == pytest.approx(2 * cheap.bands.expected_return / 365 / 4_900)
    assert cheap.entry_z == pytest.approx(cheap.bands.half_width / cheap.fit.stationary_sd)
    assert cheap.covers_cost and cheap.trade_seconds < cheap.span_seconds
    dear = A.spread_edge(spread, 60_000.0, 2_500.0, 0.04, 60.0, 18.0)  # a round trip of ~8 stationary sds
    assert dear.entry_z > cheap.entry_z and dear.edge_per_day < cheap.edge_per_day
    assert not dear.covers_cost
    with pytest.raises(ValueError, match="cost_bps must be > 0"):
        A.spread_edge(spread, 60_000.0, 2_500.0, 0.04, 60.0, 0.0)
    assert cheap.cost_bps == pytest.approx(1.0) and dear.cost_bps == pytest.approx(18.0)


def test_pair_cost_bps_weighs_each_legs_measured_half_spread() -> None:
    index = time_index(4, 60)
    px, py = np.full(4, 60_000.0), np.full(4, 2_500.0)
    half = np.array([1.0, 3.0, 2.0, 2.0]) * 1e-4 * px  # median 2 bps
    quotes = pd.DataFrame({"bid": px - half, "ask": px + half}, index=index)
    costs = A.CostModel(taker_fee_bps=4.0, maker_fee_bps=2.0, stand_in_half_spread_bps=1.0, x=A.LegMarket(quotes))
    market = A.pair_market(index, px, py, 60.0, costs)
    # y pays the stand-in 1 bps, x its measured 2 bps, weighted by notional (2,500 and 0.04 × 60,000 = 2,400)
    expected = ((4.0 + 0.5 + 1.0) * 2_500 + (4.0 + 0.5 + 2.0) * 2_400) / 4_900
    assert A.pair_cost_bps(market, 0.04, 0.5) == pytest.approx(expected)
    maker = A.pair_market(index, px, py, 60.0, dataclasses.replace(costs, liquidity=A.Liquidity.MAKER))
    assert A.pair_cost_bps(maker, -0.04, 0.0) == pytest.approx(((2.0 - 1.0) * 2_500 + (2.0 - 2.0) * 2_400) / 4_900)
