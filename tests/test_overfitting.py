"""Tests of the deflated Sharpe ratio and the probability of backtest overfitting: the paper's worked example, the
DSR's false-alarm rate on skill-less trials (its size), its power on a real edge, and PBO on known cases (pure-noise
configurations ≈ 0.5, one truly better configuration ≈ 0)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import analytics as A

pytestmark = pytest.mark.filterwarnings("error")


def test_deflated_sharpe_reproduces_the_worked_example() -> None:
    # Bailey & López de Prado (2014): SR 2.5 annualised on 1,250 daily observations, 100 trials of variance 0.5
    # annualised, skew −3, kurtosis 10
    result = A.deflated_sharpe_ratio(2.5 / math.sqrt(250), 100, 0.5 / 250, 1_250, -3.0, 10.0)
    assert result.sr0 == pytest.approx(0.1132, rel=1e-3)
    assert result.dsr == pytest.approx(0.9004, rel=1e-3)
    assert result.n_trials == 100 and result.n_obs == 1_250


def test_expected_maximum_grows_with_the_trials() -> None:
    assert A.expected_max_sharpe(1, 0.01) == 0.0
    values = [A.expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1_000)]
    assert values == sorted(values) and values[0] > 0
    assert A.expected_max_sharpe(100, 0.04) == pytest.approx(2 * A.expected_max_sharpe(100, 0.01))


def test_deflated_sharpe_false_alarm_rate_on_skill_less_trials() -> None:
    rng = np.random.default_rng(5)
    trials, alarms = 300, 0
    for _ in range(trials):
        alarms += A.trials_deflated_sharpe(rng.normal(0.0, 1e-3, (500, 20))).dsr > 0.95
    rate = alarms / trials
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_deflated_sharpe_sees_a_real_edge() -> None:
    rng = np.random.default_rng(6)
    returns = rng.normal(0.0, 1e-3, (2_000, 20))
    returns[:, 7] += 2e-4  # per-bar Sharpe 0.2
    result = A.trials_deflated_sharpe(pd.DataFrame(returns))
    assert result.sharpe == pytest.approx(0.2, abs=0.05)
    assert result.dsr > 0.99 and result.n_trials == 20


def test_pbo_of_pure_noise_is_about_one_half() -> None:
    rng = np.random.default_rng(8)
    values = [A.probability_of_overfitting(rng.normal(size=(400, 20)), n_blocks=10).pbo for _ in range(40)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.08)


def test_pbo_of_one_truly_better_configuration_is_about_zero() -> None:
    rng = np.random.default_rng(9)
    returns = rng.normal(size=(2_000, 30))
    returns[:, 3] += 0.15
    result = A.probability_of_overfitting(returns)
    assert result.pbo < 0.05
    assert result.n_splits == math.comb(16, 8) == len(result.logits) and result.n_configs == 30


def test_overfitting_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="n_trials"):
        A.expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="not excess"):
        A.deflated_sharpe_ratio(0.1, 10, 0.01, 100, 0.0, 0.0)
    with pytest.raises(ValueError, match="n_obs"):
        A.deflated_sharpe_ratio(0.1, 10, 0.01, 1, 0.0, 3.0)
    with pytest.raises(ValueError, match="2\\+ configurations"):
        A.probability_of_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even"):
        A.probability_of_overfitting(np.zeros((100, 3)), n_blocks=5)
    with pytest.raises(A.InsufficientData, match="at least 32"):
        A.probability_of_overfitting(np.zeros((20, 3)))
    with pytest.raises(ValueError, match="finite"):
        A.trials_deflated_sharpe(np.full((10, 3), np.nan))


def test_sweep_overfitting_counts_every_cell_as_a_trial() -> None:
    from analytics_fixtures import cointegrated_pair

    x, y, _ = cointegrated_pair(6_000, beta=0.04, alpha=100.0, half_life=30.0, seed=4)
    params = A.BacktestParams(fee_bps=0.5, bar_seconds=60.0, hedge_method="rolling", hedge_window=300, z_window=60)
    result = A.sweep_overfitting(x, y, params, (1.0, 2.0, 3.0), (-0.5, 0.0, 2.5))
    assert result.deflated.n_trials == 7  # the cells with exit < entry: (1.0, 2.5) and (2.0, 2.5) are not
    returns = A.sweep_returns(x, y, params, (1.0, 2.0, 3.0), (-0.5, 0.0, 2.5))
    best = returns.mean() / returns.std()
    assert f"{result.entry:g}/{result.exit:g}" == best.idxmax()
    assert result.sharpe == pytest.approx(best.max() * math.sqrt(525_600))
    assert result.sharpe > 0 and result.words().startswith("After 7 tries, the chance this Sharpe is real:")
    assert 0 <= result.overfitting.pbo <= 1
    costly = A.sweep_overfitting(x, y, dataclasses.replace(params, fee_bps=50.0), (1.0, 2.0), (-0.5, 0.0))
    assert costly.sharpe < 0 and costly.words().startswith("Every cell lost money after costs. After 4 tries")
    spread = A.CostModel(taker_fee_bps=0.5, stand_in_half_spread_bps=2.0)  # the backtest's costs, cell by cell
    paid = A.sweep_returns(x, y, params, (2.0,), (-0.5, 0.0), spread)
    single = A.backtest_pairs(x, y, dataclasses.replace(params, entry=2.0, exit=0.0), spread)
    np.testing.assert_allclose(paid["2/0"], single.pnl.to_numpy() / params.capital, atol=1e-15)
    assert A.sweep_overfitting(x, y, params, (2.0,), (-0.5, 0.0), spread).sharpe < result.sharpe
