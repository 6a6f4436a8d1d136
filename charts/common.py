"""Shared figure helpers: empty_figure, finish, date axes, series coercion, line traces, reference lines, heatmaps.

Every builder module uses these, so they live below them and above theme/downsample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from charts.downsample import (
    minmax_downsample,
    to_epoch_ms,
)
from charts.theme import (
    BG,
    MAX_POINTS,
    MUTED,
    NAT_MS,
    NO_DATA,
    TIME_TITLE,
    apply_dark,
)
from core.numbers import compact

FrameLike = pd.DataFrame | pd.Series | Mapping[str, pd.Series]


def empty_figure(message: str = NO_DATA, *, title: str | None = None, height: int = 320) -> go.Figure:
    """Dark figure carrying only a centred message, returned instead of raising on empty input."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16, color=MUTED)
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(plot_bgcolor=BG)
    return finish(fig, title=title, uirevision="empty", height=height)


def finish(fig: go.Figure, *, title: str | None, uirevision: str, height: int) -> go.Figure:
    """Apply the template, title, height, a constant uirevision (keeps zoom across refreshes) and hover values with
    six significant digits and separators ("75,024.7", "2.85352", never "2.853524000001")."""
    apply_dark(fig)
    fig.update_layout(title_text=title, height=height, uirevision=uirevision)
    fig.update_traces(yhoverformat=",.6~g", selector={"type": "scatter"})
    if not title:
        fig.update_layout(margin_t=36)
    return fig


def time_axes(fig: go.Figure, bottom_row: int | None = None) -> None:
    """Make every x axis a date axis (x data are epoch ms) and title it (only the bottom row of a subplot grid)."""
    fig.update_xaxes(
        type="date",
        hoverformat="%Y-%m-%d %H:%M:%S",
        showspikes=True,
        spikemode="across",
        spikethickness=1,
        spikecolor=MUTED,
    )
    if bottom_row is None:
        fig.update_xaxes(title_text=TIME_TITLE)
    else:
        fig.update_xaxes(title_text=TIME_TITLE, row=bottom_row, col=1)


def is_empty(obj: Any) -> bool:
    """True for None, zero-length or all-missing data (the cases that get the "No data" figure)."""
    if obj is None:
        return True
    if isinstance(obj, Mapping):
        return all(is_empty(v) for v in obj.values())
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        return obj.size == 0 or bool(obj.isna().to_numpy().all())
    arr = np.asarray(obj, dtype=np.float64)
    return arr.size == 0 or bool(np.isnan(arr).all())


def as_series(obj: pd.Series | pd.DataFrame) -> pd.Series:
    """Series sorted by time; a one-column frame is accepted for convenience."""
    s = obj.iloc[:, 0] if isinstance(obj, pd.DataFrame) else obj
    if not s.index.is_monotonic_increasing:
        s = s.sort_index()
    return s


def as_frame(obj: FrameLike) -> pd.DataFrame:
    """DataFrame of columns from a frame, a named series or a {name: series} mapping (outer-joined on time)."""
    if isinstance(obj, pd.DataFrame):
        frame = obj
    elif isinstance(obj, pd.Series):
        frame = obj.to_frame(obj.name if obj.name is not None else "value")
    else:
        frame = pd.concat({str(k): v for k, v in obj.items()}, axis=1)
    return frame if frame.index.is_monotonic_increasing else frame.sort_index()


