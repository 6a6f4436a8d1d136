"""Price charts: candlesticks (single and stacked), normalized/compact price lines, volatility, distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.common import (
    PLAIN_TICKS,
    FrameLike,
    RefLine,
    as_frame,
    empty_figure,
    finish,
    is_empty,
    ref_lines,
    series_line,
    time_axes,
)
from charts.downsample import (
    rebucket_candles,
    time_indexed,
    to_epoch_ms,
)
from charts.theme import (
    COMPACT_POINTS,
    DAY_MS,
    DOWN,
    DOWN_DIM,
    MAX_CANDLES,
    MAX_POINTS,
    MUTED,
    NO_DATA,
    SPREAD_COLOR,
    TEXT,
    UP,
    UP_DIM,
    Z_COLOR,
    interval_label,
    symbol_color,
)
from core.numbers import significant
from core.symbols import split_symbol


def _bar_interval_ms(bars: pd.DataFrame) -> int | None:
    """Bar width in ms: the re-bucketing width if any, else the median step of the index."""
    if "bucket_ms" in bars.attrs:
        return int(bars.attrs["bucket_ms"])
    if len(bars) < 2:
        return None
    step = np.median(np.diff(to_epoch_ms(bars.index)))
    return int(step) if step > 0 else None


def _prepare_bars(bars: pd.DataFrame, max_candles: int) -> pd.DataFrame:
    """Time-indexed, sorted, OHLC-complete bars cut to the candle budget."""
    bars = time_indexed(bars)
    if not bars.index.is_monotonic_increasing:
        bars = bars.sort_index()
    bars = bars.dropna(subset=[c for c in ("open", "high", "low", "close") if c in bars.columns])
    return rebucket_candles(bars, max_candles)


def multi_candlestick_figure(
    bars_by_symbol: Mapping[str, pd.DataFrame], *, show_volume: bool = True, max_candles: int = MAX_CANDLES
) -> go.Figure:
    """Stacked candlestick panels (each with its own volume panel) sharing one time axis; the candle budget is split."""
    items = {
        sym: b
        for sym, b in bars_by_symbol.items()
        if b is not None and len(b) and {"open", "high", "low", "close"} <= set(b.columns)
    }
    if not items:
        return empty_figure(f"{NO_DATA}: no OHLC bars yet", title="Candlesticks", height=420)
    per_symbol = max(1, max_candles // len(items))
    prepared = {sym: _prepare_bars(b, per_symbol) for sym, b in items.items()}
    rows_per = 2 if show_volume else 1
    n_rows = rows_per * len(prepared)
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True)
    for i, (sym, b) in enumerate(prepared.items()):
        _add_candles(fig, b, sym, price_row=i * rows_per + 1, volume_row=i * rows_per + 2 if show_volume else None)
        step = _bar_interval_ms(b)
        price_top = _stack_domains(fig, i, len(prepared), rows_per)
        fig.add_annotation(
            text=f"{sym} · {interval_label(step)} candles" if step else sym,
            x=0,
            y=price_top,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=13, color=TEXT),
        )
    fig.update_xaxes(rangeslider_visible=False)
    time_axes(fig, bottom_row=n_rows)
    fig.update_layout(showlegend=False, hovermode="x")
    return finish(fig, title=None, uirevision="candles:" + ",".join(prepared), height=120 + 380 * len(prepared))


def _stack_domains(fig: go.Figure, block: int, n_blocks: int, rows_per: int) -> float:
    """Give symbol block `block` its vertical slice (price 72 % over volume 28 %, tight inside, wide between blocks).

    make_subplots only spaces rows uniformly, which would detach each volume panel from its price panel.
    Returns the top of the block's price panel (in paper coordinates) for the block's label.
    """
    between, inside = 0.08, 0.015
    height = (1.0 - between * (n_blocks - 1)) / n_blocks
    top = 1.0 - block * (height + between)
    first_axis = block * rows_per + 1
    if rows_per == 1:
        fig.layout[_yaxis_name(first_axis)].domain = [max(0.0, top - height), top]
        return top
    split = top - 0.72 * (height - inside)
    fig.layout[_yaxis_name(first_axis)].domain = [split, top]
    fig.layout[_yaxis_name(first_axis + 1)].domain = [max(0.0, top - height), split - inside]
    return top


def _yaxis_name(n: int) -> str:
    """Layout key of the n-th y axis ("yaxis", "yaxis2", ...)."""
    return "yaxis" if n == 1 else f"yaxis{n}"


def _add_candles(fig: go.Figure, bars: pd.DataFrame, symbol: str, *, price_row: int, volume_row: int | None) -> None:
    """Add one symbol's candlestick trace (and volume bars coloured by candle direction) to a subplot grid."""
    base, quote = split_symbol(symbol)
    x = to_epoch_ms(bars.index)
    close = bars["close"].to_numpy(dtype=np.float64)
    opens = bars["open"].to_numpy(dtype=np.float64)
    fig.add_trace(
        go.Candlestick(
            x=x,
            open=opens,
            high=bars["high"].to_numpy(dtype=np.float64),
            low=bars["low"].to_numpy(dtype=np.float64),
            close=close,
            name=symbol,
            increasing=dict(line=dict(color=UP, width=1), fillcolor=UP),
            decreasing=dict(line=dict(color=DOWN, width=1), fillcolor=DOWN),
        ),
        row=price_row,
        col=1,
    )
    fig.update_yaxes(
        title_text=f"Price ({quote})" if quote else "Price", hoverformat=",.8~g", row=price_row, col=1
    )  # the candle hover's open/high/low/close in plain digits with separators (d3's default wrote 75.0376k)
    if volume_row is None or "volume" not in bars.columns:
        return
    # one trace per direction, each of one colour: a per-bar colour array reaches plotly.js as a typed array, which
    # it checks as a colour on every redraw and warns about ("Invalid color specifier: Int8Array") thousands of times
    # with explicit widths: plotly sizes a trace's bars by the gaps between its own points, so a direction with one
    # bar (or bars far apart) would be drawn a millisecond wide, invisible
    volume = bars["volume"].to_numpy(dtype=np.float64)
    up = close >= opens
    step = _bar_interval_ms(bars)
    for mask, colour, direction in ((up, UP_DIM, "up"), (~up, DOWN_DIM, "down")):
        fig.add_trace(
            go.Bar(
                x=x[mask],
                y=volume[mask],
                width=None if step is None else 0.5 * step,  # as wide as plotly draws the candles
                name=f"{symbol} volume ({direction})",
                marker=dict(color=colour, line=dict(width=0)),
            ),
            row=volume_row,
            col=1,
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text=f"Volume ({base})" if base else "Volume", row=volume_row, col=1)


