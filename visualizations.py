"""Pure Plotly figure builders for the dashboard: dark theme, epoch-ms date axes, bounded payloads.

Every builder takes plain pandas/numpy data (time-indexed by a tz-aware UTC DatetimeIndex, see docs/CONTRACTS.md),
never raises on empty input (it returns a figure with a "No data" annotation instead), and downsamples so that no
trace carries more than MAX_POINTS points and no chart more than MAX_CANDLES candles (the browser, not Python, is
the bottleneck: research/streamlit.md section 4). Streamlit callers should pass ``theme=None`` to
``st.plotly_chart`` so the template colours below are kept.
"""

from __future__ import annotations

import logging
import math
import numbers
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "DARK_TEMPLATE", "MAX_CANDLES", "MAX_POINTS", "NO_DATA", "TIME_TITLE", "apply_dark", "candlestick_figure",
    "compact_price_figure", "correlation_heatmap", "create_backtest_chart", "create_correlation_heatmap",
    "create_ohlc_chart", "create_spread_chart", "data_quality_figure", "distribution_figure", "empty_figure",
    "envelope_downsample", "equity_drawdown_figure", "hedge_ratio_figure", "interval_label", "minmax_downsample",
    "multi_candlestick_figure", "normalized_price_figure", "rebucket_candles", "rolling_correlation_figure",
    "rolling_volatility_figure", "split_symbol", "spread_zscore_figure", "sweep_heatmap", "symbol_color",
    "to_epoch_ms",
]

log = logging.getLogger(__name__)

MAX_POINTS = 2000
MAX_CANDLES = 1500
COMPACT_POINTS = 600
MAX_TRADE_MARKERS = 2000

TIME_TITLE = "Time (UTC)"
NO_DATA = "No data"
_NAT_MS = np.iinfo(np.int64).min

BG = "#0e1117"
PANEL_BG = "#11151f"
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
    "#f7931a", "#8c9eff", "#26c6da", "#ffca28", "#ab47bc", "#66bb6a",
    "#ff7043", "#ec407a", "#9ccc65", "#29b6f6", "#d4e157", "#bcaaa4",
)
_KNOWN_COLORS = {
    "BTC": "#f7931a", "ETH": "#8c9eff", "BNB": "#f3ba2f", "SOL": "#14f195", "XRP": "#5dade2",
    "DOGE": "#c2a633", "ADA": "#3cc8c8", "AVAX": "#e84142", "LINK": "#4f7fff", "LTC": "#b8b8b8",
}
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")

_SECOND = 1_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_NICE_BUCKETS_MS = (
    _SECOND, 2 * _SECOND, 5 * _SECOND, 10 * _SECOND, 15 * _SECOND, 30 * _SECOND,
    _MINUTE, 2 * _MINUTE, 3 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 4 * _HOUR, 6 * _HOUR, 8 * _HOUR, 12 * _HOUR, _DAY, 3 * _DAY, 7 * _DAY,
)
_TIME_COLUMNS = ("time", "timestamp", "ts", "open_time")

_AXIS = dict(gridcolor=GRID, zerolinecolor=AXIS_LINE, linecolor=AXIS_LINE, tickcolor=AXIS_LINE,
             title=dict(font=dict(color=MUTED, size=12)), automargin=True)
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

FrameLike = pd.DataFrame | pd.Series | Mapping[str, pd.Series]


# ---------------------------------------------------------------------------------------------------------------
# Theme, colours, small shared helpers
# ---------------------------------------------------------------------------------------------------------------

def apply_dark(fig: go.Figure) -> go.Figure:
    """Apply the shared dark template in place and return the figure (one look for every chart)."""
    fig.update_layout(template=DARK_TEMPLATE)
    return fig


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a Binance symbol such as "BTCUSDT" into (base, quote) so axes can name their units."""
    sym = str(symbol).upper().split("_", 1)[0]
    for quote in _QUOTES:
        if sym.endswith(quote) and len(sym) > len(quote):
            return sym[: -len(quote)], quote
    return sym, ""


def symbol_color(symbol: str) -> str:
    """Stable colour for a symbol (same base asset, same colour, in every chart and session)."""
    base, _ = split_symbol(symbol)
    if base in _KNOWN_COLORS:
        return _KNOWN_COLORS[base]
    return PALETTE[zlib.crc32(base.encode()) % len(PALETTE)]


def interval_label(ms: int) -> str:
    """Human label for a bar interval in ms ("1s", "5m", "4h", "1d") used in chart titles."""
    for unit, size in (("d", _DAY), ("h", _HOUR), ("m", _MINUTE), ("s", _SECOND)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def to_epoch_ms(values: Any) -> np.ndarray:
    """Epoch-ms int64 array from datetimes (naive = UTC, any unit) or numeric epoch ms; missing -> int64 min."""
    if isinstance(values, pd.MultiIndex):
        raise TypeError("a MultiIndex is not a time axis")
    if not isinstance(values, (pd.Index, pd.Series, np.ndarray)):
        values = np.asarray(values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = np.asarray(values, dtype=np.float64)
        return np.where(np.isnan(arr), _NAT_MS, arr).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ms").asi8


def empty_figure(message: str = NO_DATA, *, title: str | None = None, height: int = 320) -> go.Figure:
    """Dark figure carrying only a centred message, returned instead of raising on empty input."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=16, color=MUTED))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(plot_bgcolor=BG)
    return _finish(fig, title=title, uirevision="empty", height=height)


