"""Backtest charts: threshold-sweep heatmap and equity/drawdown."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.common import (
    as_series,
    empty_figure,
    finish,
    fmt_cell,
    heatmap_trace,
    is_empty,
    series_line,
    time_axes,
)
from charts.theme import (
    DOWN,
    EQUITY_COLOR,
    NO_DATA,
)

_SWEEP_BEST = {"total_fees": "min", "n_trades": None, "exposure": None, "avg_holding_bars": None}
_SWEEP_MONEY = ("total_return", "pct_return", "expectancy")  # metrics whose negative cells lost money


def _label(value: Any) -> str:
    """Axis label of a sweep key: numbers compact ("2", "0.5"), tuples (z_window, entry) joined."""
    if isinstance(value, tuple):
        return " · ".join(_label(v) for v in value)
    return f"{value:g}" if isinstance(value, numbers.Real) else str(value)


def sweep_heatmap(grid: pd.DataFrame, metric: str, why: str | None = None) -> go.Figure:
    """Entry × exit sweep (rows entry, or (z_window, entry); columns exit) as an annotated heatmap, NaN blank.

    The title names the best cell (max of the metric; min for total_fees; none for neutral counts); ``why`` says
    why an empty grid is empty (e.g. the reason the metric is withheld).
    """
    title = f"Threshold sweep: {metric}"
    z = grid.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64) if grid is not None else np.empty((0, 0))
    if z.size == 0 or np.isnan(z).all():
        return empty_figure(f"{NO_DATA}: {why or 'no sweep results'}", title=title)
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    direction = _SWEEP_BEST.get(metric, "max")
    all_lose = metric in _SWEEP_MONEY and hi < 0  # no cell is "best": the least loss is drawn pale, never green
    diverging = lo < 0 < hi
    xs = [_label(c) for c in grid.columns]
    ys = [_label(i) for i in grid.index]
    fig = go.Figure(
        heatmap_trace(
            z,
            xs,
            ys,
            colorscale="Reds_r" if all_lose else "RdYlGn" if diverging else "Viridis",
            zmin=None,
            zmax=None,
            zmid=0.0 if diverging else None,
            colorbar_title=metric,
            hover=f"entry %{{y}} / exit %{{x}}: {metric} = %{{z:.4g}}",
        )
    )
    fig.update_xaxes(title_text="exit z", type="category")
    multi = isinstance(grid.index, pd.MultiIndex)
    fig.update_yaxes(title_text="z window · entry z" if multi else "entry z", type="category")
    fig.update_layout(hovermode="closest")
    if direction:
        flat = np.nanargmax(z) if direction == "max" else np.nanargmin(z)
        row, col = np.unravel_index(flat, z.shape)
        where = f"{fmt_cell(z[row, col])} at entry {ys[row]} / exit {xs[col]}"
        title += f": every cell loses (least loss {where})" if all_lose else f" (best {where})"
    return finish(fig, title=title, uirevision="sweep", height=max(320, 120 + 40 * len(ys)))


def equity_drawdown_figure(
    equity: pd.Series, drawdown: pd.Series | None = None, *, currency: str = "USDT", drawdown_unit: str | None = None
) -> go.Figure:
    """Equity curve (money) over a drawdown panel.

    Without ``drawdown`` it is computed from the running peak: in % while equity stays positive (as the analytics
    max_drawdown metric), else in money. A supplied drawdown is plotted as given, labelled ``drawdown_unit``
    (default: ``currency``).
    """
    title = "Equity and drawdown"
    if is_empty(equity):
        return empty_figure(f"{NO_DATA}: the backtest produced no equity curve", title=title, height=460)
    eq = as_series(equity).astype(np.float64)
    if drawdown is not None and not is_empty(drawdown):
        dd, unit = as_series(drawdown).astype(np.float64), drawdown_unit or currency
    elif (eq.dropna() > 0).all():
        dd, unit = (eq / eq.cummax() - 1.0) * 100.0, "%"
    else:
        dd, unit = eq - eq.cummax(), currency
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.68, 0.32])
    fig.add_trace(series_line(eq, "Equity", EQUITY_COLOR), row=1, col=1)
    fig.add_trace(series_line(dd, "Drawdown", DOWN, fill="tozeroy", fillcolor="rgba(239,83,80,0.25)"), row=2, col=1)
    fig.update_yaxes(title_text=f"Equity ({currency})", row=1, col=1)
    fig.update_yaxes(title_text=f"Drawdown ({unit})", row=2, col=1)
    time_axes(fig, bottom_row=2)
    return finish(
        fig, title=f"{title} (max drawdown {fmt_cell(float(dd.min()))} {unit})", uirevision="equity", height=460
    )
