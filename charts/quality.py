"""Data-quality chart: per-symbol counts of bars, gaps and the like from the quality table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.common import (
    empty_figure,
    finish,
    fmt_cell,
)
from charts.theme import (
    NO_DATA,
    symbol_color,
)


def data_quality_figure(quality: pd.DataFrame) -> go.Figure:
    """Bars per symbol, filled-bar share (input as a 0..1 fraction, shown on a 0–100 % axis) and gap counts when
    given; each panel's title names its axis (no y titles crowding the next panel)."""
    title = "Data quality"
    if quality is None or quality.empty or not {"symbol", "bars"} <= set(quality.columns):
        return empty_figure(f"{NO_DATA}: no bars to assess", title=title)
    panels = [("bars", "Bars", 1.0), ("filled_share", "Filled bars (%)", 100.0), ("gaps", "Gaps", 1.0)]
    panels = [p for p in panels if p[0] in quality.columns]
    symbols = [str(s) for s in quality["symbol"]]
    colors = [symbol_color(s) for s in symbols]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels], horizontal_spacing=0.1)
    for col, (field, label, scale) in enumerate(panels, start=1):
        values = pd.to_numeric(quality[field], errors="coerce").to_numpy(np.float64) * scale
        fig.add_trace(
            go.Bar(
                x=symbols,
                y=values,
                name=label,
                marker=dict(color=colors, line=dict(width=0)),
                text=[fmt_cell(v) for v in values],
                textposition="outside",
                hovertemplate="%{x}: %{y:,.4~r}<extra>" + label + "</extra>",
            ),
            row=1,
            col=col,
        )
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        if scale == 100.0:  # a share: the whole 0–100 % scale, room above for the labels
            fig.update_yaxes(range=[0, 112], tickvals=[0, 25, 50, 75, 100], row=1, col=col)
        else:  # a count: whole-number ticks, room above the tallest bar for its label
            fig.update_yaxes(range=[0, max(top, 1.0) * 1.18], dtick=1 if top < 5 else None, row=1, col=col)
        fig.update_xaxes(title_text="Symbol", type="category", row=1, col=col)
    fig.update_layout(showlegend=False, hovermode="closest")
    return finish(fig, title=title, uirevision="quality", height=340)