def _finish(fig: go.Figure, *, title: str | None, uirevision: str, height: int) -> go.Figure:
    """Apply the template, title, height and a constant uirevision (keeps zoom across refreshes)."""
    apply_dark(fig)
    fig.update_layout(title_text=title, height=height, uirevision=uirevision)
    if not title:
        fig.update_layout(margin_t=36)
    return fig


def _time_axes(fig: go.Figure, bottom_row: int | None = None) -> None:
    """Make every x axis a date axis (x data are epoch ms) and title it (only the bottom row of a subplot grid)."""
    fig.update_xaxes(type="date", hoverformat="%Y-%m-%d %H:%M:%S", showspikes=True, spikemode="across",
                     spikethickness=1, spikecolor=MUTED)
    if bottom_row is None:
        fig.update_xaxes(title_text=TIME_TITLE)
    else:
        fig.update_xaxes(title_text=TIME_TITLE, row=bottom_row, col=1)


def _is_empty(obj: Any) -> bool:
    """True for None, zero-length or all-missing data (the cases that get the "No data" figure)."""
    if obj is None:
        return True
    if isinstance(obj, Mapping):
        return all(_is_empty(v) for v in obj.values())
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        return obj.size == 0 or bool(obj.isna().all(axis=None))
    arr = np.asarray(obj, dtype=np.float64)
    return arr.size == 0 or bool(np.isnan(arr).all())


def _as_series(obj: pd.Series | pd.DataFrame) -> pd.Series:
    """Series sorted by time; a one-column frame is accepted for convenience."""
    s = obj.iloc[:, 0] if isinstance(obj, pd.DataFrame) else obj
    if not s.index.is_monotonic_increasing:
        s = s.sort_index()
    return s


def _as_frame(obj: FrameLike) -> pd.DataFrame:
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
    ok = x != _NAT_MS
    if not ok.all():
        x, y = x[ok], y[ok]
    return minmax_downsample(x, y, n_out)


def _line(x: np.ndarray, y: np.ndarray, name: str, color: str | None = None, *, width: float = 1.6,
          dash: str | None = None, **kwargs: Any) -> go.Scatter:
    """SVG line trace (faster than WebGL at <= 2k points with software GL, and no WebGL context limit)."""
    return go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, width=width, dash=dash),
                      **kwargs)


def _series_line(s: pd.Series, name: str, color: str | None = None, *, n_out: int = MAX_POINTS,
                 **kwargs: Any) -> go.Scatter:
    """Downsampled line trace of a time series."""
    x, y = _xy(s, n_out)
    return _line(x, y, name, color, **kwargs)


class _RefLine(NamedTuple):
    """A labelled reference line: a threshold, a baseline or a mean. side = where the label sits."""

    value: float
    label: str
    color: str
    dash: str
    side: str = "right"


def _ref_lines(fig: go.Figure, lines: Sequence[_RefLine], *, vertical: bool = False, row: int = 1) -> None:
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
        shapes.append(dict(type="line", xref=xref, yref=yref, line=dict(color=line.color, width=1, dash=line.dash),
                           **ends))
        if line.label:
            notes.append(dict(text=line.label, xref=xref, yref=yref, yanchor="bottom", showarrow=False,
                              font=dict(size=10, color=line.color), **place))
    fig.update_layout(shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *notes])


def _fmt(value: float) -> str:
    """Compact number for in-cell labels; blank for NaN so missing cells stay empty."""
    return "" if value is None or not np.isfinite(value) else f"{value:.3g}"


# ---------------------------------------------------------------------------------------------------------------
# Downsampling
# ---------------------------------------------------------------------------------------------------------------

