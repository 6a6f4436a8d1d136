"""Names from the Streamlit seed (create_*), kept as thin wrappers over the charts builders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from charts.pair import (
    correlation_heatmap,
    spread_zscore_figure,
)
from charts.prices import (
    multi_candlestick_figure,
)


def _split_by_symbol(
    ohlc_df: pd.DataFrame | Mapping[str, pd.DataFrame], symbols: Sequence[str] | None
) -> dict[str, pd.DataFrame]:
    """{SYMBOL: bars} from a mapping, a long frame with a symbol column, or one frame (named by symbols[0])."""
    wanted = [s.upper() for s in symbols] if symbols else None
    if isinstance(ohlc_df, Mapping):
        items = {str(k).upper(): v for k, v in ohlc_df.items()}
    elif ohlc_df is not None and "symbol" in ohlc_df.columns:
        items = {str(k).upper(): g.drop(columns="symbol") for k, g in ohlc_df.groupby("symbol", sort=False)}
    else:
        return {wanted[0] if wanted else "": ohlc_df}
    return {k: v for k, v in items.items() if wanted is None or k in wanted}


def create_ohlc_chart(
    ohlc_df: pd.DataFrame | Mapping[str, pd.DataFrame], symbols: Sequence[str] | None = None
) -> go.Figure:
    """Seed name: candlesticks + volume for one or several symbols (each on its own price axis)."""
    return multi_candlestick_figure(_split_by_symbol(ohlc_df, symbols))


def create_spread_chart(spread: pd.Series, zscore: pd.Series, entry_th: float = 2.0, exit_th: float = 0.0) -> go.Figure:
    """Seed name: spread and z-score with entry/exit lines."""
    return spread_zscore_figure(spread, zscore, entry=entry_th, exit=exit_th)


def create_correlation_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Seed name: correlation matrix heatmap."""
    return correlation_heatmap(matrix)


def create_backtest_chart(
    spread: pd.Series,
    zscore: pd.Series,
    trades: pd.DataFrame | None = None,
    entry_th: float = 2.0,
    exit_th: float = 0.0,
    stop_th: float | None = None,
) -> go.Figure:
    """Seed name: the visual backtest, entry/exit markers over the spread and z-score."""
    return spread_zscore_figure(spread, zscore, entry=entry_th, exit=exit_th, stop=stop_th, trades=trades)
