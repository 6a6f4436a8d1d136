"""The cointegration-break alarm (analytics.spread_break_alarm) on spreads with known answers: causal, silent in its
formation window, at most one false onset per 10,000 stationary bars (Gaussian, Student-t(4) and GARCH
innovations), quick to notice an OU that became a random walk, and the same bar by bar as on a whole series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from break_fixtures import Innovations, delays, onsets, ou_then_walk

import analytics as A

FORMATION = 2_000


def test_silent_in_the_formation_and_typed():
    trend = np.arange(FORMATION + 3_000.0) + np.random.default_rng(1).normal(0.0, 1.0, FORMATION + 3_000)
    index = pd.date_range("2026-01-01", periods=trend.size, freq="1s", tz="UTC", name="time")
    with pytest.raises(A.InsufficientData, match="does not mean-revert"):  # no cointegration to lose
        A.spread_break_alarm(pd.Series(trend, index=index), FORMATION)
    path = ou_then_walk(np.random.default_rng(2), 1, FORMATION + 3_000, FORMATION)[0]
    alarm = A.spread_break_alarm(pd.Series(path, index=index), FORMATION)
    assert alarm.dtype == bool and alarm.index.equals(index) and alarm.name == "break_alarm"
    assert not alarm.iloc[:FORMATION].any() and alarm.iloc[FORMATION:].any()
    assert A.break_evidence(path, FORMATION).iloc[:FORMATION].isna().all()


def test_causal_perturbing_the_future_leaves_the_past():
    rng = np.random.default_rng(3)
    path = ou_then_walk(rng, 1, FORMATION + 4_000, FORMATION + 500)[0]
    before = A.spread_break_alarm(path, FORMATION)
    evidence = A.break_evidence(path, FORMATION)
    for cut in (FORMATION, FORMATION + 700, FORMATION + 2_500):
        changed = path.copy()
        changed[cut:] += rng.normal(0.0, 30.0, changed.size - cut)
        changed[cut + 5 :: 7] = np.nan  # holes in the future as well
        np.testing.assert_array_equal(A.spread_break_alarm(changed, FORMATION).to_numpy()[:cut], before[:cut])
        np.testing.assert_array_equal(A.break_evidence(changed, FORMATION).to_numpy()[:cut], evidence.to_numpy()[:cut])
        np.testing.assert_array_equal(A.spread_break_alarm(path[:cut], FORMATION).to_numpy(), before[:cut])


@pytest.mark.parametrize("kind", list(Innovations))
def test_at_most_one_false_onset_per_10000_stationary_bars(kind):
    pairs, bars = 60, 10_000
    calm = ou_then_walk(np.random.default_rng(4), pairs, FORMATION + bars, None, kind)
    standing = np.stack([A.spread_break_alarm(row, FORMATION).to_numpy() for row in calm])
    rate = 1e4 * onsets(standing, FORMATION).sum() / (pairs * bars)
    assert rate <= 1.0, f"{rate:.2f} false onsets per 10,000 bars with {kind} innovations"


def test_detects_a_spread_that_became_a_random_walk():
    pairs, brk = 60, FORMATION + 500
    broken = ou_then_walk(np.random.default_rng(5), pairs, brk + 4_000, brk)
    standing = np.stack([A.spread_break_alarm(row, FORMATION).to_numpy() for row in broken])
    delay = delays(standing, brk)
    assert np.mean(np.isfinite(delay)) >= 0.9  # found within 4,000 bars (67 half-lives)
    assert np.nanmedian(delay) < 900  # the bench measures ~470 bars
    # hysteresis: once on, the alarm of a walk that keeps wandering is one episode, not a flicker
    assert onsets(standing, brk).mean() < 1.5


def test_bar_by_bar_state_gives_the_same_alarm():
    path = ou_then_walk(np.random.default_rng(6), 1, FORMATION + 3_000, FORMATION + 800)[0]
    path[FORMATION + 300] = np.nan  # a hole after the formation adds no evidence
    whole = A.spread_break_alarm(path, FORMATION).to_numpy()
    evidence = A.break_evidence(path, FORMATION).to_numpy()
    state = A.break_alarm_state(path[: FORMATION + 100], FORMATION)
    for i in range(FORMATION + 100, path.size):
        state = A.break_alarm_update(state, float(path[i]))
        assert state.standing == whole[i] and state.evidence == pytest.approx(evidence[i], abs=1e-9)
    assert state.bars == path.size and whole.any()


def test_formation_fit_reads_the_ou():
    fit = A.break_alarm_fit(ou_then_walk(np.random.default_rng(7), 1, 20_000, None)[0], 20_000)
    assert fit.half_life == pytest.approx(60, rel=0.15) and fit.sigma == pytest.approx(1.0, rel=0.02)
    assert fit.sigma_eq == pytest.approx(fit.sigma / np.sqrt(1 - fit.ar1**2)) and fit.formation_bars == 20_000


@pytest.mark.parametrize(
    ("formation", "spread", "error", "words"),
    [
        (100, np.arange(500.0) % 7, ValueError, "at least 200"),
        (300.5, np.arange(500.0) % 7, ValueError, "integer"),
        (True, np.arange(500.0) % 7, ValueError, "integer"),
        (400, np.arange(300.0) % 7, A.InsufficientData, "fewer than its formation"),
        (
            300,
            np.where(np.arange(500) == 10, np.nan, np.arange(500.0) % 7),
            ValueError,
            "NaN values inside its formation",
        ),
        (300, np.where(np.arange(500) == 10, np.inf, np.arange(500.0) % 7), ValueError, "inf"),
        (300, np.ones(500), A.InsufficientData, "constant"),
        (300, np.array(["a"] * 500), ValueError, "numeric"),
    ],
)
def test_bad_input_is_refused_with_its_reason(formation, spread, error, words):
    with pytest.raises(error, match=words):
        A.spread_break_alarm(spread, formation)
