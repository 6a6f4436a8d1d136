"""Pair analytics charts: spread/z-score with trade markers, hedge ratio, rolling correlation, correlation heatmap."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.common import (
    RefLine,
    as_frame,
    as_series,
    empty_figure,
    finish,
    heatmap_trace,
    is_empty,
    line_trace,
    ref_lines,
    robust_range,
    series_line,
    time_axes,
)
from charts.downsample import (
    envelope_downsample,
    to_epoch_ms,
)
from charts.theme import (
    BAND_FILL,
    BG,
    DOWN,
    ENTRY_COLOR,
    EXIT_COLOR,
    EXIT_MARKER_COLOR,
    MAX_TRADE_MARKERS,
    MUTED,
    NAT_MS,
    NO_DATA,
    PALETTE,
    SPREAD_COLOR,
    STOP_COLOR,
    TEXT,
    UP,
    Z_COLOR,
)

log = logging.getLogger("visualizations")  # one logger for the whole chart layer, as before the split


def _asof(x_ms: np.ndarray, y: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Value of a sorted series at or before each time in t_ms (NaN before the first point or for missing t)."""
    pos = np.searchsorted(x_ms, t_ms, side="right") - 1
    out = np.where(pos >= 0, y[np.clip(pos, 0, None)], np.nan) if len(y) else np.full(len(t_ms), np.nan)
    return np.where(t_ms == NAT_MS, np.nan, out)


_TRADE_COLUMNS = {  # normalised name -> accepted trade-log columns, first match wins
    "entry_z": ("entry_z", "entry_zscore"),
    "exit_z": ("exit_z", "exit_zscore"),
    "pnl": ("net_pnl", "pnl"),
}


def _trade_frame(trades: pd.DataFrame) -> pd.DataFrame:
    """Normalise a trade log (needs entry_time) to entry_ms, exit_ms, is_long, entry_z, exit_z and pnl."""
    if len(trades) > MAX_TRADE_MARKERS:
        log.info("showing the last %d of %d trades as markers", MAX_TRADE_MARKERS, len(trades))
        trades = trades.iloc[-MAX_TRADE_MARKERS:]
    sides = trades["side"] if "side" in trades.columns else ["long"] * len(trades)
    is_long = np.array(
        [float(s) > 0 if isinstance(s, numbers.Real) else str(s).strip().lower().startswith("l") for s in sides],
        dtype=np.bool_,
    )
    out = pd.DataFrame(
        {
            "entry_ms": to_epoch_ms(trades["entry_time"]),
            "exit_ms": to_epoch_ms(trades["exit_time"]) if "exit_time" in trades.columns else NAT_MS,
            "is_long": is_long,
        }
    )
    for name, candidates in _TRADE_COLUMNS.items():
        col = next((c for c in candidates if c in trades.columns), None)
        out[name] = (
            pd.to_numeric(trades[col], errors="coerce").to_numpy(np.float64) if col else np.full(len(trades), np.nan)
        )
    return out


def _marker(
    x: np.ndarray, y: np.ndarray, text: list[str], name: str, symbol: str, color: str, *, size: int, showlegend: bool
) -> go.Scatter:
    """Trade marker trace; legendgroup = name so one legend click toggles it on both panels."""
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=name,
        legendgroup=name,
        showlegend=showlegend,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        marker=dict(symbol=symbol, size=size, color=color, line=dict(width=1, color=BG)),
    )


_MARKER_STYLES = (
    ("entry", "Long entry", True, "triangle-up", UP),
    ("entry", "Short entry", False, "triangle-down", DOWN),
    ("exit", "Exit", None, "x", EXIT_MARKER_COLOR),
)


def _trade_text(phase: str, is_long: bool, signal_z: float, pnl: float) -> str:
    """Hover text of one marker: side, phase, the logged signal z-score and (exits) the trade P&L."""
    text = f"{'long' if is_long else 'short'} {phase}"
    if np.isfinite(signal_z):
        text += f"<br>signal z = {signal_z:.3g}"
    if phase == "exit" and np.isfinite(pnl):
        text += f"<br>P&L = {pnl:.4g}"
    return text


