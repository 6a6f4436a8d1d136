"""Pure Plotly figure builders for the dashboard: dark theme, epoch-ms date axes, bounded payloads.

Every builder takes plain pandas/numpy data (time-indexed by a tz-aware UTC DatetimeIndex, see docs/CONTRACTS.md),
never raises on empty input (it returns a figure with a "No data" annotation instead), and downsamples so that no
trace carries more than MAX_POINTS points and no chart more than MAX_CANDLES candles (the browser, not Python, is
the bottleneck: serialising and drawing hundreds of thousands of points costs the page seconds per refresh).
Streamlit callers should pass ``theme=None`` to
``st.plotly_chart`` so the template colours below are kept.

This module is a facade: the code lives in the charts/ package, one job per file —
charts/theme.py (colours, DARK_TEMPLATE, apply_dark, symbol colours, time units, interval_label),
charts/downsample.py (to_epoch_ms, minmax/envelope downsampling, rebucket_candles),
charts/common.py (empty_figure and the helpers every builder shares),
charts/prices.py (candlesticks, normalized/compact prices, rolling volatility, distribution),
charts/pair.py (spread/z-score with trade markers, hedge ratio, rolling correlation, correlation heatmap),
charts/backtest.py (sweep heatmap, equity/drawdown), charts/quality.py (data quality) and
charts/seed_api.py (the seed's create_* names). ``split_symbol`` is the quote-asset rule of core/symbols.py.

Seed-compatible API: ``create_ohlc_chart``, ``create_spread_chart``, ``create_correlation_heatmap`` and
``create_backtest_chart`` are the calls the Streamlit seed's README documents. Nothing in the product calls them;
they stay (thin wrappers in charts/seed_api.py, tested in tests/test_visualizations.py) so that scripts written for
the seed keep working.
"""

from __future__ import annotations

from charts.backtest import equity_drawdown_figure, sweep_heatmap
from charts.common import FrameLike, empty_figure
from charts.downsample import envelope_downsample, minmax_downsample, rebucket_candles, to_epoch_ms
from charts.pair import correlation_heatmap, hedge_ratio_figure, rolling_correlation_figure, spread_zscore_figure
from charts.prices import (
    compact_price_figure,
    distribution_figure,
    multi_candlestick_figure,
    normalized_price_figure,
    rolling_volatility_figure,
)
from charts.quality import data_quality_figure
from charts.seed_api import (
    create_backtest_chart,
    create_correlation_heatmap,
    create_ohlc_chart,
    create_spread_chart,
)
from charts.theme import (
    AXIS_LINE,
    BAND_FILL,
    BG,
    COMPACT_POINTS,
    DARK_TEMPLATE,
    DOWN,
    DOWN_DIM,
    ENTRY_COLOR,
    EQUITY_COLOR,
    EXIT_COLOR,
    EXIT_MARKER_COLOR,
    GRID,
    MAX_CANDLES,
    MAX_POINTS,
    MAX_TRADE_MARKERS,
    MUTED,
    NO_DATA,
    PALETTE,
    PANEL_BG,
    SPREAD_COLOR,
    STOP_COLOR,
    TEXT,
    TIME_TITLE,
    UP,
    UP_DIM,
    Z_COLOR,
    apply_dark,
    interval_label,
    symbol_color,
)
from core.symbols import split_symbol

__all__ = [
    "AXIS_LINE",
    "BAND_FILL",
    "BG",
    "COMPACT_POINTS",
    "DARK_TEMPLATE",
    "DOWN",
    "DOWN_DIM",
    "ENTRY_COLOR",
    "EQUITY_COLOR",
    "EXIT_COLOR",
    "EXIT_MARKER_COLOR",
    "GRID",
    "MAX_CANDLES",
    "MAX_POINTS",
    "MAX_TRADE_MARKERS",
    "MUTED",
    "NO_DATA",
    "PALETTE",
    "PANEL_BG",
    "SPREAD_COLOR",
    "STOP_COLOR",
    "TEXT",
    "TIME_TITLE",
    "UP",
    "UP_DIM",
    "Z_COLOR",
    "FrameLike",
    "apply_dark",
    "compact_price_figure",
    "correlation_heatmap",
    "create_backtest_chart",
    "create_correlation_heatmap",
    "create_ohlc_chart",
    "create_spread_chart",
    "data_quality_figure",
    "distribution_figure",
    "empty_figure",
    "envelope_downsample",
    "equity_drawdown_figure",
    "hedge_ratio_figure",
    "interval_label",
    "minmax_downsample",
    "multi_candlestick_figure",
    "normalized_price_figure",
    "rebucket_candles",
    "rolling_correlation_figure",
    "rolling_volatility_figure",
    "split_symbol",
    "spread_zscore_figure",
    "sweep_heatmap",
    "symbol_color",
    "to_epoch_ms",
]