def _bins(values: np.ndarray, n_bins: int, fill: float) -> np.ndarray:
    """Reshape values into at most n_bins equal-count rows, padding the last row with fill."""
    n = len(values)
    k = -(-n // max(1, n_bins))
    rows = -(-n // k)
    padded = np.full(rows * k, fill, dtype=np.float64)
    padded[:n] = values
    return padded.reshape(rows, k)


def minmax_downsample(x_ms: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep each equal-count bin's min and max (spikes survive) plus first/last; at most n_out points (n_out >= 4).

    NaN is ignored when picking extremes; a bin that is entirely NaN keeps one NaN point so line gaps stay visible.
    Input at or under n_out is returned unchanged. x must be sorted; the output x is then sorted too.
    """
    x_ms = np.asarray(x_ms)
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n <= n_out:
        return x_ms, y
    n_bins = max(1, (max(n_out, 4) - 2) // 2)
    for_min = _bins(np.where(np.isnan(y), np.inf, y), n_bins, np.inf)
    for_max = _bins(np.where(np.isnan(y), -np.inf, y), n_bins, -np.inf)
    base = np.arange(for_min.shape[0]) * for_min.shape[1]
    keep = np.unique(np.concatenate([
        base + for_min.argmin(axis=1), base + for_max.argmax(axis=1), [0, n - 1],
    ]))
    log.debug("minmax_downsample %d -> %d points", n, len(keep))
    return x_ms[keep], y[keep]


def envelope_downsample(x_ms: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                        n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downsample a band on shared bins (bin min of lower, bin max of upper) so the envelope is never narrowed."""
    x_ms = np.asarray(x_ms)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    n = len(x_ms)
    if n <= n_out:
        return x_ms, lower, upper
    lo_bins = _bins(lower, n_out - 1, np.nan)
    lo = np.fmin.reduce(lo_bins, axis=1)
    hi = np.fmax.reduce(_bins(upper, n_out - 1, np.nan), axis=1)
    starts = np.arange(lo_bins.shape[0]) * lo_bins.shape[1]
    return (np.append(x_ms[starts], x_ms[-1]), np.append(lo, lower[-1]), np.append(hi, upper[-1]))


def _bucket_ms(span_ms: int, max_candles: int) -> int:
    """Smallest "nice" bucket width that fits span_ms into max_candles epoch-aligned buckets."""
    need = span_ms / max(1, max_candles - 1)
    for width in _NICE_BUCKETS_MS:
        if width >= need:
            return width
    return int(math.ceil(need / _DAY)) * _DAY


def rebucket_candles(bars: pd.DataFrame, max_candles: int = MAX_CANDLES) -> pd.DataFrame:
    """Re-aggregate OHLCV bars into coarser epoch-aligned buckets so at most max_candles remain.

    open = first, high = max, low = min, close = last, volume/trades = sum, vwap = volume-weighted,
    filled = all bars in the bucket were filled. Other columns are dropped. Small input is returned unchanged.
    The chosen bucket width (ms) is stored in ``result.attrs["bucket_ms"]``.
    """
    if bars is None or len(bars) <= max_candles:
        return bars
    bars = _time_indexed(bars)
    if not bars.index.is_monotonic_increasing:
        bars = bars.sort_index()
    ms = to_epoch_ms(bars.index)
    width = _bucket_ms(int(ms[-1] - ms[0]), max_candles)
    key = pd.Index(ms // width * width, name="bucket")
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "trades": "sum",
             "filled": "all"}
    work = bars[[c for c in rules if c in bars.columns]]
    if "vwap" in bars.columns and "volume" in bars.columns:
        work = work.assign(_pv=bars["vwap"].to_numpy(dtype=np.float64) * bars["volume"].to_numpy(dtype=np.float64))
        rules["_pv"] = "sum"
    out = work.groupby(key.to_numpy(), sort=True).agg({c: r for c, r in rules.items() if c in work.columns})
    if "_pv" in out.columns:
        vwap = out.pop("_pv") / out["volume"].where(out["volume"] > 0)
        out["vwap"] = vwap.fillna(out["close"]) if "close" in out.columns else vwap
    index = pd.to_datetime(out.index.to_numpy(), unit="ms", utc=True)
    tz = getattr(bars.index, "tz", None)
    index = index.tz_localize(None) if tz is None else index.tz_convert(tz)
    out.index = pd.DatetimeIndex(index, name=bars.index.name or "time")
    out.attrs["bucket_ms"] = width
    log.debug("rebucket_candles %d -> %d candles of %s", len(bars), len(out), interval_label(width))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Candlesticks
# ---------------------------------------------------------------------------------------------------------------

def _time_indexed(df: pd.DataFrame) -> pd.DataFrame:
    """Frame indexed by time: keeps a DatetimeIndex, else uses a time/timestamp/ts column (epoch ms or dates)."""
    if isinstance(df.index, pd.DatetimeIndex):
        return df
    for col in _TIME_COLUMNS:
        if col in df.columns:
            values = df[col]
            numeric = pd.api.types.is_numeric_dtype(values.dtype)
            stamps = pd.to_datetime(values, unit="ms", utc=True) if numeric else pd.to_datetime(values, utc=True)
            return df.drop(columns=col).set_axis(pd.DatetimeIndex(stamps, name="time"), axis=0)
    return df


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
    bars = _time_indexed(bars)
    if not bars.index.is_monotonic_increasing:
        bars = bars.sort_index()
    bars = bars.dropna(subset=[c for c in ("open", "high", "low", "close") if c in bars.columns])
    return rebucket_candles(bars, max_candles)


def multi_candlestick_figure(bars_by_symbol: Mapping[str, pd.DataFrame], *, show_volume: bool = True,
                             max_candles: int = MAX_CANDLES) -> go.Figure:
    """Stacked candlestick panels (each with its own volume panel) sharing one time axis; the candle budget is split."""
    items = {sym: b for sym, b in bars_by_symbol.items()
             if b is not None and len(b) and {"open", "high", "low", "close"} <= set(b.columns)}
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
        fig.add_annotation(text=f"{sym} · {interval_label(step)} candles" if step else sym, x=0, y=price_top,
                           xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                           font=dict(size=13, color=TEXT))
    fig.update_xaxes(rangeslider_visible=False)
    _time_axes(fig, bottom_row=n_rows)
    fig.update_layout(showlegend=False, hovermode="x")
    return _finish(fig, title=None, uirevision="candles:" + ",".join(prepared), height=120 + 380 * len(prepared))


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
    fig.add_trace(go.Candlestick(
        x=x, open=opens, high=bars["high"].to_numpy(dtype=np.float64), low=bars["low"].to_numpy(dtype=np.float64),
        close=close, name=symbol,
        increasing=dict(line=dict(color=UP, width=1), fillcolor=UP),
        decreasing=dict(line=dict(color=DOWN, width=1), fillcolor=DOWN),
    ), row=price_row, col=1)
    fig.update_yaxes(title_text=f"Price ({quote})" if quote else "Price", row=price_row, col=1)
    if volume_row is None or "volume" not in bars.columns:
        return
    fig.add_trace(go.Bar(
        x=x, y=bars["volume"].to_numpy(dtype=np.float64), name=f"{symbol} volume",
        marker=dict(color=(close >= opens).astype(np.int8), colorscale=[[0, DOWN_DIM], [1, UP_DIM]], cmin=0, cmax=1,
                    line=dict(width=0)),
    ), row=volume_row, col=1)
    fig.update_yaxes(title_text=f"Volume ({base})" if base else "Volume", row=volume_row, col=1)


def candlestick_figure(bars: pd.DataFrame, symbol: str, *, show_volume: bool = True,
                       max_candles: int = MAX_CANDLES) -> go.Figure:
    """Candlesticks with a separate volume panel for one symbol (price in quote currency, volume in base units)."""
    return multi_candlestick_figure({symbol: bars}, show_volume=show_volume, max_candles=max_candles)


# ---------------------------------------------------------------------------------------------------------------
# Price lines
# ---------------------------------------------------------------------------------------------------------------

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
            fig.add_trace(_series_line(frame[col], str(col), symbol_color(str(col)), n_out=n_out))


def normalized_price_figure(closes: FrameLike, mode: str = "rebased") -> go.Figure:
    """Several symbols on one readable scale: rebased to 100 or % change since the window start."""
    title = "Normalised prices" if mode == "rebased" else "Change since window start"
    if _is_empty(closes):
        return empty_figure(f"{NO_DATA}: no closing prices yet", title=title)
    fig = go.Figure()
    _price_lines(fig, _normalize(_as_frame(closes), mode), MAX_POINTS)
    _ref_lines(fig, [_RefLine(100.0 if mode == "rebased" else 0.0, "start", MUTED, "dot", side="left")])
    _time_axes(fig)
    fig.update_yaxes(title_text="Rebased (start = 100)" if mode == "rebased" else "Change since start (%)")
    return _finish(fig, title=title, uirevision="normalized", height=420)


def compact_price_figure(closes: FrameLike, *, height: int = 240) -> go.Figure:
    """Small price chart for the dashboard tab: raw price for one symbol, % change for several."""
    if _is_empty(closes):
        return empty_figure(f"{NO_DATA}: waiting for prices", height=height)
    frame = _as_frame(closes)
    fig = go.Figure()
    if frame.shape[1] == 1:
        _, quote = split_symbol(str(frame.columns[0]))
        _price_lines(fig, frame, COMPACT_POINTS)
        fig.update_yaxes(title_text=f"Price ({quote})" if quote else "Price")
    else:
        _price_lines(fig, _normalize(frame, "pct"), COMPACT_POINTS)
        fig.update_yaxes(title_text="Change (%)")
    _time_axes(fig)
    fig.update_layout(margin=dict(l=50, r=10, t=30, b=30))
    return _finish(fig, title=None, uirevision="compact", height=height)


def rolling_volatility_figure(closes: FrameLike, window: int = 60, *, annualize: bool = True) -> go.Figure:
    """Rolling volatility of log returns per symbol (annualised on a 365-day year, from the bar spacing)."""
    title = f"Rolling volatility ({window} bars)"
    if _is_empty(closes):
        return empty_figure(f"{NO_DATA}: no closing prices yet", title=title)
    frame = _as_frame(closes).apply(pd.to_numeric, errors="coerce").astype(np.float64)
    log_ret = np.log(frame.where(frame > 0)).diff()
    vol = log_ret.rolling(window, min_periods=max(2, window // 2)).std()
    step = _bar_interval_ms(frame)
    scale = math.sqrt(365 * _DAY / step) if annualize and step else 1.0
    if vol.isna().all(axis=None):
        return empty_figure(f"{NO_DATA}: need more than {window // 2} bars", title=title)
    fig = go.Figure()
    _price_lines(fig, vol * scale * 100.0, MAX_POINTS)
    _time_axes(fig)
    unit = "Annualised volatility (%)" if scale != 1.0 else "Std of log returns per bar (%)"
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    return _finish(fig, title=title, uirevision="volatility", height=360)


def distribution_figure(values: pd.Series | np.ndarray | Sequence[float], title: str, bins: int = 50, *,
                        x_title: str = "Value") -> go.Figure:
    """Histogram (binned in Python, so the payload is `bins` bars whatever the input size) with mean/median lines."""
    arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return empty_figure(f"{NO_DATA} for this distribution", title=title)
    counts, edges = np.histogram(arr, bins=int(min(max(bins, 1), MAX_POINTS)))
    fig = go.Figure(go.Bar(
        x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name="count",
        marker=dict(color=SPREAD_COLOR, line=dict(width=0)), opacity=0.85,
        hovertemplate="%{x:.6g}: %{y}<extra></extra>",
    ))
    mean, median = float(arr.mean()), float(np.median(arr))
    _ref_lines(fig, [_RefLine(mean, f"mean {mean:.4g}", Z_COLOR, "dash", side="right"),
                     _RefLine(median, f"median {median:.4g}", MUTED, "dot", side="left")], vertical=True)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="Count")
    fig.update_layout(hovermode="closest", bargap=0.02, showlegend=False)
    return _finish(fig, title=f"{title} (n = {arr.size:,})", uirevision="distribution", height=360)


# ---------------------------------------------------------------------------------------------------------------
# Pair analytics
# ---------------------------------------------------------------------------------------------------------------

def _asof(x_ms: np.ndarray, y: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Value of a sorted series at or before each time in t_ms (NaN before the first point or for missing t)."""
    pos = np.searchsorted(x_ms, t_ms, side="right") - 1
    out = np.where(pos >= 0, y[np.clip(pos, 0, None)], np.nan) if len(y) else np.full(len(t_ms), np.nan)
    return np.where(t_ms == _NAT_MS, np.nan, out)


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
    is_long = np.array([s > 0 if isinstance(s, numbers.Real) else str(s).strip().lower().startswith("l")
                        for s in sides], dtype=bool)
    out = pd.DataFrame({
        "entry_ms": to_epoch_ms(trades["entry_time"]),
        "exit_ms": to_epoch_ms(trades["exit_time"]) if "exit_time" in trades.columns else _NAT_MS,
        "is_long": is_long,
    })
    for name, candidates in _TRADE_COLUMNS.items():
        col = next((c for c in candidates if c in trades.columns), None)
        out[name] = (pd.to_numeric(trades[col], errors="coerce").to_numpy(np.float64) if col
                     else np.full(len(trades), np.nan))
    return out


def _marker(x: np.ndarray, y: np.ndarray, text: list[str], name: str, symbol: str, color: str, *, size: int,
            showlegend: bool) -> go.Scatter:
    """Trade marker trace; legendgroup = name so one legend click toggles it on both panels."""
    return go.Scatter(x=x, y=y, mode="markers", name=name, legendgroup=name, showlegend=showlegend, text=text,
                      hovertemplate="%{text}<extra></extra>",
                      marker=dict(symbol=symbol, size=size, color=color, line=dict(width=1, color=BG)))


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
    has_exit = t["exit_ms"].to_numpy() != _NAT_MS
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
            text = [_trade_text(phase, lg, z, p)
                    for lg, z, p in zip(is_long[mask], t[f"{phase}_z"].to_numpy()[mask], pnl[mask])]
            fig.add_trace(_marker(times, _asof(sx, sy, times), text, name, symbol, color, size=size,
                                  showlegend=i == 0), row=row, col=1)


def spread_zscore_figure(spread: pd.Series, zscore: pd.Series, *, entry: float, exit: float,
                         stop: float | None = None, trades: pd.DataFrame | None = None) -> go.Figure:
    """Spread and z-score panels with ±entry / ±exit (/ ±stop) lines and, given a trade log, entry/exit markers."""
    title = "Spread and z-score"
    if _is_empty(spread) and _is_empty(zscore):
        return empty_figure(f"{NO_DATA}: spread needs two symbols with overlapping bars", title=title, height=480)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.5, 0.5])
    panels: list[tuple[int, pd.Series]] = []
    for row, data, color, label in ((1, spread, SPREAD_COLOR, "Spread"), (2, zscore, Z_COLOR, "z-score")):
        if not _is_empty(data):
            s = _as_series(data)
            fig.add_trace(_series_line(s, label, color), row=row, col=1)
            panels.append((row, s))
        fig.update_yaxes(title_text=label, row=row, col=1)
    levels: dict[float, _RefLine] = {}  # keyed by level: exit 0 gives one line, a later kind wins a tie
    for value, kind, color, dash in ((stop, "stop", STOP_COLOR, "dashdot"), (entry, "entry", ENTRY_COLOR, "dash"),
                                     (exit, "exit", EXIT_COLOR, "dot")):
        if value is not None and np.isfinite(value):
            for level in {abs(float(value)), -abs(float(value))}:
                levels[level] = _RefLine(level, f"{kind} {level:+g}", color, dash)
    _ref_lines(fig, list(levels.values()), row=2)
    _time_axes(fig, bottom_row=2)
    if trades is not None and len(trades) and "entry_time" not in trades.columns:
        log.warning("trade log without entry_time column; markers skipped")
    elif trades is not None and len(trades) and panels:
        _add_trade_markers(fig, trades, panels)
        x_all = np.concatenate([to_epoch_ms(s.index) for _, s in panels])
        fig.update_xaxes(range=[int(x_all.min()), int(x_all.max())])  # markers would otherwise pad the axis by 5%
    return _finish(fig, title=title, uirevision="spread", height=520)


def hedge_ratio_figure(beta: pd.Series | float, band: tuple[pd.Series, pd.Series] | pd.DataFrame | None = None,
                       method: str = "", *, index: pd.Index | None = None, r2: float | None = None) -> go.Figure:
    """Hedge ratio over time with an optional (lower, upper) band; a static value is drawn flat and annotated.

    A scalar beta needs ``index`` (e.g. the spread's index) to span the time axis.
    """
    title = f"Hedge ratio β ({method})" if method else "Hedge ratio β"
    if np.isscalar(beta):
        if index is None or len(index) == 0 or not np.isfinite(float(beta)):
            return empty_figure(f"{NO_DATA}: hedge ratio needs a time range", title=title)
        beta = pd.Series(float(beta), index=index)
    if _is_empty(beta):
        return empty_figure(f"{NO_DATA}: hedge ratio not available yet", title=title)
    s = _as_series(beta)
    fig = go.Figure()
    if band is not None:
        lower, upper = (band["lower"], band["upper"]) if isinstance(band, pd.DataFrame) else band
        both = pd.concat({"lower": lower, "upper": upper}, axis=1).sort_index()
        if not _is_empty(both):
            bx, lo, hi = envelope_downsample(to_epoch_ms(both.index), both["lower"].to_numpy(np.float64),
                                             both["upper"].to_numpy(np.float64))
            fig.add_trace(_line(bx, hi, "band upper", width=0, showlegend=False, hoverinfo="skip"))
            fig.add_trace(_line(bx, lo, "band", width=0, fill="tonexty", fillcolor=BAND_FILL, hoverinfo="skip"))
    fig.add_trace(_series_line(s, "β", SPREAD_COLOR))
    values = s.dropna()
    note = f"β = {float(values.iloc[-1]):.5g}" + (" (static)" if values.nunique() == 1 else " (latest)")
    if r2 is not None:
        note += f", R² = {r2:.3f}"
    fig.add_annotation(text=note, x=1, y=1, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                       showarrow=False, font=dict(color=TEXT, size=12))
    _time_axes(fig)
    fig.update_yaxes(title_text="β (units of leg 2 per unit of leg 1)")
    return _finish(fig, title=title, uirevision="beta", height=360)


def rolling_correlation_figure(corr: pd.Series | pd.DataFrame, *, window: int | None = None) -> go.Figure:
    """Rolling correlation (one line per pair column) on a fixed [-1, 1] scale."""
    title = f"Rolling correlation ({window} bars)" if window else "Rolling correlation"
    if _is_empty(corr):
        return empty_figure(f"{NO_DATA}: correlation needs a full window of bars", title=title)
    frame = _as_frame(corr.rename("correlation") if isinstance(corr, pd.Series) and corr.name is None else corr)
    fig = go.Figure()
    for i, col in enumerate(frame.columns):
        if not frame[col].isna().all():
            fig.add_trace(_series_line(frame[col], str(col), PALETTE[(i + 2) % len(PALETTE)]))
    _ref_lines(fig, [_RefLine(0.0, "", MUTED, "dot")])
    _time_axes(fig)
    fig.update_yaxes(title_text="Correlation", range=[-1.05, 1.05])
    return _finish(fig, title=title, uirevision="rolling-corr", height=320)


def _heatmap(z: np.ndarray, x: list[str], y: list[str], *, colorscale: str, zmin: float | None,
             zmax: float | None, zmid: float | None, colorbar_title: str, hover: str) -> go.Heatmap:
    """Annotated heatmap trace; NaN cells render blank (no colour, no text)."""
    text = [[_fmt(v) for v in row] for row in z]
    return go.Heatmap(z=z, x=x, y=y, text=text, texttemplate="%{text}", textfont=dict(size=12),
                      colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid, hoverongaps=False,
                      colorbar=dict(title=dict(text=colorbar_title)), hovertemplate=hover + "<extra></extra>",
                      xgap=1, ygap=1)


def correlation_heatmap(matrix: pd.DataFrame, *, title: str = "Correlation matrix") -> go.Figure:
    """Annotated correlation matrix on a diverging colour scale fixed to [-1, 1]."""
    if matrix is None or matrix.empty:
        return empty_figure(f"{NO_DATA}: select at least two symbols", title=title)
    labels_x = [str(c) for c in matrix.columns]
    labels_y = [str(i) for i in matrix.index]
    z = matrix.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    fig = go.Figure(_heatmap(z, labels_x, labels_y, colorscale="RdBu", zmin=-1.0, zmax=1.0, zmid=None,
                             colorbar_title="ρ", hover="%{y} vs %{x}: %{z:.3f}"))
    fig.update_xaxes(title_text="Symbol", type="category", side="bottom")
    fig.update_yaxes(title_text="Symbol", type="category", autorange="reversed")
    fig.update_layout(hovermode="closest")
    return _finish(fig, title=title, uirevision="corr-matrix", height=max(320, 120 + 50 * len(labels_y)))


_SWEEP_BEST = {"total_fees": "min", "n_trades": None, "exposure": None, "avg_holding_bars": None}


def _label(value: Any) -> str:
    """Axis label of a sweep key: numbers compact ("2", "0.5"), tuples (z_window, entry) joined."""
    if isinstance(value, tuple):
        return " · ".join(_label(v) for v in value)
    return f"{value:g}" if isinstance(value, numbers.Real) else str(value)


def sweep_heatmap(grid: pd.DataFrame, metric: str) -> go.Figure:
    """Entry × exit sweep (rows entry, or (z_window, entry); columns exit) as an annotated heatmap, NaN blank.

    The title names the best cell (max of the metric; min for total_fees; none for neutral counts).
    """
    title = f"Threshold sweep: {metric}"
    z = grid.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64) if grid is not None else np.empty((0, 0))
    if z.size == 0 or np.isnan(z).all():
        return empty_figure(f"{NO_DATA}: no sweep results", title=title)
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    diverging = lo < 0 < hi
    xs = [_label(c) for c in grid.columns]
    ys = [_label(i) for i in grid.index]
    fig = go.Figure(_heatmap(z, xs, ys, colorscale="RdYlGn" if diverging else "Viridis", zmin=None, zmax=None,
                             zmid=0.0 if diverging else None, colorbar_title=metric,
                             hover=f"entry %{{y}} / exit %{{x}}: {metric} = %{{z:.4g}}"))
    fig.update_xaxes(title_text="exit z", type="category")
    multi = isinstance(grid.index, pd.MultiIndex)
    fig.update_yaxes(title_text="z window · entry z" if multi else "entry z", type="category")
    fig.update_layout(hovermode="closest")
    direction = _SWEEP_BEST.get(metric, "max")
    if direction:
        flat = np.nanargmax(z) if direction == "max" else np.nanargmin(z)
        row, col = np.unravel_index(flat, z.shape)
        title += f" (best {_fmt(z[row, col])} at entry {ys[row]} / exit {xs[col]})"
    return _finish(fig, title=title, uirevision="sweep", height=max(320, 120 + 40 * len(ys)))


# ---------------------------------------------------------------------------------------------------------------
# Backtest and data quality
# ---------------------------------------------------------------------------------------------------------------

def equity_drawdown_figure(equity: pd.Series, drawdown: pd.Series | None = None, *, currency: str = "USDT",
                           drawdown_unit: str | None = None) -> go.Figure:
    """Equity curve (money) over a drawdown panel.

    Without ``drawdown`` it is computed from the running peak: in % while equity stays positive (as the analytics
    max_drawdown metric), else in money. A supplied drawdown is plotted as given, labelled ``drawdown_unit``
    (default: ``currency``).
    """
    title = "Equity and drawdown"
    if _is_empty(equity):
        return empty_figure(f"{NO_DATA}: the backtest produced no equity curve", title=title, height=460)
    eq = _as_series(equity).astype(np.float64)
    if not _is_empty(drawdown):
        dd, unit = _as_series(drawdown).astype(np.float64), drawdown_unit or currency
    elif (eq.dropna() > 0).all():
        dd, unit = (eq / eq.cummax() - 1.0) * 100.0, "%"
    else:
        dd, unit = eq - eq.cummax(), currency
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.68, 0.32])
    fig.add_trace(_series_line(eq, "Equity", EQUITY_COLOR), row=1, col=1)
    fig.add_trace(_series_line(dd, "Drawdown", DOWN, fill="tozeroy", fillcolor="rgba(239,83,80,0.25)"),
                  row=2, col=1)
    fig.update_yaxes(title_text=f"Equity ({currency})", row=1, col=1)
    fig.update_yaxes(title_text=f"Drawdown ({unit})", row=2, col=1)
    _time_axes(fig, bottom_row=2)
    return _finish(fig, title=f"{title} (max drawdown {_fmt(float(dd.min()))} {unit})", uirevision="equity",
                   height=460)


def data_quality_figure(quality: pd.DataFrame) -> go.Figure:
    """Bars per symbol, filled-bar share (input as a 0..1 fraction, shown in %) and gap counts when given."""
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
        fig.add_trace(go.Bar(x=symbols, y=values, name=label, marker=dict(color=colors, line=dict(width=0)),
                             text=[_fmt(v) for v in values], textposition="outside",
                             hovertemplate="%{x}: %{y:.4g}<extra>" + label + "</extra>"), row=1, col=col)
        fig.update_yaxes(title_text=label, rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text="Symbol", type="category", row=1, col=col)
    fig.update_layout(showlegend=False, hovermode="closest")
    return _finish(fig, title=title, uirevision="quality", height=340)


# ---------------------------------------------------------------------------------------------------------------
# Names from the Streamlit seed (kept as thin wrappers)
# ---------------------------------------------------------------------------------------------------------------

def _split_by_symbol(ohlc_df: pd.DataFrame | Mapping[str, pd.DataFrame],
                     symbols: Sequence[str] | None) -> dict[str, pd.DataFrame]:
    """{SYMBOL: bars} from a mapping, a long frame with a symbol column, or one frame (named by symbols[0])."""
    wanted = [s.upper() for s in symbols] if symbols else None
    if isinstance(ohlc_df, Mapping):
        items = {str(k).upper(): v for k, v in ohlc_df.items()}
    elif ohlc_df is not None and "symbol" in ohlc_df.columns:
        items = {str(k).upper(): g.drop(columns="symbol") for k, g in ohlc_df.groupby("symbol", sort=False)}
    else:
        return {wanted[0] if wanted else "": ohlc_df}
    return {k: v for k, v in items.items() if wanted is None or k in wanted}


def create_ohlc_chart(ohlc_df: pd.DataFrame | Mapping[str, pd.DataFrame],
                      symbols: Sequence[str] | None = None) -> go.Figure:
    """Seed name: candlesticks + volume for one or several symbols (each on its own price axis)."""
    return multi_candlestick_figure(_split_by_symbol(ohlc_df, symbols))


def create_spread_chart(spread: pd.Series, zscore: pd.Series, entry_th: float = 2.0,
                        exit_th: float = 0.0) -> go.Figure:
    """Seed name: spread and z-score with entry/exit lines."""
    return spread_zscore_figure(spread, zscore, entry=entry_th, exit=exit_th)


def create_correlation_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Seed name: correlation matrix heatmap."""
    return correlation_heatmap(matrix)


def create_backtest_chart(spread: pd.Series, zscore: pd.Series, trades: pd.DataFrame | None = None,
                          entry_th: float = 2.0, exit_th: float = 0.0, stop_th: float | None = None) -> go.Figure:
    """Seed name: the visual backtest, entry/exit markers over the spread and z-score."""
    return spread_zscore_figure(spread, zscore, entry=entry_th, exit=exit_th, stop=stop_th, trades=trades)