def _normalize(frame: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Each column relative to its first valid value: "rebased" (start = 100) or "pct" (% change since start)."""
    if mode not in ("rebased", "pct"):
        raise ValueError(f"mode must be 'rebased' or 'pct', not {mode!r}")
    numeric = frame.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    base = numeric.bfill().iloc[0].where(lambda b: b != 0)
    ratio = numeric / base
    return ratio * 100.0 if mode == "rebased" else (ratio - 1.0) * 100.0


def _price_lines(fig: go.Figure, frame: pd.DataFrame, n_out: int) -> None:
    """One line per symbol column in its symbol colour."""
    for col in frame.columns:
        if not frame[col].isna().all():
            fig.add_trace(series_line(frame[col], str(col), symbol_color(str(col)), n_out=n_out))


def normalized_price_figure(closes: FrameLike, mode: str = "rebased") -> go.Figure:
    """Several symbols on one readable scale: rebased to 100 or % change since the window start."""
    title = "Normalised prices" if mode == "rebased" else "Change since window start"
    if is_empty(closes):
        return empty_figure(f"{NO_DATA}: no closing prices yet", title=title)
    fig = go.Figure()
    _price_lines(fig, _normalize(as_frame(closes), mode), MAX_POINTS)
    ref_lines(fig, [RefLine(100.0 if mode == "rebased" else 0.0, "start", MUTED, "dot", side="left")])
    time_axes(fig)
    fig.update_yaxes(title_text="Rebased (start = 100)" if mode == "rebased" else "Change since start (%)")
    return finish(fig, title=title, uirevision="normalized", height=420)


def compact_price_figure(closes: FrameLike, *, height: int = 240) -> go.Figure:
    """Small price chart for the dashboard tab: raw price for one symbol, % change for several."""
    if is_empty(closes):
        return empty_figure(f"{NO_DATA}: waiting for prices", height=height)
    frame = as_frame(closes)
    fig = go.Figure()
    if frame.shape[1] == 1:
        _, quote = split_symbol(str(frame.columns[0]))
        _price_lines(fig, frame, COMPACT_POINTS)
        fig.update_yaxes(title_text=f"Price ({quote})" if quote else "Price")
    else:
        _price_lines(fig, _normalize(frame, "pct"), COMPACT_POINTS)
        fig.update_yaxes(title_text="Change (%)")
    time_axes(fig)
    fig.update_layout(margin=dict(l=50, r=10, t=30, b=30))
    return finish(fig, title=None, uirevision="compact", height=height)


def rolling_volatility_figure(closes: FrameLike, window: int = 60, *, annualize: bool = True) -> go.Figure:
    """Rolling volatility of log returns per symbol (annualised on a 365-day year, from the bar spacing)."""
    title = f"Rolling volatility ({window} bars)"
    if is_empty(closes):
        return empty_figure(f"{NO_DATA}: no closing prices yet", title=title)
    frame = as_frame(closes).apply(pd.to_numeric, errors="coerce").astype(np.float64)
    log_ret = np.log(frame.where(frame > 0)).diff()
    vol = log_ret.rolling(window, min_periods=max(2, window // 2)).std()
    step = _bar_interval_ms(frame)
    scale = math.sqrt(365 * DAY_MS / step) if annualize and step else 1.0
    if vol.isna().all(axis=None):
        return empty_figure(f"{NO_DATA}: need more than {window // 2} bars", title=title)
    fig = go.Figure()
    _price_lines(fig, vol * scale * 100.0, MAX_POINTS)
    time_axes(fig)
    unit = "Annualised volatility (%)" if scale != 1.0 else "Std of log returns per bar (%)"
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    return finish(fig, title=title, uirevision="volatility", height=360)


def distribution_figure(
    values: pd.Series | np.ndarray | Sequence[float], title: str, bins: int = 50, *, x_title: str = "Value"
) -> go.Figure:
    """Histogram (binned in Python, so the payload is `bins` bars whatever the input size) with mean/median lines."""
    arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return empty_figure(f"{NO_DATA} for this distribution", title=title)
    counts, edges = np.histogram(arr, bins=int(min(max(bins, 1), MAX_POINTS)))
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            name="count",
            marker=dict(color=SPREAD_COLOR, line=dict(width=0)),
            opacity=0.85,
            hovertemplate="%{x:,.6~r}: %{y:,}<extra></extra>",
        )
    )
    mean, median = float(arr.mean()), float(np.median(arr))
    outward = ("right", "left") if mean >= median else ("left", "right")  # each label away from the other line
    ref_lines(
        fig,
        [
            RefLine(mean, f"mean {significant(mean, 4)}", Z_COLOR, "dash", side=outward[0]),
            RefLine(median, f"median {significant(median, 4)}", MUTED, "dot", side=outward[1]),
        ],
        vertical=True,
    )
    fig.update_xaxes(title_text=x_title, tickformat=PLAIN_TICKS)
    fig.update_yaxes(title_text="Count")
    fig.update_layout(hovermode="closest", bargap=0.02, showlegend=False)
    return finish(fig, title=f"{title} (n = {arr.size:,})", uirevision="distribution", height=360)
