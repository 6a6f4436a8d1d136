"""Pure Plotly figure builders for the dashboard: dark theme, epoch-ms date axes, bounded payloads.

Every builder takes plain pandas/numpy data (time-indexed by a tz-aware UTC DatetimeIndex, see docs/CONTRACTS.md),
never raises on empty input (it returns a figure with a "No data" annotation instead), and downsamples so that no
trace carries more than MAX_POINTS points and no chart more than MAX_CANDLES candles (the browser, not Python, is
the bottleneck: serialising and drawing hundreds of thousands of points costs the page seconds per refresh).
Streamlit callers should pass ``theme=None`` to
``st.plotly_chart`` so the template colours below are kept.

This module is a facade: the code lives in the charts/ package, one job per file —
charts/theme.py (colours, DARK_TEMPLATE, apply_dark, symbol colours, split_symbol, interval_label),
charts/downsample.py (to_epoch_ms, minmax/envelope downsampling, rebucket_candles),
charts/common.py (empty_figure and the helpers every builder shares),
charts/prices.py (candlesticks, normalized/compact prices, rolling volatility, distribution),
charts/pair.py (spread/z-score with trade markers, hedge ratio, rolling correlation, correlation heatmap),
charts/backtest.py (sweep heatmap, equity/drawdown), charts/quality.py (data quality) and
charts/seed_api.py (the seed's create_* names).
"""

from __future__ import annotations

from charts.backtest import (
    equity_drawdown_figure,
    sweep_heatmap,
)
from charts.common import (
    FrameLike as FrameLike,
)
from charts.common import (
    empty_figure,
)
from charts.downsample import (
    envelope_downsample,
    minmax_downsample,
    rebucket_candles,
    to_epoch_ms,
)
from charts.pair import (
    correlation_heatmap,
    hedge_ratio_figure,
    rolling_correlation_figure,
    spread_zscore_figure,
)
from charts.prices import (
    candlestick_figure,
    compact_price_figure,
    distribution_figure,
    multi_candlestick_figure,
    normalized_price_figure,
    rolling_volatility_figure,
)
from charts.quality import (
    data_quality_figure,
)
from charts.seed_api import (
    create_backtest_chart,
    create_correlation_heatmap,
    create_ohlc_chart,
    create_spread_chart,
)
from charts.theme import (
    AXIS_LINE as AXIS_LINE,
)
from charts.theme import (
    BAND_FILL as BAND_FILL,
)
from charts.theme import (
    BG as BG,
)
from charts.theme import (
    COMPACT_POINTS as COMPACT_POINTS,
)
from charts.theme import (
    DARK_TEMPLATE,
    MAX_CANDLES,
    MAX_POINTS,
    NO_DATA,
    TIME_TITLE,
    apply_dark,
    interval_label,
    split_symbol,
    symbol_color,
)
from charts.theme import (
    DOWN as DOWN,
)
from charts.theme import (
    DOWN_DIM as DOWN_DIM,
)
from charts.theme import (
    ENTRY_COLOR as ENTRY_COLOR,
)
from charts.theme import (
    EQUITY_COLOR as EQUITY_COLOR,
)
from charts.theme import (
    EXIT_COLOR as EXIT_COLOR,
)
from charts.theme import (
    EXIT_MARKER_COLOR as EXIT_MARKER_COLOR,
)
from charts.theme import (
    GRID as GRID,
)
from charts.theme import (
    MAX_TRADE_MARKERS as MAX_TRADE_MARKERS,
)
from charts.theme import (
    MUTED as MUTED,
)
from charts.theme import (
    PALETTE as PALETTE,
)
from charts.theme import (
    PANEL_BG as PANEL_BG,
)
from charts.theme import (
    SPREAD_COLOR as SPREAD_COLOR,
)
from charts.theme import (
    STOP_COLOR as STOP_COLOR,
)
from charts.theme import (
    TEXT as TEXT,
)
from charts.theme import (
    UP as UP,
)
from charts.theme import (
    UP_DIM as UP_DIM,
)
from charts.theme import (
    Z_COLOR as Z_COLOR,
)

__all__ = [
    "DARK_TEMPLATE", "MAX_CANDLES", "MAX_POINTS", "NO_DATA", "TIME_TITLE", "apply_dark", "candlestick_figure",
    "compact_price_figure", "correlation_heatmap", "create_backtest_chart", "create_correlation_heatmap",
    "create_ohlc_chart", "create_spread_chart", "data_quality_figure", "distribution_figure", "empty_figure",
    "envelope_downsample", "equity_drawdown_figure", "hedge_ratio_figure", "interval_label", "minmax_downsample",
    "multi_candlestick_figure", "normalized_price_figure", "rebucket_candles", "rolling_correlation_figure",
    "rolling_volatility_figure", "split_symbol", "spread_zscore_figure", "sweep_heatmap", "symbol_color",
    "to_epoch_ms",
]
