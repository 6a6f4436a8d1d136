"""quant/signals.py: the band rules one bar at a time give exactly the backtest state machine's trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analytics
from core.vocabulary import SignalKind
from quant.backtest import find_trades

REASONS = {SignalKind.EXIT: 0, SignalKind.STOP: 1, SignalKind.MAX_HOLD: 2}


def stepped(z: np.ndarray, bands: analytics.SignalBands) -> list[tuple[int, int, int, int]]:
    """(entry bar, side, exit bar, reason code) of each round trip found by step_signal."""
    state, trades, entry = analytics.SignalState(), [], None
    for t, value in enumerate(z):
        state, kind = analytics.step_signal(state, float(value), bands)
        if kind is not None and kind.is_entry:
            entry = (t, 1 if kind is SignalKind.ENTRY_LONG else -1)
        elif kind is not None and entry is not None:
            trades.append((entry[0], entry[1], t, REASONS[kind]))
            entry = None
    return trades


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    "bands",
    [
        analytics.SignalBands(2.0, 0.0),
        analytics.SignalBands(1.5, 0.5, stop=3.0),
        analytics.SignalBands(1.0, -0.5, stop=2.5, max_hold_bars=7),
        analytics.SignalBands(1.2, 0.0, max_hold_bars=3),
    ],
)
def test_step_signal_reproduces_the_backtest_state_machine(seed, bands):
    rng = np.random.default_rng(seed)
    z = np.zeros(3000)
    for t in range(1, z.size):  # an AR(1) z-score with NaN holes, crossing every band often
        z[t] = 0.9 * z[t - 1] + rng.normal(0, 0.8)
    z[rng.random(z.size) < 0.03] = np.nan
    sig_in, side, sig_out, codes = find_trades(z, bands.entry, bands.exit, bands.stop, bands.max_hold_bars, 0)
    expected = [
        (int(i), int(s), int(o), int(c))
        for i, s, o, c in zip(sig_in, side, sig_out, codes, strict=True)
        if c != 3  # closed at the end of the data: a live monitor keeps it open
    ]
    found = stepped(z, bands)
    assert len(expected) > 20
    assert found[: len(expected)] == expected
    assert len(found) - len(expected) <= 1  # at most one more trade the backtest leaves open at the last bars


def test_bands_refuse_inconsistent_levels():
    with pytest.raises(ValueError, match="exit < entry"):
        analytics.SignalBands(1.0, 1.0)
    with pytest.raises(ValueError, match="stop"):
        analytics.SignalBands(2.0, 0.0, stop=1.5)
    with pytest.raises(ValueError, match="max_hold_bars"):
        analytics.SignalBands(2.0, 0.0, max_hold_bars=0)


@pytest.mark.parametrize(("hedge_window", "z_window", "bars"), [(300, 60, 1), (120, 30, 50), (40, 15, 7), (5, 3, 20)])
def test_rolling_tail_equals_the_backtests_pandas_series(hedge_window, z_window, bars):
    rng = np.random.default_rng(hedge_window)
    x = 60_000 * np.exp(np.cumsum(rng.normal(0, 2e-4, 1500)))
    y = 0.04 * x + np.cumsum(rng.normal(0, 0.3, x.size)) * 0.1
    x[700:720] = x[699]  # a flat stretch: β undefined there
    index = pd.date_range("2024-08-08", periods=x.size, freq="1s", tz="UTC")
    xs, ys = pd.Series(x, index), pd.Series(y, index)
    hedge = analytics.fit_hedge(xs, ys, "rolling", window=hedge_window)
    spread = analytics.calculate_spread(xs, ys, hedge.beta_series, hedge.alpha_series)
    z = analytics.calculate_zscore(spread, z_window).to_numpy()
    for end in (hedge_window + z_window - 3, 720, 1000, x.size):  # in the warm-up, beside the flat stretch, later
        tail = analytics.rolling_tail(x[:end], y[:end], hedge_window, z_window, bars)
        want = slice(max(0, end - bars), end)
        assert np.allclose(tail.zscore[-(want.stop - want.start) :], z[want], rtol=0, atol=1e-9, equal_nan=True)
        ref_beta = hedge.beta_series.ffill().to_numpy()[want]
        got_beta = tail.beta[-(want.stop - want.start) :]
        assert np.allclose(got_beta, ref_beta, rtol=1e-10, equal_nan=True)
        assert np.allclose(tail.spread[-(want.stop - want.start) :], spread.to_numpy()[want], atol=1e-8, equal_nan=True)