def _xy(s: pd.Series, n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Epoch-ms x and float y of a time series, rows with no timestamp dropped, downsampled to n_out."""
    x = to_epoch_ms(s.index)
    y = s.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = x != NAT_MS
    if not ok.all():
        x, y = x[ok], y[ok]
    return minmax_downsample(x, y, n_out)


def line_trace(
    x: np.ndarray,
    y: np.ndarray,
    name: str,
    color: str | None = None,
    *,
    width: float = 1.6,
    dash: str | None = None,
    **kwargs: Any,
) -> go.Scatter:
    """SVG line trace (faster than WebGL at <= 2k points with software GL, and no WebGL context limit)."""
    return go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, width=width, dash=dash), **kwargs)


def series_line(
    s: pd.Series, name: str, color: str | None = None, *, n_out: int = MAX_POINTS, **kwargs: Any
) -> go.Scatter:
    """Downsampled line trace of a time series."""
    x, y = _xy(s, n_out)
    return line_trace(x, y, name, color, **kwargs)


class RefLine(NamedTuple):
    """A labelled reference line: a threshold, a baseline or a mean. side = where the label sits."""

    value: float
    label: str
    color: str
    dash: str
    side: str = "right"


def ref_lines(fig: go.Figure, lines: Sequence[RefLine], *, vertical: bool = False, row: int = 1) -> None:
    """Add horizontal (or vertical) labelled lines to panel `row` of a one-column figure in one layout update.

    Built as plain shapes/annotations because fig.add_hline/add_vline cost ~6 ms each (25x more).
    """
    suffix = "" if row == 1 else str(row)
    xref, yref = (f"x{suffix}", f"y{suffix} domain") if vertical else (f"x{suffix} domain", f"y{suffix}")
    shapes, notes = [], []
    for line in lines:
        if vertical:
            ends = dict(x0=line.value, x1=line.value, y0=0, y1=1)
            place = dict(x=line.value, y=1, xanchor="left" if line.side == "right" else "right")
        else:
            ends = dict(x0=0, x1=1, y0=line.value, y1=line.value)
            place = dict(x=1 if line.side == "right" else 0, y=line.value, xanchor=line.side)
        shapes.append(
            dict(type="line", xref=xref, yref=yref, line=dict(color=line.color, width=1, dash=line.dash), **ends)
        )
        if line.label:
            notes.append(
                dict(
                    text=line.label,
                    xref=xref,
                    yref=yref,
                    yanchor="bottom",
                    showarrow=False,
                    font=dict(size=10, color=line.color),
                    **place,
                )
            )
    fig.update_layout(shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *notes])


def fmt_cell(value: float) -> str:
    """Compact number for in-cell labels; blank for NaN so missing cells stay empty."""
    return "" if value is None or not np.isfinite(value) else compact(float(value), 3)


ROBUST_QUANTILES = (0.005, 0.995)  # the y range a trader reads: the bulk of the data, not its spikes
SPIKE_RATIO = 3.0  # the full range must be this many times the robust one before spikes are cut


def robust_range(values: pd.Series | np.ndarray, margin: float = 0.1) -> list[float] | None:
    """A y range over the bulk of `values` (0.5–99.5 % quantiles plus `margin` of their span) when spikes (a Kalman
    filter's warm-up, a bad print) would otherwise stretch the axis over SPIKE_RATIO times that; None when the data
    have no such spikes (Plotly's autorange is right then)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size < 20:
        return None
    lo, hi = np.quantile(arr, ROBUST_QUANTILES)
    span = hi - lo
    if span <= 0 or arr.max() - arr.min() <= SPIKE_RATIO * span:
        return None
    return [float(lo - margin * span), float(hi + margin * span)]


def heatmap_trace(
    z: np.ndarray,
    x: list[str],
    y: list[str],
    *,
    colorscale: str,
    zmin: float | None,
    zmax: float | None,
    zmid: float | None,
    colorbar_title: str,
    hover: str,
) -> go.Heatmap:
    """Annotated heatmap trace; NaN cells render blank (no colour, no text)."""
    text = [[fmt_cell(v) for v in row] for row in z]
    return go.Heatmap(
        z=z,
        x=x,
        y=y,
        text=text,
        texttemplate="%{text}",
        textfont=dict(size=12),
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        zmid=zmid,
        hoverongaps=False,
        colorbar=dict(title=dict(text=colorbar_title)),
        hovertemplate=hover + "<extra></extra>",
        xgap=1,
        ygap=1,
    )