def _add_trade_markers(fig: go.Figure, trades: pd.DataFrame, panels: Sequence[tuple[int, pd.Series]]) -> None:
    """Long/short entry and exit markers on each (row, series) panel, placed on the series at the fill time.

    Logs from analytics stamp fills one bar after the signal, so the logged (signal) z goes in the hover text
    rather than the marker's y, which keeps every marker on its line.
    """
    t = _trade_frame(trades)
    is_long = t["is_long"].to_numpy()
    has_exit = t["exit_ms"].to_numpy() != NAT_MS
    pnl = t["pnl"].to_numpy()
    size = 10 if len(t) <= 100 else 7 if len(t) <= 500 else 5  # hundreds of trades would bury the lines
    for i, (row, series) in enumerate(panels):
        sx = to_epoch_ms(series.index)
        sy = series.to_numpy(dtype=np.float64, na_value=np.nan)
        for phase, name, long_side, symbol, color in _MARKER_STYLES:
            mask = has_exit if long_side is None else is_long == long_side
            if not mask.any():
                continue
            times = t[f"{phase}_ms"].to_numpy()[mask]
            text = [
                _trade_text(phase, lg, z, p)
                for lg, z, p in zip(is_long[mask], t[f"{phase}_z"].to_numpy()[mask], pnl[mask])
            ]
            fig.add_trace(
                _marker(times, _asof(sx, sy, times), text, name, symbol, color, size=size, showlegend=i == 0),
                row=row,
                col=1,
            )


def spread_zscore_figure(
    spread: pd.Series,
    zscore: pd.Series,
    *,
    entry: float,
    exit: float,
    stop: float | None = None,
    trades: pd.DataFrame | None = None,
) -> go.Figure:
    """Spread and z-score panels with ±entry / ±exit (/ ±stop) lines and, given a trade log, entry/exit markers."""
    title = "Spread and z-score"
    if is_empty(spread) and is_empty(zscore):
        return empty_figure(f"{NO_DATA}: spread needs two symbols with overlapping bars", title=title, height=480)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.5, 0.5])
    panels: list[tuple[int, pd.Series]] = []
    for row, data, color, label in ((1, spread, SPREAD_COLOR, "Spread"), (2, zscore, Z_COLOR, "z-score")):
        if not is_empty(data):
            s = as_series(data)
            fig.add_trace(series_line(s, label, color), row=row, col=1)
            panels.append((row, s))
        fig.update_yaxes(title_text=label, row=row, col=1)
    if panels and panels[0][0] == 1:  # the spread's y range over its bulk: a Kalman warm-up spike (−300) is cut, not
        # the 7 days of spread flattened under it (a y range only: the x axis stays free for the user's zoom)
        fig.update_yaxes(range=robust_range(panels[0][1].to_numpy()), row=1, col=1)
    levels: dict[float, RefLine] = {}  # keyed by level: exit 0 gives one line, a later kind wins a tie
    for value, kind, color, dash in (
        (stop, "stop", STOP_COLOR, "dashdot"),
        (entry, "entry", ENTRY_COLOR, "dash"),
        (exit, "exit", EXIT_COLOR, "dot"),
    ):
        if value is not None and np.isfinite(value):
            for level in {abs(float(value)), -abs(float(value))}:
                levels[level] = RefLine(level, f"{kind} {level:+g}", color, dash)
    ref_lines(fig, list(levels.values()), row=2)
    time_axes(fig, bottom_row=2)
    if trades is not None and len(trades) and "entry_time" not in trades.columns:
        log.warning("trade log without entry_time column; markers skipped")
    elif trades is not None and len(trades) and panels:
        _add_trade_markers(fig, trades, panels)  # (no explicit x range: one that moves with the live window would
        # override the user's zoom at every refresh)
    return finish(fig, title=title, uirevision="spread", height=520)


