"""Tests for visualizations.py: downsampling budgets, candle re-bucketing and every figure builder."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import visualizations as viz

BIG = 200_000
START = pd.Timestamp("2024-01-01", tz="UTC")


# ---------------------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------------------------


def _index(n: int, freq: str = "1s", unit: str = "ns") -> pd.DatetimeIndex:
    """UTC bar-open index of n bars."""
    return pd.date_range(START, periods=n, freq=freq, name="time", unit=unit)


def _walk(n: int, seed: int = 0, start: float = 100.0) -> np.ndarray:
    """Positive random-walk prices."""
    return start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 1e-4, n)))


def _bars(n: int, seed: int = 0, start: float = 100.0) -> pd.DataFrame:
    """OHLCV bars with the analytics column set."""
    close = _walk(n, seed, start)
    opens = np.concatenate([[start], close[:-1]])
    rng = np.random.default_rng(seed + 1)
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * 1.0002,
            "low": np.minimum(opens, close) * 0.9998,
            "close": close,
            "volume": rng.random(n),
            "trades": rng.integers(1, 9, n),
            "vwap": (opens + close) / 2,
            "filled": np.zeros(n, dtype=bool),
        },
        index=_index(n),
    )


@pytest.fixture(scope="module")
def big_closes() -> pd.DataFrame:
    """Two symbols with very different price levels, BIG bars each."""
    idx = _index(BIG)
    return pd.DataFrame({"BTCUSDT": _walk(BIG, 1, 60_000.0), "ETHUSDT": _walk(BIG, 2, 3_000.0)}, index=idx)


@pytest.fixture(scope="module")
def big_z() -> pd.Series:
    """A noisy z-score series of BIG points."""
    return pd.Series(np.random.default_rng(3).normal(0, 1.2, BIG), index=_index(BIG), name="z")


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    """Backtest trade log: one closed long, one closed short, one still open."""
    idx = _index(BIG)
    return pd.DataFrame(
        {
            "entry_time": idx[[100, 5_000, 150_000]],
            "exit_time": [idx[900], idx[7_000], pd.NaT],
            "side": ["long", "short", "long"],
            "entry_z": [-2.3, 2.4, -2.1],
            "exit_z": [0.1, -0.05, np.nan],
            "net_pnl": [12.5, -3.0, np.nan],
        }
    )


def _xaxes(fig: go.Figure) -> list:
    """All x axes of a figure."""
    return list(fig.select_xaxes())


def _yaxes(fig: go.Figure) -> list:
    """All y axes of a figure."""
    return list(fig.select_yaxes())


def _assert_time_figure(fig: go.Figure, point_budget: int = viz.MAX_POINTS) -> None:
    """Epoch-ms int x data, date axes with titles somewhere, within budget, serialisable."""
    assert isinstance(fig, go.Figure)
    assert fig.data, "figure has no traces"
    for trace in fig.data:
        x = np.asarray(trace.x)
        assert np.issubdtype(x.dtype, np.integer), f"{trace.name}: x dtype {x.dtype} is not epoch-ms ints"
        assert x.min() > 1_500_000_000_000, f"{trace.name}: x is not in epoch milliseconds"
        assert len(x) <= point_budget, f"{trace.name}: {len(x)} points over budget"
    axes = _xaxes(fig)
    assert axes and all(ax.type == "date" for ax in axes)
    assert any(ax.title.text == viz.TIME_TITLE for ax in axes)
    assert all(ax.title.text for ax in _yaxes(fig)), "every y axis needs a title"
    assert fig.layout.uirevision
    assert json.loads(fig.to_json())["data"]


def _assert_no_data(fig: go.Figure) -> None:
    """The figure is the empty placeholder carrying a "No data" annotation."""
    assert isinstance(fig, go.Figure)
    assert not fig.data
    assert any(viz.NO_DATA in (a.text or "") for a in fig.layout.annotations)
    fig.to_json()


# ---------------------------------------------------------------------------------------------------------------
# minmax_downsample / envelope_downsample
# ---------------------------------------------------------------------------------------------------------------


def test_minmax_downsample_one_million_points_keeps_extremes_and_ends() -> None:
    n = 1_000_000
    x = np.arange(n, dtype=np.int64) * 1_000 + 1_700_000_000_000
    y = np.cumsum(np.random.default_rng(7).normal(size=n))
    y[123_457] = 1e6
    y[876_543] = -1e6
    xs, ys = viz.minmax_downsample(x, y, 2_000)
    assert len(xs) == len(ys) <= 2_000
    assert len(xs) > 1_000, "should use most of the budget"
    assert ys.max() == y.max() and ys.min() == y.min()
    assert xs[np.argmax(ys)] == x[123_457] and xs[np.argmin(ys)] == x[876_543]
    assert (xs[0], ys[0]) == (x[0], y[0]) and (xs[-1], ys[-1]) == (x[-1], y[-1])
    assert np.all(np.diff(xs) > 0)
    assert xs.dtype == np.int64


@pytest.mark.parametrize("n_out", [4, 10, 101, 2_000, 4_999])
@pytest.mark.parametrize("n", [5_000, 12_345])
def test_minmax_downsample_respects_any_budget(n: int, n_out: int) -> None:
    y = np.random.default_rng(n).normal(size=n)
    xs, ys = viz.minmax_downsample(np.arange(n), y, n_out)
    assert len(xs) <= n_out
    assert ys.max() == y.max() and ys.min() == y.min()
    assert xs[0] == 0 and xs[-1] == n - 1


def test_minmax_downsample_small_input_unchanged() -> None:
    x = np.arange(1_500, dtype=np.int64)
    y = np.sin(x / 10.0)
    xs, ys = viz.minmax_downsample(x, y, 2_000)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def test_minmax_downsample_nan_safe_and_keeps_gaps() -> None:
    n = 100_000
    y = np.random.default_rng(1).normal(size=n)
    y[20_000:40_000] = np.nan
    y[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xs, ys = viz.minmax_downsample(np.arange(n), y, 1_000)
        all_nan_x, all_nan_y = viz.minmax_downsample(np.arange(n), np.full(n, np.nan), 1_000)
    assert len(xs) <= 1_000
    assert np.nanmax(ys) == np.nanmax(y) and np.nanmin(ys) == np.nanmin(y)
    inside_gap = (xs >= 20_000) & (xs < 40_000)
    assert inside_gap.any() and np.isnan(ys[inside_gap]).all(), "the NaN gap must survive as NaN points"
    assert len(all_nan_x) <= 1_000 and np.isnan(all_nan_y).all()


def test_envelope_downsample_never_narrows_band() -> None:
    n = 300_000
    mid = np.cumsum(np.random.default_rng(2).normal(size=n))
    width = np.abs(np.random.default_rng(3).normal(size=n))
    lower, upper = mid - width, mid + width
    xs, lo, hi = viz.envelope_downsample(np.arange(n), lower, upper, 2_000)
    assert len(xs) == len(lo) == len(hi) <= 2_000
    assert lo.min() == lower.min() and hi.max() == upper.max()
    assert xs[0] == 0 and xs[-1] == n - 1 and np.all(np.diff(xs) >= 0)


# ---------------------------------------------------------------------------------------------------------------
# rebucket_candles
# ---------------------------------------------------------------------------------------------------------------


def test_rebucket_100k_one_second_bars_fits_budget() -> None:
    bars = _bars(100_000)
    out = viz.rebucket_candles(bars, 1_500)
    assert len(out) <= 1_500
    assert isinstance(out.index, pd.DatetimeIndex) and str(out.index.tz) == "UTC"
    assert out.index.is_monotonic_increasing
    assert out["volume"].sum() == pytest.approx(bars["volume"].sum())
    assert out["trades"].sum() == bars["trades"].sum()
    assert out["high"].max() == bars["high"].max() and out["low"].min() == bars["low"].min()
    assert out["open"].iloc[0] == bars["open"].iloc[0] and out["close"].iloc[-1] == bars["close"].iloc[-1]
    assert out.attrs["bucket_ms"] % 1_000 == 0


def test_rebucket_aggregation_exact_on_hand_made_bars() -> None:
    idx = pd.date_range("2024-01-01 00:00", periods=6, freq="1min", tz="UTC", unit="s")
    bars = pd.DataFrame(
        {
            "open": [10.0, 11.0, 12.0, 13.0, 14.0, 20.0],
            "high": [11.5, 12.5, 15.0, 13.5, 14.5, 21.0],
            "low": [9.5, 8.0, 11.5, 12.5, 13.0, 19.0],
            "close": [11.0, 12.0, 13.0, 14.0, 13.5, 20.5],
            "volume": [1.0, 2.0, 3.0, 4.0, 0.0, 5.0],
            "trades": [1, 2, 3, 4, 0, 5],
            "vwap": [10.5, 11.5, 12.5, 13.5, 13.5, 20.2],
            "filled": [False, False, False, False, True, True],
        },
        index=idx,
    )
    out = viz.rebucket_candles(bars, max_candles=2)
    assert out.attrs["bucket_ms"] == 5 * 60_000
    assert list(out.index) == [idx[0], idx[5]]
    first = out.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (10.0, 15.0, 8.0, 13.5)
    assert first["volume"] == 10.0 and first["trades"] == 10
    assert first["vwap"] == pytest.approx((10.5 * 1 + 11.5 * 2 + 12.5 * 3 + 13.5 * 4) / 10)
    assert not first["filled"]
    last = out.iloc[1]
    assert (last["open"], last["high"], last["low"], last["close"], last["volume"]) == (20.0, 21.0, 19.0, 20.5, 5.0)
    assert bool(last["filled"])


def test_rebucket_small_input_returned_unchanged() -> None:
    bars = _bars(500)
    assert viz.rebucket_candles(bars, 1_500) is bars


def test_rebucket_keeps_a_naive_index_naive() -> None:
    bars = _bars(5_000)
    bars.index = bars.index.tz_localize(None)
    out = viz.rebucket_candles(bars, 100)
    assert len(out) <= 100 and out.index.tz is None


# ---------------------------------------------------------------------------------------------------------------
# Time conversion and colours
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_to_epoch_ms_any_unit_and_naive_as_utc(unit: str) -> None:
    idx = _index(3, unit=unit)
    expected = np.array([1_704_067_200_000, 1_704_067_201_000, 1_704_067_202_000])
    np.testing.assert_array_equal(viz.to_epoch_ms(idx), expected)
    np.testing.assert_array_equal(viz.to_epoch_ms(idx.tz_localize(None)), expected)
    np.testing.assert_array_equal(viz.to_epoch_ms(idx.tz_convert("Asia/Tokyo")), expected)


def test_symbol_colours_are_stable_and_distinct() -> None:
    assert viz.symbol_color("btcusdt") == viz.symbol_color("BTCUSDT") == viz.symbol_color("BTCUSDC")
    assert viz.symbol_color("BTCUSDT") != viz.symbol_color("ETHUSDT")
    assert viz.symbol_color("SOMENEWUSDT") == viz.symbol_color("SOMENEWUSDT")
    assert viz.split_symbol("1000PEPEUSDT") == ("1000PEPE", "USDT")


# ---------------------------------------------------------------------------------------------------------------
# Builders on big inputs
# ---------------------------------------------------------------------------------------------------------------


def test_candlestick_figure_big_input() -> None:
    fig = viz.multi_candlestick_figure({"BTCUSDT": _bars(BIG)})
    _assert_time_figure(fig, point_budget=viz.MAX_CANDLES)
    candles = [t for t in fig.data if isinstance(t, go.Candlestick)]
    volume = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(candles) == 1 and len(volume) == 2  # rising and falling bars, one colour each
    assert len(candles[0].x) <= viz.MAX_CANDLES and sum(len(v.x) for v in volume) == len(candles[0].x)
    assert all(isinstance(v.marker.color, str) for v in volume), "a colour array makes plotly.js warn at every draw"
    assert volume[0].yaxis == volume[1].yaxis != candles[0].yaxis, "volume must live in its own panel"
    titles = {ax.title.text for ax in _yaxes(fig)}
    assert {"Price (USDT)", "Volume (BTC)"} <= titles
    assert all(ax.rangeslider.visible is False for ax in _xaxes(fig))
    assert any("candles" in (a.text or "") for a in fig.layout.annotations)


def test_volume_bars_are_a_bar_wide_even_when_a_direction_has_one_bar() -> None:
    bars = _bars(2).set_axis(pd.date_range("2024-01-01", periods=2, freq="1min", tz="UTC"))
    bars[["open", "close"]] = [[100.0, 101.0], [101.0, 100.0]]  # one rising, one falling minute
    volume = [t for t in viz.multi_candlestick_figure({"BTCUSDT": bars}).data if isinstance(t, go.Bar)]
    assert [len(v.x) for v in volume] == [1, 1] and all(v.width == pytest.approx(30_000) for v in volume)


def test_candlestick_without_volume_panel() -> None:
    fig = viz.multi_candlestick_figure({"ETHUSDT": _bars(300)}, show_volume=False)
    assert [type(t) for t in fig.data] == [go.Candlestick]
    _assert_time_figure(fig)


def test_multi_symbol_candles_share_the_candle_budget() -> None:
    fig = viz.create_ohlc_chart(
        {"btcusdt": _bars(BIG), "ethusdt": _bars(BIG, seed=5, start=3_000.0)}, symbols=["BTCUSDT", "ETHUSDT"]
    )
    candles = [t for t in fig.data if isinstance(t, go.Candlestick)]
    assert [t.name for t in candles] == ["BTCUSDT", "ETHUSDT"]
    assert sum(len(t.x) for t in candles) <= viz.MAX_CANDLES
    _assert_time_figure(fig, point_budget=viz.MAX_CANDLES)


def test_create_ohlc_chart_accepts_long_frame_with_epoch_ms_column() -> None:
    frames = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        b = _bars(50).reset_index(drop=True)
        b["timestamp"] = viz.to_epoch_ms(_index(50))
        b["symbol"] = sym.lower()
        frames.append(b)
    fig = viz.create_ohlc_chart(pd.concat(frames), symbols=["btcusdt", "ETHUSDT"])
    assert [t.name for t in fig.data if isinstance(t, go.Candlestick)] == ["BTCUSDT", "ETHUSDT"]
    _assert_time_figure(fig)


def test_normalized_price_figure(big_closes: pd.DataFrame) -> None:
    for mode, start in (("rebased", 100.0), ("pct", 0.0)):
        fig = viz.normalized_price_figure(big_closes, mode=mode)
        _assert_time_figure(fig)
        assert [t.name for t in fig.data] == ["BTCUSDT", "ETHUSDT"]
        assert all(t.y[0] == pytest.approx(start) for t in fig.data)
        assert fig.data[0].line.color == viz.symbol_color("BTCUSDT")
    with pytest.raises(ValueError):
        viz.normalized_price_figure(big_closes, mode="log")


def test_compact_price_figure(big_closes: pd.DataFrame) -> None:
    fig = viz.compact_price_figure(big_closes)
    _assert_time_figure(fig, point_budget=viz.COMPACT_POINTS)
    single = viz.compact_price_figure(big_closes[["ETHUSDT"]])
    assert single.layout.yaxis.title.text == "Price (USDT)"
    assert single.data[0].line.color == viz.symbol_color("ETHUSDT")


def test_rolling_volatility_figure(big_closes: pd.DataFrame) -> None:
    fig = viz.rolling_volatility_figure(big_closes, window=60)
    _assert_time_figure(fig)
    assert "Annualised" in fig.layout.yaxis.title.text
    assert np.nanmin(fig.data[0].y) >= 0


def test_distribution_figure_bins_and_mean(big_closes: pd.DataFrame) -> None:
    returns = big_closes["BTCUSDT"].pct_change()
    fig = viz.distribution_figure(returns, "BTC returns", bins=40, x_title="Return")
    assert len(fig.data) == 1 and len(fig.data[0].x) == 40
    assert int(np.sum(fig.data[0].y)) == returns.notna().sum()
    assert any(s.x0 == pytest.approx(returns.mean()) for s in fig.layout.shapes)
    assert fig.layout.xaxis.title.text == "Return" and fig.layout.yaxis.title.text == "Count"
    fig.to_json()


def test_spread_zscore_figure_lines_and_markers(
    big_closes: pd.DataFrame, big_z: pd.Series, trades: pd.DataFrame
) -> None:
    spread = big_closes["BTCUSDT"] - 20 * big_closes["ETHUSDT"]
    fig = viz.spread_zscore_figure(spread, big_z, entry=2.0, exit=0.5, stop=4.0, trades=trades)
    _assert_time_figure(fig)
    levels = sorted(s.y0 for s in fig.layout.shapes)
    assert levels == [-4.0, -2.0, -0.5, 0.5, 2.0, 4.0]
    assert all(s.yref == "y2" for s in fig.layout.shapes), "threshold lines belong on the z panel"
    markers = {(t.name, t.yaxis): t for t in fig.data if t.mode == "markers"}
    assert {name for name, _ in markers} == {"Long entry", "Short entry", "Exit"}
    assert {axis for _, axis in markers} == {"y", "y2"}, "markers on both the spread and the z panel"
    long_z, short_z, exit_z = markers[("Long entry", "y2")], markers[("Short entry", "y2")], markers[("Exit", "y2")]
    assert long_z.marker.symbol != short_z.marker.symbol != exit_z.marker.symbol
    assert list(long_z.y) == pytest.approx([big_z.iloc[100], big_z.iloc[150_000]]), "markers sit on the z line"
    assert list(short_z.y) == pytest.approx([big_z.iloc[5_000]])
    assert "signal z = -2.3" in long_z.text[0]
    assert len(exit_z.x) == 2, "the open trade has no exit marker"
    assert list(exit_z.x) == list(viz.to_epoch_ms(trades["exit_time"].iloc[:2]))
    assert "P&L = 12.5" in exit_z.text[0]
    assert markers[("Long entry", "y")].y[0] == pytest.approx(spread.iloc[100])


def test_spread_markers_accept_analytics_columns_and_epoch_ms_times(big_z: pd.Series) -> None:
    spread = big_z * 3
    log = pd.DataFrame(
        {
            "entry_time": viz.to_epoch_ms(big_z.index[[10]]),
            "exit_time": viz.to_epoch_ms(big_z.index[[20]]),
            "side": [-1],
            "entry_zscore": [2.25],
            "exit_zscore": [0.0],
            "pnl": [-4.5],
        }
    )
    fig = viz.spread_zscore_figure(spread, big_z, entry=2, exit=0, trades=log)
    markers = {(t.name, t.yaxis): t for t in fig.data if t.mode == "markers"}
    assert set(markers) == {("Short entry", "y"), ("Short entry", "y2"), ("Exit", "y"), ("Exit", "y2")}
    assert markers[("Short entry", "y2")].y[0] == pytest.approx(big_z.iloc[10])
    assert markers[("Exit", "y")].y[0] == pytest.approx(spread.iloc[20])
    assert "signal z = 2.25" in markers[("Short entry", "y")].text[0]
    assert "P&L = -4.5" in markers[("Exit", "y2")].text[0]


def test_trade_log_without_entry_time_is_ignored(big_z: pd.Series) -> None:
    fig = viz.spread_zscore_figure(big_z, big_z, entry=2, exit=0, trades=pd.DataFrame({"side": ["long"]}))
    assert not [t for t in fig.data if t.mode == "markers"]


def test_spread_figure_without_trades_or_with_empty_log(big_z: pd.Series) -> None:
    empty_log = pd.DataFrame(columns=["entry_time", "exit_time", "side", "entry_z", "exit_z", "net_pnl"])
    for log in (None, empty_log):
        fig = viz.spread_zscore_figure(big_z, big_z, entry=2.0, exit=0.0, trades=log)
        assert not [t for t in fig.data if t.mode == "markers"]
        assert sorted(s.y0 for s in fig.layout.shapes) == [-2.0, 0.0, 2.0]


def test_hedge_ratio_figure_with_band(big_z: pd.Series) -> None:
    beta = 0.05 + big_z * 1e-3
    fig = viz.hedge_ratio_figure(beta, band=(beta - 0.01, beta + 0.01), method="kalman", r2=0.91)
    _assert_time_figure(fig)
    assert any(t.fill == "tonexty" for t in fig.data)
    assert "kalman" in fig.layout.title.text
    assert any("R²" in (a.text or "") for a in fig.layout.annotations)


def test_hedge_ratio_static_value_is_a_flat_annotated_line(big_z: pd.Series) -> None:
    fig = viz.hedge_ratio_figure(0.0512, method="ols", index=big_z.index)
    _assert_time_figure(fig)
    assert set(np.asarray(fig.data[0].y)) == {0.0512}
    assert any("static" in (a.text or "") for a in fig.layout.annotations)
    _assert_no_data(viz.hedge_ratio_figure(0.0512, method="ols"))


def test_rolling_correlation_figure(big_z: pd.Series) -> None:
    corr = (big_z / 10).clip(-1, 1)
    fig = viz.rolling_correlation_figure(corr, window=60)
    _assert_time_figure(fig)
    assert tuple(fig.layout.yaxis.range) == (-1.05, 1.05)


def test_correlation_heatmap_fixed_scale_and_annotations(big_closes: pd.DataFrame) -> None:
    matrix = big_closes.assign(SOLUSDT=np.nan).corr()
    fig = viz.create_correlation_heatmap(matrix)
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap)
    assert (heat.zmin, heat.zmax) == (-1.0, 1.0)
    assert heat.texttemplate and heat.text[0][0] == "1"
    assert heat.text[0][2] == "" and heat.text[2][2] == "", "NaN cells stay blank"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    fig.to_json()


def test_equity_drawdown_figure_computes_drawdown() -> None:
    idx = _index(BIG)
    equity = pd.Series(1_000 + np.cumsum(np.random.default_rng(9).normal(size=BIG)), index=idx)
    fig = viz.equity_drawdown_figure(equity)
    _assert_time_figure(fig)
    dd = fig.data[1]
    expected = ((equity / equity.cummax() - 1) * 100).min()
    assert np.nanmax(dd.y) <= 0 and np.nanmin(dd.y) == pytest.approx(expected)
    assert fig.layout.yaxis.title.text == "Equity (USDT)" and fig.layout.yaxis2.title.text == "Drawdown (%)"
    pnl_only = viz.equity_drawdown_figure(equity - 1_000)
    assert pnl_only.layout.yaxis2.title.text == "Drawdown (USDT)"
    assert np.nanmin(pnl_only.data[1].y) == pytest.approx((equity - equity.cummax()).min())
    given = viz.equity_drawdown_figure(equity, drawdown=equity / equity.cummax() - 1, drawdown_unit="fraction")
    assert given.layout.yaxis2.title.text == "Drawdown (fraction)"


def test_sweep_heatmap_axes_and_blank_nan_cells() -> None:
    grid = pd.DataFrame([[0.4, np.nan, -0.2], [1.3, 0.9, np.nan]], index=[1.5, 2.0], columns=[0.0, 0.5, 1.0])
    fig = viz.sweep_heatmap(grid, "sharpe")
    heat = fig.data[0]
    assert fig.layout.xaxis.title.text == "exit z" and fig.layout.yaxis.title.text == "entry z"
    assert list(heat.x) == ["0", "0.5", "1"] and list(heat.y) == ["1.5", "2"]
    assert heat.text[0][1] == "" and heat.text[1][2] == "" and heat.text[1][0] == "1.3"
    assert np.isnan(np.asarray(heat.z, dtype=float)[0][1])
    assert "best 1.3 at entry 2 / exit 0" in fig.layout.title.text
    fees = viz.sweep_heatmap(grid.abs(), "total_fees")
    assert "best 0.2 at entry 1.5 / exit 1" in fees.layout.title.text
    assert "best" not in viz.sweep_heatmap(grid.abs(), "n_trades").layout.title.text
    fig.to_json()


def test_a_sweep_where_every_cell_loses_says_so_and_calls_no_cell_best() -> None:
    grid = pd.DataFrame([[-1.03, -2.5], [-4.0, np.nan]], index=[1.5, 2.0], columns=[0.0, 0.5])
    fig = viz.sweep_heatmap(grid, "pct_return")
    title = fig.layout.title.text
    assert "every cell loses (least loss -1.03 at entry 1.5 / exit 0)" in title and "best" not in title
    assert title.startswith("Threshold sweep: return (%)") and fig.data[0].colorbar.title.text == "return (%)"
    rgb = [tuple(map(int, colour[4:-1].split(","))) for _, colour in fig.data[0].colorscale]
    assert all(r >= g + 10 and r >= b + 10 for r, g, b in rgb[:-1]), rgb  # reds to white: no green, no yellow
    assert "best" in viz.sweep_heatmap(grid.abs(), "pct_return").layout.title.text


def test_sweep_heatmap_with_z_window_rows() -> None:
    rows = pd.MultiIndex.from_tuples([(30, 1.5), (30, 2.0), (60, 1.5), (60, 2.0)], names=["z_window", "entry"])
    grid = pd.DataFrame(np.arange(8, dtype=float).reshape(4, 2), index=rows, columns=[0.0, 0.5])
    fig = viz.sweep_heatmap(grid, "sharpe")
    assert list(fig.data[0].y) == ["30 · 1.5", "30 · 2", "60 · 1.5", "60 · 2"]
    assert fig.layout.yaxis.title.text == "z window · entry z"


def test_data_quality_figure() -> None:
    quality = pd.DataFrame(
        {"symbol": ["BTCUSDT", "ETHUSDT"], "bars": [21_600, 21_400], "filled_share": [0.01, 0.25], "gaps": [0, 3]}
    )
    fig = viz.data_quality_figure(quality)
    assert len(fig.data) == 3
    assert list(fig.data[1].y) == pytest.approx([1.0, 25.0])
    assert list(fig.data[0].text) == ["21,600", "21,400"]  # plain digits, never 2.16e+04
    # each panel's title names its axis (a y title would crowd the panel to its left); the share reads 0–100 %
    assert [a.text for a in fig.layout.annotations] == ["Bars", "Filled bars (%)", "Gaps"]
    assert not any(ax.title.text for ax in _yaxes(fig)) and all(ax.title.text for ax in _xaxes(fig))
    assert list(fig.layout.yaxis2.range) == [0, 112] and fig.layout.yaxis3.dtick == 1  # 3 gaps: whole numbers
    assert len(viz.data_quality_figure(quality.drop(columns="gaps")).data) == 2
    fig.to_json()


def test_seed_spread_and_backtest_aliases(big_z: pd.Series, trades: pd.DataFrame) -> None:
    fig = viz.create_spread_chart(big_z, big_z, entry_th=2.0, exit_th=0.0)
    assert sorted(s.y0 for s in fig.layout.shapes) == [-2.0, 0.0, 2.0]
    bt = viz.create_backtest_chart(big_z, big_z, trades, entry_th=2.0, exit_th=0.0)
    assert [t for t in bt.data if t.mode == "markers"]
    _assert_time_figure(bt)


# ---------------------------------------------------------------------------------------------------------------
# Empty input never raises
# ---------------------------------------------------------------------------------------------------------------

EMPTY_SERIES = pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
NAN_SERIES = pd.Series(np.nan, index=_index(10))
EMPTY_BUILDERS: dict[str, Callable[[], go.Figure]] = {
    "candles": lambda: viz.multi_candlestick_figure({"BTCUSDT": pd.DataFrame()}),
    "candles_none": lambda: viz.multi_candlestick_figure({"BTCUSDT": None}),
    "ohlc_alias": lambda: viz.create_ohlc_chart(pd.DataFrame(columns=["symbol", "open", "high", "low", "close"])),
    "normalized": lambda: viz.normalized_price_figure(pd.DataFrame()),
    "normalized_nan": lambda: viz.normalized_price_figure(NAN_SERIES.to_frame("BTCUSDT")),
    "compact": lambda: viz.compact_price_figure({}),
    "volatility": lambda: viz.rolling_volatility_figure(pd.DataFrame()),
    "volatility_short": lambda: viz.rolling_volatility_figure(
        pd.DataFrame({"BTCUSDT": [1.0, 2.0]}, index=_index(2)), window=60
    ),
    "distribution": lambda: viz.distribution_figure(EMPTY_SERIES, "Returns"),
    "distribution_nan": lambda: viz.distribution_figure([np.nan, np.inf], "Returns"),
    "spread": lambda: viz.spread_zscore_figure(EMPTY_SERIES, EMPTY_SERIES, entry=2, exit=0),
    "spread_none": lambda: viz.spread_zscore_figure(None, None, entry=2, exit=0, trades=pd.DataFrame()),
    "beta": lambda: viz.hedge_ratio_figure(EMPTY_SERIES),
    "beta_nan": lambda: viz.hedge_ratio_figure(NAN_SERIES, band=(NAN_SERIES, NAN_SERIES)),
    "rolling_corr": lambda: viz.rolling_correlation_figure(NAN_SERIES),
    "corr_heatmap": lambda: viz.correlation_heatmap(pd.DataFrame()),
    "equity": lambda: viz.equity_drawdown_figure(EMPTY_SERIES),
    "sweep": lambda: viz.sweep_heatmap(pd.DataFrame(), "sharpe"),
    "sweep_nan": lambda: viz.sweep_heatmap(pd.DataFrame([[np.nan]], index=[2.0], columns=[0.0]), "sharpe"),
    "quality": lambda: viz.data_quality_figure(pd.DataFrame(columns=["symbol", "bars", "filled_share"])),
}


@pytest.mark.parametrize("name", sorted(EMPTY_BUILDERS))
def test_empty_input_gives_no_data_figure(name: str) -> None:
    _assert_no_data(EMPTY_BUILDERS[name]())


# ---------------------------------------------------------------------------------------------------------------
# Theme
# ---------------------------------------------------------------------------------------------------------------


def test_every_builder_uses_the_dark_template(big_closes: pd.DataFrame) -> None:
    figs = [
        viz.normalized_price_figure(big_closes),
        viz.multi_candlestick_figure({"BTCUSDT": _bars(100)}),
        viz.empty_figure(),
        viz.correlation_heatmap(big_closes.corr()),
    ]
    for fig in figs:
        assert fig.layout.template.layout.paper_bgcolor == viz.DARK_TEMPLATE.layout.paper_bgcolor
    assert viz.apply_dark(go.Figure()).layout.template.layout.plot_bgcolor == viz.DARK_TEMPLATE.layout.plot_bgcolor


def test_hover_values_are_rounded_not_raw_floats(big_closes, big_z, trades) -> None:
    """Hover read "Spread : 2.853524" (raw floats): every line and marker trace rounds to 6 significant digits."""
    figures = [
        viz.compact_price_figure(big_closes),
        viz.normalized_price_figure(big_closes),
        viz.spread_zscore_figure(big_z * 2, big_z, entry=2.0, exit=0.0, stop=4.0, trades=trades),
    ]
    scatters = [t for f in figures for t in f.data if t.type == "scatter"]
    assert scatters and all(t.yhoverformat == ",.6~g" for t in scatters)


def test_a_warm_up_spike_does_not_set_the_spread_charts_y_range() -> None:
    index = pd.date_range("2026-01-01", periods=2_000, freq="1min", tz="UTC")
    spread = pd.Series(np.sin(np.arange(2_000) / 30.0), index=index)
    spiked = spread.copy()
    spiked.iloc[:5] = -300.0  # the Kalman filter's first bars
    fig = viz.spread_zscore_figure(spiked, spread, entry=2.0, exit=0.0)
    lo, hi = fig.layout.yaxis.range
    assert -1.5 < lo < -0.9 and 0.9 < hi < 1.5  # the spread's bulk, with a margin; the spike is cut
    assert fig.layout.yaxis2.range is None  # the z-score panel keeps its levels in view (autorange)
    assert viz.spread_zscore_figure(spread, spread, entry=2.0, exit=0.0).layout.yaxis.range is None  # no spike
