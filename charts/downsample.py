"""Bounded payloads: epoch-ms conversion, min/max and envelope downsampling, candle re-bucketing.

The browser, not Python, is the bottleneck, so no trace may carry more than MAX_POINTS points.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from charts.theme import (
    DAY_MS,
    HOUR_MS,
    MAX_CANDLES,
    MAX_POINTS,
    MINUTE_MS,
    NAT_MS,
    SECOND_MS,
    interval_label,
)

log = logging.getLogger("visualizations")  # one logger for the whole chart layer, as before the split

_NICE_BUCKETS_MS = (
    SECOND_MS,
    2 * SECOND_MS,
    5 * SECOND_MS,
    10 * SECOND_MS,
    15 * SECOND_MS,
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    3 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    4 * HOUR_MS,
    6 * HOUR_MS,
    8 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    3 * DAY_MS,
    7 * DAY_MS,
)
_TIME_COLUMNS = ("time", "timestamp", "ts", "open_time")


def to_epoch_ms(values: Any) -> np.ndarray:
    """Epoch-ms int64 array from datetimes (naive = UTC, any unit) or numeric epoch ms; missing -> int64 min."""
    if isinstance(values, pd.MultiIndex):
        raise TypeError("a MultiIndex is not a time axis")
    if not isinstance(values, (pd.Index, pd.Series, np.ndarray)):
        values = np.asarray(values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = np.asarray(values, dtype=np.float64)
        return np.where(np.isnan(arr), NAT_MS, arr).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ms").asi8


def time_indexed(df: pd.DataFrame) -> pd.DataFrame:
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
    keep = np.unique(
        np.concatenate(
            [
                base + for_min.argmin(axis=1),
                base + for_max.argmax(axis=1),
                [0, n - 1],
            ]
        )
    )
    log.debug("minmax_downsample %d -> %d points", n, len(keep))
    return x_ms[keep], y[keep]


def envelope_downsample(
    x_ms: np.ndarray, lower: np.ndarray, upper: np.ndarray, n_out: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    return math.ceil(need / DAY_MS) * DAY_MS


def rebucket_candles(bars: pd.DataFrame, max_candles: int = MAX_CANDLES) -> pd.DataFrame:
    """Re-aggregate OHLCV bars into coarser epoch-aligned buckets so at most max_candles remain.

    open = first, high = max, low = min, close = last, volume/trades = sum, vwap = volume-weighted,
    filled = all bars in the bucket were filled. Other columns are dropped. Small input is returned unchanged.
    The chosen bucket width (ms) is stored in ``result.attrs["bucket_ms"]``.
    """
    if bars is None or len(bars) <= max_candles:
        return bars
    bars = time_indexed(bars)
    if not bars.index.is_monotonic_increasing:
        bars = bars.sort_index()
    ms = to_epoch_ms(bars.index)
    width = _bucket_ms(int(ms[-1] - ms[0]), max_candles)
    key = pd.Index(ms // width * width, name="bucket")
    rules = {
        "open": "first",
        "high": "max",
        "low": "min",
        "close": "last",
        "volume": "sum",
        "trades": "sum",
        "filled": "all",
    }
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
