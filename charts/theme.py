"""Dark theme and colours: palette, DARK_TEMPLATE, apply_dark, symbol colours, time units, interval labels.

Kept apart so every chart shares one look and the constants have a single home.
"""

from __future__ import annotations

import zlib

import numpy as np
import plotly.graph_objects as go

from core.symbols import base_asset

MAX_POINTS = 2000
MAX_CANDLES = 1500
COMPACT_POINTS = 600
MAX_TRADE_MARKERS = 2000

TIME_TITLE = "Time (UTC)"
NO_DATA = "No data"
NAT_MS = np.iinfo(np.int64).min

BG = "#0e1117"
PANEL_BG = "#11151f"
LABEL_BG = "rgba(17,21,31,0.8)"  # behind a label drawn over data (a threshold's name over a busy z-score)
GRID = "#232936"
AXIS_LINE = "#3a4150"
TEXT = "#e6e6e6"
MUTED = "#8b93a7"
UP = "#26a69a"
DOWN = "#ef5350"
UP_DIM = "rgba(38,166,154,0.55)"
DOWN_DIM = "rgba(239,83,80,0.55)"
SPREAD_COLOR = "#4fc3f7"
Z_COLOR = "#ffb74d"
ENTRY_COLOR = "#ef5350"
EXIT_COLOR = "#66bb6a"
STOP_COLOR = "#ce93d8"
EXIT_MARKER_COLOR = "#fdd835"
EQUITY_COLOR = "#4fc3f7"
BAND_FILL = "rgba(79,195,247,0.18)"

PALETTE = (
    "#f7931a",
    "#8c9eff",
    "#26c6da",
    "#ffca28",
    "#ab47bc",
    "#66bb6a",
    "#ff7043",
    "#ec407a",
    "#9ccc65",
    "#29b6f6",
    "#d4e157",
    "#bcaaa4",
)
_KNOWN_COLORS = {
    "BTC": "#f7931a",
    "ETH": "#8c9eff",
    "BNB": "#f3ba2f",
    "SOL": "#14f195",
    "XRP": "#5dade2",
    "DOGE": "#c2a633",
    "ADA": "#3cc8c8",
    "AVAX": "#e84142",
    "LINK": "#4f7fff",
    "LTC": "#b8b8b8",
}

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_AXIS = dict(
    gridcolor=GRID,
    zerolinecolor=AXIS_LINE,
    linecolor=AXIS_LINE,
    tickcolor=AXIS_LINE,
    title=dict(font=dict(color=MUTED, size=12)),
    automargin=True,
)
DARK_TEMPLATE = go.layout.Template(
    layout=dict(
        paper_bgcolor=BG,
        plot_bgcolor=PANEL_BG,
        font=dict(family="Inter, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12, color=TEXT),
        colorway=list(PALETTE),
        title=dict(font=dict(size=15), x=0.01, xanchor="left"),
        xaxis=_AXIS,
        yaxis=_AXIS,
        hovermode="x unified",
        hoverlabel=dict(bgcolor="#1c2030", bordercolor=AXIS_LINE, font=dict(color=TEXT)),
        legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom", bgcolor="rgba(0,0,0,0)"),
        margin=dict(l=60, r=20, t=60, b=40),
    )
)


def apply_dark(fig: go.Figure) -> go.Figure:
    """Apply the shared dark template in place and return the figure (one look for every chart)."""
    fig.update_layout(template=DARK_TEMPLATE)
    return fig


def symbol_color(symbol: str) -> str:
    """Stable colour for a symbol (same base asset, same colour, in every chart and session)."""
    base = base_asset(symbol)
    if base in _KNOWN_COLORS:
        return _KNOWN_COLORS[base]
    return PALETTE[zlib.crc32(base.encode()) % len(PALETTE)]


def interval_label(ms: int) -> str:
    """Human label for a bar interval in ms ("1s", "5m", "4h", "1d") used in chart titles."""
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS), ("s", SECOND_MS)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
