"""Tests of the walk-forward: window geometry (purge, embargo, expanding), money reconciliation, no look-ahead (perturb
the future after a formation's end: nothing fitted up to it changes), and in-sample vs out-of-sample on known pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from analytics_fixtures import cointegrated_pair, random_walk_pair

import analytics as A

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def ou_pair():
    x, y, _ = cointegrated_pair(16_000, beta=0.04, alpha=100.0, half_life=30.0, seed=3)
    return x, y


def _params(**kw) -> A.WalkForwardParams:
    base = {"formation_bars": 3_000, "trading_bars": 1_000, "purge_bars": 10, "embargo_bars": 5, "fee_bps": 0.5}
    return A.WalkForwardParams(**{**base, **kw})


def test_window_geometry_with_purge_embargo_and_expanding() -> None:
    rolling = A.walk_forward_windows(5_000, _params(formation_bars=1_000, trading_bars=500))
    assert rolling[:2] == [(0, 1_000, 1_010, 1_510), (505, 1_505, 1_515, 2_015)]
    assert all(t1 <= 5_000 and t0 - f1 == 10 and f1 - f0 == 1_000 for f0, f1, t0, t1 in rolling)
    assert all(b[2] - a[3] == 5 for a, b in itertools.pairwise(rolling))  # the embargo
    expanding = A.walk_forward_windows(5_000, _params(formation_bars=1_000, trading_bars=500, expanding=True))
    assert [w[0] for w in expanding] == [0] * len(expanding) and expanding[1][1] == 1_505


def test_out_of_sample_money_reconciles(ou_pair) -> None:
    x, y = ou_pair
    result = A.walk_forward(x, y, _params())
    assert len(result.windows) == 12
    assert result.oos_equity.iloc[-1] - result.capital == pytest.approx(sum(w.oos_pnl for w in result.windows))
    assert result.oos_trades == sum(w.oos_trades for w in result.windows) > 50
    assert result.oos_costs > 0 and result.oos_costs == pytest.approx(sum(w.oos_costs for w in result.windows))
    assert result.is_trades == sum(w.is_trades for w in result.windows) > 3 * result.oos_trades  # 3× the bars
    assert result.is_costs == pytest.approx(sum(w.is_costs for w in result.windows))
    assert result.oos_funding == result.is_funding == 0.0  # no settlements recorded
    # every out-of-sample bar lies in a trading window, none in a formation window of its own step
    assert len(result.oos_pnl) == 12 * 1_000 and result.oos_pnl.index.is_unique
    for w in result.windows:
        assert w.formation_end <= w.trade_start and w.bands is not None
        assert w.entry_z == pytest.approx(w.bands.half_width / w.ou.stationary_sd) and w.exit_z == -w.entry_z


def test_perturbing_the_future_changes_no_fit_up_to_it(ou_pair) -> None:
    x, y = ou_pair
    params = _params(bands=A.BandChoice.SWEEP)
    base = A.walk_forward(x, y, params)
    cut = base.windows[4].formation_end
    noisy = y.copy()
    noisy.iloc[cut:] += np.random.default_rng(0).normal(0.0, 5.0, len(y) - cut)
    perturbed = A.walk_forward(x, noisy, params)
    changed = 0
    for a, b in zip(base.windows, perturbed.windows, strict=True):
        if a.formation_end <= cut:
            assert (a.beta, a.alpha, a.ou, a.entry_z, a.exit_z, a.is_pnl) == (
                b.beta, b.alpha, b.ou, b.entry_z, b.exit_z, b.is_pnl,
            )  # fmt: skip
        else:
            changed += a.beta != b.beta
        if a.trade_end <= cut:
            assert a.oos_pnl == b.oos_pnl
    assert changed > 0  # the perturbation reaches the later fits: the test can fail
    before = base.oos_pnl.index < x.index[cut]
    np.testing.assert_array_equal(base.oos_pnl[before], perturbed.oos_pnl[before])


def test_optimal_bands_earn_out_of_sample_on_a_mean_reverting_pair(ou_pair) -> None:
    x, y = ou_pair
    result = A.walk_forward(x, y, _params())
    assert result.oos_annual_return > 0 and result.is_annual_return > 0
    assert 0.5 < result.efficiency < 1.5
    assert result.oos_sharpe > 0


def test_a_sweep_on_random_walks_does_worse_out_of_sample() -> None:
    ratios = []
    for seed in range(3):
        x, y = random_walk_pair(12_000, seed)
        result = A.walk_forward(x, y, _params(bands=A.BandChoice.SWEEP, fee_bps=0.0))
        ratios.append(result.oos_annual_return - result.is_annual_return)
    assert np.mean(ratios) < 0  # the in-sample best cell is the maximum of noisy trials


def _quoted(closes: pd.Series, half_bps: float) -> A.LegMarket:
    """A leg whose recorded 1-second quotes sit `half_bps` either side of every close (stamped at the bar's open:
    complete by its close)."""
    half = closes.to_numpy() * half_bps * 1e-4
    return A.LegMarket(quotes=pd.DataFrame({"bid": closes - half, "ask": closes + half}, index=closes.index))


def test_walk_forward_pays_the_backtests_costs(ou_pair) -> None:
    x, y = ou_pair
    fixed = _params(bands=A.BandChoice.FIXED, entry=1.5, exit=0.0)
    bare = A.walk_forward(x, y, fixed)
    stand_in = A.walk_forward(x, y, fixed, A.CostModel(taker_fee_bps=0.5, stand_in_half_spread_bps=2.0))
    quoted = A.walk_forward(x, y, fixed, A.CostModel(taker_fee_bps=0.5, x=_quoted(x, 2.0), y=_quoted(y, 2.0)))
    assert stand_in.oos_trades == bare.oos_trades > 20  # fixed levels: the costs change what is paid, not the trades
    # a half-spread of 2 bps per fill beside the 0.5 bps fee: 5× the fee alone (the fee paid on the touch price)
    assert stand_in.oos_costs == pytest.approx(5 * bare.oos_costs, rel=1e-3)
    assert float(bare.oos_pnl.sum() - stand_in.oos_pnl.sum()) == pytest.approx(stand_in.oos_costs - bare.oos_costs)
    assert quoted.oos_costs == pytest.approx(stand_in.oos_costs, rel=1e-9)  # the recorded quotes are what is paid
    np.testing.assert_allclose(quoted.oos_pnl, stand_in.oos_pnl, atol=1e-9)
    # funding: an 8-hourly-like settlement every 10 minutes on the y leg, 0.1 % a time (a long y pays)
    settlements = y.index[::600][1:]
    funding = pd.DataFrame({"rate": 1e-3, "mark_price": y.loc[settlements].to_numpy()}, index=settlements)
    funded = A.walk_forward(x, y, fixed, A.CostModel(taker_fee_bps=0.5, y=A.LegMarket(funding=funding)))
    assert funded.oos_funding != 0 and funded.is_funding != 0
    assert float(funded.oos_pnl.sum() - bare.oos_pnl.sum()) == pytest.approx(funded.oos_funding)
    # the OU-optimal band is priced with the same costs: dearer fills, a wider band
    cheap = A.walk_forward(x, y, _params())
    dear = A.walk_forward(x, y, _params(), A.CostModel(taker_fee_bps=0.5, stand_in_half_spread_bps=2.0))
    assert all(d.entry_z > c.entry_z for c, d in zip(cheap.windows, dear.windows, strict=True))
    with pytest.raises(ValueError, match="disagree"):
        A.walk_forward(x, y, fixed, A.CostModel(taker_fee_bps=4.0))


def test_walk_forward_refuses_bad_input(ou_pair) -> None:
    x, y = ou_pair
    with pytest.raises(A.InsufficientData, match="needs 4,010 bars"):
        A.walk_forward(x.iloc[:3_000], y.iloc[:3_000], _params())
    with pytest.raises(ValueError, match="formation_bars"):
        A.walk_forward(x, y, _params(formation_bars=5))
    with pytest.raises(ValueError, match="exit < entry"):
        A.walk_forward(x, y, _params(bands=A.BandChoice.FIXED, entry=1.0, exit=1.0))