def hedge_ratio_figure(
    beta: pd.Series | float,
    band: tuple[pd.Series, pd.Series] | pd.DataFrame | None = None,
    method: str = "",
    *,
    index: pd.Index | None = None,
    r2: float | None = None,
    units: str = "units of x per unit of y held",
) -> go.Figure:
    """Hedge ratio over time with an optional (lower, upper) band; a static value is drawn flat and annotated.

    A scalar beta needs ``index`` (e.g. the spread's index) to span the time axis; ``units`` names β's unit on the
    axis (spread = y − α − βx: β units of x are hedged per unit of y held, e.g. "BTC per ETH held").
    """
    title = f"Hedge ratio β ({method})" if method else "Hedge ratio β"
    if not isinstance(beta, pd.Series):
        if index is None or len(index) == 0 or not np.isfinite(float(beta)):
            return empty_figure(f"{NO_DATA}: hedge ratio needs a time range", title=title)
        beta = pd.Series(float(beta), index=index)
    if is_empty(beta):
        return empty_figure(f"{NO_DATA}: hedge ratio not available yet", title=title)
    s = as_series(beta)
    fig = go.Figure()
    if band is not None:
        lower, upper = (band["lower"], band["upper"]) if isinstance(band, pd.DataFrame) else band
        both = pd.concat({"lower": lower, "upper": upper}, axis=1).sort_index()
        if not is_empty(both):
            bx, lo, hi = envelope_downsample(
                to_epoch_ms(both.index), both["lower"].to_numpy(np.float64), both["upper"].to_numpy(np.float64)
            )
            fig.add_trace(line_trace(bx, hi, "band upper", width=0, showlegend=False, hoverinfo="skip"))
            fig.add_trace(line_trace(bx, lo, "band", width=0, fill="tonexty", fillcolor=BAND_FILL, hoverinfo="skip"))
    fig.add_trace(series_line(s, "β", SPREAD_COLOR))
    values = s.dropna()
    note = f"β = {float(values.iloc[-1]):.5g}" + (" (static)" if values.nunique() == 1 else " (latest)")
    if r2 is not None:
        note += f", R² = {r2:.3f}"
    fig.add_annotation(
        text=note,
        x=1,
        y=1,
        xref="paper",
        yref="paper",
        xanchor="right",
        yanchor="bottom",
        showarrow=False,
        font=dict(color=TEXT, size=12),
    )
    time_axes(fig)
    fig.update_yaxes(title_text=f"β ({units})")
    return finish(fig, title=title, uirevision="beta", height=360)


def rolling_correlation_figure(corr: pd.Series | pd.DataFrame, *, window: int | None = None) -> go.Figure:
    """Rolling correlation (one line per pair column) on a fixed [-1, 1] scale."""
    title = f"Rolling correlation ({window} bars)" if window else "Rolling correlation"
    if is_empty(corr):
        return empty_figure(f"{NO_DATA}: correlation needs a full window of bars", title=title)
    frame = as_frame(corr.rename("correlation") if isinstance(corr, pd.Series) and corr.name is None else corr)
    fig = go.Figure()
    for i, col in enumerate(frame.columns):
        if not frame[col].isna().all():
            fig.add_trace(series_line(frame[col], str(col), PALETTE[(i + 2) % len(PALETTE)]))
    ref_lines(fig, [RefLine(0.0, "", MUTED, "dot")])
    time_axes(fig)
    fig.update_yaxes(title_text="Correlation", range=[-1.05, 1.05])
    return finish(fig, title=title, uirevision="rolling-corr", height=320)


def correlation_heatmap(matrix: pd.DataFrame, *, title: str = "Correlation matrix") -> go.Figure:
    """Annotated correlation matrix on a diverging colour scale fixed to [-1, 1]."""
    if matrix is None or matrix.empty:
        return empty_figure(f"{NO_DATA}: select at least two symbols", title=title)
    labels_x = [str(c) for c in matrix.columns]
    labels_y = [str(i) for i in matrix.index]
    z = matrix.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    fig = go.Figure(
        heatmap_trace(
            z,
            labels_x,
            labels_y,
            colorscale="RdBu",
            zmin=-1.0,
            zmax=1.0,
            zmid=None,
            colorbar_title="ρ",
            hover="%{y} vs %{x}: %{z:.3f}",
        )
    )
    fig.update_xaxes(title_text="Symbol", type="category", side="bottom")
    fig.update_yaxes(title_text="Symbol", type="category", autorange="reversed")
    fig.update_layout(hovermode="closest")
    return finish(fig, title=title, uirevision="corr-matrix", height=max(320, 120 + 50 * len(labels_y)))
